"""Truncation: keep the head, the tail, or both ends of the document in one BERT window.

``head+tail`` (first 128 + last 382 tokens) is the best truncation of Sun et al. 2019, "How to
Fine-Tune BERT for Text Classification?": introductions and conclusions carry most of the label.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from longbert.config import BERT_CONTENT_TOKENS
from longbert.errors import StrategyConfigError
from longbert.strategies._checks import check_choice, check_int
from longbert.strategies.base import Encoded, Mode, Strategy
from longbert.tokenization import TokenizedDocument

MODES = ("head", "tail", "head+tail")


class TruncateStrategy(Strategy):
    """One window of the document's first and/or last tokens.

    Parameters: ``mode`` -- ``head`` (first ``max_tokens``), ``tail`` (last ``max_tokens``) or
    ``head+tail`` (first ``head_tokens`` then last ``tail_tokens``, with
    ``head_tokens + tail_tokens <= max_tokens <= 510``). A document that fits -- at most
    ``max_tokens`` tokens for ``head``/``tail``, at most ``head_tokens + tail_tokens`` for
    ``head+tail`` -- is kept whole.
    """

    name: ClassVar[str] = "truncate"
    mode: ClassVar[Mode] = "window"
    defaults: ClassVar[dict[str, Any]] = {
        "mode": "head+tail",
        "head_tokens": 128,
        "tail_tokens": 382,
        "max_tokens": BERT_CONTENT_TOKENS,
    }

    def validate(self) -> None:
        p = self.params
        check_choice(self.name, "mode", p["mode"], MODES)
        check_int(self.name, "max_tokens", p["max_tokens"], 1, BERT_CONTENT_TOKENS)
        check_int(self.name, "head_tokens", p["head_tokens"], 0, BERT_CONTENT_TOKENS)
        check_int(self.name, "tail_tokens", p["tail_tokens"], 0, BERT_CONTENT_TOKENS)
        if p["mode"] == "head+tail":
            if p["head_tokens"] + p["tail_tokens"] > p["max_tokens"]:
                raise StrategyConfigError(
                    f"Strategy 'truncate': parameters 'head_tokens' + 'tail_tokens' "
                    f"({p['head_tokens']} + {p['tail_tokens']}) must not exceed 'max_tokens' "
                    f"({p['max_tokens']})."
                )
            if p["head_tokens"] + p["tail_tokens"] == 0:
                raise StrategyConfigError(
                    "Strategy 'truncate': parameters 'head_tokens' and 'tail_tokens' are both 0; "
                    "head+tail needs at least one token."
                )

    def positions(self, num_tokens: int) -> np.ndarray:
        """Token positions kept from a document of ``num_tokens`` tokens: ``[k]`` int64, sorted."""
        n = num_tokens
        mode = self.params["mode"]
        if mode == "head+tail":
            head, tail = self.params["head_tokens"], self.params["tail_tokens"]
            if n <= head + tail:
                return np.arange(n, dtype=np.int64)
            return np.concatenate([np.arange(head, dtype=np.int64), np.arange(n - tail, n, dtype=np.int64)])
        keep = min(n, self.params["max_tokens"])
        if mode == "head":
            return np.arange(keep, dtype=np.int64)
        return np.arange(n - keep, n, dtype=np.int64)

    def encode(self, doc: TokenizedDocument) -> Encoded:
        """One window: the kept positions in document order."""
        return Encoded(doc=doc, mode=self.mode, windows=[self.positions(doc.num_tokens)])
