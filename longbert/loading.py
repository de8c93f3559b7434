"""Where a classifier comes from and where it runs: checkpoint folders, manifests, devices.

Kept apart from :mod:`longbert.classifier` so that the model code stays about the model. The
manifest is validated type by type: a checkpoint is user-editable JSON, and a wrong type must be
a :class:`CheckpointError` naming the field, not a KeyError or a silently odd model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from longbert.config import default_device, models_dir
from longbert.errors import CheckpointError, LongBertError

CHECKPOINT_FORMAT = 1
MANIFEST = "longbert.json"
POSITIONS_KEY = "embeddings.position_embeddings.weight"

DeviceLike = str | torch.device


class DeviceError(LongBertError, ValueError):
    """A device torch does not know, or one this machine does not have."""


def resolve_device(device: DeviceLike | None = None) -> torch.device:
    """``device``, else ``LONGBERT_DEVICE``, else CUDA when available, else the CPU -- checked.

    Checked here, before any weights load, so a typo or a missing GPU is one clear
    :class:`DeviceError` rather than torch's assertion halfway through loading.
    """
    env = os.environ.get("LONGBERT_DEVICE")
    origin = f"device={device!r}" if device is not None else f"LONGBERT_DEVICE={env!r}"
    try:
        resolved = torch.device(device) if device is not None else default_device()
    except (RuntimeError, TypeError) as error:
        raise DeviceError(f"{origin} is not a device torch knows ({error}); use 'cpu' or 'cuda'.") from error
    if resolved.type == "meta":
        raise DeviceError(f"{origin}: the meta device holds shapes, not weights; use 'cpu' or 'cuda'.")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"{origin}: CUDA is not available on this machine; use 'cpu'.")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise DeviceError(f"{origin}: this machine has {torch.cuda.device_count()} CUDA device(s).")
    return resolved


def resolve_checkpoint(folder: str | os.PathLike[str]) -> Path:
    """A checkpoint folder path, or a bare name looked up under ``models/``."""
    path = Path(folder).expanduser()
    if not path.exists() and not path.is_absolute() and len(path.parts) == 1:
        path = models_dir() / path
    if not path.is_dir():
        raise CheckpointError(
            f"No checkpoint at '{folder}'. Train one with `python -m longbert.train`, or pick a "
            f"folder under {models_dir()} that contains {MANIFEST}."
        )
    if not (path / MANIFEST).is_file():
        raise CheckpointError(
            f"'{path}' is not a LongBERT checkpoint: {MANIFEST} is missing (an interrupted save, "
            "or the wrong folder)."
        )
    return path


def read_manifest(path: Path) -> dict[str, Any]:
    """The checkpoint's manifest, with the types ``from_pretrained`` relies on checked."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"Checkpoint '{path}' has an unreadable {MANIFEST}: {error}") from error
    if not isinstance(manifest, dict):
        raise CheckpointError(f"Checkpoint '{path}': {MANIFEST} does not hold a JSON object.")
    missing = [k for k in ("labels", "strategy", "encoder") if k not in manifest]
    if missing:
        raise CheckpointError(f"Checkpoint '{path}' manifest lacks {', '.join(missing)}.")
    labels = manifest["labels"]
    # A string is a sequence too: "ab" would otherwise load as the labels ['a', 'b'].
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        raise CheckpointError(
            f"Checkpoint '{path}' manifest has labels {labels!r}: expected a list of label names."
        )
    version = manifest.get("format", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"Checkpoint '{path}' manifest has format {version!r}: expected an integer.")
    if version > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"Checkpoint '{path}' was written by a newer LongBERT (format {version}); "
            "upgrade LongBERT to load it."
        )
    if not isinstance(manifest["strategy"], dict | str):
        raise CheckpointError(f"Checkpoint '{path}' manifest has strategy {manifest['strategy']!r}.")
    manifest.setdefault("multi_label", False)
    if not isinstance(manifest["multi_label"], bool):
        raise CheckpointError(
            f"Checkpoint '{path}' manifest has multi_label {manifest['multi_label']!r}: expected true/false."
        )
    metadata = manifest.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(f"Checkpoint '{path}' manifest has metadata {metadata!r}: expected an object.")
    manifest["metadata"] = dict(metadata)
    return manifest


def trim_saved_positions(folder: Path, rows: int) -> None:
    """Cut the encoder saved in ``folder`` back to ``rows`` positions (weights and config.json).

    Done on the written files, not on the live model, so predictions running meanwhile keep
    their longer table.
    """
    weights = folder / "model.safetensors"
    state = load_file(str(weights))
    state[POSITIONS_KEY] = state[POSITIONS_KEY][:rows].contiguous()
    partial = folder / "model.safetensors.partial"
    save_file(state, str(partial), metadata={"format": "pt"})
    partial.replace(weights)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config["max_position_embeddings"] = rows
    config_path.write_text(json.dumps(config, indent=2))
