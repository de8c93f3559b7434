"""Read queries the app needs: filtered history, label distribution, filter choices.

Portable SQL only (joins, ``LIKE`` through ``ilike``, ``max``/``count``); date bucketing is done
in Python so that SQLite and PostgreSQL give the same days. So is the label filter on the rows of
multi-label models: such a row matches by membership in its labels in force (a JSON list, which
SQLite and PostgreSQL query with different functions), so SQL keeps every multi-label candidate
and :class:`LabelMatch` decides; pages and counts are then cut from the rows that match.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
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
)  # fmt: skip
#: Where the ``extra`` columns of :func:`history_select` start in a result row.
EXTRA_START = len(_COLUMNS)
#: Rows of multi-label models (labels in force are a set: matched by membership, counted each).
MULTI_LABEL = ModelRow.multi_label.is_(True)


def history_select(*extra: Any) -> Select[Any]:
    """SELECT of history columns (then ``extra`` ones) over predictions and their joins."""
    return _joined(*_COLUMNS, *extra)


def _joined(*columns: Any) -> Select[Any]:
    """SELECT of ``columns`` over predictions joined to their document, model and the
    correction in force (``Correction``, None where there is none)."""
    return (
        select(*columns)
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
    """The Python half of ``filters``' label condition (None: SQL decides every row): called
    with a row's ``(multi_label, labels, correction id, correction's labels)``, it decides on
    the multi-label rows SQL passes through (see the module doc)."""
    if filters is None or filters.label is None:
        return None
    wanted, label_of = set(_as_list(filters.label)), filters.label_of

    def matches(multi_label: bool | None, predicted: Sequence[str], correction_id: int | None,
                corrected: Sequence[str] | None) -> bool:  # fmt: skip
        if not multi_label:
            return True  # a single-label row reaching here matched in SQL
        chosen = labels_in_force(label_of, predicted, correction_id, corrected)
        return chosen is not None and not wanted.isdisjoint(chosen)

    return matches


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
        # A single-label row's label is its label set; a multi-label row's top label is not (see
        # the module doc): every multi-label candidate stays, :class:`LabelMatch` decides.
        candidate = MULTI_LABEL
        if f.label_of == "corrected":
            candidate = candidate & _LATEST.c.correction_id.is_not(None)
        statement = statement.where(column.in_(_as_list(f.label)) | candidate)
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


def _label_filter_in_python(session: Session, filters: HistoryFilter | None) -> bool:
    """Whether ``filters`` has a label filter with a multi-label row among its SQL candidates
    (then Python decides: :func:`_matching`)."""
    if filters is None or filters.label is None:
        return False
    candidates = apply_filters(_joined(PredictionRow.id), filters).where(MULTI_LABEL)
    return bool(session.scalar(select(candidates.exists())))


#: What :func:`label_match` looks at, in its order.
_LABEL_COLUMNS = (ModelRow.multi_label, PredictionRow.labels, Correction.id, Correction.labels)


def _matching(session: Session, filters: HistoryFilter | None, *columns: Any) -> Iterator[Sequence[Any]]:
    """``columns`` then :data:`_LABEL_COLUMNS` of the predictions matching ``filters``, newest
    first, the label filter decided in Python for multi-label rows."""
    match, start = label_match(filters), len(columns)
    statement = apply_filters(_joined(*columns, *_LABEL_COLUMNS), filters)
    statement = statement.order_by(PredictionRow.created_at.desc(), PredictionRow.id.desc())
    for values in session.execute(statement).yield_per(2000):
        if match is None or match(*values[start:]):
            yield values


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
            if _label_filter_in_python(session, filters):
                matching = [int(values[0]) for values in _matching(session, filters, PredictionRow.id)]
                wanted = matching[offset : offset + limit]
                found = history_rows_by_id(session, wanted)
                return HistoryPage([found[i] for i in wanted], len(matching), limit, offset)
            total = session.scalar(select(func.count()).select_from(filtered.subquery())) or 0
            rows = [to_history_row(values) for values in session.execute(page)]
            return HistoryPage(rows=rows, total=int(total), limit=limit, offset=offset)

        return self._db.read(work)

    def count_predictions(self, filters: HistoryFilter | None = None) -> int:
        """How many predictions match ``filters``."""
        filtered = apply_filters(history_select(), filters).subquery()

        def work(session: Session) -> int:
            if _label_filter_in_python(session, filters):
                return sum(1 for _ in _matching(session, filters, PredictionRow.id))
            return int(session.scalar(select(func.count()).select_from(filtered)) or 0)

        return self._db.read(work)

    def label_distribution(
        self, filters: HistoryFilter | None = None, use_corrections: bool = False
    ) -> list[LabelCount]:
        """Predictions per label per day (UTC), sorted by day then label.

        With ``use_corrections`` a corrected prediction counts under its corrected label. A
        multi-label prediction counts once under each of its labels (the model's chosen ones, or
        its correction's), and under :data:`NO_LABEL` when it has none.
        """
        label_of = "final" if use_corrections else "predicted"

        def work(session: Session) -> list[LabelCount]:
            counts: Counter[tuple[date, str]] = Counter()
            columns = (PredictionRow.created_at, PredictionRow.label, Correction.label)
            for values in _matching(session, filters, *columns):
                created_at, label, corrected, multi, predicted, correction_id, corrected_labels = values
                if multi:
                    chosen = labels_in_force(label_of, predicted, correction_id, corrected_labels)
                    finals = list(dict.fromkeys(chosen or [])) or [NO_LABEL]
                else:
                    final = corrected if use_corrections and correction_id is not None else label
                    finals = [final or NO_LABEL]
                for final in finals:
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

            # Labels predicted or set by a person (a text may be corrected *to* a label no
            # prediction has), one by one: a multi-label correction's label column joins its
            # labels ("" for none), so its list is read; and a multi-label model may choose any
            # of its labels, not only the top one stored as a prediction's label.
            corrections = (
                select(CorrectionRow.label, CorrectionRow.labels, ModelRow.multi_label)
                .join(PredictionRow, PredictionRow.id == CorrectionRow.prediction_id)
                .join(ModelRow, ModelRow.id == PredictionRow.model_id)
            )
            labels = set(distinct(PredictionRow.label))
            for label, listed, multi in session.execute(corrections):
                labels.update(map(str, listed or []) if multi else [label])
            for listed in session.scalars(select(ModelRow.labels).where(MULTI_LABEL)):
                labels.update(map(str, listed or []))
            return {
                "model": distinct(ModelRow.name),
                "label": sorted(labels),
                "strategy": distinct(PredictionRow.strategy),
                "source": distinct(PredictionRow.source),
                "label_set": distinct(PredictionRow.label_set),
            }

        return self._db.read(work)
