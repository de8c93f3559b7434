"""Streamlit ``AppTest`` set-up shared by the app's tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parent.parent.parent / "app.py"


def fresh_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, timeout: float = 60) -> AppTest:
    """The app (not yet run) on a fresh SQLite database and an empty models folder under ``tmp_path``."""
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'app.sqlite'}")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("LONGBERT_SPOOL_DIR", raising=False)
    return AppTest.from_file(str(APP), default_timeout=timeout)


def assert_ok(at: AppTest) -> None:
    """The last run raised no exception (the exceptions' messages shown if it did)."""
    assert not at.exception, [e.value for e in at.exception]


def wait_until(at: AppTest, done: Callable[[AppTest], bool], timeout: float = 120,
               run_timeout: float | None = None, poll: float = 0.5) -> None:
    """Rerun the page every ``poll`` seconds (each run must raise nothing) until ``done(at)``:
    how a test waits for a background job the page shows. Fails after ``timeout`` seconds;
    ``run_timeout``: one run's limit (AppTest's default when None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run_timeout is None:
            at.run()
        else:
            at.run(timeout=run_timeout)
        assert_ok(at)
        if done(at):
            return
        time.sleep(poll)
    raise AssertionError(f"the page did not reach the expected state in {timeout:g} s")


def fake_checkpoint(models: Path, name: str, labels: list[str], **fields: Any) -> Path:
    """``models/<name>/longbert.json`` as a trained checkpoint writes it (truncate strategy, plus
    ``fields``), without weights: enough for the pages that list and pick models."""
    folder = models / name
    folder.mkdir(parents=True)
    manifest = {"name": name, "labels": labels, "strategy": {"name": "truncate", "params": {}}, **fields}
    (folder / "longbert.json").write_text(json.dumps(manifest))
    return folder
