"""The local engine: read → classify → rows, in chunks, with reading overlapped with the model."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from longbert.bulk.rows import DoneInputs, output_row
from longbert.bulk.sources import ReadCounter, SourceItem, iter_documents
from longbert.exit_threshold import has_exits
from longbert.results import PredictionResult

if TYPE_CHECKING:
    from longbert.classifier import DocumentClassifier
    from longbert.strategies import Strategy

T = TypeVar("T")
#: Documents handed to ``classifier.predict`` at a time: enough for length-sorted batches,
#: small enough that rows reach the output every few seconds on a CPU.
CHUNK_DOCUMENTS = 32


@dataclass
class BulkResult:
    """One input's outcome: the input, the model's result (``None``: it could not be read) and
    its output row (see :mod:`longbert.bulk.rows`)."""

    item: SourceItem
    result: PredictionResult | None
    row: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.ok


def classify_items(
    classifier: DocumentClassifier,
    items: Iterable[str | Any],
    *,
    strategy: Strategy | None = None,
    model_settings: Mapping[str, Any] | None = None,
    batch_size: int = 8,
    attention: str = "summary",
    chunk_size: int = CHUNK_DOCUMENTS,
    exit_threshold: float | None = None,
) -> Iterator[BulkResult]:
    """Classify a stream of inputs chunk by chunk, yielding one :class:`BulkResult` per input, in order.

    ``model_settings``: chunk's ``pooling`` and sparse's ``attention_window`` for these
    predictions (see :meth:`~longbert.bulk.model.ModelSpec.strategy_for`); both engines classify
    through here. ``exit_threshold``: an early-exit model's threshold (None: its own); left out
    for a model without exits, whose caller says it has no effect (once, not once per chunk).
    """
    strategy = strategy or classifier.strategy
    settings = dict(model_settings or {})
    if exit_threshold is not None and has_exits(classifier):
        settings["exit_threshold"] = exit_threshold
    model_name = classifier.name
    multi_label = bool(getattr(classifier, "multi_label", False))
    for chunk in chunked(iter_documents(items), chunk_size):
        documents = [item.document for item in chunk if item.document is not None]
        results = iter(
            classifier.predict(
                documents, strategy=strategy, **settings, batch_size=batch_size, attention=attention
            )
            if documents
            else []
        )
        for item in chunk:
            result = next(results) if item.document is not None else None
            row = output_row(item, result, model_name, strategy.name, multi_label=multi_label)
            yield BulkResult(item, result, row)


def skip_done(
    items: Iterable[SourceItem],
    done: DoneInputs,
    counter: list[int],
    reads: ReadCounter | None = None,
) -> Iterator[SourceItem]:
    """Leave out the inputs ``done`` holds; ``counter[0]`` counts them. With ``reads``, their
    bytes are added up in ``reads.bytes_skipped`` and taken out of the ``position`` of the inputs
    passed on, and the first input passed on marks where this run's work begins
    (:meth:`~longbert.bulk.sources.ReadCounter.work_begins`), so that progress, rates and ETA
    count only the work this run does."""
    previous = 0
    for item in items:
        share, previous = max(item.position - previous, 0), max(item.position, previous)
        if len(done) and item in done:
            counter[0] += 1
            if reads is not None:
                reads.bytes_skipped += share
            continue
        if reads is not None:
            item.position = max(item.position - reads.bytes_skipped, 0)
            reads.work_begins()
        yield item


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_END = object()


def prefetch(items: Iterable[T], size: int = 64) -> Iterator[T]:
    """Iterate ``items`` in a background thread, at most ``size`` ahead (file reading and PDF
    parsing overlap with the model, which releases the GIL; memory stays bounded)."""
    buffer: queue.Queue[Any] = queue.Queue(maxsize=size)
    stop = threading.Event()

    def fill() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_END)
        except BaseException as error:  # re-raised in the consumer
            buffer.put(error)

    thread = threading.Thread(target=fill, name="longbert-read", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
