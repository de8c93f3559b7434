"""Resources every page shares, made once per server process (``st.cache_resource``): the store,
the background jobs, and loaded models. Logic lives in ``longbert``; this module only caches it."""

from __future__ import annotations

from typing import Any

import streamlit as st

from longbert.settings import database_url
from longbert.store import Store, StoreError, get_store
from longbert.store.spool import sweep_spool
from longbert.ui.jobs import JobManager
from longbert.ui.service import load_model as load_uncached_model


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    store = get_store(url)
    # App start: texts a killed upload left in the batch spool are removed (once they are old
    # enough that no upload can still be writing them).
    sweep_spool(store)
    return store


def store() -> Store:
    """The database for this server (``LONGBERT_DB_URL``); stops the page with a clear error."""
    try:
        return _store(database_url())
    except StoreError as error:
        st.error(f"The database cannot be used: {error}")
        st.stop()
        raise  # unreachable: st.stop() raises


@st.cache_resource(show_spinner=False)
def jobs() -> JobManager:
    """Background jobs of this server process (upload batches, training)."""
    return JobManager()


@st.cache_resource(max_entries=4, show_spinner="Loading the model (once per server)…")
def _cached_model(key: str, labels: tuple[tuple[str, str], ...]) -> Any:
    return load_uncached_model(key, dict(labels) if labels else None)


def load_model(key: str, labels: dict[str, str] | None) -> Any:
    """A model from the per-process cache (loaded on first use)."""
    return _cached_model(key, tuple(sorted((labels or {}).items())))
