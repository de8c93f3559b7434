"""The Train page's runs on disk: where a run's training data is kept so that a stopped run can
be resumed, the checks made before a run starts (in the page's own words), and resuming.

A run from the page trains on a file the page writes (the corrections exported, or the upload).
Its resumable state (``models/<name>/.last/``) records that file's path, so the file must outlive
the job when the run is stopped: it is kept in ``models/<name>/.train-data/<run>/``, beside the
state that needs it, and removed (:func:`tidy_training_data`) as soon as no resumable state
points at it any more -- when the run finishes, on the page or resumed from a terminal with
``python -m longbert.train --name <name> --resume`` (which tidies it as it ends:
:func:`drop_unneeded_data`), fails before saving any state, or is replaced by a new run of the
same name. Deleting the model on the Models page deletes it with the folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shlex
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from longbert.checkpoints import is_checkpoint, read_manifest
from longbert.errors import CheckpointError, DatasetError
from longbert.training.config import TrainConfig

#: The folder under a run's output folder holding the training data its runs were given.
DATA_FOLDER = ".train-data"
#: The options of a run that name files it reads (kept data lives under :data:`DATA_FOLDER`).
_DATA_OPTIONS = ("train", "dev", "test", "label_descriptions")


def data_folder(output: Path) -> Path:
    """A new, empty folder for one run's training data under ``output/.train-data/`` (one per
    run: a new run of the same name never overwrites the data an interrupted run still needs)."""
    root = output / DATA_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{datetime.now(UTC):%Y%m%d-%H%M%S}-", dir=root))


@dataclass(frozen=True)
class InterruptedRun:
    """A run stopped before it finished, with its resumable state in ``folder/.last``."""

    name: str
    folder: Path
    #: Epochs completed, and the run's epochs in all.
    epoch: int
    epochs: int
    #: The run's options as it saved them (what ``--resume`` continues with).
    config: dict[str, Any]

    @property
    def command(self) -> str:
        """The command that continues it from a terminal."""
        return f"python -m longbert.train --name {shlex.quote(self.name)} --resume"

    @property
    def missing_data(self) -> list[str]:
        """Data files the run was started with that are gone (it cannot be resumed then)."""
        return [str(self.config[k]) for k in _DATA_OPTIONS
                if self.config.get(k) and not Path(str(self.config[k])).exists()]


def interrupted_run(output: Path) -> InterruptedRun | None:
    """The interrupted run in ``output``, or None (none, or its state is unreadable: training's
    own ``--resume`` then says what is wrong)."""
    from longbert.runs import last_folder

    found = last_folder(output)
    if found is None:
        return None
    try:
        state = json.loads((found / "trainer.json").read_text(encoding="utf-8"))["state"]
        config = dict(state["config"])
        return InterruptedRun(str(config.get("name") or output.name), output, int(state["epoch"]),
                              int(config.get("epochs") or 0), config)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def tidy_training_data(output: Path) -> None:
    """Remove the kept training data of ``output``'s runs that no resumable state points at
    (:func:`drop_unneeded_data`), then ``output`` itself if that leaves it empty (a run that
    failed before it saved anything leaves no folder behind)."""
    drop_unneeded_data(output)
    with contextlib.suppress(OSError):
        output.rmdir()  # only when empty


def drop_unneeded_data(output: Path) -> None:
    """Remove the kept training data under ``output/.train-data`` that no resumable state points
    at, then that folder if it is left empty; never ``output`` itself. A state that cannot be
    read keeps everything: its data may be what it needs.

    Called when a run ends: by the page's job (through :func:`tidy_training_data`), and by
    ``python -m longbert.train`` (a page run resumed from a terminal), so that the copy of the
    texts goes as soon as the run finishes, not at the next page run of that name."""
    from longbert.runs import last_folder

    root = output / DATA_FOLDER
    if not root.is_dir():
        return
    needed: set[Path] = set()
    if last_folder(output) is not None:
        run = interrupted_run(output)
        if run is None:
            return
        needed = {Path(str(run.config[k])).resolve() for k in _DATA_OPTIONS if run.config.get(k)}
    for kept in root.iterdir():
        if not any(path.is_relative_to(kept.resolve()) for path in needed):
            shutil.rmtree(kept, ignore_errors=True)
    with contextlib.suppress(OSError):
        root.rmdir()


def name_problem(config: TrainConfig) -> str | None:
    """Why a new run cannot start under ``config.name``, in the Train page's words (where
    ``overwrite`` is a checkbox, not ``--overwrite``), or None when it can. Training itself
    refuses the same cases, but only once the job runs and in the command line's words."""
    folder = config.output_path
    if config.overwrite or config.resume:
        return None
    where = f"(`{folder}`)"
    tick = "tick **overwrite** under Advanced options (Run tab) to replace it"
    if interrupted_run(folder) is not None:
        return (f"'{config.name}' is the name of an interrupted run {where}. Resume it with the "
                f"button below, {tick} with a new run, or choose another name.")
    if is_checkpoint(folder):
        try:
            kind = read_manifest(folder).kind or "model"
        except CheckpointError:
            kind = "checkpoint"
        what = "an adapted encoder" if kind == "encoder" else f"a {kind}"
        return (f"'{config.name}' is taken: {what} is saved under that name {where}. Choose "
                f"another name, or {tick} (the old one stays, and loads, until the new run saves "
                "its first model).")
    return None


def check_corrections_labels(path: Path, label_set: str) -> None:
    """DatasetError, in the Train page's words, when the corrections exported to ``path`` carry
    fewer than two labels: a classifier cannot learn from one. (Training says "Check the label
    column", which is right for an uploaded file but not for corrections.)"""
    counts: Counter[str] = Counter()
    documents = 0
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                label = json.loads(line).get("label")
                counts.update(label if isinstance(label, list) else [label] if label else [])
                documents += 1
    if len(counts) >= 2:
        return
    carried = f"only the label '{next(iter(counts))}'" if counts else "no label"
    raise DatasetError(
        f"The {documents} corrected documents of label set '{label_set}' carry {carried}: a "
        "classifier needs documents of at least two labels. Correct or confirm documents of "
        "another label (Batch label, History or Review page) first."
    )


def resume_config(run: InterruptedRun) -> TrainConfig:
    """The config that continues ``run`` from the page: its own options (so the result is
    judged on its own data), resuming, quiet. Every option equals the saved one, so
    ``--resume`` refuses none."""
    saved = TrainConfig.from_dict(run.config, source=f"{run.folder}/.last")
    return dataclasses.replace(saved, resume=True, overwrite=False, quiet=True).validate()
