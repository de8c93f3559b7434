"""Schema version 1 as it was: the DDL and a database with a row in every table (test support)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from store_factories import make_document, make_summary

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

WHEN = "2025-06-01 12:00:00.000000"


def make_v1_database(path: Path) -> dict[str, Any]:
    """A version-1 file with a row in every table; returns what was written."""
    document = make_document(1, name="old.txt")
    summary = make_summary(document, seed=5)
    arrays = {
        name: getattr(summary, name)
        for name in ("token_scores", "word_spans", "word_scores", "sentence_spans", "sentence_scores")
    }
    meta, payload = pack_arrays(arrays)
    j = json.dumps
    connection = sqlite3.connect(path)
    with connection:
        connection.executescript(V1_DDL)
        connection.executemany(
            "INSERT INTO longbert_meta VALUES (?, ?)",
            [("app", "longbert"), ("schema_version", "1"), ("created_at", "2025-06-01T12:00:00+00:00")],
        )
        connection.execute(
            "INSERT INTO documents VALUES (1, ?, 'old.txt', 'upload', ?, ?, 40, ?)",
            (document.sha256, document.text, len(document.text), WHEN),
        )
        for model_id, name in ((1, "hp-v1"), (2, "zero-shot:minilm")):
            connection.execute(
                "INSERT INTO models VALUES (?, ?, NULL, 'enc', ?, 0, ?, ?, ?, ?)",
                (model_id, name, j(["true", "false"]), j({"name": "truncate"}), j({"f1": 0.7}), WHEN, WHEN),
            )
        connection.execute(
            "INSERT INTO batches VALUES (1, 'old batch', 'done', 2, 2, 0, '{}', ?, ?, ?)", (WHEN, WHEN, WHEN)
        )
        for prediction_id, batch_id, model_id in ((1, None, 1), (2, 1, 1), (3, 1, 2)):
            connection.execute(
                "INSERT INTO predictions VALUES (?, 1, ?, ?, 'old.txt', 'truncate', ?, 'true', ?, ?, 40, 20,"
                " ?, '[]', 12.5, 0, '{}', ?)",
                (prediction_id, model_id, batch_id, j({"mode": "head"}), j(["true"]),
                 j({"true": 0.875, "false": 0.125}), j([[0, 30]]), WHEN),
            )  # fmt: skip
        connection.execute(
            "INSERT INTO attention_maps VALUES (1, 1, 'summary', NULL, ?, ?, ?, 100)",
            (CODEC, j({"arrays": meta}), payload),
        )
        connection.execute("INSERT INTO corrections VALUES (1, 1, 'false', ?, ?)", (j(["false"]), WHEN))
        connection.execute(
            "INSERT INTO training_runs VALUES (1, 'run', 'done', ?, ?, 'models/hp', ?, ?)",
            (j({"lr": 2e-5}), j({"f1": 0.7}), WHEN, WHEN),
        )
        connection.execute("INSERT INTO training_epochs VALUES (1, 1, 1, ?, ?)", (j({"f1": 0.7}), WHEN))
    connection.close()
    return {"document": document, "summary": summary}
