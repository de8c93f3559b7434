"""The "Why this label" section: explain a stored prediction with the model that made it, keep
the result with the prediction, and show its top sentences for and against the label.

The pages call :func:`explain_and_store` (compute, replacing an earlier one of the same method
and label) and :func:`stored_explanations` (what is there already, shown at once). The model is
found from the prediction (:func:`model_source`): a trained checkpoint by its name in the
models folder, zero-shot by its encoder and the label descriptions the prediction recorded. When
it is gone, :class:`ModelUnavailable` says so, and stored explanations can still be shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbert.checkpoints import is_checkpoint
from longbert.document import Document
from longbert.errors import CheckpointError, LongBertError
from longbert.results import Prediction
from longbert.settings import DEFAULT_ENCODER, models_dir
from longbert.store import RecordNotFoundError, Store
from longbert.store.explanations import ExplanationRecord
from longbert.ui.models import ZERO_SHOT_KEY, ModelChoice, checkpoint_choice, model_choices

if TYPE_CHECKING:
    from longbert.classifier import DocumentClassifier
    from longbert.explain import Explanation

#: The methods offered, in the order of the switch (occlusion first: the default).
METHOD_ORDER = ("occlusion", "integrated_gradients", "gradient_x_input", "attention")

#: The methods that run every layer of the model: on a prediction an early-exit model made with
#: its exits in force they would explain another model (:func:`exits_in_force`).
FULL_DEPTH_METHODS = ("occlusion", "integrated_gradients", "gradient_x_input")

METHOD_TITLES = {
    "occlusion": "Occlusion",
    "integrated_gradients": "Integrated gradients",
    "gradient_x_input": "Gradient × input",
    "attention": "Attention",
}

#: What each method's scores mean, for someone reading the result (shown under the switch).
METHOD_HELP = {
    "occlusion": (
        "Each sentence the model read is removed in turn and the document classified again: a "
        "sentence's score is how far the label's probability drops without it. Green sentences "
        "speak for the label (removing them lowers it), red ones against it. Measures the "
        "model's own behaviour; one extra model run per sentence, so the slowest on long texts."
    ),
    "integrated_gradients": (
        "Follows the gradient of the label's probability from an empty input ([PAD] tokens) to "
        "the text in 16 steps and sums it over each sentence's words (Captum). Green pushes "
        "towards the label, red away from it. About 16 backward passes per window."
    ),
    "gradient_x_input": (
        "The gradient of the label's probability times the word embeddings, in one backward "
        "pass: a fast, noisier version of integrated gradients. Green for the label, red against."
    ),
    "attention": (
        "Where the model's [CLS] token looked in its last layer. It shows what the model attended "
        "to, not whether that pushed towards the label, so nothing is ever 'against'. Cheap: one "
        "ordinary classification."
    ),
}


class ModelUnavailable(LongBertError):
    """The model that made a prediction cannot be loaded now; the message says why."""


class ExplanationFailed(LongBertError):
    """The explanation could not be computed (e.g. nothing of the document was read)."""


def method_title(method: str) -> str:
    return METHOD_TITLES.get(method, method)


def method_help(method: str) -> str:
    return METHOD_HELP.get(method, "")


@dataclass(frozen=True)
class ModelSource:
    """How to load the model that made a prediction: ``load_model(key, labels)``."""

    key: str
    labels: dict[str, str] | None
    title: str


def _gone(name: str, why: str) -> ModelUnavailable:
    return ModelUnavailable(
        f"The model '{name}' that made this prediction {why}, so no new explanation can be "
        "computed; explanations stored before are still shown."
    )


def model_source(
    store: Store, prediction: Prediction, choices: list[ModelChoice] | None = None
) -> ModelSource:
    """The model that made ``prediction``, as a key the app loads models by.

    ``choices``: the checkpoints on offer (default: the models folder's). Raises
    :class:`ModelUnavailable` naming why when it is gone (deleted, replaced by a newer version,
    another encoder, label descriptions not recorded).
    """
    name = prediction.model_name
    labels = [str(label) for label in prediction.probabilities]
    if prediction.zero_shot:
        if name != f"zero-shot:{DEFAULT_ENCODER}":
            raise _gone(name, f"used another encoder than this installation's ({DEFAULT_ENCODER})")
        descriptions = _zero_shot_descriptions(store, prediction)
        if descriptions is None:
            raise _gone(name, "recorded no label descriptions")
        return ModelSource(ZERO_SHOT_KEY, descriptions, "Zero-shot")
    found = _checkpoint(store, name, choices)
    if found is None:
        where = models_dir()
        if "@v" in name:
            base = name.rsplit("@v", 1)[0]
            raise _gone(name, f"was replaced by a newer version of '{base}' (its checkpoint is gone)")
        raise _gone(name, f"is no longer in the models folder ({where})")
    if sorted(found.labels) != sorted(labels):
        raise _gone(
            name,
            f"was replaced: the checkpoint of that name now has the labels {', '.join(found.labels)}, "
            f"this prediction was made with {', '.join(labels)}",
        )
    return ModelSource(found.key, None, found.title)


def _checkpoint(store: Store, name: str, choices: list[ModelChoice] | None) -> ModelChoice | None:
    """The classifier checkpoint called ``name``: the folder it was registered with when that is
    still a checkpoint of that name, else the newest of that name in the models folder."""
    try:
        folder = store.get_model(name).folder
    except RecordNotFoundError:
        folder = None
    if folder and is_checkpoint(Path(folder)):
        try:
            registered = checkpoint_choice(Path(folder))
        except CheckpointError:
            registered = None
        if registered is not None and registered.kind == "classifier" and registered.title == name:
            return registered
    offered = choices if choices is not None else model_choices()
    return next((c for c in offered if not c.zero_shot and c.title == name), None)


def _zero_shot_descriptions(store: Store, prediction: Prediction) -> dict[str, str] | None:
    """``{label: description}`` a zero-shot prediction was made with, in its label order."""
    labels = [str(label) for label in prediction.probabilities]
    recorded = (prediction.extra or {}).get("descriptions")
    if isinstance(recorded, Mapping) and set(map(str, recorded)) == set(labels):
        return {label: str(recorded[label]) for label in labels}
    name = (prediction.extra or {}).get("label_set")
    if name:
        try:
            saved = store.get_label_set(str(name))
        except RecordNotFoundError:
            return None
        if sorted(saved.labels) == sorted(labels):
            return {label: saved.descriptions.get(label, label) for label in labels}
    return None


def prediction_spec(prediction: Prediction) -> dict[str, Any]:
    """The strategy spec ``prediction`` was made with: its strategy and parameters, and in the
    spec's ``"model"`` section the model settings it used that the strategy depends on (chunk's
    pooling, sparse's attention window, recorded in ``extra``). Without them an override the
    prediction was made with (a bulk job's or the API's) would be explained with the model's own
    setting instead."""
    from longbert.strategies import STRATEGIES

    spec: dict[str, Any] = {"name": prediction.strategy, "params": dict(prediction.strategy_params or {})}
    known = STRATEGIES[prediction.strategy].model_params if prediction.strategy in STRATEGIES else ()
    extra = prediction.extra or {}
    settings = {name: extra[name] for name in known if extra.get(name) is not None}
    if settings:
        spec["model"] = settings
    return spec


def exits_in_force(prediction: Prediction) -> float | None:
    """The early-exit threshold ``prediction`` was made at when its exits could stop text before
    the model's last layer, else None; read from the prediction alone (the page decides its
    method switch without loading the model), as ``predict`` decides it: a threshold above 0,
    not the sparse strategy (always every layer), not chunks pooled other than by their mean."""
    from longbert.strategies import STRATEGIES

    extra = prediction.extra or {}
    threshold = extra.get("exit_threshold")
    if threshold is None or float(threshold) <= 0:
        return None
    mode = getattr(STRATEGIES.get(prediction.strategy), "mode", None)
    if mode == "long" or (mode == "chunks" and extra.get("pooling") not in (None, "mean", "attention")):
        return None
    return float(threshold)


def exits_text(threshold: float) -> str:
    """Why occlusion and the gradient methods cannot explain an early-exit prediction as made."""
    return (
        f"This prediction was made by an early-exit model (exit threshold {threshold:g}): text "
        "the model was already sure of stopped at an earlier layer. Occlusion and the gradient "
        "methods run every layer, so they cannot explain this prediction; **Attention** reads "
        "the layers the model ran. They can explain the full model instead (every layer, no "
        "exits), whose probabilities can differ from this prediction's."
    )


def refused_text(method: str, threshold: float) -> str:
    """A full-depth method refused on an early-exit prediction, in the app's words."""
    return (
        f"{method_title(method)} cannot explain this prediction: it runs every layer of the "
        f"model, but this early-exit model let text it was sure of stop at an earlier layer "
        f"(exit threshold {threshold:g}), so the scores would describe a different model from "
        "the one that predicted. Choose Attention (it reads the layers the model ran), or "
        "explain the full model instead (every layer, no exits)."
    )


