"""History's table and the store's exports show each prediction's early-exit threshold (session
34): two predictions of one early-exit model made at different thresholds looked the same there,
though ``predict`` records the threshold in force in ``extra["exit_threshold"]``. Models without
exits, and predictions saved before thresholds were recorded, show an empty cell."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from longbert.exit_threshold import recorded_threshold
from longbert.store import EXPORT_COLUMNS, HistoryFilter, Store, get_store
from longbert.ui.tables import HISTORY_COLUMNS, history_export, history_row, table_frame
from tests.helpers.app_testing import assert_ok, fresh_app
from tests.helpers.store_factories import make_document, make_prediction

#: document name → what its prediction's extra records as "exit_threshold" (missing: no key).
RECORDED: dict[str, Any] = {
    "fast.txt": 0.6,  # one early-exit model at two thresholds
    "careful.txt": 0.3,
    "full.txt": 0.0,  # the full model
    "old-nan.txt": "nan",  # an older version kept NaN (the store writes it as text)
    "old-big.txt": 2.0,  # an older version recorded a threshold out of range as given
}
#: What History and the exports show for each.
SHOWN = {"fast.txt": 0.6, "careful.txt": 0.3, "full.txt": 0.0, "old-nan.txt": 0.0,
         "old-big.txt": 1.0, "plain.txt": None}


def _save(store: Store) -> dict[str, int]:
    """Predictions of the early-exit model "tiny-exit" (thresholds as in :data:`RECORDED`) and
    one of "tiny-news", a model without exits (no threshold recorded)."""
    ids = {}
    for index, name in enumerate([*RECORDED, "plain.txt"]):
        document = make_document(index, name=name)
        prediction = make_prediction(document, model="tiny-news" if name == "plain.txt" else "tiny-exit",
                                     seed=index)
        if name in RECORDED:
            prediction = replace(prediction, extra={**prediction.extra, "exit_threshold": RECORDED[name]})
        ids[name] = store.save_prediction(prediction, document)
    return ids


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    yield opened
    opened.close()


def test_recorded_threshold_reads_what_ran() -> None:
    assert [recorded_threshold(v) for v in (0.25, 0, -1, "nan", float("nan"), 2, float("inf"))] == [
        0.25, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    assert [recorded_threshold(v) for v in (None, True, "high", [0.3])] == [None] * 4


def test_history_rows_and_table_carry_the_threshold(store: Store) -> None:
    ids = _save(store)
    rows = {r.document_name: r for r in store.history(limit=100).rows}
    assert {name: row.exit_threshold for name, row in rows.items()} == SHOWN
    assert store.history(HistoryFilter(prediction_ids=[ids["fast.txt"]])).rows[0].exit_threshold == 0.6
    assert HISTORY_COLUMNS.index("exit_threshold") == HISTORY_COLUMNS.index("model") + 1
    frame = table_frame([history_row(r) for r in rows.values()], HISTORY_COLUMNS)
    cells = dict(zip(frame["document"], frame["exit_threshold"], strict=True))
    # A gap makes the column text (numbers written plainly); no "None" for the model without exits.
    assert cells == {"fast.txt": "0.6", "careful.txt": "0.3", "full.txt": "0", "old-nan.txt": "0",
                     "old-big.txt": "1", "plain.txt": ""}


def test_exports_have_an_exit_threshold_column(store: Store, tmp_path: Path) -> None:
    _save(store)
    assert EXPORT_COLUMNS[-1] == "exit_threshold"  # appended: earlier columns keep their places
    path = tmp_path / "out.csv"
    assert store.export_predictions(path, "csv", include_text=True) == 6
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[-2:] == ["exit_threshold", "text"]
    assert {r["document_name"]: r["exit_threshold"] for r in rows} == {
        "fast.txt": "0.6", "careful.txt": "0.3", "full.txt": "0.0", "old-nan.txt": "0.0",
        "old-big.txt": "1.0", "plain.txt": ""}
    buffer = io.StringIO()
    store.export_predictions(buffer, "jsonl", HistoryFilter(model="tiny-exit"))
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert {line["document_name"]: line["exit_threshold"] for line in lines} == {
        name: value for name, value in SHOWN.items() if name != "plain.txt"}
    # History's download buttons export the same column.
    downloaded = list(csv.DictReader(io.StringIO(history_export(store, None, "csv").decode("utf-8-sig"))))
    assert {r["document_name"]: r["exit_threshold"] for r in downloaded}["careful.txt"] == "0.3"


def test_the_history_page_shows_the_threshold_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = fresh_app(tmp_path, monkeypatch)
    app.run()
    _save(get_store())
    app.switch_page("app_pages/history.py").run()
    assert_ok(app)
    (table,) = [d.value for d in app.dataframe if "exit_threshold" in d.value.columns]
    assert dict(zip(table["document"], table["exit_threshold"], strict=True)) == {
        "fast.txt": "0.6", "careful.txt": "0.3", "full.txt": "0", "old-nan.txt": "0",
        "old-big.txt": "1", "plain.txt": ""}
