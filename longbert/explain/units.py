"""Sentences the model read, and perturbed copies of what it read (tokens removed or kept).

"Removing" a sentence deletes its token positions from every window that holds them; the windows
get shorter, later tokens move up, and nothing the strategy did not choose is pulled in. This is
ERASER's removal (DeYoung et al. 2020 delete rationale tokens rather than mask them) applied to
what the model read. The alternatives were worse here: re-running the strategy on the shortened
document lets truncation or key-sentence selection slide *new* text into the window, so the score
would mix "this sentence mattered" with "that other sentence came in"; replacing tokens with
[PAD]/[MASK] keeps positions but feeds the model inputs it never saw in training (runs of [MASK]
or attended padding), which measures its reaction to those tokens as much as the sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from longbert.strategies import Selection


@dataclass
class ReadSentences:
    """The sentences with at least one token the model read, in document order.

    ``index`` ``[S]`` int64 into ``doc.sentence_spans``; ``positions`` per sentence, the document
    token positions of it that were read (sorted); ``coverage`` ``[S]`` read share of its tokens.
    """

    index: np.ndarray
    positions: list[np.ndarray]
    coverage: np.ndarray

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def token_counts(self) -> np.ndarray:
        return np.asarray([len(p) for p in self.positions], dtype=np.int64)


def read_sentences(encoded: Selection) -> ReadSentences:
    """Group the positions ``encoded`` reads by sentence."""
    used = encoded.used_positions
    doc = encoded.doc
    if len(used) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return ReadSentences(empty, [], np.zeros(0, dtype=np.float32))
    sentence_of = doc.token_sentence[used].astype(np.int64)
    index, starts = np.unique(sentence_of, return_index=True)
    positions = np.split(used, starts[1:])
    totals = np.bincount(doc.token_sentence, minlength=len(doc.sentence_spans))[index]
    coverage = np.asarray([len(p) for p in positions], dtype=np.float32) / np.maximum(totals, 1)
    return ReadSentences(index.astype(np.int64), positions, coverage.astype(np.float32))


def remove_positions(encoded: Selection, drop: np.ndarray) -> Selection:
    """``encoded`` with the token positions ``drop`` deleted from every window (windows kept,
    possibly empty; global positions that were dropped are gone too).

    Windows that hold none of ``drop`` are ``encoded``'s own arrays, not copies: occlusion keeps
    one copy per sentence, and a sentence lives in one or two of a long document's hundreds of
    windows (copying them all took gigabytes at 150k tokens).
    """
    drop = np.asarray(drop, dtype=np.int64)
    windows = [_without(w, drop) for w in encoded.windows]
    return replace(encoded, windows=windows, global_positions=_without(encoded.global_positions, drop))


def _without(positions: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """``positions`` less ``drop``: ``positions`` itself when it holds none of them."""
    if positions.size == 0 or drop.size == 0:
        return positions
    if positions.max() < drop.min() or positions.min() > drop.max():  # cheaper than isin
        return positions
    hit = np.isin(positions, drop)
    return positions[~hit] if hit.any() else positions


def keep_positions(encoded: Selection, keep: np.ndarray) -> Selection:
    """``encoded`` reading only the token positions ``keep`` (in their windows, order kept)."""
    keep = np.asarray(keep, dtype=np.int64)
    windows = [w[np.isin(w, keep)] for w in encoded.windows]
    globals_ = encoded.global_positions[np.isin(encoded.global_positions, keep)]
    return replace(encoded, windows=windows, global_positions=globals_)


def top_share(order: np.ndarray, token_counts: np.ndarray, share: float) -> np.ndarray:
    """The first sentences of ``order`` whose tokens reach ``share`` of all read tokens (≥ 1).

    ERASER's k% is a share of tokens; here it is filled with whole sentences, best first.
    """
    total = int(token_counts.sum())
    if len(order) == 0:
        return order
    cumulative = np.cumsum(token_counts[order])
    count = int(np.searchsorted(cumulative, share * total, side="left")) + 1
    return order[: min(max(count, 1), len(order))]
