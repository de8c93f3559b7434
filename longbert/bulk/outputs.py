"""Where rows go: an append-only JSON Lines ledger, and CSV or Parquet made from it at the end.

The ledger is the output itself for ``.jsonl``, else ``<output>.rows.jsonl`` next to it. Rows are
appended a chunk at a time and flushed to disk (``fsync``) before the store is told, so a kill
leaves at most a partial last line, which a resume cuts off (:meth:`Ledger.open`). CSV and
Parquet are (re)built from the ledger at the end of every run, streamed in pieces of
:data:`PIECE_ROWS` rows and renamed into place, so a kill during that step leaves the previous
file whole. The ledger stays (``--overwrite`` starts over); a re-run with new input
files appends their rows and rebuilds the file.

A small state file, ``<output>.predict.json``, records what produced the output (the model and
which checkpoint that was: its folder, manifest hash and labels; strategy, zero-shot labels) and
its store batch, so that a re-run with other settings is refused instead of mixing two models'
rows in one file. It is also what makes an output this tool's own: a file at
the output path without one is someone else's, and a run refuses to replace it
(:func:`claim_output`) unless told to overwrite it.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from longbert.bulk.rows import COLUMNS, dumps, row_key
from longbert.columns import probability_column
from longbert.errors import LongBertError
from longbert.readers.base import is_junk

FORMATS = ("jsonl", "csv", "parquet")
#: The fingerprint's keys for which checkpoint a model is
#: (:meth:`longbert.bulk.model.ModelSpec.checkpoint_identity`); states written before they were
#: added lack them (:func:`claim_output` upgrades those).
CHECKPOINT_KEYS = ("checkpoint", "checkpoint_saved_at", "checkpoint_manifest", "checkpoint_labels")
PIECE_ROWS = 10_000


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


def temporary_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place (a kill leaves the old one whole)."""
    return path.with_name(path.name + ".tmp")


def written_files(output: Path) -> list[Path]:
    """Every file a run writes for ``output``: the output, its ledger and state, their temporaries."""
    files = [output, ledger_path(output), state_path(output)]
    return list(dict.fromkeys([*files, *(temporary_path(f) for f in files)]))


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
    """The append-only JSON Lines file of finished rows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self._handle: Any = None

    def open(self, keep_rows: int | None = None) -> np.ndarray:
        """Open for appending; returns the sorted resume keys of the rows already there.

        A partial last line (a kill mid-write) is cut off. With ``keep_rows``, rows after that
        many are cut off too (they were written but never reached the store: they run again).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys: list[np.ndarray] = []
        chunk: list[int] = []
        end = 0
        rows = 0
        if self.path.exists():
            with self.path.open("rb") as handle:
                for line in handle:
                    if not line.endswith(b"\n") or (keep_rows is not None and rows >= keep_rows):
                        break
                    try:
                        row = json.loads(line)
                    except ValueError:
                        break  # a torn write: this row and any after it run again
                    chunk.append(row_key(row.get("name") or "", row.get("sha256")))
                    if len(chunk) == 65536:
                        keys.append(np.asarray(chunk, dtype=np.int64))
                        chunk = []
                    end += len(line)
                    rows += 1
            if end != self.path.stat().st_size:
                with self.path.open("r+b") as handle:
                    handle.truncate(end)
        keys.append(np.asarray(chunk, dtype=np.int64))
        self.rows = rows
        self._handle = self.path.open("a", encoding="utf-8", newline="\n")
        return np.sort(np.concatenate(keys))

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Write rows and make them durable before anything else (the store) hears of them."""
        lines = [dumps(row) + "\n" for row in rows]
        if not lines:
            return
        self._handle.write("".join(lines))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.rows += len(lines)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def iter_ledger(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for line in handle:
            if line.endswith(b"\n"):
                yield json.loads(line)


def _pieces(path: Path, size: int = PIECE_ROWS) -> Iterator[list[dict[str, Any]]]:
    piece: list[dict[str, Any]] = []
    for row in iter_ledger(path):
        piece.append(row)
        if len(piece) == size:
            yield piece
            piece = []
    if piece:
        yield piece


def flat_columns(path: Path) -> tuple[list[str], list[str]]:
    """Probability labels and source columns over the whole ledger (one streaming pass)."""
    labels: dict[str, None] = {}
    extra: dict[str, None] = {}
    for row in iter_ledger(path):
        labels.update(dict.fromkeys(row.get("probabilities") or {}))
        extra.update(dict.fromkeys(k for k in row if k not in COLUMNS))
    return list(labels), list(extra)


def flatten(row: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    flat = {k: v for k, v in row.items() if k != "probabilities"}
    probabilities = row.get("probabilities") or {}
    for label in labels:
        flat[probability_column(label)] = probabilities.get(label)
    return flat


def build_table(ledger: Path, output: Path, fmt: str) -> int:
    """Write ``output`` (CSV or Parquet) from the ledger, piece by piece; returns its rows."""
    labels, extra = flat_columns(ledger)
    probabilities = [probability_column(label) for label in labels]
    header = [c for c in COLUMNS if c != "probabilities"] + probabilities + extra
    tmp = temporary_path(output)
    rows = 0
    if fmt == "csv":
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
            writer.writeheader()
            for piece in _pieces(ledger):
                for row in piece:
                    flat = flatten(row, labels)
                    writer.writerow({k: _csv_cell(v) for k, v in flat.items()})
                rows += len(piece)
    else:
        rows = _write_parquet(ledger, tmp, header, labels, extra)
    tmp.replace(output)
    return rows


def _csv_cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


class _NotOfType(Exception):
    """A column with a value that does not fit the type it was given."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


