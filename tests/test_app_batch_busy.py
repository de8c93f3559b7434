"""'Start labelling' is disabled while any batch runs: another tab's job on this server, or a
batch a live worker holds elsewhere (the store's lease), not only this tab's own job."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from longbert.store import get_store
from tests.helpers.app_testing import assert_ok, fresh_app


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    yield fresh_app(tmp_path, monkeypatch)


def _busy_captions(at: AppTest) -> list[str]:
    assert_ok(at)
    return [c.value for c in at.caption if "Another batch is being labelled" in c.value]


def test_start_is_disabled_while_a_worker_elsewhere_holds_a_batch(app: AppTest) -> None:
    app.switch_page("app_pages/batch.py").run()
    assert _busy_captions(app) == []
    store = get_store()
    batch_id = store.create_batch("nightly import", config={"model": "zero-shot"}, items=["a.txt"])
    worker = store.claim_batch(batch_id)  # a live worker (this process) labels it
    app.run()
    (said,) = _busy_captions(app)
    assert f"#{batch_id} nightly import" in said and "process" in said
    start = app.button(key="batch:start")
    assert start.disabled and "one batch at a time" in (start.help or "")
    store.release_batch(batch_id, worker.id, status="done")
    app.run()
    assert _busy_captions(app) == []


def test_start_is_disabled_while_another_tabs_job_runs(app: AppTest) -> None:
    from app_pages import resources

    app.switch_page("app_pages/batch.py").run()
    release = threading.Event()
    job = resources.jobs().submit(lambda ctx: release.wait(30), title="3 files · other tab",
                                  kind="batch")
    try:
        app.run()
        (said,) = _busy_captions(app)
        assert "3 files · other tab" in said
        assert app.button(key="batch:start").disabled
    finally:
        release.set()
    assert job.wait(10).finished
    app.run()
    assert _busy_captions(app) == []
