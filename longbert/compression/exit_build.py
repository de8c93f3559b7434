"""Building an early-exit checkpoint's exits (``compress --method early-exit``): train them on
texts, then store a threshold -- given, calibrated on data
(:mod:`longbert.compression.exit_calibration`), or the default with a warning -- and say which."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from longbert.checkpoints import Manifest
    from longbert.compression.exit_calibration import CalibrationSet
    from longbert.data import LabeledDataset
    from longbert.strategies import Strategy


def check_exit_options(
    method: str,
    exit_threshold: float | None,
    calibration: object | None,
    calibration_texts: Sequence[str] | None,
    max_accuracy_loss: float,
) -> None:
    """Raise :class:`~longbert.compression.target.CompressError` for early-exit options that
    are out of range, given to another method, or that contradict each other."""
    from longbert.compression.target import CompressError

    if not max_accuracy_loss >= 0:
        raise CompressError(f"--max-accuracy-loss must be 0 or more points; got {max_accuracy_loss}.")
    if exit_threshold is not None and not 0 <= exit_threshold <= 1:
        raise CompressError(f"--exit-threshold must be between 0 and 1; got {exit_threshold}.")
    chooser = (
        "--calibration"
        if calibration is not None
        else "--calibration-texts"
        if calibration_texts is not None
        else None
    )
    if chooser and method != "early-exit":
        raise CompressError(f"{chooser} chooses the early-exit threshold: use it with --method early-exit.")
    if chooser and exit_threshold is not None:
        raise CompressError(
            f"--exit-threshold sets the early-exit threshold and {chooser} chooses one: give one of them."
        )
    if calibration is not None and calibration_texts is not None:
        raise CompressError(
            "--calibration and --calibration-texts both choose the threshold: give one of them."
        )


def calibration_data(
    manifest: Manifest,
    calibration_texts: Sequence[str] | None,
    calibration_source: str,
    calibration: str | os.PathLike[str] | None,
    dev: tuple[str | os.PathLike[str] | None, LabeledDataset | None],
    skip_bad_rows: bool,
) -> CalibrationSet | None:
    """What the threshold is chosen on: the unlabelled ``calibration_texts`` (read from
    ``calibration_source``), else the labelled file ``calibration``, else ``compress``'s
    ``--dev`` (its path and data set, already read); None when there is none of them."""
    from longbert.compression.exit_calibration import (
        calibration_set_of,
        load_calibration_set,
        unlabelled_calibration_set,
    )

    labels = list(manifest.labels)
    if calibration_texts is not None:
        where = f" from {calibration_source}" if calibration_source else ""
        name = f"{len(calibration_texts)} unlabelled texts{where}"
        return unlabelled_calibration_set(list(calibration_texts), name)
    if calibration is not None:
        multi_label, metadata = manifest.multi_label, manifest.metadata
        return load_calibration_set(calibration, labels, multi_label, metadata, skip_bad_rows)
    dev_path, dev_set = dev
    return calibration_set_of(dev_set, str(dev_path), labels) if dev_set is not None else None


def build_exits(
    source: Path,
    staging: Path,
    texts: Sequence[str],
    device: str | None,
    exit_threshold: float | None,
    calibration_set: CalibrationSet | None,
    max_accuracy_loss: float,
    reading: Strategy | None,
) -> dict[str, Any]:
    """Train the exits into ``staging`` and store their threshold: ``exit_threshold``, else
    calibrated on ``calibration_set``, else the default, all reading as ``reading`` (the source's own
    strategy when None). Returns the manifest's details about it."""
    from longbert import load_classifier
    from longbert.compression.early_exit import DEFAULT_THRESHOLD, EXITS_DIR, pools_by_mean, train_exits
    from longbert.compression.exit_calibration import calibrate

    teacher = load_classifier(source, device=device, precision="auto")  # as its exits will run
    if reading is not None:
        teacher.read_with(reading)
    if teacher.strategy.mode == "chunks" and not pools_by_mean(teacher):
        raise ValueError(
            f"'{source}' reads chunks and pools them by '{teacher.pooling.method}': early exit "
            "averages the windows' own predictions, which stands for such a model's prediction only "
            "under mean pooling. Use --method distill or int8 for it."
        )
    exits = train_exits(
        teacher, list(texts), threshold=DEFAULT_THRESHOLD if exit_threshold is None else exit_threshold
    )
    if exit_threshold is not None:
        exits.save(staging / EXITS_DIR)
        return {"threshold": exit_threshold, "threshold_source": "given (--exit-threshold)"}
    if calibration_set is None:
        exits.save(staging / EXITS_DIR)
        warnings.warn(
            f"early-exit threshold {DEFAULT_THRESHOLD} was not calibrated (no --dev, --calibration or "
            "--calibration-texts): "
            "it may never exit, or cost accuracy, on this model. Give calibration data to choose it.",
            UncalibratedThresholdWarning,
            stacklevel=3,
        )
        return {"threshold": DEFAULT_THRESHOLD, "threshold_source": "default, not calibrated"}
    teacher.early_exit = exits.to(teacher.device)
    calibration = calibrate(teacher, calibration_set, max_accuracy_loss)
    exits.threshold = calibration["threshold"]
    exits.save(staging / EXITS_DIR)
    return {"threshold": exits.threshold, "threshold_source": "calibrated", "calibration": calibration}


#: Said when the threshold was chosen on the data that then measures ``accuracy_after``.
OPTIMISTIC = (
    "chosen on --dev, which also measures accuracy_after: that figure is optimistic; "
    "give a separate --calibration file for an honest one"
)


class UncalibratedThresholdWarning(UserWarning):
    """An early-exit model was saved with the default threshold, not one chosen on data."""


def exit_threshold_summary(details: dict[str, Any]) -> str:
    """What the CLI says about an early-exit model's stored threshold: which one and why."""
    calibration = details.get("calibration")
    if calibration is None:
        return f"exit threshold {details.get('threshold')}: {details.get('threshold_source')}"
    lines = [f"exit threshold chosen on {calibration['data']}: {calibration['reason']}"]
    if "note" in calibration:
        lines.append(f"note: {calibration['note']}")
    for point in calibration["curve"]:
        line = f"  threshold {point['threshold']:<4g}  same label {100 * point['agreement']:6.2f}%"
        if point["accuracy"] is not None:
            line += f"  accuracy {100 * point['accuracy']:6.2f}  macro-F1 {100 * point['macro_f1']:6.2f}"
        lines.append(line + f"  layers run {point['mean_layers']:.2f}")
    return "\n".join(lines)
