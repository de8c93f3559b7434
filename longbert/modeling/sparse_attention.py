"""Longformer-style local + global attention, computed in blocks so cost is linear in length.

Semantics (as Longformer, Beltagy et al. 2020): query ``i`` attends to keys ``j`` with
``|i - j| <= w`` (``w`` = window, one side) plus every *global* token; global tokens attend to
every token through their own ``*_global`` projections. A global key is seen once by a local query
(through the global columns, never again inside the window), and padding keys are masked.

Blocking: the padded sequence is cut into blocks of ``c`` queries. Block ``b`` (queries
``b*c .. b*c+c-1``) needs keys ``b*c-w .. b*c+c-1+w``: ``c + 2w`` keys taken with ``unfold``
from the key tensor padded by ``w`` on both sides, plus the ``G`` global keys. One static band
mask ``[c, c + 2w]`` selects ``|i - j| <= w`` inside that slab, so every block is one dense
attention call that :func:`torch.nn.functional.scaled_dot_product_attention` runs with its fused
kernels. Time and memory are ``O(N * (c + 2w + G))`` instead of ``O(N^2)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Smallest query block: tiny windows would otherwise make thousands of tiny attention calls.
MIN_BLOCK = 32
#: Largest temporary the blocked attention and the feed-forward build at once. Bigger ones are
#: fresh ``mmap`` pages on glibc (threshold at most 32 MiB), zeroed by the kernel in every layer.
CHUNK_BYTES = 16 * 2**20


def additive_mask(keep: Tensor, dtype: torch.dtype) -> Tensor:
    """``0`` where ``keep`` is True, the dtype's most negative value elsewhere (same shape).

    ``finfo.min`` rather than ``-inf`` so a row with nothing to attend to gives a uniform
    softmax instead of NaN; the mask's dtype must match the queries' under autocast.
    """
    bias = torch.zeros(keep.shape, dtype=dtype, device=keep.device)
    return bias.masked_fill(~keep, torch.finfo(dtype).min)


def widen(x: Tensor) -> Tensor:
    """``x`` in at least float32 (float64 stays): softmax weights are outputs of the model, and
    half precision would lose the small ones."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


@dataclass
class SparseLayout:
    """Index and mask tensors of one sparse forward pass, shared by every layer.

    ``B`` batch, ``N`` tokens, ``G`` global slots (the most global tokens of any row), ``c``
    query block, ``nb`` blocks, ``K = c + 2 * window + G`` keys per block.
    """

    window: int  #: one-side window actually used (``<= N - 1``)
    block: int  #: ``c``
    length: int  #: ``N``
    key_valid: Tensor  #: ``[B, N]`` bool, False on padding
    global_index: Tensor  #: ``[B, G]`` int64 positions of global tokens, slot 0 = position 0
    global_valid: Tensor  #: ``[B, G]`` bool, False on unused slots (rows with fewer globals)
    local_keep: Tensor  #: ``[B * nb, 1, c, K]`` bool, True where a local query may attend
    _bias_cache: dict[tuple[str, torch.dtype], Tensor] = field(default_factory=dict, repr=False)

    @property
    def num_blocks(self) -> int:
        return self.local_keep.shape[0] // self.key_valid.shape[0]

    @property
    def padded_length(self) -> int:
        return self.num_blocks * self.block

    def local_bias(self, dtype: torch.dtype) -> Tensor:
        """Additive version of :attr:`local_keep` in ``dtype`` (cached: built once per pass)."""
        key = ("local", dtype)
        if key not in self._bias_cache:
            self._bias_cache[key] = additive_mask(self.local_keep, dtype)
        return self._bias_cache[key]

    def key_bias(self, dtype: torch.dtype) -> Tensor:
        """``[B, 1, 1, N]`` additive padding mask for the global rows' full attention."""
        key = ("keys", dtype)
        if key not in self._bias_cache:
            self._bias_cache[key] = additive_mask(self.key_valid[:, None, None, :], dtype)
        return self._bias_cache[key]


