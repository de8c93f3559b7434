"""Attention summaries: the [CLS] row of the last layer, mapped back onto the document.

The model gives, per window, the [CLS] query's attention over that window's model tokens
([CLS] content [SEP] padding). Here each window's row is placed on the document's token positions,
windows are combined by their pooling weight, and token weights are summed into words and
sentences -- what the UI draws and the store keeps for every prediction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from longbert.results import AttentionSummary
from longbert.tokenization import TokenizedDocument


def summarize_attention(
    doc: TokenizedDocument,
    windows: Sequence[np.ndarray],
    cls_rows: Sequence[np.ndarray],
    window_weights: Sequence[float],
) -> AttentionSummary:
    """Combine per-window [CLS] rows into document-level token, word and sentence scores.

    Args:
        doc: the tokenised document.
        windows: per window, the document token positions it holds (content order).
        cls_rows: per window, the ``[T]`` attention row over model tokens; index 0 is [CLS],
            content token ``k`` sits at ``k + 1``.
        window_weights: per window, its weight in the document (sums to 1).
    """
    # One bincount over every window's (position, weight) pairs: windows may overlap (chunk
    # strides), and np.add.at is an order of magnitude slower on thousands of tokens.
    positions = [np.asarray(p, dtype=np.int64) for p in windows] or [np.zeros(0, np.int64)]
    weights = [
        float(w) * np.asarray(r[1 : len(p) + 1], dtype=np.float64)
        for p, r, w in zip(positions, cls_rows, window_weights, strict=False)
    ] or [np.zeros(0)]
    if len(windows) != len(cls_rows) or len(windows) != len(window_weights):
        raise ValueError("summarize_attention needs one [CLS] row and one weight per window")
    token_scores = np.bincount(
        np.concatenate(positions), weights=np.concatenate(weights), minlength=doc.num_tokens
    ).astype(np.float32)
    return AttentionSummary(
        token_scores=token_scores,
        word_spans=doc.word_spans,
        word_scores=_sum_by(doc.word_index, token_scores, len(doc.word_spans)),
        sentence_spans=doc.sentence_spans,
        sentence_scores=_sum_by(doc.token_sentence, token_scores, len(doc.sentence_spans)),
    )


def _sum_by(groups: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(groups, weights=values, minlength=size).astype(np.float32)[:size]
