"""A file or folder that could not be read (a table cut short, an input folder not there yet)
gets an error row named as itself; its documents, once it reads, have names of their own
(``file#row=N``, ``folder/file``), so no newer row of its name replaced that error: it stayed in
the output and in the store batch's counts forever (41 rows for 40 inputs, errors 1). Now a run
that reads the file or folder retires its error row, and its store item is superseded."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from helpers.predict_fixtures import TOPICS, read_jsonl
from test_predict_cli import checkpoint, env  # noqa: F401  (fixtures: a tiny checkpoint, a sandbox)

from longbert.bulk.outputs import state_path
from longbert.predict import main
from longbert.store import Store


def _args(model: Path, inputs: list[Path], out: Path, store: bool = True) -> list[str]:
    given = [str(p) for p in inputs]
    return [
        "--model",
        str(model),
        "--input",
        *given,
        "--output",
        str(out),
        "--quiet",
        *([] if store else ["--no-store"]),
    ]


def _batch(out: Path) -> tuple[int, int, int, int, list[str]]:
    """The output's store batch: total, done, errors, items sent, and its error items' names."""
    state = json.loads(state_path(out).read_text())
    store = Store()
    batch_id = state["store"]["batch_id"]
    batch = store.get_batch(batch_id)
    errors = [i.name for i in store.batch_items(batch_id) if i.status == "error"]
    return batch.total, batch.done, batch.errors, store.count_batch_items(batch_id), errors


def test_a_table_cut_short_then_whole_loses_its_error_row(env: Path, checkpoint: Path) -> None:  # noqa: F811
    rows = [json.dumps({"id": f"n{i}", "text": f"{TOPICS[i % 4]} Item {i}."}) for i in range(12)]
    whole = gzip.compress(("\n".join(rows) + "\n").encode())
    folder = env / "in"
    folder.mkdir()
    table = folder / "news.jsonl.gz"
    table.write_bytes(whole[: len(whole) * 2 // 3])  # a partial download
    out = env / "labels.jsonl"
    args = _args(checkpoint, [folder], out)

    assert main(args) == 0
    first = read_jsonl(out)
    assert [r["name"] for r in first if r["error"]] == [str(table)]
    labelled = len(first) - 1
    assert 0 < labelled < 12
    assert main(args) == 0  # still cut short: its error row stands, nothing runs again
    assert read_jsonl(out) == first

    table.write_bytes(whole)  # fetched whole, the same command run again
    assert main(args) == 0
    final = read_jsonl(out)
    assert len(final) == 12 and not [r for r in final if r["error"]]
    assert sorted(r["id"] for r in final) == sorted(f"n{i}" for i in range(12))
    total, done, errors, sent, error_items = _batch(out)
    assert (total, done, errors, error_items) == (12, 12, 0, [])
    retired = json.loads(state_path(out).read_text())["retired"]
    assert sent == len(final) + retired == 13  # the store's arithmetic stays in step
    assert main(args) == 0  # resumed again: nothing changes
    assert read_jsonl(out) == final and _batch(out)[:4] == (12, 12, 0, 13)


@pytest.mark.parametrize("store", [True, False])
def test_a_missing_input_folder_loses_its_error_row_once_it_is_there(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    store: bool,
) -> None:
    a, b = env / "a", env / "b"
    a.mkdir()
    (a / "one.txt").write_text(TOPICS[1])
    out = env / "labels.csv"
    args = _args(checkpoint, [a, b], out, store)
    assert main(args) == 0
    assert main(args) == 0  # still missing: the error row stays, once
    ledger = read_jsonl(env / "labels.csv.rows.jsonl")
    assert [(r["name"], r["error"]) for r in ledger if r["error"]] == [(str(b), "no such file or folder.")]

    b.mkdir()
    (b / "two.txt").write_text(TOPICS[0])
    (b / "three.txt").write_text(TOPICS[2])
    assert main(args) == 0
    import csv

    with out.open(encoding="utf-8-sig") as handle:
        table = list(csv.DictReader(handle))
    assert sorted(r["name"] for r in table) == [str(a / "one.txt"), str(b / "three.txt"), str(b / "two.txt")]
    assert all(not r["error"] for r in table)
    if store:
        assert _batch(out)[:3] == (3, 3, 0)

    shutil.rmtree(b)  # gone again: its files' rows stand (README: it keeps its earlier rows)
    assert main(args) == 0
    ledger = read_jsonl(env / "labels.csv.rows.jsonl")
    assert sorted(r["name"] for r in ledger if not r["error"]) == sorted(r["name"] for r in table)
