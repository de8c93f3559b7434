"""Saved label sets: a name, its labels in order and a description of each. Chosen by name on
every page (zero-shot reads the descriptions), recorded with each prediction
(``predictions.label_set``), so one model name used with several label sets stays told apart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from longbert.errors import StoreError
from longbert.store.engine import Database
from longbert.store.records import LabelSetRecord
from longbert.store.schema import LabelSetRow, ModelRow, PredictionRow, utcnow


def _record(row: LabelSetRow) -> LabelSetRecord:
    return LabelSetRecord(
        id=row.id,
        name=row.name,
        labels=[str(label) for label in row.labels],
        descriptions={str(k): str(v) for k, v in row.descriptions.items()},
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _checked(name: str, labels: Mapping[str, str] | Sequence[str]) -> tuple[str, list[str], dict[str, str]]:
    name = " ".join(str(name).split())
    if not name:
        raise StoreError("A label set needs a name.")
    if len(name) > 255:
        raise StoreError("A label set's name must be at most 255 characters.")
    if isinstance(labels, str):
        raise StoreError(f"labels must be a list or a label → description mapping, got {labels!r}.")
    descriptions = (
        {str(k).strip(): str(v).strip() or str(k).strip() for k, v in labels.items()}
        if isinstance(labels, Mapping)
        else {str(k).strip(): str(k).strip() for k in labels}
    )
    names = list(descriptions)
    if len(names) < 2 or any(not label for label in names):
        raise StoreError("A label set needs at least two non-empty labels.")
    if len(set(names)) != len(names) or len(names) != len(list(labels)):
        raise StoreError("A label set cannot name a label twice.")
    return name, names, descriptions


class LabelSetsMixin:
    """Label-set methods of :class:`~longbert.store.Store`."""

    _db: Database

    def save_label_set(self, name: str, labels: Mapping[str, str] | Sequence[str]) -> LabelSetRecord:
        """Save (or replace) the label set ``name``: a list of labels, or ``{label: description}``
        (a label's description defaults to its name). Predictions keep the name they were made
        with; replacing the labels changes what later predictions use."""
        name, names, descriptions = _checked(name, labels)

        def work(session: Session) -> LabelSetRecord:
            row = session.scalar(select(LabelSetRow).where(LabelSetRow.name == name).with_for_update())
            now = utcnow()
            if row is None:
                row = LabelSetRow(name=name, labels=names, descriptions=descriptions,
                                  created_at=now, updated_at=now)
                session.add(row)
            else:
                row.labels, row.descriptions, row.updated_at = names, descriptions, now
            session.flush()
            return _record(row)

        return self._db.write(work)

    def list_label_sets(self) -> list[LabelSetRecord]:
        """Every saved label set, by name."""
        return self._db.read_all(select(LabelSetRow).order_by(LabelSetRow.name), _record)

    def get_label_set(self, name: str) -> LabelSetRecord:
        """The label set ``name``; RecordNotFoundError if there is none."""
        statement = select(LabelSetRow).where(LabelSetRow.name == name)
        return self._db.read_one(statement, _record, f"There is no label set called '{name}'.")

    def delete_label_set(self, name: str) -> bool:
        """Forget the label set ``name`` (its predictions keep the name); False if none."""
        statement = delete(LabelSetRow).where(LabelSetRow.name == name)
        return bool(self._db.write(lambda s: s.execute(statement).rowcount))

    def label_sets_by_model(self) -> dict[str, list[str]]:
        """Model name → the names of the label sets its predictions were made with, by name
        (predictions made before label sets had names are not counted). One zero-shot model
        name used with several label sets lists each of them."""
        statement = (
            select(ModelRow.name, PredictionRow.label_set)
            .join(PredictionRow, PredictionRow.model_id == ModelRow.id)
            .where(PredictionRow.label_set.is_not(None))
            .distinct()
        )

        def work(session: Session) -> dict[str, list[str]]:
            found: dict[str, list[str]] = {}
            for model, label_set in session.execute(statement):
                found.setdefault(str(model), []).append(str(label_set))
            return {model: sorted(names) for model, names in found.items()}

        return self._db.read(work)
