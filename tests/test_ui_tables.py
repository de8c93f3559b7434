"""Result rows, corrections and exports."""

from __future__ import annotations

import csv
import io
import json

from longbert.results import Prediction, PredictionError
from longbert.ui.tables import RESULT_COLUMNS, apply_corrections, result_row, to_csv, to_jsonl


def _prediction(name: str = "a.txt", label: str = "sport") -> Prediction:
    return Prediction(
        document_name=name, document_sha256="0" * 64, label=label,
        probabilities={"sport": 0.8, "politics": 0.2}, labels=[label], model_name="zero-shot",
        strategy="chunk", strategy_params={"window": 256}, total_tokens=900, used_tokens=900,
        spans=[(0, 10)], segment_scores=[], attention=None, latency_ms=12.345, zero_shot=True,
    )


def test_rows_for_predictions_and_errors() -> None:
    ok = result_row(_prediction(), prediction_id=7)
    bad = result_row(PredictionError("b.pdf", "b.pdf is encrypted"))
    assert set(ok) == set(RESULT_COLUMNS) == set(bad)
    assert ok["status"] == "ok" and ok["confidence"] == 0.8 and ok["prediction_id"] == 7
    assert bad["status"] == "error" and bad["error"] == "b.pdf is encrypted"


def test_corrections_change_only_ok_rows() -> None:
    rows = [result_row(_prediction()), result_row(PredictionError("x", "bad"))]
    updated, changes = apply_corrections(rows, {0: {"correction": "politics"}, 1: {"correction": "y"}})
    assert changes == [(0, "politics")]
    assert updated[0]["correction"] == "politics" and updated[1]["correction"] is None
    again, none = apply_corrections(updated, {0: {"correction": "politics"}})
    assert none == [] and again == updated


def test_exports_include_final_label_and_defuse_formulas() -> None:
    rows = [result_row(_prediction(name="=cmd|calc")), result_row(PredictionError("é.txt", "empty"))]
    rows[0]["correction"] = "politics"
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows).decode("utf-8"))))
    assert parsed[0]["final_label"] == "politics" and parsed[0]["document"] == "'=cmd|calc"
    assert parsed[1]["status"] == "error" and parsed[1]["final_label"] == ""
    lines = to_jsonl(rows).decode("utf-8").splitlines()
    assert json.loads(lines[1])["document"] == "é.txt"
    assert json.loads(lines[0])["final_label"] == "politics"
