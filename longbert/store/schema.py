"""The database schema: SQLAlchemy 2.0 typed ORM models, portable across SQLite and PostgreSQL.

Only portable column types are used (Integer, String, Text, Float, Boolean, JSON, LargeBinary and
a UTC timestamp). ``SCHEMA_VERSION`` is the version this code writes; older databases are
upgraded by :mod:`longbert.store.migrations`, and any change here needs a new version and an
upgrade step there.

Version history: 1 -- the first layout (documents, models, predictions, attention maps, batches
with counts only, corrections, training runs). 2 -- per-file batch items (resumable batches),
``models.kind`` (trained or zero-shot), ``corrections.note``, an index on prediction time.
3 -- ``predictions.source`` (where each prediction came from, backfilled from its document),
``models.version`` (re-registering a model that has predictions keeps the old version's row), a
``database_id`` in ``longbert_meta`` and, on SQLite, ``PRAGMA application_id``. 4 -- a worker
lease on ``batches`` (``worker_host``, ``worker_pid``, ``worker_id``, ``heartbeat_at``): a batch
whose worker died shows as interrupted. 5 -- saved ``label_sets`` (name, labels, descriptions)
and ``predictions.label_set``, the name of the label set a prediction was made with;
``batch_items.fields``, the other columns of an uploaded table's row. 6 -- ``explanations``: why a
prediction got its label, per method and explained label (sentence and word scores as JSON).
7 -- an index on ``batch_items (batch_id, name)``: a command-line re-run supersedes an input's
earlier items (status ``superseded``) by name at every save. 8 -- no change to the tables: the
command-line batches recorded before that superseding (which counted an input labelled again
once per result) are recounted by the same rule (:mod:`longbert.store.recount`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_VERSION = 8

#: ``PRAGMA application_id`` of LongBERT's SQLite files (the bytes ``LgBt``); files from before
#: schema version 3 have 0 until they are upgraded.
APPLICATION_ID = int.from_bytes(b"LgBt", "big")

#: Deterministic constraint and index names, so that upgrade steps can refer to them and a
#: migrated database matches a fresh one exactly.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (what every timestamp column holds)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (portable: SQLite has no time zones) and returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("LongBERT stores aware datetimes only (got a naive one)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base with portable type mappings."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Meta(Base):
    """Key/value facts about the database: ``app`` = ``longbert``, ``schema_version``,
    ``created_at`` and ``database_id`` (random, made once: tells databases apart)."""

    __tablename__ = "longbert_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class DocumentRow(Base):
    """One text, stored once however often it is classified (unique by SHA-256 of the text)."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    #: The name under which the text was first seen (file name, or "pasted text").
    name: Mapped[str] = mapped_column(String(1024))
    #: paste, upload, batch, dataset or api.
    source: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    num_chars: Mapped[int] = mapped_column(Integer)
    #: WordPiece tokens of the whole text (``Prediction.total_tokens``), if known.
    num_tokens: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelRow(Base):
    """A registered model: a trained checkpoint, or a zero-shot classifier (``kind``)."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    #: ``trained`` or ``zero_shot``.
    kind: Mapped[str] = mapped_column(String(16), default="trained", server_default="trained")
    #: 1, 2, ... for each registration of this name that replaced a version with predictions
    #: (the replaced row is kept, renamed ``<name>@v<version>``, with its predictions).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    folder: Mapped[str | None] = mapped_column(String(1024))
    encoder: Mapped[str | None] = mapped_column(String(1024))
    labels: Mapped[list[Any]]
    multi_label: Mapped[bool] = mapped_column(Boolean, default=False)
    #: ``{"name": ..., "params": {...}}`` -- the strategy the model was trained with.
    strategy: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BatchRow(Base):
    """One upload of many files. Counts are kept in step with the items, in the same transaction."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(1024))
    #: pending, running, done, interrupted, failed or cancelled.
    status: Mapped[str] = mapped_column(String(16))
    total: Mapped[int] = mapped_column(Integer)
    done_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    config: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    #: The worker labelling the batch (a lease, :mod:`longbert.store.leases`): its host and
    #: process id, a random id per claim, and when it last showed it is alive. All None when no
    #: worker holds the batch.
    worker_host: Mapped[str | None] = mapped_column(String(255))
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    worker_id: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None]


