"""A Train page run stopped, then resumed from a terminal with the command the page gives
(``python -m longbert.train --name <name> --resume``): the copy of its training data that the page
kept in ``models/<name>/.train-data/`` for the resume goes as soon as the resumed run finishes, as
after a run that ends on the page. Before, only the page removed it (its job's cleanup, and the
next page run of that name): after a terminal resume it stayed until then, a copy of the texts
nobody needed. Data that a resumable state still needs is never removed.

The page's stopped run is made here as the page makes it (its data in a fresh
:func:`~longbert.ui.training_runs.data_folder`), with the library stopped after a few steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.classifier_factories import save_tiny_encoder
from helpers.train_fixtures import TRAIN_ENCODER, make_rows, write_jsonl

from longbert.checkpoints import is_checkpoint
from longbert.runs import last_folder
from longbert.settings import models_dir
from longbert.train import main
from longbert.training import TrainConfig, train
from longbert.ui.training_runs import DATA_FOLDER, data_folder, interrupted_run

pytestmark = pytest.mark.usefixtures("isolated", "one_torch_thread")

#: Where a terminal run goes: a resume may only change these (and the like), see CHANGEABLE_ON_RESUME.
HERE = ["--threads", "1", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-terminal-resume"), **TRAIN_ENCODER)


def _stopped_page_run(encoder: Path, name: str = "desk") -> tuple[Path, Path]:
    """A run stopped after 3 steps whose training data the page kept under its folder; returns
    the run's folder and the kept data file."""
    folder = models_dir() / name
    kept = write_jsonl(data_folder(folder) / "corrections.jsonl", make_rows(40))
    seen = {"n": 0}

    def stop_after_three() -> bool:
        seen["n"] += 1
        return seen["n"] > 3

    options: dict[str, Any] = {
        "train": str(kept), "encoder": str(encoder), "name": name, "epochs": 2, "batch_size": 4,
        "learning_rate": 1e-3, "quiet": True, "threads": 1, "record": False,
    }
    result = train(TrainConfig(**options), should_stop=stop_after_three)
    assert result.status == "interrupted"
    run = interrupted_run(folder)
    assert run is not None and Path(run.config["train"]) == kept.resolve()
    return folder, kept


def test_a_terminal_resume_that_finishes_drops_the_kept_data(encoder: Path) -> None:
    folder, _ = _stopped_page_run(encoder)
    assert main(["--name", "desk", "--resume", *HERE]) == 0
    assert is_checkpoint(folder) and last_folder(folder) is None
    assert not (folder / DATA_FOLDER).exists()  # was there until the page's next run of 'desk'


def test_a_refused_terminal_resume_keeps_the_data_the_run_needs(encoder: Path) -> None:
    folder, kept = _stopped_page_run(encoder)
    assert main(["--name", "desk", "--resume", "--learning-rate", "0.5", *HERE]) == 2
    assert last_folder(folder) is not None and kept.is_file()  # still resumable
    assert main(["--name", "desk", "--resume", *HERE]) == 0  # and it resumes
    assert not (folder / DATA_FOLDER).exists()


def test_only_data_no_state_needs_goes(encoder: Path) -> None:
    """A left-over folder of an earlier page run of the name goes; the stopped run's stays
    until its resume ends."""
    folder, kept = _stopped_page_run(encoder)
    stale = write_jsonl(data_folder(folder) / "corrections.jsonl", make_rows(4))
    assert main(["--name", "desk", "--resume", "--learning-rate", "0.5", *HERE]) == 2
    assert kept.is_file() and not stale.exists()
