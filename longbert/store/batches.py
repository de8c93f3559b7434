"""Batches: one upload of many files, item by item, so an interrupted batch can be seen and resumed.

A batch is created with its item names (or just a total). Each saved prediction or recorded error
finishes one item *in the same transaction* as the prediction, and the batch's counts move with
it, so the counts never disagree with the items. After a crash, :meth:`BatchesMixin.pending_items`
lists what is left to do.

A batch created with a total only may also be *open-ended* (:func:`is_open_ended`): a
command-line run appends its results as they come and knows its end only when its inputs run out,
so such a batch is never finished by its counts reaching its total; its maker marks it done. In
such a batch an item name stands for one input: a result appended for a name the batch already
holds *supersedes* the earlier item(s) of that name (an input labelled again: its text changed,
or it could not be read before). A superseded item keeps its row (status ``superseded``, its
error or prediction id), so the batch's item count (:meth:`BatchesMixin.count_batch_items`) is
still every result it was sent, but it leaves the counts: ``total``, ``done`` and ``errors``
count each input once, by its latest result. Its prediction stays in the store (with any
correction a person made of it) but no longer belongs to the batch (``predictions.batch_id`` is
cleared), so History's and exports' batch filter show each input's latest prediction only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from longbert.errors import StoreError
from longbert.store.convert import jsonable
from longbert.store.engine import Database, get_row
from longbert.store.leases import (
    FINAL_STATUSES,
    drop_lease,
    lease_holder,
    lock_batch,
    shown_status,
    touch_lease,
)
from longbert.store.queries import history_rows_by_id
from longbert.store.records import BatchItemRecord, BatchRecord
from longbert.store.schema import BatchItemRow, BatchRow, PredictionRow, utcnow

BATCH_STATUSES = ("pending", "running", "done", "interrupted", "failed", "cancelled")
ITEM_STATUSES = ("pending", "done", "error", "superseded")
#: An open-ended batch's item replaced by a later result for the same name (see the module doc).
SUPERSEDED = "superseded"
#: Config key set on an open-ended batch (``create_batch(open_ended=True)``).
OPEN_ENDED_KEY = "open_ended"
#: Config key of the batches ``python -m longbert.predict`` records (:mod:`longbert.bulk.store_sink`).
COMMAND_LINE_KEY = "cli"


def is_open_ended(config: Mapping[str, Any]) -> bool:
    """Whether a batch with this config grows until its maker says it is done (see the module
    doc). A command line's batch is, also one recorded before :data:`OPEN_ENDED_KEY` existed."""
    return bool(config.get(OPEN_ENDED_KEY)) or bool(config.get(COMMAND_LINE_KEY))


def finish_item(
    session: Session,
    batch_id: int,
    position: int | None,
    name: str,
    status: str,
    *,
    prediction_id: int | None = None,
    document_sha256: str | None = None,
    error: str | None = None,
) -> int:
    """Mark one batch item done or failed, inside the caller's transaction; returns its position.

    ``position`` picks the item; ``None`` takes the first pending item called ``name``, or
    appends a new item when there is none (batches created with a total only). An item appended
    to an open-ended batch supersedes the batch's earlier items called ``name`` (module doc).

    Raises:
        RecordNotFoundError: no such batch.
    """
    batch = lock_batch(session, batch_id)
    open_ended = is_open_ended(batch.config or {})
    item: BatchItemRow | None
    earlier: list[BatchItemRow] = []
    if position is not None:
        if position < 0:
            raise StoreError(f"Batch item position must be >= 0, got {position}.")
        item = session.scalar(
            select(BatchItemRow).where(BatchItemRow.batch_id == batch_id, BatchItemRow.position == position)
        )
    else:
        # One look-up by name serves both: the first pending item to fill, else the finished
        # items a new one supersedes (the batch's items are scanned once per save either way).
        same_name = list(
            session.scalars(
                select(BatchItemRow)
                .where(
                    BatchItemRow.batch_id == batch_id,
                    BatchItemRow.name == name,
                    BatchItemRow.status != SUPERSEDED,
                )
                .order_by(BatchItemRow.position)
            )
        )
        item = next((i for i in same_name if i.status == "pending"), None)
        if item is None:
            earlier = same_name if open_ended else []
            last = session.scalar(
                select(func.max(BatchItemRow.position)).where(BatchItemRow.batch_id == batch_id)
            )
            position = 0 if last is None else last + 1
    appended = item is None
    if item is None:
        assert position is not None
        item = BatchItemRow(batch_id=batch_id, position=position, name=name, status="pending")
        session.add(item)
    now = utcnow()
    previous = item.status
    item.status = status
    item.error = error
    item.prediction_id = prediction_id
    if document_sha256 is not None:  # else keep the text hash the item was staged with
        item.document_sha256 = document_sha256
    item.updated_at = now
    batch.done_count += int(status == "done") - int(previous == "done")
    batch.error_count += int(status == "error") - int(previous == "error")
    if open_ended:
        # Each input once: the new item counts, the items it supersedes no longer do.
        batch.total += int(appended) - _supersede(session, batch, earlier, now)
    else:
        batch.total = max(batch.total, item.position + 1)
    if batch.status in ("pending", "interrupted"):
        batch.status = "running"
    touch_lease(batch, now)
    counted_out = batch.done_count + batch.error_count >= batch.total
    if batch.status == "running" and counted_out and not open_ended:
        batch.status = "done"
        batch.finished_at = now
        drop_lease(batch)
    batch.updated_at = now
    return item.position


