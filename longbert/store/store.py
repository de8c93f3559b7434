"""The :class:`Store`: LongBERT's complete, queryable record of what was classified and corrected.

Each public method is one short transaction on a session of its own, so a Store can be shared by
threads (Streamlit sessions) and used from several processes (a batch job) at once. Calls made
inside ``with store.transaction():`` are one transaction instead (:meth:`Store.transaction`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from longbert.document import Document
from longbert.errors import StoreError
from longbert.results import Prediction, PredictionError
from longbert.store.batches import BatchesMixin, finish_item
from longbert.store.conflicts import ConflictsMixin
from longbert.store.convert import prepare_prediction, to_document, to_prediction
from longbert.store.corrections import CorrectionsMixin, correction_record
from longbert.store.engine import Database, close_database, describe_url, get_row, open_database
from longbert.store.explanations import ExplanationsMixin
from longbert.store.export import ExportMixin
from longbert.store.identity import DATABASE_ID_KEY
from longbert.store.label_sets import LabelSetsMixin
from longbert.store.leases import LeasesMixin, lock_batch
from longbert.store.migrations import initialise
from longbert.store.models import ModelsMixin, prediction_model
from longbert.store.queries import QueriesMixin
from longbert.store.records import StoredPrediction
from longbert.store.schema import (
    AttentionMapRow,
    CorrectionRow,
    DocumentRow,
    Meta,
    ModelRow,
    PredictionRow,
    utcnow,
)
from longbert.store.settings import SettingsMixin
from longbert.store.text_labels import TextLabelsMixin
from longbert.store.training import TrainingMixin

# Core tables for the hot path (saving a prediction), bypassing the ORM's unit of work.
DOCUMENTS = DocumentRow.__table__
MODELS = ModelRow.__table__
PREDICTIONS = PredictionRow.__table__
ATTENTION_MAPS = AttentionMapRow.__table__


class Store(
    QueriesMixin,
    ModelsMixin,
    BatchesMixin,
    LeasesMixin,
    CorrectionsMixin,
    ConflictsMixin,
    ExplanationsMixin,
    LabelSetsMixin,
    TrainingMixin,
    ExportMixin,
    SettingsMixin,
    TextLabelsMixin,
):
    """LongBERT's database. ``url`` is any SQLAlchemy URL; ``None`` → ``LONGBERT_DB_URL`` or
    SQLite at ``db/longbert.sqlite`` (created on first use).

    Raises:
        StoreError: the database is not a LongBERT one, is corrupt, or is newer than this code.
    """

    def __init__(self, url: str | None = None) -> None:
        if url is None:
            from longbert.settings import database_url

            url = database_url()
        self.url = url
        self._pid = os.getpid()
        self._database = open_database(url, initialise)

    @property
    def _db(self) -> Database:  # type: ignore[override]
        # A forked child (multiprocessing) must open its own engine, not reuse the parent's.
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._database = open_database(self.url, initialise)
        return self._database

    def __repr__(self) -> str:
        return f"Store({describe_url(self._db.url)!r})"

    @property
    def schema_version(self) -> int:
        """The database's schema version (equal to the code's after opening)."""
        return int(self._db.read(lambda s: s.get_one(Meta, "schema_version").value))

    @property
    def database_id(self) -> str:
        """This database's random id, made when it was created (or upgraded to schema v3).

        Tells databases apart where their URLs cannot: two files that were one path at different
        times, or databases sharing a folder (the batch spool is kept per database id).
        """

        def work(session: Session) -> str:
            row = session.get(Meta, DATABASE_ID_KEY)
            if row is None:
                where = describe_url(self._db.url)
                raise StoreError(f"The database {where} has no database id: restore a backup.")
            return row.value

        return self._db.read(work)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Make the calls this thread makes inside the block one transaction: what they write is
        committed together when the block ends, and none of it when the block raises, or the
        process is killed first -- for a unit of work (one imported task's prediction, its
        corrections and the list of what was imported) that must never be left half-written.

        Reads inside the block see its writes. A call that raises (e.g. a correction refused
        as out of date) leaves nothing of itself and the block may go on. The write lock is
        held for the whole block: keep it short. Nested blocks are savepoints.

        Raises:
            StoreError: the database is locked by other writers beyond the busy timeout, or
                the commit fails (then nothing of the block is stored).
        """
        with self._db.transaction():
            yield

    def close(self) -> None:
        """Release this process's connections to the database (it reopens on next use)."""
        close_database(self.url)

    def check_integrity(self) -> None:
        """Run SQLite's ``quick_check`` over the whole file (O(size); other backends: no-op).

        Raises:
            StoreError: the file is damaged.
        """
        if not self._db.is_sqlite:
            return
        result = self._db.read(lambda s: [r[0] for r in s.connection().exec_driver_sql("PRAGMA quick_check")])
        if result != ["ok"]:
            raise StoreError(f"The database {self.url} is damaged: {'; '.join(result[:5])}")

    # -- predictions --------------------------------------------------------------------------

    def save_prediction(
        self,
        prediction: Prediction,
        document: Document,
        *,
        batch_id: int | None = None,
        item_index: int | None = None,
        store_full_attention: bool = True,
        label_set: str | None = None,
    ) -> int:
        """Store a prediction with its document (deduplicated by SHA-256) and attention maps.

        ``label_set`` names the saved label set the prediction was made with (default: the
        prediction's ``extra["label_set"]``, if any), shown in History and exports.

        The prediction records ``document.source`` (where this text came from this time); a text
        seen before keeps its document's first name and source.

        All rows are written in one transaction: either all are stored or none. A model not yet
        registered is registered from the prediction. With ``batch_id``, the batch item at
        ``item_index`` (or the first pending one with the document's name) is marked done.
        Returns the prediction id.
        """
        if not isinstance(prediction, Prediction):
            raise TypeError(f"save_prediction takes a Prediction, got {type(prediction).__name__}")
        if not isinstance(document, Document):
            raise TypeError(f"save_prediction takes the Document, got {type(document).__name__}")
        if document.sha256 != prediction.document_sha256:
            raise StoreError(
                f"The prediction for '{prediction.document_name}' was made on another text "
                f"than document '{document.name}' (SHA-256 differs); nothing was saved."
            )
        prepared = prepare_prediction(prediction, store_full_attention)
        chosen_set = label_set if label_set is not None else (prediction.extra or {}).get("label_set")
        chosen_set = None if chosen_set is None else str(chosen_set)[:255]

        now = utcnow()
        serialised = self._db.is_sqlite  # BEGIN IMMEDIATE: no concurrent insert of the same key

        def work(session: Session) -> int:
            # Core statements, not ORM units of work: this is the hot path of batches.
            if batch_id is not None:
                lock_batch(session, batch_id)  # first: nothing may point at a missing batch
            document_id = _document_id(session, document, prediction.total_tokens, now, serialised)
            model_id = prediction_model(session, prediction)
            connection = session.connection()
            prediction_id = connection.execute(
                insert(PREDICTIONS).returning(PREDICTIONS.c.id),
                {
                    "document_id": document_id,
                    "model_id": model_id,
                    "batch_id": batch_id,
                    "source": document.source,
                    "created_at": now,
                    "label_set": chosen_set,
                    **prepared.values,
                },
            ).scalar_one()
            if prepared.maps:
                connection.execute(insert(ATTENTION_MAPS), [m.values(prediction_id) for m in prepared.maps])
            if batch_id is not None:
                finish_item(
                    session,
                    batch_id,
                    item_index,
                    prediction.document_name,
                    "done",
                    prediction_id=prediction_id,
                    document_sha256=document.sha256,
                )
            return prediction_id

        return self._db.write(work)

    def extend_prediction_extra(self, prediction_id: int, key: str, values: Sequence[str]) -> None:
        """Add ``values`` (those not there yet, in order) to the list ``extra[key]`` of a stored
        prediction (made when absent), the prediction locked meanwhile so two writers at once
        lose neither's values. A prediction is otherwise written once; an import that must
        remember durably what it stored on one (the Label Studio annotations it made corrections
        of, so one a person took back is not imported again) keeps that list here.

        Raises:
            RecordNotFoundError: there is no such prediction.
        """

        def work(session: Session) -> None:
            row = get_row(session, PredictionRow, prediction_id, f"There is no prediction {prediction_id}.",
                          lock=True)
            extra = dict(row.extra or {})
            current = [str(value) for value in extra.get(key) or []]
            extra[key] = current + [str(v) for v in dict.fromkeys(values) if str(v) not in current]
            row.extra = extra

        self._db.write(work)

    def record_error(self, error: PredictionError, *, batch_id: int, item_index: int | None = None) -> int:
        """Record a document that could not be classified as a failed batch item; returns its position."""
        if not isinstance(error, PredictionError):
            raise TypeError(f"record_error takes a PredictionError, got {type(error).__name__}")
        return self._db.write(
            lambda session: finish_item(
                session,
                batch_id,
                item_index,
                error.document_name,
                "error",
                document_sha256=error.document_sha256,
                error=error.message,
            )
        )

    def get_prediction(self, prediction_id: int, with_full_attention: bool = False) -> StoredPrediction:
        """A prediction as stored: the core Prediction (with its attention summary, and its full
        map when asked), its Document, and its corrections."""
        kinds = ["summary", "full"] if with_full_attention else ["summary"]

        def work(session: Session) -> StoredPrediction:
            row = get_row(session, PredictionRow, prediction_id, f"There is no prediction {prediction_id}.")
            document = session.get_one(DocumentRow, row.document_id)
            model = session.get_one(ModelRow, row.model_id)
            maps = {
                m.kind: m
                for m in session.scalars(
                    select(AttentionMapRow)
                    .where(AttentionMapRow.prediction_id == prediction_id, AttentionMapRow.kind.in_(kinds))
                    .order_by(AttentionMapRow.id)
                )
            }
            corrections = [
                correction_record(c)
                for c in session.scalars(
                    select(CorrectionRow)
                    .where(CorrectionRow.prediction_id == prediction_id)
                    .order_by(CorrectionRow.id)
                )
            ]
            return StoredPrediction(
                id=row.id,
                prediction=to_prediction(row, model.name, document, maps.get("summary"), maps.get("full")),
                document=to_document(document),
                created_at=row.created_at,
                batch_id=row.batch_id,
                source=row.source,
                corrections=corrections,
            )

        return self._db.read(work)

    def get_document(self, sha256: str) -> Document:
        """A stored document by the SHA-256 of its text."""
        statement = select(DocumentRow).where(DocumentRow.sha256 == sha256)
        return self._db.read_one(statement, to_document, f"No document with SHA-256 {sha256} is stored.")


