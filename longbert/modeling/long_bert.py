"""LongBERT encoder: BERT that runs dense (exact BERT) or sparse (Longformer-style) attention.

One set of weights, two attention modes chosen per call:

* ``sparse=False`` — standard BERT self-attention through ``scaled_dot_product_attention``;
  identical to ``transformers.BertModel`` for inputs up to 512 tokens.
* ``sparse=True`` — every token attends to a window of ``w`` tokens each side plus the global
  tokens ([CLS] always, and wherever ``global_attention_mask`` is 1); global tokens attend to
  everything through their own ``query_global``/``key_global``/``value_global`` projections
  (see :mod:`longbert.modeling.sparse_attention`). Cost is linear in length.

Warm start (:meth:`LongBertModel.from_bert`) copies any BERT checkpoint 1:1 (parameter names
mirror ``BertModel``), initialises the global projections as copies of the local ones, and
tiles the 512 learned positions up to the wanted length. Under that initialisation a document
that fits in one window gives the same output in both modes.

Inputs longer than the position table raise :class:`PositionLimitError`; call
:meth:`LongBertModel.extend_positions` first (extension is never silent, because the tiled
positions are only an initialisation that fine-tuning is expected to adapt).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint
from transformers.activations import ACT2FN

from longbert.errors import LongBertError
from longbert.modeling.long_bert_config import LongBertConfig
from longbert.modeling.long_bert_io import LongBertIOMixin
from longbert.modeling.sparse_attention import (
    CHUNK_BYTES,
    SparseLayout,
    additive_mask,
    build_sparse_layout,
    global_attention,
    local_attention,
    scatter_global_rows,
    widen,
)

__all__ = ["LongBertConfig", "LongBertModel", "LongBertOutput", "PositionLimitError"]


class PositionLimitError(LongBertError, ValueError):
    """The input is longer than the model's position table."""


@dataclass
class LongBertOutput:
    """What :meth:`LongBertModel.forward` returns (``B`` batch, ``N`` tokens, ``H`` hidden).

    ``last_hidden_state``: ``[B, N, H]``.
    ``cls_attention``: ``[B, N]`` float32 or None — the last layer's attention of query 0
    ([CLS]) over all keys, mean over heads, computed exactly; 0 on padding keys. Only when
    ``output_cls_attention``.
    ``attentions``: per layer ``[B, heads, N, N]`` or None — dense mode with
    ``output_attentions`` only.
    ``hidden_states``: ``L + 1`` tensors ``[B, N, H]`` or None -- the embeddings' output then
    every layer's, as HF's ``output_hidden_states`` gives them (layer-wise distillation reads
    them). Only when ``output_hidden_states``.

    With ``cls_only`` the last layer runs for the [CLS] query alone and ``last_hidden_state``
    is ``[B, 1, H]``.
    """

    last_hidden_state: Tensor
    cls_attention: Tensor | None = None
    attentions: tuple[Tensor, ...] | None = None
    hidden_states: tuple[Tensor, ...] | None = None


@dataclass
class _Masks:
    """Masks of one forward pass, shared by every layer. Dense: ``key_valid`` ``[B, N]`` only.

    ``padded``: whether any key is padding. Without padding the fused attention runs with no
    mask, its fastest kernel (about 10% faster on the CPU for full 512-token windows).
    """

    key_valid: Tensor
    layout: SparseLayout | None = None
    padded: bool = True
    _bias: dict[torch.dtype, Tensor] = field(default_factory=dict)

    def dense_bias(self, dtype: torch.dtype) -> Tensor:  # [B, 1, 1, N]
        if dtype not in self._bias:  # once per forward pass, not once per layer
            self._bias[dtype] = additive_mask(self.key_valid[:, None, None, :], dtype)
        return self._bias[dtype]


