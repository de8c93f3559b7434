"""The Train page's machinery with a stand-in trainer: options, events → chart, stopping."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from helpers.store_factories import make_document, make_prediction

from longbert.data import load_dataset
from longbert.errors import DatasetError, StoreError
from longbert.store import Store
from longbert.training.config import TrainConfigError
from longbert.ui.charts import training_figure
from longbert.ui.jobs import JobManager
from longbert.ui.training import (
    MAIN_OPTIONS,
    advanced_specs,
    build_config,
    chart_point,
    correction_choices,
    corrections_count,
    export_corrections,
    option_specs,
    save_upload,
    training_work,
)


def test_option_specs_follow_train_config() -> None:
    main = option_specs(MAIN_OPTIONS)
    assert [s.name for s in main] == list(MAIN_OPTIONS)
    advanced = {s.name: s for s in advanced_specs()}
    assert advanced["loss"].kind == "choice" and "focal" in advanced["loss"].choices
    assert "train" not in advanced and "strategy" not in advanced
    assert all(s.help for s in advanced.values())


def test_build_config_validates_and_takes_the_strategy(tmp_path: Path) -> None:
    config = build_config({"name": "first", "epochs": 2}, train_path=str(tmp_path / "t.jsonl"),
                          strategy={"name": "chunk", "params": {"max_chunks": 4}})
    assert (config.strategy, config.strategy_params, config.epochs) == ("chunk", {"max_chunks": 4}, 2)
    assert config.quiet is True
    chunk = {"name": "chunk", "params": {"window": 64, "stride": 32}, "model": {"pooling": "attention"}}
    config = build_config({}, train_path="t.jsonl", strategy=chunk)
    assert (config.strategy_params, config.pooling) == ({"window": 64, "stride": 32}, "attention")
    with pytest.raises(TrainConfigError, match="epochs"):
        build_config({"epochs": 0}, train_path="x.jsonl", strategy=None)


def test_save_upload_keeps_the_extension_and_refuses_empty(tmp_path: Path) -> None:
    assert save_upload("data.csv.gz", b"x", tmp_path).name == "upload.csv.gz"
    with pytest.raises(DatasetError, match="empty"):
        save_upload("data.jsonl", b"  ", tmp_path)


def test_chart_points_from_trainer_events() -> None:
    assert chart_point({"event": "step", "step": 5, "loss": 0.7, "lr": 1e-5}, None) == {
        "loss": 0.7, "step": 5}
    point = chart_point({"event": "epoch", "epoch": 1, "train_loss": 0.5, "train_seconds": 3,
                         "dev": {"accuracy": 0.8, "macro_f1": 0.75, "per_class": {}}}, 10)
    assert point == {"train_loss": 0.5, "dev_accuracy": 0.8, "dev_macro_f1": 0.75, "step": 10,
                     "epoch": 1}
    assert chart_point({"event": "start", "total_steps": 9}, None) is None
    figure = training_figure([{"step": 5, "loss": 0.7}, point])
    assert {t.name for t in figure.data} == {"loss", "train_loss", "dev_accuracy", "dev_macro_f1"}


def test_training_job_reports_progress_and_stops_on_request(tmp_path: Path) -> None:
    config = build_config({"name": "m"}, train_path=str(tmp_path / "t.jsonl"), strategy=None)
    started, release = threading.Event(), threading.Event()
    cleaned: list[bool] = []

    def fake_train(cfg: Any, progress: Any, should_stop: Any) -> str:
        progress({"event": "start", "total_steps": 4, "train_docs": 8, "dev_docs": 2})
        for step in range(1, 5):
            progress({"event": "step", "step": step, "total_steps": 4, "loss": 1 / step})
            started.set()
            release.wait(10)
            if should_stop():
                return "interrupted"
        return "done"

    job = JobManager().submit(training_work(config, fake_train, lambda: cleaned.append(True)),
                              title="m", kind="train")
    assert started.wait(10)
    running = job.snapshot()
    assert (running.done, running.total) == (1, 4) and running.events == [{"loss": 1.0, "step": 1}]
    assert "8 documents" in running.message
    job.cancel()
    release.set()
    snap = job.wait(10)
    assert snap.status == "cancelled" and snap.result == "interrupted" and cleaned == [True]


def test_training_from_corrections_takes_one_models_label_set(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'c.sqlite'}")
    for i in range(6):
        document = make_document(i)
        truth = make_prediction(document, model="hp", seed=i)
        store.add_correction(store.save_prediction(truth, document), "false" if i % 2 else "true")
        # The same texts, later corrected for a zero-shot topic labelling.
        topic = make_prediction(document, model="zero-shot:minilm", labels=("sport", "politics"),
                                label="sport")
        topic.zero_shot = True
        store.add_correction(store.save_prediction(topic, document), "politics" if i % 3 else "sport")

    choices = correction_choices(store)
    assert [c.title for c in choices] == [
        "corrections made with model zero-shot:minilm (6 documents, labels sport/politics)",
        "corrections made with model hp (6 documents, labels true/false)",
    ]
    assert corrections_count(store, "hp") == 6 and corrections_count(store) == 12

    path = export_corrections(store, tmp_path, "hp")
    data = load_dataset(path)
    assert sorted(data.labels) == ["false", "true"] and len(data) == 6  # nothing silently dropped
    path = export_corrections(store, tmp_path, choices[0])
    assert sorted(load_dataset(path).labels) == ["politics", "sport"]
    with pytest.raises(StoreError, match="2 label sets"):
        export_corrections(store, tmp_path)
    with pytest.raises(DatasetError, match="Only 0 corrected document"):
        export_corrections(store, tmp_path, "hp", labels=["x", "y"])
    store.close()


def test_the_page_refuses_to_replace_the_model_it_starts_from(tmp_path: Path, isolated: Path) -> None:
    """Train page: Start from a trained model, same name, overwrite ticked -> a sentence before
    any job starts (build_config validates), and nothing is removed."""
    folder = isolated / "models" / "news"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    values = {"name": "news", "encoder": str(folder.resolve()), "overwrite": True}
    with pytest.raises(TrainConfigError, match="cannot replace the model it starts from"):
        build_config(values, train_path=str(tmp_path / "t.jsonl"), strategy=None)
    assert (folder / "manifest.json").read_text() == "{}"
