"""The one interface every long-input strategy implements.

A strategy *selects* what the model reads of a :class:`TokenizedDocument`: a :class:`Selection`
of token positions, in windows, in one mode. It never touches the model; the model adds
[CLS]/[SEP] and runs. Parameters are a typed dataclass per strategy whose JSON form is stored
with every prediction and every checkpoint, so inference preprocesses exactly as training did.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from longbert.results import SegmentScore, Span
from longbert.strategies.params import StrategyParams
from longbert.tokenization import TokenizedDocument

#: ``window``: one window of at most 510 content tokens (truncate, key sentences).
#: ``chunks``: several windows, each read by the encoder alone, their [CLS] vectors pooled (chunk).
#: ``long``: one long sequence under sparse local/global attention (sparse).
Mode = Literal["window", "chunks", "long"]


@dataclass
class Selection:
    """What the model will read of one document.

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
    """Base class: subclasses declare ``name``, ``mode``, ``title`` and their ``Params``
    dataclass, and implement :meth:`select` (and :meth:`summary`, one line for the app).

    ``__init__`` checks the parameters (unknown names, wrong types or ranges raise
    :class:`~longbert.errors.StrategyConfigError` with a message naming the parameter);
    ``params`` is the typed, frozen result.
    """

    name: ClassVar[str]
    mode: ClassVar[Mode]
    #: A short name for selectors, tabs and column headings.
    title: ClassVar[str]
    #: What the strategy reads, in a few words: formatted with its defaults and fixed bounds
    #: (``{max_tokens}``, ``{max_max_tokens}``), see :meth:`summary`.
    reads: ClassVar[str]
    Params: ClassVar[type[StrategyParams]]
    #: Every parameter's default (from ``Params``).
    defaults: ClassVar[dict[str, Any]]
    #: Settings of the *model* this strategy's reading depends on (chunk: ``pooling``, sparse:
    #: ``attention_window``), declared like parameters; None means "the model's own". A spec
    #: may override them for a run, and format-1 specs kept them among the params (see
    #: :func:`longbert.strategies.parse_strategy`); the values go to the model, never here.
    ModelSettings: ClassVar[type[StrategyParams] | None] = None
    model_params: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Params" in cls.__dict__:
            cls.defaults = cls.Params.defaults()
        if cls.ModelSettings is not None:
            cls.model_params = cls.ModelSettings.names()

    def __init__(self, **params: Any) -> None:
        self.params = self.Params.build(self.name, params)

    def config(self) -> dict[str, Any]:
        """``{"name": ..., "params": {...}}`` with every parameter, defaults included (JSON-able)."""
        return {"name": self.name, "params": dict(self.params)}

    @classmethod
    def check_model_params(cls, values: dict[str, Any], params: StrategyParams) -> dict[str, Any]:
        """Check the model settings a spec carried; returns them (StrategyConfigError if bad)."""
        infos = {i.name: i for i in cls.ModelSettings.describe()} if cls.ModelSettings else {}
        for key, value in values.items():
            infos[key].check(cls.name, value, params)
        return {key: value for key, value in values.items() if value is not None}

    @classmethod
    def summary(cls) -> str:
        """What the strategy reads, in a few words (shown under the app's selector)."""
        return cls.reads.format(**cls.defaults, **cls.Params.limits())

    @abstractmethod
    def select(self, doc: TokenizedDocument) -> Selection:
        """Choose what the model reads of ``doc``."""