class LongBertEmbeddings(nn.Module):
    """Word + position + token-type embeddings, LayerNorm, dropout (BERT's, positions from 0)."""

    def __init__(self, config: LongBertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, input_ids: Tensor, token_type_ids: Tensor, inputs_embeds: Tensor | None = None
    ) -> Tensor:
        """``input_ids``/``token_type_ids`` ``[B, N]`` -> ``[B, N, H]``; ``inputs_embeds``
        ``[B, N, H]``, when given, stands in for the word embeddings of ``input_ids``."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        # Given embeddings follow the table's dtype (bf16 when weights are cast for inference).
        words = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds.to(
            self.word_embeddings.weight.dtype
        )
        x = (
            words
            + self.position_embeddings(positions)[None]
            + self.token_type_embeddings(token_type_ids)
        )
        return self.dropout(self.LayerNorm(x))


class LongBertSelfAttention(nn.Module):
    """Multi-head self-attention with BERT's projections plus Longformer's global ones."""

    def __init__(self, config: LongBertConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        size = config.hidden_size
        self.query = nn.Linear(size, size)
        self.key = nn.Linear(size, size)
        self.value = nn.Linear(size, size)
        # Longformer's projections for global tokens' full-row attention.
        self.query_global = nn.Linear(size, size)
        self.key_global = nn.Linear(size, size)
        self.value_global = nn.Linear(size, size)
        self.dropout_p = config.attention_probs_dropout_prob

    def _heads(self, x: Tensor) -> Tensor:  # [B, N, H] -> [B, N, heads, d]
        return x.view(*x.shape[:2], self.num_heads, self.head_dim)

    def forward(
        self, hidden: Tensor, masks: _Masks, need_cls: bool, need_probs: bool
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """``hidden`` ``[B, N, H]`` -> context ``[B, N, H]``, [CLS] row ``[B, N]`` (float32,
        mean over heads) if ``need_cls``, probabilities ``[B, heads, N, N]`` if ``need_probs``.
        """
        dropout_p = self.dropout_p if self.training else 0.0
        q = self._heads(self.query(hidden))
        k = self._heads(self.key(hidden))
        v = self._heads(self.value(hidden))
        if masks.layout is None:
            context, cls_row, probs = self._dense(q, k, v, masks, dropout_p, need_cls, need_probs)
        else:
            context, cls_row = self._sparse(hidden, q, k, v, masks.layout, dropout_p, need_cls)
            probs = None
        return context.flatten(2), cls_row, probs

    def forward_cls(self, hidden: Tensor, masks: _Masks, need_cls: bool) -> tuple[Tensor, Tensor | None]:
        """The [CLS] query alone: ``hidden`` ``[B, N, H]`` -> context ``[B, 1, H]`` and the [CLS]
        row ``[B, N]`` (float32, mean over heads) if ``need_cls``.

        A [CLS] classifier reads nothing else from the last layer, so its other queries, output
        projections and feed-forward rows are skipped (about a sixth of a 6-layer encoder). The
        row is an explicit softmax, so the logged attention comes for free and is exact.
        """
        dropout_p = self.dropout_p if self.training else 0.0
        layout = masks.layout
        if layout is None:
            q = self._heads(self.query(hidden[:, :1])).transpose(1, 2)  # [B, h, 1, d]
            k = self._heads(self.key(hidden)).transpose(1, 2)  # [B, h, N, d]
            v = self._heads(self.value(hidden)).transpose(1, 2)
            context, probs = self._explicit(q, k, v, masks, dropout_p)  # [B, h, 1, d], [B, h, 1, N]
            context = context.transpose(1, 2)
            key_valid = masks.key_valid
        else:  # [CLS] is a global token: its row is global attention over every token
            context, probs = self._global_rows(hidden[:, :1], hidden, layout, dropout_p)
            key_valid = layout.key_valid
        cls_row = probs[:, :, 0].mean(dim=1).masked_fill(~key_valid, 0.0) if need_cls else None
        return context.flatten(2), cls_row

    def _dense(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        masks: _Masks,
        dropout_p: float,
        need_cls: bool,
        need_probs: bool,
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, h, N, d]
        probs = cls_row = None
        if need_probs:  # explicit attention: the caller wants every weight
            context, probs = self._explicit(q, k, v, masks, dropout_p)
            cls_row = probs[:, :, 0].mean(dim=1)
        else:
            bias = masks.dense_bias(q.dtype) if masks.padded else None  # queries' dtype, as SDPA needs
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p)
            if need_cls:  # one explicit row: [B, h, 1, N]
                scores = torch.matmul(q[:, :, :1], k.transpose(-1, -2)) * self.head_dim**-0.5
                scores = widen(scores)
                row = (scores + masks.dense_bias(scores.dtype)).softmax(dim=-1)
                cls_row = row[:, :, 0].mean(dim=1)
        if cls_row is not None:
            cls_row = cls_row.masked_fill(~masks.key_valid, 0.0)
        return context.transpose(1, 2), cls_row, probs

    def _explicit(
        self, q: Tensor, k: Tensor, v: Tensor, masks: _Masks, dropout_p: float
    ) -> tuple[Tensor, Tensor]:
        """Attention with its weights: ``q`` ``[B, h, Q, d]``, ``k``/``v`` ``[B, h, N, d]`` ->
        context ``[B, h, Q, d]`` and probabilities ``[B, h, Q, N]`` (at least float32)."""
        scores = widen(torch.matmul(q, k.transpose(-1, -2)) * self.head_dim**-0.5)
        probs = (scores + masks.dense_bias(scores.dtype)).softmax(dim=-1)
        weights = F.dropout(probs, p=dropout_p, training=dropout_p > 0)
        return torch.matmul(weights.to(v.dtype), v), probs

    def _global_rows(
        self, global_hidden: Tensor, hidden: Tensor, layout: SparseLayout, dropout_p: float
    ) -> tuple[Tensor, Tensor]:
        """Global tokens' full rows through the ``*_global`` projections: ``global_hidden``
        ``[B, G, H]`` -> context ``[B, G, heads, d]``, probabilities ``[B, heads, G, N]``."""
        return global_attention(
            self._heads(self.query_global(global_hidden)),
            hidden,
            self.key_global,
            self.value_global,
            layout,
            dropout_p,
            self.training,
        )

    def _sparse(
        self,
        hidden: Tensor,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        layout: SparseLayout,
        dropout_p: float,
        need_cls: bool,
    ) -> tuple[Tensor, Tensor | None]:
        context = local_attention(q, k, v, layout, dropout_p)  # [B, N, h, d]
        global_hidden = hidden.gather(
            1, layout.global_index[:, :, None].expand(-1, -1, hidden.shape[-1])
        )  # [B, G, H]
        global_context, probs = self._global_rows(global_hidden, hidden, layout, dropout_p)
        cls_row = None
        if need_cls:  # slot 0 is [CLS]: position 0 is always global and sorted first
            cls_row = probs[:, :, 0].mean(dim=1).masked_fill(~layout.key_valid, 0.0)
        return scatter_global_rows(context, global_context, layout), cls_row


class LongBertLayer(nn.Module):
    """One transformer block: attention + residual LayerNorm, feed-forward + residual LayerNorm."""

    def __init__(self, config: LongBertConfig) -> None:
        super().__init__()
        self.attention = nn.Module()
        self.attention.self = LongBertSelfAttention(config)
        self.attention.output = _DenseNorm(config.hidden_size, config.hidden_size, config)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.output = _DenseNorm(config.intermediate_size, config.hidden_size, config)
        self.activation = ACT2FN[config.hidden_act]

    def forward(
        self, hidden: Tensor, masks: _Masks, need_cls: bool, need_probs: bool, cls_only: bool = False
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """``[B, N, H]`` -> ``[B, N, H]`` (``[B, 1, H]``: [CLS] alone with ``cls_only``) plus the
        attention's [CLS] row / probabilities."""
        if cls_only:
            context, cls_row = self.attention.self.forward_cls(hidden, masks, need_cls)
            probs = None
            hidden = self.attention.output(context, hidden[:, :1])
        else:
            context, cls_row, probs = self.attention.self(hidden, masks, need_cls, need_probs)
            hidden = self.attention.output(context, hidden)
        # The [B, N, intermediate] activations of long inputs are built in token chunks (same
        # result): see CHUNK_BYTES.
        per_token = hidden.shape[0] * self.intermediate.dense.out_features * hidden.element_size()
        chunk = max(1, CHUNK_BYTES // per_token)
        parts = [
            self.output(self.activation(self.intermediate.dense(part)), part)
            for part in hidden.split(chunk, dim=1)
        ]
        return (parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)), cls_row, probs


