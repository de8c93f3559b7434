"""Resuming: options from the interrupted run, refused changes, mid-epoch saves, kill -9, events."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl
from helpers.unsafe_pickles import write_unsafe
from safetensors.torch import load_file

from longbert import CheckpointError
from longbert.runs import state as ckpt
from longbert.store import get_store
from longbert.train import main
from longbert.training import TrainConfig, TrainConfigError, train
from longbert.training.optim import linear_schedule
from longbert.training.resume import resumed_config
from longbert.ui.training import chart_point

REPO = Path(__file__).resolve().parents[1]
# A throwaway database, models folder and CPU device for every test (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), **TRAIN_ENCODER)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    return {
        "train": write_jsonl(root / "train.jsonl", make_rows(40)),
        "other": write_jsonl(root / "other.jsonl", make_rows(40, seed=7)),
        "test": write_jsonl(root / "test.jsonl", make_rows(8, seed=3)),
        "dev_one_class": write_jsonl(root / "dev.jsonl", make_rows(5, labels=("econ",), seed=4)),
    }


def options(encoder: Path, data: dict[str, Path], **overrides: Any) -> dict[str, Any]:
    return {
        "train": str(data["train"]),
        "encoder": str(encoder),
        "name": "run",
        "epochs": 2,
        "batch_size": 4,
        "learning_rate": 1e-3,
        "dev_fraction": 0.25,
        "quiet": True,
        "threads": 1,
        **overrides,
    }


def stop_after(steps: int) -> Any:
    seen = {"n": 0}

    def should_stop() -> bool:
        seen["n"] += 1
        return seen["n"] > steps

    return should_stop


def interrupted(encoder: Path, data: dict[str, Path], steps: int = 3, **overrides: Any) -> Path:
    result = train(TrainConfig(**options(encoder, data, **overrides)), should_stop=stop_after(steps))
    assert result.status == "interrupted"
    return result.output_dir


def test_bare_resume_keeps_every_option_of_the_interrupted_run(
    encoder: Path, data: dict[str, Path], isolated: Path
) -> None:
    # --epochs 2, a test set and --no-record: none of them may fall back to the defaults.
    folder = interrupted(encoder, data, test=str(data["test"]), record=False, seed=5)
    assert main(["--name", "run", "--resume"]) == 0
    metrics = json.loads((folder / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]  # not the default 3
    assert metrics["test"] is not None and metrics["test"]["num_docs"] == 8
    assert get_store().list_training_runs() == []  # still not recorded
    saved = json.loads((folder / "longbert.json").read_text())["metadata"]["training"]["config"]
    assert (saved["seed"], saved["record"], saved["resume"]) == (5, False, True)


def test_changed_options_are_refused_listing_saved_and_given_values(
    encoder: Path, data: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = interrupted(encoder, data)
    before = (folder / ".last" / "trainer.json").read_text()
    argv = ["--name", "run", "--resume", "--learning-rate", "1e-2", "--batch-size", "2"]
    argv += ["--train", str(data["other"]), "--loss", "focal", "--epochs", "3"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--learning-rate: saved 0.001, given 0.01" in err
    assert "--batch-size: saved 4, given 2" in err
    assert f"--train: saved '{data['train']}', given '{data['other']}'" in err
    assert "--loss: saved 'cross_entropy', given 'focal'" in err
    assert "--epochs:" not in err  # epochs may change
    assert "Options that may change on resume: --epochs, --patience" in err
    assert (folder / ".last" / "trainer.json").read_text() == before  # nothing trained

    # Options from a --config file count as given, like the command line's.
    config_file = tmp_path / "train.toml"
    config_file.write_text('[train]\nname = "run"\nweight_decay = 0.5\n')
    assert main(["--config", str(config_file), "--resume"]) == 2
    assert "--weight-decay: saved 0.01, given 0.5" in capsys.readouterr().err

    # The same values (a path spelled differently too) and changeable options are fine.
    relative = os.path.relpath(data["train"])
    argv = ["--name", "run", "--resume", "--train", relative, "--learning-rate", "0.001", "--epochs", "3"]
    assert main([*argv, "--patience", "0", "--threads", "1", "--log-every", "2"]) == 0
    metrics = json.loads((folder / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3]


def test_python_api_resume_takes_unset_options_from_the_run(encoder: Path, data: dict[str, Path]) -> None:
    interrupted(encoder, data, epochs=1, patience=0)
    with pytest.raises(TrainConfigError, match=r"--dropout: saved 0\.1, given 0\.3"):
        train(TrainConfig(name="run", resume=True, dropout=0.3))
    # epochs=3 is the default value: name it in given= to ask for it.
    result = train(TrainConfig(name="run", resume=True, epochs=3), given={"name", "resume", "epochs"})
    assert result.status == "done" and [h["epoch"] for h in result.history] == [1, 2, 3]


def test_resumed_config_merges_strategy_params_and_compares_paths(tmp_path: Path) -> None:
    saved = TrainConfig(
        train="data/a.jsonl", strategy="chunk", strategy_params={"window": 16, "stride": 8}, device="cuda"
    )
    given = TrainConfig(train="./data/a.jsonl", strategy_params={"window": 16}, epochs=9, quiet=True)
    merged = resumed_config(saved, given, {"train", "strategy_params", "epochs", "quiet"}, tmp_path)
    assert merged.strategy_params == {"window": 16, "stride": 8} and merged.strategy == "chunk"
    assert (merged.epochs, merged.quiet, merged.resume, merged.output_path) == (9, True, True, tmp_path)
    assert merged.device == "auto"  # where to run is always this command's
    with pytest.raises(
        TrainConfigError, match=r"--strategy-param: saved .*'window': 16.*given .*'window': 32"
    ):
        resumed_config(saved, TrainConfig(strategy_params={"window": 32}), {"strategy_params"}, tmp_path)
    with pytest.raises(TrainConfigError, match="--record: saved True, given False"):
        resumed_config(saved, TrainConfig(record=False), {"record"}, tmp_path)


def test_resuming_a_finished_model_advises_overwrite(encoder: Path, data: dict[str, Path]) -> None:
    train(TrainConfig(**options(encoder, data, epochs=1)))
    with pytest.raises(CheckpointError, match=r"the run there finished.*--overwrite instead of --resume"):
        train(TrainConfig(**options(encoder, data, resume=True)))
    with pytest.raises(CheckpointError, match="Start a new run without --resume"):
        train(TrainConfig(**options(encoder, data, name="never", resume=True)))


@pytest.mark.parametrize("content", ["malicious", "corrupt"])
def test_an_unreadable_optimizer_state_is_a_clear_error(
    encoder: Path, data: dict[str, Path], isolated: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from longbert import UnreadableWeightsError

    folder = interrupted(encoder, data)
    state, marker = folder / ".last" / "optimizer.pt", isolated / "code-ran"
    write_unsafe(state, content, marker, {"state": None, "param_groups": None})
    with pytest.raises(UnreadableWeightsError) as info:
        train(TrainConfig(**options(encoder, data, resume=True)))
    message = str(info.value)
    assert str(state) in message and "cannot be read safely" in message
    assert "weights_only" not in message and not marker.exists()
    capsys.readouterr()
    assert main(["--name", "run", "--resume"]) == 2  # the CLI: one line, no traceback
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(state) in err and "Traceback" not in err


def test_one_class_dev_and_test_sets_are_fine(encoder: Path, data: dict[str, Path]) -> None:
    result = train(
        TrainConfig(**options(encoder, data, epochs=1, dev=str(data["dev_one_class"]))),
        test_data=make_rows(4, labels=("sport",), seed=6),
    )
    assert result.status == "done" and result.best_metrics["num_docs"] == 5
    assert result.test_metrics is not None and result.test_metrics["per_class"]["sport"]["support"] == 4


def test_skip_bad_rows_trains_and_reports_what_was_skipped(
    encoder: Path, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = isolated / "bad.jsonl"
    good = "".join(json.dumps(row) + "\n" for row in make_rows(24))
    path.write_text(good + '{"text": ["a list"], "label": "econ"}\n{"text": "x", "label": ""}\n')
    argv = ["--train", str(path), "--encoder", str(encoder), "--name", "bad", "--epochs", "1", "--quiet"]
    assert main([*argv, "--no-record"]) == 2
    err = capsys.readouterr().err
    assert "row 25: its 'text' value is a JSON list, not text." in err and "no label: row 26" in err
    assert not (isolated / "models" / "bad").exists()
    assert main([*argv, "--no-record", "--skip-bad-rows", "--threads", "1"]) == 0
    notes = json.loads((isolated / "models" / "bad" / "metrics.json").read_text())["notes"]
    assert any("2 bad rows skipped" in note for note in notes)
    assert any("skipped 2 rows or files: no label: row 26; row 25: its 'text' value" in n for n in notes)


def test_every_step_reports_progress_and_lr_is_the_rate_the_step_used(
    encoder: Path, data: dict[str, Path]
) -> None:
    events: list[dict[str, Any]] = []
    result = train(
        TrainConfig(**options(encoder, data, log_every=4, warmup_ratio=0.5)), progress=events.append
    )
    start = events[0]
    total, per_epoch = start["total_steps"], start["steps_per_epoch"]
    counted = [e for e in events if e["event"] in ("step", "progress")]
    assert [e["step"] for e in counted] == list(range(1, total + 1))  # one event per step
    logged = [e for e in counted if e["event"] == "step"]
    ends = {per_epoch * k for k in range(1, start["epochs"] + 1)}
    assert {e["step"] for e in logged} == {s for s in range(1, total + 1) if s % 4 == 0} | ends
    assert all("loss" in e and "lr" in e for e in logged)
    assert all("loss" not in e for e in counted if e["event"] == "progress")
    assert all(chart_point(e, None) is None for e in counted if e["event"] == "progress")
    # The same schedule on a dummy optimiser: the rate before each step is what the step used.
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    schedule = linear_schedule(optimizer, round(0.5 * total), total)
    used = []
    for _ in range(total):
        used.append(schedule.get_last_lr()[0])
        optimizer.step()
        schedule.step()
    assert [e["lr"] for e in logged] == pytest.approx([used[e["step"] - 1] for e in logged])
    assert result.history[-1]["lr"] == pytest.approx(used[-1])


CHILD = """
import os, signal, sys
from longbert.training import TrainConfig, train

