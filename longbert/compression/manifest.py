"""What a compressed checkpoint's manifest (``longbert.json``) records.

The source's manifest, with: ``compression`` provenance (method, source, and with ``--dev`` the
accuracy, macro-F1 and docs/s before and after: :func:`measured`); the strategy with any
``--strategy-param`` replaced (:func:`strategy_spec`); and in ``metadata``
(:func:`compressed_metadata`) the method's record as ``compression``, the new model's own scores
on ``--dev`` as ``metrics`` -- the Models page shows them as the model's -- and the source's dev
scores moved to ``source_metrics``: they are not the compressed model's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from longbert.compression.target import CompressError

if TYPE_CHECKING:
    from longbert.checkpoints import Manifest
    from longbert.strategies import Strategy

#: Keys of an evaluate report that describe the run rather than the model's scores (``seconds``
#: too: the accuracy pass took them; the speed recorded is timed apart, see ``measuring``).
RUN_KEYS = (
    "model",
    "data",
    "strategy",
    "device",
    "errors",
    "problems",
    "duplicates_dropped",
    "rows_skipped",
    "seconds",
    # The run's settings and notes (evaluate reports them), not scores.
    "precision",
    "exit_threshold",
    "warnings",
)


def reading_strategy(manifest: Manifest, params: Mapping[str, Any]) -> Strategy | None:
    """The source's strategy with ``params`` replaced (None when there are none), checked as the
    strategy checks its parameters. Model settings (chunk's pooling, sparse's attention window)
    are what the model was trained with, not a way of reading: refused."""
    if not params:
        return None
    from longbert.strategies import STRATEGIES, parse_strategy

    name = (manifest.strategy or {}).get("name")
    fixed = [key for key in params if name in STRATEGIES and key in STRATEGIES[name].model_params]
    if fixed:
        raise CompressError(
            f"--strategy-param {', '.join(fixed)}: a setting of the trained model, not of how it "
            f"reads; compression cannot change it (predict can try it: --strategy-param with --strategy)."
        )
    return parse_strategy(manifest.strategy or {}, **params)[0]


def strategy_spec(manifest: Manifest, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The source's strategy spec with ``params`` replaced (its other parameters kept as saved)."""
    if not params:
        return manifest.strategy
    spec = manifest.strategy or {}
    return {**spec, "params": {**(spec.get("params") or {}), **params}}


def method_details(method: str) -> dict[str, Any]:
    """What ``metadata.compression`` says the new checkpoint stores, by method."""
    if method == "int8":
        from longbert.compression.int8 import RECIPE

        return {"stored": "the source's weights, unchanged", "at_load": RECIPE, "devices": "cpu"}
    if method == "early-exit":
        return {"stored": "the source's weights + exits/ (one [CLS] classifier per layer)"}
    if method == "distill":
        return {"stored": "the student's weights (every other layer of the source, distilled)"}
    return {}


def measured(
    before: Mapping[str, Any], after: Mapping[str, Any], speed: Mapping[str, Any]
) -> dict[str, float]:
    """Accuracy and macro-F1 of the evaluate reports and the timed docs/s, as
    :class:`~longbert.checkpoints.Compression` fields."""
    fields: dict[str, float] = {}
    for when, report in (("before", before), ("after", after)):
        for name in ("accuracy", "macro_f1"):
            if isinstance(report.get(name), int | float):
                fields[f"{name}_{when}"] = float(report[name])
        fields[f"docs_per_second_{when}"] = float(speed[when])
    return fields


def compressed_metadata(
    source_metadata: Mapping[str, Any],
    details: Mapping[str, Any],
    after: Mapping[str, Any] | None,
    speed: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The new checkpoint's manifest metadata: the source's (its training record: the columns
    evaluate reads), with the source's dev scores moved to ``source_metrics`` -- they are not
    the compressed model's -- and, when ``--dev`` measured it, the new model's own scores as
    ``metrics``; ``details`` (the method's record) as ``compression``."""
    metadata = {key: value for key, value in source_metadata.items() if key != "metrics"}
    if "metrics" in source_metadata:
        metadata["source_metrics"] = source_metadata["metrics"]
    compression = dict(details)
    if after is not None:  # the run's details (errors: none new, see measuring) are not scores
        metrics = {key: value for key, value in after.items() if key not in RUN_KEYS}
        metrics["data"] = after.get("data")
        if speed is not None:
            metrics["docs_per_second"] = speed["after"]
            compression["speed"] = {key: speed[key] for key in ("documents", "rounds", "how")}
        metadata["metrics"] = _json_safe(metrics)
    metadata["compression"] = compression
    return metadata


def _json_safe(value: Any) -> Any:
    """``value`` with numpy numbers made Python ones (the manifest is JSON)."""
    if isinstance(value, Mapping):
        return {str(key): _json_safe(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(inner) for inner in value]
    return value.item() if hasattr(value, "item") else value
