"""Classification metrics: accuracy, macro-F1, per-class precision/recall/F1, confusion matrix.

Plain numpy (no scikit-learn import on the training path); the definitions match scikit-learn's
``accuracy_score``, ``f1_score(average="macro", zero_division=0)`` and ``confusion_matrix``. A
report is a JSON-able dict, printed by :func:`format_report`, written to ``metrics.json`` and
stored in the database as is.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall, F1 (0 where undefined, as ``zero_division=0``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
        recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    return precision, recall, f1


def _per_class(
    labels: list[str], precision: np.ndarray, recall: np.ndarray, f1: np.ndarray, support: np.ndarray
) -> dict[str, dict[str, float | int]]:
    return {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Single-label report.

    Args:
        y_true, y_pred: ``[N]`` int label indices into ``labels``.

    Returns ``accuracy``, ``macro_f1``, ``macro_precision``, ``macro_recall``, ``weighted_f1``,
    ``per_class`` (label -> precision/recall/f1/support), ``confusion_matrix`` (``[L, L]``, rows
    = true label, columns = predicted) and ``labels``, ``num_docs``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must be equal 1-D shapes")
    n_labels = len(labels)
    confusion = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    tp = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    fp = confusion.sum(axis=0) - tp
    fn = support - tp
    precision, recall, f1 = _prf(tp, fp, fn)
    # Macro averages run over the labels present in truth or predictions (scikit-learn's default
    # when `labels` is not passed), so a label absent from a small dev split does not count as 0.
    present = (support > 0) | (confusion.sum(axis=0) > 0)
    n = max(len(y_true), 1)
    return {
        "accuracy": float(tp.sum() / n) if len(y_true) else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "weighted_f1": float((f1 * support).sum() / n),
        "per_class": _per_class(labels, precision, recall, f1, support),
        "confusion_matrix": confusion.tolist(),
        "labels": list(labels),
        "num_docs": len(y_true),
    }


def multilabel_report(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Multi-label report.

    Args:
        y_true, y_pred: ``[N, L]`` 0/1 indicator matrices.

    ``accuracy`` is subset accuracy (every label right); ``macro_f1``/``micro_f1`` over labels;
    ``confusion_matrix`` is per label ``[[tn, fp], [fn, tp]]``.
    """
    t = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    if t.shape != p.shape or t.ndim != 2:
        raise ValueError(f"y_true {t.shape} and y_pred {p.shape} must be equal [N, L] shapes")
    tp = (t & p).sum(axis=0).astype(np.float64)
    fp = (~t & p).sum(axis=0).astype(np.float64)
    fn = (t & ~p).sum(axis=0).astype(np.float64)
    tn = (~t & ~p).sum(axis=0)
    precision, recall, f1 = _prf(tp, fp, fn)
    _, _, micro_f1 = _prf(tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True))
    support = t.sum(axis=0)
    n = len(t)
    return {
        "accuracy": float((t == p).all(axis=1).mean()) if n else 0.0,
        "macro_f1": float(f1.mean()) if len(labels) else 0.0,
        "micro_f1": float(micro_f1[0]),
        "macro_precision": float(precision.mean()) if len(labels) else 0.0,
        "macro_recall": float(recall.mean()) if len(labels) else 0.0,
        "per_class": _per_class(labels, precision, recall, f1, support),
        "confusion_matrix": {
            label: [[int(tn[i]), int(fp[i])], [int(fn[i]), int(tp[i])]] for i, label in enumerate(labels)
        },
        "labels": list(labels),
        "num_docs": n,
    }


def decide(probabilities: np.ndarray, multi_label: bool, threshold: float = 0.5) -> np.ndarray:
    """The labels ``[N, L]`` probabilities give: ``[N]`` argmax indices, or ``[N, L]`` indicators
    of the labels at ``threshold`` or over when multi-label."""
    return probabilities >= threshold if multi_label else probabilities.argmax(axis=1)


def report_from_probabilities(
    probabilities: np.ndarray,
    targets: np.ndarray,
    labels: list[str],
    multi_label: bool,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Decide from ``[N, L]`` probabilities (argmax, or ``>= threshold`` when multi-label) and report.

    ``targets``: ``[N]`` label indices (single-label) or ``[N, L]`` indicators (multi-label).
    """
    decided = decide(probabilities, multi_label, threshold)
    if multi_label:
        return multilabel_report(targets, decided, labels)
    return classification_report(targets, decided, labels)


def format_report(report: dict[str, Any], title: str = "") -> str:
    """A plain-text table: the headline figures, then one line per class, then the confusion matrix."""
    lines = [title] if title else []
    head = f"accuracy {100 * report['accuracy']:.2f}  macro-F1 {100 * report['macro_f1']:.2f}"
    if "micro_f1" in report:
        head += f"  micro-F1 {100 * report['micro_f1']:.2f}"
    if "loss" in report:
        head += f"  loss {report['loss']:.4f}"
    if "docs_per_second" in report:
        head += f"  {report['docs_per_second']:.1f} docs/s"
    lines.append(head + f"  ({report['num_docs']} docs)")
    width = max([len(label) for label in report["labels"]] + [5])
    lines.append(f"  {'label':<{width}}  precision  recall     f1  support")
    for label, row in report["per_class"].items():
        lines.append(
            f"  {label:<{width}}  {100 * row['precision']:9.2f}  {100 * row['recall']:6.2f}  "
            f"{100 * row['f1']:5.2f}  {row['support']:7d}"
        )
    matrix = report["confusion_matrix"]
    if isinstance(matrix, list) and len(matrix) <= 12:
        lines.append("  confusion matrix (rows = true, columns = predicted):")
        cell = max([len(str(v)) for row in matrix for v in row] + [3])
        for label, row in zip(report["labels"], matrix, strict=True):
            lines.append(f"  {label:<{width}}  " + " ".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)
