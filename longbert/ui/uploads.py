"""Column names of an uploaded table (CSV/TSV/JSON Lines, maybe gzipped), read from its start.

The Train page offers these as the text and label columns, so a person picks from what the file
holds instead of typing a name that may not exist. Only the first ``sample_bytes`` are read,
decoded and split as the readers do (:func:`~longbert.text.decoding.decode_text`, the readers'
delimiter choice), so the columns listed are the ones training will find.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Sequence
from pathlib import PurePath

from longbert.readers.csvrows import pick_delimiter
from longbert.text.decoding import ReadFailure, decode_text

#: How much of the (decompressed) file is read to find the columns.
SAMPLE_BYTES = 1_000_000
#: JSON Lines records looked at for keys (later records may add keys).
SAMPLE_RECORDS = 200

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".ndjson")
#: Training options that name the upload's columns (the Train page picks them from the file).
COLUMN_OPTIONS = ("text_column", "label_column")
#: Column names tried first for the text and for the label.
TEXT_NAMES = ("text", "document", "content", "body")
LABEL_NAMES = ("label", "labels", "category", "class", "target")


def _kind(name: str) -> str:
    suffixes = [s.lower() for s in PurePath(name).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(
            f"'{name}' is not a CSV, TSV or JSON Lines file (optionally .gz); its columns cannot be read."
        )
    return suffix


def _head(name: str, data: bytes, sample_bytes: int) -> str:
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
                data = handle.read(sample_bytes)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"'{name}' is not a readable gzip file ({error}).") from error
    else:
        data = data[:sample_bytes]
    try:
        text = decode_text(data)
    except ReadFailure as failure:
        raise ValueError(f"'{name}' cannot be read: {failure.reason}") from failure
    if not text.strip():
        raise ValueError(f"'{name}' is empty: upload a file with a text and a label column.")
    return text


def _json_keys(name: str, text: str) -> list[str]:
    keys: list[str] = []
    stripped = text.lstrip()
    records: list[object] = []
    if stripped.startswith("["):  # a whole JSON array (.json)
        try:
            loaded = json.loads(stripped)
        except ValueError:
            loaded = None  # cut by the sample limit, or not JSON: try lines below
        if isinstance(loaded, list):
            records = loaded[:SAMPLE_RECORDS]
    if not records:
        for line in text.splitlines()[:SAMPLE_RECORDS]:
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a line cut by the sample limit, or a broken one
    for record in records:
        if isinstance(record, dict):
            keys.extend(k for k in record if isinstance(k, str) and k not in keys)
    if not keys:
        raise ValueError(f"'{name}' has no JSON objects with named fields in its first lines.")
    return keys


def table_columns(name: str, data: bytes, sample_bytes: int = SAMPLE_BYTES) -> list[str]:
    """The column (or JSON field) names of an uploaded table; ValueError saying why not."""
    kind = _kind(name)
    text = _head(name, data, sample_bytes)
    if kind in (".jsonl", ".json", ".ndjson"):
        return _json_keys(name, text)
    # The readers' choice: the delimiter whose header has a ``text`` column, else the sniffed one.
    _, header = pick_delimiter(kind.lstrip("."), text, "text")
    columns = [c.strip() for c in header if c.strip()]
    if len(columns) < 2:
        raise ValueError(
            f"'{name}' has {len(columns)} named column(s) in its header; it needs a text and a label column."
        )
    return columns


def guess_column(columns: Sequence[str], preferred: Sequence[str], avoid: str | None = None) -> int:
    """Index of the first column named like one of ``preferred`` (case-insensitive), else the
    first column that is not ``avoid``."""
    lowered = [c.lower() for c in columns]
    for name in preferred:
        if name.lower() in lowered and columns[lowered.index(name.lower())] != avoid:
            return lowered.index(name.lower())
    for i, column in enumerate(columns):
        if column != avoid:
            return i
    return 0
