"""The one interface every long-input strategy implements.

A strategy turns a :class:`TokenizedDocument` into :class:`Encoded`: which token positions the
model will read, in which windows, and in which mode. It never touches the model; the model adds
[CLS]/[SEP] and runs. Parameters are plain JSON-able values, stored with every prediction and
every checkpoint so inference preprocesses exactly as training did.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from longbert.results import SegmentScore, Span
from longbert.tokenization import TokenizedDocument

#: ``window``: one window of at most 510 content tokens (truncate, key sentences).
#: ``chunks``: several windows, each encoded alone, their [CLS] vectors pooled (chunk).
#: ``long``: one long sequence under sparse local/global attention (sparse).
Mode = Literal["window", "chunks", "long"]


@dataclass
class Encoded:
    """What the model will see of one document.

    ``windows``: per window, an int64 array of token positions into ``doc`` (content only: the
    model adds [CLS] and [SEP]). Positions are in the order fed to the model (document order for
    every built-in strategy). ``global_positions``: for ``long`` mode, extra token positions
    (document positions) given global attention besides [CLS] (e.g. each sentence's first
    token); empty otherwise. ``segment_scores``: the strategy's own scores (key sentences);
    window scores are added by the model.
    """

    doc: TokenizedDocument
    mode: Mode
    windows: list[np.ndarray]
    global_positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    segment_scores: list[SegmentScore] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        return self.doc.num_tokens

    @property
    def used_positions(self) -> np.ndarray:
        if not self.windows:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate(self.windows))

    @property
    def used_tokens(self) -> int:
        return int(self.used_positions.shape[0])

    @property
    def spans(self) -> list[Span]:
        return self.doc.char_spans(self.used_positions)


class Strategy(ABC):
    """Base class: subclasses declare ``name``, ``mode`` and ``defaults``, and implement encode.

    ``__init__`` validates parameters (unknown names, wrong types or ranges raise
    :class:`~longbert.errors.StrategyConfigError` with a message naming the parameter).
    """

    name: ClassVar[str]
    mode: ClassVar[Mode]
    defaults: ClassVar[dict[str, Any]]

    def __init__(self, **params: Any) -> None:
        from longbert.errors import StrategyConfigError

        unknown = set(params) - set(self.defaults)
        if unknown:
            raise StrategyConfigError(
                f"Unknown parameter(s) for strategy '{self.name}': {', '.join(sorted(unknown))}. "
                f"Known: {', '.join(sorted(self.defaults))}."
            )
        self.params: dict[str, Any] = {**self.defaults, **params}
        self.validate()

    def validate(self) -> None:
        """Check ``self.params``; raise StrategyConfigError naming the bad parameter."""

    def config(self) -> dict[str, Any]:
        """``{"name": ..., "params": {...}}`` with every parameter, defaults included."""
        return {"name": self.name, "params": dict(self.params)}

    @abstractmethod
    def encode(self, doc: TokenizedDocument) -> Encoded:
        """Choose what the model sees of ``doc``."""
