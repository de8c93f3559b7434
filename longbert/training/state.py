"""Checkpoints of a training run: the best model (``models/<name>/``) and the resumable state
(``models/<name>/.last/``).

``.last/`` holds everything needed to continue exactly where training stopped: the model
(an ordinary checkpoint folder), the optimiser state, the scheduler and loss-scaler state, every
random generator, and the counters (epoch, batches done, best metric, patience, and the sums
of the epoch in progress, so a resumed epoch's statistics cover all of it). It is saved at every
epoch's end, on a clean stop and every ``save_every_minutes`` inside an epoch. Formats: JSON
and safetensors; the optimiser state dict is written with ``torch.save`` and read back with
``torch.load(weights_only=True)``, which restores tensors and plain containers only and never
runs pickled code. Both folders are swapped in whole, so an interruption (even ``kill -9``)
while saving leaves the previous version usable.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from longbert.classifier import MANIFEST, LongBertClassifier
from longbert.errors import CheckpointError

LAST = ".last"
METRICS_FILE = "metrics.json"
_PARTS = ("encoder", "pooling", "head")


@dataclass
class TrainerState:
    """Counters of a run. ``epoch``: epochs completed; ``batches_done``: batches of the next
    epoch already trained (non-zero only when saved inside an epoch), and the ``partial_*``
    sums over those batches: loss, batch count, documents, seconds."""

    epoch: int = 0
    batches_done: int = 0
    global_step: int = 0
    best_value: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    run_id: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    train_seconds: float = 0.0
    partial_loss_sum: float = 0.0
    partial_batches: int = 0
    partial_docs: int = 0
    partial_seconds: float = 0.0


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Every generator training touches: torch (CPU, CUDA) as tensors; Python and numpy as JSON."""
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda_{i}"] = state
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    plain = {
        "python": [version, list(internal), gauss],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }
    return tensors, plain


def set_rng_state(tensors: dict[str, torch.Tensor], plain: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("cuda_"))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss = plain["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = plain["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def save_last(
    folder: Path,
    classifier: LongBertClassifier,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    state: TrainerState,
) -> Path:
    """Write ``folder/.last`` (swapped in whole: ``.last.new`` -> ``.last``). Rank 0 only.

    ``trainer.json`` is the last file written, so a ``.new`` or ``.old`` folder holding it is
    complete; a state left half-swapped by a kill is first put back as ``.last``.
    """
    target, new, old = folder / LAST, folder / (LAST + ".new"), folder / (LAST + ".old")
    _recover(folder)
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    classifier.save_pretrained(new / "model")
    torch.save(optimizer.state_dict(), new / "optimizer.pt")
    tensors, plain = rng_state()
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(new / "rng.safetensors"))
    _write_json(
        new / "trainer.json",
        {
            "state": asdict(state),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": plain,
        },
    )
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.replace(old)
    new.replace(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _complete(path: Path) -> bool:
    return (path / "trainer.json").is_file() and (path / "model" / MANIFEST).is_file()


def last_folder(folder: Path) -> Path | None:
    """The resumable state folder, if a complete one exists: ``.last``, else the newer
    ``.last.new`` or the older ``.last.old`` left by a kill between the steps of
    :func:`save_last`."""
    for name in (LAST, LAST + ".new", LAST + ".old"):
        if _complete(folder / name):
            return folder / name
    return None


def _recover(folder: Path) -> None:
    """Make a complete ``.last.new``/``.last.old`` the ``.last`` when a kill left none."""
    found = last_folder(folder)
    if found is not None and found.name != LAST:
        shutil.rmtree(folder / LAST, ignore_errors=True)
        found.replace(folder / LAST)


@dataclass
class LastState:
    """What :func:`load_last` read back."""

    model_folder: Path
    state: TrainerState
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]
    rng_tensors: dict[str, torch.Tensor]
    rng_plain: dict[str, Any]


def load_last(folder: Path) -> LastState:
    path = last_folder(folder)
    if path is None:
        if (folder / MANIFEST).is_file():
            raise CheckpointError(
                f"Nothing to resume in '{folder}': the run there finished (the folder holds its "
                f"best checkpoint, and no {LAST}/ training state). To train it again pass "
                "--overwrite instead of --resume, or choose another --name."
            )
        raise CheckpointError(
            f"Nothing to resume in '{folder}': there is no {LAST}/ training state (a run saves it "
            "at every epoch's end, every --save-every-minutes and when stopped). Start a new run "
            "without --resume."
        )
    try:
        meta = json.loads((path / "trainer.json").read_text())
        optimizer = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
        rng_tensors = load_file(str(path / "rng.safetensors"))
        state = TrainerState(**meta["state"])
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        raise CheckpointError(f"The training state in '{path}' is unreadable: {error}") from error
    return LastState(
        path / "model", state, optimizer, meta["scheduler"], meta["scaler"], rng_tensors, meta["rng"]
    )


def remove_last(folder: Path) -> None:
    for name in (LAST, LAST + ".new", LAST + ".old"):
        shutil.rmtree(folder / name, ignore_errors=True)


def clear(folder: Path) -> None:
    """Make ``folder`` no checkpoint: manifest, metrics and training state go (``--overwrite``)."""
    (folder / MANIFEST).unlink(missing_ok=True)
    (folder / METRICS_FILE).unlink(missing_ok=True)
    remove_last(folder)


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
        (tmp / part).replace(folder / part)
    (tmp / MANIFEST).replace(folder / MANIFEST)
    shutil.rmtree(tmp, ignore_errors=True)


def write_metrics(folder: Path, metrics: dict[str, Any]) -> None:
    """``metrics.json`` next to the checkpoint (atomically replaced)."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / METRICS_FILE, metrics)
