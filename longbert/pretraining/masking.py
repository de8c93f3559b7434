"""BERT's masked-language-model objective: which positions are predicted and what the model sees.

As BERT defines it (Devlin et al. 2019, and Google's ``create_pretraining_data.py``): 15% of a
sequence's maskable tokens are *selected*; of those 80% are replaced by [MASK], 10% by a random
token and 10% left unchanged; the loss is computed on the selected positions only. Special tokens
([CLS], [SEP], [PAD], [UNK], [MASK]) are never selected.

The budget is exact, as in Google's script rather than HuggingFace's Bernoulli draw:
``round(rate * maskable)`` positions (at least one), never more. Three selection units:

* ``token`` -- single WordPieces (BERT's original).
* ``word`` -- whole-word masking: a word's WordPieces (a piece and the ``##`` continuation pieces
  after it) are selected together or not at all. Words are taken in random order while they fit
  the budget; one that would overflow it is skipped (Google's rule).
* ``span`` -- SpanBERT's span masking (Joshi et al. 2020): a span length in *words* is drawn from a
  geometric distribution (``p = 0.2``) truncated at ``max_span`` (10; mean 3.8 words), an anchor word
  is drawn uniformly, and consecutive whole words from it are selected while they fit the budget,
  never crossing a special token (a document boundary). ``max_span = 3`` gives n-gram masking
  with n up to 3.

With ``word`` and ``span`` the 80/10/10 decision is made per unit (a whole word, a whole span), as
SpanBERT does, so a word is never half [MASK] and half original.

Masks are drawn afresh every time a sequence is seen (dynamic masking, RoBERTa): callers pass a
generator seeded from ``(seed, epoch, sequence index)``, so a resumed run draws the same masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

#: Label of positions without a prediction (PyTorch's ``cross_entropy`` default ignore index).
IGNORE = -100
MaskingUnit = Literal["token", "word", "span"]
MASKING_UNITS: tuple[str, ...] = ("token", "word", "span")


@dataclass(frozen=True)
class MaskingSpec:
    """How positions are selected and replaced (see the module docstring)."""

    unit: MaskingUnit = "token"
    rate: float = 0.15
    mask_share: float = 0.8
    random_share: float = 0.1
    span_p: float = 0.2
    max_span: int = 10

    def __post_init__(self) -> None:
        if self.unit not in MASKING_UNITS:
            raise ValueError(f"masking unit must be one of {', '.join(MASKING_UNITS)}, got {self.unit!r}")
        if not 0.0 < self.rate < 1.0:
            raise ValueError(f"mask rate must be in (0, 1), got {self.rate}")
        if self.mask_share < 0 or self.random_share < 0 or self.mask_share + self.random_share > 1:
            raise ValueError(
                f"mask share {self.mask_share} and random share {self.random_share} must be >= 0 and "
                "add up to at most 1 (the rest is left unchanged)"
            )
        if not 0.0 < self.span_p <= 1.0:
            raise ValueError(f"span p must be in (0, 1], got {self.span_p}")
        if self.max_span < 1:
            raise ValueError(f"max span must be at least 1 word, got {self.max_span}")

    def span_lengths(self) -> np.ndarray:
        """``[max_span]`` probabilities of span lengths 1..max_span (truncated geometric)."""
        lengths = np.arange(1, self.max_span + 1)
        weights = self.span_p * (1 - self.span_p) ** (lengths - 1)
        return weights / weights.sum()


@dataclass(frozen=True)
class MaskVocabulary:
    """What masking needs to know of the tokenizer.

    ``special``: ``[V]`` bool, tokens never selected; ``continuation``: ``[V]`` bool, WordPieces
    that continue a word (``##...``); ``random_ids``: the ids a random replacement draws from (every
    non-special token the model can embed).
    """

    mask_id: int
    special: np.ndarray
    continuation: np.ndarray
    random_ids: np.ndarray

    @classmethod
    def from_tokenizer(cls, tokenizer: object, vocab_size: int) -> MaskVocabulary:
        """From a BERT (WordPiece) tokenizer and the encoder's embedding-table size."""
        mask_id = getattr(tokenizer, "mask_token_id", None)
        if mask_id is None:
            raise ValueError("the tokenizer has no [MASK] token: masked-language-model training needs one")
        size = min(len(tokenizer), vocab_size)  # type: ignore[arg-type]
        tokens = tokenizer.convert_ids_to_tokens(list(range(size)))  # type: ignore[attr-defined]
        special = np.zeros(size, dtype=bool)
        special[[i for i in tokenizer.all_special_ids if i < size]] = True  # type: ignore[attr-defined]
        continuation = np.asarray([str(t).startswith("##") for t in tokens], dtype=bool)
        return cls(int(mask_id), special, continuation, np.flatnonzero(~special).astype(np.int64))


@dataclass
class MaskedSequence:
    """One masked sequence: ``input_ids`` ``[n]`` as the model sees it, ``labels`` ``[n]`` the
    original token at selected positions and :data:`IGNORE` elsewhere, ``replacement`` ``[n]``
    int8: 0 not selected, 1 [MASK], 2 random token, 3 unchanged."""

    input_ids: np.ndarray
    labels: np.ndarray
    replacement: np.ndarray

    @property
    def selected(self) -> np.ndarray:
        return self.labels != IGNORE