def full_model_text(threshold: float) -> str:
    """The note on an explanation of the full model made for an early-exit prediction."""
    return (
        "This explains the full model (every layer, no exits), not the early exit that made "
        f"this prediction (exit threshold {threshold:g}): its probabilities can differ."
    )


def _active_exits(
    classifier: DocumentClassifier, spec: dict[str, Any], threshold: float | None
) -> float | None:
    """The exit threshold in force when ``classifier`` reads under ``spec`` at ``threshold``
    (None: its own), or None when it runs every layer; a bad spec is left to ``explain``."""
    from longbert.explain import model_io

    try:
        chosen, settings = model_io.resolve(classifier, spec)
    except (ValueError, LongBertError):
        return None
    return model_io.active_exit_threshold(classifier, chosen, settings, threshold)


def explain_prediction(
    classifier: DocumentClassifier,
    prediction: Prediction,
    document: Document,
    method: str,
    label: str | None = None,
    *,
    full_model: bool = False,
) -> Explanation:
    """Explain ``label`` (default: the predicted one) as the prediction was made: same document,
    same strategy and parameters and model settings (:func:`prediction_spec`), same early-exit
    threshold. When the explained probability is not the prediction's, the explanation's
    ``warnings`` say so. Raises :class:`ExplanationFailed` saying why.

    Early-exit predictions: occlusion and the gradient methods run every layer, so they are
    refused (:func:`refused_text`) unless ``full_model`` asks to explain the model without
    its exits (threshold 0); its warnings then say so first (:func:`full_model_text`)."""
    from longbert.explain import check_probability, explain

    strategy = prediction_spec(prediction)
    recorded = (prediction.extra or {}).get("exit_threshold")
    threshold = None if recorded is None else float(recorded)
    exits = _active_exits(classifier, strategy, threshold) if method in FULL_DEPTH_METHODS else None
    if exits is not None and not full_model:
        raise ExplanationFailed(refused_text(method, exits))
    try:
        explanation = explain(
            classifier,
            document,
            method=method,
            strategy=strategy,
            label=label or prediction.label,
            exit_threshold=0.0 if exits is not None else threshold,
        )
    except (ValueError, RuntimeError, LongBertError) as error:
        raise ExplanationFailed(f"Could not explain with {method_title(method).lower()}: {error}") from error
    if exits is not None:
        explanation.warnings.append(full_model_text(exits))
    check_probability(explanation, prediction.probabilities.get(explanation.label))
    return explanation