def _supersede(session: Session, batch: BatchRow, items: Sequence[BatchItemRow], now: datetime) -> int:
    """Take ``items`` (finished items of ``batch``) out of its counts, and their predictions out
    of the batch (kept in the store, corrections and all); returns how many were taken."""
    for item in items:
        batch.done_count -= int(item.status == "done")
        batch.error_count -= int(item.status == "error")
        item.status = SUPERSEDED
        item.updated_at = now
    predictions = [i.prediction_id for i in items if i.prediction_id is not None]
    if predictions:
        session.execute(
            update(PredictionRow)
            .where(PredictionRow.id.in_(predictions), PredictionRow.batch_id == batch.id)
            .values(batch_id=None)
        )
    return len(items)


def _batch_record(row: BatchRow) -> BatchRecord:
    holder = lease_holder(row)
    return BatchRecord(
        id=row.id,
        name=row.name,
        status=shown_status(row, holder),
        total=row.total,
        done=row.done_count,
        errors=row.error_count,
        config=dict(row.config),
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        worker_host=holder.host if holder else None,
        worker_pid=holder.pid if holder else None,
        heartbeat_at=row.heartbeat_at if holder else None,
    )


def _item_record(item: BatchItemRow, **extra: Any) -> BatchItemRecord:
    return BatchItemRecord(
        batch_id=item.batch_id,
        position=item.position,
        name=item.name,
        status=item.status,
        error=item.error,
        prediction_id=item.prediction_id,
        document_sha256=item.document_sha256,
        updated_at=item.updated_at,
        fields=dict(item.fields) if item.fields else {},
        **extra,
    )


