"""Re-running ``python -m longbert.predict`` on an output: an input classified again replaces its
row (it is never counted twice), the store's batch stays in step, and a kill while the ledger is
being compacted is settled by the next run."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.predict_fixtures import read_jsonl
from test_predict_cli import checkpoint, env  # noqa: F401  (fixtures: a tiny checkpoint, a sandbox)

from longbert.bulk import ModelSpec, PredictOptions, run_predict
from longbert.bulk.outputs import ledger_path, state_path, temporary_path
from longbert.predict import main
from longbert.store import Store


def _args(model: Path, inputs: list[Path], out: Path, *more: str) -> list[str]:
    return ["--model", str(model), "--input", *map(str, inputs), "--output", str(out), "--quiet", *more]


def _rows(out: Path) -> list[dict]:
    if out.suffix == ".jsonl":
        return read_jsonl(out)
    import pandas as pd

    frame = pd.read_csv(out) if out.suffix == ".csv" else pd.read_parquet(out)
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_an_input_labelled_again_replaces_its_row(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    suffix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = env / "a.txt", env / "b.txt"
    a.write_text("Markets fell as rates rose.")
    out = env / f"out.{suffix}"
    args = _args(checkpoint, [a, b], out)
    assert main(args) == 0  # b is missing: an error row
    assert "2 rows: 1 labelled, 1 errors" in capsys.readouterr().err
    b.write_text("The club won the final.")  # now it is there
    a.write_text("Bond yields climbed as investors sold debt.")  # and a's text changed
    assert main(args) == 0
    assert "2 rows: 2 labelled, 0 errors" in capsys.readouterr().err
    rows = _rows(out)
    assert sorted(r["name"] for r in rows) == [str(a), str(b)]  # one row per input
    assert all(r["error"] is None and r["label"] for r in rows)
    assert len(read_jsonl(ledger_path(out))) == 2  # the ledger, compacted: what a resume reads
    # The store got every row it was sent (the replaced ones as superseded items), its counts
    # count each input once, and the output resumes in step.
    store = Store(os.environ["LONGBERT_DB_URL"])
    (batch,) = store.list_batches()
    assert (batch.total, batch.done, batch.errors) == (2, 2, 0)
    assert store.count_batch_items(batch.id) == 4
    state = json.loads(state_path(out).read_text())
    assert state["retired"] == 2 and "compacting" not in state
    c = env / "c.txt"
    c.write_text("Fans celebrated in the streets.")
    assert main(_args(checkpoint, [a, b, c], out)) == 0
    assert sorted(r["name"] for r in _rows(out)) == [str(a), str(b), str(c)]
    assert (store.get_batch(batch.id).total, store.count_batch_items(batch.id)) == (3, 5)
    assert main(_args(checkpoint, [a, b, c], out)) == 0  # nothing new: nothing written
    assert store.count_batch_items(batch.id) == 5 and len(_rows(out)) == 3


def test_an_input_that_cannot_be_read_now_keeps_its_earlier_row(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
) -> None:
    a, b = env / "a.txt", env / "b.txt"
    a.write_text("Markets fell as rates rose.")
    b.write_text("The club won the final.")
    out = env / "out.jsonl"
    args = _args(checkpoint, [a, b], out, "--no-store")
    assert main(args) == 0
    before = read_jsonl(out)
    b.unlink()  # moved away since: its prediction stands, no error row replaces it
    assert main(args) == 0
    assert read_jsonl(out) == before


def test_the_same_input_given_twice_is_one_row(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
) -> None:
    a = env / "a.txt"
    a.write_text("Markets fell as rates rose.")
    out = env / "out.csv"
    summary = run_predict(
        PredictOptions(ModelSpec(str(checkpoint)), [str(a), str(a)], out, store=False, quiet=True)
    )
    assert (summary.documents, summary.rows, summary.labelled) == (2, 1, 1)
    assert len(_rows(out)) == 1


@pytest.mark.parametrize("renamed", [False, True])
def test_a_kill_during_compaction_is_settled_by_the_next_run(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    renamed: bool,
) -> None:
    from longbert.bulk.outputs import Ledger

    a, b = env / "a.txt", env / "b.txt"
    a.write_text("Markets fell as rates rose.")
    out = env / "out.jsonl"
    args = _args(checkpoint, [a, b], out)
    assert main(args) == 0
    b.write_text("The club won the final.")
    real_compact = Ledger.compact

    def killed(self: Ledger, before_replace: Callable[[int], None]) -> int:
        def record_then_die(retired: int) -> None:
            before_replace(retired)
            if renamed:
                temporary_path(self.path).replace(self.path)
            raise KeyboardInterrupt  # kill -9 between the state and the rename, or after it

        return real_compact(self, record_then_die)

    monkeypatch.setattr(Ledger, "compact", killed)
    assert main(args) == 130
    state = json.loads(state_path(out).read_text())
    assert state["compacting"] == {"rows_before": 3, "rows_after": 2, "retired": 1}
    assert len(read_jsonl(out)) == (2 if renamed else 3)
    monkeypatch.setattr(Ledger, "compact", real_compact)
    c = env / "c.txt"
    c.write_text("Fans celebrated in the streets.")
    assert main(_args(checkpoint, [a, b, c], out)) == 0  # no mismatch with the store: resumed
    rows = read_jsonl(out)
    assert sorted(r["name"] for r in rows) == [str(a), str(b), str(c)]
    assert all(r["error"] is None for r in rows)
    store = Store(os.environ["LONGBERT_DB_URL"])
    (batch,) = store.list_batches()
    assert store.count_batch_items(batch.id) == 4  # a's, b's error, b's and c's rows: each sent once
    assert (batch.total, batch.done, batch.errors) == (3, 3, 0)  # b's error superseded
    state = json.loads(state_path(out).read_text())
    assert state["retired"] == 1 and "compacting" not in state
    assert not temporary_path(out).exists()