@dataclass(frozen=True)
class ExplainOutcome:
    """A computed and stored explanation, and the wall time it took (model loading included)."""

    record: ExplanationRecord
    wall_seconds: float

    @property
    def explanation(self) -> Explanation:
        return self.record.explanation


def explain_and_store(
    store: Store,
    prediction_id: int,
    prediction: Prediction,
    document: Document,
    method: str,
    load_model: Callable[[str, dict[str, str] | None], Any],
    *,
    label: str | None = None,
    full_model: bool = False,
) -> ExplainOutcome:
    """Load the model that made the prediction, explain it, and keep the explanation with the
    prediction (replacing one of the same method and label); ``full_model``: an early-exit
    model's full depth (see :func:`explain_prediction`).

    Raises:
        ModelUnavailable: the model is gone or cannot be loaded.
        ExplanationFailed: the method failed on this document.
    """
    if method not in METHOD_ORDER:
        raise ExplanationFailed(f"Unknown method '{method}'; choose one of {', '.join(METHOD_ORDER)}.")
    started = time.perf_counter()
    source = model_source(store, prediction)
    try:
        classifier = load_model(source.key, source.labels)
    except LongBertError as error:
        raise _gone(prediction.model_name, f"cannot be loaded ({error})") from error
    explanation = explain_prediction(classifier, prediction, document, method, label, full_model=full_model)
    record = store.save_explanation(prediction_id, explanation)
    return ExplainOutcome(record, time.perf_counter() - started)


def stored_explanations(store: Store, prediction_id: int, label: str) -> dict[str, ExplanationRecord]:
    """The stored explanations of ``label`` for a prediction, by method."""
    return {r.method: r for r in store.explanation_records(prediction_id) if r.explanation.label == label}


def availability(store: Store, prediction: Prediction) -> str | None:
    """None when the prediction's model can be loaded to explain it, else why not."""
    try:
        model_source(store, prediction)
    except ModelUnavailable as error:
        return str(error)
    return None


