"""What the pages do with models: load one, classify a document and log it, compare strategies.

Model loading is plain here; the app wraps :func:`load_model` in ``st.cache_resource`` so each
model is loaded once per server process. Models go to ``LONGBERT_DEVICE``, else the GPU when
there is one, else the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from longbert.document import Document
from longbert.errors import LongBertError
from longbert.exit_threshold import check_exit_threshold
from longbert.results import Prediction, PredictionError
from longbert.store import Store
from longbert.strategies import STRATEGIES, Strategy, get_strategy
from longbert.ui.models import ZERO_SHOT_KEY

if TYPE_CHECKING:
    import torch

    from longbert.classifier import DocumentClassifier


class ClassificationFailed(LongBertError):
    """The model could not classify a document; the message says why."""


def load_model(
    key: str, labels: Mapping[str, str] | None = None, device: str | torch.device | None = None
) -> DocumentClassifier:
    """A checkpoint folder, or ``"zero-shot"`` with ``{label: description}`` labels.

    The model is placed on ``device`` (default: ``LONGBERT_DEVICE``, else CUDA when available,
    else the CPU); a device this machine lacks raises :class:`~longbert.checkpoints.DeviceError`.
    """
    if key == ZERO_SHOT_KEY:
        from longbert.devices import resolve_device
        from longbert.zero_shot import ZeroShotClassifier

        if not labels:
            raise ClassificationFailed("Zero-shot labelling needs label names: type at least two.")
        target = resolve_device(device)  # before the encoder loads: a bad device fails at once
        try:
            model = ZeroShotClassifier(dict(labels))
        except ValueError as error:
            raise ClassificationFailed(str(error)) from error
        return model.to_device(target)
    from longbert import load_classifier

    return load_classifier(key, device=device, precision="auto")  # weights cast once for inference


def classify(
    classifier: DocumentClassifier,
    documents: Sequence[Document],
    strategy: Strategy | dict[str, Any] | None = None,
    *,
    attention: str = "summary",
    windows_per_pass: int = 8,
    progress: Callable[[int, int], None] | None = None,
    exit_threshold: float | None = None,
) -> list[Prediction | PredictionError]:
    """``classifier.predict`` with the page's options (one result per document, in order);
    ``windows_per_pass``: model inputs per forward pass (``predict``'s ``batch_size``);
    ``exit_threshold``: an early-exit model's threshold (None: its stored one), checked here
    (:class:`~longbert.exit_threshold.ExitThresholdError`, a LongBertError the pages show)
    before any document runs. Each prediction records the threshold that ran."""
    threshold = check_exit_threshold(exit_threshold)
    options: dict[str, Any] = {} if threshold is None else {"exit_threshold": threshold}
    return list(
        classifier.predict(
            list(documents), strategy=strategy, attention=attention, batch_size=windows_per_pass,
            progress=progress, **options,
        )
    )


def supports_full_attention(strategy: Strategy | dict[str, Any] | str | None,
                            classifier: DocumentClassifier) -> bool:
    """Whether a full (every layer and head) map can be kept: dense windows only, not sparse."""
    resolved = get_strategy(strategy) if strategy is not None else classifier.strategy
    return resolved.mode != "long"


def classify_and_log(
    store: Store,
    classifier: DocumentClassifier,
    document: Document,
    strategy: Strategy | dict[str, Any] | None = None,
    *,
    keep_full_attention: bool = False,
    label_set: str | None = None,
    exit_threshold: float | None = None,
) -> tuple[Prediction, int]:
    """Classify one document and save the result; returns ``(prediction, prediction_id)``.

    With ``keep_full_attention`` (dense strategies) every layer's and head's map of the first
    window is computed and stored too (about 40 MB before compression for a full window).
    ``label_set`` names the saved label set (zero-shot) it is recorded with; ``exit_threshold``
    an early-exit model's threshold (None: its stored one; see :func:`classify`).
    Raises :class:`ClassificationFailed` when the model cannot read the document.
    """
    full = keep_full_attention and supports_full_attention(strategy, classifier)
    (result,) = classify(classifier, [document], strategy, attention="full" if full else "summary",
                         exit_threshold=exit_threshold)
    if isinstance(result, PredictionError):
        raise ClassificationFailed(result.message)
    prediction_id = store.save_prediction(result, document, store_full_attention=full,
                                          label_set=label_set)
    return result, prediction_id



@dataclass
class Comparison:
    """One strategy's outcome on the compared document."""

    strategy: dict[str, Any]
    result: Prediction | PredictionError
    prediction_id: int | None = None

    @property
    def name(self) -> str:
        return str(self.strategy["name"])


def compare_strategies(
    classifier: DocumentClassifier,
    document: Document,
    strategies: Sequence[dict[str, Any]] | None = None,
    store: Store | None = None,
    progress: Callable[[int, int], None] | None = None,
    exit_threshold: float | None = None,
) -> list[Comparison]:
    """Run ``document`` through each strategy (default: every one with its defaults), an
    early-exit model at ``exit_threshold`` (None: its stored one) for every strategy.

    Each result is saved when a store is given (the Compare page logs like every other page).
    A strategy that fails on this document gives a PredictionError, the others still run; a bad
    ``exit_threshold`` fails at once (ExitThresholdError), before any strategy runs.
    """
    exit_threshold = check_exit_threshold(exit_threshold)
    specs = list(strategies) if strategies is not None else [
        get_strategy(name).config() for name in STRATEGIES
    ]
    out: list[Comparison] = []
    for i, spec in enumerate(specs):
        try:
            (result,) = classify(classifier, [document], spec, exit_threshold=exit_threshold)
        except LongBertError as error:
            result = PredictionError(document.name, str(error), document.sha256)
        pid = None
        if store is not None and isinstance(result, Prediction):
            pid = store.save_prediction(result, document, store_full_attention=False)
        try:
            config = get_strategy(spec).config()
        except LongBertError:
            config = {"name": spec.get("name", "?"), "params": dict(spec.get("params") or {})}
        out.append(Comparison(config, result, pid))
        if progress is not None:
            progress(i + 1, len(specs))
    return out


def comparison_rows(comparisons: Sequence[Comparison]) -> list[dict[str, Any]]:
    """One table row per strategy: label, confidence, tokens read, latency, parameters, and the
    early-exit threshold that ran (None for a model without exits: the page drops the column)."""
    from longbert.ui.exit_control import threshold_in_words

    rows = []
    for c in comparisons:
        r = c.result
        if isinstance(r, Prediction):
            rows.append({
                "strategy": c.name, "label": r.label,
                "confidence": round(float(r.probabilities.get(r.label, 0.0)), 4),
                "used_tokens": r.used_tokens, "total_tokens": r.total_tokens,
                "latency_ms": round(r.latency_ms, 1), "params": _params_text(c.strategy),
                "exit_threshold": threshold_in_words(r), "error": None,
            })
        else:
            rows.append({
                "strategy": c.name, "label": None, "confidence": None, "used_tokens": None,
                "total_tokens": None, "latency_ms": None, "params": _params_text(c.strategy),
                "exit_threshold": None, "error": r.message,
            })
    return rows


def _params_text(strategy: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in (strategy.get("params") or {}).items())
