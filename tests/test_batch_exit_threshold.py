"""The Batch label page's results table and downloads show each prediction's early-exit
threshold (``exit_threshold``, last column), as History's table and the store's exports do: a
batch of an early-exit model run at a threshold looked the same there as one at another. Read
with :func:`longbert.exit_threshold.recorded_threshold`; empty for a model without exits."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from longbert.results import PredictionError
from longbert.store import Store, get_store
from longbert.ui.batch_jobs import BatchSettings, batch_classify, upload_work
from longbert.ui.batch_results import display_rows
from longbert.ui.jobs import JobManager
from longbert.ui.service import load_model
from longbert.ui.tables import (
    NO_CORRECTION,
    RESULT_COLUMNS,
    batch_rows,
    result_row,
    table_frame,
    to_csv,
    to_jsonl,
    to_parquet,
)
from tests.helpers.app_testing import assert_ok, fresh_app
from tests.helpers.exit_fixtures import TEXTS, make_exit_checkpoint
from tests.helpers.store_factories import make_document, make_prediction

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: The batch's threshold (the checkpoint stores another, 0.3: the batch's is what runs).
RAN = 0.45
#: The columns before this change, in their places (downloads read by position keep working).
EARLIER = ("document", "status", "error", "label", "confidence", "correction", "labels",
           "strategy", "used_tokens", "total_tokens", "latency_ms", "zero_shot", "model",
           "label_set", "prediction_id")
#: The files of each batch: the texts, and a PDF that cannot be read (an error row).
FILES = [*((f"{i}.txt", text.encode()) for i, text in enumerate(TEXTS)), ("broken.pdf", b"not a pdf")]


@pytest.fixture(scope="module")
def exit_folder(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_exit_checkpoint(built, tmp_path_factory.mktemp("batch-exit") / "tiny-exit", 0.3)


@pytest.fixture
def models(tmp_path: Path, exit_folder: Path, built: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(exit_folder, folder / "tiny-exit")
    shutil.copytree(built, folder / "tiny-news")
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    return folder


def _run_batch(
    store: Store, models: Path, name: str, threshold: float | None
) -> tuple[int, list[dict[str, Any]]]:
    """A batch of :data:`FILES` labelled by ``models/<name>`` as the page runs one: its id and
    the live rows the page showed while it ran."""
    key = str((models / name).resolve())
    settings = BatchSettings(model=key, model_name=name, files=[f for f, _ in FILES],
                             exit_threshold=threshold)
    classify = batch_classify(load_model(key, device="cpu"), settings)
    work = upload_work(store, name, iter(FILES), settings, classify, num_files=len(FILES))
    job = JobManager().submit(work, title=name, kind="batch")
    snap = job.wait(120)
    assert snap.status == "done", snap.error
    return int(snap.result), list(snap.rows)


def _by_document(rows: list[dict[str, Any]], column: str = "document") -> dict[str, Any]:
    return {row[column]: row["exit_threshold"] for row in rows}


#: What the exit model's batch shows per document (the error row: nothing ran).
EXIT_SHOWN = {**{f"{i}.txt": RAN for i in range(len(TEXTS))}, "broken.pdf": None}
PLAIN_SHOWN = dict.fromkeys(EXIT_SHOWN)


def test_result_columns_end_with_the_threshold_read_as_history_reads_it() -> None:
    assert (*EARLIER, "exit_threshold") == RESULT_COLUMNS
    document = make_document(0)
    recorded = {0.6: 0.6, 0.0: 0.0, "nan": 0.0, 2.0: 1.0, -1: 0.0, None: None}
    for value, shown in recorded.items():
        prediction = make_prediction(document, model="tiny-exit")
        if value is not None:
            prediction = replace(prediction, extra={**prediction.extra, "exit_threshold": value})
        assert result_row(prediction, prediction_id=1)["exit_threshold"] == shown, value
    assert result_row(PredictionError("x.pdf", "unreadable"))["exit_threshold"] is None


def test_batch_table_and_downloads_carry_the_threshold(tmp_path: Path, models: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    try:
        exit_batch, exit_live = _run_batch(store, models, "tiny-exit", RAN)
        plain_batch, plain_live = _run_batch(store, models, "tiny-news", None)
        # The live table while the batch runs.
        assert _by_document(exit_live) == EXIT_SHOWN and _by_document(plain_live) == PLAIN_SHOWN
        live = table_frame(exit_live, RESULT_COLUMNS, keep=("confidence",))
        assert list(live.columns)[-1] == "exit_threshold"
        assert dict(zip(live["document"], live["exit_threshold"], strict=True)) == {
            name: "" if value is None else "0.45" for name, value in EXIT_SHOWN.items()}

        for batch_id, shown in ((exit_batch, EXIT_SHOWN), (plain_batch, PLAIN_SHOWN)):
            rows = batch_rows(store, batch_id)
            assert _by_document(rows) == shown
            # The finished batch's table: last column, blank where nothing is recorded.
            display, columns = display_rows(store, rows)
            assert columns[-1] == "exit_threshold"
            frame = table_frame(display, columns, keep=("confidence",), fill={"correction": NO_CORRECTION})
            assert dict(zip(frame["document"], frame["exit_threshold"], strict=True)) == {
                name: "" if value is None else "0.45" for name, value in shown.items()}
            # CSV: after the earlier columns, which keep their places.
            table = list(csv.DictReader(io.StringIO(to_csv(rows).decode("utf-8-sig"))))
            assert tuple(table[0])[: len(RESULT_COLUMNS)] == RESULT_COLUMNS
            assert _by_document(table) == {name: "" if value is None else "0.45"
                                           for name, value in shown.items()}
            # Parquet: a number column (missing: null).
            parquet = pd.read_parquet(io.BytesIO(to_parquet(rows)))
            assert tuple(parquet.columns)[: len(RESULT_COLUMNS)] == RESULT_COLUMNS
            cells = zip(parquet["document"], parquet["exit_threshold"], strict=True)
            assert {name: None if pd.isna(value) else float(value) for name, value in cells} == shown
            # JSON Lines.
            lines = [json.loads(line) for line in to_jsonl(rows).decode("utf-8").splitlines()]
            assert _by_document(lines) == shown
    finally:
        store.close()


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, models: Path) -> Iterator[AppTest]:
    yield fresh_app(tmp_path, monkeypatch, timeout=180)


def test_the_batch_page_shows_the_threshold_column(app: AppTest, models: Path) -> None:
    app.run()
    store = get_store()
    exit_batch, _ = _run_batch(store, models, "tiny-exit", RAN)
    plain_batch, _ = _run_batch(store, models, "tiny-news", None)
    app.switch_page("app_pages/batch.py").run()
    for batch_id, shown in ((exit_batch, "0.45"), (plain_batch, "")):
        app.selectbox(key="batch:open").set_value(batch_id).run()
        assert_ok(app)
        (editor,) = app.data_editor
        table = editor.value
        assert list(table.columns)[-1] == "exit_threshold"
        assert dict(zip(table["document"], table["exit_threshold"], strict=True)) == {
            **{f"{i}.txt": shown for i in range(len(TEXTS))}, "broken.pdf": ""}