def _write_parquet(ledger: Path, tmp: Path, header: list[str], labels: list[str], extra: list[str]) -> int:
    """Parquet from the ledger. Source columns get their values' type, unified over the whole
    ledger; one whose values share none (numbers here, text there) is written as text, so that a
    type never costs the finished work at this last step."""
    import pyarrow as pa

    fixed = {
        "id": pa.string(),
        "name": pa.string(),
        "sha256": pa.string(),
        "label": pa.string(),
        "used_tokens": pa.int64(),
        "total_tokens": pa.int64(),
        "strategy": pa.string(),
        "model": pa.string(),
        "error": pa.string(),
        **{probability_column(label): pa.float64() for label in labels},
    }
    types, as_text = _source_types(ledger, extra)
    while True:
        schema = pa.schema(
            [(name, fixed[name]) for name in header if name in fixed]
            + [(name, pa.string() if name in as_text else types.get(name, pa.null())) for name in extra]
        )
        try:
            return _write_parquet_pass(ledger, tmp, schema, labels)
        except _NotOfType as problem:
            if problem.column in as_text or problem.column in fixed:
                raise  # text always fits: a bug, not data
            as_text.add(problem.column)


def _arrow_errors() -> tuple[type[BaseException], ...]:
    import pyarrow as pa

    return (pa.ArrowException, OverflowError, TypeError, ValueError)


def _source_types(ledger: Path, extra: list[str]) -> tuple[dict[str, Any], set[str]]:
    """The Arrow type of each source column over the ledger, and the columns to write as text."""
    import pyarrow as pa

    types: dict[str, Any] = {}
    as_text: set[str] = set()
    for piece in _pieces(ledger):
        for name in extra:
            if name in as_text:
                continue
            try:
                new = pa.array([row.get(name) for row in piece]).type
            except _arrow_errors():
                as_text.add(name)  # mixed within the piece
                continue
            old = types.get(name)
            if old is None or pa.types.is_null(old):
                types[name] = new
            elif not pa.types.is_null(new) and new != old:
                try:
                    both = [pa.schema([(name, old)]), pa.schema([(name, new)])]
                    types[name] = pa.unify_schemas(both, promote_options="permissive").field(name).type
                except _arrow_errors():
                    as_text.add(name)
    return types, as_text


def _write_parquet_pass(ledger: Path, tmp: Path, schema: Any, labels: list[str]) -> int:
    """Write ``tmp`` with ``schema``; :class:`_NotOfType` naming a column a value does not fit."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 0
    with pq.ParquetWriter(tmp, schema) as writer:
        for piece in _pieces(ledger):
            flat = [flatten(row, labels) for row in piece]
            arrays = []
            for field in schema:
                values = [row.get(field.name) for row in flat]
                if pa.types.is_string(field.type):
                    values = [_text(value) for value in values]
                try:
                    arrays.append(pa.array(values, type=field.type))
                except _arrow_errors() as error:
                    raise _NotOfType(field.name) from error
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            rows += len(piece)
        if rows == 0:
            writer.write_table(schema.empty_table())
    return rows


def _text(value: Any) -> str | None:
    """A cell of a text column: text as is, anything else as JSON (numbers, objects, lists)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
