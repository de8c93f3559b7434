"""Prediction: documents in, typed predictions (with attention summaries) out.

Documents are prepared once (:func:`longbert.inputs.prepare`: tokenised, then the strategy
selects what the model reads), sorted by length so padding is small, and run in groups through
the classifier's one forward path (:meth:`~longbert.classifier.DocumentClassifier.infer`: no
gradients, the configured precision, the classifier's device). A document that cannot be
processed becomes a :class:`PredictionError`; the rest go on. When a group fails (CUDA out of
memory included) its documents are run again one by one, so only the documents that fail alone
become errors and nothing already computed is lost.

This module knows the classifier only through :class:`Predictor` (what it uses of one), so the
classifier can offer ``predict`` as a method without an import cycle.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Protocol

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from longbert import inputs
from longbert.attention import summarize_attention
from longbert.devices import dtype_name
from longbert.document import Document, as_document
from longbert.errors import LongBertError
from longbert.exit_threshold import check_exit_threshold, threshold_in_force, warn_if_no_exits
from longbert.full_attention import full_attention
from longbert.results import FullAttention, Prediction, PredictionError, PredictionResult, SegmentScore
from longbert.settings import POOLING_METHODS
from longbert.strategies import Selection, Strategy, StrategySpec, parse_strategy


class Predictor(Protocol):
    """What prediction uses of a classifier (:class:`~longbert.classifier.DocumentClassifier`)."""

    tokenizer: PreTrainedTokenizerBase
    strategy: Strategy
    labels: list[str]
    multi_label: bool
    name: str

    @property
    def device(self) -> torch.device: ...
    @property
    def pooling_method(self) -> str: ...
    @property
    def attention_window(self) -> int: ...
    def eval(self) -> Any: ...
    def fit_positions(self, strategy: Strategy) -> None: ...
    def collate(
        self, selections: list[Selection], labels: torch.Tensor | None = None
    ) -> inputs.ModelInputs: ...
    def infer(self, model_inputs: inputs.ModelInputs, **options: Any) -> Any: ...
    def probabilities(self, logits: torch.Tensor) -> torch.Tensor: ...
    def inference_dtype(self) -> torch.dtype | None: ...


#: Documents prepared (tokenised + selected) at a time: bounds memory for long input lists.
PAGE_SIZE = 64
#: Tokens per forward pass in the sparse (long) mode, where one document may be 16k tokens.
LONG_GROUP_TOKENS = 16_384

ProgressCallback = Callable[[int, int], None]


@dataclass
class _Item:
    index: int
    document: Document
    selection: Selection
    prepare_seconds: float


@dataclass(frozen=True)
class _Options:
    """One ``predict`` call's settings, shared by its groups."""

    strategy: Strategy
    rows_per_pass: int
    attention: str
    full_window: int
    threshold: float
    pooling: str
    attention_window: int
    exit_threshold: float | None = None


def _prepare_item(
    classifier: Predictor, item: str | bytes | Document, index: int, strategy: Strategy
) -> _Item | PredictionError:
    """Text (or bytes) → Document → what the model reads of it; every error becomes a value.

    Any exception, not just LongBERT's own: one odd document (a tokenizer edge case, a strategy
    bug) must cost that document, never the whole call.
    """
    started = perf_counter()
    name = item.name if isinstance(item, Document) else f"document {index + 1}"
    sha256 = item.sha256 if isinstance(item, Document) else None
    try:
        document = as_document(item, name=name)
        selection = inputs.prepare(document, classifier.tokenizer, strategy)
        if selection.used_tokens == 0:
            return PredictionError(name, f"'{name}' has no tokens the model can read.", document.sha256)
    except (LongBertError, TypeError, ValueError) as error:
        return PredictionError(name, str(error), sha256)
    except Exception as error:  # any type: see the docstring
        message = f"'{name}' could not be prepared ({type(error).__name__}: {error})."
        return PredictionError(name, message, sha256)
    return _Item(index, document, selection, perf_counter() - started)


