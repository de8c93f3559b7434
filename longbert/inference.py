"""Batched inference: documents in, typed predictions (with attention summaries) out.

Documents are tokenised once, cut by the strategy, sorted by length so padding is small, and run
in batches under ``torch.inference_mode`` (mixed precision on CUDA) on the classifier's device. A
document that cannot be processed becomes a :class:`PredictionError`; the rest go on. When a
batch fails (CUDA out of memory included) its documents are run again one by one, so only the
documents that fail alone become errors and nothing already computed is lost.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from longbert.attention import summarize_attention
from longbert.config import autocast_dtype
from longbert.document import Document, as_document
from longbert.errors import LongBertError
from longbert.results import (
    FullAttention,
    Prediction,
    PredictionError,
    PredictionResult,
    SegmentScore,
)
from longbert.strategies import Encoded, Strategy, get_strategy
from longbert.tokenization import tokenize_document

if TYPE_CHECKING:
    from longbert.classifier import LongBertClassifier

#: Documents prepared (tokenised + cut) at a time: bounds memory for long input lists.
PAGE_SIZE = 64
#: Tokens per forward pass in the sparse (long) mode, where one document may be 16k tokens.
LONG_BATCH_TOKENS = 16_384

ProgressCallback = Callable[[int, int], None]


@dataclass
class _Item:
    index: int
    document: Document
    encoded: Encoded
    prepare_seconds: float


def autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision where :func:`~longbert.config.autocast_dtype` picks it; else a no-op."""
    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def prepare(
    classifier: LongBertClassifier, item: str | Document, index: int, strategy: Strategy
) -> _Item | PredictionError:
    """Text (or bytes) → Document → tokens → strategy windows; every error becomes a value.

    Any exception, not just LongBERT's own: one odd document (a tokenizer edge case, a strategy
    bug) must cost that document, never the whole call.
    """
    started = perf_counter()
    name = item.name if isinstance(item, Document) else f"document {index + 1}"
    sha256 = item.sha256 if isinstance(item, Document) else None
    try:
        document = as_document(item, name=name)
        encoded = strategy.encode(tokenize_document(document, classifier.tokenizer))
        if encoded.used_tokens == 0:
            return PredictionError(name, f"'{name}' has no tokens the model can read.", document.sha256)
    except (LongBertError, TypeError, ValueError) as error:
        return PredictionError(name, str(error), sha256)
    except Exception as error:  # any type: see the docstring
        message = f"'{name}' could not be prepared ({type(error).__name__}: {error})."
        return PredictionError(name, message, sha256)
    return _Item(index, document, encoded, perf_counter() - started)


def _batches(items: list[_Item], batch_size: int) -> list[list[_Item]]:
    """Length-sorted batches: ``batch_size`` windows for window/chunk modes, a token budget for long."""
    items = sorted(items, key=lambda it: (len(it.encoded.windows), max(len(w) for w in it.encoded.windows)))
    batches: list[list[_Item]] = []
    current: list[_Item] = []
    rows = tokens = 0
    for it in items:
        n_rows = len(it.encoded.windows)
        n_tokens = sum(len(w) for w in it.encoded.windows)
        full = (
            rows + n_rows > batch_size if it.encoded.mode != "long" else tokens + n_tokens > LONG_BATCH_TOKENS
        )
        if current and full:
            batches.append(current)
            current, rows, tokens = [], 0, 0
        current.append(it)
        rows += n_rows
        tokens += n_tokens
    if current:
        batches.append(current)
    return batches


