"""The pre-trained encoder folder: an encoder checkpoint (:mod:`longbert.checkpoints`).

Everything that takes an encoder (``longbert.train --encoder``, ``LongBertClassifier.from_encoder``,
``ZeroShotClassifier``, the app's encoder picker) takes the folder::

    longbert.json                   the manifest: kind ``encoder``, :class:`~longbert.checkpoints.Pretraining`
                                    provenance, and in ``metadata`` the run's corpus, objective,
                                    training and held-out figures; written last
    encoder/config.json             LongBERT's encoder config (max_position_embeddings = the trained table)
    encoder/model.safetensors       the encoder as LongBERT saves it: trained positions, and in long
                                    mode the trained *_global projections
    encoder/tokenizer.json ...      the source encoder's tokenizer
    encoder/mlm_head.safetensors    the trained MLM head (cls.predictions.*): continue pre-training

Every weight file is written under a temporary name and renamed, and the manifest last (through
:func:`~longbert.checkpoints.save_encoder_checkpoint`), so a folder with a manifest is complete.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import save_file

from longbert.checkpoints import (
    MANIFEST,
    Manifest,
    Pretraining,
    is_checkpoint,
    read_manifest,
    save_encoder_checkpoint,
)
from longbert.errors import CheckpointError
from longbert.modeling.long_bert_io import GLOBAL_PROJECTIONS
from longbert.pretraining.errors import PretrainError
from longbert.pretraining.model import HEAD_FILE, LongBertForMaskedLM
from longbert.pretraining.state import last_folder

if TYPE_CHECKING:
    from longbert.pretraining.config import PretrainConfig
    from longbert.pretraining.corpus import Corpus
    from longbert.pretraining.state import PretrainState
    from longbert.pretraining.steps import RunParts

#: The encoder checkpoint's manifest file (the one every checkpoint kind has).
ENCODER_MANIFEST = MANIFEST
#: ``Pretraining.objective`` by masking unit.
OBJECTIVES = {"token": "mlm", "word": "mlm-whole-word", "span": "mlm-span"}


def read_encoder_manifest(folder: str | Path) -> Manifest:
    """The manifest of a pre-trained encoder folder; :class:`PretrainError` when it is unreadable
    or not an encoder checkpoint."""
    try:
        manifest = read_manifest(Path(folder))
    except CheckpointError as error:
        raise PretrainError(str(error)) from error
    if manifest.kind != "encoder" or manifest.pretraining is None:
        raise PretrainError(
            f"'{folder}' is not a pre-trained encoder (its manifest's kind is {manifest.kind!r})."
        )
    return manifest


def _atomic_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    partial = path.with_name(path.name + ".partial")
    save_file(
        {k: v.detach().contiguous().cpu() for k, v in tensors.items()},
        str(partial),
        metadata={"format": "pt"},
    )
    partial.replace(path)


def save_encoder(
    model: LongBertForMaskedLM,
    tokenizer: Any,
    folder: Path,
    manifest: Manifest,
    refresh_globals: Collection[tuple[int, str]] = (),
    attention_window: int = 0,
) -> Path:
    """Write the encoder checkpoint described in the module docstring; returns ``folder``.

    ``refresh_globals``: the ``(layer, projection)`` pairs whose ``*_global`` projection was an
    untrained copy of the local one when the run started (``copied_global_projections`` of
    :mod:`~longbert.pretraining.model`) and that dense training did not read: set to copies of the
    *trained* local projections, as a warm start from BERT would make them. Trained ones (from a
    long-mode source) are kept as they are.
    ``attention_window``: the window long mode trained with, saved in the config so the sparse
    strategy reads with it (0: the encoder's own).
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)
    encoder = model.encoder
    with torch.no_grad():
        for index, target in sorted(refresh_globals):
            attention = encoder.encoder.layer[index].attention.self
            trained = getattr(attention, GLOBAL_PROJECTIONS[target]).state_dict()
            getattr(attention, target).load_state_dict(trained)
    if attention_window:
        encoder.config.attention_window = attention_window
    (folder / "encoder").mkdir(exist_ok=True)
    _atomic_tensors(folder / "encoder" / HEAD_FILE, model.head.head_state())
    return save_encoder_checkpoint(folder, encoder, tokenizer, manifest)


