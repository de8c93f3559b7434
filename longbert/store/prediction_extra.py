"""Adding to a stored prediction's ``extra`` after it was saved.

The :class:`~longbert.store.Store` has no method for this (a prediction is otherwise written
once); an import that must remember, durably, what it already stored on a prediction (e.g. the
Label Studio annotations it made corrections of, so that one a person took back is not imported
again) keeps that list in ``extra``, added to here in one short transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from longbert.store.engine import get_row
from longbert.store.schema import PredictionRow
from longbert.store.store import Store


def extend_prediction_extra(store: Store, prediction_id: int, key: str, values: Sequence[str]) -> None:
    """Add ``values`` (those not there yet, in order) to the list ``extra[key]`` of a stored
    prediction (made when absent); the prediction is locked meanwhile, so two imports at once
    lose neither's values.

    Raises:
        RecordNotFoundError: there is no such prediction.
    """

    def work(session: Session) -> None:
        row = get_row(
            session, PredictionRow, prediction_id, f"There is no prediction {prediction_id}.", lock=True
        )
        extra = dict(row.extra or {})
        current = [str(value) for value in extra.get(key) or []]
        extra[key] = current + [str(v) for v in dict.fromkeys(values) if str(v) not in current]
        row.extra = extra

    store._db.write(work)  # the store package's own access to its database
