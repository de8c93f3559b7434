"""What a sampler reads: one probability matrix, whatever form the predictions came in.

Predictions reach a sampler as the store keeps them (``Prediction.probabilities``, a
``{label: probability}`` dict, inside a ``StoredPrediction`` or not), as plain dicts, or as a
``[documents, labels]`` array from a model run. :func:`probability_table` turns any of these into
one :class:`ProbabilityTable`; an entry with no usable prediction (a :class:`PredictionError`,
``None``) becomes a row of NaN that the samplers never pick.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Single-label probabilities (a softmax) sum to 1 within this; multi-label ones need not.
SUM_TOLERANCE = 1e-3


@dataclass
class ProbabilityTable:
    """``matrix`` ``[N, L]`` float64 (NaN rows: no prediction), its ``labels``, and the task kind."""

    matrix: np.ndarray
    labels: list[str]
    multi_label: bool

    @property
    def usable(self) -> np.ndarray:
        """``[N]`` bool: rows with a prediction."""
        return np.isfinite(self.matrix).all(axis=1)


def _probabilities_of(item: Any) -> Mapping[str, float] | None:
    """The ``{label: probability}`` dict of a Prediction, StoredPrediction or dict; None if it has none."""
    if item is None:
        return None
    if isinstance(item, Mapping):
        return item
    inner = getattr(item, "prediction", item)  # StoredPrediction wraps a Prediction
    probabilities = getattr(inner, "probabilities", None)
    return probabilities if isinstance(probabilities, Mapping) else None


def _says_multi_label(item: Any) -> bool | None:
    """Whether a Prediction says it is multi-label (inference records its threshold), else None."""
    inner = getattr(item, "prediction", item)
    extra = getattr(inner, "extra", None)
    if isinstance(extra, Mapping):
        return "threshold" in extra
    return None


def probability_table(
    predictions: Any,
    *,
    labels: Sequence[str] | None = None,
    multi_label: bool | None = None,
) -> ProbabilityTable:
    """One matrix from an array, or a sequence of Predictions / StoredPredictions / dicts.

    Args:
        labels: column order (default: the first prediction's label order; an array needs none,
            its columns are named ``0..L-1``).
        multi_label: whether probabilities are independent sigmoids. Default: what Predictions
            say (inference records a threshold for multi-label ones), else single-label when
            every row sums to 1.

    Raises ValueError when the rows do not share one label set (predictions of different models
    cannot be ranked against each other) or none of the entries has probabilities. No entries at
    all give an empty table (``[0, len(labels)]``), as an empty array does.
    """
    first_item = predictions[0] if isinstance(predictions, Sequence) and len(predictions) else None
    if isinstance(predictions, np.ndarray) or (
        isinstance(first_item, Sequence | np.ndarray) and not isinstance(first_item, str | Mapping)
    ):
        matrix = np.asarray(predictions, dtype=np.float64)
        if matrix.ndim != 2:
            raise ValueError(f"a probability array must be [documents, labels], got shape {matrix.shape}")
        names = list(labels) if labels is not None else [str(i) for i in range(matrix.shape[1])]
        if len(names) != matrix.shape[1]:
            raise ValueError(f"{len(names)} labels given for {matrix.shape[1]} probability columns")
        return ProbabilityTable(matrix, names, _infer_multi_label(matrix, multi_label))
    items = list(predictions)
    if not items:  # nothing to rank, as an empty array: an empty table (a batch with none yet)
        names = [str(label) for label in labels] if labels is not None else []
        return ProbabilityTable(np.zeros((0, len(names))), names, bool(multi_label))
    dicts = [_probabilities_of(item) for item in items]
    first = next((d for d in dicts if d), None)
    if first is None:
        raise ValueError("none of the predictions has probabilities to rank by")
    names = list(labels) if labels is not None else [str(label) for label in first]
    matrix = np.full((len(items), len(names)), np.nan)
    for row, values in enumerate(dicts):
        if not values:
            continue
        if set(map(str, values)) != set(names):
            raise ValueError(
                f"prediction {row + 1} has labels {sorted(map(str, values))}, not {sorted(names)}: "
                "rank the predictions of one model (one label set) at a time"
            )
        matrix[row] = [float(values[name]) for name in names]
    if multi_label is None:
        said = {flag for flag in map(_says_multi_label, items) if flag is not None}
        multi_label = said.pop() if len(said) == 1 else None
    return ProbabilityTable(matrix, names, _infer_multi_label(matrix, multi_label))


def _infer_multi_label(matrix: np.ndarray, multi_label: bool | None) -> bool:
    if multi_label is not None:
        return bool(multi_label)
    rows = matrix[np.isfinite(matrix).all(axis=1)]
    return bool(len(rows)) and not np.allclose(rows.sum(axis=1), 1.0, atol=SUM_TOLERANCE)
