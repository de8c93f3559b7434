"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def navigation_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make AppTest run app.py the way a started server does: through ``st.navigation`` only.

    AppTest resets ``PagesManager.uses_pages_directory`` to None before *every* run
    (streamlit/testing/v1/app_test.py), so with a ``pages/`` folder next to app.py each run
    would start in Streamlit's legacy folder navigation; pages.shared.ensure_app_navigation then
    reruns through app.py and the widget clicks of that run are lost. A real server settles the
    flag once per process. Here AppTest's reset lands on a subclass and the flag Streamlit's
    runner reads stays False.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    class _SettledPagesManager(PagesManager):
        """PagesManager whose class-level reset by AppTest does not reach the base class."""

    monkeypatch.setattr(PagesManager, "uses_pages_directory", False)
    monkeypatch.setattr(app_test, "PagesManager", _SettledPagesManager)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway database, models folder and CPU device for one training test.

    Training modules turn it on for every test with ``pytestmark = usefixtures("isolated")``;
    tests that write files next to the run take it as an argument.
    """
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    return tmp_path
