"""Scores recorded by training are the scores ``evaluate`` gives: dev and test are scored in the
precision ``evaluate``/``predict`` run the saved model in (weights cast for inference), through a
cast copy, so the weights being trained stay float32; the precision is recorded in metrics.json.
``LONGBERT_PRECISION=bf16`` makes every CPU cast to bf16 (else only a native-bf16 CPU does)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl

from longbert import LongBertClassifier, load_classifier
from longbert.document import Document
from longbert.evaluate import evaluate
from longbert.train import main
from longbert.training import TrainConfig, train
from longbert.training.prepared import prepare_set
from longbert.training.scoring import score, scoring_model

# A throwaway database, models folder and CPU device for every test (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("isolated", "one_torch_thread")

#: What must agree between the run's report and evaluate's.
SCORES = ("accuracy", "macro_f1", "confusion_matrix", "precision")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), **TRAIN_ENCODER)


@pytest.fixture
def data(isolated: Path) -> dict[str, Path]:
    return {
        "train": write_jsonl(isolated / "train.jsonl", make_rows(24)),
        "dev": write_jsonl(isolated / "dev.jsonl", make_rows(16, seed=5, words=(40, 200))),
        "test": write_jsonl(isolated / "test.jsonl", make_rows(60, seed=3, words=(40, 200))),
    }


def scores(report: dict[str, Any]) -> dict[str, Any]:
    return {key: report[key] for key in SCORES}


def test_the_training_model_is_scored_through_a_cast_copy(
    encoder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    classifier = LongBertClassifier.from_encoder(str(encoder), labels=["econ", "sport"], device="cpu")
    monkeypatch.setenv("LONGBERT_PRECISION", "bf16")
    cast = scoring_model(classifier)
    assert cast is not classifier and cast.weights_dtype == torch.bfloat16
    assert cast.inference_dtype() == torch.bfloat16 and cast.tokenizer is classifier.tokenizer
    assert classifier.weights_dtype == torch.float32 and classifier.prepared_dtype is None
    assert scoring_model(cast) is cast  # already cast: scored as it is
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    assert scoring_model(classifier) is classifier  # float32 is what loading gives: no copy


def test_training_scores_are_the_saved_models_predictions(
    encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Document by document: the probabilities a run scores its model with (float32 weights,
    in training mode) are those ``predict`` gives once it is saved and loaded."""
    monkeypatch.setenv("LONGBERT_PRECISION", "bf16")
    torch.manual_seed(0)
    chunk = {"name": "chunk", "params": {}}
    classifier = LongBertClassifier.from_encoder(
        str(encoder), labels=["econ", "sport"], strategy=chunk, device="cpu"
    )
    rows = make_rows(30, seed=3, words=(40, 400))
    documents = [Document(row["text"], row["id"], "test") for row in rows]
    truth = np.array([classifier.labels.index(row["label"]) for row in rows])
    prepared = prepare_set(documents, truth, classifier.tokenizer, classifier.strategy)
    classifier.train()
    scored = score(classifier, prepared, batch_size=16)
    assert classifier.training and classifier.weights_dtype == torch.float32  # left as it was
    classifier.save_pretrained(tmp_path / "model")
    loaded = load_classifier(tmp_path / "model", device="cpu", precision="auto")
    predicted = [p.probabilities for p in loaded.predict(documents, attention="none")]
    # Before: 5e-5 apart (float32 weights under bf16 autocast against bf16 weights).
    expected = np.array([[p[label] for label in loaded.labels] for p in predicted])
    np.testing.assert_allclose(scored.probabilities, expected, rtol=0, atol=1e-6)
    assert scored.precision == "bfloat16"


def test_a_fine_tuned_runs_dev_and_test_scores_are_evaluates(
    encoder: Path, data: dict[str, Path], isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LONGBERT_PRECISION", "bf16")
    config = TrainConfig(
        train=str(data["train"]),
        dev=str(data["dev"]),
        test=str(data["test"]),
        encoder=str(encoder),
        strategy="chunk",
        name="ft",
        epochs=1,
        batch_size=4,
        learning_rate=1e-3,
        quiet=True,
        record=False,
        threads=1,
    )
    folder = train(config).output_dir
    metrics = json.loads((folder / "metrics.json").read_text())
    # Before: scored with float32 weights under bf16 autocast, no precision recorded, and scores
    # that evaluate (bf16 weights) did not give.
    assert metrics["test"]["precision"] == metrics["best"]["precision"] == "bfloat16"
    assert scores(metrics["test"]) == scores(evaluate(folder, data["test"], device="cpu"))
    assert scores(metrics["best"]) == scores(evaluate(folder, data["dev"], device="cpu"))


def test_a_few_shot_run_prints_its_test_score_and_records_evaluates(
    encoder: Path, data: dict[str, Path], isolated: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LONGBERT_PRECISION", "bf16")
    few = write_jsonl(isolated / "few.jsonl", make_rows(8))  # 4 per class: auto picks few-shot
    argv = ["--train", str(few), "--dev", str(data["dev"]), "--test", str(data["test"])]
    argv += ["--encoder", str(encoder), "--name", "fs", "--threads", "1", "--no-record"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "test (few-shot model" in out  # before: a few-shot run never printed its test score
    folder = isolated / "models" / "fs"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["mode"] == "few-shot" and metrics["test"]["precision"] == "bfloat16"
    assert scores(metrics["test"]) == scores(evaluate(folder, data["test"], device="cpu"))
    assert scores(metrics["best"]) == scores(evaluate(folder, data["dev"], device="cpu"))
