"""The SQL of the history: the SELECT of history rows (a prediction joined to its document, model
and the correction in force) and the conditions of a :class:`HistoryFilter`.

Every condition is SQL, so pages, counts, label counts and exports are cut by the database.
Portable SQL only, except one construct: the label filter matches a multi-label row by
membership in its labels in force (a JSON list), and SQLite and PostgreSQL list a JSON array's
items with different functions (:class:`JsonListItems`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from longbert.errors import StoreError
from longbert.exit_threshold import recorded_threshold
from longbert.store.records import HistoryFilter, HistoryRow
from longbert.store.schema import CorrectionRow, DocumentRow, ModelRow, PredictionRow

#: What :attr:`HistoryFilter.label_of` may name.
LABEL_OF = ("final", "predicted", "corrected")

# The latest correction of each prediction: highest id wins (ids grow with time).
LATEST = (
    select(
        CorrectionRow.prediction_id.label("prediction_id"),
        func.max(CorrectionRow.id).label("correction_id"),
    )
    .group_by(CorrectionRow.prediction_id)
    .subquery("latest_correction")
)
#: The correction in force of a history row (None where there is none).
Correction = aliased(CorrectionRow, name="correction")

#: Columns of a history row, in :class:`HistoryRow` order (plus correction note and time, and
#: whether the model is multi-label), with their positions in a result row.
_COLUMNS = (
    PredictionRow.id, PredictionRow.created_at, PredictionRow.document_name,  # 0-2
    DocumentRow.sha256, PredictionRow.source, ModelRow.name, PredictionRow.strategy,  # 3-6
    PredictionRow.label, PredictionRow.labels, PredictionRow.probabilities,  # 7-9
    PredictionRow.used_tokens, PredictionRow.total_tokens, PredictionRow.latency_ms,  # 10-12
    PredictionRow.batch_id, PredictionRow.zero_shot,  # 13-14
    Correction.label, Correction.labels, Correction.note, Correction.created_at,  # 15-18
    PredictionRow.label_set, Correction.id, ModelRow.multi_label,  # 19-21
    PredictionRow.extra,  # 22: read for its "exit_threshold" (to_history_row)
)  # fmt: skip
#: Where the ``extra`` columns of :func:`history_select` start in a result row.
EXTRA_START = len(_COLUMNS)
#: Rows of multi-label models (labels in force are a set: matched by membership, counted each).
MULTI_LABEL = ModelRow.multi_label.is_(True)


def history_select(*extra: Any) -> Select[Any]:
    """SELECT of history columns (then ``extra`` ones) over predictions and their joins."""
    return joined(*_COLUMNS, *extra)


def joined(*columns: Any) -> Select[Any]:
    """SELECT of ``columns`` over predictions joined to their document, model and the
    correction in force (``Correction``, None where there is none)."""
    return (
        select(*columns)
        .join(DocumentRow, DocumentRow.id == PredictionRow.document_id)
        .join(ModelRow, ModelRow.id == PredictionRow.model_id)
        .outerjoin(LATEST, LATEST.c.prediction_id == PredictionRow.id)
        .outerjoin(Correction, Correction.id == LATEST.c.correction_id)
    )


def to_history_row(values: Sequence[Any]) -> HistoryRow:
    """A :class:`HistoryRow` from the first columns of a :func:`history_select` result row."""
    label = values[7]
    probabilities = values[9] or {}
    return HistoryRow(
        id=values[0],
        created_at=values[1],
        document_name=values[2],
        document_sha256=values[3],
        source=values[4],
        model_name=values[5],
        strategy=values[6],
        label=label,
        labels=list(values[8]),
        confidence=float(probabilities.get(label, float("nan"))),
        used_tokens=values[10],
        total_tokens=values[11],
        latency_ms=values[12],
        batch_id=values[13],
        zero_shot=bool(values[14]),
        corrected_label=values[15],
        corrected_labels=list(values[16]) if values[16] is not None else None,
        label_set=values[19],
        correction_id=values[20],
        probabilities={str(k): float(v) for k, v in probabilities.items()},
        exit_threshold=_exit_threshold(values[22]),
    )


def _exit_threshold(extra: Any) -> float | None:
    """The early-exit threshold a prediction's ``extra`` records (None: none, as in rows saved
    before it was recorded). The whole ``extra`` is read rather than its one key in SQL: no
    JSON path function differs between databases, and one odd row cannot fail a page."""
    return recorded_threshold(extra.get("exit_threshold")) if isinstance(extra, dict) else None


def as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def labels_in_force(
    label_of: str, predicted: Sequence[str], correction_id: int | None, corrected: Sequence[str] | None
) -> list[str] | None:
    """The labels a label filter looks at (``label_of``, see :data:`LABEL_OF`): the model's
    chosen labels, the correction's (None: there is no correction), or the correction's where
    there is one (one correction decides, even one of no label), else the model's."""
    if label_of == "predicted":
        return list(predicted or [])
    if correction_id is None:
        return None if label_of == "corrected" else list(predicted or [])
    return list(corrected or [])


