"""A run that labels inputs again (changed texts, a file missing before), stopped at any point,
then resumed: the output and the store batch each end up with every row once, the batch counts
each input once, and the stopped run left no heartbeat behind. The stops are those the runner's
own tests simulate: between the ledger and the store (after any number of a chunk's rows
reached the store), before and during the ledger's compaction, a real ``kill -9`` mid-chunk,
and the final table failing to build."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.predict_fixtures import read_jsonl
from test_predict_cli import checkpoint, env  # noqa: F401  (fixtures: a tiny checkpoint, a sandbox)

import longbert.bulk.runner as runner
from longbert.bulk import ModelSpec, PredictOptions, run_predict
from longbert.bulk.outputs import Ledger, OutputError, ledger_path, temporary_path
from longbert.bulk.store_sink import StoreSink
from longbert.predict import main
from longbert.store import HistoryFilter, Store

ROOT = Path(__file__).resolve().parents[1]


def _args(model: Path, inputs: list[Path], out: Path) -> list[str]:
    return ["--model", str(model), "--input", *map(str, inputs), "--output", str(out), "--quiet"]


def _first_run(folder: Path, model: Path) -> tuple[list[Path], Path, list[str]]:
    """Run 1 labels a, c, d (b is missing); then b appears and a's and d's texts change, so the
    next run sends three rows (a, b, d) that each replace one."""
    a, b, c, d = (folder / f"{n}.txt" for n in "abcd")
    a.write_text("Markets fell as rates rose.")
    c.write_text("Fans celebrated in the streets.")
    d.write_text("The striker scored twice.")
    out = folder / "out.csv"
    args = _args(model, [a, b, c, d], out)
    assert main(args) == 0
    b.write_text("The club won the final.")
    a.write_text("Bond yields climbed as investors sold debt.")
    d.write_text("Inflation slowed for a third month.")
    return [a, b, c, d], out, args


def _lease_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("lease-batch-")]


def _check_complete(inputs: list[Path], out: Path) -> None:
    """The output has one row per input with its latest text; the batch was sent each row once."""
    import pandas as pd

    rows = pd.read_csv(out).to_dict("records")
    assert sorted(r["name"] for r in rows) == sorted(map(str, inputs))
    assert all(pd.isna(r["error"]) for r in rows)
    ledger = read_jsonl(ledger_path(out))
    assert len(ledger) == 4
    store = Store(os.environ["LONGBERT_DB_URL"])
    (batch,) = store.list_batches()
    assert store.count_batch_items(batch.id) == 4 + 3  # run 1's rows, then a, b and d once each
    assert (batch.total, batch.done, batch.errors, batch.status) == (4, 4, 0, "done")
    shown = store.history(HistoryFilter(batch_id=batch.id)).rows
    assert sorted((r.document_name, r.document_sha256) for r in shown) == sorted(
        (r["name"], r["sha256"]) for r in ledger
    )
    assert store.count_predictions() == 3 + 3  # run 1's a, c, d kept; a, b, d again
    assert not _lease_threads()


@pytest.mark.parametrize("stored", [0, 1, 2, 3])
def test_a_stop_after_some_of_a_chunks_rows_reached_the_store(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    stored: int,
) -> None:
    inputs, out, args = _first_run(env, checkpoint)
    real_write = StoreSink.write

    def stopped(self: StoreSink, results: Any) -> None:
        real_write(self, results[:stored])
        raise KeyboardInterrupt  # the ledger has every row of the chunk, the store `stored`

    monkeypatch.setattr(StoreSink, "write", stopped)
    assert main(args) == 130
    assert not _lease_threads()
    batch = Store(os.environ["LONGBERT_DB_URL"]).list_batches()[0]
    assert batch.total == 4 and batch.status == "interrupted"  # each input once, whatever got in
    monkeypatch.setattr(StoreSink, "write", real_write)
    assert main(args) == 0
    _check_complete(inputs, out)


@pytest.mark.parametrize("where", ["before", "state recorded", "renamed"])
def test_a_stop_before_or_during_compaction(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    inputs, out, args = _first_run(env, checkpoint)
    real_compact = Ledger.compact

    def stopped(self: Ledger, before_replace: Callable[[int], None]) -> int:
        if where == "before":
            raise KeyboardInterrupt

        def record_then_stop(retired: int) -> None:
            before_replace(retired)
            if where == "renamed":
                temporary_path(self.path).replace(self.path)
            raise KeyboardInterrupt

        return real_compact(self, record_then_stop)

    monkeypatch.setattr(Ledger, "compact", stopped)
    assert main(args) == 130
    assert not _lease_threads()  # the old code left the batch held (and beating) here
    assert Store(os.environ["LONGBERT_DB_URL"]).list_batches()[0].status == "interrupted"
    monkeypatch.setattr(Ledger, "compact", real_compact)
    assert main(args) == 0  # the old code: "Batch #1 is being labelled by process ..."
    _check_complete(inputs, out)


def test_the_final_table_failing_to_build_lets_the_batch_go(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inputs, out, _ = _first_run(env, checkpoint)
    options = PredictOptions(ModelSpec(str(checkpoint)), [str(p) for p in inputs], out, quiet=True)

    def no_space(*_: object, **__: object) -> int:
        raise OSError(28, "No space left on device")

    real_build = runner.build_table
    monkeypatch.setattr(runner, "build_table", no_space)
    with pytest.raises(OSError, match="No space"):
        run_predict(options)
    assert not _lease_threads()  # no heartbeat left in this (long-lived) process
    store = Store(os.environ["LONGBERT_DB_URL"])
    (batch,) = store.list_batches()
    assert (batch.status, batch.worker) == ("interrupted", None)
    monkeypatch.setattr(runner, "build_table", real_build)
    assert run_predict(options).rows == 4  # run again: nothing to label, the table is built
    _check_complete(inputs, out)


def test_a_mismatch_found_on_resume_lets_the_batch_go(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
) -> None:
    inputs, out, _ = _first_run(env, checkpoint)
    ledger_path(out).write_text("")  # the ledger was emptied: the store holds rows it lacks
    options = PredictOptions(ModelSpec(str(checkpoint)), [str(p) for p in inputs], out, quiet=True)
    with pytest.raises(OutputError, match="holds 4 results"):
        run_predict(options)
    assert not _lease_threads()
    (batch,) = Store(os.environ["LONGBERT_DB_URL"]).list_batches()
    assert (batch.status, batch.worker) == ("interrupted", None)


#: Runs the command in a process of its own, which dies (os._exit: no cleanup at all, as with
#: kill -9) once the store got the first row of its first chunk.
KILLED_RUN = """
import os, sys
from longbert.bulk.store_sink import StoreSink
from longbert.predict import main

real_write = StoreSink.write

def write_then_die(self, results):
    real_write(self, results[:1])
    os._exit(9)

StoreSink.write = write_then_die
sys.exit(main(sys.argv[1:]))
"""


def test_a_kill_9_mid_chunk_resumes_without_duplicates(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
) -> None:
    inputs, out, args = _first_run(env, checkpoint)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, *args], cwd=ROOT, env=os.environ.copy(), timeout=300
    )
    assert killed.returncode == 9
    batch = Store(os.environ["LONGBERT_DB_URL"]).list_batches()[0]
    assert (batch.total, batch.status) == (4, "interrupted")  # a's new row superseded its old one
    assert main(args) == 0
    _check_complete(inputs, out)


def test_a_batch_that_fails_to_open_leaves_no_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from longbert.errors import StoreError

    sink = StoreSink(f"sqlite:///{tmp_path / 's.sqlite'}")

    def down(*_: object) -> None:
        raise StoreError("the database went away")

    monkeypatch.setattr(sink.store, "mark_batch_status", down)
    with pytest.raises(StoreError, match="went away"):
        sink.open_batch("cli", {"cli": {"output": "o.csv"}}, None)
    assert not _lease_threads()
