"""Result rows for tables (batch, history, compare) and their CSV / JSON Lines exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from longbert.results import Prediction, PredictionError, PredictionResult
from longbert.store import HistoryFilter, HistoryRow, Store

#: Columns of a batch results table, in display order: the status and an error's reason come
#: right after the file name, where they are seen without scrolling.
RESULT_COLUMNS = (
    "document", "status", "error", "label", "confidence", "correction", "labels", "strategy",
    "used_tokens", "total_tokens", "latency_ms", "zero_shot", "model", "prediction_id",
)
#: Columns of the History table, in display order.
HISTORY_COLUMNS = (
    "id", "when", "document", "label", "corrected", "confidence", "strategy", "model", "tokens",
    "latency_ms", "batch", "zero_shot",
)


def result_row(
    result: PredictionResult, prediction_id: int | None = None, correction: str | None = None
) -> dict[str, Any]:
    """One table row for a prediction, or an error row (``status == "error"``) with its reason."""
    if isinstance(result, PredictionError):
        return {
            "document": result.document_name, "status": "error", "label": None,
            "confidence": None, "correction": None, "labels": "", "strategy": None,
            "used_tokens": None, "total_tokens": None, "latency_ms": None, "zero_shot": None,
            "model": None, "error": result.message, "prediction_id": prediction_id,
        }
    return prediction_row(result, prediction_id, correction)


def prediction_row(
    p: Prediction, prediction_id: int | None = None, correction: str | None = None
) -> dict[str, Any]:
    """The row of a successful prediction (confidence is the chosen label's probability)."""
    return {
        "document": p.document_name, "status": "ok", "label": p.label,
        "confidence": round(float(p.probabilities.get(p.label, 0.0)), 4),
        "correction": correction, "labels": ", ".join(p.labels), "strategy": p.strategy,
        "used_tokens": int(p.used_tokens), "total_tokens": int(p.total_tokens),
        "latency_ms": round(float(p.latency_ms), 1), "zero_shot": bool(p.zero_shot),
        "model": p.model_name, "error": None, "prediction_id": prediction_id,
    }


def final_label(row: Mapping[str, Any]) -> str | None:
    """The label to trust: a person's correction when there is one, else the model's."""
    return row.get("correction") or row.get("label")


def export_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows as exported: every result column plus ``final_label``."""
    out = []
    for row in rows:
        item = {key: row.get(key) for key in RESULT_COLUMNS}
        item["final_label"] = final_label(row)
        out.append(item)
    return out


def to_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """UTF-8 CSV (with header) of :func:`export_rows`; cells starting with ``=+-@`` are quoted
    with a leading apostrophe so spreadsheets do not run them as formulas."""
    exported = export_rows(rows)
    columns = [*RESULT_COLUMNS, "final_label"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in exported:
        writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    return buffer.getvalue().encode("utf-8")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


def to_jsonl(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """JSON Lines (one object per row, UTF-8, non-ASCII kept) of :func:`export_rows`."""
    lines = [json.dumps(row, ensure_ascii=False, default=str) for row in export_rows(rows)]
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


def apply_corrections(
    rows: Sequence[Mapping[str, Any]], edited: Mapping[int, Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[tuple[int, str | None]]]:
    """Merge a data editor's ``edited_rows`` into ``rows``.

    Returns the updated rows and ``(row_index, new_correction)`` for each row whose correction
    changed (``None``/empty clears one), so the caller saves exactly those. Error rows cannot be
    corrected (there is no prediction to correct) and are skipped.
    """
    updated = [dict(r) for r in rows]
    changes: list[tuple[int, str | None]] = []
    for index, edit in edited.items():
        i = int(index)
        if not 0 <= i < len(updated) or "correction" not in edit:
            continue
        if updated[i].get("status") != "ok":
            continue
        new = edit["correction"] or None
        if new != updated[i].get("correction"):
            updated[i]["correction"] = new
            changes.append((i, new))
    return updated, changes


def history_row(r: HistoryRow) -> dict[str, Any]:
    """One line of the History table."""
    return {
        "id": r.id, "when": r.created_at.strftime("%Y-%m-%d %H:%M"), "document": r.document_name,
        "label": r.label, "corrected": r.corrected_label,
        "confidence": round(float(r.confidence), 4), "strategy": r.strategy,
        "model": r.model_name, "tokens": f"{r.used_tokens:,}/{r.total_tokens:,}",
        "latency_ms": round(float(r.latency_ms), 1), "batch": r.batch_id,
        "zero_shot": bool(r.zero_shot),
    }


def table_frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
                editable: Sequence[str] = ()) -> pd.DataFrame:
    """Rows as a frame with exactly ``columns``; missing values in ``editable`` text columns are
    empty strings (a data editor shows its own cells unstyled, so ``None`` would read "None")."""
    frame = pd.DataFrame([{c: row.get(c) for c in columns} for row in rows],
                         columns=list(columns))
    for column in editable:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), "")
    return frame


def blank_missing(frame: pd.DataFrame) -> Styler:
    """The frame styled so missing cells show blank rather than "None" (values are unchanged;
    other cells keep their own text, so column formats still apply)."""
    return frame.style.format(str, na_rep="")


def drop_empty(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` without those of ``columns`` that hold no value at all (e.g. no errors)."""
    empty = [c for c in columns if c in frame and frame[c].isna().all()]
    return frame.drop(columns=empty)


def newly_selected(selected: Sequence[int], previous: Sequence[int] | None) -> int | None:
    """The table row just ticked: the first selected row when the selection changed, else
    None (a row that stays ticked must not override a later choice made elsewhere)."""
    if not selected or list(selected) == list(previous or []):
        return None
    return int(selected[0])


def history_export(store: Store, filters: HistoryFilter | None, format: str) -> bytes:
    """Every prediction matching ``filters`` (all pages, oldest first) with its latest correction
    and final label, as UTF-8 CSV or JSON Lines: :meth:`Store.export_predictions` into memory."""
    buffer = io.StringIO()
    store.export_predictions(buffer, format=format, filters=filters)
    return buffer.getvalue().encode("utf-8")
