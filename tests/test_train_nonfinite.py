"""A NaN or infinite loss never becomes a saved model: ``--class-weights`` refuses NaN and inf,
and a run stops on the first non-finite training loss, before its step, keeping what it had saved."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl

from longbert import load_classifier
from longbert.checkpoints import MANIFEST
from longbert.store import get_store
from longbert.train import main
from longbert.training import TrainConfig, TrainConfigError, train
from longbert.training import loop as training_loop
from longbert.training.losses import NonFiniteLossError, class_weights

# A throwaway database, models folder and CPU device for every test (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("isolated", "one_torch_thread")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), **TRAIN_ENCODER)


@pytest.fixture
def data(isolated: Path) -> dict[str, Path]:
    return {
        "train": write_jsonl(isolated / "train.jsonl", make_rows(24)),  # 6 groups of 4
        "dev": write_jsonl(isolated / "dev.jsonl", make_rows(6, seed=5)),
    }


@pytest.mark.parametrize("weight", ["nan", "inf", "-inf", "0", "-1"])
def test_class_weights_must_be_positive_and_finite(weight: str) -> None:
    targets = np.array([0, 1, 1])
    # Before: nan and inf were taken (nan > 0 is False, so the old "<= 0" check let it through).
    refused = f"weight of 'sport' must be a positive, finite number, got '{weight}'"
    with pytest.raises(TrainConfigError, match=refused):
        class_weights(f"econ=2, sport={weight}", ["econ", "sport"], targets, multi_label=False)
    assert class_weights("sport=2.5", ["econ", "sport"], targets, False).tolist() == [1.0, 2.5]


def test_a_nan_class_weight_is_refused_before_anything_is_saved(
    encoder: Path, data: dict[str, Path], isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--train", str(data["train"]), "--dev", str(data["dev"]), "--encoder", str(encoder)]
    argv += ["--name", "cwnan", "--class-weights", "sport=nan", "--epochs", "1", "--quiet"]
    argv += ["--mode", "fine-tune"]
    assert main(argv) == 2
    assert "must be a positive, finite number, got 'nan'" in capsys.readouterr().err
    assert not (isolated / "models" / "cwnan" / MANIFEST).exists()
    assert [m.name for m in get_store().list_models()] == []


def nan_from_training_call(monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    """Make the run's loss NaN from its training call number ``after + 1`` on (dev scoring,
    which runs without gradients, keeps the real loss)."""
    real = training_loop.make_loss
    calls = {"n": 0}

    def make_loss(*args: Any, **kwargs: Any) -> Any:
        loss_fn = real(*args, **kwargs)

        def poisoned(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            loss = loss_fn(logits, targets)
            if not logits.requires_grad:
                return loss
            calls["n"] += 1
            return loss * float("nan") if calls["n"] > after else loss

        return poisoned

    monkeypatch.setattr(training_loop, "make_loss", make_loss)


def config(encoder: Path, data: dict[str, Path], **overrides: Any) -> TrainConfig:
    values: dict[str, Any] = {
        "train": str(data["train"]),
        "dev": str(data["dev"]),
        "encoder": str(encoder),
        "name": "nan",
        "epochs": 2,
        "batch_size": 4,
        "learning_rate": 1e-3,
        "quiet": True,
        "threads": 1,
        **overrides,
    }
    return TrainConfig(**values)


def test_a_nan_loss_stops_the_run_before_anything_is_saved(
    encoder: Path, data: dict[str, Path], isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nan_from_training_call(monkeypatch, after=0)
    # Before: the run went on, saved the NaN model as its best and registered it ("done").
    stopped = r"loss became nan at epoch 1, group 1 of 6(?s:.*)saved no model"
    with pytest.raises(NonFiniteLossError, match=stopped):
        train(config(encoder, data))
    folder = isolated / "models" / "nan"
    assert not (folder / MANIFEST).exists() and not (folder / ".last").exists()
    assert [m.name for m in get_store().list_models()] == []
    (run,) = get_store().list_training_runs()
    assert run.status == "failed"


def test_a_nan_loss_in_a_later_epoch_keeps_the_best_model_saved_before(
    encoder: Path, data: dict[str, Path], isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nan_from_training_call(monkeypatch, after=6)  # epoch 1 (6 groups) trains as usual
    stopped = r"epoch 2, group 1 of 6(?s:.*)best model so far \(epoch 1\)"
    with pytest.raises(NonFiniteLossError, match=stopped):
        train(config(encoder, data, record=False))
    model = load_classifier(isolated / "models" / "nan")
    assert all(math.isfinite(float(p.detach().abs().sum())) for p in model.parameters())
