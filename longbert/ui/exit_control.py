"""The app's early-exit threshold control: what a checkpoint offers, read without loading it.

A model made with ``python -m longbert.compress --method early-exit`` stores its threshold in
``exits/config.json`` (what :func:`longbert.load_classifier` applies) and, in its manifest's
``metadata.compression``, where the threshold came from and -- when it was calibrated -- the
speed/accuracy curve measured on the calibration data
(:func:`longbert.compression.exit_calibration.calibrate`). The pages read both on every rerun
from the model choice (the manifest is already read to list the models) plus one small JSON
file, so picking a model never loads its weights just to draw the control.

Nothing here imports torch or the model code: the pages and their tests use it cheaply.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longbert.errors import LongBertError
from longbert.exit_threshold import MEANING, check_exit_threshold
from longbert.results import Prediction
from longbert.ui.models import ModelChoice

#: The folder of a checkpoint holding its exits (as ``longbert.compression.early_exit``, which
#: imports torch: not imported here).
EXITS_DIR = "exits"
#: Calibrated thresholds shown each side of the chosen one in the curve table.
AROUND = 2


@dataclass(frozen=True)
class CurvePoint:
    """One calibrated threshold: the share of calibration documents whose label is the full
    model's (``agreement``), accuracy when the calibration data was labelled, and the mean
    number of encoder layers run per document (``layers``, of ``full_layers``)."""

    threshold: float
    agreement: float
    layers: float
    accuracy: float | None = None
    changed: int | None = None
    documents: int | None = None


@dataclass(frozen=True)
class ExitModel:
    """What the app knows of an early-exit checkpoint without loading it.

    ``stored``: the threshold the model runs at unless told otherwise (None when neither
    ``exits/config.json`` nor the manifest holds a usable one; ``problem`` says why); ``source``:
    how it was set (``calibrated``, ``given (--exit-threshold)``, ``default, not calibrated``);
    ``curve``: the calibration curve, lowest threshold first (empty when not calibrated)."""

    folder: str
    stored: float | None
    source: str | None = None
    curve: tuple[CurvePoint, ...] = ()
    calibration_data: str | None = None
    note: str | None = None
    problem: str | None = None

    @property
    def full_layers(self) -> float | None:
        """The layers the full model runs per document (the threshold-0 point's)."""
        return next((p.layers for p in self.curve if p.threshold <= 0), None)

    @property
    def labelled(self) -> bool:
        """Whether the calibration data had labels (the curve then has accuracies)."""
        return any(p.accuracy is not None for p in self.curve)


def exit_model(choice: ModelChoice) -> ExitModel | None:
    """``choice``'s early exits, or None for a model without them (zero-shot, a plain or
    otherwise compressed checkpoint)."""
    if choice.zero_shot or not choice.path or (choice.compression or {}).get("method") != "early-exit":
        return None
    details = choice.metadata.get("compression")
    details = details if isinstance(details, Mapping) else {}
    stored, problem = _stored_threshold(Path(choice.path), details.get("threshold"))
    calibration = details.get("calibration")
    calibration = calibration if isinstance(calibration, Mapping) else {}
    source = details.get("threshold_source")
    return ExitModel(
        folder=choice.path,
        stored=stored,
        source=str(source) if source is not None else None,
        curve=_curve(calibration.get("curve")),
        calibration_data=str(calibration["data"]) if calibration.get("data") else None,
        note=str(calibration["note"]) if calibration.get("note") else None,
        problem=problem,
    )


def _stored_threshold(folder: Path, recorded: object) -> tuple[float | None, str | None]:
    """The threshold the model loads with (``exits/config.json``), else the manifest's record of
    it; and, when neither is usable, why (a page shows it rather than failing)."""
    path = folder / EXITS_DIR / "config.json"
    why = None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        return _checked(config.get("threshold") if isinstance(config, dict) else None), None
    except (OSError, ValueError, LongBertError) as error:
        why = f"{path} holds no usable threshold ({error})"
    try:
        return _checked(recorded), None
    except LongBertError:
        return None, why


def _checked(value: object) -> float:
    threshold = check_exit_threshold(value, "the stored exit threshold")
    if threshold is None:
        raise ValueError("no threshold recorded")
    return threshold


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _curve(points: object) -> tuple[CurvePoint, ...]:
    """The manifest's curve (a list of ``CurvePoint`` dicts), unusable points left out."""
    if not isinstance(points, Sequence) or isinstance(points, str):
        return ()
    curve: dict[float, CurvePoint] = {}
    for point in points:
        if not isinstance(point, Mapping):
            continue
        threshold, agreement = _number(point.get("threshold")), _number(point.get("agreement"))
        layers = _number(point.get("mean_layers"))
        if threshold is None or agreement is None or layers is None or layers <= 0:
            continue
        changed, documents = _number(point.get("changed")), _number(point.get("documents"))
        curve[threshold] = CurvePoint(
            threshold, agreement, layers, _number(point.get("accuracy")),
            None if changed is None else int(changed), None if documents is None else int(documents),
        )
    return tuple(curve[t] for t in sorted(curve))


def threshold_help(model: ExitModel) -> str:
    """The control's help text: what the number means, and where the stored one came from."""
    text = (f"The early-exit threshold is {MEANING}. Higher: faster, and more labels may differ "
            "from the full model's.")
    if model.stored is not None:
        text += f" This model's stored threshold is {model.stored:g}" + (
            f" ({model.source})." if model.source else "."
        )
    if model.curve and model.calibration_data:
        text += f" The expected figures come from calibration on {model.calibration_data}."
    return text


def _point_text(point: CurvePoint, full_layers: float | None) -> str:
    parts = []
    if point.accuracy is not None:
        parts.append(f"accuracy {point.accuracy:.1%}")
    parts.append(f"same label as the full model {point.agreement:.1%}")
    layers = f"{point.layers:.2f}" + (f" of {full_layers:g}" if full_layers else "")
    parts.append(f"{layers} layers per document" + speedup_text(point.layers, full_layers))
    return ", ".join(parts)


def speedup_text(layers: float, full_layers: float | None) -> str:
    """`` (×1.38 fewer layers)``, or ``""`` at (or without) the full depth."""
    if not full_layers or layers >= full_layers:
        return ""
    return f" (×{full_layers / layers:.2f} fewer layers)"


def expected_text(model: ExitModel, threshold: float | None) -> str | None:
    """What calibration measured at ``threshold`` (None: the stored one), or between the
    calibrated thresholds around it; None when the model holds no curve.

    Exits leave at the first layer sure enough, so a higher threshold never runs more layers;
    the bracketing points bound the layers run, and accuracy in between is not interpolated (it
    need not move monotonically)."""
    threshold = model.stored if threshold is None else threshold
    if not model.curve or threshold is None:
        return None
    full, curve = model.full_layers, model.curve
    where = f" on {model.calibration_data}" if model.calibration_data else ""
    exact = next((p for p in curve if math.isclose(p.threshold, threshold, abs_tol=1e-9)), None)
    if threshold <= 0:
        text = "Threshold 0 runs the full model exactly: every layer, no label changed."
    elif exact is not None:
        text = f"Calibration{where} at {threshold:g}: {_point_text(exact, full)}."
    else:
        below = max((p for p in curve if p.threshold < threshold), key=lambda p: p.threshold, default=None)
        above = min((p for p in curve if p.threshold > threshold), key=lambda p: p.threshold, default=None)
        if below is not None and above is not None:
            text = (f"Between the calibrated thresholds {below.threshold:g} and {above.threshold:g}"
                    f"{where}: at {below.threshold:g} {_point_text(below, full)}; at "
                    f"{above.threshold:g} {_point_text(above, full)}.")
        elif below is not None:
            text = (f"Above the largest calibrated threshold{where}, {below.threshold:g}, where: "
                    f"{_point_text(below, full)}. Here at most as many layers run, and more labels "
                    "may change.")
        else:  # above is not None: a curve without its threshold-0 point
            text = (f"Below the smallest calibrated threshold{where}, {above.threshold:g}, where: "
                    f"{_point_text(above, full)}. Here at least as many layers run.")
    if model.note:
        text += f" Note: {model.note}."
    return text


def curve_rows(model: ExitModel, threshold: float | None, around: int = AROUND) -> list[dict[str, Any]]:
    """The calibrated thresholds nearest ``threshold`` (``around`` each side, and any at it) as
    table rows, the full model's (threshold 0) always first; the stored and chosen ones marked."""
    threshold = model.stored if threshold is None else threshold
    if not model.curve:
        return []
    curve = list(model.curve)
    if threshold is None:
        picked = curve[: 2 * around + 1]
    else:
        below = [p for p in curve if p.threshold < threshold - 1e-9][-around:]
        at = [p for p in curve if math.isclose(p.threshold, threshold, abs_tol=1e-9)]
        above = [p for p in curve if p.threshold > threshold + 1e-9][:around]
        picked = below + at + above
    full = [p for p in curve if p.threshold <= 0]
    picked = full + [p for p in picked if p not in full]
    rows = []
    for point in picked:
        marks = []
        if model.stored is not None and math.isclose(point.threshold, model.stored, abs_tol=1e-9):
            marks.append("stored")
        if threshold is not None and math.isclose(point.threshold, threshold, abs_tol=1e-9):
            marks.append("chosen")
        row: dict[str, Any] = {"threshold": point.threshold, "mark": ", ".join(marks)}
        if model.labelled:
            row["accuracy"] = point.accuracy
        row["same label as full model"] = point.agreement
        row["layers per document"] = round(point.layers, 2)
        full_layers = model.full_layers
        row["layer speed-up"] = round(full_layers / point.layers, 2) if full_layers else None
        rows.append(row)
    return rows


def strategy_mode(strategy: Mapping[str, Any] | None, choice: ModelChoice) -> str | None:
    """The mode (``windows``, ``chunks``, ``long``) of the strategy picked (None: the model's
    own), from its name alone; None when unknown."""
    from longbert.strategies import STRATEGIES

    name = (strategy or choice.strategy or {}).get("name")
    return getattr(STRATEGIES.get(name), "mode", None) if isinstance(name, str) else None


def threshold_caption(model: ExitModel, threshold: float | None, strategy_mode: str | None) -> str:
    """One line under the control: what the chosen value does with the strategy chosen."""
    if threshold is None:
        why = f" ({model.problem})" if model.problem else ""
        return f"The model's own threshold applies: it could not be read here{why}."
    if strategy_mode == "long":
        return ("The sparse strategy always runs every layer: the threshold is recorded but "
                "changes nothing.")
    if threshold <= 0:
        return "0: the full model exactly (every layer, no exits)."
    if model.stored is not None and math.isclose(threshold, model.stored, abs_tol=1e-9):
        return f"{threshold:g}: the model's stored threshold."
    stored = f" (stored: {model.stored:g})" if model.stored is not None else ""
    return f"{threshold:g}: texts leave at the first layer whose exit is that sure{stored}."


def threshold_in_words(prediction: Prediction) -> str | None:
    """The early-exit threshold ``prediction`` recorded as what ran: ``"0.3"``, ``"0 (the full
    model)"``, or ``"0.3 (not in force: this strategy runs every layer)"`` (sparse, or chunks
    pooled other than by their mean); None for a model without exits."""
    from longbert.ui.explanations import exits_in_force, recorded_exit_threshold

    recorded = recorded_exit_threshold(prediction)
    if recorded is None:
        return None
    if recorded <= 0:
        return "0 (the full model)"
    if exits_in_force(prediction) is None:
        return f"{recorded:g} (not in force: this strategy runs every layer)"
    return f"{recorded:g}"


def batch_threshold_note(config: Mapping[str, Any]) -> str:
    """`` · early-exit threshold 0.3`` for a batch whose every run labels at that threshold
    (its config's ``exit_threshold``); ``""`` for a batch without one."""
    threshold = config.get("exit_threshold")
    if threshold is None:
        return ""
    if isinstance(threshold, int | float) and not isinstance(threshold, bool) and threshold == 0:
        return " · early-exit threshold 0 (the full model)"
    shown = f"{threshold:g}" if isinstance(threshold, int | float) else repr(threshold)
    return f" · early-exit threshold {shown}"


def exit_threshold_note(prediction: Prediction) -> str:
    """`` · early-exit threshold 0.3`` for a prediction's caption (``""`` for a model without
    exits): see :func:`threshold_in_words`."""
    words = threshold_in_words(prediction)
    return "" if words is None else f" · early-exit threshold {words}"