def predict(
    classifier: LongBertClassifier,
    items: Sequence[str | bytes | Document],
    *,
    strategy: Strategy | dict[str, Any] | str | None = None,
    batch_size: int = 8,
    attention: str = "summary",
    full_attention_window: int = 0,
    threshold: float = 0.5,
    progress: ProgressCallback | None = None,
) -> list[PredictionResult]:
    """Classify texts, file bytes (decoded as the readers do) or documents.

    Args:
        strategy: override the classifier's own strategy (the Compare page runs them all). A
            sparse override longer than the model's position table grows the table in memory
            only; saved checkpoints keep their own size.
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
        progress: called with ``(done, total)`` after each batch.

    Returns one :class:`Prediction` or :class:`PredictionError` per input, in input order. Bad
    documents, failures of the model on one document and CUDA out-of-memory on one document
    are errors in the list; only bad arguments raise.
    """
    if isinstance(items, str | bytes | bytearray | Document):
        raise TypeError(
            "predict takes a list of texts or Documents; wrap a single text in a list: predict([text])."
        )
    if attention not in ("summary", "full", "none"):
        raise ValueError("attention must be 'summary', 'full' or 'none'")
    strategy = get_strategy(strategy) if strategy is not None else classifier.strategy
    if attention == "full" and strategy.mode == "long":
        raise ValueError(
            "attention='full' keeps every layer's and head's dense map, which the sparse strategy "
            "does not compute; use attention='summary' (its [CLS] row is exact) or a window "
            "strategy (truncate, key_sentences, chunk)."
        )
    items = list(items)
    classifier._prepare_for(strategy)
    classifier.eval()
    device = classifier.device
    # Read once, up front: a bad LONGBERT_PRECISION is one clear error, not one per document.
    precision = str(autocast_dtype(device) or torch.float32).removeprefix("torch.")
    results: list[PredictionResult | None] = [None] * len(items)

    def run(batch: list[_Item]) -> list[Prediction]:
        return _run_batch(
            classifier, batch, strategy, device, batch_size, attention, full_attention_window, threshold
        )

    done = 0
    for page_start in range(0, len(items), PAGE_SIZE):
        page: list[_Item] = []
        for offset, item in enumerate(items[page_start : page_start + PAGE_SIZE]):
            prepared = prepare(classifier, item, page_start + offset, strategy)
            if isinstance(prepared, PredictionError):
                results[page_start + offset] = prepared
                done += 1
            else:
                page.append(prepared)
        for batch in _batches(page, batch_size):
            for it, prediction in zip(batch, _run_or_split(batch, run, device), strict=True):
                if isinstance(prediction, Prediction):  # kept with the record: how it was computed
                    prediction.extra.update(device=device.type, precision=precision)
                results[it.index] = prediction
            done += len(batch)
            if progress is not None:
                progress(done, len(items))
    return [r for r in results if r is not None]


