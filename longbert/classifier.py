"""The LongBERT classifier: encoder → (chunk pooling) → [CLS] head, and the one forward path.

:meth:`DocumentClassifier.forward` is the only way model inputs become logits: prediction
(:mod:`longbert.inference`), scoring during training, training itself -- and next pre-training,
explanations and compression -- call it (directly, or through :meth:`~DocumentClassifier.infer`
for no-gradient runs in the configured precision). It runs the encoder over the rows in slices
when asked, so one document with hundreds of windows never makes a huge pass.

Model settings live with the model: the pooling method in the pooling module's config, the
sparse attention window in the encoder's config. A call may override either (``pooling=``,
``attention_window=``); nothing is taken from the strategy. Checkpoint folders are read and
written by :mod:`longbert.classifier_io`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from longbert import inference
from longbert.classifier_io import ClassifierIOMixin
from longbert.devices import (
    DeviceError,
    DeviceLike,
    autocast,
    precision_dtype,
    resolve_device,
    weights_dtype,
)
from longbert.document import Document, as_document
from longbert.encoder_source import load_tokenizer
from longbert.exit_threshold import check_exit_threshold
from longbert.inputs import ModelInputs, collate, prepare
from longbert.modeling.long_bert import LongBertModel
from longbert.modeling.modules import ChunkPooling, ClsHead
from longbert.results import PredictionResult
from longbert.settings import DEFAULT_ENCODER
from longbert.strategies import Selection, Strategy, StrategySpec, parse_strategy

__all__ = ["ClassifierOutput", "DocumentClassifier", "LongBertClassifier", "WindowEncoding"]


@dataclass
class WindowEncoding:
    """What the encoder gives for ``W`` rows of ``T`` tokens: ``vectors`` ``[W, H]`` (one per
    window), ``cls_attention`` ``[W, T]`` (last layer's [CLS] row, mean over heads) when asked,
    ``attentions`` per layer ``[W, heads, T, T]`` (dense windows only) when asked,
    ``hidden_states`` (the embeddings' output then each layer's, ``[W, T, H]``) when asked."""

    vectors: torch.Tensor
    cls_attention: torch.Tensor | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


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


def _concat(parts: list[Any]) -> Any:
    """Rows of several passes back together (tensors, tuples of per-layer tensors, or None)."""
    if parts[0] is None:
        return None
    if isinstance(parts[0], tuple):
        return tuple(torch.cat(layer) for layer in zip(*parts, strict=True))
    return parts[0] if len(parts) == 1 else torch.cat(parts)


class DocumentClassifier(nn.Module):
    """What every LongBERT classifier shares: tokenizer, strategy, inputs, the forward path, predict.

    Subclasses decide what a window's vector is (:meth:`window_vectors`) and how window vectors
    become label logits (:meth:`classify_windows`).
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
    def positions_needed(strategy: Strategy) -> int:
        """Position-table rows ``strategy`` needs (0: the BERT table is enough)."""
        return int(strategy.params["max_tokens"]) + 2 if strategy.mode == "long" else 0

    def fit_positions(self, strategy: Strategy) -> None:
        """Make sure the encoder can read what ``strategy`` produces (position table length).

        The table only ever grows, so predictions running in other threads on the same model
        (the app shares one per server) never see it shrink under them; rows grown for a
        ``predict`` override are left out of saved checkpoints (see ``save_pretrained``).
        """
        needed = self.positions_needed(strategy)
        if needed:
            self.encoder.extend_positions(needed)

    def read_with(self, strategy: Strategy) -> None:
        """Read with ``strategy`` from now on (calls that name none), growing the position table
        when it reads further than the checkpoint's. ``compress --strategy-param`` uses it so the
        exits and students it builds learn the reading the new checkpoint will keep."""
        self.strategy = strategy
        self.fit_positions(strategy)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def pooling_method(self) -> str:
        """How this model pools a document's windows unless a call says otherwise."""
        return "mean"

    @property
    def attention_window(self) -> int:
        """The sparse mode's one-side window unless a call says otherwise (the encoder's config)."""
        return int(self.encoder.config.attention_window)

    def to_device(self, device: DeviceLike | None = None) -> DocumentClassifier:
        """Move to ``device`` (default :func:`resolve_device`'s choice); returns ``self``."""
        target = resolve_device(device)
        try:
            self.to(target)
        except (RuntimeError, AssertionError) as error:  # torch asserts when CUDA is missing
            raise DeviceError(f"Could not move the model to {target}: {error}") from error
        return self

    # -- document → model inputs -------------------------------------------------------------

    def prepare(
        self, documents: Sequence[str | Document], strategy: Strategy | None = None
    ) -> list[Selection]:
        """What the model reads of each document (the classifier's strategy unless one is given)."""
        chosen = strategy or self.strategy
        return [prepare(as_document(d), self.tokenizer, chosen) for d in documents]

    def collate(self, selections: list[Selection], labels: torch.Tensor | None = None) -> ModelInputs:
        """Pad selections into model inputs for this classifier's tokenizer."""
        return collate(selections, self.tokenizer, labels=labels)

    # -- the forward path --------------------------------------------------------------------

    def run_encoder(
        self,
        inputs: ModelInputs,
        *,
        attention_window: int | None = None,
        output_cls_attention: bool = False,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> WindowEncoding:
        """Run the encoder over every row of ``inputs``: one vector per window (see
        :meth:`window_vectors`); unless full maps or every layer's states are asked for, the
        last layer then computes the [CLS] position alone."""
        out = self.encoder(
            inputs.input_ids,
            attention_mask=inputs.attention_mask,
            global_attention_mask=inputs.global_attention_mask,
            inputs_embeds=inputs.inputs_embeds,
            sparse=inputs.mode == "long",
            attention_window=attention_window or self.attention_window,
            output_cls_attention=output_cls_attention,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            cls_only=self.reads_cls_only and not (output_attentions or output_hidden_states),
        )
        vectors = self.window_vectors(out.last_hidden_state, inputs)
        return WindowEncoding(vectors, out.cls_attention, out.attentions, out.hidden_states)

    def window_vectors(self, hidden: torch.Tensor, inputs: ModelInputs) -> torch.Tensor:
        """``[W, T, H]`` last hidden states → ``[W, H]``: the [CLS] vector of each window."""
        return hidden[:, 0]

    def classify_windows(
        self,
        window_vectors: torch.Tensor,
        inputs: ModelInputs,
        *,
        pooling: str | None = None,
        output_window_logits: bool = False,
    ) -> ClassifierOutput:
        """``[W, H]`` window vectors → document logits (``pooling``: this call's override)."""
        raise NotImplementedError

    def forward(
        self,
        inputs: ModelInputs,
        *,
        rows_per_pass: int | None = None,
        pooling: str | None = None,
        attention_window: int | None = None,
        output_cls_attention: bool = False,
        output_attentions: bool = False,
        output_window_logits: bool = False,
    ) -> ClassifierOutput:
        """Model inputs → logits (and what was asked for): encoder, pooling, head.

        ``rows_per_pass``: in chunks mode, run the encoder over at most this many windows at a
        time (other modes run whole: one row per document). ``pooling`` / ``attention_window``:
        this call's override of the model's own settings.
        """
        step = inputs.num_rows
        if rows_per_pass is not None and inputs.mode == "chunks":
            step = max(1, rows_per_pass)
        passes = [
            self.run_encoder(
                inputs if step >= inputs.num_rows else inputs.rows(start, start + step),
                attention_window=attention_window,
                output_cls_attention=output_cls_attention,
                output_attentions=output_attentions,
            )
            for start in range(0, inputs.num_rows, step)
        ]
        out = self.classify_windows(
            _concat([p.vectors for p in passes]),
            inputs,
            pooling=pooling,
            output_window_logits=output_window_logits,
        )
        out.cls_attention = _concat([p.cls_attention for p in passes])
        out.attentions = _concat([p.attentions for p in passes])
        return out

    #: Set when the weights were prepared for inference (cast by :meth:`hold_weights_in`, or
    #: int8-quantized by :mod:`longbert.compression`): :meth:`infer` then runs the model as it
    #: is, never under autocast. None: float32 weights, autocast per the precision policy.
    prepared_dtype: torch.dtype | None = None

    @property
    def weights_dtype(self) -> torch.dtype:
        """The dtype the encoder's weights are held in (float32 unless cast for inference)."""
        return self.encoder.embeddings.word_embeddings.weight.dtype

    def hold_weights_in(self, precision: str | None = None) -> DocumentClassifier:
        """Cast the encoder's weights, once, to the inference dtype of the precision policy on
        this device (:func:`~longbert.devices.weights_dtype`: bf16 on a native-bf16 CPU and on
        CUDA, float32 elsewhere or with ``fp32``); returns ``self``.

        For inference only: a model being trained keeps float32 weights and autocasts. The head
        and the chunk pooling stay float32 (a few thousand weights; probabilities keep their
        digits); the [CLS] attention row stays an exact float32 softmax of the bf16 states.
        """
        if self.prepared_dtype == torch.qint8:  # int8 linear layers take float32 activations
            return self
        # "auto" is the inference policy: LONGBERT_PRECISION when it is set (fp32: exact float32
        # everywhere, as the README promises), else the device's best.
        dtype = weights_dtype(self.device, None if precision == "auto" else precision)
        if dtype != self.weights_dtype:
            self.encoder.to(dtype)
        self.prepared_dtype = dtype if dtype != torch.float32 else None
        return self

    def inference_dtype(self) -> torch.dtype | None:
        """The dtype :meth:`infer` computes in: the weights' own when they were prepared for
        inference (``torch.qint8``: int8 linear layers), else the autocast dtype
        ``LONGBERT_PRECISION`` picks (None: float32)."""
        return self.prepared_dtype or precision_dtype(self.device)

    def autocast_dtype(self) -> torch.dtype | None:
        """The dtype inference autocasts to: none when the weights were prepared for inference
        (bf16 or int8 weights run as they are; int8 layers take float32 activations), else the
        one ``LONGBERT_PRECISION`` picks (None: float32). Every inference pass -- predict,
        explanations, exit calibration, re-scoring -- runs under it."""
        return precision_dtype(self.device) if self.prepared_dtype is None else None

    def infer(self, inputs: ModelInputs, **options: Any) -> ClassifierOutput:
        """:meth:`forward` without gradients, on this model's device, in :meth:`inference_dtype`
        (an early-exit model takes ``exit_threshold=``; None: its stored threshold):
        with weights cast for inference (:meth:`hold_weights_in`) the model runs as it is;
        with float32 weights under autocast in the precision ``LONGBERT_PRECISION`` picks there
        (see :func:`~longbert.devices.precision_dtype`)."""
        device = self.device
        mixed = self.autocast_dtype()
        threshold = check_exit_threshold(options.pop("exit_threshold", None))  # in [0, 1] or None
        with torch.inference_mode(), autocast(device, mixed):
            # Early-exit models (see longbert.compression.early_exit): confident rows stop early.
            if (exits := self._modules.get("early_exit")) is not None:
                from longbert.compression.early_exit import run_with_exits

                limit = exits.threshold if threshold is None else threshold
                out = run_with_exits(self, inputs.to(device), limit, **options)
                if out is not None:
                    return ClassifierOutput(**out)
            return self(inputs.to(device), **options)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax (single-label) or sigmoid (multi-label) in float32."""
        logits = logits.float()
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)

    def predict(self, items: Sequence[str | bytes | Document], **options: Any) -> list[PredictionResult]:
        """Classify texts, file bytes or documents; see :func:`longbert.inference.predict`."""
        return inference.predict(self, items, **options)


class LongBertClassifier(ClassifierIOMixin, DocumentClassifier):
    """A BERT [CLS] classifier for long documents.

    Build a fresh one with :meth:`from_encoder`, load a trained one with :meth:`from_pretrained`.
    ``predict`` (see :mod:`longbert.inference`) classifies texts or documents.
    """

    def __init__(
        self,
        encoder: LongBertModel,
        tokenizer: PreTrainedTokenizerBase,
        labels: Sequence[str],
        strategy: StrategySpec,
        *,
        multi_label: bool = False,
        dropout: float = 0.1,
        encoder_source: str = DEFAULT_ENCODER,
        name: str = "untrained",
        metadata: dict[str, Any] | None = None,
        head: ClsHead | None = None,
        pooling: ChunkPooling | None = None,
    ) -> None:
        """``strategy`` may carry format-1 model settings (chunk's ``pooling``, sparse's
        ``attention_window``): they become this model's settings."""
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
        self.strategy, settings = parse_strategy(strategy)
        self.set_model_settings(**settings)
        self.fit_positions(self.strategy)
        #: Rows of the position table that belong to the checkpoint (see save_pretrained).
        self._own_positions = int(self.encoder.embeddings.position_embeddings.num_embeddings)

    @property
    def pooling_method(self) -> str:
        return self.pooling.method

    def set_model_settings(self, pooling: str | None = None, attention_window: int | None = None) -> None:
        """Change the model's own pooling method and sparse window (None leaves one as is)."""
        if pooling is not None:
            self.pooling.set_method(pooling)
        if attention_window is not None:
            window = attention_window
            if isinstance(window, bool) or not isinstance(window, int) or window < 1:
                raise ValueError(f"attention_window must be a positive int, got {attention_window!r}.")
            self.encoder.config.attention_window = attention_window

    @classmethod
    def from_encoder(
        cls,
        encoder: str | os.PathLike[str] | None = None,
        labels: Sequence[str] = ("negative", "positive"),
        strategy: StrategySpec = "truncate",
        *,
        pooling: str | None = None,
        attention_window: int | None = None,
        multi_label: bool = False,
        dropout: float = 0.1,
        name: str = "untrained",
        device: DeviceLike | None = None,
    ) -> LongBertClassifier:
        """A new classifier warm-started from any BERT checkpoint (default: the packaged one).

        ``pooling`` (``mean``/``max``/``attention``) and ``attention_window`` set the model's
        own settings (None: mean, and the encoder config's window). It is placed on ``device``
        (default: ``LONGBERT_DEVICE``, else CUDA when available).
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
        classifier.set_model_settings(pooling, attention_window)
        classifier.head.init_pooler(getattr(model, "bert_pooler_state", None))
        classifier.to_device(target)
        return classifier

    def classify_windows(
        self,
        window_vectors: torch.Tensor,
        inputs: ModelInputs,
        *,
        pooling: str | None = None,
        output_window_logits: bool = False,
    ) -> ClassifierOutput:
        """Pool windows (chunks mode) and apply the head: ``[W, H]`` → ClassifierOutput."""
        # The head and pooling stay float32 when the encoder's weights are cast for inference.
        window_vectors = window_vectors.to(self.head.classifier.weight.dtype)
        if inputs.mode == "chunks":
            doc_vectors, weights = self.pooling(
                window_vectors, inputs.window_doc, inputs.num_docs, pooling, inputs.window_start
            )
        else:
            doc_vectors = window_vectors
            weights = torch.ones(window_vectors.shape[0], device=window_vectors.device)
        logits = self.head(doc_vectors)
        per_window = output_window_logits and inputs.mode == "chunks"
        window_logits = self.head(window_vectors) if per_window else None
        return ClassifierOutput(logits=logits, window_weights=weights, window_logits=window_logits)
