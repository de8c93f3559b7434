"""Contrastive pairs from a handful of labelled examples, as SetFit draws them.

SetFit (Tunstall et al. 2022, "Efficient Few-Shot Learning Without Prompts"; the ``setfit``
library's ``sentence_pairs_generation`` and ``ContrastiveDataset``) turns ``n`` labelled
sentences into ``2 * R * n`` pairs: in each of ``R`` iterations, every example is paired with one
random example of its own label (target cosine 1, itself allowed, as there) and one random example
of another label (target 0). Multi-label examples are a positive pair when they share a label
(SetFit's ``generate_multilabel_pairs``) and a negative pair when they share none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pair:
    """Two example indices and the cosine similarity their embeddings should reach."""

    first: int
    second: int
    target: float


def generate_pairs(
    label_sets: Sequence[frozenset[str]], iterations: int, rng: np.random.Generator
) -> list[Pair]:
    """``iterations`` rounds of one positive and one negative pair per example.

    An example with no other-label partner (every example shares one of its labels) gets no
    negative pair; one alone with its label is paired with itself, as in SetFit.
    """
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    n = len(label_sets)
    shares = np.array([[bool(label_sets[i] & label_sets[j]) for j in range(n)] for i in range(n)], dtype=bool)
    pairs: list[Pair] = []
    for _ in range(iterations):
        for i in range(n):
            positives = np.nonzero(shares[i])[0]
            pairs.append(Pair(i, int(rng.choice(positives)) if len(positives) else i, 1.0))
            negatives = np.nonzero(~shares[i])[0]
            if len(negatives):
                pairs.append(Pair(i, int(rng.choice(negatives)), 0.0))
    return pairs
