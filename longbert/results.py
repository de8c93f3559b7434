"""Typed results of inference: what the model said, what it saw, and what it attended to.

These are the objects the store persists and the UI shows. Arrays are numpy (float32 for
scores) so they serialise compactly; every field documents its shape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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

    A window reads one or more contiguous runs of text (chunk's head+tail window reads the
    start and the end), one segment each: ``window`` is the index (0-based, in the order the
    model read the windows) of the window a run belongs to, so its runs share it, their score
    and their weight. ``None`` for sentences, and for windows stored before it was kept (see
    :func:`segment_windows`).
    """

    kind: str
    span: Span
    score: float
    selected: bool = True
    weight: float | None = None
    window: int | None = None


def segment_windows(segments: Sequence[SegmentScore]) -> list[int | None]:
    """The window (0-based) each of ``segments`` is a run of; None for sentences.

    Windows carry it (:attr:`SegmentScore.window`). For segments kept without it (stored
    before it existed, or by a store that drops it) it is recovered from their order: one
    window per segment, except chunk's head+tail window, the only one that reads two separate
    runs: it comes first, so its runs are the first two window segments when they do not
    overlap, share score and weight, the second ends where the last window does (the
    document's last token read) and more windows follow. Stored before windows were split into
    runs, that window was one segment over the whole document: numbered as one window.
    """
    windows = [i for i, s in enumerate(segments) if s.kind == "window"]
    found: list[int | None] = [None] * len(segments)
    if all(segments[i].window is not None for i in windows):
        for i in windows:
            found[i] = segments[i].window
        return found
    split = _runs_of_one_window(segments, windows)
    for k, i in enumerate(windows):
        found[i] = k - 1 if split and k >= 1 else k
    return found


def _runs_of_one_window(segments: Sequence[SegmentScore], windows: Sequence[int]) -> bool:
    """Whether the first two window segments are the head and tail runs of one window."""
    if len(windows) < 3:  # head+tail comes with at least one window over the document
        return False
    head, tail = segments[windows[0]], segments[windows[1]]
    last_end = max(segments[i].span[1] for i in windows)
    same_score = head.score == tail.score or (math.isnan(head.score) and math.isnan(tail.score))
    apart = head.span[1] <= tail.span[0] and tail.span[1] == last_end
    return apart and same_score and head.weight == tail.weight


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
