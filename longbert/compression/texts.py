"""The unlabelled texts ``python -m longbert.compress`` distils or calibrates on (``--texts``,
``--calibration-texts``).

A table -- ``.csv``, ``.tsv``, ``.jsonl``, ``.json`` (optionally ``.gz``) -- is read by the readers
as ``--dev`` is (quoted fields over several lines, the delimiter, encodings, each row's text
cleaned as everywhere), one text per row from the text column, the other columns ignored;
``.parquet`` by the prediction CLI's table reader, which gives a row the same text. The text
column is the source model's (as for ``--dev``) when the file has it, else ``text`` (what
``--texts`` has always read). A row without usable text (empty, not a JSON object, no text
value) is skipped, and the rows skipped are counted in one :class:`CompressNotice` per file;
a table with no usable row at all is an error. A ``.txt`` file (optionally ``.gz``) holds one
text per line, blank lines skipped. Any other name is refused: read as lines, a table would
pass its header, ids and labels off as texts.
"""

from __future__ import annotations

import gzip
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from longbert.compression.target import CompressError, CompressNotice
from longbert.readers.base import TEXT_TABLE_FORMATS

#: Skipped rows named in a message; the rest are counted.
SHOWN_ERRORS = 5
#: What ``--texts`` reads, for messages and ``--help``.
TEXT_FILES = ".csv/.tsv/.jsonl/.json/.parquet (a text column) or .txt (one text per line), optionally .gz"


def read_texts(paths: Sequence[str], text_column: str = "text") -> list[str]:
    """The texts of ``paths`` in order (see the module docstring); ``text_column``: the tables'
    text column where a file has it, else ``text`` (compress passes the source model's, as
    ``--dev`` is read with). :class:`CompressError` names a missing or unreadable file, an
    unknown suffix, or a file without usable text; skipped rows are a :class:`CompressNotice`."""
    texts: list[str] = []
    for name in paths:
        path = Path(name)
        inner = path.name.lower().removesuffix(".gz")
        suffix = inner.rsplit(".", 1)[-1] if "." in inner else ""
        if suffix != "txt" and suffix not in TEXT_TABLE_FORMATS and suffix != "parquet":
            raise CompressError(f"'{path}': texts are read from {TEXT_FILES}; this name is neither.")
        if not path.is_file():
            raise CompressError(f"'{path}': no such file.")
        if suffix == "txt":
            texts += _lines(path)
        else:
            texts += _table_texts(path, text_column, parquet=suffix == "parquet")
    return texts


def _lines(path: Path) -> list[str]:
    try:
        with _open_text(path) as handle:
            return [line.rstrip("\n") for line in handle if line.strip()]
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise CompressError(f"cannot read texts from '{path}': {error}") from error


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


@dataclass
class _Rows:
    """What one read of a table gave: its texts, the rows without usable text, and whether the
    file as a whole cannot be read (``failure``) or lacks the text column everywhere."""

    texts: list[str] = field(default_factory=list)
    #: ``(row, why)`` per row skipped (row ``None`` where the reader gave no number).
    skipped: list[tuple[int | None, str]] = field(default_factory=list)
    failure: str | None = None
    #: A CSV's header lacks the text column.
    no_column: bool = False
    #: Rows skipped for having no text column.
    missing: int = 0

    def add(self, text: str | None, row: int | None, why: str, *, missing: bool = False) -> None:
        if text is not None:
            self.texts.append(text)
        else:
            self.skipped.append((row, why))
            self.missing += missing

    @property
    def has_no_column(self) -> bool:
        """No row had the text column (a CSV's header lacks it, or every JSON row does)."""
        return self.no_column or (not self.texts and 0 < self.missing == len(self.skipped))


def _table_texts(path: Path, text_column: str, *, parquet: bool) -> list[str]:
    """Each usable row's text, read by ``text_column`` when the file has it, else by ``text``
    (what ``--texts`` always read). Rows without usable text (empty, not an object, no text
    value) are skipped with one :class:`CompressNotice` naming how many and the first rows; a
    file that cannot be read, or has no usable row at all, is a :class:`CompressError`."""
    rows = _read_rows(path, text_column, parquet=parquet)
    column = repr(text_column)
    if text_column != "text" and rows.has_no_column:
        rows = _read_rows(path, "text", parquet=parquet)
        column = f"{text_column!r}, else 'text'"
    if rows.failure is not None:
        raise CompressError(f"cannot read texts from '{path}' (text column {column}): {rows.failure}")
    shown = rows.skipped[:SHOWN_ERRORS]
    if not rows.texts:
        more = f" (and {len(rows.skipped) - len(shown):,} more)" if len(rows.skipped) > len(shown) else ""
        reasons = " ".join(f"row {row}: {why}" if row is not None else why for row, why in shown)
        raise CompressError(f"'{path}' holds no usable text (text column {column}){more}: {reasons}")
    if rows.skipped:
        numbered = [row for row, _ in shown if row is not None]
        where = f"rows {', '.join(map(str, numbered))}" + (", ..." if len(rows.skipped) > len(shown) else "")
        first_row, first_why = rows.skipped[0]
        warnings.warn(
            CompressNotice(
                f"skipped {len(rows.skipped):,} of {len(rows.skipped) + len(rows.texts):,} rows of "
                f"'{path}' without usable text (text column {column}): {where}"
                + (f"; row {first_row}: {first_why}" if first_row is not None else f"; {first_why}")
            ),
            stacklevel=3,
        )
    return rows.texts


def _read_rows(path: Path, text_column: str, *, parquet: bool) -> _Rows:
    from longbert.data import DATASET_LIMITS

    rows = _Rows()
    if parquet:
        from longbert.bulk.tables import read_table_rows

        shown = str(path)
        for item in read_table_rows(shown, path, text_column, None, DATASET_LIMITS):
            if item.document is not None:
                rows.add(item.document.text, None, "")
            elif not item.name.startswith(f"{shown}#row="):  # the file, not a row
                rows.failure = rows.failure or str(item.error)
            else:
                why = str(item.error)
                missing = why.startswith(f"the row has no {text_column!r} field")
                rows.add(None, int(item.name.rpartition("#row=")[2]), why, missing=missing)
        return rows
    from longbert.readers import ReadDocument, TableOptions, read_path

    table = TableOptions(text_column=text_column)  # no labels: every other column ignored
    for item in read_path(path, source="dataset", limits=DATASET_LIMITS, table=table):
        if isinstance(item, ReadDocument):
            rows.add(item.document.text, None, "")
        elif item.row is not None:
            rows.add(None, item.row, item.reason, missing=item.kind == "missing_column")
        elif isinstance(hidden := item.details.get("hidden_errors"), int):  # rows only counted
            rows.skipped += [(None, item.reason)] * hidden
        elif item.kind == "missing_column":  # a CSV whose header lacks the column
            rows.failure = rows.failure or item.reason
            rows.no_column = True
        else:
            rows.failure = rows.failure or item.reason
    return rows
