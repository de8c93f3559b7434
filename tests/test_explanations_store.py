"""Explanations kept with their prediction (schema v6): round trip, replacement, bad input, and
an upgrade from a version-5 database that keeps every old row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers.store_factories import make_document, make_prediction
from helpers.store_v1 import insert_row, make_v3_database, upgrade_step

from longbert.explain import Explanation, SentenceScore, WordScore
from longbert.store import SCHEMA_VERSION, RecordNotFoundError, Store, StoreError
from longbert.store.migrations import backup_path


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'longbert.sqlite'}")


def make_explanation(method: str = "occlusion", label: str = "true", scale: float = 1.0) -> Explanation:
    return Explanation(
        method=method,
        label=label,
        probability=0.8125,
        strategy="truncate",
        strategy_params={"mode": "head", "max_tokens": 510},
        sentences=[
            SentenceScore((0, 10), 0.25 * scale, 1.0),
            SentenceScore((11, 20), -0.125 * scale, 0.5),
            SentenceScore((21, 30), 0.0625 * scale),
        ],
        top_words={0: [WordScore((0, 4), 0.2 * scale), WordScore((5, 10), -0.05)], 1: []},
        seconds=1.25,
        details={"read_tokens": 30, "total_tokens": 40},
    )


def saved(store: Store, seed: int = 1) -> int:
    document = make_document(seed)
    return store.save_prediction(make_prediction(document, seed=seed), document)


def test_an_explanation_round_trips_and_recomputing_replaces_it(store: Store) -> None:
    assert store.schema_version == SCHEMA_VERSION >= 6
    pid, other = saved(store, 1), saved(store, 2)
    assert store.explanations_for(pid) == []
    first = make_explanation()
    record = store.save_explanation(pid, first)
    assert record.prediction_id == pid and record.method == "occlusion"
    assert store.explanations_for(pid) == [first]  # floats chosen to survive rounding exactly

    # Other methods and another label are kept beside it, in METHODS order.
    store.save_explanation(pid, make_explanation("attention"))
    store.save_explanation(pid, make_explanation("integrated_gradients", label="false"))
    assert [(e.method, e.label) for e in store.explanations_for(pid)] == [
        ("occlusion", "true"),
        ("integrated_gradients", "false"),
        ("attention", "true"),
    ]
    # The same method and label again: the new one replaces the old, in the same row.
    again = store.save_explanation(pid, make_explanation(scale=2.0))
    assert again.id == record.id and again.created_at >= record.created_at
    stored = {e.method: e for e in store.explanations_for(pid)}
    assert len(store.explanations_for(pid)) == 3 and stored["occlusion"].sentences[0].score == 0.5
    assert store.explanations_for(other) == [] and store.explanations_for(999) == []


def test_tables_learn_which_predictions_are_explained_in_one_query(store: Store) -> None:
    pid, other, plain = saved(store, 1), saved(store, 2), saved(store, 3)
    store.save_explanation(pid, make_explanation("occlusion"))
    store.save_explanation(pid, make_explanation("attention"))
    store.save_explanation(pid, make_explanation("attention", label="false"))
    store.save_explanation(other, make_explanation("integrated_gradients"))
    assert store.explained_methods([pid, other, plain, 999]) == {
        pid: ["attention", "occlusion"],
        other: ["integrated_gradients"],
    }
    assert store.explained_methods([]) == {}


def test_bad_explanations_are_refused_and_nothing_changes(store: Store) -> None:
    pid = saved(store)
    store.save_explanation(pid, make_explanation())
    with pytest.raises(RecordNotFoundError, match="no prediction 42"):
        store.save_explanation(42, make_explanation())
    with pytest.raises(StoreError, match="no label 'sport'"):
        store.save_explanation(pid, make_explanation(label="sport"))
    with pytest.raises(StoreError, match="takes an Explanation"):
        store.save_explanation(pid, make_explanation().to_dict())  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="Unknown explanation method"):
        store.save_explanation(pid, make_explanation(method="lime"))
    assert store.explanations_for(pid) == [make_explanation()]


def test_non_finite_scores_are_stored_readably(store: Store) -> None:
    pid = saved(store)
    explanation = make_explanation()
    explanation.sentences[2] = SentenceScore((21, 30), float("nan"))
    store.save_explanation(pid, explanation)
    (back,) = store.explanations_for(pid)
    assert back.sentences[2].score != back.sentences[2].score  # NaN back, not an error


def table_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as connection:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def make_v5_database(path: Path) -> None:
    """Version 3 upgraded by the real v3→v4 and v4→v5 steps, plus a label set and a prediction
    made with it (v5's own rows)."""
    make_v3_database(path)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        upgrade_step(connection, 3)
        upgrade_step(connection, 4)
        when = "2024-03-01 12:00:00"
        insert_row(
            connection, "label_sets", name="news", labels='["true", "false"]',
            descriptions='{"true": "true", "false": "false"}', created_at=when, updated_at=when,
        )  # fmt: skip
        connection.execute(sa.text("UPDATE predictions SET label_set = 'news' WHERE id = 4"))
    engine.dispose()


def test_upgrade_from_version_5_keeps_every_row_and_adds_explanations(tmp_path: Path) -> None:
    path = tmp_path / "longbert.sqlite"
    make_v5_database(path)
    before = table_counts(path)
    assert "explanations" not in before

    store = Store(f"sqlite:///{path}")
    assert store.schema_version == SCHEMA_VERSION
    after = table_counts(path)
    assert {t: after[t] for t in before if t != "longbert_meta"} == {
        t: n for t, n in before.items() if t != "longbert_meta"
    }
    assert after["explanations"] == 0
    assert store.get_prediction(1).prediction.attention is not None  # old rows read as before
    assert [r.label_set for r in store.history().rows if r.id == 4] == ["news"]

    # An old prediction can be explained now, and the explanation is kept.
    store.save_explanation(4, make_explanation())
    store.close()
    assert Store(f"sqlite:///{path}").explanations_for(4) == [make_explanation()]
    assert table_counts(backup_path(path, 5)) == before  # the v5 file was kept
