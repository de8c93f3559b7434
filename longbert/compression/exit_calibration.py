"""Choosing an early-exit model's threshold on calibration data, for an accuracy budget.

A fixed threshold means different things for different models: one whose final predictions
have a normalised entropy of 0.6-0.9 never exits at 0.2, while 0.9 may change many labels.
So ``python -m longbert.compress --method early-exit`` calibrates when it is given calibration
data: every layer's exit prediction is computed once per document (:func:`exit_logits`), and
from them the label and the layers run at every candidate threshold follow without running
the model again (:func:`threshold_curve`). The stored threshold is the largest candidate whose
labels differ from the full model's on at most the budget's share of the documents
(:func:`choose_threshold`): each changed label moves accuracy by at most one document, so that
bounds the accuracy lost there by the budget whatever the true labels, and a threshold is not
chosen because its changes happened to fix more labels than they broke (on 51 documents one
lucky change is 2 points). It needs no labels, so unlabelled texts calibrate too
(``--calibration-texts``): many unlabelled texts pin the share down better than a small
labelled set. With labels, the curve also reports accuracy and macro-F1.

Accuracy measured on the data the threshold was chosen on is optimistic; a separate
calibration set (``--calibration``) keeps ``--dev`` an honest measurement.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from longbert.compression.early_exit import uncertainty
from longbert.modeling.long_bert import _Masks  # the encoder's per-pass masks, reused layer by layer

if TYPE_CHECKING:
    from longbert.data import LabeledDataset

#: Candidate thresholds, 0 (the full model) first.
GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
#: Rows (windows) per pass in chunk mode, so a long document never makes one huge pass.
ROWS_PER_PASS = 32


@dataclass(frozen=True)
class CurvePoint:
    """The early-exit model on ``documents`` calibration documents at one threshold: ``changed``
    of them get a label other than the full model's (multi-label: another label set), so
    ``agreement`` = 1 - changed / documents; ``mean_layers`` is the mean number of encoder layers
    run per document (chunk mode: its windows' mean); ``accuracy`` and ``macro_f1`` are None on
    unlabelled data."""

    threshold: float
    accuracy: float | None
    macro_f1: float | None
    mean_layers: float
    agreement: float
    changed: int
    documents: int


@dataclass(frozen=True)
class ExitLogits:
    """Every row's prediction at every layer and the full model's per document.

    ``rows`` ``[R, N, L]`` float32: the exit logits after layers 1..N-1, then the final head's
    (N layers); ``row_doc`` ``[R]``: each row's document; ``full`` ``[D, L]``: the full model's
    document logits (in chunk mode its own window pooling, which exits replace by a mean);
    ``kept``: which of the given documents these are (those with no token to read are left out)."""

    rows: Tensor
    row_doc: Tensor
    full: Tensor
    kept: tuple[int, ...]


@torch.inference_mode()
def _batch_logits(classifier: Any, inputs: Any) -> tuple[Tensor, Tensor]:
    """``[R, N, L]`` per-layer row logits and ``[D, L]`` full document logits of one batch."""
    encoder, exits = classifier.encoder, classifier.early_exit
    head_dtype = classifier.head.classifier.weight.dtype
    per_row, finals = [], []
    for start in range(0, inputs.num_rows, ROWS_PER_PASS):
        part = inputs.rows(start, start + ROWS_PER_PASS) if inputs.num_rows > ROWS_PER_PASS else inputs
        ids, valid = part.input_ids, part.attention_mask.bool()
        masks = _Masks(valid, padded=not bool(valid.all()))
        hidden = encoder.embeddings(ids, torch.zeros_like(ids))
        layers = encoder.encoder.layer
        logits = []
        for index, layer in enumerate(layers):
            last = index == len(layers) - 1
            # As the full path: the last layer computes [CLS] alone when the vectors read only it.
            hidden, _, _ = layer(hidden, masks, False, False, last and classifier.reads_cls_only)
            cls_states = hidden[:, 0].to(head_dtype)
            if last:
                finals.append(classifier.window_vectors(hidden, part))
                logits.append(classifier.head(cls_states).float())
            else:
                logits.append(exits.heads[index](cls_states).float())
        per_row.append(torch.stack(logits, dim=1))
    vectors = torch.cat(finals)
    full = classifier.classify_windows(vectors, inputs).logits.float()
    return torch.cat(per_row), full


def _prepare(classifier: Any, document: Any) -> Any:
    """What the model reads of ``document``; None for one it cannot read (empty, say), which
    prediction would report as an error and evaluation leaves out of its metrics."""
    from longbert.errors import LongBertError

    try:
        return classifier.prepare([document])[0]
    except LongBertError:
        return None


def exit_logits(classifier: Any, documents: list[Any], batch_size: int = 8) -> ExitLogits:
    """:class:`ExitLogits` of ``documents`` (texts or documents), computed as
    :meth:`~longbert.classifier.DocumentClassifier.infer` runs the model (its device, its
    precision), every layer once."""
    from longbert.devices import autocast

    if getattr(classifier, "early_exit", None) is None:
        raise ValueError("calibration needs an early-exit model (one with exits).")
    classifier.eval()
    device = classifier.device
    mixed = classifier.autocast_dtype()
    rows, row_doc, full, kept = [], [], [], []
    for start in range(0, len(documents), batch_size):
        prepared = {i: _prepare(classifier, d) for i, d in enumerate(documents[start : start + batch_size])}
        readable = [i for i, s in prepared.items() if s is not None and s.used_tokens]
        if not readable:
            continue
        inputs = classifier.collate([prepared[i] for i in readable]).to(device)
        if inputs.mode == "long":
            raise ValueError(
                "early exit needs a window strategy (truncate, key_sentences, chunk), not sparse."
            )
        with torch.inference_mode(), autocast(device, mixed):
            batch_rows, batch_full = _batch_logits(classifier, inputs)
        rows.append(batch_rows.cpu())
        row_doc.append(inputs.window_doc.cpu() + len(kept))
        full.append(batch_full.cpu())
        kept += [start + i for i in readable]
    if not kept:
        raise ValueError("no document has a token the model can read: nothing to calibrate on.")
    return ExitLogits(torch.cat(rows), torch.cat(row_doc), torch.cat(full), tuple(kept))


def threshold_curve(
    classifier: Any, logits: ExitLogits, truth: np.ndarray | None, grid: tuple[float, ...] = GRID
) -> list[CurvePoint]:
    """Agreement with the full model, mean layers run and (with ``truth``) accuracy and
    macro-F1 at every threshold of ``grid``, as the exit path
    (:func:`~longbert.compression.early_exit.run_with_exits`) decides: a row leaves at the first
    layer whose exit's normalised entropy is below the threshold; threshold 0 is the full model."""
    from longbert.training.metrics import decide, report_from_probabilities

    rows, num_layers, _ = logits.rows.shape
    num_docs = logits.full.shape[0]
    # [R, N-1] each exit's uncertainty; the final head always "exits".
    unsure = torch.stack(
        [uncertainty(logits.rows[:, i], classifier.multi_label) for i in range(num_layers - 1)], dim=1
    ).reshape(rows, num_layers - 1)
    counts = torch.bincount(logits.row_doc, minlength=num_docs).clamp(min=1).float()
    full_labels = decide(classifier.probabilities(logits.full).numpy(), classifier.multi_label)
    curve = []
    for threshold in grid:
        if threshold <= 0:
            probs = classifier.probabilities(logits.full)
            layers_run = torch.full((rows,), float(num_layers))
        else:
            leaves = torch.cat([unsure < threshold, torch.ones(rows, 1, dtype=torch.bool)], dim=1)
            taken = leaves.float().argmax(dim=1)  # the first layer whose exit is sure enough
            row_probs = classifier.probabilities(logits.rows[torch.arange(rows), taken])
            probs = torch.zeros(num_docs, row_probs.shape[1]).index_add_(0, logits.row_doc, row_probs)
            probs = probs / counts[:, None]
            # As the exit path: a document none of whose rows left early gets the full model's.
            whole = torch.ones(num_docs, dtype=torch.bool)
            whole[logits.row_doc[taken < num_layers - 1]] = False
            probs = torch.where(whole[:, None], classifier.probabilities(logits.full), probs)
            layers_run = (taken + 1).float()
        per_doc = torch.zeros(num_docs).index_add_(0, logits.row_doc, layers_run) / counts
        differs = decide(probs.numpy(), classifier.multi_label) != full_labels
        changed = int(differs.reshape(num_docs, -1).any(axis=1).sum())  # a label set counts once
        report: dict[str, Any] = {"accuracy": None, "macro_f1": None}
        if truth is not None:
            report = report_from_probabilities(
                probs.numpy(), truth, classifier.labels, classifier.multi_label, 0.5
            )
        curve.append(
            CurvePoint(
                float(threshold),
                None if report["accuracy"] is None else float(report["accuracy"]),
                None if report["macro_f1"] is None else float(report["macro_f1"]),
                float(per_doc.mean()),
                1 - changed / num_docs,
                changed,
                num_docs,
            )
        )
    return curve


def choose_threshold(curve: list[CurvePoint], max_accuracy_loss: float) -> CurvePoint:
    """The point of the largest threshold whose labels differ from the full model's (the
    threshold-0 point) on at most ``max_accuracy_loss`` percent of the documents -- which bounds
    the accuracy it loses there by as many points."""
    if not max_accuracy_loss >= 0:
        raise ValueError(f"--max-accuracy-loss must be 0 or more points; got {max_accuracy_loss}.")
    if not any(p.threshold <= 0 for p in curve):
        raise ValueError("the threshold curve needs its threshold-0 point (the full model).")

    def within(point: CurvePoint) -> bool:  # whole documents: no float rounding at the boundary
        return point.changed <= math.floor(max_accuracy_loss * point.documents / 100 + 1e-9)

    return max((p for p in curve if p.threshold <= 0 or within(p)), key=lambda p: p.threshold)


@dataclass(frozen=True)
class CalibrationSet:
    """Documents to calibrate on and, when labelled, their targets indexed by the model's labels."""

    data: str
    documents: list[Any]
    truth: np.ndarray | None = None


def load_calibration_set(
    data: str | os.PathLike[str],
    labels: list[str],
    multi_label: bool,
    metadata: dict[str, Any],
    skip_bad_rows: bool = False,
) -> CalibrationSet:
    """Read the labelled file ``data`` as ``python -m longbert.evaluate`` reads it for a model
    with ``labels`` and checkpoint ``metadata`` (its text/label columns); ``skip_bad_rows`` skips
    unusable rows (a warning counts them). Cheap, so ``compress`` calls it before training
    exits: a missing file or labels the model does not know (DatasetError) fail at once, not
    after the exits are trained."""
    from longbert.compression.measuring import read_labelled

    dataset = read_labelled(data, metadata, multi_label, skip_bad_rows, "--calibration")
    return calibration_set_of(dataset, str(data), labels)


def calibration_set_of(dataset: LabeledDataset, name: str, labels: list[str]) -> CalibrationSet:
    """A labelled data set (``compress``'s ``--dev``, already read) to calibrate on, its targets
    in the order of the model's ``labels``; DatasetError for labels the model does not know."""
    from longbert.training.datasets import targets

    return CalibrationSet(name, list(dataset.documents()), targets(dataset, labels))


def unlabelled_calibration_set(texts: list[str], name: str) -> CalibrationSet:
    """Unlabelled ``texts`` (from ``name``) to calibrate on, by agreement with the full model only."""
    if not texts:
        raise ValueError(f"--calibration-texts: no text to calibrate on in {name}.")
    return CalibrationSet(name, list(texts))


def calibrate(
    classifier: Any,
    data: str | os.PathLike[str] | CalibrationSet,
    max_accuracy_loss: float,
    grid: tuple[float, ...] = GRID,
) -> dict[str, Any]:
    """Choose ``classifier``'s exit threshold on the labelled file ``data`` (read as
    ``python -m longbert.evaluate`` reads it), or on a set :func:`load_calibration_set` or
    :func:`unlabelled_calibration_set` made.
    Returns what the manifest records: ``threshold``, ``data``, ``max_accuracy_loss`` (points),
    ``full_accuracy``, ``documents``, ``reason`` and ``curve`` (a :class:`CurvePoint` dict per
    threshold)."""
    if not max_accuracy_loss >= 0:  # before the model runs: a bad value fails at once
        raise ValueError(f"--max-accuracy-loss must be 0 or more points; got {max_accuracy_loss}.")
    from longbert.compression.early_exit import pools_by_mean

    if classifier.strategy.mode == "chunks" and not pools_by_mean(classifier):
        raise ValueError(
            f"this chunk model pools windows by '{classifier.pooling.method}': its exits never run "
            "(early exit stands for mean pooling only), so there is no threshold to calibrate."
        )
    if not isinstance(data, CalibrationSet):
        data = load_calibration_set(data, classifier.labels, classifier.multi_label, classifier.metadata)
    logits = exit_logits(classifier, data.documents)
    readable = list(logits.kept)
    truth = None if data.truth is None else data.truth[readable]
    curve = threshold_curve(classifier, logits, truth, grid)
    chosen = choose_threshold(curve, max_accuracy_loss)
    full = next(p for p in curve if p.threshold <= 0)
    reason = (
        f"threshold {chosen.threshold:g}: the largest of {len(curve)} tried whose labels differ from "
        f"the full model's on at most {max_accuracy_loss:g}% of {len(readable)} documents ({chosen.changed} "
        f"changed); {chosen.mean_layers:.2f} of {full.mean_layers:g} layers run per document on average"
    )
    if truth is not None:
        reason += f"; accuracy there {100 * chosen.accuracy:.2f} against {100 * full.accuracy:.2f}"
    return {
        "threshold": chosen.threshold,
        "data": data.data,
        "max_accuracy_loss": float(max_accuracy_loss),
        "full_accuracy": full.accuracy,
        "documents": len(readable),
        "reason": reason,
        "curve": [asdict(p) for p in curve],
    }
