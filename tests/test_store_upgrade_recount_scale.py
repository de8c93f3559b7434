"""Schema v8's recount of old command-line batches at scale. It runs inside the one upgrade
write transaction at the first open of an old file, holding SQLite's write lock meanwhile (every
other writer fails with "database is locked"), so it must be linear in a batch's size: its first
version asked, per item, whether a later finished item of the same name existed -- 25 s at 16,000
items, many minutes at 50,000. And it must pick exactly the items that question picked."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

import sqlalchemy as sa
from helpers.store_factories import make_document, make_prediction

from longbert.store import SCHEMA_VERSION, Store
from longbert.store.engine import close_database
from longbert.store.recount import FINISHED, supersede_repeated_inputs

WHEN = "2026-01-01 00:00:00.000000"


def _v7_file(
    path: Path, items: list[tuple[int, str, str]], carrying: tuple[int, ...] = ()
) -> tuple[str, int, list[int]]:
    """A database as schema v7 left it (v7→v8 changes data only) holding one command-line batch
    of ``(position, name, status)`` items, inserted in bulk, counted as the old code counted
    (every item but those a v6 release had superseded itself); the items at the ``carrying``
    positions carry a prediction in the batch. Returns the URL, the batch and the predictions."""
    url = f"sqlite:///{path}"
    store = Store(url)
    batch_id = store.create_batch("predict → out.csv", total=0, config={"cli": {"output": "o.csv"}},
                                  open_ended=True)  # fmt: skip
    names = {position: name for position, name, _ in items}
    predictions = []
    for seed, position in enumerate(carrying):
        document = make_document(seed, name=names[position])
        predictions.append(store.save_prediction(make_prediction(document, seed=seed), document))
    close_database(url)
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO batch_items (batch_id, position, name, status, updated_at) VALUES (?, ?, ?, ?, ?)",
            [(batch_id, position, name, status, WHEN) for position, name, status in items],
        )
        for prediction_id, position in zip(predictions, carrying, strict=True):
            connection.execute("UPDATE predictions SET batch_id = ? WHERE id = ?", (batch_id, prediction_id))
            connection.execute(
                "UPDATE batch_items SET prediction_id = ? WHERE batch_id = ? AND position = ?",
                (prediction_id, batch_id, position),
            )
        statuses = [status for _, _, status in items]
        connection.execute(
            "UPDATE batches SET total = ?, done_count = ?, error_count = ? WHERE id = ?",
            (len(statuses) - statuses.count("superseded"), statuses.count("done"), statuses.count("error"),
             batch_id),
        )  # fmt: skip
        connection.execute("UPDATE longbert_meta SET value = '7' WHERE key = 'schema_version'")
    connection.close()
    return url, batch_id, predictions


def _expected(items: list[tuple[int, str, str]]) -> set[int]:
    """Positions the rule supersedes: finished items other than the one their name keeps, its
    last done item, else (never labelled) its last error."""
    kept: dict[str, tuple[bool, int]] = {}  # the max of (done, position) is the kept item
    for position, name, status in items:
        if status in FINISHED:
            kept[name] = max((status == "done", position), kept.get(name, (False, -1)))
    return {p for p, name, status in items if status in FINISHED and p != kept[name][1]}


def _statuses(url: str, batch_id: int) -> dict[int, str]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT position, status FROM batch_items WHERE batch_id = :b"), {"b": batch_id}
        ).all()
    engine.dispose()
    return {int(position): str(status) for position, status in rows}


def test_a_50000_item_command_line_batch_is_recounted_in_seconds(tmp_path: Path) -> None:
    # 20,000 inputs over three runs: inputs 0-9999 sent three times, 10000-19999 twice; the
    # statuses cycle so that some inputs' last result is an error, some never finished.
    cycle = ("done", "error", "done", "pending", "done", "superseded", "error")
    items = [(i, f"docs/f{i % 20_000}.txt", cycle[i % len(cycle)]) for i in range(50_000)]
    path = tmp_path / "big.sqlite"
    # Two of the items carry predictions in the batch: one replaced (it leaves the batch), one
    # its input's last (it stays): docs/f0.txt is done at 0, an error at 20,000, done at 40,000.
    url, batch_id, ids = _v7_file(path, items, carrying=(0, 40_000))
    assert [items[p][2] for p in (0, 20_000, 40_000)] == ["done", "error", "done"]

    started = time.monotonic()
    store = Store(url)  # the upgrade runs here, in its write transaction
    elapsed = time.monotonic() - started
    assert store.schema_version == SCHEMA_VERSION
    assert elapsed < 20, f"the v8 recount of 50,000 items took {elapsed:.1f} s (quadratic?)"

    replaced = _expected(items)
    assert len(replaced) > 10_000  # the test is about something
    statuses = _statuses(url, batch_id)
    assert {p for p, status in statuses.items() if status == "superseded"} == replaced | {
        p for p, _, status in items if status == "superseded"
    }
    assert all(statuses[p] == status for p, _, status in items if p not in replaced)
    kept = [(p, status) for p, _, status in items if p not in replaced]
    batch = store.get_batch(batch_id)
    assert batch.total == sum(1 for _, status in kept if status != "superseded")
    assert batch.done == sum(1 for _, status in kept if status == "done")
    assert batch.errors == sum(1 for _, status in kept if status == "error")
    assert store.count_batch_items(batch_id) == 50_000
    assert store.get_prediction(ids[0]).batch_id is None
    assert store.get_prediction(ids[1]).batch_id == batch_id
    with store._db.engine.begin() as connection:  # done once: nothing left to supersede
        assert supersede_repeated_inputs(connection) == {}


def _quadratic_rule(url: str, batch_id: int) -> set[int]:
    """The rule as a correlated query (quadratic, the first version's shape): the items it
    supersedes (the reference). An item goes when a later item of its name is as finished
    (done after done, anything after an error) or when it is an error and its name has a done
    item anywhere: a later error never replaces a result."""
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT i.position FROM batch_items i WHERE i.batch_id = :b "
                "AND i.status IN ('done', 'error') AND EXISTS (SELECT 1 FROM batch_items other "
                "WHERE other.batch_id = i.batch_id AND other.name = i.name AND other.position != "
                "i.position AND ((other.position > i.position AND other.status = i.status) OR "
                "(i.status = 'error' AND other.status = 'done')))"
            ),
            {"b": batch_id},
        ).scalars()
        found = {int(position) for position in rows}
    engine.dispose()
    return found


def test_random_batches_are_recounted_as_the_first_version_did(tmp_path: Path) -> None:
    generator = random.Random(8)
    for attempt in range(20):
        count = generator.randint(1, 300)
        positions = sorted(generator.sample(range(5 * count), count))  # gaps, as a killed run leaves
        names = [f"n{generator.randint(0, max(1, count // 4))}" for _ in range(count)]
        statuses = generator.choices(("done", "error", "pending", "superseded"), k=count)
        items = list(zip(positions, names, statuses, strict=True))
        path = tmp_path / f"r{attempt}.sqlite"
        url, batch_id, _ = _v7_file(path, items)
        reference = _quadratic_rule(url, batch_id)
        assert reference == _expected(items)
        Store(url)
        close_database(url)
        after = _statuses(url, batch_id)
        superseded = {p for p, status in after.items() if status == "superseded"}
        assert superseded == reference | {p for p, _, status in items if status == "superseded"}