class BatchesMixin:
    """Batch methods of :class:`~longbert.store.Store`."""

    _db: Database

    def create_batch(
        self,
        name: str,
        total: int | None = None,
        config: dict[str, Any] | None = None,
        items: Sequence[str] | None = None,
        *,
        hashes: Sequence[str | None] | None = None,
        errors: Mapping[int, str] | None = None,
        fields: Mapping[int, Mapping[str, Any]] | None = None,
        open_ended: bool = False,
    ) -> int:
        """Start a batch of ``total`` items, or of the named ``items`` (positions 0, 1, ...).

        ``config`` records how it runs (model, strategy...). ``hashes`` gives each item's expected
        text SHA-256 (kept as its ``document_sha256``, so whoever reads the text back can check
        it is that item's); ``errors`` maps positions to why an item failed already (unreadable
        files). ``fields`` maps positions to the source row's other columns (a table upload's
        id, title...), kept with the item. Items, errors and counts are written in one
        transaction. ``open_ended`` (no ``items``): results are appended until the caller marks
        the batch done (see the module doc). Returns the batch id.
        """
        if open_ended and items is not None:
            raise StoreError("An open-ended batch grows as results come: give it no item names.")
        if items is not None:
            names = [str(item) for item in items]
            if total is not None and total != len(names):
                raise StoreError(f"Batch total {total} differs from its {len(names)} item names.")
            total = len(names)
        else:
            names = []
        if total is None or total < 0:
            raise StoreError("A batch needs a total >= 0 or a list of item names.")
        expected = [None] * len(names) if hashes is None else [None if h is None else str(h) for h in hashes]
        if len(expected) != len(names):
            raise StoreError(f"A batch of {len(names)} items got {len(expected)} text hashes.")
        failed = {int(position): str(reason) for position, reason in (errors or {}).items()}
        if any(not 0 <= position < len(names) for position in failed):
            raise StoreError(f"Batch error positions must be item positions 0..{len(names) - 1}.")
        config_json = jsonable(config or {}, "batch config")
        if open_ended:
            config_json[OPEN_ENDED_KEY] = True
        extra = {int(i): jsonable(dict(f), "source fields") for i, f in (fields or {}).items()}
        now = utcnow()
        finished = bool(names) and len(failed) == len(names)

        def work(session: Session) -> int:
            batch = BatchRow(
                name=name,
                status="done" if finished else "pending",
                total=total,
                done_count=0,
                error_count=len(failed),
                config=config_json,
                created_at=now,
                updated_at=now,
                finished_at=now if finished else None,
            )
            session.add(batch)
            session.flush()
            session.add_all(
                BatchItemRow(
                    batch_id=batch.id,
                    position=i,
                    name=n,
                    status="error" if i in failed else "pending",
                    error=failed.get(i),
                    document_sha256=expected[i],
                    updated_at=now,
                    fields=extra.get(i),
                )
                for i, n in enumerate(names)
            )
            return batch.id

        return self._db.write(work)

    def get_batch(self, batch_id: int) -> BatchRecord:
        """A batch with its counts. Raises RecordNotFoundError if there is none."""

        def work(session: Session) -> BatchRecord:
            return _batch_record(get_row(session, BatchRow, batch_id, f"There is no batch {batch_id}."))

        return self._db.read(work)

    #: The lead's name for it: progress is the batch record (total, done, errors, pending).
    batch_progress = get_batch

    def list_batches(
        self, status: str | Sequence[str] | None = None, limit: int | None = 100
    ) -> list[BatchRecord]:
        """Batches, newest first, optionally only those with the given status(es) as reported
        (a ``running`` batch no worker holds is ``interrupted``); ``limit`` None: all of them."""
        statement = select(BatchRow).order_by(BatchRow.created_at.desc(), BatchRow.id.desc())
        wanted = None if status is None else ([status] if isinstance(status, str) else list(status))
        if wanted is not None:
            stored = set(wanted) | ({"running"} if "interrupted" in wanted else set())
            statement = statement.where(BatchRow.status.in_(sorted(stored)))
        elif limit is not None:
            statement = statement.limit(limit)

        def work(session: Session) -> list[BatchRecord]:
            records = (_batch_record(r) for r in session.scalars(statement))
            found = [r for r in records if wanted is None or r.status in wanted]
            return found if limit is None else found[:limit]

        return self._db.read(work)

    def unfinished_batches(self) -> list[BatchRecord]:
        """Batches that were started but not finished: candidates for resuming."""
        return self.list_batches(status=("pending", "running", "interrupted"))

    def mark_batch_status(self, batch_id: int, status: str) -> None:
        """Set a batch's status (e.g. ``interrupted`` when stopped, ``cancelled``); any status
        but ``running`` also clears its worker lease."""
        if status not in BATCH_STATUSES:
            raise StoreError(f"Unknown batch status '{status}'; use one of {', '.join(BATCH_STATUSES)}.")

        def work(session: Session) -> None:
            row = get_row(session, BatchRow, batch_id, f"There is no batch {batch_id}.", lock=True)
            now = utcnow()
            row.status = status
            row.updated_at = now
            row.finished_at = now if status in FINAL_STATUSES else None
            if status != "running":
                drop_lease(row)

        self._db.write(work)

    def pending_items(self, batch_id: int, include_errors: bool = False) -> list[BatchItemRecord]:
        """Items not done yet (and failed ones with ``include_errors``), in batch order."""
        wanted = ["pending", "error"] if include_errors else ["pending"]
        statement = (
            select(BatchItemRow)
            .where(BatchItemRow.batch_id == batch_id, BatchItemRow.status.in_(wanted))
            .order_by(BatchItemRow.position)
        )
        return self._db.read(lambda s: [_item_record(r) for r in s.scalars(statement)])

    def count_batch_items(self, batch_id: int) -> int:
        """How many items the batch holds, superseded ones included: for an open-ended batch,
        every result it was sent (its ``total`` counts each input once). Raises
        RecordNotFoundError if there is no such batch."""

        def work(session: Session) -> int:
            get_row(session, BatchRow, batch_id, f"There is no batch {batch_id}.")
            counted = select(func.count()).select_from(BatchItemRow).where(BatchItemRow.batch_id == batch_id)
            return int(session.scalar(counted) or 0)

        return self._db.read(work)

    def batch_items(self, batch_id: int, include_superseded: bool = False) -> list[BatchItemRecord]:
        """Every item of a batch in order, done ones with their prediction's history row;
        items superseded by a later result for their name (module doc) only with
        ``include_superseded``."""

        def work(session: Session) -> list[BatchItemRecord]:
            get_row(session, BatchRow, batch_id, f"There is no batch {batch_id}.")
            statement = select(BatchItemRow).where(BatchItemRow.batch_id == batch_id)
            if not include_superseded:
                statement = statement.where(BatchItemRow.status != SUPERSEDED)
            items = list(session.scalars(statement.order_by(BatchItemRow.position)))
            ids = [i.prediction_id for i in items if i.prediction_id is not None]
            rows = history_rows_by_id(session, ids)
            return [
                _item_record(i, row=rows.get(i.prediction_id) if i.prediction_id else None) for i in items
            ]

        return self._db.read(work)

    #: Per-batch results for the app: the same as :meth:`batch_items`.
    batch_results = batch_items