def _groups(items: list[_Item], rows_per_pass: int) -> list[list[_Item]]:
    """Length-sorted groups run together: ``rows_per_pass`` windows for window/chunk modes, a
    token budget for long."""
    items = sorted(
        items, key=lambda it: (len(it.selection.windows), max(len(w) for w in it.selection.windows))
    )
    groups: list[list[_Item]] = []
    current: list[_Item] = []
    rows = tokens = 0
    for it in items:
        n_rows = len(it.selection.windows)
        n_tokens = sum(len(w) for w in it.selection.windows)
        long = it.selection.mode == "long"
        full = tokens + n_tokens > LONG_GROUP_TOKENS if long else rows + n_rows > rows_per_pass
        if current and full:
            groups.append(current)
            current, rows, tokens = [], 0, 0
        current.append(it)
        rows += n_rows
        tokens += n_tokens
    if current:
        groups.append(current)
    return groups


def predict(
    classifier: Predictor,
    items: Sequence[str | bytes | Document],
    *,
    strategy: StrategySpec | None = None,
    pooling: str | None = None,
    attention_window: int | None = None,
    batch_size: int = 8,
    attention: str = "summary",
    full_attention_window: int = 0,
    threshold: float = 0.5,
    progress: ProgressCallback | None = None,
    exit_threshold: float | None = None,
) -> list[PredictionResult]:
    """Classify texts, file bytes (decoded as the readers do) or documents.

    Args:
        strategy: override the classifier's own strategy (the Compare page runs them all). A
            sparse override longer than the model's position table grows the table in memory
            only; saved checkpoints keep their own size. A spec in the format-1 layout (chunk's
            ``pooling``, sparse's ``attention_window`` among its params) sets those overrides.
        pooling, attention_window: override the model's own pooling method (chunk) and sparse
            window for this call; the model is not changed. They win over a spec's.
        batch_size: windows per forward pass (chunk mode splits a long document's windows too).
        attention: ``summary`` (the [CLS] row aggregated to words and sentences), ``full`` (also
            every layer's and head's map for window ``full_attention_window``) or ``none``.
            ``full`` needs a window strategy: the sparse strategy never materialises a dense map
            (thousands of tokens squared per head and layer), so it raises ValueError up front
            rather than return predictions silently without the maps.
        threshold: multi-label decision threshold on the sigmoid. ``labels`` holds every label
            at or over it and may be empty; ``label`` is always the most probable label (so
            every prediction has one to show, store and correct), and ``extra["below_threshold"]``
            is True when no label reached the threshold.
        progress: called with ``(done, total)`` after each group of documents.
        exit_threshold: early-exit models only (:mod:`longbert.compression.early_exit`): a row
            leaves at the first layer whose normalised prediction entropy is below it; a number
            from 0 (the full model) to 1, else ExitThresholdError (a ValueError); None: the
            model's stored one. ``extra["exit_threshold"]`` records the one in force. A model
            without exits runs every layer (a UserWarning says it ignores one) and records none.

    Returns one :class:`Prediction` or :class:`PredictionError` per input, in input order. Bad
    documents, failures of the model on one document and CUDA out-of-memory on one document
    are errors in the list; only bad arguments raise. ``extra`` records how each prediction
    was computed: ``device``, ``precision``, and the ``pooling`` (chunk) or
    ``attention_window`` (sparse) used.
    """
    if isinstance(items, str | bytes | bytearray | Document):
        raise TypeError(
            "predict takes a list of texts or Documents; wrap a single text in a list: predict([text])."
        )
    if attention not in ("summary", "full", "none"):
        raise ValueError("attention must be 'summary', 'full' or 'none'")
    if pooling is not None and pooling not in POOLING_METHODS:
        raise ValueError(f"pooling must be one of {', '.join(POOLING_METHODS)}, got {pooling!r}.")
    if attention_window is not None and (
        isinstance(attention_window, bool) or not isinstance(attention_window, int) or attention_window < 1
    ):
        raise ValueError(f"attention_window must be a positive integer, got {attention_window!r}.")
    exit_threshold = check_exit_threshold(exit_threshold)  # once: every group runs with it
    warn_if_no_exits(classifier, exit_threshold)
    chosen, settings = parse_strategy(strategy) if strategy is not None else (classifier.strategy, {})
    if attention == "full" and chosen.mode == "long":
        raise ValueError(
            "attention='full' keeps every layer's and head's dense map, which the sparse strategy "
            "does not compute; use attention='summary' (its [CLS] row is exact) or a window "
            "strategy (truncate, key_sentences, chunk)."
        )
    options = _Options(
        strategy=chosen,
        rows_per_pass=batch_size,
        attention=attention,
        full_window=full_attention_window,
        threshold=threshold,
        pooling=pooling or settings.get("pooling") or classifier.pooling_method,
        attention_window=attention_window or settings.get("attention_window") or classifier.attention_window,
        exit_threshold=exit_threshold,
    )
    items = list(items)
    classifier.fit_positions(chosen)
    classifier.eval()
    device = classifier.device
    # Read once, up front: a bad LONGBERT_PRECISION is one clear error, not one per document.
    how = {"device": device.type, "precision": dtype_name(classifier.inference_dtype())}
    if chosen.mode == "chunks":
        how["pooling"] = options.pooling
    elif chosen.mode == "long":
        how["attention_window"] = options.attention_window
    if (in_force := threshold_in_force(classifier, exit_threshold)) is not None:
        how["exit_threshold"] = in_force
    results: list[PredictionResult | None] = [None] * len(items)
    done = 0
    for page_start in range(0, len(items), PAGE_SIZE):
        page: list[_Item] = []
        for offset, item in enumerate(items[page_start : page_start + PAGE_SIZE]):
            prepared = _prepare_item(classifier, item, page_start + offset, chosen)
            if isinstance(prepared, PredictionError):
                results[page_start + offset] = prepared
                done += 1
            else:
                page.append(prepared)
        for group in _groups(page, batch_size):
            run = _run_or_split(group, lambda g: _run_group(classifier, g, options), device)
            for it, prediction in zip(group, run, strict=True):
                if isinstance(prediction, Prediction):  # kept with the record: how it was computed
                    prediction.extra.update(how)
                results[it.index] = prediction
            done += len(group)
            if progress is not None:
                progress(done, len(items))
    return [r for r in results if r is not None]


