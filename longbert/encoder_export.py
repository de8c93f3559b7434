"""A trained model's encoder as a starting point: exported once as an encoder checkpoint.

``train --encoder models/my-model``, ``pretrain --encoder``, the zero-shot classifier and the
Review page's "retrain from the current model" take a trained classifier (fine-tuned, few-shot
SetFit, zero-shot-prior) where they take an encoder. Its ``encoder/`` is LongBERT's own format,
which ``transformers`` does not load and which is only part of the model, so it is copied once
into an encoder checkpoint (:func:`~longbert.checkpoints.save_encoder_checkpoint`'s format,
what ``python -m longbert.pretrain`` writes) under :func:`encoder_cache_dir`, and that loads as
any encoder checkpoint does (see :func:`longbert.encoder_source.encoder_checkpoint`).

A compressed model (int8, early exit, distilled) is refused: int8 weights cannot be trained,
and the others are smaller stand-ins for their source model, which is the start to take.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import time
from pathlib import Path

from longbert.checkpoints import Manifest, is_checkpoint, read_manifest, write_manifest
from longbert.errors import CheckpointError, UnsupportedEncoderError
from longbert.settings import models_dir

#: Environment variable naming the folder of exported encoders (default: see :func:`encoder_cache_dir`).
ENCODER_CACHE_ENV = "LONGBERT_ENCODER_CACHE"
#: The pooler a new [CLS] head starts from, beside an encoder's weights (the file name
#: ``longbert.modeling.long_bert_io.POOLER_FILE``, which imports encoder_source: not imported here).
POOLER_FILE = "bert_pooler.safetensors"
#: How an export's staging folder is named (only such folders are ever removed as leftovers).
STAGING_PREFIX = ".longbert-export-"
#: Seconds after which an export's staging folder is taken for one an interrupted process left.
STALE_STAGING_SECONDS = 3600.0


def refuse_compressed(folder: Path, manifest: Manifest) -> None:
    """An :class:`UnsupportedEncoderError` naming the source model when ``folder`` is compressed."""
    if (compression := manifest.compression) is not None:
        # Worded for every use of an encoder (training, further pre-training, zero-shot labels):
        # the callers are many, and none of them is about training only.
        raise UnsupportedEncoderError(
            f"'{folder}' is a compressed model ({compression.method} of "
            f"'{compression.source_model}'): it classifies with its own labels, but cannot serve "
            "as an encoder (to train or further pre-train from, or to label zero-shot with). "
            f"Start from its source model '{compression.source_model}' instead."
        )


def encoder_cache_dir() -> Path:
    """Where trained models' encoders are exported (``LONGBERT_ENCODER_CACHE``, default
    ``<models folder>/.encoder-cache``): never inside a model's own folder, and hidden from the
    model lists (its entries are not direct children of the models folder)."""
    configured = os.environ.get(ENCODER_CACHE_ENV, "").strip()
    return Path(configured).expanduser() if configured else models_dir() / ".encoder-cache"


def _export_key(folder: Path, manifest: Manifest) -> str:
    """Which save of ``folder`` an export holds: its resolved path, the manifest's ``saved_at``
    and the encoder weights' size and time (a hand-copied folder keeps ``saved_at``)."""
    weights = folder / "encoder" / "model.safetensors"
    stat = weights.stat() if weights.is_file() else None
    stamp = f"{stat.st_size}:{stat.st_mtime_ns}" if stat is not None else "-"
    text = f"{folder.resolve()}\n{manifest.saved_at}\n{stamp}"
    return hashlib.sha256(os.fsencode(text)).hexdigest()[:16]  # a path need not be UTF-8


