"""The second SetFit step: a classifier on the frozen, contrastively tuned document vectors.

Two heads, both ending as the checkpoint's ordinary :class:`~longbert.modeling.modules.ClsHead`
(pooler -> tanh -> dropout -> linear), so the model predicts through the normal path:

* ``logistic`` -- SetFit's default: scikit-learn's logistic regression (one binary regression
  per label for multi-label). It is fit on exactly what the ClsHead's pooler then computes: the
  pooler is set to standardise each dimension (the training vectors' mean and spread) and squash
  it gently, ``tanh(0.5 * (x - mean) / std)``, and the linear layer takes the regression's
  weights. Moderate weights, so the head is as safe in bf16/fp16 as a trained one.
* ``cls_head`` -- the ClsHead itself (pooler initialised from the encoder's BERT pooler) trained
  full-batch with AdamW on the vectors.
"""

from __future__ import annotations

import numpy as np
import torch

from longbert.modeling.modules import ClsHead

HEADS = ("logistic", "cls_head")
#: The logistic head's pooler computes tanh(SQUASH * standardised x): nearly linear within one
#: standard deviation, outliers bounded.
SQUASH = 0.5
#: Log-odds for a label that every (or no) training example has: the regression cannot be fit.
CONSTANT_LOGIT = 4.0


def standardiser(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``([H] mean, [H] std)`` of the training vectors (std 1 where a dimension is constant)."""
    mean = vectors.mean(axis=0)
    scale = vectors.std(axis=0)
    return mean, np.where(scale > 1e-8, scale, 1.0)


def pooler_features(vectors: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """What the logistic head's pooler outputs for ``vectors``: ``tanh(SQUASH * (x - mean) / std)``."""
    return np.tanh(SQUASH * (vectors - mean) / scale)


def logistic_weights(
    features: np.ndarray, targets: np.ndarray, num_labels: int, multi_label: bool, c: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``([L, H] weights, [L] biases)``: logistic regression's logits on ``features``."""
    from sklearn.linear_model import LogisticRegression

    weights = np.zeros((num_labels, features.shape[1]))
    biases = np.zeros(num_labels)

    def fit(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(features, y)
        return model.coef_, model.intercept_

    if multi_label:
        for label in range(num_labels):
            y = targets[:, label].astype(int)
            if y.min() == y.max():  # every example has it, or none: a constant
                biases[label] = CONSTANT_LOGIT if y[0] else -CONSTANT_LOGIT
                continue
            coef, intercept = fit(y)
            weights[label], biases[label] = coef[0], intercept[0]
        return weights, biases
    present = np.unique(targets)
    if len(present) < 2:
        raise ValueError("the logistic head needs examples of at least two labels")
    coef, intercept = fit(targets)
    if len(present) == 2:  # scikit-learn keeps one row: the logit of the second class
        weights[present[1]], biases[present[1]] = coef[0], intercept[0]
    else:
        weights[present], biases[present] = coef, intercept
    # A label with no example never wins.
    missing = np.setdiff1d(np.arange(num_labels), present)
    biases[missing] = biases[present].min() - 2 * CONSTANT_LOGIT
    return weights, biases


def fit_logistic_head(
    head: ClsHead,
    vectors: np.ndarray,
    targets: np.ndarray,
    *,
    multi_label: bool,
    c: float = 1.0,
    seed: int = 0,
) -> None:
    """Write logistic regression on ``vectors`` ``[N, H]`` into ``head`` (see the module docstring).

    ``targets``: ``[N]`` label indices, or ``[N, L]`` 0/1 for multi-label.
    """
    vectors = vectors.astype(np.float64)
    mean, scale = standardiser(vectors)
    features = pooler_features(vectors, mean, scale)
    weights, biases = logistic_weights(features, targets, head.num_labels, multi_label, c, seed)
    with torch.no_grad():
        head.pooler.weight.copy_(torch.diag(torch.from_numpy(SQUASH / scale)).float())
        head.pooler.bias.copy_(torch.from_numpy(-SQUASH * mean / scale).float())
        head.classifier.weight.copy_(torch.from_numpy(weights).float())
        head.classifier.bias.copy_(torch.from_numpy(biases).float())


def fit_cls_head(
    head: ClsHead,
    vectors: np.ndarray,
    targets: np.ndarray,
    *,
    multi_label: bool,
    epochs: int = 200,
    learning_rate: float = 1e-3,
    weight_decay: float = 0.01,
    seed: int = 0,
) -> list[float]:
    """Train ``head`` full-batch on frozen ``vectors``; returns the loss of each epoch."""
    generator = torch.Generator().manual_seed(seed)
    device = head.classifier.weight.device
    x = torch.from_numpy(vectors).float().to(device)
    y = torch.from_numpy(targets).to(device)
    y = y.float() if multi_label else y.long()
    loss_fn = torch.nn.BCEWithLogitsLoss() if multi_label else torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.AdamW(head.parameters(), lr=learning_rate, weight_decay=weight_decay)
    head.train()
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=generator)))
        for _ in range(epochs):
            optimizer.zero_grad()
            loss = loss_fn(head(x), y)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    head.eval()
    return losses