class _DenseNorm(nn.Module):
    """``LayerNorm(dropout(dense(x)) + residual)``: BERT's ``*Output`` blocks."""

    def __init__(self, size_in: int, size_out: int, config: LongBertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(size_in, size_out)
        self.LayerNorm = nn.LayerNorm(size_out, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class LongBertModel(LongBertIOMixin, nn.Module):
    """The encoder. Parameter names mirror ``transformers.BertModel`` (without its pooler)."""

    def __init__(self, config: LongBertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = LongBertEmbeddings(config)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(
            LongBertLayer(config) for _ in range(config.num_hidden_layers)
        )
        self.gradient_checkpointing = False
        #: The warm-start checkpoint's pooler (``dense.weight``/``dense.bias``), set by
        #: :meth:`from_bert`; not a parameter of this model (the classifier head owns one).
        self.bert_pooler_state: dict[str, Tensor] | None = None
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        """BERT's initialisation (normal 0.02, zero bias, unit LayerNorm) for random models."""
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            nn.init.zeros_(module.weight[module.padding_idx])
        if isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def gradient_checkpointing_enable(self) -> None:
        """Recompute each layer's activations in backward (training only) to save memory."""
        self.gradient_checkpointing = True

    def gradient_checkpointing_disable(self) -> None:
        self.gradient_checkpointing = False

    def extend_positions(self, max_positions: int) -> None:
        """Grow the position table to ``max_positions`` rows; no-op if it is big enough.

        New rows copy the checkpoint's learned ``original_max_position_embeddings`` rows
        cyclically (row ``i`` <- row ``i % 512``), as Longformer does; existing rows are kept.
        The table becomes a new parameter: extend before building an optimizer.
        """
        table = self.embeddings.position_embeddings
        old = table.num_embeddings
        if max_positions <= old:
            return
        original = min(self.config.original_max_position_embeddings, old)
        with torch.no_grad():
            source = table.weight[:original]
            tiled = source.repeat(-(-max_positions // original), 1)[:max_positions]
            weight = torch.cat([table.weight.detach(), tiled[old:]], dim=0)
        new_table = nn.Embedding(max_positions, weight.shape[1], device=weight.device)
        new_table.weight = nn.Parameter(weight, requires_grad=table.weight.requires_grad)
        self.embeddings.position_embeddings = new_table
        self.config.max_position_embeddings = max_positions

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        global_attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        *,
        inputs_embeds: Tensor | None = None,
        sparse: bool = False,
        attention_window: int | None = None,
        output_cls_attention: bool = False,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
        cls_only: bool = False,
    ) -> LongBertOutput:
        """Encode ``input_ids`` ``[B, N]`` (masks ``[B, N]``, 1 = real token / global token).

        ``sparse``: local+global attention with ``attention_window`` (one side; default
        ``config.attention_window``) instead of full attention; ``global_attention_mask`` is
        used only then ([CLS] at position 0 is always global). Raises
        :class:`PositionLimitError` when ``N > config.max_position_embeddings``.
        ``cls_only``: the last layer computes the [CLS] position alone (``last_hidden_state``
        ``[B, 1, H]``), for callers that read only [CLS]; not with ``output_attentions`` or
        ``output_hidden_states`` (both need every position of the last layer).
        ``inputs_embeds`` ``[B, N, H]``: word embeddings used instead of looking up
        ``input_ids`` (which still give the shape), so gradients can be taken with respect to them.
        """
        self._check_inputs(input_ids, attention_mask, global_attention_mask, token_type_ids)
        if output_attentions and sparse:
            raise ValueError("output_attentions is only available in dense mode (sparse=False).")
        if output_attentions and cls_only:
            raise ValueError("output_attentions needs every query of the last layer: not with cls_only.")
        if output_hidden_states and cls_only:
            raise ValueError("output_hidden_states needs every position of the last layer: not cls_only.")
        window = self.config.attention_window if attention_window is None else attention_window
        if sparse and (not isinstance(window, int) or window < 1):
            raise ValueError(f"attention_window must be a positive int, got {window!r}.")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        key_valid = attention_mask.bool()
        # One host sync per forward pass (dense only): whether the mask-free kernel may run.
        masks = _Masks(key_valid, padded=sparse or not bool(key_valid.all()))
        if sparse:
            masks.layout = build_sparse_layout(attention_mask, global_attention_mask, window)

        if inputs_embeds is not None and inputs_embeds.shape[:2] != input_ids.shape:
            raise ValueError(
                f"inputs_embeds has shape {tuple(inputs_embeds.shape)}, input_ids {tuple(input_ids.shape)}."
            )
        hidden = self.embeddings(input_ids, token_type_ids, inputs_embeds)
        # Kept only when asked for: inference frees each layer's input as the next one runs.
        all_hidden: list[Tensor] = [hidden] if output_hidden_states else []
        all_probs: list[Tensor] = []
        cls_row: Tensor | None = None
        layers = self.encoder.layer
        for index, layer in enumerate(layers):
            last = index == len(layers) - 1
            need_cls = output_cls_attention and last
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                hidden, row, probs = checkpoint(
                    layer, hidden, masks, need_cls, output_attentions, cls_only and last,
                    use_reentrant=False,
                )
            else:
                hidden, row, probs = layer(hidden, masks, need_cls, output_attentions, cls_only and last)
            cls_row = row if row is not None else cls_row
            if output_hidden_states:
                all_hidden.append(hidden)
            if probs is not None:
                all_probs.append(probs)
        return LongBertOutput(
            last_hidden_state=hidden,
            cls_attention=None if cls_row is None else cls_row.float(),
            attentions=tuple(all_probs) if output_attentions else None,
            hidden_states=tuple(all_hidden) if output_hidden_states else None,
        )

    def _check_inputs(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None,
        global_attention_mask: Tensor | None,
        token_type_ids: Tensor | None,
    ) -> None:
        if input_ids.dim() != 2 or input_ids.shape[1] == 0:
            raise ValueError(
                f"input_ids must be [batch, tokens] with tokens >= 1, got {tuple(input_ids.shape)}."
            )
        for name, mask in (
            ("attention_mask", attention_mask),
            ("global_attention_mask", global_attention_mask),
            ("token_type_ids", token_type_ids),
        ):
            if mask is not None and mask.shape != input_ids.shape:
                raise ValueError(
                    f"{name} has shape {tuple(mask.shape)}, input_ids {tuple(input_ids.shape)}."
                )
        length, limit = input_ids.shape[1], self.config.max_position_embeddings
        if length > limit:
            raise PositionLimitError(
                f"The input has {length} tokens but the model has {limit} positions: call "
                f"model.extend_positions({length}) first (or truncate the input)."
            )
