"""A long job's state, and its resumable copy (``<folder>/.last/``).

:class:`RunState` holds the counters of any job that loops over data with an optimiser --
fine-tuning today; pre-training and distillation are written to use it too. ``.last/`` holds
everything needed to continue exactly where the job stopped: the model (a folder the model's
``save_pretrained`` writes: an ordinary checkpoint), the optimiser state, the scheduler and
loss-scaler state, every random generator, and the counters (epoch, groups done, best metric,
patience, and the sums of the epoch in progress, so a resumed epoch's statistics cover all of
it). Formats: JSON and safetensors; the optimiser state dict is written with ``torch.save`` and
read back with ``torch.load(weights_only=True)``, which restores tensors and plain containers
only and never runs pickled code -- a file that holds anything else (corrupt, or crafted) is a
:class:`~longbert.errors.UnreadableWeightsError` naming it. The folder is swapped in whole, so an
interruption (even ``kill -9``) while saving leaves the previous version usable.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from longbert.checkpoints import MANIFEST
from longbert.errors import CheckpointError, UnreadableWeightsError

LAST = ".last"
OPTIMIZER_FILE = "optimizer.pt"


class SavesPretrained(Protocol):
    """A model that writes itself into a folder (a classifier, an encoder...)."""

    def save_pretrained(self, folder: Path) -> Any: ...


@dataclass
class RunState:
    """Counters of a run. ``epoch``: epochs completed; ``batches_done``: groups (forward passes)
    of the next epoch already trained (non-zero only when saved inside an epoch), and the
    ``partial_*`` sums over those groups: loss, group count, documents, seconds. ``run_id`` is
    the run's database record; ``config`` the job's options; ``data`` a fingerprint of the data
    it trains on (the job's own format; None in states saved before it existed), so a resume
    can refuse data that changed since. Field names are those of the ``state`` object in
    ``.last/trainer.json``: resumable files of every version read back."""

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
    data: dict[str, Any] | None = None


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
    model: SavesPretrained,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    state: RunState,
) -> Path:
    """Write ``folder/.last`` (swapped in whole: ``.last.new`` -> ``.last``). Rank 0 only.

    ``trainer.json`` is the last file written, so a ``.new`` or ``.old`` folder holding it is
    complete; a state left half-swapped by a kill is first put back as ``.last``.
    """
    new = start_swap(folder, _complete)
    model.save_pretrained(new / "model")
    torch.save(optimizer.state_dict(), new / OPTIMIZER_FILE)
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
    return finish_swap(folder)


def _complete(path: Path) -> bool:
    return (path / "trainer.json").is_file() and (path / "model" / MANIFEST).is_file()


def complete_folder(folder: Path, complete: Callable[[Path], bool]) -> Path | None:
    """The state folder that ``complete`` accepts: ``.last``, else the newer ``.last.new`` or the
    older ``.last.old`` left by a kill between the steps of a swap."""
    for name in (LAST, LAST + ".new", LAST + ".old"):
        if complete(folder / name):
            return folder / name
    return None


def start_swap(folder: Path, complete: Callable[[Path], bool]) -> Path:
    """Begin writing a new state: a complete ``.last.new``/``.last.old`` a kill left becomes the
    ``.last`` again, then an empty ``.last.new`` is returned to write into."""
    found = complete_folder(folder, complete)
    if found is not None and found.name != LAST:
        shutil.rmtree(folder / LAST, ignore_errors=True)
        found.replace(folder / LAST)
    new = folder / (LAST + ".new")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    return new


def finish_swap(folder: Path) -> Path:
    """Swap the written ``.last.new`` in as ``.last`` (the previous one kept as ``.last.old`` until
    then) and return it."""
    target, new, old = folder / LAST, folder / (LAST + ".new"), folder / (LAST + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.replace(old)
    new.replace(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def last_folder(folder: Path) -> Path | None:
    """The resumable state folder, if a complete one exists (see :func:`complete_folder`)."""
    return complete_folder(folder, _complete)


@dataclass
class LastState:
    """What :func:`load_last` read back."""

    model_folder: Path
    state: RunState
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]
    rng_tensors: dict[str, torch.Tensor]
    rng_plain: dict[str, Any]


def load_last(folder: Path) -> LastState:
    """Read ``folder``'s resumable state; CheckpointError (or its UnreadableWeightsError) naming
    what is missing or unreadable."""
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
    optimizer = _load_tensors(path / OPTIMIZER_FILE)
    try:
        meta = json.loads((path / "trainer.json").read_text())
        rng_tensors = load_file(str(path / "rng.safetensors"))
        state = RunState(**meta["state"])
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        raise CheckpointError(f"The training state in '{path}' is unreadable: {error}") from error
    return LastState(
        path / "model", state, optimizer, meta["scheduler"], meta["scaler"], rng_tensors, meta["rng"]
    )


def _load_tensors(path: Path) -> Any:
    """``torch.load`` restricted to tensors and plain containers; anything else is refused.

    torch's own error for a refused file suggests turning the restriction off; that advice is
    never passed on: a file that needs it is not one LongBERT wrote.
    """
    if not path.is_file():
        raise CheckpointError(f"The training state in '{path.parent}' is incomplete: {path.name} is missing.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError, RuntimeError (zip), EOFError...: one clear error
        raise UnreadableWeightsError(
            f"'{path}' cannot be read safely ({type(error).__name__}): it is corrupt, or holds "
            "something other than tensors, and LongBERT never runs code from a file. Delete "
            f"'{path.parent}' and start the run again (--overwrite), or restore that folder from "
            "a copy."
        ) from None


def remove_last(folder: Path) -> None:
    for name in (LAST, LAST + ".new", LAST + ".old"):
        shutil.rmtree(folder / name, ignore_errors=True)


@dataclass
class OldContents:
    """What an earlier model or run may have left in a new run's folder (``--overwrite``), each
    removed only when the new run writes its own in its place: until then a typo, a crash or
    Ctrl-C costs nothing saved, and the old model still loads.

    ``state``: an earlier run's resumable state (``.last``) may be there; it goes before the new
    run saves its first state or model (never after: the state is then the new run's own).
    ``files``: the old model's files beside its checkpoint (``metrics.json``); they go before the
    new run's first model, whose saving replaces the manifest and the parts itself.
    """

    folder: Path
    state: bool = True
    files: tuple[str, ...] = ()

    def before_state(self) -> None:
        """Call before saving the new run's resumable state."""
        if self.state:
            remove_last(self.folder)
            self.state = False

    def before_model(self) -> None:
        """Call before saving the new run's model into the folder."""
        self.before_state()
        for name in self.files:
            (self.folder / name).unlink(missing_ok=True)
        self.files = ()