def exported_encoder(folder: Path, manifest: Manifest | None = None) -> Path:
    """An encoder checkpoint holding classifier ``folder``'s encoder, exported on first use.

    The export is :func:`~longbert.checkpoints.save_encoder_checkpoint`'s format (what
    ``python -m longbert.pretrain`` writes): the fine-tuned encoder as saved, sparse global
    projections and long position table included, and, for a [CLS]-head model, the head's
    trained pooler as the pooler a new head starts from (the label layer is the only new part;
    a zero-shot-prior model's encoder keeps the pooler it came with).
    Its folder under :func:`encoder_cache_dir` is keyed by the model's path and save
    (:func:`_export_key`): a retrained model gets a new export, and the old one is removed.
    Built in a staging folder and renamed into place, so concurrent calls never see half an
    export (the loser of a race uses the winner's). The model's folder is only read.
    """
    manifest = manifest if manifest is not None else read_manifest(folder)
    if manifest.kind != "classifier":
        raise ValueError(f"'{folder}' holds an {manifest.kind}, not a classifier")
    refuse_compressed(folder, manifest)
    root = encoder_cache_dir()
    source = folder.resolve()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", source.name).strip(".-") or "model"
    target = root / f"{slug}-{_export_key(folder, manifest)}"
    if is_checkpoint(target):
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = new_staging_folder(root)
    except OSError as error:
        raise CheckpointError(
            f"Could not export the encoder of '{folder}' into '{root}' ({error}): make it writable "
            f"or point {ENCODER_CACHE_ENV} at a writable folder."
        ) from error
    try:
        _write_export(folder, manifest, staging)
        try:
            staging.rename(target)
        except OSError as error:
            if not is_checkpoint(target):  # not a concurrent export that finished first
                raise CheckpointError(
                    f"Could not export the encoder of '{folder}' into '{target}' ({error})."
                ) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _remove_stale_exports(root, str(source), keep=target)
    return target


def new_staging_folder(root: Path, prefix: str = STAGING_PREFIX) -> Path:
    """A new, uniquely named staging folder ``<prefix><random>`` in ``root``, made with ``mkdir``
    so its mode follows the umask as the models' folders do (``mkdtemp``'s 0700 would make the
    folder private to this user once renamed into place)."""
    while True:
        staging = root / f"{prefix}{secrets.token_hex(8)}"
        try:
            staging.mkdir()
        except FileExistsError:  # pragma: no cover - 64 random bits
            continue
        return staging


def _write_export(folder: Path, manifest: Manifest, staging: Path) -> None:
    """Copy ``encoder/`` as saved (it is what ``save_encoder_checkpoint`` writes: the encoder's
    ``save_pretrained`` and its tokenizer), put the head's trained pooler beside it, and write
    the manifest last. Copying keeps every weight exact; loading it validates it."""
    from safetensors.torch import load, save_file

    encoder_dir = folder / "encoder"
    if not (encoder_dir / "config.json").is_file() or not (encoder_dir / "model.safetensors").is_file():
        raise CheckpointError(
            f"Model '{folder}' is incomplete: '{encoder_dir}' lacks its weights or config.json."
        )
    try:
        shutil.copytree(encoder_dir, staging / "encoder", ignore=shutil.ignore_patterns("*.partial", "*.tmp"))
    except OSError as error:  # a full disk, an unreadable file
        raise CheckpointError(f"Could not copy the encoder of '{folder}' ({error}).") from error
    head = folder / "head" / "model.safetensors"
    if manifest.architecture == "cls-head" and head.is_file():
        try:
            state = load(head.read_bytes())  # safetensors' own file API wants UTF-8 paths
        except Exception as error:  # safetensors raises its own error type on corrupt files
            raise CheckpointError(f"Model '{folder}' has a corrupt '{head}': {error}") from error
        if "pooler.weight" in state and "pooler.bias" in state:
            pooler = {"dense.weight": state["pooler.weight"], "dense.bias": state["pooler.bias"]}
            save_file(pooler, str(staging / "encoder" / POOLER_FILE), metadata={"format": "pt"})
    exported = Manifest(
        kind="encoder",
        name=manifest.name or folder.name,
        encoder=manifest.encoder,
        metadata={
            "exported_from": str(folder.resolve()),
            "source_saved_at": manifest.saved_at,
            "source_architecture": manifest.architecture,
            "source_labels": list(manifest.labels),
        },
    )
    write_manifest(staging, exported)


def _remove_stale_exports(root: Path, source: str, keep: Path) -> None:
    """Drop the exports of earlier saves of ``source`` and of models deleted since, and staging
    folders an interrupted export left; nothing else in ``root`` is touched. Best effort: a
    folder in use elsewhere stays readable by whoever holds its files open, and a failure here
    never fails the export."""
    now = time.time()
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry == keep or not entry.is_dir():
            continue
        if entry.name.startswith(STAGING_PREFIX):
            try:
                stale = now - entry.stat().st_mtime > STALE_STAGING_SECONDS
            except OSError:
                continue
            if stale:
                shutil.rmtree(entry, ignore_errors=True)
            continue
        try:  # only this module's exports say where they were exported from
            export = read_manifest(entry) if is_checkpoint(entry) else None
        except CheckpointError:
            export = None
        origin = export.metadata.get("exported_from") if export and export.kind == "encoder" else None
        if isinstance(origin, str) and (origin == source or not Path(origin).is_dir()):
            shutil.rmtree(entry, ignore_errors=True)
