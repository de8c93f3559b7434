"""A classifier's checkpoint folder: writing it and reading it back.

A classifier checkpoint is a folder::

    longbert.json      the manifest (see :mod:`longbert.checkpoints`): kind, labels, encoder
                       source, strategy + params, metrics, format version
    encoder/           config.json (incl. the sparse attention window) + model.safetensors +
                       tokenizer files (LongBertModel)
    pooling/           config.json (incl. the pooling method) + model.safetensors (ChunkPooling)
    head/              config.json + model.safetensors (ClsHead)

Loading never unpickles: JSON and safetensors only, and places the model on
:func:`~longbert.devices.resolve_device`'s device (``device=`` argument, else ``LONGBERT_DEVICE``,
else CUDA when there is a GPU, else the CPU).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Self

import torch
from transformers import AutoTokenizer, BertConfig

from longbert.checkpoints import (
    Manifest,
    read_manifest,
    resolve_checkpoint,
    trim_saved_positions,
    write_manifest,
)
from longbert.devices import DeviceLike, resolve_device
from longbert.encoder_source import check_tokenizer, tokenizer_files_problem
from longbert.errors import CheckpointError, StrategyConfigError
from longbert.modeling.long_bert import LongBertModel
from longbert.modeling.modules import ChunkPooling, ClsHead
from longbert.strategies import get_strategy


class ClassifierIOMixin:
    """``save_pretrained`` / ``from_pretrained`` for :class:`~longbert.classifier.LongBertClassifier`."""

    def save_pretrained(self, folder: str | os.PathLike[str], **metadata: Any) -> Path:
        """Write the checkpoint folder; ``metadata`` (metrics, training config...) goes in the manifest."""
        model: Any = self  # a LongBertClassifier (this module must not import it: no cycle)
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        model.metadata.update(metadata)
        model.encoder.save_pretrained(path / "encoder")
        keep = self._positions_to_save()
        if keep is not None:
            trim_saved_positions(path / "encoder", keep)
        model.tokenizer.save_pretrained(str(path / "encoder"))
        model.pooling.save(path / "pooling")
        model.head.save(path / "head")
        manifest = Manifest(
            kind="classifier",
            name=model.name,
            encoder=model.encoder_source,
            labels=tuple(model.labels),
            multi_label=model.multi_label,
            strategy=model.strategy.config(),
            metadata=model.metadata,
        )
        # Written last, atomically: a folder without a manifest is never mistaken for a checkpoint.
        write_manifest(path, manifest)
        return path

    def _positions_to_save(self) -> int | None:
        """Rows of the position table a checkpoint keeps, or None to keep them all.

        A ``predict`` override (sparse, longer than this classifier's own strategy) grows the
        table in memory; those rows are exact tiled copies of the learned ones, rebuilt on demand,
        so the checkpoint keeps its own size. Rows that training changed are real weights: kept.
        """
        model: Any = self  # a LongBertClassifier (this module must not import it: no cycle)
        table = model.encoder.embeddings.position_embeddings.weight.detach()
        keep = max(model._own_positions, model.positions_needed(model.strategy))
        if table.shape[0] <= keep:
            return None
        original = min(model.encoder.config.original_max_position_embeddings, keep)
        tiled = table[torch.arange(keep, table.shape[0], device=table.device) % original]
        return keep if torch.equal(table[keep:], tiled) else None

    @classmethod
    def from_pretrained(
        cls,
        folder: str | os.PathLike[str],
        *,
        device: DeviceLike | None = None,
        precision: str | None = "fp32",
    ) -> Self:
        """Load a classifier checkpoint folder (or a name under ``models/``); CheckpointError if
        unusable (a ``zero-shot-prior`` checkpoint too: :func:`longbert.load_classifier` loads
        every architecture). Format-1 checkpoints (model settings in the strategy's params)
        predict exactly as they did. The model is placed on
        ``device`` (default: ``LONGBERT_DEVICE``, else CUDA when available, else the CPU) and left
        in eval mode.

        ``precision``: the dtype its encoder's weights are held in, chosen by
        :func:`~longbert.devices.weights_dtype` (``fp32``, the default here: weights as saved,
        ready to train; ``auto``/``bf16``/``fp16`` or None for ``LONGBERT_PRECISION``: cast once
        for inference, see :meth:`~longbert.classifier_inference.ClassifierInferenceMixin.hold_weights_in`).
        """
        target = resolve_device(device)
        path = resolve_checkpoint(folder)
        manifest = read_manifest(path)
        if manifest.kind == "classifier" and manifest.architecture != "cls-head":
            # Its class builds on this one's: longbert.load_classifier picks it (no import cycle).
            raise CheckpointError(
                f"Checkpoint '{path}' holds a {manifest.architecture} model: load it with "
                "longbert.load_classifier."
            )
        if manifest.kind != "classifier":
            raise CheckpointError(
                f"Checkpoint '{path}' holds an {manifest.kind}, not a classifier: train a classifier "
                f"from it with `python -m longbert.train --encoder {path} ...`."
            )
        encoder_dir = path / "encoder"
        if encoder_dir.is_dir() and (problem := tokenizer_files_problem(encoder_dir)):
            raise CheckpointError(
                f"Checkpoint '{path}': folder '{encoder_dir}' is unusable: {problem}. Copy them "
                f"from the encoder it was trained from ('{manifest.encoder}')."
            )
        encoder = LongBertModel.from_pretrained(encoder_dir)
        try:
            # The folder's config.json is LongBERT's own, which transformers does not know; say the
            # encoder is BERT so AutoTokenizer skips that lookup (and its warning) and still honours
            # the tokenizer_class saved in tokenizer_config.json.
            tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir), config=BertConfig())
        except Exception as error:  # a corrupt tokenizer.json raises JSON or Rust-side errors
            raise CheckpointError(
                f"Checkpoint '{path}': the tokenizer in '{encoder_dir}' could not be read "
                f"({type(error).__name__}: {error})."
            ) from error
        check_tokenizer(
            tokenizer, encoder.config.vocab_size, f"Checkpoint folder '{encoder_dir}'", CheckpointError
        )
        head = ClsHead.load(path / "head")
        pooling = ChunkPooling.load(path / "pooling")
        labels = list(manifest.labels)
        if head.num_labels != len(labels):
            raise CheckpointError(
                f"Checkpoint '{path}' is inconsistent: {len(labels)} labels but the head "
                f"has {head.num_labels} outputs."
            )
        width = encoder.config.hidden_size
        if head.hidden_size != width or pooling.hidden_size != width:
            raise CheckpointError(
                f"Checkpoint '{path}' is inconsistent: the encoder is {width} wide, the head "
                f"{head.hidden_size} and the pooling {pooling.hidden_size}."
            )
        try:
            get_strategy(manifest.strategy or {})  # checked here, so the error names the checkpoint
            classifier = cls(
                encoder,  # type: ignore[call-arg]
                tokenizer,
                labels,
                manifest.strategy,  # format 1: its pooling / attention window become the model's
                multi_label=manifest.multi_label,
                encoder_source=manifest.encoder or "unknown",
                name=manifest.name or path.name,
                metadata=manifest.metadata,
                head=head,
                pooling=pooling,
            )
        except StrategyConfigError as error:
            raise CheckpointError(f"Checkpoint '{path}' has an invalid strategy: {error}") from error
        except ValueError as error:  # duplicate labels, one label for single-label
            raise CheckpointError(f"Checkpoint '{path}' has invalid labels: {error}") from error
        classifier.eval()  # type: ignore[attr-defined]
        classifier.to_device(target)  # type: ignore[attr-defined]
        if manifest.compression is not None:  # after placing: how it applies depends on the device
            from longbert.compression import apply_compression

            apply_compression(classifier, manifest.compression, path)  # type: ignore[arg-type]
        classifier.hold_weights_in(precision)  # type: ignore[attr-defined]
        return classifier
