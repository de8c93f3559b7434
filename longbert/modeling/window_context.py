"""A document-level layer over a document's window vectors (ToBERT / HAT style).

Chunk reading encodes windows independently, so no window knows what the others say or where it
sits in the document. :class:`WindowContext` is one pre-LayerNorm transformer layer over the
``[n, H]`` window vectors of one document: self-attention between the windows, whose queries and
keys also see each window's place in the document (the share of the document before its first
token, as sinusoidal features through a learned projection), then a feed-forward block.

Its two residual branches end in zero-initialised projections, so an untrained layer is the
identity: ``transformer`` pooling (this layer, then attention pooling, whose scorer also starts
at zero) starts out as exactly mean pooling, and a model trained with another pooling can be run
with it without random behaviour -- the same promise attention pooling makes.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: Sinusoidal features of a window's place in the document (pairs of sin/cos).
POSITION_FEATURES = 16


def position_features(starts: torch.Tensor) -> torch.Tensor:
    """``[n]`` shares of the document before each window (0..1) → ``[n, POSITION_FEATURES]``."""
    frequencies = torch.pow(
        torch.tensor(2.0, device=starts.device), torch.arange(POSITION_FEATURES // 2, device=starts.device)
    )
    angles = starts.float().unsqueeze(-1) * frequencies * math.pi
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class WindowContext(nn.Module):
    """One transformer layer over a document's window vectors; the identity until trained."""

    def __init__(self, hidden_size: int, heads: int | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        heads = heads or max(1, hidden_size // 64)
        if hidden_size % heads:
            raise ValueError(f"hidden size {hidden_size} is not a multiple of {heads} heads")
        self.hidden_size, self.heads = hidden_size, heads
        self.norm_attention = nn.LayerNorm(hidden_size)
        self.position = nn.Linear(POSITION_FEATURES, hidden_size)
        self.attention = nn.MultiheadAttention(hidden_size, heads, dropout=dropout, batch_first=True)
        self.norm_feed_forward = nn.LayerNorm(hidden_size)
        self.feed_forward = nn.Sequential(
            nn.Linear(hidden_size, 2 * hidden_size),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(2 * hidden_size, hidden_size),
        )
        self.dropout = nn.Dropout(dropout)
        for last in (self.attention.out_proj, self.feed_forward[-1]):
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(
        self,
        vectors: torch.Tensor,
        starts: torch.Tensor | None,
        window_doc: torch.Tensor,
        num_docs: int,
    ) -> torch.Tensor:
        """``[W, H]`` window vectors of ``num_docs`` documents (``window_doc`` ``[W]`` says whose),
        ``[W]`` their starts (share of the document before each; None: spread evenly in the given
        order) → ``[W, H]`` window vectors that have seen the other windows of their document. All
        documents run in one padded batch."""
        order = torch.argsort(window_doc, stable=True)
        counts = torch.bincount(window_doc, minlength=num_docs)
        first = torch.cumsum(counts, 0) - counts
        slot = torch.empty_like(window_doc)
        slot[order] = torch.arange(len(window_doc), device=window_doc.device) - first[window_doc[order]]
        if starts is None:
            starts = slot.float() / counts[window_doc].float()
        width = int(counts.max()) if len(counts) else 0
        padded = vectors.new_zeros(num_docs, width, vectors.shape[-1])
        padded[window_doc, slot] = vectors
        placed_starts = starts.new_zeros(num_docs, width)
        placed_starts[window_doc, slot] = starts.to(placed_starts.dtype)
        padding = torch.ones(num_docs, width, dtype=torch.bool, device=vectors.device)
        padding[window_doc, slot] = False
        x = padded
        normed = self.norm_attention(x)
        placed = normed + self.position(position_features(placed_starts).to(normed.dtype))
        attended, _ = self.attention(placed, placed, normed, key_padding_mask=padding, need_weights=False)
        x = x + self.dropout(attended)
        x = x + self.dropout(self.feed_forward(self.norm_feed_forward(x)))
        return x[window_doc, slot]
