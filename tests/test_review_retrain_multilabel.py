"""Review's "Retrain and re-score" from a multi-label queue trains a multi-label model: the run
was configured single-label, so answers of two labels (or none) were refused as single-label
data, and answers of one label each made a single-label model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from helpers.store_factories import make_document, make_prediction

from longbert.store import HistoryFilter, Store, get_store
from longbert.training.datasets import prepare_data
from longbert.ui.review_jobs import retrain_config
from longbert.ui.review_source import build_queue

MODEL = "zero-shot:multi"
LABELS = ("econ", "sport", "politics")
ANSWERS = [["econ"], ["sport"], ["econ", "politics"], ["sport", "politics"], [], ["politics"],
           ["econ"], ["sport"]]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'review.sqlite'}")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    store = get_store()
    store.register_model(MODEL, labels=LABELS, multi_label=True, zero_shot=True)
    return store


def test_a_multi_label_queue_retrains_multi_label(store: Store, tmp_path: Path) -> None:
    ids = []
    for index in range(len(ANSWERS)):
        document = make_document(index)
        prediction = make_prediction(document, model=MODEL, label="econ", labels=LABELS, zero_shot=True)
        prediction = dataclasses.replace(prediction, labels=["econ"],
                                         extra={"threshold": 0.5, "below_threshold": False})
        ids.append(store.save_prediction(prediction, document, label_set="news"))
    queue = build_queue(store, HistoryFilter(model=MODEL))
    assert queue.multi_label
    for prediction_id, answer in zip(ids, ANSWERS, strict=True):
        queue.answer(store, answer, prediction_id=prediction_id)
    folder = tmp_path / "work"
    folder.mkdir()
    config, _ = retrain_config(store, queue, folder)
    assert config.multi_label is True
    splits = prepare_data(config)  # two labels or none: multi-label data, read as such
    assert sorted(splits.labels) == sorted(LABELS)
