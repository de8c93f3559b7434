"""What the classifier's forward path returns: per-window encodings and per-document outputs.

Plain data, kept apart from the model (as transformers keeps ``modeling_outputs`` apart from its
models): every classifier's ``classify_windows`` builds a :class:`ClassifierOutput` (the zero-shot
ones too), prediction, training and explanations read it. Both classes are re-exported by
:mod:`longbert.classifier`, where code imports them from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["ClassifierOutput", "WindowEncoding", "concat_rows"]


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


def concat_rows(parts: list[Any]) -> Any:
    """Rows of several encoder passes back together (tensors, tuples of per-layer tensors, or
    None), so a document read in slices gives what one pass would have."""
    if parts[0] is None:
        return None
    if isinstance(parts[0], tuple):
        return tuple(torch.cat(layer) for layer in zip(*parts, strict=True))
    return parts[0] if len(parts) == 1 else torch.cat(parts)
