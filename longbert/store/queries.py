"""Read queries the app needs: filtered history, label distribution, filter choices.

The SELECT of history rows and the filters' conditions are in :mod:`longbert.store.history_sql`
(re-exported here): every filter is SQL, so pages and counts are cut by the database. Date
bucketing is done in Python so that SQLite and PostgreSQL give the same days.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from longbert.store.engine import Database, chunked
from longbert.store.history_sql import (
    MULTI_LABEL,
    Correction,
    apply_filters,
    history_select,
    joined,
    labels_in_force,
    to_history_row,
)
from longbert.store.records import HistoryFilter, HistoryPage, HistoryRow, LabelCount
from longbert.store.schema import CorrectionRow, DocumentRow, ModelRow, PredictionRow

#: The label a label count gives a multi-label prediction that no label applies to.
NO_LABEL = "(no label)"


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
        page = apply_filters(history_select(), filters)
        page = page.order_by(PredictionRow.created_at.desc(), PredictionRow.id.desc())
        page = page.limit(limit).offset(offset)
        matching = apply_filters(joined(PredictionRow.id), filters).subquery()

        def work(session: Session) -> HistoryPage:
            total = session.scalar(select(func.count()).select_from(matching)) or 0
            rows = [to_history_row(values) for values in session.execute(page)]
            return HistoryPage(rows=rows, total=int(total), limit=limit, offset=offset)

        return self._db.read(work)

    def count_predictions(self, filters: HistoryFilter | None = None) -> int:
        """How many predictions match ``filters``."""
        matching = apply_filters(joined(PredictionRow.id), filters).subquery()

        def work(session: Session) -> int:
            return int(session.scalar(select(func.count()).select_from(matching)) or 0)

        return self._db.read(work)

    def label_distribution(
        self, filters: HistoryFilter | None = None, use_corrections: bool = False
    ) -> list[LabelCount]:
        """Predictions per label per day (UTC), sorted by day then label.

        Counts the predictions matching ``filters`` (the rows History lists), each under the
        labels it has: the model's chosen ones, or with ``use_corrections`` the labels in force
        (a person's correction where there is one). A multi-label prediction counts once under
        each of its labels, and under :data:`NO_LABEL` when it has none. So under a label filter
        the other labels of the matching predictions are counted too: the counts are of what
        the listed rows carry, as History's label and corrected columns show it.
        """
        label_of = "final" if use_corrections else "predicted"
        columns = (PredictionRow.created_at, PredictionRow.label, Correction.label,
                   ModelRow.multi_label, PredictionRow.labels, Correction.id, Correction.labels)  # fmt: skip
        statement = apply_filters(joined(*columns), filters)

        def work(session: Session) -> list[LabelCount]:
            counts: Counter[tuple[date, str]] = Counter()
            for values in session.execute(statement).yield_per(2000):
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
        """Values present in the data, for filter widgets: models, labels, strategies, sources.

        Labels are single labels, each one a label filter can match: those predicted (a
        multi-label model's chosen ones, and its top label, one of its labels), those set by a
        person (a text may be corrected *to* a label no prediction has) and every label of a
        multi-label model. Each is a ``DISTINCT`` in SQL, so a rerun reads a few rows however
        many predictions and corrections there are.
        """

        def work(session: Session) -> dict[str, list[Any]]:
            def distinct(column: Any) -> list[Any]:
                return sorted(v for v in session.scalars(select(column).distinct()) if v is not None)

            def listed(column: Any, *where: Any) -> set[str]:
                # The distinct lists as JSON text (few: one per combination of labels), read
                # back one by one: a label may hold ", ", so the joined label column is not.
                # (PostgreSQL's JSON type has no equality: DISTINCT needs the text.)
                found: set[str] = set()
                for text in session.scalars(select(cast(column, Text)).where(*where).distinct()):
                    found.update(map(str, (json.loads(text) if text else None) or []))
                return found

            labels = set(distinct(PredictionRow.label)) | listed(CorrectionRow.labels)
            multi_label_models = select(ModelRow.id).where(MULTI_LABEL)
            labels |= listed(ModelRow.labels, MULTI_LABEL)
            labels |= listed(PredictionRow.labels, PredictionRow.model_id.in_(multi_label_models))
            return {
                "model": distinct(ModelRow.name),
                "label": sorted(labels),
                "strategy": distinct(PredictionRow.strategy),
                "source": distinct(PredictionRow.source),
                "label_set": distinct(PredictionRow.label_set),
            }

        return self._db.read(work)
