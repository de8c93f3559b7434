"""The cross-model conflict and its settling (:mod:`tests.test_store_cross_model_conflicts`) on a
real PostgreSQL server: settling locks the predictions (FOR UPDATE) and nothing is SQLite-only."""

from __future__ import annotations

import pytest

pytest.importorskip("psycopg", reason="the psycopg driver is not installed")

from test_store_cross_model_conflicts import audit_scenario
from test_store_postgres import pg_admin_url, pg_url  # noqa: F401  (fixtures)

from longbert.store import CorrectionChangedError, Store


def test_a_cross_model_conflict_is_listed_and_settled_on_postgresql(pg_url: str) -> None:  # noqa: F811
    store = Store(pg_url)
    zero_shot, trained = audit_scenario(store)
    [conflict] = store.correction_conflicts()
    assert conflict.votes == {"sport": [zero_shot], "politics": [trained]}
    store.add_correction(trained, "politics", note="again")
    with pytest.raises(CorrectionChangedError):
        store.settle_conflict(zero_shot, conflict.shown)
    [fresh] = store.correction_conflicts()
    store.settle_conflict(zero_shot, fresh.shown)
    assert store.correction_conflicts() == []
    assert store.get_prediction(trained).final_labels == ["sport"]
