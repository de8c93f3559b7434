"""Schema versions: create a new database, recognise ours, upgrade older ones without losing rows.

The version lives in the ``longbert_meta`` table (``schema_version``). Opening a database:

* no tables → create the current schema and stamp it (version, a random ``database_id`` and,
  on SQLite, ``PRAGMA application_id``);
* no ``longbert_meta`` but other schema objects → another application's database, or a damaged
  LongBERT one (see :mod:`longbert.store.identity`); on a server database our tables may live
  beside others';
* ``schema_version`` newer than this code → refuse ("upgrade LongBERT");
* older → in one write transaction, re-read the version, back up the SQLite file and run each
  upgrade step in order, so two processes opening an old database at once upgrade it (and back
  it up) once.

Upgrade steps use Alembic's operations (portable DDL) and spell out their own columns: they must
keep producing *that* version's schema even after the ORM models move on.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from longbert.errors import StoreError
from longbert.store.engine import BUSY_TIMEOUT_MS, Database, describe_url, enable_wal
from longbert.store.identity import (
    DATABASE_ID_KEY,
    check_unversioned,
    new_database_id,
    stamp_application_id,
)
from longbert.store.recount import supersede_repeated_inputs
from longbert.store.schema import SCHEMA_VERSION, Base, Meta, UTCDateTime, utcnow

APP_NAME = "longbert"


def _upgrade_1_to_2(connection: Connection, op: Operations) -> None:
    """v2: per-item batch records, model kind, correction notes, index on prediction time."""
    op.create_table(
        "batch_items",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("batch_id", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("prediction_id", sa.Integer, nullable=True),
        sa.Column("document_sha256", sa.String(64), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        # Named as the ORM's naming convention names them, so that an upgraded database and a
        # new one are the same.
        sa.PrimaryKeyConstraint("id", name="pk_batch_items"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], ondelete="CASCADE", name="fk_batch_items_batch_id_batches"
        ),
        sa.ForeignKeyConstraint(
            ["prediction_id"],
            ["predictions.id"],
            ondelete="SET NULL",
            name="fk_batch_items_prediction_id_predictions",
        ),
        sa.UniqueConstraint("batch_id", "position", name="uq_batch_items_batch_id_position"),
    )
    op.create_index("ix_batch_items_batch_id", "batch_items", ["batch_id"])
    op.add_column(
        "models",
        sa.Column("kind", sa.String(16), nullable=False, server_default="trained"),
    )
    op.add_column("corrections", sa.Column("note", sa.Text, nullable=True))
    op.create_index("ix_predictions_created_at", "predictions", ["created_at"])

    # Data: v1 named zero-shot models "zero-shot:<encoder>"; v1 batches had no item records,
    # so each prediction of a batch becomes a done item, in prediction order.
    models = sa.table("models", sa.column("name", sa.String), sa.column("kind", sa.String))
    connection.execute(models.update().where(models.c.name.like("zero-shot:%")).values(kind="zero_shot"))
    predictions = sa.table(
        "predictions",
        sa.column("id", sa.Integer),
        sa.column("batch_id", sa.Integer),
        sa.column("document_name", sa.String),
        sa.column("document_id", sa.Integer),
    )
    documents = sa.table("documents", sa.column("id", sa.Integer), sa.column("sha256", sa.String))
    items = sa.table(
        "batch_items",
        sa.column("batch_id", sa.Integer),
        sa.column("position", sa.Integer),
        sa.column("name", sa.String),
        sa.column("status", sa.String),
        sa.column("prediction_id", sa.Integer),
        sa.column("document_sha256", sa.String),
        sa.column("updated_at", UTCDateTime()),
    )
    rows = connection.execute(
        sa.select(predictions.c.id, predictions.c.batch_id, predictions.c.document_name, documents.c.sha256)
        .join(documents, documents.c.id == predictions.c.document_id)
        .where(predictions.c.batch_id.is_not(None))
        .order_by(predictions.c.batch_id, predictions.c.id)
    ).all()
    positions: dict[int, int] = {}
    now = utcnow()
    values = []
    for prediction_id, batch_id, name, sha256 in rows:
        position = positions.get(batch_id, 0)
        positions[batch_id] = position + 1
        values.append(
            {
                "batch_id": batch_id,
                "position": position,
                "name": name,
                "status": "done",
                "prediction_id": prediction_id,
                "document_sha256": sha256,
                "updated_at": now,
            }
        )
    if values:
        connection.execute(items.insert(), values)


def _upgrade_2_to_3(connection: Connection, op: Operations) -> None:
    """v3: per-prediction source, model versions, a database id, SQLite's application id."""
    op.add_column(
        "predictions",
        sa.Column("source", sa.String(32), nullable=False, server_default="api"),
    )
    # Data: until v3 a prediction's source was its document's (the source it was first seen
    # with), which is the best that can be said of the old rows.
    predictions = sa.table(
        "predictions", sa.column("document_id", sa.Integer), sa.column("source", sa.String)
    )
    documents = sa.table("documents", sa.column("id", sa.Integer), sa.column("source", sa.String))
    connection.execute(
        predictions.update().values(
            source=sa.select(documents.c.source)
            .where(documents.c.id == predictions.c.document_id)
            .scalar_subquery()
        )
    )
    op.create_index("ix_predictions_source", "predictions", ["source"])
    op.add_column("models", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    meta = sa.table("longbert_meta", sa.column("key", sa.String), sa.column("value", sa.String))
    if connection.execute(sa.select(meta.c.key).where(meta.c.key == DATABASE_ID_KEY)).first() is None:
        connection.execute(meta.insert().values(key=DATABASE_ID_KEY, value=new_database_id()))
    stamp_application_id(connection)


def _upgrade_3_to_4(connection: Connection, op: Operations) -> None:
    """v4: a worker lease on batches (who labels it, and when it last showed it is alive).

    Old rows get no worker: a batch left "running" by a process that is gone now shows as
    interrupted, which is what it is.
    """
    op.add_column("batches", sa.Column("worker_host", sa.String(255), nullable=True))
    op.add_column("batches", sa.Column("worker_pid", sa.Integer, nullable=True))
    op.add_column("batches", sa.Column("worker_id", sa.String(64), nullable=True))
    op.add_column("batches", sa.Column("heartbeat_at", UTCDateTime(), nullable=True))


def _upgrade_4_to_5(connection: Connection, op: Operations) -> None:
    """v5: saved label sets, the label set each prediction was made with, and the source row's
    other columns per batch item (old rows: None)."""
    op.create_table(
        "label_sets",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("descriptions", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_label_sets"),
        sa.UniqueConstraint("name", name="uq_label_sets_name"),
    )
    op.add_column("predictions", sa.Column("label_set", sa.String(255), nullable=True))
    op.add_column("batch_items", sa.Column("fields", sa.JSON, nullable=True))


def _upgrade_5_to_6(connection: Connection, op: Operations) -> None:
    """v6: stored explanations (why a prediction got its label), one per prediction, method and
    explained label. Old predictions have none until one is computed."""
    op.create_table(
        "explanations",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("prediction_id", sa.Integer, nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_explanations"),
        sa.ForeignKeyConstraint(
            ["prediction_id"],
            ["predictions.id"],
            ondelete="CASCADE",
            name="fk_explanations_prediction_id_predictions",
        ),
        sa.UniqueConstraint(
            "prediction_id", "method", "label", name="uq_explanations_prediction_id_method_label"
        ),
    )


def _upgrade_6_to_7(connection: Connection, op: Operations) -> None:
    """v7: an index on a batch's items by name (a command-line re-run supersedes an input's
    earlier items by name at every save; without it each save scans the batch's items)."""
    op.create_index("ix_batch_items_batch_id_name", "batch_items", ["batch_id", "name"])


def _upgrade_7_to_8(connection: Connection, op: Operations) -> None:
    """v8, data only: command-line batches recorded before an input labelled again superseded
    its earlier item count each input once, as v7's code counts them (see
    :mod:`longbert.store.recount`; the v6→v7 step only added the index)."""
    supersede_repeated_inputs(connection)


#: ``from_version`` → the step that upgrades it to ``from_version + 1``.
UPGRADES: dict[int, Callable[[Connection, Operations], None]] = {
    1: _upgrade_1_to_2,
    2: _upgrade_2_to_3,
    3: _upgrade_3_to_4,
    4: _upgrade_4_to_5,
    5: _upgrade_5_to_6,
    6: _upgrade_6_to_7,
    7: _upgrade_7_to_8,
}


def initialise(database: Database) -> None:
    """Create, check or upgrade the schema of a freshly opened database (see the module doc)."""
    for attempt in range(3):
        try:
            version = database.write(lambda session: _create_or_read(session, database))
            break
        except StoreError as error:
            # On a server database, two processes creating the schema at once: one wins, the
            # other's CREATE fails on a duplicate name. Read again what the winner made.
            # (SQLite cannot race here: BEGIN IMMEDIATE serialises the creators.)
            if database.is_sqlite or not isinstance(error.__cause__, DBAPIError) or attempt == 2:
                raise
            time.sleep(0.1 * (attempt + 1))
    # WAL before upgrading (once the file is known to be ours): the upgrade then blocks
    # writers only, never readers.
    enable_wal(database)
    if version < SCHEMA_VERSION:
        database.write(lambda session: _upgrade(session, database))


def _create_or_read(session: Session, database: Database) -> int:
    """Create the schema in an empty database; else return the stored version, after checks."""
    connection = session.connection()
    tables = set(sa.inspect(connection).get_table_names())
    where = describe_url(database.url)
    if Meta.__tablename__ not in tables:
        check_unversioned(connection, tables, where)
        Base.metadata.create_all(connection)
        stamp_application_id(connection)
        now = utcnow().isoformat()
        session.add_all(
            [
                Meta(key="app", value=APP_NAME),
                Meta(key="schema_version", value=str(SCHEMA_VERSION)),
                Meta(key="created_at", value=now),
                Meta(key=DATABASE_ID_KEY, value=new_database_id()),
            ]
        )
        return SCHEMA_VERSION
    return _checked_version(session, database)


def _checked_version(session: Session, database: Database) -> int:
    where = describe_url(database.url)
    # FOR UPDATE: on PostgreSQL this serialises concurrent upgraders (SQLite ignores it and is
    # serialised by BEGIN IMMEDIATE already).
    meta = dict(session.execute(sa.select(Meta.key, Meta.value).with_for_update()).tuples().all())
    if meta.get("app") != APP_NAME or "schema_version" not in meta:
        raise StoreError(
            f"{where} is not a LongBERT database (its longbert_meta table says app="
            f"{meta.get('app')!r}). It was left untouched."
        )
    try:
        version = int(meta["schema_version"])
    except ValueError as error:
        raise StoreError(f"{where} has an unreadable schema version {meta['schema_version']!r}.") from error
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where} was written by a newer LongBERT (schema version {version}; this release "
            f"reads up to {SCHEMA_VERSION}). Upgrade LongBERT to open it; it was left untouched."
        )
    if version < 1 or any(v not in UPGRADES for v in range(version, SCHEMA_VERSION)):
        raise StoreError(f"{where} has schema version {version}, which no upgrade path starts from.")
    return version


def _upgrade(session: Session, database: Database) -> None:
    version = _checked_version(session, database)  # re-read: another process may have upgraded
    if version < SCHEMA_VERSION:
        # Inside the write transaction (BEGIN IMMEDIATE holds the write lock): no process can
        # upgrade or write between this copy and the upgrade, so it is exactly the old file.
        _backup_before_upgrade(database, version)
    connection = session.connection()
    operations = Operations(MigrationContext.configure(connection))
    while version < SCHEMA_VERSION:
        UPGRADES[version](connection, operations)
        version += 1
    session.execute(sa.update(Meta).where(Meta.key == "schema_version").values(value=str(version)))
    session.merge(Meta(key="upgraded_at", value=utcnow().isoformat()))


def backup_path(path: Path, version: int) -> Path:
    """Where the copy of a version-``version`` SQLite file is kept before upgrading it."""
    return path.with_name(f"{path.name}.schema-v{version}.bak")


def _backup_before_upgrade(database: Database, version: int) -> None:
    """Copy an SQLite file (consistently, via SQLite's backup API) before changing its schema.

    Called with the write lock held, so readers (the copy is one) still get in. The copy is
    written under a name of its own and renamed atomically: a crash never leaves a half backup,
    and an earlier backup of this version (a failed upgrade) is kept.
    """
    if database.path is None:
        return
    target = backup_path(database.path, version)
    if target.exists():
        return
    partial = target.with_name(f"{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")
    try:
        source = sqlite3.connect(str(database.path), timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            destination = sqlite3.connect(str(partial))
            try:
                source.backup(destination)
            finally:
                destination.close()
        finally:
            source.close()
        os.replace(partial, target)
    except (OSError, sqlite3.Error) as error:
        partial.unlink(missing_ok=True)
        raise StoreError(
            f"Could not back up {database.path} to {target} before upgrading its schema "
            f"({error}). Nothing was changed; free some disk space or check the folder's "
            "permissions, then open it again."
        ) from error