def progress(event):
    if event["event"] == "checkpoint" and event["batches_done"] >= 3:
        os.kill(os.getpid(), signal.SIGKILL)  # no chance to save anything more

train(TrainConfig(**{options}), progress=progress)
sys.exit("not killed")
"""


def test_kill_9_mid_epoch_resumes_from_the_periodic_save_with_whole_epoch_stats(
    encoder: Path, data: dict[str, Path]
) -> None:
    base = options(encoder, data, early_stopping_metric="loss", patience=0)
    straight = train(TrainConfig(**{**base, "name": "straight"}))

    killed = {**base, "name": "killed", "save_every_minutes": 1e-9}  # save after every step
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    script = textwrap.dedent(CHILD).replace("{options}", repr(killed))
    child = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, timeout=120
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    folder = straight.output_dir.parent / "killed"
    last = ckpt.load_last(folder)
    assert (last.state.epoch, last.state.batches_done, last.state.partial_batches) == (0, 3, 3)
    assert not (folder / "longbert.json").exists()  # no epoch finished: only .last/ is there
    (run,) = [r for r in get_store().list_training_runs() if r.name == "killed"]
    assert run.status == "running"  # the killed process could not say otherwise

    with pytest.raises(TrainConfigError, match="--resume"):
        train(TrainConfig(**killed))  # a new run would replace it: refused without --resume
    events: list[dict[str, Any]] = []
    resumed = train(
        TrainConfig(**{**killed, "resume": True, "save_every_minutes": 10.0}), progress=events.append
    )
    assert resumed.status == "done" and resumed.run_id == run.id
    assert events[0]["start_epoch"] == 0
    assert min(e["step"] for e in events if e["event"] in ("step", "progress")) == 4
    record = get_store().get_training_run(run.id)
    assert record.status == "done" and [e.epoch for e in record.epochs] == [1, 2]
    # The epoch statistics cover the batches trained before the kill too.
    for mine, theirs in zip(resumed.history, straight.history, strict=True):
        assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-5)
        assert mine["train_seconds"] > 0
    assert resumed.best_metrics["loss"] == pytest.approx(straight.best_metrics["loss"], abs=1e-6)
    for part in ("encoder", "head"):
        a = load_file(str(straight.output_dir / part / "model.safetensors"))
        b = load_file(str(folder / part / "model.safetensors"))
        assert all((a[k] - b[k]).abs().max() < 1e-5 for k in a), part


def test_a_kill_during_a_save_leaves_a_complete_state(encoder: Path, data: dict[str, Path]) -> None:
    folder = interrupted(encoder, data, steps=2)
    state = ckpt.load_last(folder).state
    # A kill between the two renames of save_last: .last gone, the new state in .last.new.
    (folder / ".last").replace(folder / ".last.new")
    (folder / ".last.old").mkdir()  # and an older, incomplete leftover
    assert ckpt.last_folder(folder) == folder / ".last.new"
    assert ckpt.load_last(folder).state.batches_done == state.batches_done
    # A kill while writing .last.new (no trainer.json yet) leaves .last the state.
    (folder / ".last.new").replace(folder / ".last")
    (folder / ".last.new" / "model").mkdir(parents=True)
    assert ckpt.last_folder(folder) == folder / ".last"
    result = train(TrainConfig(**options(encoder, data, resume=True)))
    assert result.status == "done" and not any(folder.glob(".last*"))
