"""The Batch label results table beyond the model's columns: the source row's own columns (id,
title...), a text preview, and, when the upload carries a gold label column, how the batch
scores against it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from longbert.store import Store
from longbert.ui.evaluation import Scores, score
from longbert.ui.tables import RESULT_COLUMNS, final_label, source_columns

#: Source columns taken for a gold label (first match whose values are all batch labels).
GOLD_NAMES = ("gold", "gold_label", "label", "labels", "category", "class", "target", "topic")
#: Where the source columns and the preview go in the table (after the correction).
_AFTER = RESULT_COLUMNS.index("correction") + 1


def display_rows(store: Store, rows: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows for the results table with the source columns flattened in and a ``preview`` of
    each labelled text; returns them and the table's columns."""
    sources = source_columns(rows)
    ids = [int(r["prediction_id"]) for r in rows if r.get("prediction_id") is not None]
    previews = store.text_previews(ids) if ids else {}
    out = []
    for row in rows:
        item = dict(row)
        fields = row.get("fields") or {}
        item.update({column: _cell(fields.get(name)) for name, column in sources.items()})
        pid = row.get("prediction_id")
        item["preview"] = previews.get(int(pid)) if pid is not None else None
        out.append(item)
    columns = [*RESULT_COLUMNS[:_AFTER], *sources.values(), "preview", *RESULT_COLUMNS[_AFTER:]]
    return out, columns


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def gold_column(rows: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> str | None:
    """The source column holding a gold label: named like one (``label``, ``gold``...) and every
    value one of ``labels``; None if there is none."""
    known = set(labels)
    names = {n.lower(): n for r in rows for n in (r.get("fields") or {})}
    for wanted in GOLD_NAMES:
        name = names.get(wanted)
        if name is None:
            continue
        values = [str(v).strip() for r in rows if (v := (r.get("fields") or {}).get(name)) not in (None, "")]
        if values and set(values) <= known:
            return name
    return None


def gold_scores(rows: Sequence[Mapping[str, Any]], labels: Sequence[str]) -> tuple[str, Scores] | None:
    """The batch's labels in force (corrections, else predictions) against the upload's gold
    column: ``(column, scores)``, or None when the upload has no gold column or nothing done."""
    column = gold_column(rows, labels)
    if column is None:
        return None
    pairs = [(str(gold).strip(), final_label(r)) for r in rows
             if r.get("status") == "ok" and (gold := (r.get("fields") or {}).get(column)) not in (None, "")]
    if not pairs:
        return None
    return column, score("this batch", [g for g, _ in pairs], [p for _, p in pairs], labels)