def selection_units(
    ids: np.ndarray, vocab: MaskVocabulary, unit: MaskingUnit
) -> tuple[np.ndarray, np.ndarray]:
    """Start positions and lengths of the units masking picks from, in sequence order.

    Words: a maskable token starts a word unless it is a ``##`` piece right after another
    maskable token (a piece after [CLS] or [SEP] -- a document cut mid-word -- starts one).
    """
    maskable = ~vocab.special[ids]
    positions = np.flatnonzero(maskable)
    if unit == "token" or len(positions) == 0:
        return positions, np.ones(len(positions), dtype=np.int64)
    after_maskable = np.concatenate([[False], maskable[:-1]])
    starts_word = maskable & ~(vocab.continuation[ids] & after_maskable)
    starts = np.flatnonzero(starts_word)
    # A word runs until the next word start or the next non-maskable token.
    boundaries = np.flatnonzero(starts_word | ~maskable)
    nxt = np.searchsorted(boundaries, starts, side="right")
    ends = np.where(nxt < len(boundaries), boundaries[np.minimum(nxt, len(boundaries) - 1)], len(ids))
    return starts, (ends - starts).astype(np.int64)


def budget(num_maskable: int, rate: float) -> int:
    """Positions to select: ``round(rate * maskable)``, at least one when anything is maskable."""
    return 0 if num_maskable == 0 else max(1, round(rate * num_maskable))


def _greedy(lengths: np.ndarray, order: np.ndarray, target: int) -> np.ndarray:
    """Units taken in ``order`` while they fit ``target`` positions; those that overflow are skipped."""
    taken = np.zeros(len(lengths), dtype=bool)
    ordered = lengths[order]
    fits = np.searchsorted(np.cumsum(ordered), target, side="right")  # the first `fits` all fit
    taken[order[:fits]] = True
    count = int(ordered[:fits].sum())
    rest = fits
    while count < target and rest < len(order):
        # The next unit short enough for what is left (rarely more than a few rounds).
        candidates = np.flatnonzero(ordered[rest:] <= target - count)
        if len(candidates) == 0:
            break
        rest += int(candidates[0])
        taken[order[rest]] = True
        count += int(ordered[rest])
        rest += 1
    return taken


def _spans(
    starts: np.ndarray,
    lengths: np.ndarray,
    ids: np.ndarray,
    vocab: MaskVocabulary,
    spec: MaskingSpec,
    target: int,
    rng: np.random.Generator,
) -> list[tuple[int, int]]:
    """SpanBERT's spans as ``(first word, end word)`` ranges over the word units."""
    num_words = len(starts)
    ends = starts + lengths
    # Words separated by a special token ([SEP] between documents) are in different runs.
    special_before = np.concatenate([[0], np.cumsum(vocab.special[ids])])
    run = special_before[starts]
    taken = np.zeros(num_words, dtype=bool)
    probabilities = spec.span_lengths()
    spans: list[tuple[int, int]] = []
    count, attempts = 0, 0
    limit = 20 * target + 100  # anchors landing on taken words are retried, not forever
    while count < target and attempts < limit:
        draws = max(16, 2 * (target - count))
        wanted = rng.choice(len(probabilities), size=draws, p=probabilities) + 1
        anchors = rng.integers(0, num_words, size=draws)
        for anchor, span in zip(anchors.tolist(), wanted.tolist(), strict=True):
            attempts += 1
            if count >= target or attempts > limit:
                break
            if taken[anchor] or lengths[anchor] > target - count:
                continue
            last = anchor
            count += int(lengths[anchor])
            while (
                last + 1 - anchor < span
                and last + 1 < num_words
                and not taken[last + 1]
                and run[last + 1] == run[anchor]
                and starts[last + 1] == ends[last]
                and count + int(lengths[last + 1]) <= target
            ):
                last += 1
                count += int(lengths[last])
            taken[anchor : last + 1] = True
            spans.append((anchor, last + 1))
    return spans


def mask_sequence(
    ids: np.ndarray, vocab: MaskVocabulary, spec: MaskingSpec, rng: np.random.Generator
) -> MaskedSequence:
    """Select and replace positions of one sequence ``ids`` ``[n]`` (special tokens included)."""
    ids = np.asarray(ids, dtype=np.int64)
    starts, lengths = selection_units(ids, vocab, spec.unit)
    target = budget(int(lengths.sum()), spec.rate)
    if spec.unit == "span" and len(starts):
        units = [
            (int(starts[a]), int(starts[b - 1] + lengths[b - 1]))
            for a, b in _spans(starts, lengths, ids, vocab, spec, target, rng)
        ]
    elif len(starts):
        taken = _greedy(lengths, rng.permutation(len(starts)), target)
        units = [(int(s), int(s + n)) for s, n in zip(starts[taken], lengths[taken], strict=True)]
    else:
        units = []
    replacement = np.zeros(len(ids), dtype=np.int8)
    draws = rng.random(len(units))
    for (first, end), draw in zip(units, draws.tolist(), strict=True):
        kind = 1 if draw < spec.mask_share else 2 if draw < spec.mask_share + spec.random_share else 3
        replacement[first:end] = kind
    labels = np.full(len(ids), IGNORE, dtype=np.int64)
    selected = replacement > 0
    labels[selected] = ids[selected]
    inputs = ids.copy()
    inputs[replacement == 1] = vocab.mask_id
    randomised = np.flatnonzero(replacement == 2)
    inputs[randomised] = rng.choice(vocab.random_ids, size=len(randomised))
    return MaskedSequence(inputs, labels, replacement)
