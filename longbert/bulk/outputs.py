"""Where rows go: an append-only JSON Lines ledger, and CSV or Parquet made from it at the end.

The ledger is the output itself for ``.jsonl``, else ``<output>.rows.jsonl`` next to it. Rows are
appended a chunk at a time and flushed to disk (``fsync``) before the store is told, so a kill
leaves at most a partial last line, which a resume cuts off (:meth:`Ledger.open`). At the end of
a run the ledger keeps each input's latest row only (:meth:`Ledger.compact`), and CSV and Parquet
are (re)built from it (:mod:`longbert.bulk.table_files`), streamed and renamed into place, so a
kill during that step leaves the previous file whole. The ledger stays (``--overwrite`` starts
over); a re-run with new input files appends their rows and rebuilds the file.

A small state file, ``<output>.predict.json``, records what produced the output (the model and
which checkpoint that was: its folder, manifest hash and labels; strategy, zero-shot labels) and
its store batch, so that a re-run with other settings is refused instead of mixing two models'
rows in one file. It is also what makes an output this tool's own: a file at
the output path without one is someone else's, and a run refuses to replace it
(:func:`claim_output`) unless told to overwrite it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from longbert.bulk.rows import DoneInputs, dumps, latest_rows, name_key, row_key, upgrade_row
from longbert.errors import LongBertError
from longbert.readers.base import is_junk

FORMATS = ("jsonl", "csv", "parquet")
#: The fingerprint's keys for which checkpoint a model is
#: (:meth:`longbert.bulk.model.ModelSpec.checkpoint_identity`); states written before they were
#: added lack them (:func:`claim_output` upgrades those).
CHECKPOINT_KEYS = ("checkpoint", "checkpoint_saved_at", "checkpoint_manifest", "checkpoint_labels")


class OutputError(LongBertError):
    """The output path is unusable, or belongs to a run with other settings."""


def output_format(path: Path) -> str:
    suffix = path.name.lower().rsplit(".", 1)[-1] if "." in path.name else ""
    fmt = {"jsonl": "jsonl", "ndjson": "jsonl", "csv": "csv", "parquet": "parquet", "pq": "parquet"}.get(
        suffix
    )
    if fmt is None:
        raise OutputError(f"--output {path}: the name must end in .jsonl, .csv or .parquet.")
    return fmt


def ledger_path(output: Path) -> Path:
    return output if output_format(output) == "jsonl" else output.with_name(output.name + ".rows.jsonl")


def state_path(output: Path) -> Path:
    return output.with_name(output.name + ".predict.json")


def lock_path(output: Path) -> Path:
    """The file a run holds locked while it writes ``output`` (:mod:`longbert.bulk.output_lock`)."""
    return output.with_name(output.name + ".predict.lock")


def temporary_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place (a kill leaves the old one whole)."""
    return path.with_name(path.name + ".tmp")


def written_files(output: Path) -> list[Path]:
    """Every file a run writes for ``output``: the output, its ledger and state, their
    temporaries, and its lock file."""
    files = [output, ledger_path(output), state_path(output)]
    return list(dict.fromkeys([*files, *(temporary_path(f) for f in files), lock_path(output)]))


def check_not_an_input(output: Path, inputs: Iterable[str | os.PathLike[str]]) -> None:
    """OutputError when a file the run writes would replace an input file, or lie inside one (an
    archive); --overwrite does not change this. That holds for a file found in an input folder
    too: an existing output or ledger under a folder input that is not this tool's own earlier
    output (no state file beside it) is a user's file the walk would read, so it is refused
    instead of being silently left out of the inputs (and deleted by --overwrite). This tool's
    own output in an input folder is fine: the walk leaves out the files a run writes
    (:func:`longbert.bulk.sources.walk_inputs`), and it is resumed or replaced as anywhere else."""
    written = {path.resolve() for path in written_files(output)}
    above = set(output.resolve().parents)
    for given in inputs:
        path = Path(given).expanduser()
        if path.is_dir():
            _check_not_in_folder(output, path, given)
            continue
        if not path.is_file():
            continue
        resolved = path.resolve()
        if resolved in written:
            raise OutputError(f"--output {output} would replace the input {given}; choose another --output.")
        if resolved in above:
            raise OutputError(f"--output {output} is inside the input file {given}; choose another --output.")