class PredictionRow(Base):
    """One prediction: which document, which model and strategy, what it said and saw."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id", ondelete="SET NULL"), index=True)
    #: The name the document had in this prediction (a re-upload may rename it).
    document_name: Mapped[str] = mapped_column(String(1024))
    #: Where this prediction's text came from (paste, upload, batch, dataset or api); the
    #: document keeps the source it was first seen with.
    source: Mapped[str] = mapped_column(String(32), server_default="api", index=True)
    strategy: Mapped[str] = mapped_column(String(64), index=True)
    strategy_params: Mapped[dict[str, Any]]
    label: Mapped[str] = mapped_column(String(255), index=True)
    labels: Mapped[list[Any]]
    probabilities: Mapped[dict[str, Any]]
    total_tokens: Mapped[int] = mapped_column(Integer)
    used_tokens: Mapped[int] = mapped_column(Integer)
    #: ``[[start, end], ...]`` character spans the model saw.
    spans: Mapped[list[Any]]
    #: ``[{"kind", "span", "score", "selected", "weight"}, ...]``.
    segment_scores: Mapped[list[Any]]
    latency_ms: Mapped[float] = mapped_column(Float)
    zero_shot: Mapped[bool] = mapped_column(Boolean, default=False)
    extra: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: The name of the saved label set the prediction was made with (None: not recorded, e.g.
    #: before schema v5, or a trained model's own labels).
    label_set: Mapped[str | None] = mapped_column(String(255))


class AttentionMapRow(Base):
    """A compressed attention map: the [CLS] ``summary`` (always) or a ``full`` window map."""

    __tablename__ = "attention_maps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id", ondelete="CASCADE"), index=True)
    #: ``summary`` or ``full``.
    kind: Mapped[str] = mapped_column(String(16))
    #: The window a full map belongs to (``None`` for summaries).
    window_index: Mapped[int | None] = mapped_column(Integer)
    codec: Mapped[str] = mapped_column(String(32))
    #: ``{"arrays": [{"name", "dtype", "shape"}], ...}`` plus per-kind extras (full: tokens).
    meta: Mapped[dict[str, Any]]
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    #: Uncompressed size in bytes, for reporting the compression ratio.
    raw_bytes: Mapped[int] = mapped_column(Integer)


class ExplanationRow(Base):
    """Why a prediction got a label, by one method: the explanation's compact dict
    (:meth:`longbert.explain.Explanation.to_dict`). One row per prediction, method and explained
    label: computing it again replaces it."""

    __tablename__ = "explanations"
    __table_args__ = (UniqueConstraint("prediction_id", "method", "label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No index of its own: the unique constraint's index starts with it.
    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id", ondelete="CASCADE"))
    #: occlusion, integrated_gradients, gradient_x_input or attention.
    method: Mapped[str] = mapped_column(String(32))
    #: The label explained (the predicted one unless asked otherwise).
    label: Mapped[str] = mapped_column(String(255))
    #: Sentence spans and scores, word scores, seconds taken (``Explanation.to_dict``).
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BatchItemRow(Base):
    """One file (or row) of a batch: pending, done (with its prediction), error (with why) or
    superseded (a command-line re-run labelled the same input again: the later item counts)."""

    __tablename__ = "batch_items"
    __table_args__ = (
        UniqueConstraint("batch_id", "position"),
        # A command-line batch looks up an input's earlier items by name at every save (v7).
        Index("ix_batch_items_batch_id_name", "batch_id", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    #: 0-based order of the item within its batch.
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(1024))
    #: pending, done, error or superseded.
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    prediction_id: Mapped[int | None] = mapped_column(ForeignKey("predictions.id", ondelete="SET NULL"))
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The source row's other columns (id, title, gold label...) for a row of an uploaded
    #: table, so results join back to it (None: not a table row, or before schema v5).
    fields: Mapped[dict[str, Any] | None]


class CorrectionRow(Base):
    """A label a person set for a prediction. The latest one per prediction wins."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id", ondelete="CASCADE"), index=True)
    #: Single-label: the label. Multi-label: the labels joined with ", " (for display/filters).
    label: Mapped[str] = mapped_column(String(1024))
    labels: Mapped[list[Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class LabelSetRow(Base):
    """A saved label set: its labels in order and a description of each (zero-shot reads the
    descriptions). Chosen by name on every page."""

    __tablename__ = "label_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    labels: Mapped[list[Any]]
    #: label → description.
    descriptions: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrainingRunRow(Base):
    """One training run: its configuration, outcome and (in ``training_epochs``) its curve."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    #: running, done, failed or interrupted.
    status: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]]
    best_metrics: Mapped[dict[str, Any] | None]
    model_folder: Mapped[str | None] = mapped_column(String(1024))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class TrainingEpochRow(Base):
    """Metrics of one epoch of a training run (logging an epoch twice replaces it)."""

    __tablename__ = "training_epochs"
    __table_args__ = (UniqueConstraint("run_id", "epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("training_runs.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


#: Every table LongBERT owns (used to recognise a foreign or half-created database).
TABLE_NAMES = frozenset(Base.metadata.tables)