def build_sparse_layout(
    attention_mask: Tensor,
    global_attention_mask: Tensor | None,
    window: int,
    key_multiple: int | None = None,
) -> SparseLayout:
    """Precompute global token slots and the blocked band mask.

    ``attention_mask``/``global_attention_mask``: ``[B, N]`` (nonzero = real token / global).
    Position 0 ([CLS]) is always global; a global flag on a padding position is ignored.
    ``key_multiple``: pad each block's key count with masked global slots to a multiple of
    this (default 8 on CUDA, where the memory-efficient SDPA kernel would otherwise copy the
    mask into an aligned buffer in every layer; 1 elsewhere).
    """
    batch, length = attention_mask.shape
    device = attention_mask.device
    key_valid = attention_mask.bool()
    is_global = torch.zeros_like(key_valid)
    is_global[:, 0] = True
    if global_attention_mask is not None:
        is_global |= global_attention_mask.bool()
    is_global &= key_valid

    # Global slots: a stable sort puts each row's global positions first, in document order,
    # so slot 0 is [CLS]. Rows with fewer globals fill the rest with (masked) other positions.
    num_global = max(int(is_global.sum(dim=1).max()), 1)
    order = torch.argsort(is_global.to(torch.int8), dim=1, descending=True, stable=True)
    global_index = order[:, :num_global]
    global_valid = is_global.gather(1, global_index)

    # A window wider than the document only adds masked keys: clip it.
    window = min(window, length - 1)
    block = min(length, max(window, MIN_BLOCK))
    num_blocks = -(-length // block)
    padded = num_blocks * block

    if key_multiple is None:
        key_multiple = 8 if device.type == "cuda" else 1
    extra = -(block + 2 * window + num_global) % key_multiple
    if extra:  # masked slots pointing at position 0
        global_index = F.pad(global_index, (0, extra))
        global_valid = F.pad(global_valid, (0, extra), value=False)
        num_global += extra

    # Keys a local query may see inside its window: real and not global (globals come through
    # the global columns, so they are not counted twice).
    window_ok = key_valid & ~is_global
    window_ok = F.pad(window_ok, (window, padded - length + window), value=False)
    slab_ok = window_ok.unfold(1, block + 2 * window, block)  # [B, nb, c + 2w]
    # Query qi of a block sits at slab offset qi + w, so key kj is in reach iff 0 <= kj-qi <= 2w.
    key_offset = torch.arange(block + 2 * window, device=device)
    offset = key_offset[None, :] - torch.arange(block, device=device)[:, None]
    band = (offset >= 0) & (offset <= 2 * window)  # [c, c + 2w]
    local_keep = band[None, None] & slab_ok[:, :, None, :]
    global_keep = global_valid[:, None, None, :].expand(batch, num_blocks, block, num_global)
    keep = torch.cat([local_keep, global_keep], dim=-1)
    return SparseLayout(
        window=window,
        block=block,
        length=length,
        key_valid=key_valid,
        global_index=global_index,
        global_valid=global_valid,
        local_keep=keep.reshape(batch * num_blocks, 1, block, keep.shape[-1]),
    )


def _gather_tokens(x: Tensor, index: Tensor) -> Tensor:
    """``x[b, index[b, g]]`` for ``x`` of shape ``[B, N, ...]`` and ``index`` ``[B, G]``."""
    expanded = index.reshape(*index.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])
    return x.gather(1, expanded)


def local_attention(
    query: Tensor, key: Tensor, value: Tensor, layout: SparseLayout, dropout_p: float = 0.0
) -> Tensor:
    """Windowed attention of every token (plus the global keys), blocked.

    ``query``/``key``/``value``: ``[B, N, heads, d]`` from the *local* projections, ``query``
    not yet scaled. Returns the context ``[B, N, heads, d]``. Rows of global tokens are computed
    too (cheaper than skipping them) and overwritten by :func:`global_attention`.
    """
    batch, length, heads, dim = query.shape
    c, w, nb = layout.block, layout.window, layout.num_blocks
    pad = layout.padded_length - length
    # [B, Np, h, d] -> [B, nb, h, c, d]: a strided view, no copy.
    q = F.pad(query, (0, 0, 0, 0, 0, pad)) if pad else query
    q = q.view(batch, nb, c, heads, dim).transpose(2, 3)
    k_padded = F.pad(key, (0, 0, 0, 0, w, pad + w))  # [B, w + Np + w, h, d]
    v_padded = F.pad(value, (0, 0, 0, 0, w, pad + w))
    k_global = _gather_tokens(key, layout.global_index).transpose(1, 2)[:, None]  # [B,1,h,G,d]
    v_global = _gather_tokens(value, layout.global_index).transpose(1, 2)[:, None]
    bias = layout.local_bias(q.dtype)
    bias = bias.view(batch, nb, *bias.shape[1:])  # [B, nb, 1, c, K]

    def slab(padded: Tensor, glob: Tensor, first: int, last: int) -> Tensor:
        # Blocks first..last-1 -> [B, g, h, c + 2w + G, d]: each block's window, then the globals.
        window = padded[:, first * c : last * c + 2 * w].unfold(1, c + 2 * w, c)
        window = window.permute(0, 1, 2, 4, 3)
        return torch.cat([window, glob.expand(-1, last - first, -1, -1, -1)], dim=3)

    # Slabs hold every key ~3 times: build them a group of blocks at a time, so no temporary
    # outgrows CHUNK_BYTES (glibc serves bigger ones with fresh pages every layer).
    keys = bias.shape[-1]
    block_bytes = batch * keys * (2 * heads * dim * key.element_size() + c * bias.element_size())
    group = max(1, CHUNK_BYTES // block_bytes)
    parts = []
    for first in range(0, nb, group):
        last = min(nb, first + group)
        part = F.scaled_dot_product_attention(
            q[:, first:last].flatten(0, 1),
            slab(k_padded, k_global, first, last).flatten(0, 1),
            slab(v_padded, v_global, first, last).flatten(0, 1),
            attn_mask=bias[:, first:last].flatten(0, 1),
            dropout_p=dropout_p,
        )  # [B * g, h, c, d]
        parts.append(part.view(batch, last - first, heads, c, dim))
    context = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)  # [B, nb, h, c, d]
    return context.transpose(2, 3).reshape(batch, nb * c, heads, dim)[:, :length]