def _check_not_in_folder(output: Path, folder: Path, given: str | os.PathLike[str]) -> None:
    """OutputError when the output or its ledger is a user's file that the walk of the input
    ``folder`` would read (see :func:`check_not_an_input`)."""
    if state_path(output).exists():
        return  # this tool's own earlier output: never read back, resumed or replaced
    root = folder.resolve()
    for path in dict.fromkeys([output, ledger_path(output)]):
        if not path.is_file():
            continue
        resolved = path.resolve()
        if root not in resolved.parents or is_junk(resolved.relative_to(root).as_posix()):
            continue  # outside the folder, or a file the walk skips (hidden, debris)
        raise OutputError(
            f"--output {output}: {path} is an input file (it is in the input folder {given}) and was not "
            f"written by longbert.predict (there is no {state_path(output).name} beside it); an input "
            "file is never replaced, even with --overwrite. Choose another --output."
        )


def claim_output(output: Path, fingerprint: dict[str, Any], overwrite: bool) -> dict[str, Any] | None:
    """The state of the earlier run to resume at ``output``, or None to start a new run there.

    OutputError, before anything is written, for a run with other settings (``fingerprint``
    differs: two models' rows would mix) and for an existing output or ledger that is not this
    tool's (no state file beside it: a user's table, possibly the very input). ``overwrite``
    starts a new run instead; its files replace the old ones (:func:`discard_run`).
    """
    if overwrite:
        return None
    state = read_state(output)
    again = "Use another --output, or --overwrite to start over there (it replaces the output)."
    if state is not None:
        saved = state.get("run") or {}
        if saved != fingerprint and not any(key in saved for key in CHECKPOINT_KEYS):
            # One-time upgrade of a state written before the fingerprint held the checkpoint's
            # identity (CHECKPOINT_KEYS): the fields it does hold must match, and then the
            # identity of today's checkpoint is recorded (the runner writes the state back), so
            # that later resumes compare it. Such an output could not be checked against a
            # checkpoint replaced since; refusing it would only force --overwrite.
            fingerprint_then = {k: v for k, v in fingerprint.items() if k not in CHECKPOINT_KEYS}
            if saved != fingerprint_then:
                differences = _differences(saved, fingerprint_then)
                raise OutputError(f"{output} was made with other settings ({differences}). {again}")
            return {**state, "run": fingerprint}
        if saved != fingerprint:
            differences = _differences(saved, fingerprint)
            raise OutputError(f"{output} was made with other settings ({differences}). {again}")
        return state
    for path in dict.fromkeys([output, ledger_path(output)]):
        if path.exists() and path.stat().st_size > 0:  # an empty file holds nothing to lose
            raise OutputError(
                f"{path} exists and was not written by longbert.predict (there is no "
                f"{state_path(output).name} beside it), so it is left alone. Choose another "
                "--output, or add --overwrite to replace it."
            )
    return None


def discard_run(output: Path) -> None:
    """Forget an earlier run at ``output`` (its ledger and state), for --overwrite. A CSV or
    Parquet output itself stays until the new run's table replaces it."""
    for path in (ledger_path(output), state_path(output)):
        path.unlink(missing_ok=True)


def _differences(saved: dict[str, Any], given: dict[str, Any]) -> str:
    keys = [k for k in sorted(set(saved) | set(given)) if saved.get(k) != given.get(k)]
    return "; ".join(f"{k}: {saved.get(k)!r} then, {given.get(k)!r} now" for k in keys) or "unknown"


