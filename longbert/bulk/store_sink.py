"""Every call this package makes to the store, in one place (:mod:`longbert.store`'s public API).

A run is one store *batch* (so History lists it, filters by it and shows its counts), created
open-ended: each saved prediction or recorded error appends one item, in output order, in its own
short transaction (``Store.save_prediction`` / ``Store.record_error``). The batch's item count is
therefore exactly how many output rows reached the store, which is what a resume needs to know
(see :mod:`longbert.bulk.runner`); it is done only when the command says so (:meth:`StoreSink.mark`),
never because the rows so far reached the total so far. Only the process that runs the command
writes here; Ray actors never do.

An input labelled again (its text changed, or it could not be read before) appends an item of
the same name, which supersedes the earlier one in that same transaction
(:mod:`longbert.store.batches`): the batch's total, done and error counts count each input once,
by its latest row, as the output does, and History's batch filter shows its latest prediction
(the earlier one stays in the store, out of the batch). Superseded items still count as items.

For the whole run the process holds the batch's worker lease, as the app's batch jobs do
(:class:`~longbert.store.BatchLease`, a heartbeat thread): History shows the batch running, with
this host and process id, however long a chunk takes, and interrupted once the process is gone
(at once on its own host, when its heartbeat goes stale elsewhere). The batch's config records
the command (``config["cli"]["command"]``, without ``--overwrite``) so that History can say
what to run again: such a batch is resumed by its command, from its output, never by the app.

Store functions called: ``get_store``, ``Store.database_id``, ``Store.create_batch``,
``Store.get_batch``, ``Store.count_batch_items``, ``Store.save_prediction``, ``Store.record_error``,
``Store.mark_batch_status`` (and, for :meth:`StoreSink.retire_errors`, which no Store call does
yet, the store's own batch tables), and, through the lease, ``Store.claim_batch``,
``Store.heartbeat_batch``, ``Store.release_batch``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from longbert.document import Document
from longbert.errors import StoreError
from longbert.results import Prediction, PredictionError
from longbert.store import BatchLease, RecordNotFoundError, Store, get_store


def command_line() -> dict[str, str]:
    """``{"command", "workdir"}`` to run this process's ``python -m longbert.predict`` again, or
    ``{}`` when this process is something else (a notebook, a test) that the sink cannot
    stand for. ``--overwrite`` is left out: run again with it, the command would start over
    instead of resuming."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if program is None or (program.parent.name, program.name) != ("longbert", "predict.py"):
        return {}
    # argparse takes any unambiguous start of an option ("--ov": "--o" could be --output too).
    arguments = [a for a in sys.argv[1:] if not (len(a) >= 4 and "--overwrite".startswith(a))]
    return {"command": shlex.join(["python", "-m", "longbert.predict", *arguments]),
            "workdir": os.getcwd()}