def linear_parameters(projection: nn.Module) -> tuple[Tensor, Tensor | None]:
    """``projection``'s weight ``[out, in]`` and bias as float tensors, for the folded path.

    An ``nn.Linear`` holds them as tensors; torch's dynamic int8 ``Linear`` (an ``int8``
    compressed model) only gives them through methods, the weight quantized: dequantized here,
    so the fold computes with the int8 model's own (rounded) weights."""
    weight = projection.weight
    if isinstance(weight, Tensor):
        return weight, projection.bias
    return weight().dequantize(), projection.bias()


def global_attention(
    query: Tensor,
    hidden: Tensor,
    key_proj: nn.Linear,
    value_proj: nn.Linear,
    layout: SparseLayout,
    dropout_p: float = 0.0,
    training: bool = False,
    fold: bool | None = None,
) -> tuple[Tensor, Tensor]:
    """Full-row attention of the global tokens, through the ``*_global`` projections.

    ``query``: ``[B, G, heads, d]`` (``query_global`` of the global tokens, not yet scaled);
    ``hidden``: ``[B, N, H]`` (all tokens); ``key_proj``/``value_proj``: ``key_global`` and
    ``value_global``. Returns the context ``[B, G, heads, d]`` and the exact attention
    probabilities ``[B, heads, G, N]`` in at least float32 (before dropout; 0 on padding keys).
    Explicit softmax: ``G`` is small, and the [CLS] row's weights are an output of the model.

    With few global tokens (``G * heads < H``) the key/value projections are folded into the
    queries instead of projecting all ``N`` tokens: ``q . (W_k x + b_k) = (W_k^T q) . x +
    q . b_k``, whose last term is the same for every key and cancels in the softmax, and
    ``sum_j p_j (W_v x_j + b_v) = W_v (sum_j p_j x_j) + b_v sum_j p_j``. That costs
    ``O(G * heads * N * H)`` instead of ``O(N * H^2)`` — two of the layer's nine projections.
    ``fold``: force either way (None: fold when it is cheaper). Int8 projections fold with their
    dequantized weights (:func:`linear_parameters`).
    """
    batch, slots, heads, dim = query.shape
    length, size = hidden.shape[1], hidden.shape[2]
    q = query.transpose(1, 2) * dim**-0.5  # [B, h, G, d]
    if fold is None:
        fold = slots * heads < size
    if fold:
        key_weight = linear_parameters(key_proj)[0].view(heads, dim, size)
        q_in = torch.matmul(q, key_weight)  # [B, h, G, H]
        # Heads and slots share one matmul against the (unexpanded) hidden states.
        scores = torch.bmm(q_in.reshape(batch, heads * slots, size), hidden.transpose(1, 2))
        scores = scores.view(batch, heads, slots, length)
    else:
        key = key_proj(hidden).view(batch, length, heads, dim)
        scores = torch.matmul(q, key.permute(0, 2, 3, 1))  # [B, h, G, N]
    scores = widen(scores)
    probs = (scores + layout.key_bias(scores.dtype)).softmax(dim=-1)
    weights = F.dropout(probs, p=dropout_p, training=training) if dropout_p > 0 else probs
    if fold:
        mixed = torch.bmm(weights.to(hidden.dtype).view(batch, heads * slots, length), hidden)
        value_weight, value_bias = linear_parameters(value_proj)
        value_weight = value_weight.view(heads, dim, size)
        context = torch.matmul(mixed.view(batch, heads, slots, size), value_weight.transpose(1, 2))
        if value_bias is None:
            value_bias = value_weight.new_zeros(heads * dim)
        bias = value_bias.view(heads, 1, dim)
        # sum_j p_j is 1 without dropout; with dropout the bias is scaled like the weights.
        context = context + (bias * weights.sum(-1, keepdim=True) if weights is not probs else bias)
    else:
        value = value_proj(hidden).view(batch, length, heads, dim).transpose(1, 2)
        context = torch.matmul(weights.to(value.dtype), value)  # [B, h, G, d]
    return context.transpose(1, 2), probs


def scatter_global_rows(context: Tensor, global_context: Tensor, layout: SparseLayout) -> Tensor:
    """Write ``global_context`` ``[B, G, ...]`` into ``context`` ``[B, N, ...]`` at the global
    positions (out of place). Unused slots go to a scratch row that is dropped, so no host sync.
    """
    length = context.shape[1]
    index = torch.where(layout.global_valid, layout.global_index, length)
    extended = torch.cat([context, context.new_zeros(context[:, :1].shape)], dim=1)
    expanded = index.reshape(*index.shape, *([1] * (context.dim() - 2)))
    expanded = expanded.expand(-1, -1, *context.shape[2:])
    return extended.scatter(1, expanded, global_context.to(context.dtype))[:, :length]
