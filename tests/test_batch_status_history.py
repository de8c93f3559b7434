"""History's "Unfinished batches" for a batch ``python -m longbert.predict`` records: running
with its process while the command lives, counts without a fraction, and no Resume button (the
command, run again, resumes it) once it stopped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.app_testing import assert_ok, fresh_app
from helpers.store_factories import make_document, make_prediction
from streamlit.testing.v1 import AppTest

from longbert.bulk.store_sink import StoreSink
from longbert.store import get_store

COMMAND = "python -m longbert.predict --model models/m --input docs --output out.csv"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    at = fresh_app(tmp_path, monkeypatch, timeout=180)
    at.run()
    yield at


def _line(app: AppTest, batch_id: int) -> str:
    return next(m.value for m in app.markdown if f"#{batch_id}" in m.value)


def test_history_shows_a_command_line_batch_and_offers_its_command_not_resume(app: AppTest) -> None:
    sink = StoreSink(heartbeat_seconds=0.05)
    config = {"model": "m", "cli": {"output": "out.csv", "command": COMMAND, "workdir": "/data"}}
    batch_id = sink.open_batch("predict → out.csv", config, None)
    documents = [make_document(i) for i in range(3)]
    sink.write([(make_prediction(d, seed=i), d) for i, d in enumerate(documents)])
    sink.mark("running")
    try:
        app.switch_page("app_pages/history.py").run()
        assert_ok(app)
        line = _line(app, batch_id)
        assert line.endswith("3 documents so far · running") and " of " not in line
        assert not app.get("progress")  # its total is only the rows so far: no full bar
        assert any(f"Being labelled by process {os.getpid()}" in c.value for c in app.caption)
        assert f"history:resume:{batch_id}" not in [b.key for b in app.button]
    finally:
        sink.mark("interrupted")  # Ctrl-C
    app.run()
    assert_ok(app)
    assert _line(app, batch_id).endswith("3 documents so far · interrupted")
    assert f"history:resume:{batch_id}" not in [b.key for b in app.button]
    assert any("re\\-run the same command" in c.value for c in app.caption)
    assert [c.value for c in app.code] == [COMMAND]
    assert any("/data" in c.value for c in app.caption)
    assert get_store().get_batch(batch_id).status == "interrupted"  # nothing ran