def _run_or_split(
    group: list[_Item], run: Callable[[list[_Item]], list[Prediction]], device: torch.device
) -> list[PredictionResult]:
    """``run(group)``; if it fails, each document alone, so only the ones that still fail are errors."""
    out_of_memory, message = False, ""
    try:
        return list(run(group))
    except torch.cuda.OutOfMemoryError:
        out_of_memory = True
    except Exception as error:  # any type: one document's failure must not sink the rest
        message = str(error) if isinstance(error, LongBertError) else f"{type(error).__name__}: {error}"
    # Outside the except blocks: the traceback, and the activations its frames hold, are gone.
    _free_memory(device)
    if len(group) > 1:
        return [result for it in group for result in _run_or_split([it], run, device)]
    (it,) = group
    name = it.document.name
    if out_of_memory:
        message = (
            f"'{name}': out of memory at {it.selection.used_tokens} tokens; use a smaller max_tokens "
            "or the chunk strategy"
        )
    else:
        message = f"model failed on '{name}': {message}"
    return [PredictionError(name, message, it.document.sha256)]


def _free_memory(device: torch.device) -> None:
    """Return a failed pass's memory to the allocator, so the retries have room."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


@dataclass
class WindowScores:
    """One document's share of a group's outputs: its ``rows`` (window indices into the group),
    and the group's ``weights`` ``[W]``, per-window probabilities ``[W, L]`` (chunks), [CLS]
    attention rows ``[W, T]``; ``full``: every layer's map when asked."""

    rows: np.ndarray
    weights: np.ndarray
    window_probs: np.ndarray | None
    cls_rows: np.ndarray | None
    full: FullAttention | None


