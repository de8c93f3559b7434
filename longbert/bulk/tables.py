"""Tables of documents read row by row: CSV/TSV, JSON Lines, JSON, Parquet (optionally ``.gz``).

Memory stays bounded by one row (Parquet: one record batch), whatever the file's size. Every
column other than the text column is kept as the row's ``extra`` for the output. Encoding
detection (for files, and ``.gz`` contents, up to :data:`DETECT_BYTES`), the delimiter, the CSV
stray-quote check (:func:`~longbert.readers.csvrows.checked_records`) and each row's step to a
document (cleaning, encoded blocks, ``cap_chars``, the character limit:
:func:`~longbert.bulk.items.text_item`) are the readers' own, so a row stores the same text, or
fails with the same error, whether the app or the CLI read it.
Larger CSV/JSON Lines files are streamed as UTF-8: a row with bytes that are not UTF-8 is an
error row naming it, and the other rows are read.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import re
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, NamedTuple

from longbert.bulk.items import SourceItem, text_item
from longbert.readers import FileError, ReadLimits, decode_text
from longbert.readers.base import TEXT_TABLE_FORMATS
from longbert.readers.csvrows import checked_records, pick_delimiter, raise_field_limit
from longbert.readers.items import TableOptions, cell_text, resolve_column
from longbert.readers.tabular import jsonl_objects

TABLE_FORMATS = {**TEXT_TABLE_FORMATS, "parquet": "parquet"}
#: Files (and ``.gz`` contents) up to this size are decoded whole, with the readers' encoding
#: detection; larger ones are streamed as UTF-8.
DETECT_BYTES = 64 * 1024 * 1024
#: What a streamed file's undecodable bytes become (``errors="surrogateescape"``): U+DC80-U+DCFF.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


class Problem(NamedTuple):
    """A table file (``row`` None) or one of its rows that cannot be read, and why."""

    message: str
    row: int | None = None


def table_format(name: str) -> str | None:
    """``csv``/``tsv``/``jsonl``/``json``/``parquet`` for a table file name (``.gz`` allowed)."""
    lower = name.lower().removesuffix(".gz")
    ext = lower.rsplit(".", 1)[-1] if "." in lower else ""
    return TABLE_FORMATS.get(ext)


def is_table(name: str) -> bool:
    return table_format(name) is not None


def read_table_rows(
    shown: str, path: Path, text_column: str, id_column: str | None, limits: ReadLimits
) -> Iterator[SourceItem]:
    """Every row of one table file as a :class:`SourceItem`; bad rows and bad files as errors."""
    fmt = table_format(path.name)
    try:
        if fmt == "parquet":
            records: Iterator[tuple[int, Mapping[str, Any]] | Problem] = _parquet_records(path)
        else:
            handle, streamed = _open_text(path)
            records = (
                _csv_records(handle, fmt or "csv", shown, text_column, id_column, limits, streamed)
                if fmt in ("csv", "tsv")
                else _json_records(handle, fmt or "jsonl", text_column, streamed)
            )
        for record in records:
            if isinstance(record, Problem):  # a bad row, or a problem with the (rest of the) file
                name = shown if record.row is None else f"{shown}#row={record.row}"
                yield SourceItem(name, name, error=record.message)
                continue
            row, values = record
            yield _row_item(shown, row, values, text_column, id_column, limits)
    except (OSError, EOFError, ValueError) as error:  # gzip/parquet/decoding errors mid-file
        yield SourceItem(shown, shown, error=f"it cannot be read further ({type(error).__name__}: {error}).")
    except Exception as error:  # pyarrow raises its own types; one bad file never stops a run
        yield SourceItem(shown, shown, error=f"it cannot be read ({type(error).__name__}: {error}).")


def _row_item(
    shown: str,
    row: int,
    values: Mapping[str, Any],
    text_column: str,
    id_column: str | None,
    limits: ReadLimits,
) -> SourceItem:
    name = f"{shown}#row={row}"
    text_key = resolve_column(values.keys(), text_column)
    record_id = None
    if id_column is not None and (id_key := resolve_column(values.keys(), id_column)) is not None:
        value = values[id_key]
        if value is not None and not isinstance(value, dict | list):
            record_id = str(value).strip() or None
    extra = {k: v for k, v in values.items() if k != text_key}
    ident = record_id or name
    if text_key is None:
        columns = ", ".join(repr(k) for k in values) or "none"
        return SourceItem(
            name, ident, error=f"the row has no {text_column!r} field; fields found: {columns}.", extra=extra
        )
    value = cell_text(values[text_key])
    if value is None:
        return SourceItem(
            name,
            ident,
            error=f"its {text_column!r} value is a {type(values[text_key]).__name__}, not text.",
            extra=extra,
        )
    # The readers' own step from cell to document (cleaning, encoded blocks, cap_chars, size):
    # the app reading the same table stores the same text under the same SHA-256.
    item = text_item(value, name, source="batch", limits=limits, row=row)
    if isinstance(item, FileError):
        return SourceItem(name, ident, error=item.reason, extra=extra)
    return SourceItem(name, ident, document=item.document, extra=extra)


def _open_text(path: Path) -> tuple[IO[str], bool]:
    """The file as text, and whether it is streamed.

    A file whose (uncompressed) size is at most :data:`DETECT_BYTES` is decoded whole as the
    readers decode an upload (byte-order marks, UTF-16, legacy code pages), ``.gz`` or not. A
    larger one is streamed as UTF-8, its bytes that are not UTF-8 kept as escapes
    (``surrogateescape``) for :func:`_escaped_byte` to find: one legacy byte fails its row, not
    the rest of the file.
    """
    if path.name.lower().endswith(".gz"):
        try:
            with gzip.open(path, "rb") as packed:
                head: bytes | None = packed.read(DETECT_BYTES + 1)
        except (EOFError, OSError, zlib.error):
            # Cut short or damaged: streamed instead, so the rows before the damage are read and
            # the damage is the file's error row (decoding it whole would lose them all).
            head = None
        if head is not None and len(head) <= DETECT_BYTES:
            return _decoded(head, str(path)), False
        del head  # too large to detect its encoding (or damaged): decompressed again, as a stream
        binary: IO[bytes] = gzip.open(path, "rb")  # noqa: SIM115 (returned)
    else:
        if path.stat().st_size <= DETECT_BYTES:
            return _decoded(path.read_bytes(), str(path)), False
        binary = path.open("rb")
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline=""), True


def _decoded(data: bytes, name: str) -> IO[str]:
    try:  # named: a warning about mixed encodings says which file
        return io.StringIO(decode_text(data, name=name), newline="")
    except Exception as failure:  # the readers' ReadFailure: say why, as they do
        raise ValueError(getattr(failure, "reason", str(failure))) from failure


def _escaped_byte(value: Any) -> str | None:
    """The first byte of ``value`` (a string, or JSON's lists and objects, keys included) that
    was not UTF-8 in a streamed file, as ``0xE9``; None when there is none."""
    if isinstance(value, str):
        found = _ESCAPED_BYTE.search(value)
        return f"0x{ord(found.group()) - 0xDC00:02X}" if found else None
    if isinstance(value, dict):
        value = [item for pair in value.items() for item in pair]
    if isinstance(value, list):
        for item in value:
            if (byte := _escaped_byte(item)) is not None:
                return byte
    return None


def _not_utf8(row: int, byte: str) -> Problem:
    mb = DETECT_BYTES // (1024 * 1024)
    return Problem(
        f"row {row:,} is not UTF-8 (it holds the byte {byte}, which UTF-8 text cannot): a table "
        f"over {mb} MB is read as UTF-8, without encoding detection. Save the file as UTF-8, or "
        f"split it into files of at most {mb} MB, whose encoding is detected.",
        row,
    )


def _csv_records(
    handle: IO[str],
    fmt: str,
    shown: str,
    text_column: str,
    id_column: str | None,
    limits: ReadLimits,
    streamed: bool,
) -> Iterator[tuple[int, dict[str, Any]] | Problem]:
    raise_field_limit(limits)  # a text over max_chars fails its row, not the rest of the file
    with handle:
        head = handle.read(65536)
        delimiter, header = pick_delimiter(fmt, head.lstrip("\ufeff"), text_column)
        if not head.lstrip("\ufeff").strip():
            yield Problem("the file is empty.")
            return
        # A column name with a legacy byte keeps the rest of its name (U+FFFD for the byte).
        columns = [_readable(c.strip()) for c in header]
        if resolve_column(columns, text_column) is None:
            found = ", ".join(repr(c) for c in columns) or "none"
            yield Problem(
                f"it has no column {text_column!r}; columns found: {found}. "
                "Choose the text column (--text-column)."
            )
            return
        # The readers' own records and stray-quote check, streamed: the app reading the same
        # file gets the same rows and the same errors (the app's batch reads have no label column).
        options = TableOptions(text_column=text_column, id_column=id_column, label_column=None)
        for record in checked_records(_Chained(head, handle), shown, columns, delimiter, options):
            if isinstance(record, FileError):
                yield Problem(record.reason, record.row)
            elif streamed and (byte := _escaped_byte(list(record[1].values()))) is not None:
                yield _not_utf8(record[0], byte)
            else:
                yield record


def _readable(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class _Chained:
    """Lines of ``head`` (already read) and then the rest of ``handle``, for csv.reader."""

    def __init__(self, head: str, handle: IO[str]) -> None:
        self._lines = iter(io.StringIO(head.lstrip("\ufeff"), newline=""))
        self._handle = handle
        self._pending = ""

    def __iter__(self) -> _Chained:
        return self

    def __next__(self) -> str:
        for line in self._lines:
            if line.endswith(("\n", "\r")):
                return line
            self._pending = line  # the head ended mid-line: finish it from the file
            break
        self._lines = iter(())
        line = self._pending + self._handle.readline()
        self._pending = ""
        if not line:
            raise StopIteration
        return line


def _json_records(
    handle: IO[str], fmt: str, text_column: str, streamed: bool
) -> Iterator[tuple[int, dict[str, Any]] | Problem]:
    with handle:
        first, skipped_lines = handle.read(1), 0
        while first and first.isspace():
            skipped_lines += first == "\n"
            first = handle.read(1)
        if not first:
            yield Problem("the file is empty.")
            return
        if first == "[" or fmt == "json":
            try:
                whole = json.loads(first + handle.read())
            except json.JSONDecodeError as error:
                yield Problem(
                    f"it is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})."
                )
                return
            items = whole if isinstance(whole, list) else [whole]
            for row, item in enumerate(items, start=1):
                if isinstance(item, str):
                    item = {text_column: item}
                if streamed and (byte := _escaped_byte(item)) is not None:
                    yield _not_utf8(row, byte)
                elif isinstance(item, dict):
                    yield row, item
                else:
                    yield Problem(
                        f"item {row} is a JSON {type(item).__name__}, not an object or a string.", row
                    )
            return
        # Rows are lines of the file, the skipped blank lines included (as the readers count).
        lines = itertools.chain([first + handle.readline()], iter(handle.readline, ""))
        for lineno, line in enumerate(lines, start=1 + skipped_lines):
            # Checked on the line as read: JSON's own "\udc80" escapes are the row check's to refuse.
            if streamed and (byte := _escaped_byte(line)) is not None:
                yield _not_utf8(lineno, byte)
                continue
            for _, value in jsonl_objects([line], first_line=lineno):
                yield (lineno, value) if isinstance(value, dict) else Problem(value, lineno)


def _parquet_records(path: Path) -> Iterator[tuple[int, dict[str, Any]] | Problem]:
    import pyarrow.parquet as pq

    row = 0
    with pq.ParquetFile(path) as table:
        for batch in table.iter_batches(batch_size=256):
            for values in batch.to_pylist():
                row += 1
                yield row, values
