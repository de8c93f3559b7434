"""Corrections: the label(s) a person set for a prediction. The latest one per prediction wins."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from longbert.errors import StoreError
from longbert.store.engine import Database
from longbert.store.records import CorrectionRecord, RecordNotFoundError
from longbert.store.schema import CorrectionRow, ModelRow, PredictionRow, utcnow


def correction_record(row: CorrectionRow) -> CorrectionRecord:
    """The record of a correction row."""
    return CorrectionRecord(
        id=row.id,
        prediction_id=row.prediction_id,
        label=row.label,
        labels=list(row.labels),
        note=row.note,
        created_at=row.created_at,
    )


class CorrectionsMixin:
    """Correction methods of :class:`~longbert.store.Store`."""

    _db: Database

    def add_correction(self, prediction_id: int, label: str | Sequence[str], note: str | None = None) -> int:
        """Record the label(s) a person set for a prediction; returns the correction id.

        Single-label models take one label; multi-label models a list (possibly empty). Labels
        must be among the model's labels. The latest correction of a prediction is in force.
        """
        wanted = [label] if isinstance(label, str) else [str(item) for item in label]

        def work(session: Session) -> int:
            row = session.get(PredictionRow, prediction_id)
            if row is None:
                raise RecordNotFoundError(f"There is no prediction {prediction_id} to correct.")
            model = session.get_one(ModelRow, row.model_id)
            known = list(dict.fromkeys([*model.labels, *row.probabilities]))
            unknown = [item for item in wanted if item not in known]
            if unknown:
                raise StoreError(
                    f"Unknown label(s) {', '.join(map(repr, unknown))} for model '{model.name}'; "
                    f"its labels are {', '.join(known)}."
                )
            if not model.multi_label and len(wanted) != 1:
                raise StoreError(
                    f"Model '{model.name}' is single-label: a correction needs exactly one label."
                )
            correction = CorrectionRow(
                prediction_id=prediction_id,
                label=", ".join(wanted),
                labels=wanted,
                note=note,
                created_at=utcnow(),
            )
            session.add(correction)
            session.flush()
            return correction.id

        return self._db.write(work)

    def list_corrections(self, prediction_id: int) -> list[CorrectionRecord]:
        """A prediction's corrections, oldest first."""
        statement = (
            select(CorrectionRow)
            .where(CorrectionRow.prediction_id == prediction_id)
            .order_by(CorrectionRow.id)
        )
        return self._db.read(lambda s: [correction_record(c) for c in s.scalars(statement)])
