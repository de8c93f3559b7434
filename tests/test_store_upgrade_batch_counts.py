"""Command-line batches recorded before an input labelled again superseded its earlier result
(schema v6 and before, and v7 files upgraded from them) counted such an input once per result.
Opening such a database (schema v8's data step) recounts them by today's rule: each input once,
by its latest result, the earlier items superseded (kept, with their predictions and any
correction, outside the batch). Batches of named items (app uploads) are left as they are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers.store_factories import make_document, make_prediction
from helpers.store_v1 import WHEN, insert_old_prediction, insert_row, make_v3_database, upgrade_step

from longbert.results import PredictionError
from longbert.store import SCHEMA_VERSION, HistoryFilter, Store
from longbert.store.recount import supersede_repeated_inputs

CLI = json.dumps({"cli": {"output": "out.csv", "engine": "local"}, "model": "hp-v1"})


def _batch(connection: sa.Connection, config: str, counts: tuple[int, int, int], items: list[tuple]) -> int:
    """A batch with ``(total, done, errors)`` and ``(name, status, seed)`` items in order (a
    done item's prediction made from ``seed``; ``superseded`` items as v6's code left them)."""
    total, done, errors = counts
    insert_row(
        connection, "batches", name="predict → out.csv", status="done", total=total, done_count=done,
        error_count=errors, config=config, created_at=WHEN, updated_at=WHEN, finished_at=WHEN,
    )  # fmt: skip
    batch_id = int(connection.execute(sa.text("SELECT max(id) FROM batches")).scalar_one())
    for position, (name, status, seed) in enumerate(items):
        prediction = insert_old_prediction(connection, batch_id, seed, name) if seed is not None else None
        insert_row(
            connection, "batch_items", batch_id=batch_id, position=position, name=name, status=status,
            error="missing" if status == "error" else None, prediction_id=prediction, updated_at=WHEN,
        )  # fmt: skip
    if any(status == "superseded" for _, status, _ in items):  # v6's code took them out
        connection.execute(
            sa.text(
                "UPDATE predictions SET batch_id = NULL WHERE id IN (SELECT prediction_id FROM "
                "batch_items WHERE batch_id = :b AND status = 'superseded')"
            ),
            {"b": batch_id},
        )
    return batch_id


def make_old_batches(target: Path, version: int) -> dict[str, Any]:
    """A schema-``version`` database (6, or 7 as the v6→v7 step left it) holding the batches
    the command line recorded before superseding, one mixed with today's, and an app upload."""
    make_v3_database(target)  # batches 1 and 2: an app batch and a killed one (v3)
    engine = sa.create_engine(f"sqlite:///{target}")
    with engine.begin() as connection:
        for step in range(3, version):
            upgrade_step(connection, step)
        # Run 1: a.txt labelled, b.txt missing; run 2: b.txt there now and a.txt's text changed.
        runs = [("a.txt", "done", 10), ("b.txt", "error", None), ("b.txt", "done", 11), ("a.txt", "done", 12)]
        rerun = _batch(connection, CLI, (4, 3, 1), runs)
        first_a = connection.execute(
            sa.text("SELECT prediction_id FROM batch_items WHERE batch_id = :b AND position = 0"),
            {"b": rerun},
        ).scalar_one()
        insert_row(
            connection, "corrections", prediction_id=first_a, label="false", labels='["false"]',
            created_at=WHEN, note="read it myself",
        )  # fmt: skip
        # Begun by the old code (c.txt twice), continued by v6's (d.txt's error superseded).
        both = [
            ("c.txt", "done", 13),
            ("c.txt", "done", 14),
            ("d.txt", "superseded", None),
            ("d.txt", "done", 15),
        ]
        mixed = _batch(connection, CLI, (3, 3, 0), both)
        upload = _batch(connection, "{}", (2, 2, 0), [("same.txt", "done", 16), ("same.txt", "done", 17)])
        once = _batch(connection, CLI, (2, 1, 1), [("e.txt", "done", 18), ("f.txt", "error", None)])
    engine.dispose()
    return {"rerun": rerun, "mixed": mixed, "upload": upload, "once": once, "first_a": first_a}


def _counts(store: Store, batch_id: int) -> tuple[int, int, int, int]:
    batch = store.get_batch(batch_id)
    return batch.total, batch.done, batch.errors, batch.pending


@pytest.mark.parametrize("version", [6, 7])
def test_old_command_line_batches_count_each_input_once_after_opening(tmp_path: Path, version: int) -> None:
    path = tmp_path / "old.sqlite"
    ids = make_old_batches(path, version)
    store = Store(f"sqlite:///{path}")
    assert store.schema_version == SCHEMA_VERSION

    rerun = ids["rerun"]
    assert _counts(store, rerun) == (2, 2, 0, 0)  # was total 4, done 3, errors 1
    assert [(i.name, i.status) for i in store.batch_items(rerun)] == [("b.txt", "done"), ("a.txt", "done")]
    every = store.batch_items(rerun, include_superseded=True)
    assert [i.status for i in every] == ["superseded", "superseded", "done", "done"]
    assert store.count_batch_items(rerun) == 4  # every result it was sent: a resume's arithmetic
    assert store.pending_items(rerun, include_errors=True) == []  # the stale error is gone
    shown = store.history(HistoryFilter(batch_id=rerun)).rows
    assert sorted(r.document_name for r in shown) == ["a.txt", "b.txt"]
    assert ids["first_a"] not in {r.id for r in shown}
    kept = store.get_prediction(ids["first_a"])  # the earlier prediction, out of the batch, corrected
    assert kept.batch_id is None and [c.note for c in kept.corrections] == ["read it myself"]

    assert _counts(store, ids["mixed"]) == (2, 2, 0, 0)
    assert [i.name for i in store.batch_items(ids["mixed"])] == ["c.txt", "d.txt"]
    assert _counts(store, ids["upload"]) == (2, 2, 0, 0)  # two files of one name: two items
    assert [i.status for i in store.batch_items(ids["upload"])] == ["done", "done"]
    assert _counts(store, ids["once"]) == (2, 1, 1, 0)
    assert _counts(store, 1) == (2, 2, 0, 0) and store.get_batch(2).total == 2  # the v3 batches

    # Today's code, given the same results, counts and supersedes exactly so.
    today = store.create_batch("today", total=0, config={"cli": {"output": "t.csv"}}, open_ended=True)
    for seed, name in ((20, "a.txt"), (None, "b.txt"), (21, "b.txt"), (22, "a.txt")):
        if seed is None:
            store.record_error(PredictionError(name, "missing"), batch_id=today)
        else:
            document = make_document(seed, name=name)
            store.save_prediction(make_prediction(document, seed=seed), document, batch_id=today)
    assert _counts(store, today) == _counts(store, rerun)
    statuses = [i.status for i in store.batch_items(today, include_superseded=True)]
    assert statuses == [i.status for i in every]

    # The step changes nothing once done.
    with store._db.engine.begin() as connection:
        assert supersede_repeated_inputs(connection) == {}
