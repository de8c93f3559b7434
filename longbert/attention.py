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
    token_scores = np.zeros(doc.num_tokens, dtype=np.float32)
    for positions, row, weight in zip(windows, cls_rows, window_weights, strict=True):
        content = np.asarray(row[1 : len(positions) + 1], dtype=np.float32)
        np.add.at(token_scores, positions, float(weight) * content)
    return AttentionSummary(
        token_scores=token_scores,
        word_spans=doc.word_spans,
        word_scores=_sum_by(doc.word_index, token_scores, len(doc.word_spans)),
        sentence_spans=doc.sentence_spans,
        sentence_scores=_sum_by(doc.token_sentence, token_scores, len(doc.sentence_spans)),
    )


def _sum_by(groups: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(groups, weights=values, minlength=size).astype(np.float32)[:size]
