"""Training end to end on a tiny random BERT: checkpoints, strategies, resume, errors, the database."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl
from safetensors.torch import load_file

from longbert import DatasetError, LongBertClassifier
from longbert.store import get_store
from longbert.train import main
from longbert.training import TrainConfig, TrainConfigError, train

# A throwaway database, models folder and CPU device for every test (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), **TRAIN_ENCODER)


@pytest.fixture(scope="module")
def train_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("data") / "train.jsonl", make_rows(40))


def config(encoder: Path, train_file: Path, **overrides: Any) -> TrainConfig:
    values: dict[str, Any] = {
        "train": str(train_file),
        "encoder": str(encoder),
        "name": "tiny",
        "epochs": 2,
        "batch_size": 4,
        "learning_rate": 1e-3,
        "dev_fraction": 0.25,
        "quiet": True,
        "threads": 1,  # tiny matrices: a second thread only adds contention
        **overrides,
    }
    return TrainConfig(**values)


def test_cli_trains_saves_best_checkpoint_and_records_the_run(
    encoder: Path, train_file: Path, isolated: Path
) -> None:
    argv = ["--train", str(train_file), "--encoder", str(encoder), "--name", "cli-model", "--epochs", "2"]
    argv += [
        "--batch-size",
        "4",
        "--learning-rate",
        "1e-3",
        "--strategy-param",
        "mode=head",
        "--quiet",
        "--threads",
        "1",
    ]
    assert main(argv) == 0
    folder = isolated / "models" / "cli-model"
    classifier = LongBertClassifier.from_pretrained(folder)
    # The strategy chosen at training time travels with the checkpoint.
    assert classifier.strategy.config()["params"]["mode"] == "head"
    assert classifier.labels == ["econ", "sport"]
    manifest = json.loads((folder / "longbert.json").read_text())
    assert {"accuracy", "macro_f1", "per_class"} <= set(manifest["metadata"]["metrics"])
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["status"] == "done" and len(metrics["history"]) == 2
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix"} <= set(metrics["history"][0]["dev"])
    assert not (folder / ".last").exists()  # a finished run leaves nothing to resume

    store = get_store()
    (run,) = store.list_training_runs()
    run = store.get_training_run(run.id)
    assert run.status == "done" and [e.epoch for e in run.epochs] == [1, 2]
    assert run.best_metrics["accuracy"] == metrics["best"]["accuracy"]
    model = store.get_model("cli-model")
    assert model.folder == str(folder) and model.strategy["name"] == "truncate"


@pytest.mark.parametrize(
    "strategy, params",
    [
        ("key_sentences", {"max_tokens": 32}),
        ("chunk", {"window": 16, "stride": 8, "pooling": "attention"}),
        ("sparse", {"max_tokens": 512, "attention_window": 8, "global_sentences": True}),
    ],
)
def test_every_strategy_trains_and_is_stored(
    encoder: Path, train_file: Path, strategy: str, params: dict[str, Any]
) -> None:
    events: list[dict[str, Any]] = []
    result = train(
        config(encoder, train_file, strategy=strategy, strategy_params=params, epochs=1, max_train_windows=3),
        progress=events.append,
    )
    assert result.status == "done" and result.best_epoch == 1
    loaded = LongBertClassifier.from_pretrained(result.output_dir)
    model_settings = {"pooling", "attention_window"}  # given the old way: they go to the model
    strategy_params = {k: v for k, v in params.items() if k not in model_settings}
    expected = {"name": strategy, "params": {**loaded.strategy.defaults, **strategy_params}}
    assert loaded.strategy.config() == expected
    assert loaded.pooling_method == params.get("pooling", "mean")
    assert loaded.attention_window == params.get("attention_window", 256)
    assert events[0]["event"] == "start" and events[-1]["event"] == "end"
    epoch = next(e for e in events if e["event"] == "epoch")
    assert 0 <= epoch["dev"]["accuracy"] <= 1 and epoch["train_loss"] > 0


def test_learns_a_separable_task_with_class_weights_and_focal_loss(encoder: Path, train_file: Path) -> None:
    result = train(
        config(
            encoder,
            train_file,
            epochs=4,
            learning_rate=1e-2,
            patience=0,
            loss="focal",
            class_weights="balanced",
            label_smoothing=0.1,
        ),
        test_data=make_rows(12, seed=5),
    )
    assert result.best_metrics["accuracy"] >= 0.8
    assert result.test_metrics is not None and result.test_metrics["num_docs"] == 12


def test_interrupted_run_resumes_to_the_same_weights(encoder: Path, train_file: Path) -> None:
    base = {"early_stopping_metric": "loss", "patience": 0, "epochs": 2}
    full = train(config(encoder, train_file, name="straight", **base))

    steps = {"n": 0}

    def stop_after_three() -> bool:
        steps["n"] += 1
        return steps["n"] >= 3

    interrupted = train(config(encoder, train_file, name="twice", **base), should_stop=stop_after_three)
    assert interrupted.status == "interrupted" and interrupted.best_epoch is None
    folder = interrupted.output_dir
    assert (folder / ".last" / "trainer.json").is_file()
    assert get_store().list_training_runs()[0].status == "interrupted"
    with pytest.raises(TrainConfigError, match="--resume"):
        train(config(encoder, train_file, name="twice", **base))

    resumed = train(config(encoder, train_file, name="twice", resume=True, epochs=2))
    assert resumed.status == "done" and resumed.best_epoch == full.best_epoch
    assert resumed.best_metrics["loss"] == pytest.approx(full.best_metrics["loss"], abs=1e-6)
    for part in ("encoder", "head"):
        a = load_file(str(full.output_dir / part / "model.safetensors"))
        b = load_file(str(folder / part / "model.safetensors"))
        assert all((a[k] - b[k]).abs().max() < 1e-5 for k in a), part


def test_ctrl_c_saves_state_and_a_crash_resumes_from_the_last_epoch(encoder: Path, train_file: Path) -> None:
    def interrupt(event: dict[str, Any]) -> None:
        if event["event"] == "step":
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends

    before = signal.getsignal(signal.SIGINT)  # the default, or SIG_IGN in a background job
    result = train(config(encoder, train_file, name="sig", log_every=1), progress=interrupt)
    assert result.status == "interrupted"
    assert signal.getsignal(signal.SIGINT) is before  # handler restored

    def crash(event: dict[str, Any]) -> None:
        if event["event"] == "epoch":
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        train(config(encoder, train_file, name="sig", resume=True), progress=crash)
    assert get_store().list_training_runs()[0].status == "failed"
    done = train(config(encoder, train_file, name="sig", resume=True))
    assert done.status == "done" and [h["epoch"] for h in done.history] == [1, 2]


def test_in_memory_multi_label_data(encoder: Path) -> None:
    rows = make_rows(30, labels=("econ", "sport", "tech"))
    for i, row in enumerate(rows):
        row["label"] = [row["label"], "tech"] if i % 4 == 0 and row["label"] != "tech" else [row["label"]]
    result = train(
        TrainConfig(
            encoder=str(encoder),
            name="multi",
            multi_label=True,
            epochs=1,
            batch_size=4,
            quiet=True,
            threads=1,
        ),
        train_data=rows,
        dev_data=make_rows(9, labels=("econ", "sport", "tech"), seed=3),
    )
    assert {"micro_f1", "macro_f1"} <= set(result.best_metrics)
    loaded = LongBertClassifier.from_pretrained(result.output_dir)
    assert loaded.multi_label and loaded.labels == ["econ", "sport", "tech"]


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"text": "a b c", "label": "x"}] * 2 + [{"text": "d e f", "label": "x"}], "at least two classes"),
        ([{"body": "a", "label": "x"}, {"body": "b", "label": "y"}], "text"),
        ([{"text": "  ", "label": "x"}, {"text": "b", "label": "y"}], "empty"),
    ],
)
def test_bad_data_fails_before_training(
    encoder: Path, isolated: Path, rows: list[dict[str, Any]], message: str
) -> None:
    path = write_jsonl(isolated / "bad.jsonl", rows)
    with pytest.raises(DatasetError, match=message):
        train(config(encoder, path))
    assert not (isolated / "models" / "tiny").exists()


def test_dev_labels_unseen_in_train_and_cli_errors(
    encoder: Path, train_file: Path, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = write_jsonl(isolated / "dev.jsonl", make_rows(6, labels=("econ", "tech")))
    with pytest.raises(DatasetError, match="'tech'"):
        train(config(encoder, train_file, dev=str(dev)))
    assert main(["--train", str(isolated / "missing.jsonl"), "--quiet"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_overwrite_replaces_a_model_only_once_the_data_is_good(
    encoder: Path, train_file: Path, isolated: Path
) -> None:
    first = train(config(encoder, train_file, epochs=1))
    bad = write_jsonl(isolated / "one-class.jsonl", [{"text": f"doc {i}", "label": "x"} for i in range(4)])
    with pytest.raises(DatasetError):
        train(config(encoder, bad, overwrite=True))
    LongBertClassifier.from_pretrained(first.output_dir)  # the old model is intact
    second = train(config(encoder, train_file, epochs=1, overwrite=True, strategy_params={"mode": "tail"}))
    assert LongBertClassifier.from_pretrained(second.output_dir).strategy.params["mode"] == "tail"
