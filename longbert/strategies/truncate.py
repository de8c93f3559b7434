"""Truncation: keep the head, the tail, or both ends of the document in one BERT window.

``head+tail`` (first 128 + last 382 tokens) is the best truncation of Sun et al. 2019, "How to
Fine-Tune BERT for Text Classification?": introductions and conclusions carry most of the label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from longbert.errors import StrategyConfigError
from longbert.settings import BERT_CONTENT_TOKENS
from longbert.strategies.base import Mode, Selection, Strategy
from longbert.strategies.params import StrategyParams, param
from longbert.tokenization import TokenizedDocument

MODES = ("head", "tail", "head+tail")


@dataclass(frozen=True, eq=False)
class TruncateParams(StrategyParams):
    mode: str = param("head+tail", "Which end(s) of the document to keep.", choices=MODES)
    head_tokens: int = param(128, "head+tail: tokens kept from the start.", low=0, high=BERT_CONTENT_TOKENS)
    tail_tokens: int = param(382, "head+tail: tokens kept from the end.", low=0, high=BERT_CONTENT_TOKENS)
    max_tokens: int = param(
        BERT_CONTENT_TOKENS, "head / tail: tokens kept (head+tail: their upper bound).",
        low=1, high=BERT_CONTENT_TOKENS,
    )

    def check(self, strategy: str) -> None:
        if self.mode != "head+tail":
            return
        if self.head_tokens + self.tail_tokens > self.max_tokens:
            raise StrategyConfigError(
                f"Strategy '{strategy}': parameters 'head_tokens' + 'tail_tokens' "
                f"({self.head_tokens} + {self.tail_tokens}) must not exceed 'max_tokens' "
                f"({self.max_tokens})."
            )
        if self.head_tokens + self.tail_tokens == 0:
            raise StrategyConfigError(
                f"Strategy '{strategy}': parameters 'head_tokens' and 'tail_tokens' are both 0; "
                "head+tail needs at least one token."
            )


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
    title: ClassVar[str] = "Truncate"
    reads: ClassVar[str] = "the head, the tail or head+tail of the document ({max_tokens} tokens)"
    Params = TruncateParams

    def positions(self, num_tokens: int) -> np.ndarray:
        """Token positions kept from a document of ``num_tokens`` tokens: ``[k]`` int64, sorted."""
        n = num_tokens
        mode = self.params.mode
        if mode == "head+tail":
            head, tail = self.params.head_tokens, self.params.tail_tokens
            if n <= head + tail:
                return np.arange(n, dtype=np.int64)
            return np.concatenate([np.arange(head, dtype=np.int64), np.arange(n - tail, n, dtype=np.int64)])
        keep = min(n, self.params.max_tokens)
        if mode == "head":
            return np.arange(keep, dtype=np.int64)
        return np.arange(n - keep, n, dtype=np.int64)

    def select(self, doc: TokenizedDocument) -> Selection:
        """One window: the kept positions in document order."""
        return Selection(doc=doc, mode=self.mode, windows=[self.positions(doc.num_tokens)])