def read_state(output: Path) -> dict[str, Any] | None:
    path = state_path(output)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise OutputError(f"{path} is unreadable ({error}); delete it and {output} to start over.") from error


def write_state(output: Path, state: dict[str, Any]) -> None:
    path = state_path(output)
    tmp = temporary_path(path)
    tmp.write_text(json.dumps(state, indent=2, default=str))
    tmp.replace(path)


class Ledger:
    """The append-only JSON Lines file of finished rows.

    It also remembers, per row, which input it is (:func:`~longbert.bulk.rows.name_key`) and
    whether it holds a label, 9 bytes a row, so that an input classified again (a changed text,
    a file readable now) is counted once and its older rows can be retired (:meth:`compact`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._handle: Any = None
        self._names: list[np.ndarray] = []
        self._labelled: list[np.ndarray] = []
        #: The first rows, written in rows format 1, whose inputs keep their last labelled row
        #: over a later error (:func:`~longbert.bulk.rows.latest_rows`); 0 once compacted.
        self.legacy = 0
        self._opened = 0  # rows there when opened: those a run may retire (retire_error)
        self._retiring: dict[int, str] = {}

    def open(self, keep_rows: int | None = None, legacy: int = 0) -> DoneInputs:
        """Open for appending; returns the inputs the rows already there hold (for a resume).

        A partial last line (a kill mid-write) is cut off. With ``keep_rows``, rows after that
        many are cut off too (they were written but never reached the store: they run again).
        ``legacy``: how many of the first rows were written in rows format 1 (see :attr:`legacy`).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = _Int64s()
        names = _Int64s()
        labelled: list[bool] = []
        end = rows = 0
        if self.path.exists():
            with self.path.open("rb") as handle:
                for line in handle:
                    if not line.endswith(b"\n") or (keep_rows is not None and rows >= keep_rows):
                        break
                    try:
                        row = json.loads(line)
                    except ValueError:
                        break  # a torn write: this row and any after it run again
                    name = row.get("name") or ""
                    keys.add(row_key(name, row.get("sha256")))
                    names.add(name_key(name))
                    labelled.append(not row.get("error"))
                    end += len(line)
                    rows += 1
            if end != self.path.stat().st_size:
                with self.path.open("r+b") as handle:
                    handle.truncate(end)
        name_keys = names.array()
        flags = np.asarray(labelled, dtype=bool)
        self._names = [name_keys]
        self._labelled = [flags]
        self.rows = self._opened = rows
        self.legacy = min(int(legacy), rows)
        self._retiring = {}
        self._handle = self.path.open("a", encoding="utf-8", newline="\n")
        return DoneInputs.of_rows(keys.array(), name_keys, flags, self.legacy)

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Write rows and make them durable before anything else (the store) hears of them."""
        rows = list(rows)
        if not rows:
            return
        self._handle.write("".join(dumps(row) + "\n" for row in rows))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._names.append(np.asarray([name_key(row.get("name") or "") for row in rows], dtype=np.int64))
        self._labelled.append(np.asarray([not row.get("error") for row in rows], dtype=bool))
        self.rows += len(rows)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def retire_error(self, name: str) -> None:
        """Have the next :meth:`compact` drop the error row the ledger held for the input file or
        folder ``name`` when opened (missing, unreadable, cut short): it reads now, and its
        documents and rows have names of their own (``file#row=N``, ``folder/file``), so no
        newer row of its name replaces that error (thread-safe: called by the reading thread)."""
        self._retiring[name_key(name)] = name

    @property
    def retiring(self) -> list[str]:
        """The names :meth:`retire_error` was given (for the store to supersede their errors)."""
        return list(self._retiring.values())

    def _latest(self) -> tuple[np.ndarray, np.ndarray]:
        names = np.concatenate(self._names) if self._names else np.zeros(0, dtype=np.int64)
        labelled = np.concatenate(self._labelled) if self._labelled else np.zeros(0, dtype=bool)
        latest = latest_rows(names, labelled, self.legacy)
        if self._retiring:
            stale = latest & ~labelled & np.isin(names, np.fromiter(self._retiring, dtype=np.int64))
            stale[self._opened :] = False  # a row of this run is this run's word
            latest &= ~stale
        return latest, labelled

    def counts(self) -> tuple[int, int]:
        """``(inputs, labelled)``: how many inputs the output holds (one row each once compacted)
        and how many of those have a label rather than an error."""
        latest, labelled = self._latest()
        return int(latest.sum()), int((latest & labelled).sum())

    def compact(self, before_replace: Callable[[int], None] = lambda retired: None) -> int:
        """Retire the rows an input's newer row replaces (and the stale error rows of
        :meth:`retire_error`): rewrite the (closed) ledger with each input's kept row only, in
        order, and rename it into place. ``before_replace(n)`` runs
        just before the rename, with how many rows go (the runner records that for the store,
        whose batch keeps every row). Returns that number (0: nothing to do, nothing written)."""
        latest, labelled = self._latest()
        retired = int(latest.size - latest.sum())
        if retired == 0:
            self.legacy = 0  # every input has one row: nothing left for the legacy rule to choose
            return 0
        tmp = temporary_path(self.path)
        with self.path.open("rb") as source, tmp.open("wb") as target:
            for keep, line in zip(latest, source, strict=True):  # one flag per whole line
                if keep:
                    target.write(line)
            target.flush()
            os.fsync(target.fileno())
        before_replace(retired)
        tmp.replace(self.path)
        names = np.concatenate(self._names)
        self._names, self._labelled = [names[latest]], [labelled[latest]]
        self.rows -= retired
        self.legacy = self._opened = 0
        self._retiring = {}
        return retired


class _Int64s:
    """A growing list of 64-bit keys kept as numpy chunks (8 bytes a row, not a Python int's 36)."""

    CHUNK = 65536

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._pending: list[int] = []

    def add(self, value: int) -> None:
        self._pending.append(value)
        if len(self._pending) == self.CHUNK:
            self._chunks.append(np.asarray(self._pending, dtype=np.int64))
            self._pending = []

    def array(self) -> np.ndarray:
        return np.concatenate([*self._chunks, np.asarray(self._pending, dtype=np.int64)])


def count_rows(path: Path) -> int:
    """Complete lines of a ledger (a file that is not there has none)."""
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.endswith(b"\n"))