def label_match(filters: HistoryFilter | None) -> Callable[..., bool] | None:
    """The label condition of ``filters`` in Python (None: no label filter), called with a row's
    ``(multi_label, labels, correction id, correction's labels)``. SQL decides every row
    (:func:`apply_filters`); this states the same rule for callers that check rows again."""
    if filters is None or filters.label is None:
        return None
    wanted, label_of = set(as_list(filters.label)), filters.label_of

    def matches(multi_label: bool | None, predicted: Sequence[str], correction_id: int | None,
                corrected: Sequence[str] | None) -> bool:  # fmt: skip
        if not multi_label:
            return True  # a single-label row's one label was matched in SQL
        chosen = labels_in_force(label_of, predicted, correction_id, corrected)
        return chosen is not None and not wanted.isdisjoint(chosen)

    return matches


class JsonListItems(FunctionElement[Any]):
    """The items of a JSON list (of strings) as rows of text, in a column named ``value``: a
    table-valued function (``JsonListItems(column).table_valued("value")``). SQLite calls it
    ``json_each``; PostgreSQL ``json_array_elements_text``, on the schema's ``JSON`` columns
    (the cast lets a ``JSONB`` column work too)."""

    inherit_cache = True
    name = "json_list_items"


@compiles(JsonListItems, "sqlite")
def _json_each(element: JsonListItems, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_each({compiler.process(element.clauses, **kw)})"


@compiles(JsonListItems, "postgresql")
def _json_array_elements_text(element: JsonListItems, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_array_elements_text(CAST({compiler.process(element.clauses, **kw)} AS JSON))"


@compiles(JsonListItems)
def _unsupported(element: JsonListItems, compiler: SQLCompiler, **kw: Any) -> str:
    raise StoreError(
        "The label filter (a multi-label prediction matches by its list of labels) needs an "
        f"SQLite or PostgreSQL database, not {compiler.dialect.name}."
    )


def lists_any_of(column: Any, wanted: Sequence[str]) -> ColumnElement[bool]:
    """Whether the JSON list ``column`` holds any of ``wanted`` (false where it is NULL)."""
    items = JsonListItems(column).table_valued("value")
    return exists(select(1).select_from(items).where(items.c.value.in_(list(wanted))))


def label_condition(labels: str | Sequence[str], label_of: str) -> ColumnElement[bool]:
    """A row has one of ``labels`` as the label(s) ``label_of`` names (:data:`LABEL_OF`).

    A single-label row's label column is its label. A multi-label row's is not (it holds the
    model's top label, chosen or not, and a correction's labels joined with ", "): such a row
    matches by membership in its list of labels in force (:func:`labels_in_force`)."""
    if label_of not in LABEL_OF:
        raise StoreError(f"label_of must be one of {', '.join(LABEL_OF)}, got {label_of!r}.")
    wanted = as_list(labels)
    corrected = Correction.id.is_not(None)
    if label_of == "predicted":
        single, member = PredictionRow.label, lists_any_of(PredictionRow.labels, wanted)
    elif label_of == "corrected":
        single, member = Correction.label, lists_any_of(Correction.labels, wanted)
    else:
        single = func.coalesce(Correction.label, PredictionRow.label)
        member = (corrected & lists_any_of(Correction.labels, wanted)) | (
            ~corrected & lists_any_of(PredictionRow.labels, wanted)
        )
    return (MULTI_LABEL & member) | (ModelRow.multi_label.is_not(True) & single.in_(wanted))


def _bound(value: date | datetime, end: bool) -> datetime:
    """A filter bound as aware UTC: a date covers its whole day; naive datetimes are UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    start = datetime.combine(value, time.min, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def apply_filters(statement: Select[Any], filters: HistoryFilter | None) -> Select[Any]:
    """Add a :class:`HistoryFilter`'s conditions to a :func:`history_select` statement."""
    if filters is None:
        return statement
    f = filters
    if f.model is not None:
        statement = statement.where(ModelRow.name.in_(as_list(f.model)))
    if f.label is not None:
        statement = statement.where(label_condition(f.label, f.label_of))
    if f.label_set is not None:
        statement = statement.where(PredictionRow.label_set.in_(as_list(f.label_set)))
    if f.prediction_ids is not None:
        statement = statement.where(PredictionRow.id.in_([int(i) for i in f.prediction_ids]))
    if f.strategy is not None:
        statement = statement.where(PredictionRow.strategy.in_(as_list(f.strategy)))
    if f.source is not None:
        statement = statement.where(PredictionRow.source.in_(as_list(f.source)))
    if f.batch_id is not None:
        statement = statement.where(PredictionRow.batch_id == f.batch_id)
    if f.since is not None:
        statement = statement.where(PredictionRow.created_at >= _bound(f.since, end=False))
    if f.until is not None:
        until = _bound(f.until, end=True)
        if isinstance(f.until, datetime):
            statement = statement.where(PredictionRow.created_at <= until)
        else:
            statement = statement.where(PredictionRow.created_at < until)
    if f.text:
        pattern = _like_pattern(f.text)
        statement = statement.where(
            DocumentRow.text.ilike(pattern, escape="\\")
            | PredictionRow.document_name.ilike(pattern, escape="\\")
        )
    if f.corrected is not None:
        has = LATEST.c.correction_id.is_not(None)
        statement = statement.where(has if f.corrected else ~has)
    if f.zero_shot is not None:
        statement = statement.where(PredictionRow.zero_shot.is_(f.zero_shot))
    return statement
