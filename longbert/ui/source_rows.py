"""The other columns of an uploaded table, so batch results join back to their source rows.

The readers turn each row of a CSV/TSV/JSON Lines/JSON file into a Document named
``file.csv#row=N`` and keep only its text (a Document has no room for the row's other columns
today). This module reads the same rows again for the Batch label page, numbered the way the
readers number them (CSV: data rows after the header, blank lines skipped; JSON Lines: line
numbers; a JSON list: 1-based positions), and keeps every column but the text: the row's id,
title, a gold label... Values are kept as JSON values (CSV cells as strings).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import PurePath
from typing import Any

from longbert.readers.csvrows import numbered_rows

#: Documents read per file at most (a table larger than this keeps no extra columns).
MAX_ROWS = 200_000
#: Characters kept per value (longer cells are cut, marked with "…").
MAX_VALUE_CHARS = 2_000
_DELIMITERS = ",;\t|"


def _suffix(name: str) -> str:
    suffixes = [s.lower() for s in PurePath(name).suffixes]
    return suffixes[-1] if suffixes else ""


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + "…"
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False)
        return value if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"
    return value


def _keep(record: dict[str, Any], text_column: str) -> dict[str, Any]:
    return {str(k).strip(): _clip(v) for k, v in record.items()
            if str(k).strip().lower() != text_column.lower()}


def _csv_rows(text: str, tab: bool, text_column: str) -> Iterator[tuple[int, dict[str, Any]]]:
    text = text.removeprefix("\ufeff")
    if csv.field_size_limit() < 50_000_000:
        csv.field_size_limit(50_000_000)
    delimiters = ["\t"] if tab else list(_DELIMITERS)
    chosen = delimiters[0]
    for delimiter in delimiters:
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
        if any(c.strip().lower() == text_column.lower() for c in header):
            chosen = delimiter
            break
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=chosen)
    columns = [c.strip() for c in next(reader, [])]
    try:
        yield from numbered_rows(reader, columns)
    except csv.Error:
        return


def _json_rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    stripped = text.removeprefix("\ufeff").strip()
    if stripped.startswith("["):
        try:
            whole = json.loads(stripped)
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, list):
            yield from ((i, item) for i, item in enumerate(whole, start=1) if isinstance(item, dict))
            return
    for lineno, line in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            yield lineno, value


def source_fields(name: str, data: bytes, text_column: str = "text") -> dict[str, dict[str, Any]]:
    """``{"file.csv#row=N": {column: value, ...}}`` for a table upload (every column but the
    text); ``{}`` for other files (and zip archives) or what cannot be decoded."""
    suffix = _suffix(name)
    if suffix not in (".csv", ".tsv", ".jsonl", ".ndjson", ".json"):
        return {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    rows = (_csv_rows(text, suffix == ".tsv", text_column) if suffix in (".csv", ".tsv")
            else _json_rows(text))
    out: dict[str, dict[str, Any]] = {}
    for row, record in rows:
        if row > MAX_ROWS:
            break
        kept = _keep(record, text_column)
        if kept:
            out[f"{name}#row={row}"] = kept
    return out


class FieldCollector:
    """Wraps the uploaded ``(name, bytes)`` pairs on their way to the readers and keeps each
    table row's other columns (:func:`source_fields`) by document name."""

    def __init__(self, files: Iterable[tuple[str, bytes]], text_column: str = "text") -> None:
        self._files = files
        self._text_column = text_column
        self.fields: dict[str, dict[str, Any]] = {}

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        for name, data in self._files:
            self.fields.update(source_fields(name, data, self._text_column))
            yield name, data
