"""Which tokens of a document the model read, on the document's token axis, from a Prediction.

A prediction stores its strategy and parameters, the document's token count and the character
spans read, not the token positions. The positions are recomputed the way the strategy chose
them (truncate, sparse and chunk depend only on the token count), taken from the stored
per-token attention (key sentences: tokens the model did not see have no attention), or, when
neither matches the recorded token count, estimated from the character spans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from longbert.errors import LongBertError
from longbert.results import Prediction, Span
from longbert.strategies import get_strategy
from longbert.strategies.chunk import head_tail_view, window_starts

#: A half-open range of token positions ``[start, end)``.
TokenRange = tuple[int, int]


@dataclass(frozen=True)
class Coverage:
    """What was read of a ``total``-token document.

    ``read``: merged, sorted token ranges the model read. ``windows``: the chunk strategy's
    (overlapping) windows, empty for other strategies; ``window_names`` names each (``w1``...;
    chunk's head+tail window is two ranges, ``w1 head`` and ``w1 tail``). ``exact``: False when
    the ranges were estimated from character offsets.
    """

    total: int
    read: list[TokenRange]
    windows: list[TokenRange] = field(default_factory=list)
    exact: bool = True
    window_names: list[str] = field(default_factory=list)

    def window_name(self, index: int) -> str:
        """The name of ``windows[index]``."""
        return self.window_names[index] if index < len(self.window_names) else f"w{index + 1}"

    @property
    def window_count(self) -> int:
        """How many windows the ranges are (the head+tail window's two count once)."""
        return len({name.split()[0] for name in map(self.window_name, range(len(self.windows)))})

    @property
    def used(self) -> int:
        return sum(end - start for start, end in self.read)

    @property
    def unread(self) -> list[TokenRange]:
        """The gaps between read ranges (what the model never saw)."""
        gaps: list[TokenRange] = []
        cursor = 0
        for start, end in self.read:
            if start > cursor:
                gaps.append((cursor, start))
            cursor = max(cursor, end)
        if cursor < self.total:
            gaps.append((cursor, self.total))
        return gaps


def runs(positions: np.ndarray) -> list[TokenRange]:
    """Sorted token positions as merged ``[start, end)`` runs of consecutive positions."""
    pos = np.unique(np.asarray(positions, dtype=np.int64))
    if len(pos) == 0:
        return []
    breaks = np.nonzero(np.diff(pos) != 1)[0]
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(pos) - 1]])
    return [(int(pos[a]), int(pos[b]) + 1) for a, b in zip(starts, ends, strict=True)]


def merge(ranges: Sequence[TokenRange]) -> list[TokenRange]:
    """Overlapping or touching ranges merged, sorted."""
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _from_strategy(p: Prediction) -> tuple[list[TokenRange], list[TokenRange], list[str]] | None:
    """Ranges (and chunk windows, named) recomputed from the strategy; None when it needs the text."""
    try:
        strategy = get_strategy({"name": p.strategy, "params": dict(p.strategy_params or {})})
    except (LongBertError, TypeError, ValueError):
        return None
    n, params = int(p.total_tokens), strategy.params
    if strategy.name == "truncate":
        return runs(strategy.positions(n)), [], []  # type: ignore[attr-defined]
    if strategy.name == "sparse":
        return [(0, min(n, int(params["max_tokens"])))], [], []
    if strategy.name == "chunk":
        window = int(params["window"])
        starts = window_starts(n, window, int(params["stride"]), params.get("max_chunks"))
        windows = [(int(s), min(int(s) + window, n)) for s in starts.tolist()]
        names = [f"w{i + 1}" for i in range(len(windows))]
        if params.get("head_tail") and n > window:  # one more window, first: head and tail
            pieces = runs(head_tail_view(n, window))
            windows = pieces + windows
            kinds = ["head", "tail"] if len(pieces) == 2 else [""] * len(pieces)
            names = [f"w1 {kind}".strip() for kind in kinds] + [f"w{i + 2}" for i in range(len(names))]
        return merge(windows), windows, names
    return None


def _from_attention(p: Prediction) -> list[TokenRange] | None:
    scores = None if p.attention is None else np.asarray(p.attention.token_scores).reshape(-1)
    if scores is None or len(scores) != p.total_tokens:
        return None
    return runs(np.nonzero(scores > 0)[0])


def _estimated(p: Prediction, text_length: int) -> list[TokenRange]:
    if text_length <= 0:
        return []
    scale = p.total_tokens / text_length
    ranges = [(round(s * scale), max(round(e * scale), round(s * scale) + 1)) for s, e in p.spans]
    return merge([(max(0, a), min(p.total_tokens, b)) for a, b in ranges])


def coverage(p: Prediction, text_length: int) -> Coverage:
    """The token ranges ``p``'s model read of a document of ``text_length`` characters."""
    total = max(0, int(p.total_tokens))
    if total == 0:
        return Coverage(0, [])
    found = _from_strategy(p)
    if found is not None:
        read, windows, names = found
        if sum(b - a for a, b in read) == p.used_tokens:
            return Coverage(total, read, windows, window_names=names)
    if p.used_tokens >= total:
        return Coverage(total, [(0, total)])
    from_attention = _from_attention(p)
    if from_attention is not None and sum(b - a for a, b in from_attention) == p.used_tokens:
        return Coverage(total, from_attention)
    return Coverage(total, _estimated(p, text_length), exact=False)


def units_read(unit_spans: np.ndarray, seen: Sequence[Span]) -> np.ndarray:
    """``[n]`` bool: whether each unit (word or sentence span) overlaps a character span read."""
    spans = np.asarray(unit_spans, dtype=np.int64).reshape(-1, 2)
    if not len(seen):
        return np.zeros(len(spans), dtype=bool)
    merged = np.asarray(merge([(int(a), int(b)) for a, b in seen]), dtype=np.int64)
    # The last read span starting before each unit's end; the unit overlaps it if it ends later.
    index = np.searchsorted(merged[:, 0], spans[:, 1], side="left") - 1
    valid = index >= 0
    ends = np.where(valid, merged[np.clip(index, 0, None), 1], -1)
    return valid & (ends > spans[:, 0])
