"""How unsure a model is about each document, from its label probabilities.

Every score here is *higher = more uncertain*, so a sampler ranks by descending score. The three
measures are the classic ones, as small-text implements them
(``small_text/query_strategies/strategies.py``: ``LeastConfidence`` scores the top probability,
``BreakingTies`` the gap between the two best, ``PredictionEntropy`` the entropy; there lower
confidence is better, here the sign is flipped once, in this module, so the samplers never have
to remember which way a score points):

* least confident (Lewis & Gale 1994): ``1 - p(top label)``;
* margin, a.k.a. breaking ties (Luo et al. 2005): ``-(p(top) - p(second))``, which
  Schröder et al. 2022 ("Revisiting Uncertainty-based Query Strategies for Active Learning with
  Transformers") found the strongest uncertainty measure for fine-tuned transformers;
* entropy (Holub et al. 2008): ``-sum p log p``.

Multi-label predictions (independent sigmoids, one per label) are read as independent Bernoulli
variables, and each measure is taken over the *joint* distribution of label sets, so single- and
multi-label scores mean the same thing:

* least confident: ``1 - P(most probable label set)``, where the most probable set takes every
  label whose probability is over 0.5 and ``P = prod max(p, 1 - p)``;
* margin: ``P(best set) - P(second best set)``, negated; the second best set flips the one label
  closest to 0.5, so a document is ranked by its most undecided label (scaled by how sure the
  model is of the rest);
* entropy: the joint entropy, which for independent labels is the sum of the per-label binary
  entropies.

(small-text's multi-label strategies, label-cardinality inconsistency and CVIRS, need the labelled
set's label vectors; these need only the predictions, so the Review page can rank a fresh batch.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Probabilities are clipped away from 0 and 1 before logs.
EPSILON = 1e-12

UncertaintyFn = Callable[[np.ndarray, bool], np.ndarray]


def check_probabilities(probabilities: np.ndarray, multi_label: bool) -> np.ndarray:
    """``[N, L]`` float64 probabilities, or ValueError saying what is wrong with them."""
    matrix = np.asarray(probabilities, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"probabilities must be a [documents, labels] matrix, got shape {matrix.shape}")
    if matrix.shape[1] < (1 if multi_label else 2):
        raise ValueError(
            f"probabilities have {matrix.shape[1]} label column(s); single-label needs at least two"
        )
    finite = np.isfinite(matrix).all(axis=1)
    if ((matrix[finite] < -1e-6) | (matrix[finite] > 1 + 1e-6)).any():
        raise ValueError("probabilities must lie in [0, 1]")
    return matrix


def least_confident(probabilities: np.ndarray, multi_label: bool = False) -> np.ndarray:
    """``[N]``: 1 - probability of the most probable label (multi-label: label set)."""
    p = np.clip(probabilities, 0.0, 1.0)
    if multi_label:
        return 1.0 - np.prod(np.maximum(p, 1.0 - p), axis=1)
    return 1.0 - p.max(axis=1)


def margin(probabilities: np.ndarray, multi_label: bool = False) -> np.ndarray:
    """``[N]``: minus the gap between the best and the second best label (or label set)."""
    p = np.clip(probabilities, 0.0, 1.0)
    if multi_label:
        sure, unsure = np.maximum(p, 1.0 - p), np.minimum(p, 1.0 - p)
        best = np.prod(sure, axis=1)
        # The runner-up set flips the label whose odds (unsure / sure) are highest.
        flip = (unsure / np.maximum(sure, EPSILON)).max(axis=1)
        return -(best - best * flip)
    top_two = -np.sort(-p, axis=1)[:, :2]
    return -(top_two[:, 0] - top_two[:, 1])


def entropy(probabilities: np.ndarray, multi_label: bool = False) -> np.ndarray:
    """``[N]``: entropy in nats of the label (multi-label: label-set) distribution."""
    p = np.clip(probabilities, EPSILON, 1.0)
    if multi_label:
        q = np.clip(1.0 - probabilities, EPSILON, 1.0)
        return -(p * np.log(p) + q * np.log(q)).sum(axis=1)
    return -(p * np.log(p)).sum(axis=1)


UNCERTAINTIES: dict[str, UncertaintyFn] = {
    "least_confident": least_confident,
    "margin": margin,
    "entropy": entropy,
}


def uncertainty(probabilities: np.ndarray, measure: str = "margin", multi_label: bool = False) -> np.ndarray:
    """``[N]`` scores of ``measure`` (higher = more uncertain); NaN rows stay NaN."""
    if measure not in UNCERTAINTIES:
        raise ValueError(f"Unknown uncertainty '{measure}'. Choose one of: {', '.join(UNCERTAINTIES)}.")
    matrix = check_probabilities(probabilities, multi_label)
    scores = np.full(matrix.shape[0], np.nan)
    finite = np.isfinite(matrix).all(axis=1)
    scores[finite] = UNCERTAINTIES[measure](matrix[finite], multi_label)
    return scores
