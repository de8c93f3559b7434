"""Chunking: cover the document with overlapping BERT windows, read each, pool their [CLS].

Windows are ``window`` tokens long and start every ``stride`` tokens (overlap = ``window -
stride``); the last window is moved back so it ends exactly at the document's last token, so it
may overlap its neighbour by more than the configured overlap. Pooling of the windows' [CLS]
vectors (``mean``, ``max`` or learned ``attention``) is the model's job and the model's setting
(:class:`~longbert.modeling.modules.ChunkPooling`); format-1 checkpoints kept it here as
``pooling``, which is still accepted in specs and handed to the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from longbert.settings import BERT_CONTENT_TOKENS, POOLING_METHODS
from longbert.strategies.base import Mode, Selection, Strategy
from longbert.strategies.params import StrategyParams, param
from longbert.strategies.truncate import TruncateParams, TruncateStrategy
from longbert.tokenization import TokenizedDocument


def window_starts(num_tokens: int, window: int, stride: int, max_chunks: int | None = None) -> np.ndarray:
    """First token position of each window: ``[k]`` int64, increasing.

    Without ``max_chunks`` the windows start at ``0, stride, 2*stride, ...`` plus a last one at
    ``num_tokens - window``, so every token is in a window. With ``max_chunks`` and more windows
    than that, exactly ``max_chunks`` windows are kept, their starts spread evenly between the
    first (position 0) and the last (ending at the last token) -- rounded to whole tokens -- so
    the model still sees the beginning, the end, and evenly spaced parts between. Tokens in the
    gaps are then unseen when ``max_chunks * window < num_tokens``. ``max_chunks=1`` keeps the
    first window only.
    """
    if num_tokens <= window:
        return np.zeros(1, dtype=np.int64)
    last = num_tokens - window
    starts = np.append(np.arange(0, last, stride, dtype=np.int64), last)
    if max_chunks is not None and len(starts) > max_chunks:
        if max_chunks == 1:
            return np.zeros(1, dtype=np.int64)
        starts = np.unique(np.rint(np.linspace(0, last, max_chunks)).astype(np.int64))
    return starts


#: Head tokens of chunk's head+tail window at the full window (the rest comes from the end):
#: truncation's head+tail default (128 + 382, Sun et al. 2019's best split); smaller windows
#: keep the proportion.
HEAD_TAIL_HEAD = TruncateParams().head_tokens


@dataclass(frozen=True, eq=False)
class ChunkParams(StrategyParams):
    window: int = param(
        BERT_CONTENT_TOKENS, "Content tokens per window.", low=1, high=BERT_CONTENT_TOKENS
    )
    stride: int = param(
        256, "Tokens between window starts (overlap = window - stride).", low=1, high="window"
    )
    max_chunks: int | None = param(
        None, "At most this many windows, evenly spread over the document (none: every window).", low=1
    )
    head_tail: bool = param(
        False,
        "Also read the document's head+tail view (a window of its first quarter from the start, the "
        "rest from the end: 128 + 382 tokens at 510) as one more window, first, for the pooling to "
        "weigh beside the others (documents longer than one window).",
    )


@dataclass(frozen=True, eq=False)
class ChunkModelSettings(StrategyParams):
    pooling: str | None = param(
        None, "How a document's windows are pooled (none: the model's own).", choices=POOLING_METHODS
    )


class ChunkStrategy(Strategy):
    """Overlapping windows over the whole document (or ``max_chunks`` of them), pooled.

    Parameters: ``window`` (content tokens per window, 1-510), ``stride`` (tokens between window
    starts, 1-``window``), ``max_chunks`` (``None``: every window; an int: that many, evenly
    spread, see :func:`window_starts`). How the windows are pooled is the model's setting.
    """

    name: ClassVar[str] = "chunk"
    mode: ClassVar[Mode] = "chunks"
    title: ClassVar[str] = "Chunk"
    reads: ClassVar[str] = "every token, in overlapping {window}-token windows, pooled"
    Params = ChunkParams
    ModelSettings = ChunkModelSettings

    def select(self, doc: TokenizedDocument) -> Selection:
        """One window of consecutive positions per chunk, in document order (after the head+tail
        window, with ``head_tail``)."""
        n = doc.num_tokens
        window = self.params.window
        starts = window_starts(n, window, self.params.stride, self.params.max_chunks)
        windows = [np.arange(s, min(s + window, n), dtype=np.int64) for s in starts.tolist()]
        if self.params.head_tail and n > window:
            windows.insert(0, head_tail_view(n, window))
        return Selection(doc=doc, mode=self.mode, windows=windows)


def head_tail_view(num_tokens: int, window: int) -> np.ndarray:
    """The positions of chunk's head+tail window over a ``num_tokens`` document: a quarter of
    ``window`` from the start (128 of 510, as head+tail truncation), the rest from the end."""
    head = round(window * HEAD_TAIL_HEAD / BERT_CONTENT_TOKENS)
    return TruncateStrategy(
        mode="head+tail", head_tokens=head, tail_tokens=window - head, max_tokens=window
    ).positions(num_tokens)
