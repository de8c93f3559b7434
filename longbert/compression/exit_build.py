"""Building an early-exit checkpoint's exits (``compress --method early-exit``): train them on
texts, then store a threshold -- given, calibrated on data
(:mod:`longbert.compression.exit_calibration`), or the default with a warning -- and say which."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from longbert.compression.exit_calibration import CalibrationSet
    from longbert.strategies import Strategy


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
