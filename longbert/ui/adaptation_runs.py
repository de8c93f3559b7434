"""Adaptation runs from the app that outlive one page view: the upload a run reads, stopped runs
the page can resume, and whether a finished run trained the encoder at all.

An uploaded corpus is kept inside the run's output folder (``<output>/.adapt-upload/<id>/``), next
to the resumable state (``<output>/.last``), for as long as that state exists: a stopped run then
resumes from the page (or ``python -m longbert.pretrain --resume``) with the very file it started
from. It is not kept *inside* ``.last``: every save swaps that folder whole. It goes once no state
refers to it (the run finished, or failed before saving any state).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longbert.checkpoints import MANIFEST
from longbert.pretraining import PretrainConfig, PretrainError, PretrainResult, read_encoder_manifest
from longbert.pretraining.state import TRAINER_FILE, last_folder
from longbert.settings import models_dir
from longbert.ui.training import save_upload

#: Where an app run's uploaded corpus is kept, inside the run's output folder.
UPLOADS = ".adapt-upload"


def keep_upload(output: Path, name: str, data: bytes) -> Path:
    """Save an uploaded corpus file under ``output/.adapt-upload/<new id>/`` (its own folder, so
    a new run's upload never replaces the one an older stopped run in ``output`` still reads)."""
    if not data.strip():
        raise PretrainError(f"'{name}' is empty: upload a file holding text.")
    folder = output / UPLOADS / uuid.uuid4().hex[:12]
    folder.mkdir(parents=True)
    try:
        return save_upload(name, data, folder)
    except BaseException:
        tidy_uploads(output)
        raise


def _saved_state(output: Path) -> dict[str, Any] | None:
    """The counters and options of the pre-training state in ``output`` (None: no readable one).
    A fine-tuning run's ``.last`` (a ``model/`` folder, no ``model.safetensors``) is not one."""
    path = last_folder(output)
    if path is None or not (path / "model.safetensors").is_file():
        return None
    try:
        state = json.loads((path / TRAINER_FILE).read_text())["state"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("config"), dict) else None


def tidy_uploads(output: Path) -> None:
    """Remove the uploads in ``output`` that no resumable state reads any more (all of them once
    the run finished), and ``output`` itself when that leaves it empty (a run that failed before
    saving anything leaves no trace)."""
    uploads = output / UPLOADS
    if uploads.is_dir():
        state = _saved_state(output)
        read = [Path(p).resolve() for p in ((state or {}).get("config", {}).get("corpus") or [])]
        for folder in uploads.iterdir():
            if not any(folder.resolve() in (p, *p.parents) for p in read):
                shutil.rmtree(folder, ignore_errors=True)
        _remove_if_empty(uploads)
    _remove_if_empty(output)


def tidy_finished_uploads(folder: Path | None = None) -> None:
    """Remove the uploads left beside finished encoders in the models folder: a stopped app run
    resumed by ``python -m longbert.pretrain --resume`` finishes without the page's clean-up.
    Call only while no adaptation runs in this server (a run replacing an encoder has, until its
    first save, an upload beside the old encoder and no state yet)."""
    root = folder or models_dir()
    if root.is_dir():
        for child in root.iterdir():
            if (child / UPLOADS).is_dir() and (child / MANIFEST).is_file() and _saved_state(child) is None:
                tidy_uploads(child)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()  # only succeeds when empty: nothing saved is ever removed here


@dataclass(frozen=True)
class StoppedRun:
    """A pre-training run stopped before its end, with its state saved: it can be resumed."""

    name: str
    folder: Path
    step: int
    total_steps: int | None

    @property
    def title(self) -> str:
        of = f" of {self.total_steps:,}" if self.total_steps else ""
        return f"{self.name} (stopped at step {self.step:,}{of})"


def stopped_run(output: Path) -> StoppedRun | None:
    """The run stopped in ``output`` (None: no resumable pre-training state there)."""
    state = _saved_state(output)
    if state is None:
        return None
    config = state["config"]
    total = config.get("max_steps") or None
    return StoppedRun(
        str(config.get("name") or output.name), output, int(state.get("global_step") or 0), total
    )


def stopped_runs(folder: Path | None = None) -> list[StoppedRun]:
    """Every stopped pre-training run in the models folder (also those started by the CLI or
    before the server restarted: the page's jobs do not survive a restart, their state does)."""
    root = folder or models_dir()
    if not root.is_dir():
        return []
    found = [stopped_run(child) for child in sorted(root.iterdir()) if child.is_dir()]
    return [run for run in found if run is not None]


def resume_config(output: Path) -> PretrainConfig:
    """The config continuing the run stopped in ``output``: its own saved options (the corpus, an
    upload included, the planned steps, the time budget), run quietly in the background."""
    run = stopped_run(output)
    if run is None:
        raise PretrainError(f"Nothing to resume in '{output}': no stopped run's state is saved there.")
    return PretrainConfig(name=run.name, output_dir=str(output), resume=True, quiet=True).validate()


def budget_seconds_left(config: PretrainConfig) -> float | None:
    """Seconds of training the run's time limit leaves (None: no limit). A resumed run's limit and
    the training time already spent are those its saved state holds."""
    limit, spent = config.max_minutes, 0.0
    if config.resume:
        state = _saved_state(config.output_path) or {}
        limit = float(state.get("config", {}).get("max_minutes") or 0.0)
        spent = float(state.get("train_seconds") or 0.0)
    return max(0.0, 60.0 * limit - spent) if limit > 0 else None


def encoder_training_steps(result: PretrainResult) -> int | None:
    """Optimiser steps that trained the encoder itself, after the MLM head's warm-up (0: the saved
    encoder is the starting one unchanged); None when not known (the run did not finish).

    The run's own count (``PretrainResult.encoder_steps``, also the manifest's
    ``metadata.training.encoder_steps``: a time budget can end the warm-up early); for an
    encoder saved before that was recorded, ``steps`` minus ``head_warmup_steps``.
    """
    if result.status != "done":
        return None
    if result.encoder_steps is not None:
        return result.encoder_steps
    try:
        training = read_encoder_manifest(result.output_dir).metadata.get("training") or {}
    except PretrainError:
        return None
    if isinstance(training.get("encoder_steps"), int):
        return int(training["encoder_steps"])
    steps, head = training.get("steps"), training.get("head_warmup_steps")
    if not isinstance(steps, int) or not isinstance(head, int):
        return None
    return max(0, steps - head)
