"""Result rows for tables (upload batches, history, compare) and their CSV / JSON Lines exports."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from longbert.columns import probability_column, source_column
from longbert.exit_threshold import recorded_threshold
from longbert.results import Prediction, PredictionError, PredictionResult
from longbert.store import HistoryFilter, HistoryRow, Store, write_csv
from longbert.ui.explanations import method_title

#: Columns of a batch results table, in display order: the status and an error's reason come
#: right after the file name, where they are seen without scrolling. ``exit_threshold`` (the
#: early-exit threshold the prediction ran at; empty for a model without exits) comes last, so
#: the columns before it keep their places in the downloads.
RESULT_COLUMNS = (
    "document", "status", "error", "label", "confidence", "correction", "labels", "strategy",
    "used_tokens", "total_tokens", "latency_ms", "zero_shot", "model", "label_set",
    "prediction_id", "exit_threshold",
)
#: What an editable correction cell without a correction shows (a data editor draws an empty
#: editable cell as a grey "None"); choosing it means "no correction".
NO_CORRECTION = "—"
#: The export columns of the labels in force (:func:`final_label`, :func:`final_labels`).
FINAL_COLUMNS = ("final_label", "final_labels")
#: Columns of the History table, in display order. ``exit_threshold``: the early-exit threshold
#: the prediction ran at, beside its model (two predictions of one model at different thresholds
#: differ there); empty for a model without exits.
HISTORY_COLUMNS = (
    "id", "when", "document", "label", "corrected", "confidence", "strategy", "model",
    "exit_threshold", "label_set", "tokens", "latency_ms", "batch", "zero_shot", "explained",
)
#: The help on the ``exit_threshold`` column of the History and Batch label tables.
EXIT_THRESHOLD_HELP = (
    "The early-exit threshold the prediction ran at (models compressed with --method "
    "early-exit): 0 is the full model, higher lets more texts leave at an earlier layer (the "
    "sparse strategy records it but always runs every layer). Empty for a model without early "
    "exits (and for predictions saved before it was recorded)."
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
            "model": None, "label_set": None, "error": result.message,
            "prediction_id": prediction_id, "predicted_labels": None, "exit_threshold": None,
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
        "model": p.model_name, "label_set": (p.extra or {}).get("label_set"), "error": None,
        # The chosen labels one by one ("labels" joins them for display; a label may hold ", ").
        "prediction_id": prediction_id, "predicted_labels": list(p.labels),
        # What ran, read as History and the store's exports read it (None: no exits).
        "exit_threshold": recorded_threshold((p.extra or {}).get("exit_threshold")),
    }


def has_correction(row: Mapping[str, Any]) -> bool:
    """Whether a person's label is in force on ``row``. A multi-label "no label applies"
    correction is the empty string: a correction all the same, so never test its truth."""
    return row.get("correction") is not None


def predicted_labels(row: Mapping[str, Any]) -> list[str] | None:
    """The labels the model chose for ``row`` (None: no prediction); a row made without the
    list counts its one label."""
    listed = row.get("predicted_labels")
    if isinstance(listed, list):
        return [str(label) for label in listed]
    return None if row.get("label") is None else [str(row["label"])]


def correction_labels(row: Mapping[str, Any]) -> list[str] | None:
    """A row's correction as its list of labels (None: no correction): the stored list
    (``correction_labels``) while it is the correction shown, else the one label a person set in
    the table ("": none). Never split on commas: a label may hold one."""
    if not has_correction(row):
        return None
    correction, stored = str(row["correction"]), row.get("correction_labels")
    if isinstance(stored, list) and ", ".join(map(str, stored)) == correction:
        return [str(label) for label in stored]
    return [correction] if correction else []


def final_labels(row: Mapping[str, Any]) -> list[str] | None:
    """The labels in force: a person's correction's when there is one (one correction decides,
    even one of no label), else the model's chosen labels; None where nothing was predicted."""
    corrected = correction_labels(row)
    return corrected if corrected is not None else predicted_labels(row)


def final_label(row: Mapping[str, Any]) -> str | None:
    """The label to trust as one cell: a person's correction when there is one, else the
    model's. For a multi-label model, the labels in force joined with ", " ("" when no label
    applies), never its single top label; :func:`final_labels` lists them one by one."""
    chosen = final_labels(row)
    return None if chosen is None else ", ".join(chosen)