def _run_or_split(
    batch: list[_Item], run: Callable[[list[_Item]], list[Prediction]], device: torch.device
) -> list[PredictionResult]:
    """``run(batch)``; if it fails, each document alone, so only the ones that still fail are errors."""
    out_of_memory, message = False, ""
    try:
        return list(run(batch))
    except torch.cuda.OutOfMemoryError:
        out_of_memory = True
    except Exception as error:  # any type: one document's failure must not sink the rest
        message = str(error) if isinstance(error, LongBertError) else f"{type(error).__name__}: {error}"
    # Outside the except blocks: the traceback, and the activations its frames hold, are gone.
    _free_memory(device)
    if len(batch) > 1:
        return [result for it in batch for result in _run_or_split([it], run, device)]
    (it,) = batch
    name = it.document.name
    if out_of_memory:
        message = (
            f"'{name}': out of memory at {it.encoded.used_tokens} tokens; use a smaller max_tokens "
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


def _run_batch(
    classifier: LongBertClassifier,
    batch: list[_Item],
    strategy: Strategy,
    device: torch.device,
    rows_per_pass: int,
    attention: str,
    full_window: int,
    threshold: float,
) -> list[Prediction]:
    started = perf_counter()
    encoded = [it.encoded for it in batch]
    model_batch = classifier.collate(encoded, strategy).to(device)
    want_rows = attention != "none"
    with torch.inference_mode(), autocast(device):
        # Windows run in slices so one document with hundreds of chunks never makes a huge batch.
        step = model_batch.input_ids.shape[0] if model_batch.mode != "chunks" else max(1, rows_per_pass)
        vectors, rows = [], []
        for s in range(0, model_batch.input_ids.shape[0], step):
            part = _slice_rows(model_batch, s, s + step)
            cls_vectors, cls_attention, _ = classifier.encode_windows(part, output_cls_attention=want_rows)
            vectors.append(cls_vectors)
            if cls_attention is not None:
                rows.append(cls_attention.float())
        out = classifier.classify_windows(torch.cat(vectors), model_batch, output_window_logits=True)
        probs = classifier.probabilities(out.logits).cpu().numpy()
        window_probs = (
            classifier.probabilities(out.window_logits).cpu().numpy()
            if out.window_logits is not None
            else None
        )
        weights = out.window_weights.float().cpu().numpy()
        cls_rows = torch.cat(rows).cpu().numpy() if rows else None
        full_maps = (
            [_full_attention(classifier, it.encoded, full_window, device) for it in batch]
            if attention == "full"
            else [None] * len(batch)
        )
    model_seconds = perf_counter() - started
    window_doc = model_batch.window_doc.cpu().numpy()
    predictions = []
    for doc_index, it in enumerate(batch):
        row_index = np.nonzero(window_doc == doc_index)[0]
        predictions.append(
            _make_prediction(
                classifier,
                it,
                strategy,
                probs[doc_index],
                row_index,
                weights,
                window_probs,
                cls_rows,
                full_maps[doc_index],
                threshold,
                latency_ms=1000 * (it.prepare_seconds + model_seconds / len(batch)),
            )
        )
    return predictions


def _slice_rows(batch: Any, start: int, stop: int) -> Any:
    from longbert.batching import ModelBatch

    def cut(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t[start:stop]

    return ModelBatch(
        mode=batch.mode,
        input_ids=batch.input_ids[start:stop],
        attention_mask=batch.attention_mask[start:stop],
        window_doc=batch.window_doc[start:stop],
        num_docs=batch.num_docs,
        global_attention_mask=cut(batch.global_attention_mask),
        attention_window=batch.attention_window,
        pooling=batch.pooling,
    )


def _make_prediction(
    classifier: LongBertClassifier,
    it: _Item,
    strategy: Strategy,
    probs: np.ndarray,
    row_index: np.ndarray,
    weights: np.ndarray,
    window_probs: np.ndarray | None,
    cls_rows: np.ndarray | None,
    full: FullAttention | None,
    threshold: float,
    latency_ms: float,
) -> Prediction:
    labels = classifier.labels
    best = int(np.argmax(probs))
    chosen = (
        [labels[i] for i in np.nonzero(probs >= threshold)[0]] if classifier.multi_label else [labels[best]]
    )
    # Multi-label: `label` stays the argmax even when `chosen` is empty (see predict's docstring).
    extra = {"threshold": threshold, "below_threshold": not chosen} if classifier.multi_label else {}
    enc = it.encoded
    segments = list(enc.segment_scores)
    if enc.mode == "chunks":
        for k, positions in enumerate(enc.windows):
            row = row_index[k]
            span = (int(enc.doc.offsets[positions[0], 0]), int(enc.doc.offsets[positions[-1], 1]))
            score = float(window_probs[row, best]) if window_probs is not None else float("nan")
            segments.append(SegmentScore("window", span, score, True, float(weights[row])))
    summary = None
    if cls_rows is not None:
        summary = summarize_attention(
            enc.doc, enc.windows, [cls_rows[r] for r in row_index], [float(weights[r]) for r in row_index]
        )
    return Prediction(
        document_name=it.document.name,
        document_sha256=it.document.sha256,
        label=labels[best],
        probabilities={label: float(p) for label, p in zip(labels, probs, strict=True)},
        labels=chosen,
        model_name=classifier.name,
        strategy=strategy.name,
        strategy_params=dict(strategy.params),
        total_tokens=enc.total_tokens,
        used_tokens=enc.used_tokens,
        spans=enc.spans,
        segment_scores=segments,
        attention=summary,
        latency_ms=latency_ms,
        full_attention=full,
        extra=extra,
    )


def _full_attention(
    classifier: LongBertClassifier, encoded: Encoded, window: int, device: torch.device
) -> FullAttention | None:
    """Every layer's and head's map for one window (window strategies only)."""
    if encoded.mode == "long" or not encoded.windows:
        return None
    window = min(max(window, 0), len(encoded.windows) - 1)
    positions = encoded.windows[window]
    single = Encoded(doc=encoded.doc, mode="window", windows=[positions])
    batch = classifier.collate([single]).to(device)
    _, _, maps = classifier.encode_windows(batch, output_attentions=True)
    n = len(positions) + 2
    weights = torch.stack([m[0, :, :n, :n] for m in maps]).to(torch.float16).cpu().numpy()
    ids = [
        classifier.tokenizer.cls_token_id,
        *encoded.doc.input_ids[positions].tolist(),
        classifier.tokenizer.sep_token_id,
    ]
    return FullAttention(
        window_index=window,
        weights=weights,
        token_positions=np.concatenate([[-1], positions, [-1]]).astype(np.int64),
        tokens=classifier.tokenizer.convert_ids_to_tokens(ids),
    )
