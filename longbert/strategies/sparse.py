"""Sparse attention: one long window read with local (sliding-window) plus global attention.

Longformer-style (Beltagy et al. 2020): every token attends to ``attention_window`` tokens on each
side; [CLS] -- and, with ``global_sentences``, the first token of every sentence -- attends to
and is attended by every token. The model builds the attention pattern; this strategy only picks
the positions (the document's head, up to ``max_tokens``) and the global ones.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from longbert.config import BERT_MAX_TOKENS
from longbert.strategies._checks import check_bool, check_int
from longbert.strategies.base import Encoded, Mode, Strategy
from longbert.tokenization import TokenizedDocument

#: Longest sequence the sparse model accepts (content tokens). Memory is linear in the length
#: with local attention, but position embeddings must be extended this far by copying.
MAX_SPARSE_TOKENS = 32768


class SparseStrategy(Strategy):
    """The first ``max_tokens`` tokens as one sequence; optionally sentence starts as globals.

    Parameters: ``max_tokens`` (content tokens, 512-32768; longer documents are cut at the head,
    visible in ``spans`` and ``used_tokens``), ``attention_window`` (tokens seen on *each* side,
    1-``max_tokens``; read by the model), ``global_sentences`` (``True``: the first token of
    every sentence inside the window gets global attention).
    """

    name: ClassVar[str] = "sparse"
    mode: ClassVar[Mode] = "long"
    defaults: ClassVar[dict[str, Any]] = {
        "max_tokens": 4096,
        "attention_window": 256,
        "global_sentences": False,
    }

    def validate(self) -> None:
        p = self.params
        max_tokens = check_int(self.name, "max_tokens", p["max_tokens"], BERT_MAX_TOKENS, MAX_SPARSE_TOKENS)
        check_int(self.name, "attention_window", p["attention_window"], 1, max_tokens)
        check_bool(self.name, "global_sentences", p["global_sentences"])

    def encode(self, doc: TokenizedDocument) -> Encoded:
        """One window ``[0, min(n, max_tokens))``; globals are sentence starts inside it."""
        length = min(doc.num_tokens, self.params["max_tokens"])
        window = np.arange(length, dtype=np.int64)
        global_positions = np.zeros(0, dtype=np.int64)
        if self.params["global_sentences"] and length:
            ranges = doc.sentence_token_ranges()
            starts = ranges[ranges[:, 0] < ranges[:, 1], 0]  # sentences with tokens only
            global_positions = starts[starts < length].astype(np.int64)
        return Encoded(doc=doc, mode=self.mode, windows=[window], global_positions=global_positions)
