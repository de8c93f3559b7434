"""The resumable state of a pre-training run: ``<output>/.last/``.

Saved on a clean stop (Ctrl-C, SIGTERM, ``should_stop``) and every ``save_every_minutes``, always
at an optimiser-step boundary: the model (safetensors), the optimiser (``torch.save``, read back
with ``weights_only=True``), the scheduler and loss scaler, torch's random generators (dropout) and
the counters. Masks and the data order need no saved generator: they are drawn from
``(seed, epoch, index)``. The folder is written as ``.last.new`` and swapped in whole, so a
``kill -9`` during a save leaves the previous state usable.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from longbert.pretraining.corpus import STORE_ORDER_FIRST_CLASSIFIED, STORE_ORDER_NEWEST_FIRST
from longbert.pretraining.errors import PretrainError
from longbert.pretraining.sequences import SPLIT_DOCUMENTS, SPLIT_DOCUMENTS_OR_TOKENS
from longbert.runs.state import LAST, complete_folder, finish_swap, start_swap

TRAINER_FILE = "trainer.json"


@dataclass
class PretrainState:
    """Counters of a run: ``epoch`` and ``batches_done`` (micro-batches of it already trained),
    ``global_step`` optimiser steps, tokens seen, the last steps' losses (``last_loss`` their
    mean), held-out reports by moment (``before``...), the database run id, the run's options and
    its corpus hashes (a resumed run must read the same documents, in the same order).
    ``head_steps``: where the MLM head's warm-up ends (a time budget may have ended it before the
    planned step); None in states saved before it was kept (then the planned step).
    ``heldout_split``: the held-out split's kind (:mod:`~longbert.pretraining.sequences`) and
    ``store_order``: the order ``--from-store`` texts are read in
    (:func:`~longbert.pretraining.corpus.store_text_hashes`): a resumed run keeps the ones it
    started with. None in states saved before they were kept: :func:`load_state` fills in the
    ones those runs used."""

    epoch: int = 0
    batches_done: int = 0
    global_step: int = 0
    tokens_seen: int = 0
    train_seconds: float = 0.0
    last_loss: float | None = None
    recent_losses: list[float] = field(default_factory=list)
    heldout: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    corpus_sha256: str = ""
    corpus_order_sha256: str = ""
    head_steps: int | None = None
    heldout_split: str | None = SPLIT_DOCUMENTS_OR_TOKENS
    store_order: str | None = STORE_ORDER_FIRST_CLASSIFIED


def _fill_older_fields(state: PretrainState) -> None:
    """What a state saved before ``heldout_split`` / ``store_order`` were kept ran with: the split
    by tokens came with the order hash, so a state without that hash split by documents; the store
    was read newest prediction first."""
    if state.heldout_split is None:
        state.heldout_split = SPLIT_DOCUMENTS_OR_TOKENS if state.corpus_order_sha256 else SPLIT_DOCUMENTS
    if state.store_order is None:
        state.store_order = STORE_ORDER_NEWEST_FIRST


def _model_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state without the tied decoder weight (the same tensor as the embeddings)."""
    return {
        k: v.detach().contiguous().cpu() for k, v in model.state_dict().items() if k != "head.decoder.weight"
    }


def save_state(
    folder: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: torch.amp.GradScaler,
    state: PretrainState,
) -> Path:
    """Write ``folder/.last`` (``trainer.json`` last; swapped in whole)."""
    new = start_swap(folder, _complete)
    save_file(_model_tensors(model), str(new / "model.safetensors"))
    torch.save(optimizer.state_dict(), new / "optimizer.pt")
    rng = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng.update({f"cuda_{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    save_file(rng, str(new / "rng.safetensors"))
    meta = {"state": asdict(state), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict()}
    (new / TRAINER_FILE).write_text(json.dumps(meta, indent=2, default=str))
    return finish_swap(folder)


def _complete(path: Path) -> bool:
    return (path / TRAINER_FILE).is_file()


def last_folder(folder: Path) -> Path | None:
    """The complete state folder, if any: ``.last``, else a ``.last.new``/``.last.old`` a kill left."""
    return complete_folder(folder, _complete)


@dataclass
class LoadedState:
    """What :func:`load_state` read back."""

    state: PretrainState
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]
    rng: dict[str, torch.Tensor]


def load_state(folder: Path) -> LoadedState:
    """Read ``folder``'s resumable state; :class:`PretrainError` naming the file that fails."""
    path = last_folder(folder)
    if path is None:
        raise PretrainError(
            f"Nothing to resume in '{folder}': there is no {LAST}/ state (a run saves it when stopped and "
            "every --save-every-minutes). Start a new run without --resume."
        )
    current = path / TRAINER_FILE
    try:
        meta = json.loads(current.read_text())
        # Fields an older state lacks are None here, not the new runs' defaults.
        state = PretrainState(**{"heldout_split": None, "store_order": None, **meta["state"]})
        _fill_older_fields(state)
        current = path / "model.safetensors"
        model = load_file(str(current))
        current = path / "rng.safetensors"
        rng = load_file(str(current))
        current = path / "optimizer.pt"
        optimizer = torch.load(current, map_location="cpu", weights_only=True)
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        RuntimeError,
        EOFError,
        SafetensorError,
        pickle.UnpicklingError,
    ) as error:
        raise PretrainError(
            f"The resumable state file '{current}' is unreadable ({type(error).__name__}: "
            f"{error}); start a new run with --overwrite."
        ) from error
    return LoadedState(state, model, optimizer, meta["scheduler"], meta["scaler"], rng)


def restore_rng(rng: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(rng["torch_cpu"])
    cuda = [rng[k] for k in sorted(k for k in rng if k.startswith("cuda_"))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def check_same_corpus(
    state: PretrainState,
    sha256: str,
    order_sha256: str,
    folder: Path,
    from_store: bool = False,
    with_files: bool = False,
) -> None:
    """Refuse to resume on another corpus, or on the same texts read in another order (files
    renamed or moved, or the database's texts listed otherwise): the order decides the held-out
    split and the packing, so the run would not continue as it started. States saved before the
    order was kept are checked on the texts only."""
    if state.corpus_sha256 != sha256:
        raise PretrainError(
            f"The corpus changed since the interrupted run in '{folder}' (its hash differs): "
            "resume with the same documents, or start a new run with --overwrite."
        )
    if state.corpus_order_sha256 and state.corpus_order_sha256 != order_sha256 and from_store:
        older = state.store_order == STORE_ORDER_NEWEST_FIRST
        raise PretrainError(
            f"The corpus holds the same texts as the interrupted run in '{folder}', but the database "
            "lists them in another order"
            + (
                " (this run was started by an older version, which read the database newest "
                "classification first: a text classified again since moves)"
                if older
                else " (a text's classifications deleted and made again?)"
            )
            + (", or the files were renamed, moved or listed differently" if with_files else "")
            + ". The order decides which text is held out and how texts are packed, so the run "
            "cannot continue as it started: start a new run with --overwrite."
        )
    if state.corpus_order_sha256 and state.corpus_order_sha256 != order_sha256:
        raise PretrainError(
            f"The corpus holds the same texts as the interrupted run in '{folder}', but they are read "
            "in another order (files renamed, moved or listed differently?). The order decides which "
            "text is held out and how texts are packed, so the run cannot continue as it started: "
            "restore the files' names and order, or start a new run with --overwrite."
        )
