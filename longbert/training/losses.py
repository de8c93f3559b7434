"""Training losses: cross-entropy or focal, with label smoothing and class weights.

Single-label losses take ``[B, L]`` logits and ``[B]`` int64 targets; multi-label losses take
``[B, L]`` float 0/1 targets (binary cross-entropy per label). Logits are upcast to float32 so
mixed precision never computes a log-softmax in half precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from longbert.errors import LongBertError
from longbert.training.config import TrainConfigError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class NonFiniteLossError(LongBertError, FloatingPointError):
    """The training loss became NaN or infinite: the next optimiser step would turn the weights
    to NaN, and a NaN model scores like any other (it would be saved as the best and registered),
    so the run stops before that step."""


def check_finite_loss(value: float, where: str, kept: str) -> None:
    """Raise :class:`NonFiniteLossError` when ``value`` (a training loss) is NaN or infinite;
    ``where`` says when (epoch, step), ``kept`` what the run saved before, which stays."""
    if math.isfinite(value):
        return
    raise NonFiniteLossError(
        f"The training loss became {value} at {where}: an optimiser step on it would turn the "
        f"weights to NaN, so the run stopped before taking it. {kept} Check --class-weights, "
        "lower --learning-rate, or train in --precision fp32."
    )


def class_weights(
    spec: str, labels: Sequence[str], targets: np.ndarray, multi_label: bool
) -> torch.Tensor | None:
    """``[L]`` float32 weights from ``none`` / ``balanced`` / ``label=weight,...``.

    ``balanced`` is scikit-learn's ``n_samples / (n_classes * count)``; for multi-label it is the
    positive weight ``negatives / positives`` of each label. ``targets``: ``[N]`` label indices or
    ``[N, L]`` indicators of the training set.
    """
    spec = spec.strip()
    if spec in ("", "none"):
        return None
    if spec == "balanced":
        if multi_label:
            positives = np.asarray(targets, dtype=np.float64).sum(axis=0)
            weights = (len(targets) - positives) / np.maximum(positives, 1.0)
        else:
            counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=len(labels)).astype(float)
            weights = len(targets) / (len(labels) * np.maximum(counts, 1.0))
        return torch.tensor(weights, dtype=torch.float32)
    weights = np.ones(len(labels))
    index = {label: i for i, label in enumerate(labels)}
    for item in spec.split(","):
        label, sep, value = item.rpartition("=")
        label = label.strip()
        if not sep or label not in index:
            raise TrainConfigError(
                f"--class-weights: '{item.strip()}' is not 'label=weight' for a known label "
                f"({', '.join(labels)})."
            )
        try:
            weights[index[label]] = float(value)
        except ValueError as error:
            raise TrainConfigError(
                f"--class-weights: weight of '{label}' is not a number: {value!r}"
            ) from error
        if not (math.isfinite(weights[index[label]]) and weights[index[label]] > 0):
            # float() reads "nan" and "inf": either would make every loss NaN and the model with it.
            raise TrainConfigError(
                f"--class-weights: weight of '{label}' must be a positive, finite number, got "
                f"{value.strip()!r}."
            )
    return torch.tensor(weights, dtype=torch.float32)


def make_loss(
    kind: str,
    *,
    multi_label: bool,
    label_smoothing: float = 0.0,
    focal_gamma: float = 2.0,
    weights: torch.Tensor | None = None,
) -> LossFn:
    """The loss function ``(logits, targets) -> scalar`` for the options."""
    if kind not in ("cross_entropy", "focal"):
        raise TrainConfigError(f"--loss must be cross_entropy or focal, got {kind!r}.")
    gamma = focal_gamma if kind == "focal" else 0.0

    def single(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        w = weights.to(logits.device) if weights is not None else None
        if gamma == 0.0:
            return F.cross_entropy(logits, targets, weight=w, label_smoothing=label_smoothing)
        log_p = F.log_softmax(logits, dim=-1)  # [B, L]
        n_labels = logits.shape[-1]
        # Smoothed target distribution q: (1 - eps) one-hot + eps / L, as cross_entropy does.
        q = F.one_hot(targets, n_labels).float() * (1 - label_smoothing) + label_smoothing / n_labels
        focal = (1 - log_p.exp()).pow(gamma)  # [B, L]: down-weights confident classes
        per_doc = -(q * focal * log_p).sum(dim=-1)  # [B]
        if w is None:
            return per_doc.mean()
        # Weighted mean by the target class's weight, the normalisation cross_entropy uses.
        doc_w = w[targets]
        return (per_doc * doc_w).sum() / doc_w.sum()

    def multi(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        targets = targets.float()
        if label_smoothing:
            targets = targets * (1 - label_smoothing) + label_smoothing / 2
        pos_weight = weights.to(logits.device) if weights is not None else None
        bce = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight, reduction="none")
        if gamma:
            p = torch.sigmoid(logits)
            p_t = p * targets + (1 - p) * (1 - targets)
            bce = (1 - p_t).pow(gamma) * bce
        return bce.mean()

    return multi if multi_label else single
