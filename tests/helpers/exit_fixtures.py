"""A tiny early-exit checkpoint (``compress --method early-exit``) for the app's threshold tests,
with a calibration curve written into its manifest as ``compress`` records one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

TEXTS = [
    "The central bank raised interest rates again to fight inflation.",
    "The football club won the championship after a dramatic penalty shoot-out.",
    "Bond yields climbed as investors sold government debt.",
    "Fans celebrated in the streets long after the final whistle.",
]

#: A labelled calibration curve as ``exit_calibration.calibrate`` stores it (made up: the tiny
#: model's own would be noise), on 200 documents, for a two-layer model.
CURVE: list[dict[str, Any]] = [
    {"threshold": t, "accuracy": a, "macro_f1": a, "mean_layers": layers, "agreement": agree,
     "changed": round((1 - agree) * 200), "documents": 200}
    for t, a, layers, agree in [
        (0.0, 0.90, 2.0, 1.0), (0.05, 0.90, 1.95, 1.0), (0.1, 0.90, 1.9, 1.0),
        (0.2, 0.895, 1.8, 0.995), (0.3, 0.89, 1.6, 0.99), (0.4, 0.88, 1.5, 0.98),
        (0.5, 0.86, 1.4, 0.96), (0.6, 0.84, 1.3, 0.94), (0.7, 0.80, 1.2, 0.90),
        (0.8, 0.75, 1.1, 0.85), (0.9, 0.70, 1.05, 0.80), (0.95, 0.65, 1.0, 0.75),
    ]
]


def make_exit_checkpoint(built: Path, folder: Path, threshold: float, with_curve: bool = True) -> Path:
    """``folder``: ``built`` with exits stored at ``threshold`` (fp32, CPU) and, with
    ``with_curve``, :data:`CURVE` recorded as its calibration."""
    from longbert.compress import compress

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LONGBERT_PRECISION", "fp32")
        out, _ = compress(built, "early-exit", folder.name, output_dir=folder, texts=TEXTS * 2,
                          exit_threshold=threshold, device="cpu")
    if with_curve:
        manifest_path = out / "longbert.json"
        manifest = json.loads(manifest_path.read_text())
        details = manifest["metadata"]["compression"]
        details["threshold_source"] = "calibrated"
        details["calibration"] = {
            "threshold": threshold, "data": "calibration.jsonl", "max_accuracy_loss": 2.0,
            "full_accuracy": 0.9, "documents": 200, "reason": "made up for the tests", "curve": CURVE,
        }
        manifest_path.write_text(json.dumps(manifest))
    return out