def _run_group(classifier: Predictor, group: list[_Item], options: _Options) -> list[Prediction]:
    started = perf_counter()
    model_inputs = classifier.collate([it.selection for it in group])
    out = classifier.infer(
        model_inputs,
        rows_per_pass=options.rows_per_pass,
        pooling=options.pooling,
        attention_window=options.attention_window,
        output_cls_attention=options.attention != "none",
        output_window_logits=True,
        **({} if options.exit_threshold is None else {"exit_threshold": options.exit_threshold}),
    )
    probs = classifier.probabilities(out.logits).cpu().numpy()
    window_probs = (
        classifier.probabilities(out.window_logits).cpu().numpy() if out.window_logits is not None else None
    )
    weights = out.window_weights.float().cpu().numpy()
    cls_rows = out.cls_attention.float().cpu().numpy() if out.cls_attention is not None else None
    full_maps = (
        [full_attention(classifier, it.selection, options.full_window) for it in group]
        if options.attention == "full"
        else [None] * len(group)
    )
    model_seconds = perf_counter() - started
    window_doc = model_inputs.window_doc.numpy()
    predictions = []
    for doc_index, it in enumerate(group):
        rows = np.nonzero(window_doc == doc_index)[0]
        window_scores = WindowScores(rows, weights, window_probs, cls_rows, full_maps[doc_index])
        predictions.append(
            _make_prediction(
                classifier,
                it,
                options,
                probs[doc_index],
                window_scores,
                latency_ms=1000 * (it.prepare_seconds + model_seconds / len(group)),
            )
        )
    return predictions


def _make_prediction(
    classifier: Predictor,
    it: _Item,
    options: _Options,
    probs: np.ndarray,
    scores: WindowScores,
    latency_ms: float,
) -> Prediction:
    labels = classifier.labels
    best = int(np.argmax(probs))
    threshold = options.threshold
    chosen = (
        [labels[i] for i in np.nonzero(probs >= threshold)[0]] if classifier.multi_label else [labels[best]]
    )
    # Multi-label: `label` stays the argmax even when `chosen` is empty (see predict's docstring).
    extra = {"threshold": threshold, "below_threshold": not chosen} if classifier.multi_label else {}
    selection = it.selection
    segments = list(selection.segment_scores)
    if selection.mode == "chunks":
        for k, positions in enumerate(selection.windows):
            row = scores.rows[k]
            score = float(scores.window_probs[row, best]) if scores.window_probs is not None else float("nan")
            # One segment per contiguous run the window read: chunk's head+tail view reads the
            # start and the end, and one span from its first to last token would claim the whole
            # middle as read. Each run carries the window's index, score and pooling weight.
            for span in selection.doc.char_spans(positions):
                segments.append(SegmentScore("window", span, score, True, float(scores.weights[row]), k))
    summary = None
    if scores.cls_rows is not None:
        summary = summarize_attention(
            selection.doc,
            selection.windows,
            [scores.cls_rows[r] for r in scores.rows],
            [float(scores.weights[r]) for r in scores.rows],
        )
    return Prediction(
        document_name=it.document.name,
        document_sha256=it.document.sha256,
        label=labels[best],
        probabilities={label: float(p) for label, p in zip(labels, probs, strict=True)},
        labels=chosen,
        model_name=classifier.name,
        strategy=options.strategy.name,
        strategy_params=dict(options.strategy.params),
        total_tokens=selection.total_tokens,
        used_tokens=selection.used_tokens,
        spans=selection.spans,
        segment_scores=segments,
        attention=summary,
        latency_ms=latency_ms,
        full_attention=scores.full,
        extra=extra,
    )
