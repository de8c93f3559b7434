"""Key sentences: pick the document's most central sentences until one BERT window is full.

Sentences are scored by TextRank (Mihalcea & Tarau 2004): PageRank over the graph whose edge
weights are the TF-IDF cosine similarities between sentences (over WordPiece ids, so any
language the tokenizer knows works), with edges normalised by the graph's largest degree rather
than per sentence (see :func:`textrank_scores`). The ``centroid`` scorer is a cheaper alternative: cosine
similarity to the whole document's TF-IDF vector. The budget is filled greedily by score
(sentences that no longer fit are skipped and smaller ones still tried), and the chosen ones are
fed in document order so the text reads as it was written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from longbert.results import SegmentScore
from longbert.settings import BERT_CONTENT_TOKENS
from longbert.strategies.base import Mode, Selection, Strategy
from longbert.strategies.params import StrategyParams, param
from longbert.tokenization import TokenizedDocument

SCORERS = ("textrank", "centroid")

#: Power iteration stops when the L1 change of the scores drops below this, or after
#: MAX_ITERATIONS (PageRank with damping 0.85 converges in a few dozen steps).
TOLERANCE = 1e-10
MAX_ITERATIONS = 200

#: Scores are rounded to this many decimals before ranking so that sentences with equal scores
#: up to floating-point noise are ranked by position (earlier first), deterministically.
RANK_DECIMALS = 9


def sentence_units(doc: TokenizedDocument, max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """The units to choose from: token ranges ``[u, 2]`` int64 and their sentence ``[u]`` int64.

    One unit per sentence, except that a sentence longer than ``max_tokens`` becomes
    consecutive pieces of ``max_tokens`` tokens (the last one shorter), so that it can still be
    chosen. Sentences without tokens keep an empty range. Ranges are half-open, in order.
    """
    units: list[tuple[int, int]] = []
    sentence_of_unit: list[int] = []
    for index, (start, end) in enumerate(doc.sentence_token_ranges().tolist()):
        pieces = (
            [(start, end)]
            if end - start <= max_tokens
            else [(s, min(s + max_tokens, end)) for s in range(start, end, max_tokens)]
        )
        units.extend(pieces)
        sentence_of_unit.extend([index] * len(pieces))
    return (
        np.asarray(units, dtype=np.int64).reshape(-1, 2),
        np.asarray(sentence_of_unit, dtype=np.int64),
    )


def tfidf_rows(input_ids: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Sparse L2-normalised TF-IDF rows, one per unit, in coordinate form.

    Returns ``(rows, cols, values, vocab_size)`` where ``rows``/``cols``/``values`` are
    ``[nnz]`` arrays (unit index, dense token-id index, weight). TF is ``1 + log(count)``; IDF is
    ``log((1 + u) / (1 + df))``, which is 0 for tokens in every unit (punctuation, "the" in
    short texts) so they do not make every sentence look alike.
    """
    lengths = units[:, 1] - units[:, 0]
    token_unit = np.repeat(np.arange(len(units), dtype=np.int64), lengths)
    token_ids = np.concatenate([input_ids[s:e] for s, e in units.tolist()] or [np.zeros(0, dtype=np.int64)])
    vocab, dense_ids = np.unique(token_ids, return_inverse=True)
    vocab_size = max(len(vocab), 1)
    pairs, counts = np.unique(token_unit * vocab_size + dense_ids, return_counts=True)
    rows, cols = pairs // vocab_size, pairs % vocab_size
    df = np.bincount(cols, minlength=vocab_size)
    idf = np.log((1.0 + len(units)) / (1.0 + df))
    values = (1.0 + np.log(counts)) * idf[cols]
    norms = np.sqrt(np.bincount(rows, weights=values**2, minlength=len(units)))
    safe = np.where(norms > 0, norms, 1.0)
    return rows, cols, values / safe[rows], vocab_size


def _similarity_times(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, vocab_size: int, num_units: int
) -> Callable[[np.ndarray], np.ndarray]:
    """``v -> S @ v`` for the cosine-similarity matrix S (zero diagonal) without building S.

    ``S = X X^T - diag(X X^T)``; with rows of X sparse, each product costs O(nnz), so documents
    with thousands of sentences never need a ``[u, u]`` matrix.
    """
    self_similarity = np.bincount(rows, weights=values**2, minlength=num_units)

    def times(vector: np.ndarray) -> np.ndarray:
        projected = np.bincount(cols, weights=values * vector[rows], minlength=vocab_size)
        back = np.bincount(rows, weights=values * projected[cols], minlength=num_units)
        return back - self_similarity * vector

    return times


def textrank_scores(
    rows: np.ndarray,
    cols: np.ndarray,
    values: np.ndarray,
    vocab_size: int,
    num_units: int,
    damping: float,
) -> np.ndarray:
    """TextRank: PageRank of each unit on the similarity graph, ``[u]`` float64 summing to 1.

    One change to plain TextRank: the random surfer leaves a sentence along an edge with
    probability ``similarity / max_degree`` (the largest weighted degree in the graph) and
    teleports uniformly otherwise, instead of normalising each sentence's edges to sum to 1.
    With per-sentence normalisation, two off-topic sentences that share one rare word form a
    closed pair that keeps its rank and scores like the core of the main topic; here weakly
    connected sentences leak their rank, so centrality tracks how *much* a sentence is like the
    rest. When all sentences have the same degree both walks are identical. Sentences similar
    to nothing (degree 0) spread all their rank uniformly, the standard dangling-node fix.
    """
    if num_units == 0:
        return np.zeros(0)
    times = _similarity_times(rows, cols, values, vocab_size, num_units)
    degree = np.maximum(times(np.ones(num_units)), 0.0)  # clip float noise below 0
    max_degree = float(degree.max())
    if max_degree <= 1e-12:  # no two units share a weighted token: all equally central
        return np.full(num_units, 1.0 / num_units)
    stay_on_edges = degree / max_degree
    rank = np.full(num_units, 1.0 / num_units)
    for _ in range(MAX_ITERATIONS):
        leaked = float((rank * (1.0 - stay_on_edges)).sum())
        spread = times(rank) / max_degree + leaked / num_units
        new_rank = (1.0 - damping) / num_units + damping * spread
        new_rank /= new_rank.sum()
        converged = np.abs(new_rank - rank).sum() < TOLERANCE
        rank = new_rank
        if converged:
            break
    return rank


