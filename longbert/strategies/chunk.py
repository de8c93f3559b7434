"""Chunking: cover the document with overlapping BERT windows, encode each, pool their [CLS].

Windows are ``window`` tokens long and start every ``stride`` tokens (overlap = ``window -
stride``); the last window is moved back so it ends exactly at the document's last token, so it
may overlap its neighbour by more than the configured overlap. Pooling of the windows' [CLS]
vectors (``mean``, ``max`` or learned ``attention``) is the model's job; it reads the
``pooling`` parameter from here.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from longbert.config import BERT_CONTENT_TOKENS
from longbert.strategies._checks import check_choice, check_int
from longbert.strategies.base import Encoded, Mode, Strategy
from longbert.tokenization import TokenizedDocument

POOLINGS = ("mean", "max", "attention")


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


class ChunkStrategy(Strategy):
    """Overlapping windows over the whole document (or ``max_chunks`` of them), pooled.

    Parameters: ``window`` (content tokens per window, 1-510), ``stride`` (tokens between window
    starts, 1-``window``), ``pooling`` (``mean``/``max``/``attention``, used by the model),
    ``max_chunks`` (``None``: every window; an int: that many, evenly spread, see
    :func:`window_starts`).
    """

    name: ClassVar[str] = "chunk"
    mode: ClassVar[Mode] = "chunks"
    defaults: ClassVar[dict[str, Any]] = {
        "window": BERT_CONTENT_TOKENS,
        "stride": 256,
        "pooling": "mean",
        "max_chunks": None,
    }

    def validate(self) -> None:
        p = self.params
        window = check_int(self.name, "window", p["window"], 1, BERT_CONTENT_TOKENS)
        check_int(self.name, "stride", p["stride"], 1, window)
        check_choice(self.name, "pooling", p["pooling"], POOLINGS)
        if p["max_chunks"] is not None:
            check_int(self.name, "max_chunks", p["max_chunks"], 1)

    def encode(self, doc: TokenizedDocument) -> Encoded:
        """One window of consecutive positions per chunk, in document order."""
        n = doc.num_tokens
        window = self.params["window"]
        starts = window_starts(n, window, self.params["stride"], self.params["max_chunks"])
        windows = [np.arange(s, min(s + window, n), dtype=np.int64) for s in starts.tolist()]
        return Encoded(doc=doc, mode=self.mode, windows=windows)