def _document_id(
    session: Session, document: Document, total_tokens: int, now: datetime, serialised: bool
) -> int:
    """The id of the document with this text's hash, inserting it on first sight (race-safe)."""
    connection = session.connection()
    lookup = select(DOCUMENTS.c.id, DOCUMENTS.c.num_tokens).where(DOCUMENTS.c.sha256 == document.sha256)
    found = connection.execute(lookup).first()
    if found is None:
        statement = insert(DOCUMENTS).returning(DOCUMENTS.c.id)
        values = {
            "sha256": document.sha256,
            "name": document.name,
            "source": document.source,
            "text": document.text,
            "num_chars": document.num_chars,
            "num_tokens": int(total_tokens),
            "created_at": now,
        }
        if serialised:
            return connection.execute(statement, values).scalar_one()
        try:
            # Savepoint: on PostgreSQL a concurrent session may insert the same text first.
            with session.begin_nested():
                return connection.execute(statement, values).scalar_one()
        except IntegrityError:
            found = connection.execute(lookup).one()
    document_id, num_tokens = found
    if num_tokens is None:
        session.execute(
            update(DocumentRow).where(DocumentRow.id == document_id).values(num_tokens=int(total_tokens))
        )
    return int(document_id)


_STORES: dict[str | None, Store] = {}
_STORES_LOCK = threading.Lock()


def get_store(url: str | None = None) -> Store:
    """The process's shared :class:`Store` for ``url`` (``None``: the configured database)."""
    if url is None:
        from longbert.settings import database_url

        url = database_url()
    with _STORES_LOCK:
        store = _STORES.get(url)
        if store is None:
            store = _STORES[url] = Store(url)
        return store
