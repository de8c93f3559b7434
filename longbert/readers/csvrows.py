"""CSV/TSV records, and the one mistake CSV hides: a quote that never closes.

A field that opens with ``"`` runs until the next lone ``"``. One stray quote (``3,"Hello,a``)
therefore swallows the rest of the file into a single field, and Python's ``csv`` module says
nothing: reading yields 3 documents instead of 1,000. Each record's physical lines are kept
while it is parsed, so that a record that

- reaches the end of the file inside its quotes, or
- runs over several lines of which many parse as rows of this table on their own
  (the right number of cells, a label seen in other rows or a numeric id),

is reported as ``row N: unterminated quote``, naming the line where the quote opens. A quoted text
with real paragraphs (lines that are prose, not rows) is read as before.

:func:`checked_records` reads its lines one at a time, so the command line's streaming table
reader (:mod:`longbert.bulk.tables`) runs the same check on files of any size, and the app and
the CLI give the same rows and the same errors for the same file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from longbert.readers.base import FileError, ReadLimits
from longbert.readers.items import Context, TableOptions, resolve_column

_CSV_DELIMITERS = ",;\t|"
#: Inner lines of a multi-line record that look like rows, at least, to call its quote stray.
_MIN_ROW_LIKE = 1
#: Longest cell, other than the text, that a line may have to look like a row.
_MAX_SIDE_CELL = 64

Record = tuple[int, dict[str, Any]]


class _Lines:
    """The text's physical lines, handed to ``csv.reader`` one at a time; remembers which lines
    the current record took (csv reads as many as the record's quotes need)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.taken: list[str] = []
        self.number = 0  # 1-based number of the last line handed out

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.number += 1
        self.taken.append(line)
        return line

    def take(self) -> list[str]:
        taken, self.taken = self.taken, []
        return taken


def raise_field_limit(limits: ReadLimits) -> None:
    """Let ``csv`` read any field a file within ``limits`` can hold.

    csv refuses fields over 128 KiB by default; documents are much longer, and a text over
    ``max_chars`` must be refused as that one row (the usual "its text has N characters"), not
    end the whole file as "malformed". So the limit is the largest file allowed, not
    ``max_chars``. It is process-wide, so it is only ever raised, never lowered.
    """
    wanted = max(limits.max_file_bytes, limits.max_chars + 1)
    if csv.field_size_limit() < wanted:
        csv.field_size_limit(wanted)


def csv_records(fmt: str, display: str, text: str, ctx: Context) -> Iterator[Record | FileError]:
    """``(row, {column: cell})`` per record of a CSV/TSV text, or a :class:`FileError`."""
    raise_field_limit(ctx.limits)
    text = text.removeprefix("\ufeff")
    delimiter, header = pick_delimiter(fmt, text, ctx.options.text_column)
    columns = [column.strip() for column in header]
    options = ctx.options
    wanted = (options.text_column, options.label_column)
    missing = [c for c in wanted if c is not None and resolve_column(columns, c) is None]
    if missing:
        found = ", ".join(repr(c) for c in columns) or "none"
        yield FileError(
            display,
            f"it has no column {missing[0]!r}; columns found: {found}. Choose the "
            f"{'text' if missing[0] == options.text_column else 'label'} column.",
            kind="missing_column",
            details={"columns": columns},
        )
        return
    yield from checked_records(io.StringIO(text, newline=""), display, columns, delimiter, options)


def checked_records(
    source: Iterable[str], display: str, columns: list[str], delimiter: str, options: TableOptions
) -> Iterator[Record | FileError]:
    """The records of a CSV's physical lines, ``source`` (its header line first, skipped:
    ``columns`` are its cells), each checked for a stray quote; a record whose quote swallowed
    rows of the table, or never closes, is one :class:`FileError` for its row, the records
    around it read as usual.

    Lines are read one at a time and at most two records are held (the last one waits for the
    next to show the file goes on), so a file of any size streams through in bounded memory.
    """
    checker = _RowShape(columns, delimiter, options)
    lines = _Lines(source)
    reader = csv.reader(lines, delimiter=delimiter)
    row = 0
    # The last record, held back until the next one shows that the file goes on after it.
    pending: tuple[Record, list[str], int] | None = None
    try:
        next(reader, None)  # the header, already read
        lines.take()
        for cells in reader:
            first_line = lines.number - len(lines.taken) + 1
            raw = lines.take()
            if not cells or all(not cell.strip() for cell in cells):
                continue  # a blank line is not a record
            row += 1
            if len(raw) > 1 and checker.swallowed(raw[1:]):
                if pending is not None:
                    yield pending[0]
                    pending = None
                at_end = _ends_inside_quotes(raw, delimiter)
                yield _stray_quote(display, row, first_line, len(raw), end_of_file=at_end)
                continue
            if len(cells) < len(columns):
                cells = cells + [None] * (len(columns) - len(cells))  # type: ignore[list-item]
            record = dict(zip(columns, cells, strict=False))
            if len(raw) == 1:
                checker.learn(record)
            if pending is not None:
                yield pending[0]
            pending = ((row, record), raw, first_line)
    except csv.Error as exc:
        if pending is not None:
            yield pending[0]
        yield FileError(display, _malformed_reason(row, lines, exc), kind="corrupt")
        return
    if pending is not None:
        (last_row, _), raw, first_line = pending
        if _ends_inside_quotes(raw, delimiter):
            yield _stray_quote(display, last_row, first_line, len(raw), end_of_file=True)
        else:
            yield pending[0]


def _malformed_reason(row: int, lines: _Lines, exc: csv.Error) -> str:
    """Why csv stopped after ``row`` records; the rest of the file cannot be read reliably."""
    if str(exc).startswith("field larger than field limit"):
        # Only a field over the largest file allowed: a quote that never closes in a huge file.
        first_line = lines.number - len(lines.taken) + 1
        return (
            f"row {row + 1:,} (from line {first_line:,}) holds a field of more than "
            f"{csv.field_size_limit():,} characters, so the rest of the file was not read. Check "
            'for a quote that is never closed (a quote inside a quoted field is written twice, "").'
        )
    return (
        f"the CSV is malformed after row {row:,} ({exc}); the rest of the file was not read. Check quoting."
    )


class _RowShape:
    """What a row of this table looks like, learnt from its single-line records."""

    def __init__(self, columns: list[str], delimiter: str, options: TableOptions) -> None:
        self.columns = columns
        self.delimiter = delimiter
        self.text_column = resolve_column(columns, options.text_column)
        label = options.label_column
        self.label_column = resolve_column(columns, label) if label else None
        id_column = options.id_column
        self.id_column = resolve_column(columns, id_column) if id_column else None
        self.labels: set[str] = set()

    def learn(self, record: dict[str, Any]) -> None:
        if self.label_column is not None and len(self.labels) < 1000:
            value = record.get(self.label_column)
            if isinstance(value, str) and value.strip():
                self.labels.add(value.strip())

    def looks_like_row(self, line: str) -> bool:
        if len(self.columns) < 2:
            return False
        try:
            cells = next(csv.reader([line], delimiter=self.delimiter), [])
        except csv.Error:
            return False
        if len(cells) != len(self.columns):
            return False
        record = dict(zip(self.columns, cells, strict=True))
        side = [v for k, v in record.items() if k != self.text_column]
        if any(len(v) > _MAX_SIDE_CELL for v in side):
            return False
        if self.label_column is not None:
            return record[self.label_column].strip() in self.labels
        if self.id_column is not None:
            return record[self.id_column].strip().isdigit()
        return len(self.columns) >= 3

    def swallowed(self, inner_lines: list[str]) -> bool:
        """Whether a multi-line record's continuation lines are rows its quote swallowed."""
        row_like = sum(1 for line in inner_lines if self.looks_like_row(line))
        return row_like >= _MIN_ROW_LIKE and row_like * 2 >= len(inner_lines)


def _ends_inside_quotes(raw: list[str], delimiter: str) -> bool:
    """Whether the record's lines end with a quoted field still open (the file ran out)."""
    try:
        for _ in csv.reader(raw, delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _stray_quote(display: str, row: int, line: int, span: int, *, end_of_file: bool) -> FileError:
    if end_of_file:
        what = (
            f"the quoted field opened in line {line:,} is never closed, so the rest of the file "
            f"({span:,} lines) would be read as one field"
        )
    else:
        what = (
            f"the quoted field opened in line {line:,} runs over {span:,} lines that look like "
            "rows of their own, up to the next quote"
        )
    return FileError(
        f"{display}#row={row}",
        f"unterminated quote: {what}. Close the quote (a quote inside a quoted field is written "
        'twice, "") and read the file again.',
        kind="corrupt",
        row=row,
        details={"line": line, "lines": span},
    )


def pick_delimiter(fmt: str, text: str, text_column: str) -> tuple[str, list[str]]:
    """The delimiter whose header has the text column: sniffed first, then the usual ones."""
    if fmt == "tsv":
        candidates = ["\t"]
    else:
        try:
            sniffed = csv.Sniffer().sniff(text[:65536], delimiters=_CSV_DELIMITERS).delimiter
        except csv.Error:
            sniffed = ","
        candidates = [sniffed] + [d for d in _CSV_DELIMITERS if d != sniffed]
    first_header: list[str] | None = None
    for delimiter in candidates:
        try:
            header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
        except csv.Error:
            continue
        if first_header is None:
            first_header = header
        if resolve_column([c.strip() for c in header], text_column) is not None:
            return delimiter, header
    return candidates[0], first_header or []