def source_columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The source rows' own columns (a table upload's id, title...) → their export names: as in
    the source, or ``source_<name>`` where a result column has that name
    (:func:`longbert.columns.source_column`, the rule ``python -m longbert.predict`` follows too)."""
    taken = {*RESULT_COLUMNS, *FINAL_COLUMNS}
    names = dict.fromkeys(k for r in rows for k in (r.get("fields") or {}))
    return {name: source_column(name, taken) for name in names}


def probability_columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Every label seen → its probability column (``p_<label>``)."""
    labels = dict.fromkeys(k for r in rows for k in (r.get("probabilities") or {}))
    return {label: probability_column(label) for label in labels}


def export_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Columns of an export of ``rows``: the result columns, ``final_label`` and
    ``final_labels``, the source rows' own columns, then one probability column per label."""
    return [*RESULT_COLUMNS, *FINAL_COLUMNS, *source_columns(rows).values(),
            *probability_columns(rows).values()]


def export_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows as exported: every result column, the labels in force (``final_label``: one cell,
    a multi-label row's labels joined with ", "; ``final_labels``: a list), the source row's own
    columns (so a result joins back to its row: id, title...) and every label's probability."""
    rows = list(rows)
    sources, probabilities = source_columns(rows), probability_columns(rows)
    out = []
    for row in rows:
        item = {key: row.get(key) for key in RESULT_COLUMNS}
        item["final_label"], item["final_labels"] = final_label(row), final_labels(row)
        fields = row.get("fields") or {}
        item.update({column: fields.get(name) for name, column in sources.items()})
        given = row.get("probabilities") or {}
        item.update({column: given.get(label) for label, column in probabilities.items()})
        out.append(item)
    return out


#: How the app's CSV downloads are encoded: UTF-8 with a byte-order mark, without which Excel on
#: Windows reads the file as the local code page ("CafÃ©"). The app's uploads (the readers, the
#: bulk tables) and Python's ``utf-8-sig`` read the mark away.
CSV_DOWNLOAD_ENCODING = "utf-8-sig"


def to_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """CSV (with header, UTF-8 with a byte-order mark: :data:`CSV_DOWNLOAD_ENCODING`) of
    :func:`export_rows`, through the store's one CSV writer: cells a spreadsheet would run as
    formulas are defused (:mod:`longbert.store.csv_writer`)."""
    rows = list(rows)
    buffer = io.StringIO(newline="")
    write_csv(buffer, export_columns(rows), export_rows(rows))
    return buffer.getvalue().encode(CSV_DOWNLOAD_ENCODING)


def to_jsonl(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """JSON Lines (one object per row, UTF-8, non-ASCII kept) of :func:`export_rows`; every
    line has the same keys, so ``datasets.load_dataset("json", ...)`` reads it as is."""
    lines = [json.dumps(row, ensure_ascii=False, default=str) for row in export_rows(rows)]
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


def to_parquet(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """Parquet of :func:`export_rows` (pyarrow): source columns of mixed kinds become text, so
    every column has one type and ``datasets.load_dataset("parquet", ...)`` reads it as is;
    ``final_labels`` stays a list of strings."""
    frame = pd.DataFrame(export_rows(rows))
    for column in frame.columns:
        if column == "final_labels":
            continue
        values = frame[column].dropna()
        kinds = {type(v) for v in values}
        if frame[column].dtype == object and (len(kinds) > 1 or kinds & {dict, list}):
            frame[column] = [None if v is None or (isinstance(v, float) and pd.isna(v))
                             else v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                             for v in frame[column]]
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


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
        if new == NO_CORRECTION:
            new = None
        if new != updated[i].get("correction"):
            updated[i]["correction"] = new
            changes.append((i, new))
    return updated, changes


def history_result_row(row: HistoryRow) -> dict[str, Any]:
    """A result-table row (batch results) from the store's :class:`~longbert.store.HistoryRow`."""
    return {
        "document": row.document_name, "status": "ok", "label": row.label,
        "confidence": round(float(row.confidence), 4), "correction": row.corrected_label,
        "correction_id": row.correction_id,
        # The correction's labels one by one ("correction" joins a multi-label one with ", ").
        "correction_labels": None if row.corrected_labels is None else list(row.corrected_labels),
        "labels": ", ".join(row.labels), "strategy": row.strategy,
        "used_tokens": int(row.used_tokens), "total_tokens": int(row.total_tokens),
        "latency_ms": round(float(row.latency_ms), 1), "zero_shot": bool(row.zero_shot),
        "model": row.model_name, "label_set": row.label_set, "error": None,
        "prediction_id": int(row.id), "predicted_labels": list(row.labels),
        "exit_threshold": row.exit_threshold,  # the store read it with recorded_threshold
    }


def batch_rows(store: Store, batch_id: int) -> list[dict[str, Any]]:
    """Every item of an upload batch as a result-table row (pending items marked ``pending``),
    with the source row's own columns (``fields``) and every label's ``probabilities``."""
    rows: list[dict[str, Any]] = []
    for item in store.batch_items(batch_id):
        if item.status == "done" and item.row is not None:
            row = history_result_row(item.row)
            row["probabilities"] = dict(item.row.probabilities)
        elif item.status == "error":
            row = result_row(PredictionError(item.name, item.error or "error"))
        else:
            row = result_row(PredictionError(item.name, ""))
            row.update(status="pending", error=None)
        row["fields"] = dict(item.fields)
        rows.append(row)
    return rows


def history_labels(r: HistoryRow) -> tuple[str, str | None]:
    """A History row's label cells, by :func:`final_label`'s rule: the labels the model chose and
    the correction's (None: no correction), each joined with ", " ("" when no label applies).
    A single-label row shows its one label; a multi-label row its chosen labels, never its top
    label alone: the labels the label filter matches and the label counts count."""
    row = history_result_row(r)
    corrected = correction_labels(row)
    return ", ".join(predicted_labels(row) or []), None if corrected is None else ", ".join(corrected)


def history_row(r: HistoryRow, explained: Sequence[str] = ()) -> dict[str, Any]:
    """One line of the History table (labels: :func:`history_labels`); ``explained``: the
    methods of its stored explanations."""
    label, corrected = history_labels(r)
    return {
        "id": r.id, "when": r.created_at.strftime("%Y-%m-%d %H:%M"), "document": r.document_name,
        "label": label, "corrected": corrected,
        "confidence": round(float(r.confidence), 4), "strategy": r.strategy,
        "model": r.model_name, "exit_threshold": r.exit_threshold, "label_set": r.label_set,
        "tokens": f"{r.used_tokens:,}/{r.total_tokens:,}",
        "latency_ms": round(float(r.latency_ms), 1), "batch": r.batch_id,
        "zero_shot": bool(r.zero_shot), "explained": ", ".join(method_title(m) for m in explained),
    }


def _number_text(value: Any) -> str:
    if pd.isna(value):
        return ""
    number = float(value)
    return str(int(number)) if number.is_integer() else str(round(number, 4))


def table_frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
                keep: Sequence[str] = (), fill: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Rows as a frame with exactly ``columns``, missing cells blank instead of "None".

    Streamlit's tables draw any missing value as a grey "None" (pandas Styler display values do
    not reach those cells), so missing values become empty strings: text columns stay text, and
    a numeric column with gaps becomes text too (its numbers written plainly); its name is
    listed in ``frame.attrs["numeric_text"]`` so a page can right-align it. Columns in ``keep``
    (e.g. a progress bar column, which draws nothing for a missing value) and yes/no columns
    are left as they are. ``fill`` gives other text for the gaps of some text columns.
    """
    frame = pd.DataFrame([{c: row.get(c) for c in columns} for row in rows],
                         columns=list(columns))
    numeric_text: list[str] = []
    for column in frame.columns:
        values = frame[column]
        if column in keep or not values.isna().any():
            continue
        present = values.dropna()
        if len(present) and all(isinstance(v, bool) for v in present):
            continue
        if len(present) and pd.api.types.is_numeric_dtype(values):
            frame[column] = [_number_text(v) for v in values]
            numeric_text.append(str(column))
        else:
            blank = (fill or {}).get(str(column), "")
            frame[column] = values.astype(object).where(values.notna(), blank)
    frame.attrs["numeric_text"] = numeric_text
    return frame


def columns_with_values(rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
                        optional: Sequence[str]) -> list[str]:
    """``columns`` without those ``optional`` ones that no row has a value for (e.g. no
    errors: no error column)."""
    return [c for c in columns
            if c not in optional or any(r.get(c) not in (None, "") for r in rows)]


def newly_selected(selected: Sequence[int], previous: Sequence[int] | None) -> int | None:
    """The table row just ticked: the first selected row when the selection changed, else
    None (a row that stays ticked must not override a later choice made elsewhere)."""
    if not selected or list(selected) == list(previous or []):
        return None
    return int(selected[0])


def history_export(store: Store, filters: HistoryFilter | None, format: str) -> bytes:
    """Every prediction matching ``filters`` (all pages, oldest first) with its latest correction
    and final label, as CSV (UTF-8 with a byte-order mark: :data:`CSV_DOWNLOAD_ENCODING`) or JSON
    Lines (UTF-8): :meth:`Store.export_predictions` into memory."""
    buffer = io.StringIO()
    store.export_predictions(buffer, format=format, filters=filters)
    return buffer.getvalue().encode(CSV_DOWNLOAD_ENCODING if format == "csv" else "utf-8")
