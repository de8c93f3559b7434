"""Schema version 1 as it was: the DDL and a database with a row in every table (test support)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from helpers.store_factories import make_document, make_summary
from longbert.store.arrays import CODEC, pack_arrays

#: Schema version 1 as SQLAlchemy emitted it for SQLite (no batch_items, models.kind,
#: corrections.note, nor the index on predictions.created_at).
V1_DDL = """
CREATE TABLE longbert_meta ("key" VARCHAR(64) NOT NULL, value VARCHAR(255) NOT NULL,
    CONSTRAINT pk_longbert_meta PRIMARY KEY ("key"));
CREATE TABLE documents (id INTEGER NOT NULL, sha256 VARCHAR(64) NOT NULL, name VARCHAR(1024) NOT NULL,
    source VARCHAR(32) NOT NULL, text TEXT NOT NULL, num_chars INTEGER NOT NULL, num_tokens INTEGER,
    created_at DATETIME NOT NULL, CONSTRAINT pk_documents PRIMARY KEY (id),
    CONSTRAINT uq_documents_sha256 UNIQUE (sha256));
CREATE TABLE models (id INTEGER NOT NULL, name VARCHAR(255) NOT NULL, folder VARCHAR(1024),
    encoder VARCHAR(1024), labels JSON NOT NULL, multi_label BOOLEAN NOT NULL, strategy JSON NOT NULL,
    metrics JSON NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL,
    CONSTRAINT pk_models PRIMARY KEY (id), CONSTRAINT uq_models_name UNIQUE (name));
CREATE TABLE batches (id INTEGER NOT NULL, name VARCHAR(1024) NOT NULL, status VARCHAR(16) NOT NULL,
    total INTEGER NOT NULL, done_count INTEGER NOT NULL, error_count INTEGER NOT NULL,
    config JSON NOT NULL, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL,
    finished_at DATETIME, CONSTRAINT pk_batches PRIMARY KEY (id));
CREATE TABLE training_runs (id INTEGER NOT NULL, name VARCHAR(255) NOT NULL, status VARCHAR(16) NOT NULL,
    config JSON NOT NULL, best_metrics JSON, model_folder VARCHAR(1024), started_at DATETIME NOT NULL,
    finished_at DATETIME, CONSTRAINT pk_training_runs PRIMARY KEY (id));
CREATE TABLE predictions (id INTEGER NOT NULL, document_id INTEGER NOT NULL, model_id INTEGER NOT NULL,
    batch_id INTEGER, document_name VARCHAR(1024) NOT NULL, strategy VARCHAR(64) NOT NULL,
    strategy_params JSON NOT NULL, label VARCHAR(255) NOT NULL, labels JSON NOT NULL,
    probabilities JSON NOT NULL, total_tokens INTEGER NOT NULL, used_tokens INTEGER NOT NULL,
    spans JSON NOT NULL, segment_scores JSON NOT NULL, latency_ms FLOAT NOT NULL,
    zero_shot BOOLEAN NOT NULL, extra JSON NOT NULL, created_at DATETIME NOT NULL,
    CONSTRAINT pk_predictions PRIMARY KEY (id),
    CONSTRAINT fk_predictions_document_id_documents FOREIGN KEY(document_id) REFERENCES documents (id),
    CONSTRAINT fk_predictions_model_id_models FOREIGN KEY(model_id) REFERENCES models (id),
    CONSTRAINT fk_predictions_batch_id_batches FOREIGN KEY(batch_id) REFERENCES batches (id)
        ON DELETE SET NULL);
CREATE INDEX ix_predictions_document_id ON predictions (document_id);
CREATE INDEX ix_predictions_model_id ON predictions (model_id);
CREATE INDEX ix_predictions_batch_id ON predictions (batch_id);
CREATE INDEX ix_predictions_label ON predictions (label);
CREATE INDEX ix_predictions_strategy ON predictions (strategy);
CREATE TABLE training_epochs (id INTEGER NOT NULL, run_id INTEGER NOT NULL, epoch INTEGER NOT NULL,
    metrics JSON NOT NULL, created_at DATETIME NOT NULL, CONSTRAINT pk_training_epochs PRIMARY KEY (id),
    CONSTRAINT uq_training_epochs_run_id_epoch UNIQUE (run_id, epoch),
    CONSTRAINT fk_training_epochs_run_id_training_runs FOREIGN KEY(run_id) REFERENCES training_runs (id)
        ON DELETE CASCADE);
