"""Read queries the app needs: filtered history, label distribution, filter choices.

Portable SQL only (joins, ``LIKE`` through ``ilike``, ``max``/``count``); date bucketing is done
in Python so that SQLite and PostgreSQL give the same days.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from longbert.errors import StoreError
from longbert.store.engine import Database, chunked
from longbert.store.records import HistoryFilter, HistoryPage, HistoryRow, LabelCount
from longbert.store.schema import CorrectionRow, DocumentRow, ModelRow, PredictionRow

#: The label a label count gives a multi-label correction that no label applies ("" stored).
NO_LABEL = "(no label)"
#: What :attr:`HistoryFilter.label_of` may name.
LABEL_OF = ("final", "predicted", "corrected")

# The latest correction of each prediction: highest id wins (ids grow with time).
_LATEST = (
    select(
        CorrectionRow.prediction_id.label("prediction_id"),
        func.max(CorrectionRow.id).label("correction_id"),
    )
    .group_by(CorrectionRow.prediction_id)
    .subquery("latest_correction")
)
Correction = aliased(CorrectionRow, name="correction")

#: Columns of a history row, in :class:`HistoryRow` order (plus correction note and time).
_COLUMNS = (
    PredictionRow.id,
    PredictionRow.created_at,
    PredictionRow.document_name,
    DocumentRow.sha256,
    PredictionRow.source,
    ModelRow.name,
    PredictionRow.strategy,
    PredictionRow.label,
    PredictionRow.labels,
    PredictionRow.probabilities,
    PredictionRow.used_tokens,
    PredictionRow.total_tokens,
    PredictionRow.latency_ms,
    PredictionRow.batch_id,
    PredictionRow.zero_shot,
    Correction.label,
    Correction.labels,
    Correction.note,
    Correction.created_at,
    PredictionRow.label_set,
    Correction.id,
)
#: Where the ``extra`` columns of :func:`history_select` start in a result row.
EXTRA_START = len(_COLUMNS)


def history_select(*extra: Any) -> Select[Any]:
    """SELECT of history columns (then ``extra`` ones) over predictions and their joins."""
    return (
        select(*_COLUMNS, *extra)
        .join(DocumentRow, DocumentRow.id == PredictionRow.document_id)
        .join(ModelRow, ModelRow.id == PredictionRow.model_id)
        .outerjoin(_LATEST, _LATEST.c.prediction_id == PredictionRow.id)
        .outerjoin(Correction, Correction.id == _LATEST.c.correction_id)
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
    )


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


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
        statement = statement.where(ModelRow.name.in_(_as_list(f.model)))
    if f.label is not None:
        if f.label_of not in LABEL_OF:
            raise StoreError(f"label_of must be one of {', '.join(LABEL_OF)}, got {f.label_of!r}.")
        column = {"predicted": PredictionRow.label, "corrected": Correction.label,
                  "final": func.coalesce(Correction.label, PredictionRow.label)}[f.label_of]
        statement = statement.where(column.in_(_as_list(f.label)))
    if f.label_set is not None:
        statement = statement.where(PredictionRow.label_set.in_(_as_list(f.label_set)))
    if f.prediction_ids is not None:
        statement = statement.where(PredictionRow.id.in_([int(i) for i in f.prediction_ids]))
    if f.strategy is not None:
        statement = statement.where(PredictionRow.strategy.in_(_as_list(f.strategy)))
    if f.source is not None:
        statement = statement.where(PredictionRow.source.in_(_as_list(f.source)))
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
        has = _LATEST.c.correction_id.is_not(None)
        statement = statement.where(has if f.corrected else ~has)
    if f.zero_shot is not None:
        statement = statement.where(PredictionRow.zero_shot.is_(f.zero_shot))
    return statement


def history_rows_by_id(session: Session, ids: Iterable[int]) -> dict[int, HistoryRow]:
    """History rows for the given prediction ids (in chunks: bound-parameter limits)."""
    wanted = list(ids)
    rows: dict[int, HistoryRow] = {}
    for chunk in chunked(wanted):
        for values in session.execute(history_select().where(PredictionRow.id.in_(chunk))):
            row = to_history_row(values)
            rows[row.id] = row
    return rows


class QueriesMixin:
    """Query methods of :class:`~longbert.store.Store`."""

    _db: Database

    def history(self, filters: HistoryFilter | None = None, limit: int = 50, offset: int = 0) -> HistoryPage:
        """One page of predictions matching ``filters``, newest first, with the total count."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must be >= 0")
        filtered = apply_filters(history_select(), filters)
        page = filtered.order_by(PredictionRow.created_at.desc(), PredictionRow.id.desc())
        page = page.limit(limit).offset(offset)

        def work(session: Session) -> HistoryPage:
            total = session.scalar(select(func.count()).select_from(filtered.subquery())) or 0
            rows = [to_history_row(values) for values in session.execute(page)]
            return HistoryPage(rows=rows, total=int(total), limit=limit, offset=offset)

        return self._db.read(work)

    def count_predictions(self, filters: HistoryFilter | None = None) -> int:
        """How many predictions match ``filters``."""
        filtered = apply_filters(history_select(), filters).subquery()
        return int(self._db.read(lambda s: s.scalar(select(func.count()).select_from(filtered))) or 0)

    def label_distribution(
        self, filters: HistoryFilter | None = None, use_corrections: bool = False
    ) -> list[LabelCount]:
        """Predictions per label per day (UTC), sorted by day then label.

        With ``use_corrections`` a corrected prediction counts under its corrected label.
        """
        statement = apply_filters(
            select(PredictionRow.created_at, PredictionRow.label, Correction.label)
            .join(DocumentRow, DocumentRow.id == PredictionRow.document_id)
            .join(ModelRow, ModelRow.id == PredictionRow.model_id)
            .outerjoin(_LATEST, _LATEST.c.prediction_id == PredictionRow.id)
            .outerjoin(Correction, Correction.id == _LATEST.c.correction_id),
            filters,
        )

        def work(session: Session) -> list[LabelCount]:
            counts: Counter[tuple[date, str]] = Counter()
            for created_at, label, corrected in session.execute(statement).yield_per(2000):
                final = corrected if use_corrections and corrected is not None else label
                final = final or NO_LABEL  # a multi-label correction that no label applies
                counts[(created_at.date(), final)] += 1
            return [LabelCount(day, label, n) for (day, label), n in sorted(counts.items())]

        return self._db.read(work)

    def text_previews(self, prediction_ids: Iterable[int], chars: int = 160) -> dict[int, str]:
        """prediction id → the first ``chars`` characters of its document's text (one line)."""
        wanted = [int(i) for i in prediction_ids]

        def work(session: Session) -> dict[int, str]:
            found: dict[int, str] = {}
            for chunk in chunked(wanted):
                statement = (
                    select(PredictionRow.id, func.substr(DocumentRow.text, 1, chars + 1))
                    .join(DocumentRow, DocumentRow.id == PredictionRow.document_id)
                    .where(PredictionRow.id.in_(chunk))
                )
                for prediction_id, head in session.execute(statement):
                    text = " ".join(str(head or "").split())
                    found[prediction_id] = text[:chars] + ("…" if len(text) > chars else "")
            return found

        return self._db.read(work)

    def document_texts(self, prediction_ids: Iterable[int]) -> dict[int, str]:
        """prediction id → its document's full text."""
        wanted = [int(i) for i in prediction_ids]

        def work(session: Session) -> dict[int, str]:
            found: dict[int, str] = {}
            for chunk in chunked(wanted):
                statement = (
                    select(PredictionRow.id, DocumentRow.text)
                    .join(DocumentRow, DocumentRow.id == PredictionRow.document_id)
                    .where(PredictionRow.id.in_(chunk))
                )
                found.update(dict(session.execute(statement).tuples().all()))
            return found

        return self._db.read(work)

    def tagged_predictions(
        self, key: str, *, label_set: str, source: str
    ) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """What an import stored before, so that importing a file again adds nothing twice:
        ``(str(extra[key]), document SHA-256)`` → the predictions from ``source`` under
        ``label_set`` whose ``extra`` holds ``key`` (e.g. a Label Studio task id), oldest first,
        each as ``{"id", "extra", "labels", "notes"}``: its ``extra``, the labels a correction of
        it may use (its model's and its own), and the notes of its corrections, oldest first."""
        statement = (
            select(
                PredictionRow.id,
                PredictionRow.extra,
                DocumentRow.sha256,
                ModelRow.labels,
                PredictionRow.probabilities,
            )
            .join(DocumentRow, DocumentRow.id == PredictionRow.document_id)
            .join(ModelRow, ModelRow.id == PredictionRow.model_id)
            .where(PredictionRow.label_set == label_set, PredictionRow.source == source)
            .order_by(PredictionRow.id)
        )
        notes = (
            select(CorrectionRow.prediction_id, CorrectionRow.note)
            .join(PredictionRow, PredictionRow.id == CorrectionRow.prediction_id)
            .where(PredictionRow.label_set == label_set, PredictionRow.source == source)
            .order_by(CorrectionRow.id)
        )

        def work(session: Session) -> dict[tuple[str, str], list[dict[str, Any]]]:
            written: dict[int, list[str]] = {}
            for prediction_id, note in session.execute(notes):
                if note is not None:
                    written.setdefault(int(prediction_id), []).append(str(note))
            found: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for prediction_id, extra, sha256, labels, probabilities in session.execute(statement):
                if isinstance(extra, dict) and extra.get(key) is not None:
                    found.setdefault((str(extra[key]), str(sha256)), []).append(
                        {
                            "id": int(prediction_id),
                            "extra": dict(extra),
                            "labels": list(dict.fromkeys([*(labels or []), *(probabilities or {})])),
                            "notes": written.get(int(prediction_id), []),
                        }
                    )
            return found

        return self._db.read(work)

    def filter_options(self) -> dict[str, list[Any]]:
        """Values present in the data, for filter widgets: models, labels, strategies, sources."""

        def work(session: Session) -> dict[str, list[Any]]:
            def distinct(column: Any) -> list[Any]:
                return sorted(v for v in session.scalars(select(column).distinct()) if v is not None)

            return {
                "model": distinct(ModelRow.name),
                # Labels predicted or set by a person (a text may be corrected *to* a label no
                # prediction has).
                "label": sorted(set(distinct(PredictionRow.label)) | set(distinct(CorrectionRow.label))),
                "strategy": distinct(PredictionRow.strategy),
                "source": distinct(PredictionRow.source),
                "label_set": distinct(PredictionRow.label_set),
            }

        return self._db.read(work)