def upgrade_ledger(path: Path) -> int:
    """Rewrite a ledger of rows format 1 as format 2 (:func:`~longbert.bulk.rows.upgrade_row`),
    through a temporary file renamed into place (a kill leaves the old ledger whole; the runner
    deletes the unfinished copy). Lines that are not a complete row (a torn last write) are
    copied as they are, for :meth:`Ledger.open` to cut off. Returns the rows changed (0: nothing
    written). Upgrading an upgraded ledger changes nothing, so a kill before the state records
    the new format is harmless."""
    if not path.exists():
        return 0
    changed = 0
    tmp = temporary_path(path)
    with path.open("rb") as source, tmp.open("wb") as target:
        for line in source:
            row = _complete_row(line)
            if row is not None and (upgraded := upgrade_row(row)) is not row:
                line = _encoded(upgraded)
                changed += 1
            target.write(line)
        target.flush()
        os.fsync(target.fileno())
    if changed:
        tmp.replace(path)
    else:
        tmp.unlink()
    return changed


def _encoded(row: dict[str, Any]) -> bytes:
    """A ledger line; a lone surrogate (a ``\\ud800`` escape read back) stays escaped."""
    try:
        return (dumps(row) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(row, default=str) + "\n").encode("ascii")


def _complete_row(line: bytes) -> dict[str, Any] | None:
    if not line.endswith(b"\n"):
        return None
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None


def iter_ledger(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for line in handle:
            if line.endswith(b"\n"):
                yield json.loads(line)
