"""Where a run may write, and what a resume must find: a non-empty folder that is not a model
is never written into (``--overwrite`` or not); a resume refuses data edited since the stop;
saved data paths and the registered folder are absolute."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl

from longbert import load_classifier
from longbert.store import get_store
from longbert.train import main
from longbert.training import TrainConfig, TrainConfigError, train
from longbert.ui.training_runs import DATA_FOLDER

# A throwaway database, models folder and CPU device for every test (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("isolated", "one_torch_thread")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"), **TRAIN_ENCODER)


def options(encoder: Path, train_file: Path, dev_file: Path, **overrides: Any) -> TrainConfig:
    values: dict[str, Any] = {
        "train": str(train_file),
        "dev": str(dev_file),
        "encoder": str(encoder),
        "name": "run",
        "epochs": 1,
        "batch_size": 4,
        "learning_rate": 1e-3,
        "quiet": True,
        "record": False,
        "threads": 1,
        **overrides,
    }
    return TrainConfig(**values)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def data(isolated: Path) -> dict[str, Path]:
    return {
        "train": write_jsonl(isolated / "train.jsonl", make_rows(24)),
        "dev": write_jsonl(isolated / "dev.jsonl", make_rows(6, seed=5)),
    }


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_a_users_own_folder_is_never_written_into(
    encoder: Path, data: dict[str, Path], isolated: Path, overwrite: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = isolated / "userdir"
    (mine / "head").mkdir(parents=True)
    (mine / "encoder").mkdir()
    (mine / "head" / "keep.txt").write_text("my notes on the head office")
    (mine / "encoder" / "keep.txt").write_text("my encoder notes")
    (mine / "metrics.json").write_text('{"mine": "quarterly metrics I computed"}')
    before = files(mine)
    argv = ["--train", str(data["train"]), "--dev", str(data["dev"]), "--encoder", str(encoder)]
    argv += ["--name", "u", "--output-dir", str(mine), "--epochs", "1", "--quiet", "--no-record"]
    # Before: the run wrote head/, encoder/ and metrics.json over the user's (keep.txt survived
    # only because a part is moved in whole; metrics.json was replaced).
    assert main([*argv, *(["--overwrite"] if overwrite else [])]) == 2
    error = capsys.readouterr().err
    assert "is not empty and holds no LongBERT model or interrupted run" in error
    assert "encoder/, head/, metrics.json" in error and "Choose a new or empty folder" in error
    assert ("nothing in it is deleted" in error) is overwrite
    assert files(mine) == before


def test_the_models_folder_itself_is_refused_and_its_models_kept(
    encoder: Path, data: dict[str, Path], isolated: Path
) -> None:
    models = isolated / "models"
    train(options(encoder, data["train"], data["dev"], name="head"))  # a model called "head"
    before = files(models)
    config = options(encoder, data["train"], data["dev"], name="x", output_dir=str(models))
    with pytest.raises(TrainConfigError, match=r"it has: head/"):
        train(config)
    with pytest.raises(TrainConfigError, match="nothing in it is deleted"):
        train(options(encoder, data["train"], data["dev"], name="x", output_dir=str(models), overwrite=True))
    assert files(models) == before
    load_classifier(models / "head")


def test_an_empty_folder_or_one_holding_a_killed_save_is_used(
    encoder: Path, data: dict[str, Path], isolated: Path
) -> None:
    empty = isolated / "empty"
    empty.mkdir()
    assert train(options(encoder, data["train"], data["dev"], output_dir=str(empty))).status == "done"
    killed = isolated / "killed"  # a first save cut short: only half-written state and model
    (killed / ".last.new" / "model").mkdir(parents=True)
    (killed / ".best.tmp").mkdir()
    (killed / DATA_FOLDER / "run-1").mkdir(parents=True)  # the Train page's copy of its data
    assert train(options(encoder, data["train"], data["dev"], output_dir=str(killed))).status == "done"
    assert not (killed / ".best.tmp").exists() and not (killed / ".last.new").exists()
    assert (killed / DATA_FOLDER / "run-1").is_dir()


def stop_after(steps: int) -> Any:
    seen = {"n": 0}

    def should_stop() -> bool:
        seen["n"] += 1
        return seen["n"] > steps

    return should_stop


def interrupted(config: TrainConfig) -> Path:
    result = train(config, should_stop=stop_after(2))
    assert result.status == "interrupted"
    return result.output_dir


def test_a_resume_refuses_training_data_edited_since_the_stop(
    encoder: Path, data: dict[str, Path]
) -> None:
    config = options(encoder, data["train"], data["dev"], epochs=2)
    folder = interrupted(config)
    rows = [json.loads(line) for line in data["train"].read_text().splitlines()]
    edited = rows[:4] + rows[10:]  # rows dropped, labels as before
    edited.append({"text": "A completely new article about a football transfer saga.", "label": "sport"})
    write_jsonl(data["train"], edited)
    # Before: the resume carried on over the edited rows without a word.
    changed = r"(?s)data changed since:\n  train: 24 rows before -> 19 now\n"  # dev: unchanged
    with pytest.raises(TrainConfigError, match=changed):
        main_resume(config)
    assert (folder / ".last").is_dir()  # nothing lost: restore the data and resume
    relabelled = [{**row, "label": "sport" if row["label"] == "econ" else "econ"} if i == 0 else row
                  for i, row in enumerate(rows)]
    write_jsonl(data["train"], relabelled)  # same rows, one label changed
    differ = "train: 24 rows before and now, but their texts or labels differ"
    with pytest.raises(TrainConfigError, match=differ):
        main_resume(config)
    write_jsonl(data["train"], rows)
    assert main_resume(config).status == "done"


def main_resume(config: TrainConfig) -> Any:
    return train(TrainConfig(name=config.name, resume=True, quiet=True), given={"name", "resume", "quiet"})


def test_a_state_without_a_fingerprint_resumes_with_a_note(encoder: Path, data: dict[str, Path]) -> None:
    folder = interrupted(options(encoder, data["train"], data["dev"], epochs=2))
    saved = folder / ".last" / "trainer.json"
    meta = json.loads(saved.read_text())
    assert meta["state"]["data"]["train"]["rows"] == 24 and meta["state"]["data"]["dev"]["rows"] == 6
    del meta["state"]["data"]  # as an older LongBERT saved it
    saved.write_text(json.dumps(meta))
    result = main_resume(options(encoder, data["train"], data["dev"]))
    assert result.status == "done"
    assert any("saved no fingerprint of its data" in note for note in result.notes)


def test_relative_paths_are_saved_and_registered_absolute(
    encoder: Path, data: dict[str, Path], isolated: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(isolated)
    config = options(encoder, Path("train.jsonl"), Path("dev.jsonl"), output_dir="rel-out", record=True)
    config.epochs = 2
    folder = interrupted(config)
    assert folder == isolated / "rel-out"
    state = json.loads((folder / ".last" / "trainer.json").read_text())["state"]["config"]
    assert (state["train"], state["dev"]) == (str(data["train"]), str(data["dev"]))
    assert state["output_dir"] == str(isolated / "rel-out")
    # Resumed from another working folder (the app's): the same files are read.
    monkeypatch.chdir(tmp_path.parent)
    assert main(["--output-dir", str(folder), "--name", "run", "--resume", "--quiet"]) == 0
    # Before: the database held 'rel-out', a folder relative to whichever process reads it.
    assert get_store().get_model("run").folder == str(isolated / "rel-out")
    (run,) = [r for r in get_store().list_training_runs() if r.name == "run"]
    assert run.model_folder == str(isolated / "rel-out")
