"""The LongBERT classifier: encoder → (chunk pooling) → [CLS] head, plus its checkpoint format.

A checkpoint is a folder::

    longbert.json      labels, encoder source, strategy + params, metrics, format version
    encoder/           config.json + model.safetensors + tokenizer files (LongBertModel)
    pooling/           config.json + model.safetensors (ChunkPooling)
    head/              config.json + model.safetensors (ClsHead)

It knows its strategy, so ``predict`` preprocesses exactly as training did. Loading never
unpickles: JSON and safetensors only, and places the model on :func:`resolve_device`'s device
(``device=`` argument, else ``LONGBERT_DEVICE``, else CUDA when there is a GPU, else the CPU).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoTokenizer, BertConfig, PreTrainedTokenizerBase

from longbert.batching import ModelBatch, collate
from longbert.config import DEFAULT_ENCODER
from longbert.document import Document, as_document
from longbert.encoder import check_tokenizer, load_tokenizer, tokenizer_files_problem
from longbert.errors import CheckpointError, StrategyConfigError
from longbert.loading import (
    CHECKPOINT_FORMAT,
    MANIFEST,
    DeviceError,
    DeviceLike,
    read_manifest,
    resolve_checkpoint,
    resolve_device,
    trim_saved_positions,
)
from longbert.modeling.long_bert import LongBertModel
from longbert.modeling.modules import ChunkPooling, ClsHead
from longbert.results import PredictionResult
from longbert.strategies import Encoded, Strategy, get_strategy
from longbert.tokenization import tokenize_document

__all__ = [
    "CHECKPOINT_FORMAT",
    "MANIFEST",
    "ClassifierOutput",
    "DeviceError",
    "DocumentClassifier",
    "LongBertClassifier",
    "resolve_checkpoint",
    "resolve_device",
]

@dataclass
class ClassifierOutput:
    """Forward pass results for ``B`` documents over ``W`` windows of ``T`` tokens.

    ``logits`` ``[B, L]``; ``window_logits`` ``[W, L]`` (head applied to each window's [CLS],
    chunks mode only, when asked); ``window_weights`` ``[W]`` pooling weights (1 per document
    outside chunks mode); ``cls_attention`` ``[W, T]`` the last layer's [CLS] row averaged over
    heads, when asked; ``attentions`` per layer ``[W, heads, T, T]`` (dense windows only).
    """

    logits: torch.Tensor
    window_weights: torch.Tensor
    window_logits: torch.Tensor | None = None
    cls_attention: torch.Tensor | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class DocumentClassifier(nn.Module):
    """What every LongBERT classifier shares: tokenizer, strategy, batching, encoder, predict.

    Subclasses decide what a window's vector is (:meth:`encode_windows`) and how window vectors
    become label logits (:meth:`classify_windows`); :mod:`longbert.inference` drives them.
    """

    encoder: LongBertModel
    tokenizer: PreTrainedTokenizerBase
    labels: list[str]
    multi_label: bool
    name: str
    strategy: Strategy
    zero_shot: bool = False
    #: Window vectors read only the last layer's [CLS] state (False when they pool every token).
    reads_cls_only: bool = True

    @staticmethod
    def _positions_for(strategy: Strategy) -> int:
        """Position-table rows ``strategy`` needs (0: the BERT table is enough)."""
        return int(strategy.params["max_tokens"]) + 2 if strategy.mode == "long" else 0

    def _prepare_for(self, strategy: Strategy) -> None:
        """Make sure the encoder can read what ``strategy`` produces (position table length).

        The table only ever grows, so predictions running in other threads on the same model
        (the app shares one per server) never see it shrink under them; rows grown for a
        ``predict`` override are left out of saved checkpoints (see ``save_pretrained``).
        """
        needed = self._positions_for(strategy)
        if needed:
            self.encoder.extend_positions(needed)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def to_device(self, device: DeviceLike | None = None) -> DocumentClassifier:
        """Move to ``device`` (default :func:`resolve_device`'s choice); returns ``self``."""
        target = resolve_device(device)
        try:
            self.to(target)
        except (RuntimeError, AssertionError) as error:  # torch asserts when CUDA is missing
            raise DeviceError(f"Could not move the model to {target}: {error}") from error
        return self

    def encode(self, documents: Sequence[str | Document], strategy: Strategy | None = None) -> list[Encoded]:
        """Tokenise and apply the strategy (the classifier's own unless one is given)."""
        strategy = strategy or self.strategy
        return [strategy.encode(tokenize_document(as_document(d), self.tokenizer)) for d in documents]

    def collate(
        self,
        encoded: list[Encoded],
        strategy: Strategy | None = None,
        labels: torch.Tensor | None = None,
    ) -> ModelBatch:
        """Pad encoded documents into model inputs for this classifier's tokenizer."""
        strategy = strategy or self.strategy
        return collate(
            encoded,
            cls_id=self.tokenizer.cls_token_id,
            sep_id=self.tokenizer.sep_token_id,
            pad_id=self.tokenizer.pad_token_id,
            attention_window=strategy.params.get("attention_window"),
            pooling=strategy.params.get("pooling", "mean"),
            labels=labels,
        )

    def encode_windows(
        self, batch: ModelBatch, *, output_cls_attention: bool = False, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...] | None]:
        """Run the encoder: ``([W, H] window vectors, [W, T] CLS attention, per-layer maps)``.

        A window's vector is its [CLS] hidden state (see :meth:`window_vectors`); unless full
        maps are asked for, the last layer then computes the [CLS] position alone.
        """
        out = self.encoder(
            batch.input_ids,
            attention_mask=batch.attention_mask,
            global_attention_mask=batch.global_attention_mask,
            sparse=batch.mode == "long",
            attention_window=batch.attention_window,
            output_cls_attention=output_cls_attention,
            output_attentions=output_attentions,
            cls_only=self.reads_cls_only and not output_attentions,
        )
        return self.window_vectors(out.last_hidden_state, batch), out.cls_attention, out.attentions

    def window_vectors(self, hidden: torch.Tensor, batch: ModelBatch) -> torch.Tensor:
        """``[W, T, H]`` last hidden states → ``[W, H]``: the [CLS] vector of each window."""
        return hidden[:, 0]

    def classify_windows(
        self, window_vectors: torch.Tensor, batch: ModelBatch, *, output_window_logits: bool = False
    ) -> ClassifierOutput:
        raise NotImplementedError

    def forward(
        self,
        batch: ModelBatch,
        *,
        output_cls_attention: bool = False,
        output_attentions: bool = False,
        output_window_logits: bool = False,
    ) -> ClassifierOutput:
        cls_vectors, cls_attention, attentions = self.encode_windows(
            batch, output_cls_attention=output_cls_attention, output_attentions=output_attentions
        )
        out = self.classify_windows(cls_vectors, batch, output_window_logits=output_window_logits)
        out.cls_attention, out.attentions = cls_attention, attentions
        return out

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax (single-label) or sigmoid (multi-label) in float32."""
        logits = logits.float()
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)

    def predict(self, items: Sequence[str | Document], **kwargs: Any) -> list[PredictionResult]:
        """Classify texts or documents; see :func:`longbert.inference.predict` for options."""
        from longbert.inference import predict

        return predict(self, items, **kwargs)


class LongBertClassifier(DocumentClassifier):
    """A BERT [CLS] classifier for long documents.

    Build a fresh one with :meth:`from_encoder`, load a trained one with :meth:`from_pretrained`.
    ``predict`` (see :mod:`longbert.inference`) classifies texts or documents.
    """

    def __init__(
        self,
        encoder: LongBertModel,
        tokenizer: PreTrainedTokenizerBase,
        labels: Sequence[str],
        strategy: Strategy | dict[str, Any] | str,
        *,
        multi_label: bool = False,
        dropout: float = 0.1,
        encoder_source: str = DEFAULT_ENCODER,
        name: str = "untrained",
        metadata: dict[str, Any] | None = None,
        head: ClsHead | None = None,
        pooling: ChunkPooling | None = None,
    ) -> None:
        super().__init__()
        labels = [str(label) for label in labels]
        if len(labels) < 1 or len(set(labels)) != len(labels):
            raise ValueError(f"labels must be distinct and non-empty, got {labels}")
        if not multi_label and len(labels) < 2:
            raise ValueError("a single-label classifier needs at least two labels")
        hidden = encoder.config.hidden_size
        self.encoder = encoder
        self.pooling = pooling or ChunkPooling(hidden)
        self.head = head or ClsHead(hidden, len(labels), dropout)
        self.tokenizer = tokenizer
        self.labels = labels
        self.multi_label = multi_label
        self.encoder_source = encoder_source
        self.name = name
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.strategy = get_strategy(strategy)
        self._prepare_for(self.strategy)
        #: Rows of the position table that belong to the checkpoint (see save_pretrained).
        self._own_positions = int(self.encoder.embeddings.position_embeddings.num_embeddings)

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def from_encoder(
        cls,
        encoder: str | os.PathLike[str] | None = None,
        labels: Sequence[str] = ("negative", "positive"),
        strategy: Strategy | dict[str, Any] | str = "truncate",
        *,
        multi_label: bool = False,
        dropout: float = 0.1,
        name: str = "untrained",
        device: DeviceLike | None = None,
    ) -> LongBertClassifier:
        """A new classifier warm-started from any BERT checkpoint (default: the packaged one).

        It is placed on ``device`` (default: ``LONGBERT_DEVICE``, else CUDA when available).
        """
        target = resolve_device(device)
        source = str(encoder) if encoder is not None else DEFAULT_ENCODER
        tokenizer = load_tokenizer(source)  # first: a folder without a tokenizer fails before the weights
        model = LongBertModel.from_bert(source)
        classifier = cls(
            model,
            tokenizer,
            labels,
            strategy,
            multi_label=multi_label,
            dropout=dropout,
            encoder_source=source,
            name=name,
        )
        classifier.head.init_pooler(getattr(model, "bert_pooler_state", None))
        classifier.to_device(target)
        return classifier

    # -- checkpoints ------------------------------------------------------------------------

    def save_pretrained(self, folder: str | os.PathLike[str], **metadata: Any) -> Path:
        """Write the checkpoint folder; ``metadata`` (metrics, training config...) goes in the manifest."""
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        self.metadata.update(metadata)
        self.encoder.save_pretrained(path / "encoder")
        keep = self._positions_to_save()
        if keep is not None:
            trim_saved_positions(path / "encoder", keep)
        self.tokenizer.save_pretrained(str(path / "encoder"))
        self.pooling.save(path / "pooling")
        self.head.save(path / "head")
        manifest = {
            "format": CHECKPOINT_FORMAT,
            "name": self.name,
            "labels": self.labels,
            "multi_label": self.multi_label,
            "encoder": self.encoder_source,
            "strategy": self.strategy.config(),
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "metadata": self.metadata,
        }
        # Written last, atomically: a folder without a manifest is never mistaken for a checkpoint.
        tmp = path / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, default=str))
        tmp.replace(path / MANIFEST)
        return path

    def _positions_to_save(self) -> int | None:
        """Rows of the position table a checkpoint keeps, or None to keep them all.

        A ``predict`` override (sparse, longer than this classifier's own strategy) grows the
        table in memory; those rows are exact tiled copies of the learned ones, rebuilt on demand,
        so the checkpoint keeps its own size. Rows that training changed are real weights: kept.
        """
        table = self.encoder.embeddings.position_embeddings.weight.detach()
        keep = max(self._own_positions, self._positions_for(self.strategy))
        if table.shape[0] <= keep:
            return None
        original = min(self.encoder.config.original_max_position_embeddings, keep)
        tiled = table[torch.arange(keep, table.shape[0], device=table.device) % original]
        return keep if torch.equal(table[keep:], tiled) else None

    @classmethod
    def from_pretrained(
        cls, folder: str | os.PathLike[str], *, device: DeviceLike | None = None
    ) -> LongBertClassifier:
        """Load a checkpoint folder (or a name under ``models/``); CheckpointError if unusable.

        The model is placed on ``device`` (default: ``LONGBERT_DEVICE``, else CUDA when
        available, else the CPU) and left in eval mode.
        """
        target = resolve_device(device)
        path = resolve_checkpoint(folder)
        manifest = read_manifest(path)
        encoder_dir = path / "encoder"
        if encoder_dir.is_dir() and (problem := tokenizer_files_problem(encoder_dir)):
            raise CheckpointError(
                f"Checkpoint '{path}': folder '{encoder_dir}' is unusable: {problem}. Copy them "
                f"from the encoder it was trained from ('{manifest['encoder']}')."
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
        labels = manifest["labels"]
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
            strategy = get_strategy(manifest["strategy"])
        except StrategyConfigError as error:
            raise CheckpointError(f"Checkpoint '{path}' has an invalid strategy: {error}") from error
        try:
            classifier = cls(
                encoder,
                tokenizer,
                labels,
                strategy,
                multi_label=manifest["multi_label"],
                encoder_source=str(manifest["encoder"]),
                name=str(manifest.get("name") or path.name),
                metadata=manifest["metadata"],
                head=head,
                pooling=pooling,
            )
        except ValueError as error:  # duplicate labels, one label for single-label
            raise CheckpointError(f"Checkpoint '{path}' has invalid labels: {error}") from error
        classifier.eval()
        classifier.to_device(target)
        return classifier

    def classify_windows(
        self, cls_vectors: torch.Tensor, batch: ModelBatch, *, output_window_logits: bool = False
    ) -> ClassifierOutput:
        """Pool windows (chunks mode) and apply the head: ``[W, H]`` → ClassifierOutput."""
        if batch.mode == "chunks":
            doc_vectors, weights = self.pooling(cls_vectors, batch.window_doc, batch.num_docs, batch.pooling)
        else:
            doc_vectors = cls_vectors
            weights = torch.ones(cls_vectors.shape[0], device=cls_vectors.device)
        logits = self.head(doc_vectors)
        window_logits = self.head(cls_vectors) if output_window_logits and batch.mode == "chunks" else None
        return ClassifierOutput(logits=logits, window_weights=weights, window_logits=window_logits)
