"""The unlabelled texts ``python -m longbert.compress`` distils or calibrates on (``--texts``,
``--calibration-texts``).

A table -- ``.csv``, ``.tsv``, ``.jsonl``, ``.json`` (optionally ``.gz``) -- is read by the readers
as ``--dev`` is (quoted fields over several lines, the delimiter, encodings, each row's text
cleaned as everywhere), one text per row from the text column, the other columns ignored;
``.parquet`` by the prediction CLI's table reader, which gives a row the same text. A ``.txt``
file (optionally ``.gz``) holds one text per line, blank lines skipped. Any other name is
refused: read as lines, a table would pass its header, ids and labels off as texts.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from longbert.compression.target import CompressError
from longbert.readers.base import TEXT_TABLE_FORMATS

#: Unreadable rows named in a message; the rest are counted.
SHOWN_ERRORS = 5
#: What ``--texts`` reads, for messages and ``--help``.
TEXT_FILES = ".csv/.tsv/.jsonl/.json/.parquet (a text column) or .txt (one text per line), optionally .gz"


def read_texts(paths: Sequence[str], text_column: str = "text") -> list[str]:
    """The texts of ``paths`` in order (see the module docstring); ``text_column``: the tables'
    text column (compress passes the source model's, as ``--dev`` is read with).
    :class:`CompressError` names a missing or unreadable file, an unknown suffix, or the rows
    that cannot be read."""
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


def _table_texts(path: Path, text_column: str, *, parquet: bool) -> list[str]:
    """Each row's text; :class:`CompressError` listing the rows (or the file) that cannot be read."""
    from longbert.data import DATASET_LIMITS

    rows: Iterable[tuple[str | None, str]]
    if parquet:
        from longbert.bulk.tables import read_table_rows

        rows = (
            (item.document.text if item.document is not None else None, f"{item.name}: {item.error}")
            for item in read_table_rows(str(path), path, text_column, None, DATASET_LIMITS)
        )
    else:
        from longbert.readers import ReadDocument, TableOptions, read_path

        table = TableOptions(text_column=text_column)  # no labels: every other column ignored
        rows = (
            (item.document.text, "") if isinstance(item, ReadDocument) else (None, item.message)
            for item in read_path(path, source="dataset", limits=DATASET_LIMITS, table=table)
        )
    texts: list[str] = []
    errors: list[str] = []
    for text, error in rows:
        if text is None:
            errors.append(error)
        else:
            texts.append(text)
    if errors:
        more = f" (and {len(errors) - SHOWN_ERRORS:,} more)" if len(errors) > SHOWN_ERRORS else ""
        raise CompressError(
            f"cannot read texts from '{path}' (text column {text_column!r}){more}: "
            + " ".join(errors[:SHOWN_ERRORS])
        )
    return texts
