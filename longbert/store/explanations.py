"""Stored explanations: why a prediction got its label, kept beside it like its attention summary.

One row per prediction, method and explained label holds the explanation's compact dict
(:meth:`~longbert.explain.Explanation.to_dict`: sentence spans and scores, the top sentences'
word scores, the seconds it took). Computing the same one again replaces it; the other methods'
rows are kept. Rows go with their prediction (``ON DELETE CASCADE``).

``longbert.explain`` is imported inside the methods: its package loads torch, which the store
itself never needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from longbert.errors import StoreError
from longbert.store.convert import jsonable
from longbert.store.engine import Database, get_row
from longbert.store.schema import ExplanationRow, PredictionRow, utcnow

if TYPE_CHECKING:
    from longbert.explain.result import Explanation


@dataclass(frozen=True)
class ExplanationRecord:
    """A stored explanation of prediction ``prediction_id``, computed (last) at ``created_at``."""

    id: int
    prediction_id: int
    created_at: datetime
    explanation: Explanation

    @property
    def method(self) -> str:
        return self.explanation.method


class ExplanationsMixin:
    """Explanation methods of :class:`~longbert.store.Store`."""

    _db: Database

    def save_explanation(self, prediction_id: int, explanation: Explanation) -> ExplanationRecord:
        """Keep ``explanation`` with prediction ``prediction_id``, replacing an earlier one of the
        same method and label (other methods' are kept).

        Raises:
            RecordNotFoundError: there is no such prediction.
            StoreError: not an Explanation, or it explains a label the prediction does not have.
        """
        from longbert.explain.result import METHODS, Explanation

        if not isinstance(explanation, Explanation):
            raise StoreError(f"save_explanation takes an Explanation, got {type(explanation).__name__}.")
        if explanation.method not in METHODS:
            raise StoreError(f"Unknown explanation method {explanation.method!r}.")
        payload = jsonable(explanation.to_dict(), "the explanation")

        def work(session: Session) -> ExplanationRecord:
            prediction = get_row(
                session, PredictionRow, prediction_id, f"There is no prediction {prediction_id}."
            )
            if explanation.label not in prediction.probabilities:
                raise StoreError(
                    f"Prediction {prediction_id} has no label '{explanation.label}' (its labels: "
                    f"{', '.join(prediction.probabilities)}); the explanation was not saved."
                )
            row = _upsert(session, prediction_id, explanation.method, explanation.label, payload)
            return _record(row)

        return self._db.write(work)

    def explanation_records(self, prediction_id: int) -> list[ExplanationRecord]:
        """Every stored explanation of a prediction, in :data:`~longbert.explain.METHODS` order
        (then by label); empty when none was computed or the prediction does not exist."""
        from longbert.explain.result import METHODS

        statement = select(ExplanationRow).where(ExplanationRow.prediction_id == prediction_id)
        records = self._db.read_all(statement, _record)
        order = {method: i for i, method in enumerate(METHODS)}
        return sorted(records, key=lambda r: (order.get(r.method, len(order)), r.explanation.label))

    def explained_methods(self, prediction_ids: Sequence[int]) -> dict[int, list[str]]:
        """For each of ``prediction_ids`` that has stored explanations, their methods (sorted;
        one query, for tables that mark explained predictions)."""
        if not prediction_ids:
            return {}
        statement = select(ExplanationRow.prediction_id, ExplanationRow.method).where(
            ExplanationRow.prediction_id.in_(list(prediction_ids))
        )
        found: dict[int, set[str]] = {}
        for prediction_id, method in self._db.read(lambda session: session.execute(statement).all()):
            found.setdefault(int(prediction_id), set()).add(str(method))
        return {k: sorted(v) for k, v in found.items()}

    def explanations_for(self, prediction_id: int) -> list[Explanation]:
        """The stored explanations of a prediction (see :meth:`explanation_records`)."""
        return [record.explanation for record in self.explanation_records(prediction_id)]


def _upsert(session: Session, prediction_id: int, method: str, label: str, payload: dict) -> ExplanationRow:
    """The row for (prediction, method, label) holding ``payload`` (race-safe on PostgreSQL)."""
    statement = select(ExplanationRow).where(
        ExplanationRow.prediction_id == prediction_id,
        ExplanationRow.method == method,
        ExplanationRow.label == label,
    )
    for _ in range(2):
        row = session.scalar(statement.with_for_update())
        if row is not None:
            row.payload, row.created_at = payload, utcnow()
            session.flush()
            return row
        try:
            # Savepoint: on PostgreSQL a concurrent session may insert the same key first; then
            # the second pass replaces its row.
            with session.begin_nested():
                row = ExplanationRow(
                    prediction_id=prediction_id, method=method, label=label, payload=payload,
                    created_at=utcnow(),
                )  # fmt: skip
                session.add(row)
            return row
        except IntegrityError:
            continue
    raise StoreError(f"Could not save the {method} explanation of prediction {prediction_id}; try again.")


def _record(row: ExplanationRow) -> ExplanationRecord:
    from longbert.explain.result import Explanation

    try:
        explanation = Explanation.from_dict(dict(row.payload))
    except ValueError as error:
        raise StoreError(f"The stored explanation #{row.id} cannot be read: {error}") from error
    return ExplanationRecord(
        id=row.id, prediction_id=row.prediction_id, created_at=row.created_at, explanation=explanation
    )
