"""Sparse attention: one long window read with local (sliding-window) plus global attention.

Longformer-style (Beltagy et al. 2020): every token attends to a window of tokens on each side;
[CLS] -- and, with ``global_sentences``, the first token of every sentence -- attends to and is
attended by every token. The model builds the attention pattern, and the window is the model's
setting (``attention_window`` in the encoder config); this strategy only picks the positions (the
document's head, up to ``max_tokens``) and the global ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from longbert.settings import BERT_MAX_TOKENS
from longbert.strategies.base import Mode, Selection, Strategy
from longbert.strategies.params import StrategyParams, param
from longbert.tokenization import TokenizedDocument

#: Longest sequence the sparse model accepts (content tokens). Memory is linear in the length
#: with local attention, but position embeddings must be extended this far by copying.
MAX_SPARSE_TOKENS = 32768


@dataclass(frozen=True, eq=False)
class SparseParams(StrategyParams):
    max_tokens: int = param(
        4096, "Content tokens read from the document's head (longer documents are cut there).",
        low=BERT_MAX_TOKENS, high=MAX_SPARSE_TOKENS,
    )
    global_sentences: bool = param(
        False, "Give the first token of every sentence global attention, as [CLS] has."
    )


@dataclass(frozen=True, eq=False)
class SparseModelSettings(StrategyParams):
    attention_window: int | None = param(
        None, "Tokens each token attends to on each side (none: the model's own).", low=1, high="max_tokens"
    )


class SparseStrategy(Strategy):
    """The first ``max_tokens`` tokens as one sequence; optionally sentence starts as globals.

    Parameters: ``max_tokens`` (content tokens, 512-32768; longer documents are cut at the head,
    visible in ``spans`` and ``used_tokens``), ``global_sentences`` (``True``: the first token of
    every sentence inside the window gets global attention). The local window is the model's
    setting.
    """

    name: ClassVar[str] = "sparse"
    mode: ClassVar[Mode] = "long"
    title: ClassVar[str] = "Sparse attention"
    reads: ClassVar[str] = (
        "the first {max_tokens:,} tokens (up to {max_max_tokens:,}) under sparse local/global attention"
    )
    Params = SparseParams
    ModelSettings = SparseModelSettings

    def select(self, doc: TokenizedDocument) -> Selection:
        """One window ``[0, min(n, max_tokens))``; globals are sentence starts inside it."""
        length = min(doc.num_tokens, self.params.max_tokens)
        window = np.arange(length, dtype=np.int64)
        global_positions = np.zeros(0, dtype=np.int64)
        if self.params.global_sentences and length:
            ranges = doc.sentence_token_ranges()
            starts = ranges[ranges[:, 0] < ranges[:, 1], 0]  # sentences with tokens only
            global_positions = starts[starts < length].astype(np.int64)
        return Selection(doc=doc, mode=self.mode, windows=[window], global_positions=global_positions)
