"""CSV and Parquet outputs, (re)built from the ledger (:mod:`longbert.bulk.outputs`) at the end of
every run: streamed in pieces of :data:`PIECE_ROWS` rows to a temporary file renamed into place.

Columns: :data:`~longbert.bulk.rows.COLUMNS` with the probabilities flattened to ``p_<label>``
columns, a multi-label model's ``labels`` and ``threshold`` after ``label``, then the source
rows' columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from longbert.bulk.outputs import iter_ledger, temporary_path
from longbert.bulk.rows import COLUMNS, MULTI_LABEL_COLUMNS
from longbert.columns import probability_column
from longbert.store.csv_writer import write_csv

PIECE_ROWS = 10_000


def _pieces(path: Path, size: int = PIECE_ROWS) -> Iterator[list[dict[str, Any]]]:
    piece: list[dict[str, Any]] = []
    for row in iter_ledger(path):
        piece.append(row)
        if len(piece) == size:
            yield piece
            piece = []
    if piece:
        yield piece


def flat_columns(path: Path, multi_label: bool = False) -> tuple[list[str], list[str], list[str]]:
    """Probability labels, the multi-label columns (``multi_label``: the run's model is) and
    source columns over the whole ledger (one streaming pass)."""
    multi = list(MULTI_LABEL_COLUMNS) if multi_label else []
    labels: dict[str, None] = {}
    extra: dict[str, None] = {}
    for row in iter_ledger(path):
        labels.update(dict.fromkeys(row.get("probabilities") or {}))
        extra.update(dict.fromkeys(k for k in row if k not in COLUMNS and k not in multi))
    return list(labels), multi, list(extra)


def flatten(row: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    flat = {k: v for k, v in row.items() if k != "probabilities"}
    probabilities = row.get("probabilities") or {}
    for label in labels:
        flat[probability_column(label)] = probabilities.get(label)
    return flat


def table_header(labels: list[str], multi: list[str], extra: list[str]) -> list[str]:
    """The columns of a CSV or Parquet output, in order: a multi-label model's ``labels`` and
    ``threshold`` right after ``label``, the probabilities after ``probabilities``' place."""
    header: list[str] = []
    for column in COLUMNS:
        if column == "probabilities":
            header += [probability_column(label) for label in labels]
            continue
        header.append(column)
        if column == "label":
            header += multi
    return header + extra


def build_table(ledger: Path, output: Path, fmt: str, multi_label: bool = False) -> int:
    """Write ``output`` (CSV or Parquet) from the ledger, piece by piece; returns its rows.
    ``multi_label``: the run's model is multi-label (its rows' ``labels``, ``threshold``).

    The CSV goes through the project's one CSV writer (:func:`longbert.store.csv_writer.write_csv`):
    a cell that a spreadsheet would run as a formula (an id, a title or a file name starting with
    ``=``, ``+``, ``-``, ``@``...) is defused with a leading apostrophe, header included, and
    lists (a multi-label model's ``labels``) are JSON text. It is UTF-8 with a byte-order mark,
    so that Excel reads accents right (the readers, a CSV read back as input, skip the mark). A
    resume never reads it back: it reads the ledger, whose values stay exactly as they were, as
    do the Parquet and JSON Lines outputs (no spreadsheet opens those).
    """
    labels, multi, extra = flat_columns(ledger, multi_label)
    header = table_header(labels, multi, extra)
    tmp = temporary_path(output)
    try:
        if fmt == "csv":
            with tmp.open("w", encoding="utf-8-sig", newline="") as handle:
                rows = write_csv(handle, header, (flatten(row, labels) for row in iter_ledger(ledger)))
        else:
            rows = _write_parquet(ledger, tmp, header, labels, multi, extra)
    except BaseException:
        tmp.unlink(missing_ok=True)  # the previous output stays whole; no half-written copy beside it
        raise
    tmp.replace(output)
    return rows


class _NotOfType(Exception):
    """A column with a value that does not fit the type it was given."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


def _write_parquet(
    ledger: Path, tmp: Path, header: list[str], labels: list[str], multi: list[str], extra: list[str]
) -> int:
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
        "precision": pa.string(),
        "exit_threshold": pa.float64(),
        "error": pa.string(),
        **{probability_column(label): pa.float64() for label in labels},
    }
    if multi:  # a multi-label model's columns (a source column of such a name is source_<name>)
        fixed.update(labels=pa.list_(pa.string()), threshold=pa.float64())
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
