"""An output begun before the rows had ``precision`` and ``exit_threshold`` columns, resumed by
today's ``python -m longbert.predict``: the user's own columns of those names, written bare by
the earlier version, are kept as ``source_<name>`` in every row, whatever the format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.predict_fixtures import read_jsonl
from test_predict_cli import checkpoint, env  # noqa: F401  (fixtures: a tiny checkpoint, a sandbox)

from longbert.bulk.outputs import ledger_path, state_path, temporary_path
from longbert.predict import main

NEW_COLUMNS = ("precision", "exit_threshold")


def _write_inputs(path: Path, prefix: str, column: str, values: list[Any]) -> Path:
    texts = ["Markets fell as rates rose.", "The club won the final.", "Rates rose again."]
    lines = [
        json.dumps({"doc": f"{prefix}{i}", "text": f"{text} {prefix}{i}", column: value})
        for i, (text, value) in enumerate(zip(texts, values, strict=True))
    ]
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _as_written_before(out: Path) -> None:
    """Turn the output's ledger and state into what the version before the model columns wrote:
    no model ``precision`` / ``exit_threshold``, the user's columns under their bare names, and a
    state file without a rows format."""
    ledger = ledger_path(out)
    old_rows = []
    for row in read_jsonl(ledger):
        for name in NEW_COLUMNS:
            row.pop(name)
        old_rows.append(
            {
                (k[len("source_") :] if k in {f"source_{n}" for n in NEW_COLUMNS} else k): v
                for k, v in row.items()
            }
        )
    ledger.write_text("".join(json.dumps(row) + "\n" for row in old_rows))
    state = json.loads(state_path(out).read_text())
    state.pop("rows_format", None)
    state_path(out).write_text(json.dumps({**state, "status": "running"}, indent=2))


def _rows(out: Path, suffix: str) -> dict[str, dict[str, Any]]:
    import pandas as pd

    if suffix == "jsonl":
        return {row["id"]: row for row in read_jsonl(out)}
    frame = pd.read_csv(out, dtype=str) if suffix == "csv" else pd.read_parquet(out)
    frame = frame.astype(object).where(frame.notna(), None)
    return {row["id"]: row for row in frame.to_dict("records")}


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize(
    ("column", "values"), [("precision", [0.9, 0.91, 0.92]), ("exit_threshold", ["strict"] * 3)]
)
def test_a_resumed_old_output_keeps_the_users_columns_as_source_columns(
    env: Path,  # noqa: F811
    checkpoint: Path,  # noqa: F811
    suffix: str,
    column: str,
    values: list[Any],
) -> None:
    first = _write_inputs(env / "a.jsonl", "a", column, values)
    out = env / f"out.{suffix}"
    args = ["--model", str(checkpoint), "--id-column", "doc", "--output", str(out), "--quiet"]
    assert main([*args, "--input", str(first)]) == 0
    _as_written_before(out)
    assert column in read_jsonl(ledger_path(out))[0]  # the user's value under the bare name, as then

    second = _write_inputs(env / "b.jsonl", "b", column, values)
    assert main([*args, "--input", str(first), "--input", str(second)]) == 0
    assert not temporary_path(out).exists()
    rows = _rows(out, suffix)
    assert sorted(rows) == ["a0", "a1", "a2", "b0", "b1", "b2"]
    for prefix in "ab":
        for i, value in enumerate(values):
            row = rows[f"{prefix}{i}"]
            assert str(row[f"source_{column}"]) == str(value), (prefix, i, row)
            if column == "precision":
                # The model's precision: unknown for the rows written before it was recorded
                # (a JSON Lines row of then has no such key, a table's cell is empty).
                assert row.get("precision") == (None if prefix == "a" else "float32"), row
            else:
                assert row.get("exit_threshold") is None, row  # a model without exits
    state = json.loads(state_path(out).read_text())
    assert state["status"] == "done" and state["rows_format"] == 2
    # Resumed again: nothing is renamed twice, nothing runs again.
    assert main([*args, "--input", str(first), "--input", str(second)]) == 0
    assert _rows(out, suffix) == rows


def test_a_new_output_records_its_rows_format(env: Path, checkpoint: Path) -> None:  # noqa: F811
    first = _write_inputs(env / "a.jsonl", "a", "precision", [0.9, 0.91, 0.92])
    out = env / "out.jsonl"
    args = ["--model", str(checkpoint), "--id-column", "doc", "--input", str(first), "--output", str(out)]
    assert main([*args, "--quiet"]) == 0
    assert json.loads(state_path(out).read_text())["rows_format"] == 2
    assert main([*args, "--quiet"]) == 0  # a resume of a new output renames nothing
    rows = read_jsonl(out)
    assert [row["source_precision"] for row in rows] == [0.9, 0.91, 0.92]
    assert {row["precision"] for row in rows} == {"float32"}


def test_upgrade_row_renames_only_rows_of_then_and_loses_no_value() -> None:
    from longbert.bulk.rows import upgrade_row

    then = {
        "id": "a",
        "model": "m",
        "error": None,
        "precision": 0.9,
        "source_precision": "x",
        "exit_threshold": "s",
    }
    upgraded = upgrade_row(then)
    assert upgraded == {
        "id": "a",
        "model": "m",
        "error": None,
        "source_source_precision": 0.9,
        "source_precision": "x",
        "source_exit_threshold": "s",
    }
    assert upgrade_row(upgraded) is upgraded  # upgrading twice changes nothing
    # A row of today (its own precision before error) is left alone, its source columns too.
    today = {
        "id": "b",
        "precision": "float32",
        "exit_threshold": None,
        "error": None,
        "source_precision": 0.9,
    }
    assert upgrade_row(today) is today


def test_a_table_that_fails_to_build_leaves_the_old_one_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from longbert.bulk import table_files

    ledger = tmp_path / "out.parquet.rows.jsonl"
    ledger.write_text(
        json.dumps({"id": "a", "name": "a", "label": "econ", "probabilities": {"econ": 1.0}}) + "\n"
    )
    out = tmp_path / "out.parquet"
    out.write_bytes(b"the previous output")

    def fail(*args: object) -> int:
        Path(args[1]).write_bytes(b"half")  # type: ignore[arg-type]
        raise OSError("disk full")

    monkeypatch.setattr(table_files, "_write_parquet_pass", fail)
    with pytest.raises(OSError, match="disk full"):
        table_files.build_table(ledger, out, "parquet")
    assert out.read_bytes() == b"the previous output" and not temporary_path(out).exists()


def test_upgrade_ledger_renames_the_rows_of_then_only(tmp_path: Path) -> None:
    """A format 1 ledger to which the first version with the model columns appended rows (its
    resume crashed before recording a rows format): only the older rows change; a torn last
    line stays for the resume to cut off."""
    from longbert.bulk.outputs import upgrade_ledger

    then = {"id": "a0", "model": "m", "error": None, "doc": "a0", "exit_threshold": "strict"}
    today = {"id": "b0", "model": "m", "precision": "float32", "exit_threshold": None, "error": None}
    today["source_exit_threshold"] = "strict"
    ledger = tmp_path / "out.jsonl"
    ledger.write_text(json.dumps(then) + "\n" + json.dumps(today) + "\n" + '{"id": "c0", "na')
    assert upgrade_ledger(ledger) == 1
    lines = ledger.read_text().split("\n")
    assert json.loads(lines[0]) == {
        **{k: v for k, v in then.items() if k != "exit_threshold"},
        "source_exit_threshold": "strict",
    }
    assert json.loads(lines[1]) == today and lines[2] == '{"id": "c0", "na'
    assert upgrade_ledger(ledger) == 0 and not temporary_path(ledger).exists()
