"""What a training run leaves in its folder besides the resumable state: the best checkpoint
(the folder itself is an ordinary checkpoint) and ``metrics.json``; and which existing folders
a run may write into at all (:func:`refuse_foreign_folder`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from longbert.checkpoints import MANIFEST
from longbert.classifier import LongBertClassifier
from longbert.errors import TrainConfigError
from longbert.runs import LAST

METRICS_FILE = "metrics.json"
#: Every part a checkpoint may hold (``prior``: a zero-shot-prior model's correction).
_PARTS = ("encoder", "pooling", "head", "prior")
#: The Train page's copy of a run's training data, kept in the run's folder before the run
#: starts (``longbert.ui.training_runs.DATA_FOLDER``; named here, as training never imports the UI).
APP_DATA_FOLDER = ".train-data"
#: What a run leaves beside a checkpoint when it is killed while saving (a half-written best
#: model, metrics file or state), the Train page's data, and the files an operating system
#: drops into any folder it shows: a folder holding only these is as good as empty.
_LEFTOVERS = frozenset(
    {".best.tmp", METRICS_FILE + ".tmp", LAST, LAST + ".new", LAST + ".old", APP_DATA_FOLDER}
    | {".DS_Store", "Thumbs.db"}
)
#: Entries named in the refusal before "and N more".
_SHOWN = 8


def refuse_foreign_folder(folder: Path, *, overwrite: bool) -> None:
    """Raise TrainConfigError when ``folder`` exists, is not empty, and holds neither a model nor
    an interrupted run (the caller has checked that): a run writes ``encoder/``, ``head/``,
    ``pooling/``, ``metrics.json``... into its folder, replacing whatever has those names, so
    a folder of someone's own files (or the models folder itself, whose models may be called
    ``head``) is never written into -- ``--overwrite`` included, which replaces a model, not
    another folder's contents."""
    if not folder.is_dir():
        return
    entries = sorted(p.name + "/" * p.is_dir() for p in folder.iterdir() if p.name not in _LEFTOVERS)
    if not entries:
        return
    more = len(entries) - _SHOWN
    shown = ", ".join(entries[:_SHOWN]) + (f" and {more} more" if more > 0 else "")
    why = (
        "--overwrite replaces a LongBERT model or interrupted run, and this folder holds neither, "
        "so nothing in it is deleted or replaced"
        if overwrite
        else "a run writes its model (encoder/, pooling/, head/, longbert.json, metrics.json...) "
        "into its folder, replacing anything there with those names"
    )
    raise TrainConfigError(
        f"--output-dir '{folder}' is not empty and holds no LongBERT model or interrupted run "
        f"(it has: {shown}): {why}. Choose a new or empty folder for --output-dir (or leave it "
        "out: models/<name>)."
    )


def save_best(folder: Path, classifier: LongBertClassifier, **metadata: Any) -> None:
    """Save the best model as ``folder`` itself (a normal checkpoint folder).

    Written to ``.best.tmp`` first, then moved in part by part with the manifest removed first
    and moved last: a folder is never a checkpoint with a mix of old and new weights.
    """
    tmp = folder / ".best.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    classifier.save_pretrained(tmp, **metadata)
    (folder / MANIFEST).unlink(missing_ok=True)
    for part in _PARTS:
        shutil.rmtree(folder / part, ignore_errors=True)
        if (tmp / part).exists():  # a part of another architecture's checkpoint is not written
            (tmp / part).replace(folder / part)
    (tmp / MANIFEST).replace(folder / MANIFEST)
    shutil.rmtree(tmp, ignore_errors=True)


def write_metrics(folder: Path, metrics: dict[str, Any]) -> None:
    """``metrics.json`` next to the checkpoint (atomically replaced)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (METRICS_FILE + ".tmp")
    tmp.write_text(json.dumps(metrics, indent=2, default=str))
    tmp.replace(folder / METRICS_FILE)
