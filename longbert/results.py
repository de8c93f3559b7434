"""Typed results of inference: what the model said, what it saw, and what it attended to.

These are the objects the store persists and the UI shows. Arrays are numpy (float32 for
scores) so they serialise compactly; every field documents its shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: A half-open character span ``(start, end)`` into ``Document.text``.
Span = tuple[int, int]


@dataclass
class SegmentScore:
    """A score for one piece of the document: a sentence (key sentences) or a window (chunk).

    ``kind`` is ``"sentence"`` or ``"window"``; ``selected`` says whether the model saw it
    (key sentences) -- windows are always seen. ``score`` is the strategy's own score
    (TextRank centrality for sentences; for windows, the probability of the predicted label
    given that window alone). ``weight`` is the window's pooling weight (attention pooling),
    else ``None``.
    """

    kind: str
    span: Span
    score: float
    selected: bool = True
    weight: float | None = None


@dataclass
class AttentionSummary:
    """Where [CLS] looked: the last layer's [CLS] attention row, averaged over heads.

    Token-level weights are aggregated to words and sentences (sums of the token weights), which
    is what the UI draws and what stays small enough to store for every prediction. For
    multi-window strategies each window's row is computed separately and windows are combined by
    their pooling weight (mean pooling: equal weights), so scores are comparable across a document.

    Shapes: ``token_scores`` is ``[num_doc_tokens]`` (0 for tokens the model did not see);
    ``word_spans`` ``[num_words, 2]`` int32 with ``word_scores`` ``[num_words]``;
    ``sentence_spans`` ``[num_sentences, 2]`` int32 with ``sentence_scores`` ``[num_sentences]``.
    The [CLS]/[SEP] special tokens' own weights are not part of the document, so the scores sum to
    at most 1 per window.
    """

    token_scores: np.ndarray
    word_spans: np.ndarray
    word_scores: np.ndarray
    sentence_spans: np.ndarray
    sentence_scores: np.ndarray

    def top_words(self, text: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` highest-scoring words with their scores, for quick explanations."""
        order = np.argsort(-self.word_scores)[:k]
        return [
            (text[int(self.word_spans[i, 0]) : int(self.word_spans[i, 1])], float(self.word_scores[i]))
            for i in order
        ]


@dataclass
class FullAttention:
    """Every layer's and head's attention for one window, kept only on request.

    ``weights`` is ``[num_layers, num_heads, seq_len, seq_len]`` float16 over the window's model
    tokens ([CLS] + content + [SEP]); ``token_positions`` ``[seq_len]`` maps each model token to its
    position in the document's tokens (-1 for [CLS]/[SEP]); ``tokens`` are the WordPiece strings.
    """

    window_index: int
    weights: np.ndarray
    token_positions: np.ndarray
    tokens: list[str]


@dataclass
class Prediction:
    """One document's prediction and everything needed to explain and audit it."""

    document_name: str
    document_sha256: str
    label: str
    #: Single-label: all labels' softmax probabilities. Multi-label: per-label sigmoids.
    probabilities: dict[str, float]
    #: Multi-label: every label over the threshold (single-label: ``[label]``).
    labels: list[str]
    model_name: str
    strategy: str
    strategy_params: dict[str, Any]
    total_tokens: int
    used_tokens: int
    #: Character spans of the document the model saw, merged and sorted.
    spans: list[Span]
    segment_scores: list[SegmentScore]
    attention: AttentionSummary | None
    latency_ms: float
    full_attention: FullAttention | None = None
    zero_shot: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return True


@dataclass
class PredictionError:
    """A document that could not be classified, and why. Batches carry these instead of raising."""

    document_name: str
    message: str
    document_sha256: str | None = None

    @property
    def ok(self) -> bool:
        return False


PredictionResult = Prediction | PredictionError
