"""Every call this package makes to the store, in one place (:mod:`longbert.store`'s public API).

A run is one store *batch* (so History lists it, filters by it and shows its counts), created
with a total only: each saved prediction or recorded error appends one item, in output order, in
its own short transaction (``Store.save_prediction`` / ``Store.record_error``). The batch's item
count is therefore exactly how many output rows reached the store, which is what a resume needs
to know (see :mod:`longbert.bulk.runner`). Only the process that runs the command writes here;
Ray actors never do.

Store functions called: ``get_store``, ``Store.database_id``, ``Store.create_batch``,
``Store.get_batch``, ``Store.save_prediction``, ``Store.record_error``,
``Store.mark_batch_status``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from longbert.document import Document
from longbert.errors import StoreError
from longbert.results import Prediction, PredictionError
from longbert.store import RecordNotFoundError, Store, get_store


class StoreSink:
    """The store side of one run: its batch, and the writes of its results."""

    def __init__(self, url: str | None = None) -> None:
        self.store: Store = get_store(url)
        self.batch_id: int | None = None

    @property
    def where(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.store.url).render_as_string(hide_password=True)

    @property
    def database_id(self) -> str:
        return self.store.database_id

    def open_batch(self, name: str, config: dict[str, Any], batch_id: int | None) -> int:
        """Continue batch ``batch_id`` (a resumed run) or create a new one; returns its id."""
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
            self.batch_id = self.store.create_batch(name, total=0, config=config)
        self.store.mark_batch_status(self.batch_id, "running")
        return self.batch_id

    def stored_rows(self) -> int:
        """How many results (predictions and errors) the batch holds: the rows that reached it."""
        assert self.batch_id is not None
        return self.store.get_batch(self.batch_id).total

    def write(self, results: Sequence[tuple[Prediction | PredictionError, Document | None]]) -> None:
        """Save predictions (with their attention summary, if computed) and record errors, in order."""
        assert self.batch_id is not None
        for result, document in results:
            if isinstance(result, Prediction) and document is not None:
                self.store.save_prediction(
                    result, document, batch_id=self.batch_id, store_full_attention=False
                )
            else:
                error = result if isinstance(result, PredictionError) else PredictionError("?", "not read")
                self.store.record_error(error, batch_id=self.batch_id)

    def mark(self, status: str) -> None:
        """``running`` between chunks (each save of a total-only batch counts it done), ``done``
        at the end, ``interrupted`` on Ctrl-C or a failure."""
        if self.batch_id is not None:
            self.store.mark_batch_status(self.batch_id, status)
