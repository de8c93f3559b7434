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
from longbert.exit_threshold import recorded_threshold
from longbert.results import Prediction
from longbert.settings import DEFAULT_ENCODER, models_dir
from longbert.store import RecordNotFoundError, Store
from longbert.store.explanations import ExplanationRecord
from longbert.ui.explanation_text import METHOD_HELP as METHOD_HELP
from longbert.ui.explanation_text import METHOD_TITLES as METHOD_TITLES
from longbert.ui.explanation_text import SentenceLine as SentenceLine
from longbert.ui.explanation_text import empty_list_text as empty_list_text
from longbert.ui.explanation_text import estimated_text as estimated_text
from longbert.ui.explanation_text import method_help as method_help
from longbert.ui.explanation_text import method_title as method_title
from longbert.ui.explanation_text import score_text as score_text
from longbert.ui.explanation_text import seconds_text as seconds_text
from longbert.ui.explanation_text import summary_text as summary_text
from longbert.ui.explanation_text import top_lines as top_lines
from longbert.ui.models import ZERO_SHOT_KEY, ModelChoice, checkpoint_choice, model_choices

if TYPE_CHECKING:
    from longbert.classifier import DocumentClassifier
    from longbert.explain import Explanation

#: The methods offered, in the order of the switch (occlusion first: the default).
METHOD_ORDER = ("occlusion", "integrated_gradients", "gradient_x_input", "attention")

#: The methods that run every layer of the model: on a prediction an early-exit model made with
#: its exits in force they would explain another model (:func:`exits_in_force`).
FULL_DEPTH_METHODS = ("occlusion", "integrated_gradients", "gradient_x_input")

class ModelUnavailable(LongBertError):
    """The model that made a prediction cannot be loaded now; the message says why."""


class ExplanationFailed(LongBertError):
    """The explanation could not be computed (e.g. nothing of the document was read)."""


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
    not the sparse strategy (always every layer), not chunks pooled other than by their mean.
    Attention pooling counts too: untrained (uniform weights) it is a mean and the exits run,
    which only the model tells; when it was trained, "explain the full model" explains the very
    model that predicted, so erring this way costs nothing."""
    from longbert.strategies import STRATEGIES

    extra = prediction.extra or {}
    threshold = recorded_exit_threshold(prediction)
    if threshold is None or threshold <= 0:
        return None
    mode = getattr(STRATEGIES.get(prediction.strategy), "mode", None)
    if mode == "long" or (mode == "chunks" and extra.get("pooling") not in (None, "mean", "attention")):
        return None
    return threshold


def recorded_exit_threshold(prediction: Prediction) -> float | None:
    """The early-exit threshold recorded with ``prediction`` as what ran (None: none recorded).

    Older versions recorded a threshold as given, out of range included; explaining such a
    prediction must not be refused for a value the person never chose now, so it is read as
    what it did: at or below 0 (or NaN: no row ever left early) the full model, above 1 every
    row leaving at the first exit (as at 1): :func:`longbert.exit_threshold.recorded_threshold`,
    the rule History and the store's exports read it by too."""
    return recorded_threshold((prediction.extra or {}).get("exit_threshold"))


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
    threshold = recorded_exit_threshold(prediction)
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