# -- showing an explanation ------------------------------------------------------------------


def score_text(explanation: Explanation, score: float) -> str:
    """A score in its method's unit: probability points, or a share of attention."""
    if explanation.method == "attention":
        return f"{score:.1%} of attention"
    points = score * 100
    # Small scores keep two significant digits: "+0.0 pts" would hide which way they point.
    return f"{points:+.1f} pts" if abs(points) >= 0.1 or points == 0 else f"{points:+.2g} pts"


def seconds_text(seconds: float) -> str:
    """``1.3 s``, or ``45 ms`` under a tenth of a second."""
    return f"{seconds:.1f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"


@dataclass(frozen=True)
class SentenceLine:
    """One of the top sentences for or against the label, as a table line."""

    rank: int
    sentence: str
    score: str
    words: str
    #: Share of the sentence the model read (a window may cut through it).
    coverage: float
    #: The score is an estimate (coarse-to-fine occlusion), not the sentence's measured drop;
    #: ``score`` then reads "≈… (estimated)".
    estimated: bool = False

    def row(self) -> dict[str, Any]:
        return {
            "#": self.rank,
            "sentence": self.sentence,
            "score": self.score,
            "key words": self.words,
            "share read": f"{self.coverage:.0%}",
        }


def _snippet(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def top_lines(
    text: str, explanation: Explanation, k: int = 3, *, sign: int = 1, max_chars: int = 300
) -> list[SentenceLine]:
    """The ``k`` sentences most for (``sign=1``) or against (``-1``) the label, strongest first,
    with their key words (where computed); an estimated score is marked "≈… (estimated)".
    Plain text: the page shows it in a table."""
    lines = []
    for rank, i in enumerate(explanation.top(k, sign=sign), start=1):
        sentence = explanation.sentences[i]
        scored = [(text[w.span[0] : w.span[1]], w.score) for w in explanation.top_words.get(i, [])]
        words = ", ".join(
            f"{_snippet(word, 40)} ({score_text(explanation, score)})"
            for word, score in scored
            if any(ch.isalnum() for ch in word)  # punctuation is scored too, but tells a reader nothing
        )
        score = score_text(explanation, sentence.score)
        lines.append(
            SentenceLine(
                rank,
                _snippet(text[sentence.span[0] : sentence.span[1]], max_chars),
                f"≈{score} (estimated)" if sentence.estimated else score,
                words,
                sentence.coverage,
                sentence.estimated,
            )
        )
    return lines


def summary_text(record: ExplanationRecord) -> str:
    """E.g. ``Occlusion of 'sport' (81.2% probability) · 14 sentences read · 3.2 s · saved
    2026-01-05 10:12 UTC``; attention says its scores are the same for every label, and the
    explanation's warnings (e.g. its probability is not the prediction's) follow, marked ⚠."""
    e = record.explanation
    count = len(e.sentences)
    same_for_all = (
        " · attention does not depend on the label: the same for every label"
        if e.method == "attention"
        else ""
    )
    warnings = "".join(f" · ⚠ {warning}" for warning in e.warnings)
    return (
        f"{method_title(e.method)} of '{e.label}' ({e.probability:.1%} probability){same_for_all} · "
        f"{count} sentence{'s' if count != 1 else ''} read{estimated_text(e)} · strategy {e.strategy} · "
        f"computed in {seconds_text(e.seconds)} · saved {record.created_at:%Y-%m-%d %H:%M} UTC"
        f"{warnings}"
    )


def estimated_text(explanation: Explanation) -> str:
    """`` (12 scores estimated from blocks of sentences, marked ≈)`` when coarse-to-fine
    occlusion left some sentence scores estimated (their block's drop shared by length), else
    ``""``."""
    flagged = sum(s.estimated for s in explanation.sentences)
    # Explanations stored before the per-sentence flag have only the count.
    count = flagged or int((explanation.details.get("occlusion") or {}).get("estimated_sentences") or 0)
    if not count:
        return ""
    scores = f"{count} score{'s' if count != 1 else ''} estimated from blocks of sentences"
    if not flagged:
        return f" ({scores}; computed before estimated scores were marked)"
    return f" ({scores}, marked ≈)"


def empty_list_text(explanation: Explanation, sign: int) -> str:
    """Why a for/against list is empty."""
    if sign < 0 and explanation.method == "attention":
        return "Attention is never negative: it cannot show what speaks against the label."
    return "No sentence speaks " + ("for" if sign > 0 else "against") + " the label."