CREATE INDEX ix_training_epochs_run_id ON training_epochs (run_id);
CREATE TABLE attention_maps (id INTEGER NOT NULL, prediction_id INTEGER NOT NULL, kind VARCHAR(16) NOT NULL,
    window_index INTEGER, codec VARCHAR(32) NOT NULL, meta JSON NOT NULL, payload BLOB NOT NULL,
    raw_bytes INTEGER NOT NULL, CONSTRAINT pk_attention_maps PRIMARY KEY (id),
    CONSTRAINT fk_attention_maps_prediction_id_predictions FOREIGN KEY(prediction_id)
        REFERENCES predictions (id) ON DELETE CASCADE);
CREATE INDEX ix_attention_maps_prediction_id ON attention_maps (prediction_id);
CREATE TABLE corrections (id INTEGER NOT NULL, prediction_id INTEGER NOT NULL, label VARCHAR(1024) NOT NULL,
    labels JSON NOT NULL, created_at DATETIME NOT NULL, CONSTRAINT pk_corrections PRIMARY KEY (id),
    CONSTRAINT fk_corrections_prediction_id_predictions FOREIGN KEY(prediction_id)
        REFERENCES predictions (id) ON DELETE CASCADE);
CREATE INDEX ix_corrections_prediction_id ON corrections (prediction_id);
"""

WHEN = datetime(2025, 6, 1, 12)  # naive UTC, as version 1 stored times


def v1_ddl(dialect: str) -> list[str]:
    """The version-1 DDL statements for ``sqlite`` or ``postgresql`` (as SQLAlchemy emitted them)."""
    ddl = V1_DDL
    if dialect == "postgresql":
        ddl = ddl.replace("id INTEGER NOT NULL,", "id SERIAL NOT NULL,").replace(
            "DATETIME", "TIMESTAMP WITHOUT TIME ZONE"
        )
        ddl = ddl.replace("BLOB", "BYTEA")
    return [statement.strip() for statement in ddl.split(";") if statement.strip()]


def insert_row(connection: sa.Connection, table: str, **values: Any) -> None:
    """``INSERT INTO table`` the given column values (plain SQL: no ORM model of any version)."""
    columns = ", ".join(values)
    marks = ", ".join(f":{name}" for name in values)
    connection.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({marks})"), values)


def make_v1_database(target: Path | str) -> dict[str, Any]:
    """A version-1 database (an SQLite file path, or any URL) with a row in every table."""
    url = f"sqlite:///{target}" if isinstance(target, Path) else target
    document = make_document(1, name="old.txt")
    summary = make_summary(document, seed=5)
    arrays = {
        name: getattr(summary, name)
        for name in ("token_scores", "word_spans", "word_scores", "sentence_spans", "sentence_scores")
    }
    meta, payload = pack_arrays(arrays)
    j = json.dumps
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for statement in v1_ddl(engine.dialect.name):
            connection.exec_driver_sql(statement)

        def insert(table: str, **values: Any) -> None:
            insert_row(connection, table, **values)

        for key, value in (("app", "longbert"), ("schema_version", "1"), ("created_at", WHEN.isoformat())):
            insert("longbert_meta", key=key, value=value)
        insert(
            "documents", sha256=document.sha256, name="old.txt", source="upload", text=document.text,
            num_chars=len(document.text), num_tokens=40, created_at=WHEN,
        )  # fmt: skip
        for name in ("hp-v1", "zero-shot:minilm"):  # ids 1 and 2
            insert(
                "models", name=name, folder=None, encoder="enc", labels=j(["true", "false"]),
                multi_label=False, strategy=j({"name": "truncate"}), metrics=j({"f1": 0.7}),
                created_at=WHEN, updated_at=WHEN,
            )  # fmt: skip
        insert(
            "batches", name="old batch", status="done", total=2, done_count=2, error_count=0, config="{}",
            created_at=WHEN, updated_at=WHEN, finished_at=WHEN,
        )  # fmt: skip
        for batch_id, model_id in ((None, 1), (1, 1), (1, 2)):  # predictions 1, 2, 3
            insert(
                "predictions", document_id=1, model_id=model_id, batch_id=batch_id, document_name="old.txt",
                strategy="truncate", strategy_params=j({"mode": "head"}), label="true", labels=j(["true"]),
                probabilities=j({"true": 0.875, "false": 0.125}), total_tokens=40, used_tokens=20,
                spans=j([[0, 30]]), segment_scores="[]", latency_ms=12.5, zero_shot=False, extra="{}",
                created_at=WHEN,
            )  # fmt: skip
        insert(
            "attention_maps", prediction_id=1, kind="summary", window_index=None, codec=CODEC,
            meta=j({"arrays": meta}), payload=payload, raw_bytes=100,
        )  # fmt: skip
        insert("corrections", prediction_id=1, label="false", labels=j(["false"]), created_at=WHEN)
        insert(
            "training_runs", name="run", status="done", config=j({"lr": 2e-5}), best_metrics=j({"f1": 0.7}),
            model_folder="models/hp", started_at=WHEN, finished_at=WHEN,
        )  # fmt: skip
        insert("training_epochs", run_id=1, epoch=1, metrics=j({"f1": 0.7}), created_at=WHEN)
    engine.dispose()
    return {"document": document, "summary": summary}


def upgrade_step(connection: sa.Connection, version: int) -> None:
    """Run the real upgrade step from ``version`` and stamp ``version + 1`` (no backup)."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    from longbert.store.migrations import UPGRADES

    UPGRADES[version](connection, Operations(MigrationContext.configure(connection)))
    connection.execute(
        sa.text("UPDATE longbert_meta SET value = :v WHERE key = 'schema_version'"), {"v": str(version + 1)}
    )


