"""The multi-label label filter, label counts and exports on a real PostgreSQL server (the
server fixtures of test_store_postgres: skipped, saying why, without a server or psycopg)."""

from __future__ import annotations

import io
import json

from test_ml_exports_labels import TAGS, save_single, save_tagged
from test_store_postgres import pg_admin_url, pg_url  # noqa: F401 - pytest fixtures

from longbert.store import HistoryFilter, Store
from longbert.store.queries import NO_LABEL


def test_multi_label_filters_counts_and_exports_on_postgresql(pg_url: str) -> None:  # noqa: F811
    store = Store(pg_url)
    store.register_model("tags", labels=list(TAGS), multi_label=True)
    both = save_tagged(store, 1, ["econ", "sport"], minutes=1)
    single = save_single(store, 2, "sport", minutes=2)
    none = save_tagged(store, 3, [], minutes=3)
    corrected = save_tagged(store, 4, ["econ"], minutes=4)
    store.add_correction(corrected, ["sport", "politics"])

    sport = HistoryFilter(label="sport", label_of="final")
    assert [r.id for r in store.history(sport).rows] == [corrected, single, both]
    page = store.history(sport, limit=1, offset=1)
    assert page.total == 3 and [r.id for r in page.rows] == [single]
    assert store.count_predictions(HistoryFilter(label="econ", label_of="predicted")) == 2
    assert store.count_predictions(HistoryFilter(label="politics", label_of="corrected")) == 1

    buffer = io.StringIO()
    assert store.export_predictions(buffer, "jsonl", sport) == 3
    finals = {r["id"]: r["final_label"] for r in map(json.loads, buffer.getvalue().splitlines())}
    assert finals == {both: "econ, sport", single: "sport", corrected: "sport, politics"}
    buffer = io.StringIO()
    store.export_predictions(buffer, "jsonl", HistoryFilter(prediction_ids=[none]))
    assert json.loads(buffer.getvalue())["final_labels"] == []

    counts = {c.label: c.count for c in store.label_distribution(use_corrections=True)}
    assert counts == {"econ": 1, "sport": 3, "politics": 1, NO_LABEL: 1}
    assert store.filter_options()["label"] == ["econ", "politics", "sport"]
