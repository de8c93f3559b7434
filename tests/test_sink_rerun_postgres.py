"""Superseding in a command line's batch on a real PostgreSQL server (the same checks as on
SQLite in tests/test_sink_rerun_counts.py; skipped, saying why, without a server or driver)."""

from __future__ import annotations

import pytest

pytest.importorskip("psycopg", reason="the psycopg driver is not installed")

from test_sink_rerun_counts import _check_superseding
from test_store_postgres import pg_admin_url, pg_url  # noqa: F401  (fixtures: a scratch database)

from longbert.store import Store


def test_superseding_on_postgresql(pg_url: str) -> None:  # noqa: F811
    _check_superseding(Store(pg_url))
