"""Keeping an output's ledger, state file and store batch in step across runs: settling a
compaction a kill interrupted, upgrading rows an earlier version wrote, and compacting at the end
of a run (see :mod:`longbert.bulk.runner`'s module doc for the arithmetic they keep: the ledger's
rows plus those it retired are the rows the store was sent)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbert.bulk.outputs import (
    Ledger,
    OutputError,
    count_rows,
    ledger_path,
    temporary_path,
    upgrade_ledger,
    write_state,
)
from longbert.bulk.rows import ROWS_FORMAT

if TYPE_CHECKING:
    from longbert.bulk.store_sink import StoreSink


def store_mismatch(output: Path, state: dict[str, Any], stored: int, rows: int) -> OutputError:
    retired = f", of which {state['retired']:,} were replaced by newer rows," if state["retired"] else ""
    return OutputError(
        f"The store's batch #{state['store']['batch_id']} holds {stored:,} results{retired} but "
        f"{ledger_path(output)} has {rows:,} rows (was it edited or replaced?). Use another --output."
    )


def finish_compaction(state: dict[str, Any], ledger: Ledger) -> None:
    """Settle a compaction a kill interrupted (see the runner's module docstring): the ledger was
    renamed into place when it has the compacted row count, else it is still the uncompacted one."""
    temporary_path(ledger.path).unlink(missing_ok=True)  # a compaction's unfinished copy
    pending = state.pop("compacting", None)
    if pending is not None and count_rows(ledger.path) == pending["rows_after"] != pending["rows_before"]:
        state["retired"] = int(pending["retired"])
        state["legacy_rows"] = 0  # one row per input now: see upgrade_rows


def upgrade_rows(state: dict[str, Any], ledger: Ledger, output: Path) -> None:
    """Bring the rows of an output begun by an earlier version to today's layout before any row
    is added (:data:`~longbert.bulk.rows.ROWS_FORMAT`): a state without ``rows_format`` is of
    format 1, whose rows hold a source column ``precision`` / ``exit_threshold`` under its bare
    name, today a model column. The rows keep their count, so the store's stays in step.

    Those rows are counted in ``legacy_rows`` until the next compaction: the first releases
    appended an error row for a labelled input they could not read any more, and there the
    labelled row is the one kept (:func:`~longbert.bulk.rows.latest_rows`), as the store's
    schema-v8 recount keeps its item (:mod:`longbert.store.recount`)."""
    rows_format = state.get("rows_format", 1)
    if rows_format == ROWS_FORMAT:
        return
    if not isinstance(rows_format, int) or rows_format > ROWS_FORMAT:
        raise OutputError(
            f"{output} was written by a newer longbert (rows format {rows_format!r}, this one "
            f"writes {ROWS_FORMAT}); update longbert to resume it, or use another --output."
        )
    upgrade_ledger(ledger.path)
    state["rows_format"] = ROWS_FORMAT  # recorded by the next state write, before any new row
    state["legacy_rows"] = count_rows(ledger.path)


def compact(ledger: Ledger, output: Path, state: dict[str, Any], sink: StoreSink | None) -> None:
    """Keep each input's latest row in the ledger, recording the retired rows in the state first.

    The error rows of files and folders that read now (:meth:`Ledger.retire_error`) go too, and
    their items in the store batch are superseded just before the ledger's rename: a kill in
    between leaves the row in the ledger, retired again by the next run that reads the file (the
    item's supersession changes no count the arithmetic uses: superseded items still count)."""
    rows_before = ledger.rows
    stale = ledger.retiring

    def record(retired: int) -> None:
        compacting = {
            "rows_before": rows_before,
            "rows_after": rows_before - retired,
            "retired": state["retired"] + retired,
        }
        write_state(output, {**state, "status": "running", "compacting": compacting})
        if sink is not None and stale:
            sink.retire_errors(stale)

    state["retired"] += ledger.compact(record)
    state["legacy_rows"] = 0