def run_manifest(
    config: PretrainConfig,
    corpus: Corpus,
    parts: RunParts,
    state: PretrainState,
    *,
    world_size: int,
    stopped_by_time: bool,
) -> Manifest:
    """The manifest of a finished run: kind ``encoder`` with its :class:`Pretraining`
    provenance; the run's details in ``metadata`` (``corpus``, ``objective``, ``training``,
    ``heldout``). ``training.encoder_steps`` counts the steps that trained the encoder (after the
    head warm-up): 0 means its weights are the source's, and ``training.encoder_trained`` says so."""
    data, dtype = parts.data, parts.dtype
    attention_window = config.attention_window or parts.model.encoder.config.attention_window
    encoder_steps = encoder_steps_of(state.global_step, parts.head_steps)
    spec = config.masking_spec()
    metadata: dict[str, Any] = dict(
        corpus={
            "documents": data.documents,
            "tokens": data.tokens,
            "sha256": corpus.sha256,
            "heldout_documents": data.heldout_documents,
            "training_tokens": data.training_tokens,
            "heldout_tokens": data.heldout_tokens,
            "heldout_split": "tokens" if data.heldout_cut else "documents",
            "training_sequences": len(data.train),
            "duplicates_dropped": corpus.duplicates,
            "skipped": len(corpus.skipped),
            "sources": corpus.sources,
        },
        objective={
            "objective": "mlm",
            "masking": spec.unit,
            "mask_rate": spec.rate,
            "mask_share": spec.mask_share,
            "random_share": spec.random_share,
            **({"span_p": spec.span_p, "max_span": spec.max_span} if spec.unit == "span" else {}),
            "dynamic_masking": True,
            "next_sentence_prediction": False,
            "mode": "long" if config.long else "dense",
            "strategy": config.strategy,
            "max_tokens": config.content_tokens,
            "attention_window": attention_window,
            "global_sentences": config.global_sentences if config.long else False,
            "global_masked_share": config.global_masked_share if config.long else 0.0,
        },
        training={
            "steps": state.global_step,
            "total_steps": parts.total,
            "head_warmup_steps": parts.head_steps,
            "encoder_steps": encoder_steps,
            "encoder_trained": encoder_steps > 0,
            "checkpoint_mlm_head": parts.has_head,
            "batch_size": config.micro_batch,
            "gradient_accumulation": config.gradient_accumulation,
            "world_size": world_size,
            "learning_rate": config.learning_rate,
            "head_learning_rate": config.head_learning_rate,
            "epochs_started": state.epoch + 1,
            "tokens_seen": state.tokens_seen,
            "train_seconds": round(state.train_seconds, 1),
            "stopped_by_time_budget": stopped_by_time,
            "seed": config.seed,
            "precision": str(dtype).removeprefix("torch.") if dtype else "fp32",
            "run_id": state.run_id,
        },
        heldout=state.heldout,
    )
    return Manifest(
        kind="encoder",
        name=config.name,
        encoder=config.encoder,
        metadata=metadata,
        pretraining=Pretraining(
            source_encoder=config.encoder,
            objective=OBJECTIVES.get(spec.unit, f"mlm-{spec.unit}"),
            steps=state.global_step,
            corpus_documents=data.documents,
            corpus_sha256=corpus.sha256,
            final_mlm_loss=state.last_loss,
        ),
    )


def encoder_steps_of(steps: int, head_steps: int) -> int:
    """Optimiser steps that trained the encoder: those after the head warm-up."""
    return max(0, steps - head_steps)


def check_output_folder(folder: Path, *, overwrite: bool, how_to_replace: str, another_name: str) -> None:
    """Refuse to write a new encoder into ``folder`` when that could lose something saved: any
    LongBERT checkpoint that is not an encoder (a trained model; never replaced, even with
    ``overwrite``), or an encoder or interrupted run (unless ``overwrite``). The one check behind
    ``python -m longbert.pretrain`` and the app's Adapt page; the two pass their own wording."""
    if is_checkpoint(folder) and _kind(folder) != "encoder":
        raise PretrainError(
            f"'{folder}' holds a LongBERT {_kind(folder) or 'checkpoint'} that is not an encoder; "
            f"pre-training does not replace it: {another_name}."
        )
    if ((folder / ENCODER_MANIFEST).exists() or last_folder(folder)) and not overwrite:
        raise PretrainError(f"'{folder}' already holds an encoder or an interrupted run. {how_to_replace}")


def _kind(folder: Path) -> str | None:
    """The checkpoint kind ``folder``'s manifest names; None when it is unreadable."""
    try:
        return read_manifest(folder).kind
    except CheckpointError:
        return None