def centroid_scores(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray, vocab_size: int, num_units: int
) -> np.ndarray:
    """Cosine similarity of each unit to the document's TF-IDF centroid: ``[u]`` float64."""
    centroid = np.bincount(cols, weights=values, minlength=vocab_size)
    norm = np.linalg.norm(centroid)
    if norm == 0:
        return np.zeros(num_units)
    return np.bincount(rows, weights=values * (centroid / norm)[cols], minlength=num_units)


def greedy_fill(scores: np.ndarray, lengths: np.ndarray, budget: int) -> np.ndarray:
    """Boolean ``[u]`` mask of units chosen best-score-first while they fit in ``budget``.

    Ties (after rounding to RANK_DECIMALS) go to the earlier unit. A unit that does not fit is
    skipped and the next ones are still tried. Empty units are never chosen.
    """
    order = np.lexsort((np.arange(len(scores)), -np.round(scores, RANK_DECIMALS)))
    chosen = np.zeros(len(scores), dtype=bool)
    remaining = budget
    for index in order.tolist():
        length = int(lengths[index])
        if 0 < length <= remaining:
            chosen[index] = True
            remaining -= length
            if remaining == 0:
                break
    return chosen


@dataclass(frozen=True, eq=False)
class KeySentencesParams(StrategyParams):
    max_tokens: int = param(
        BERT_CONTENT_TOKENS, "Token budget the chosen sentences fill.", low=1, high=BERT_CONTENT_TOKENS
    )
    scorer: str = param("textrank", "How sentences are scored (centroid is cheaper).", choices=SCORERS)
    damping: float = param(0.85, "TextRank's damping factor (strictly between 0 and 1).", low=0.0, high=1.0)


class KeySentencesStrategy(Strategy):
    """The most central sentences that fit in ``max_tokens``, in document order.

    Parameters: ``max_tokens`` (budget, 1-510), ``scorer`` (``textrank`` or ``centroid``),
    ``damping`` (PageRank damping factor, strictly between 0 and 1). ``segment_scores`` has one
    ``SegmentScore(kind="sentence")`` per unit -- a sentence, or a piece of a sentence longer
    than the budget -- with its score scaled so the best unit scores 1, and ``selected``.
    Documents that fit are kept whole (all units selected), scores still computed.
    """

    name: ClassVar[str] = "key_sentences"
    mode: ClassVar[Mode] = "window"
    title: ClassVar[str] = "Key sentences"
    reads: ClassVar[str] = "the most central sentences (TextRank), up to {max_tokens} tokens"
    Params = KeySentencesParams

    def score(self, doc: TokenizedDocument, units: np.ndarray) -> np.ndarray:
        """Each unit's score, ``[u]`` float64 in ``[0, 1]`` (best unit = 1 unless all are 0)."""
        rows, cols, values, vocab_size = tfidf_rows(doc.input_ids, units)
        if self.params.scorer == "textrank":
            raw = textrank_scores(rows, cols, values, vocab_size, len(units), float(self.params.damping))
        else:
            raw = centroid_scores(rows, cols, values, vocab_size, len(units))
        # Units without tokens are never chosen; give them 0 so the UI does not show them as
        # "central" by way of PageRank's uniform teleport share.
        raw = np.where(units[:, 1] > units[:, 0], raw, 0.0)
        top = raw.max() if len(raw) else 0.0
        return raw / top if top > 0 else raw

    def select(self, doc: TokenizedDocument) -> Selection:
        """One window of the chosen units' positions, sorted (document order)."""
        budget = self.params.max_tokens
        units, sentence_of_unit = sentence_units(doc, budget)
        scores = self.score(doc, units)
        lengths = units[:, 1] - units[:, 0]
        # A document that fits is kept whole: greedy filling then takes every non-empty unit.
        chosen = greedy_fill(scores, lengths, budget)
        positions = [np.arange(s, e, dtype=np.int64) for s, e in units[chosen].tolist()]
        window = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
        segment_scores = [
            SegmentScore(
                kind="sentence",
                span=_unit_span(doc, start, end, sentence_of_unit[index]),
                score=float(scores[index]),
                selected=bool(chosen[index]),
            )
            for index, (start, end) in enumerate(units.tolist())
        ]
        return Selection(doc=doc, mode=self.mode, windows=[np.sort(window)], segment_scores=segment_scores)


def _unit_span(doc: TokenizedDocument, start: int, end: int, sentence: int) -> tuple[int, int]:
    """Character span of a unit: its sentence's span when it is the whole sentence (or has no
    tokens), else the extent of its tokens (a piece of an over-long sentence)."""
    sentence_start, sentence_end = (int(x) for x in doc.sentence_spans[sentence])
    whole = doc.token_sentence[start - 1] != sentence if start > 0 else True
    whole = whole and (end >= doc.num_tokens or doc.token_sentence[end] != sentence)
    if end <= start or whole:
        return sentence_start, sentence_end
    return int(doc.offsets[start, 0]), int(doc.offsets[end - 1, 1])
