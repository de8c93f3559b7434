"""Result rows, corrections and exports."""

from __future__ import annotations

import csv
import io
import json

from longbert.results import Prediction, PredictionError
from longbert.ui.tables import (
    HISTORY_COLUMNS,
    NO_CORRECTION,
    RESULT_COLUMNS,
    apply_corrections,
    columns_with_values,
    history_export,
    history_row,
    newly_selected,
    result_row,
    table_frame,
    to_csv,
    to_jsonl,
)


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
    # Besides the table's columns, the model's chosen labels as a list (exports, Label Studio).
    assert set(ok) == set(bad) == {*RESULT_COLUMNS, "predicted_labels"}
    assert ok["predicted_labels"] == ["sport"] and bad["predicted_labels"] is None
    assert ok["status"] == "ok" and ok["confidence"] == 0.8 and ok["prediction_id"] == 7
    assert bad["status"] == "error" and bad["error"] == "b.pdf is encrypted"


def test_corrections_change_only_ok_rows() -> None:
    rows = [result_row(_prediction()), result_row(PredictionError("x", "bad"))]
    updated, changes = apply_corrections(rows, {0: {"correction": "politics"}, 1: {"correction": "y"}})
    assert changes == [(0, "politics")]
    assert updated[0]["correction"] == "politics" and updated[1]["correction"] is None
    again, none = apply_corrections(updated, {0: {"correction": "politics"}})
    assert none == [] and again == updated
    cleared, change = apply_corrections(updated, {0: {"correction": NO_CORRECTION}})
    assert change == [(0, None)] and cleared[0]["correction"] is None


def test_exports_include_final_label_and_defuse_formulas() -> None:
    rows = [result_row(_prediction(name="=cmd|calc")), result_row(PredictionError("é.txt", "empty"))]
    rows[0]["correction"] = "politics"
    parsed = list(csv.DictReader(io.StringIO(to_csv(rows).decode("utf-8-sig"))))
    assert parsed[0]["final_label"] == "politics" and parsed[0]["document"] == "'=cmd|calc"
    assert parsed[1]["status"] == "error" and parsed[1]["final_label"] == ""
    lines = to_jsonl(rows).decode("utf-8").splitlines()
    assert json.loads(lines[1])["document"] == "é.txt"
    assert json.loads(lines[0])["final_label"] == "politics"


def test_error_reason_comes_right_after_the_name_and_blanks_show_blank() -> None:
    assert RESULT_COLUMNS[:3] == ("document", "status", "error")
    rows = [result_row(_prediction()), result_row(PredictionError("x.pdf", "x.pdf is encrypted"))]
    frame = table_frame(rows, RESULT_COLUMNS, keep=("confidence",))
    assert list(frame.columns) == list(RESULT_COLUMNS)
    assert list(frame["correction"]) == ["", ""] and list(frame["error"]) == ["", "x.pdf is encrypted"]
    # Numbers with gaps are written plainly (no "900.0") and listed for right alignment.
    assert list(frame["used_tokens"]) == ["900", ""] and list(frame["latency_ms"]) == ["12.3", ""]
    assert {"used_tokens", "latency_ms"} <= set(frame.attrs["numeric_text"])
    assert frame["confidence"].isna().tolist() == [False, True]  # kept: a progress bar column
    assert frame["zero_shot"].tolist()[0] is True  # yes/no column left for its checkbox
    dash = table_frame(rows, RESULT_COLUMNS, fill={"correction": NO_CORRECTION})
    assert list(dash["correction"]) == [NO_CORRECTION] * 2 and dash["error"].iloc[0] == ""
    full = table_frame([result_row(_prediction())], RESULT_COLUMNS)
    assert full["used_tokens"].tolist() == [900] and full.attrs["numeric_text"] == []
    assert columns_with_values([{"a": 1, "error": None}], ["a", "error"], ["error"]) == ["a"]
    assert columns_with_values([{"a": 1, "error": "bad"}], ["a", "error"], ["error"]) == [
        "a", "error"]


def test_history_rows_and_a_ticked_row_opens_only_once() -> None:
    from datetime import datetime

    from longbert.store import HistoryRow

    row = history_row(HistoryRow(
        id=3, created_at=datetime(2026, 1, 2, 3, 4), document_name="d", document_sha256="0",
        source="paste", model_name="m", strategy="chunk", label="a", labels=["a"],
        confidence=0.123456, used_tokens=510, total_tokens=2306, latency_ms=12.34, batch_id=None,
        zero_shot=True, corrected_label=None, corrected_labels=None,
    ))
    assert tuple(row) == HISTORY_COLUMNS
    assert row["tokens"] == "510/2,306" and row["confidence"] == 0.1235 and row["corrected"] is None
    assert newly_selected([2], None) == 2
    assert newly_selected([2], [2]) is None  # still ticked: the dropdown choice stands
    assert newly_selected([], [2]) is None and newly_selected([1], [2]) == 1


def test_history_export_uses_the_store_with_filters(tmp_path: object) -> None:
    from pathlib import Path

    from longbert.document import Document
    from longbert.store import HistoryFilter, get_store

    store = get_store(f"sqlite:///{Path(str(tmp_path)) / 'h.sqlite'}")
    for name, label in (("a.txt", "sport"), ("b.txt", "politics")):
        document = Document(text=f"text of {name}", name=name)
        p = _prediction(name=name, label=label)
        p.document_sha256 = document.sha256
        pid = store.save_prediction(p, document)
        if name == "a.txt":
            store.add_correction(pid, "politics", note="checked")
    everything = list(csv.DictReader(io.StringIO(history_export(store, None, "csv").decode("utf-8-sig"))))
    assert [r["document_name"] for r in everything] == ["a.txt", "b.txt"]
    assert everything[0]["corrected_label"] == "politics" == everything[0]["final_label"]
    only = history_export(store, HistoryFilter(label=["politics"]), "jsonl").decode().splitlines()
    assert [json.loads(line)["document_name"] for line in only] == ["b.txt"]