def make_v2_database(target: Path) -> dict[str, Any]:
    """A version-2 SQLite database: version 1 upgraded by the real v1→v2 step, plus a text first
    pasted and then classified again in a batch (v2 kept the source on the document only)."""
    written = make_v1_database(target)
    pasted = make_document(2, name="pasted.txt", source="paste")
    j = json.dumps
    engine = sa.create_engine(f"sqlite:///{target}")
    with engine.begin() as connection:
        upgrade_step(connection, 1)
        connection.execute(
            sa.text(
                "INSERT INTO documents (sha256, name, source, text, num_chars, num_tokens, created_at) "
                "VALUES (:sha, 'pasted.txt', 'paste', :text, :n, 30, :when)"
            ),
            {"sha": pasted.sha256, "text": pasted.text, "n": len(pasted.text), "when": WHEN},
        )
        for batch_id in (None, 1):  # predictions 4 (pasted) and 5 (in the old batch)
            connection.execute(
                sa.text(
                    "INSERT INTO predictions (document_id, model_id, batch_id, document_name, strategy, "
                    "strategy_params, label, labels, probabilities, total_tokens, used_tokens, spans, "
                    "segment_scores, latency_ms, zero_shot, extra, created_at) VALUES (2, 1, :batch, "
                    "'pasted.txt', 'truncate', '{}', 'true', :labels, :probabilities, 30, 30, '[]', "
                    "'[]', 1.5, 0, '{}', :when)"
                ),
                {
                    "batch": batch_id,
                    "labels": j(["true"]),
                    "probabilities": j({"true": 0.75, "false": 0.25}),
                    "when": WHEN,
                },
            )
    engine.dispose()
    return {**written, "pasted": pasted}


def make_v3_database(target: Path) -> dict[str, Any]:
    """A version-3 SQLite database: version 2 upgraded by the real v2→v3 step, plus a batch a
    killed worker left "running" with one item done and one pending (v3 had no worker lease)."""
    written = make_v2_database(target)
    engine = sa.create_engine(f"sqlite:///{target}")
    with engine.begin() as connection:
        upgrade_step(connection, 2)
        insert_row(
            connection, "batches", name="killed batch", status="running", total=2, done_count=1,
            error_count=0, config="{}", created_at=WHEN, updated_at=WHEN,
        )  # fmt: skip
        for position, status, prediction in ((0, "done", 4), (1, "pending", None)):
            insert_row(
                connection, "batch_items", batch_id=2, position=position, name=f"item-{position}.txt",
                status=status, prediction_id=prediction, updated_at=WHEN,
            )  # fmt: skip
    engine.dispose()
    return written


def insert_old_prediction(connection: sa.Connection, batch_id: int, seed: int, name: str) -> int:
    """A prediction of a new text called ``name`` in ``batch_id``, as an old release stored it
    (its document row too); returns the prediction's id."""
    document = make_document(seed, name=name)
    insert_row(
        connection, "documents", sha256=document.sha256, name=name, source="batch", text=document.text,
        num_chars=len(document.text), num_tokens=30, created_at=WHEN,
    )  # fmt: skip
    document_id = connection.execute(sa.text("SELECT max(id) FROM documents")).scalar_one()
    insert_row(
        connection, "predictions", document_id=document_id, model_id=1, batch_id=batch_id,
        document_name=name, strategy="truncate", strategy_params="{}", label="true",
        labels=json.dumps(["true"]), probabilities=json.dumps({"true": 0.75, "false": 0.25}),
        total_tokens=30, used_tokens=30, spans="[]", segment_scores="[]", latency_ms=1.5,
        zero_shot=False, extra="{}", created_at=WHEN,
    )  # fmt: skip
    return int(connection.execute(sa.text("SELECT max(id) FROM predictions")).scalar_one())
