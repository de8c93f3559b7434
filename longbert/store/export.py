"""Exports: predictions (with their corrections) as CSV or JSON Lines.

Rows are streamed from one read transaction, so an export of a large history neither loads it
whole nor sees a half-written batch. A path is written to a temporary file in the same folder and
renamed over the destination at the end, so a failed export never leaves a partial file (nor
spoils an earlier export there). Corrections as training data: :mod:`longbert.store.corrections`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from longbert.errors import StoreError
from longbert.store.csv_writer import write_csv
from longbert.store.engine import Database
from longbert.store.history_sql import (
    EXTRA_START,
    apply_filters,
    history_select,
    labels_in_force,
    to_history_row,
)
from longbert.store.records import HistoryFilter
from longbert.store.schema import BatchItemRow, DocumentRow, PredictionRow

EXPORT_FORMATS = ("csv", "jsonl")

#: Columns of a predictions export, in order. ``final_labels``: the labels in force (the
#: correction's if any, else the model's chosen ones); ``final_label``: the one label in force, or
#: for a multi-label model the labels in force joined with ", " ("" for none).
#: ``exit_threshold``: the early-exit threshold the prediction ran at (0: the full model; empty
#: for a model without exits and for rows saved before it was recorded); last, so that every
#: earlier column keeps its place.
EXPORT_COLUMNS = (
    "id",
    "created_at",
    "document_name",
    "document_sha256",
    "source",
    "model",
    "strategy",
    "strategy_params",
    "label",
    "labels",
    "confidence",
    "probabilities",
    "used_tokens",
    "total_tokens",
    "latency_ms",
    "batch_id",
    "zero_shot",
    "corrected_label",
    "corrected_labels",
    "correction_note",
    "corrected_at",
    "final_label",
    "final_labels",
    "label_set",
    "source_fields",
    "exit_threshold",
)

Destination = str | os.PathLike[str] | IO[str]
#: Where a :func:`~longbert.store.history_sql.history_select` row holds the model's
#: multi_label flag, the predicted labels, the id of the correction in force and its labels.
_LABELS_AT = (21, 8, 20, 16)


@contextmanager
def _open_text(destination: Destination) -> Iterator[IO[str]]:
    """A text stream: for a path, a temporary UTF-8 file beside it (its folder created) that
    replaces the path when the block ends without error, and is removed otherwise; a stream is
    used as is."""
    if not isinstance(destination, str | os.PathLike):
        yield destination
        return
    path = Path(destination)
    if path.is_dir():
        raise StoreError(f"The export destination {path} is a folder: give a file name.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as error:
        raise StoreError(f"Cannot write the export to {path}: {error}") from error
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


class ExportMixin:
    """Export methods of :class:`~longbert.store.Store`."""

    _db: Database

    def export_predictions(
        self,
        destination: Destination,
        format: str = "csv",
        filters: HistoryFilter | None = None,
        include_text: bool = False,
    ) -> int:
        """Write matching predictions (oldest first) to a path or text stream; returns the count.

        CSV cells holding lists or dicts (labels, probabilities, strategy parameters) are JSON;
        cells a spreadsheet would run as formulas are defused (:mod:`longbert.store.csv_writer`),
        JSON Lines keeps every value exactly. ``source_fields`` holds a batch row's own columns
        (a table upload's id, title...), so results join back to the source.
        ``include_text`` adds the document's full text as a ``text`` column.
        """
        if format not in EXPORT_FORMATS:
            raise StoreError(f"Unknown export format '{format}'; use one of {', '.join(EXPORT_FORMATS)}.")
        extra = [PredictionRow.strategy_params, BatchItemRow.fields]
        extra += [DocumentRow.text] if include_text else []
        # A batch item's source row columns (a table upload's id, title...) join results back.
        selected = history_select(*extra).outerjoin(
            BatchItemRow, BatchItemRow.prediction_id == PredictionRow.id
        )
        statement = apply_filters(selected, filters).order_by(
            PredictionRow.created_at, PredictionRow.id
        )
        columns = list(EXPORT_COLUMNS) + (["text"] if include_text else [])
        # The label filter is SQL for multi-label rows too (history_sql), as for History's pages.
        with _open_text(destination) as handle, self._db.reading() as session:
            records = (
                _export_record(values, include_text)
                for values in session.execute(statement).yield_per(500)
            )
            if format == "csv":
                return write_csv(handle, columns, records)
            count = 0
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
            return count


def _export_record(values: Any, include_text: bool) -> dict[str, Any]:
    row = to_history_row(values)
    note, corrected_at, multi_label = values[17], values[18], bool(values[_LABELS_AT[0]])
    final_labels = labels_in_force("final", row.labels, row.correction_id, row.corrected_labels)
    params, source_fields = values[EXTRA_START], values[EXTRA_START + 1]
    record: dict[str, Any] = {
        "id": row.id,
        "created_at": row.created_at.isoformat(),
        "document_name": row.document_name,
        "document_sha256": row.document_sha256,
        "source": row.source,
        "model": row.model_name,
        "strategy": row.strategy,
        "strategy_params": params,
        "label": row.label,
        "labels": row.labels,
        "confidence": row.confidence,
        "probabilities": values[9],
        "used_tokens": row.used_tokens,
        "total_tokens": row.total_tokens,
        "latency_ms": row.latency_ms,
        "batch_id": row.batch_id,
        "zero_shot": row.zero_shot,
        "corrected_label": row.corrected_label,
        "corrected_labels": row.corrected_labels,
        "correction_note": note,
        "corrected_at": corrected_at.isoformat() if corrected_at is not None else None,
        # A multi-label model's top label is no label in force: the labels it chose are.
        "final_label": ", ".join(final_labels or [])
        if multi_label
        else (row.corrected_label if row.correction_id is not None else row.label),
        "final_labels": final_labels,
        "label_set": row.label_set,
        "source_fields": source_fields,
        "exit_threshold": row.exit_threshold,
    }
    if include_text:
        record["text"] = values[EXTRA_START + 2]
    return record
