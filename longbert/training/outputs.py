"""What a training run leaves in its folder besides the resumable state: the best checkpoint
(the folder itself is an ordinary checkpoint) and ``metrics.json``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from longbert.checkpoints import MANIFEST
from longbert.classifier import LongBertClassifier

METRICS_FILE = "metrics.json"
#: Every part a checkpoint may hold (``prior``: a zero-shot-prior model's correction).
_PARTS = ("encoder", "pooling", "head", "prior")


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
