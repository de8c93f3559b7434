"""The LongBERT classifier: encoder → (chunk pooling) → [CLS] head, and the one forward path.

:meth:`DocumentClassifier.forward` is the only way model inputs become logits: prediction
(:mod:`longbert.inference`), scoring during training, training itself -- and next pre-training,
explanations and compression -- call it (directly, or through :meth:`~DocumentClassifier.infer`
for no-gradient runs in the configured precision). It runs the encoder over the rows in slices
when asked, so one document with hundreds of windows never makes a huge pass.

Model settings live with the model: the pooling method in the pooling module's config, the
sparse attention window in the encoder's config. A call may override either (``pooling=``,
``attention_window=``); nothing is taken from the strategy.

Around the model: :mod:`longbert.classifier_outputs` holds what the forward path returns,
:mod:`longbert.classifier_inference` runs it for inference (device, precision policy,
:meth:`~longbert.classifier_inference.ClassifierInferenceMixin.infer`, ``predict``), and
:mod:`longbert.classifier_io` reads and writes checkpoint folders.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from longbert.classifier_inference import ClassifierInferenceMixin
from longbert.classifier_io import ClassifierIOMixin
from longbert.classifier_outputs import ClassifierOutput, WindowEncoding, concat_rows
from longbert.devices import DeviceError, DeviceLike, resolve_device
from longbert.document import Document, as_document
from longbert.encoder_source import load_tokenizer
from longbert.inputs import ModelInputs, collate, prepare
from longbert.modeling.long_bert import LongBertModel
from longbert.modeling.modules import ChunkPooling, ClsHead
from longbert.settings import DEFAULT_ENCODER
from longbert.strategies import Selection, Strategy, StrategySpec, parse_strategy

__all__ = ["ClassifierOutput", "DocumentClassifier", "LongBertClassifier", "WindowEncoding"]


class DocumentClassifier(ClassifierInferenceMixin):
    """What every LongBERT classifier shares: tokenizer, strategy, inputs, the forward path
    (inference and ``predict`` from :class:`~longbert.classifier_inference.ClassifierInferenceMixin`).

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
            concat_rows([p.vectors for p in passes]),
            inputs,
            pooling=pooling,
            output_window_logits=output_window_logits,
        )
        out.cls_attention = concat_rows([p.cls_attention for p in passes])
        out.attentions = concat_rows([p.attentions for p in passes])
        return out


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
