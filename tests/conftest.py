"""Shared pytest fixtures."""

from __future__ import annotations

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
