"""The typed result of an explanation: signed scores per sentence, and the top words inside them.

Compact and JSON-able (``to_dict``/``from_dict``), so it can be stored next to the prediction
like the attention summary. Scores are for the *explained* label (the predicted one unless asked
otherwise): positive = the sentence speaks for the label, negative = against it. Units depend on
the method (see :data:`METHODS`): occlusion and the gradient methods are in probability points of
the label, attention in [CLS] attention mass (never negative).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Method names and what their scores mean.
METHODS: dict[str, str] = {
    "occlusion": "drop in the label's probability when the sentence is removed from what the model read",
    "integrated_gradients": (
        "integrated gradients of the label's probability on the word embeddings ([PAD] baseline), "
        "summed over the sentence's tokens"
    ),
    "gradient_x_input": (
        "gradient of the label's probability times the word embeddings, summed over the sentence's tokens"
    ),
    "attention": "last layer's [CLS] attention mass on the sentence (unsigned)",
}

#: Version of the dict layout written by ``to_dict``.
EXPLANATION_FORMAT = 1

Span = tuple[int, int]


@dataclass
class WordScore:
    """One word inside a top sentence: its character span and score (same units as the sentence's)."""

    span: Span
    score: float


@dataclass
class SentenceScore:
    """One sentence the model read: its character span into the document text and signed score."""

    span: Span
    score: float
    #: Share of the sentence's tokens the model read (1.0 unless a window cut through it).
    coverage: float = 1.0
    #: True when the score is an estimate (coarse-to-fine occlusion: its block's drop shared by
    #: token count), not the sentence's own measured drop.
    estimated: bool = False


@dataclass
class Explanation:
    """Why ``label`` was given to one document, by one ``method``.

    ``sentences`` are every sentence the strategy let the model read, in document order;
    ``top_words`` maps the index (into ``sentences``) of each of the top sentences (by absolute
    score) to its best words, by absolute score. ``probability`` is the label's probability on
    the unchanged input. ``seconds`` is what the explanation cost to compute. ``warnings``:
    sentences for the reader about why the scores may not account for the prediction shown
    (e.g. the explained probability is not the prediction's; see
    :func:`~longbert.explain.api.check_probability`).
    """

    method: str
    label: str
    probability: float
    strategy: str
    strategy_params: dict[str, Any]
    sentences: list[SentenceScore]
    top_words: dict[int, list[WordScore]] = field(default_factory=dict)
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def top(self, k: int = 5, *, sign: int = 1) -> list[int]:
        """Indices of the ``k`` sentences with the highest scores (``sign=-1``: most against)."""
        order = sorted(range(len(self.sentences)), key=lambda i: (-sign * self.sentences[i].score, i))
        return [i for i in order[:k] if sign * self.sentences[i].score > 0]

    def ranking(self) -> list[int]:
        """Every sentence index, most supportive first (ties: earlier sentence first)."""
        return sorted(range(len(self.sentences)), key=lambda i: (-self.sentences[i].score, i))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only; scores rounded to 6 significant digits to stay compact."""
        return {
            "format": EXPLANATION_FORMAT,
            "method": self.method,
            "label": self.label,
            "probability": _round(self.probability),
            "strategy": self.strategy,
            "strategy_params": dict(self.strategy_params),
            # [start, end, score, coverage], and a fifth item 1 for an estimated score (rows of
            # exact scores, and explanations stored before the flag, have four).
            "sentences": [
                [s.span[0], s.span[1], _round(s.score), _round(s.coverage), *([1] if s.estimated else [])]
                for s in self.sentences
            ],
            "top_words": {
                str(i): [[w.span[0], w.span[1], _round(w.score)] for w in words]
                for i, words in self.top_words.items()
            },
            "seconds": round(self.seconds, 4),
            "details": dict(self.details),
            # Only when there are some: the dicts of explanations stored before stay as they were.
            **({"warnings": list(self.warnings)} if self.warnings else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Explanation:
        """Inverse of :meth:`to_dict`; ValueError naming what is wrong for a malformed dict."""
        if not isinstance(data, dict):
            raise ValueError(f"an explanation is a dict, not {type(data).__name__}")
        if data.get("format") != EXPLANATION_FORMAT:
            raise ValueError(
                f"unknown explanation format {data.get('format')!r} (expected {EXPLANATION_FORMAT})"
            )
        try:
            sentences = [
                SentenceScore((int(a), int(b)), float(s), float(c), bool(flag and flag[0]))
                for a, b, s, c, *flag in data["sentences"]
            ]
            top_words = {
                int(i): [WordScore((int(a), int(b)), float(s)) for a, b, s in words]
                for i, words in data.get("top_words", {}).items()
            }
            return cls(
                method=str(data["method"]),
                label=str(data["label"]),
                probability=float(data["probability"]),
                strategy=str(data["strategy"]),
                strategy_params=dict(data.get("strategy_params") or {}),
                sentences=sentences,
                top_words=top_words,
                seconds=float(data.get("seconds", 0.0)),
                details=dict(data.get("details") or {}),
                warnings=[str(w) for w in data.get("warnings") or []],
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"malformed explanation dict: {type(error).__name__}: {error}") from error


def _round(value: float) -> float:
    return float(f"{float(value):.6g}")
