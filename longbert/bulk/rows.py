"""One output row per input document: what it is, what the model said, or why it failed.

Columns, in order: ``id`` (the table row's id, else the name), ``name`` (path, ``file#row=N``,
``archive.zip/member``), ``sha256`` (of the text), ``label``, ``probabilities`` (every label's;
flattened to ``p_<label>`` columns in CSV and Parquet), ``used_tokens``, ``total_tokens``,
``strategy``, ``model``, ``error`` (the reason, for a document that could not be read or
classified; else empty), then the source row's other columns, unchanged. A source column whose
name is one of these, or starts with ``p_`` (a probability column's name in CSV and Parquet), is
kept as ``source_<name>``, as in the app's exports (:func:`longbert.columns.source_column`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from longbert.bulk.sources import SourceItem
from longbert.columns import source_column
from longbert.results import Prediction, PredictionError, PredictionResult

COLUMNS = (
    "id",
    "name",
    "sha256",
    "label",
    "probabilities",
    "used_tokens",
    "total_tokens",
    "strategy",
    "model",
    "error",
)


def output_row(
    item: SourceItem, result: PredictionResult | None, model: str, strategy: str
) -> dict[str, Any]:
    """The row for one input: ``result`` is None when the input could not be read."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(id=item.id, name=item.name, sha256=item.sha256 or None, model=model, strategy=strategy)
    if isinstance(result, Prediction):
        row.update(
            label=result.label,
            probabilities={k: round(float(v), 6) for k, v in result.probabilities.items()},
            used_tokens=int(result.used_tokens),
            total_tokens=int(result.total_tokens),
            strategy=result.strategy,
        )
    elif isinstance(result, PredictionError):
        row["error"] = result.message
    else:
        row["error"] = item.error or "not read"
    for key, value in item.extra.items():
        if key == "id" and str(value).strip() == str(item.id):
            continue  # the id column itself, already the row's id
        row[source_column(key, COLUMNS)] = value
    return row


def row_key(name: str, sha256: str | None) -> int:
    """The resume key of an input: 64 bits of SHA-256 over its name and its text's hash.

    The run's model and strategy are fixed per output (checked from its state file), so within
    one output a document is done once its name and text were seen; a file whose text changed
    since (or that could not be read then and can now) is done again. 64 bits: 10^7 rows collide
    with a probability of about 3e-6, and a resume holds 8 bytes per row already done.
    """
    digest = hashlib.sha256(f"{name}\x00{sha256 or ''}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # fits int64 (numpy, Arrow)


def item_key(item: SourceItem) -> int:
    return row_key(item.name, item.sha256 or None)


def dumps(row: dict[str, Any]) -> str:
    """One JSON Lines line (no newline); values JSON does not know (dates, bytes) as text."""
    return json.dumps(row, ensure_ascii=False, default=str)
