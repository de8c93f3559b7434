"""Building a Review queue from the store: the predictions a History filter (or a batch)
selects, one model's and one label set's, each with the correction in force as the page will
show it (:func:`build_queue`), and the queue's last re-score in any session
(:func:`earlier_rescore`); and the labels people set on the queue's texts elsewhere under its
label set (:func:`labels_elsewhere`). See :mod:`longbert.ui.review` for the queue itself."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from longbert.active import get_sampler
from longbert.store import HistoryFilter, HistoryRow, RecordNotFoundError, Store
from longbert.ui.review import QueueItem, Rescored, ReviewError, ReviewQueue, rescore_setting
from longbert.ui.review_items import TextLabel, outside_labels

#: Rows read from the store per query while a queue is built.
PAGE_ROWS = 1000


def source_key(filters: HistoryFilter) -> str:
    """A short stable name of a queue's source (a batch, or a History filter)."""
    if filters.batch_id is not None and filters == HistoryFilter(batch_id=filters.batch_id):
        return f"batch:{filters.batch_id}"
    return "filter:" + hashlib.sha256(repr(filters).encode()).hexdigest()[:16]


def _all_rows(store: Store, filters: HistoryFilter) -> list[HistoryRow]:
    rows: list[HistoryRow] = []
    while True:
        page = store.history(filters, limit=PAGE_ROWS, offset=len(rows))
        rows += page.rows
        if not page.rows or len(rows) >= page.total:
            return rows


def build_queue(
    store: Store, filters: HistoryFilter, *, sampler: str = "margin", seed: int = 0
) -> ReviewQueue:
    """The queue over the predictions ``filters`` select (``HistoryFilter(batch_id=7)``: a batch).

    Raises ReviewError when nothing matches, or when the predictions were made with several
    models or label sets (one queue ranks one model's predictions of one label set).
    """
    rows = [r for r in _all_rows(store, filters) if r.probabilities]
    if not rows:
        raise ReviewError("No predictions to review here: label a batch first, or widen the filter.")
    models = sorted({r.model_name for r in rows})
    label_sets = sorted({tuple(sorted(r.probabilities)) for r in rows})
    if len(models) > 1 or len(label_sets) > 1:
        raise ReviewError(
            f"These predictions come from {len(models)} model(s) with {len(label_sets)} label set(s) "
            f"({', '.join(models)}): a queue ranks one model's predictions of one label set. "
            "Narrow the filter (model and label set)."
        )
    rows.sort(key=lambda r: r.id)
    labels = list(rows[0].probabilities)
    items = {
        r.id: QueueItem(
            r.id,
            r.document_name,
            r.label,
            dict(r.probabilities),
            tuple(label for label in labels if label in set(r.labels)),
            document_sha256=r.document_sha256,
        )
        for r in rows
    }
    in_force = {r.id: r.correction_id for r in rows if r.correction_id is not None}
    names = {r.label_set for r in rows if r.label_set}
    queue = ReviewQueue(
        filters,
        source_key(filters),
        labels,
        models[0],
        names.pop() if len(names) == 1 else None,
        items,
        {},
        in_force,
        seed=seed,
        multi_label=_multi_label(store, models[0], rows),
    )
    queue.reviewed = {
        r.id: queue.value_of(r.corrected_label, r.corrected_labels)
        for r in rows
        if r.corrected_label is not None
    }
    queue.outside = labels_elsewhere(store, queue)
    queue.settle()
    queue.earlier_rescore = earlier_rescore(store, queue.key)
    # Embeddings come from a pass of a model (:mod:`longbert.ui.review_jobs`): until then a
    # diversity sampler's queue starts in margin order.
    queue.rerank("margin" if get_sampler(sampler).needs_embeddings else sampler)
    return queue


def labels_elsewhere(store: Store, queue: ReviewQueue) -> dict[str, list[TextLabel]]:
    """Text (SHA-256) → the people's labels in force on its predictions outside ``queue`` made
    with the queue's label set by a model of the queue's kind (single- or multi-label; any
    model, as Bulk Confirm checks by text), for the queue's texts: what the retrain's training
    set takes with the queue's own answers (:func:`longbert.ui.review_jobs.retrain_config`).

    One store query per 500 of the queue's texts (:meth:`Store.labels_of_texts`), however many
    corrections the store holds."""
    texts = {item.document_sha256 for item in queue.items.values() if item.document_sha256}
    if not texts:
        return {}
    return outside_labels(queue, store.labels_of_texts(texts, queue.labels, multi_label=queue.multi_label))


def _multi_label(store: Store, model: str, rows: list[HistoryRow]) -> bool:
    """Whether ``model`` is multi-label, as the store records it (what its corrections must
    be); a model gone from the store by what its predictions chose."""
    try:
        return store.get_model(model).multi_label
    except RecordNotFoundError:
        return any(list(r.labels) != [r.label] for r in rows)


def earlier_rescore(store: Store, key: str) -> Rescored | None:
    """The last re-score of the queue ``key`` in any session (kept in the store), if any."""
    saved = store.get_setting(rescore_setting(key))
    if not saved:
        return None
    try:
        data: dict[str, Any] = json.loads(saved)
        return Rescored(datetime.fromisoformat(data["at"]), str(data["model"]))
    except (ValueError, KeyError, TypeError):
        return None  # a damaged note costs the line on the page, nothing else