class StoreSink:
    """The store side of one run: its batch, the lease on it, and the writes of its results."""

    def __init__(self, url: str | None = None, heartbeat_seconds: float | None = None) -> None:
        """``heartbeat_seconds``: how often the lease says this run is alive (None: the lease's
        own default, well within its expiry)."""
        self.store: Store = get_store(url)
        self.batch_id: int | None = None
        self.heartbeat_seconds = heartbeat_seconds
        self._lease: BatchLease | None = None

    @property
    def where(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.store.url).render_as_string(hide_password=True)

    @property
    def database_id(self) -> str:
        return self.store.database_id

    def open_batch(self, name: str, config: dict[str, Any], batch_id: int | None) -> int:
        """Continue batch ``batch_id`` (a resumed run) or create a new one, and hold it until
        :meth:`mark` ends the run; returns its id.

        Raises:
            StoreError: the batch is gone from the store.
            BatchBusyError: another live process holds the batch (the same run started twice).
        """
        if batch_id is not None:
            try:
                self.store.get_batch(batch_id)
            except RecordNotFoundError as error:
                raise StoreError(
                    f"The output was being recorded as batch #{batch_id} in {self.where}, which is not "
                    "there any more; use a new --output, or --no-store."
                ) from error
            self.batch_id = batch_id
        else:
            cli = {**command_line(), **config.get("cli", {})}  # a command the caller gave wins
            self.batch_id = self.store.create_batch(
                name, total=0, config={**config, "cli": cli}, open_ended=True
            )
        # Claimed (running, this process) and kept alive until mark() ends it; a process killed
        # without a mark lets go by dying.
        lease = BatchLease(self.store, self.batch_id)
        if self.heartbeat_seconds is not None:
            lease.interval = self.heartbeat_seconds
        self._lease = lease.start()
        try:
            # A claim leaves a finished batch's status alone; this run is adding to it again.
            self.store.mark_batch_status(self.batch_id, "running")
        except BaseException:
            # No heartbeat thread left behind by a failed start; the error is the one to report.
            self._lease = None
            with contextlib.suppress(Exception):
                lease.end("interrupted")
            raise
        return self.batch_id

    def stored_rows(self) -> int:
        """How many results (predictions and errors) the batch was sent: the rows that reached
        it, superseded ones included (its ``total`` counts each input once instead)."""
        assert self.batch_id is not None
        return self.store.count_batch_items(self.batch_id)

    def write(self, results: Sequence[tuple[Prediction | PredictionError, Document | None]]) -> None:
        """Save predictions (with their attention summary, if computed) and record errors, in
        order; :class:`~longbert.store.BatchBusyError` (nothing saved) once another process has
        taken the batch over."""
        assert self.batch_id is not None
        if self._lease is not None:
            self._lease.check()
        for result, document in results:
            if isinstance(result, Prediction) and document is not None:
                self.store.save_prediction(
                    result, document, batch_id=self.batch_id, store_full_attention=False
                )
            else:
                error = result if isinstance(result, PredictionError) else PredictionError("?", "not read")
                self.store.record_error(error, batch_id=self.batch_id)

    def retire_errors(self, names: Sequence[str]) -> int:
        """Supersede the batch's error items called one of ``names``: files and folders that
        could not be read before and read now, whose documents and rows have names of their own
        (``file#row=N``, ``folder/file``), so no newer item of that name supersedes the error as
        it would an input's (:meth:`~longbert.bulk.outputs.Ledger.retire_error`). The batch's
        total and error counts drop by as many; its item count does not. Returns how many.

        The store has no call for this yet, so it is written here, in one write transaction
        holding the batch row's lock, exactly as ``finish_item`` supersedes an item."""
        assert self.batch_id is not None
        if self._lease is not None:
            self._lease.check()
        from sqlalchemy import select

        from longbert.store.batches import SUPERSEDED
        from longbert.store.leases import lock_batch
        from longbert.store.schema import BatchItemRow, utcnow

        batch_id = self.batch_id

        def work(session: Any) -> int:
            batch = lock_batch(session, batch_id)
            now = utcnow()
            found = 0
            for start in range(0, len(names), 500):
                items = session.scalars(
                    select(BatchItemRow).where(
                        BatchItemRow.batch_id == batch_id,
                        BatchItemRow.name.in_(list(names[start : start + 500])),
                        BatchItemRow.status == "error",
                    )
                )
                for item in items:
                    item.status = SUPERSEDED
                    item.updated_at = now
                    found += 1
            batch.error_count -= found
            batch.total -= found
            if found:
                batch.updated_at = now
            return found

        return self.store._db.write(work)

    def mark(self, status: str) -> None:
        """``running`` between chunks (raises :class:`~longbert.store.BatchBusyError` if another
        process has taken the batch over), ``done`` at the end, ``interrupted`` on Ctrl-C or a
        failure: these two let go of the batch and stop the heartbeat (a batch taken over is
        left to its new holder)."""
        lease = self._lease
        if self.batch_id is None or lease is None:
            return
        if status == "running":
            lease.check()
            return
        self._lease = None
        lease.end(status)
