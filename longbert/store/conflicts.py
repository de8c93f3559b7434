"""Keeping people's labels safe: conflicts between them are found and shown, and a bulk confirm
of the model's labels never overrules a label a person set on the same text.

A *conflict* is one text whose predictions made with one label set carry different labels in
force from people (each prediction's latest correction). It is never settled by picking one:
the training export refuses it or leaves it out (:mod:`longbert.store.corrections`), History
lists it (:meth:`ConflictsMixin.correction_conflicts`), and a person settles it by removing or
changing one of the corrections.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from longbert.store.correction_sets import conflicts_of, document_names, scan_sets
from longbert.store.engine import Database, chunked
from longbert.store.in_force import corrections_in_force, label_key
from longbert.store.records import ConfirmOutcome, CorrectionConflict
from longbert.store.schema import CorrectionRow, ModelRow, PredictionRow, utcnow

#: The note a bulk confirm leaves on each correction it records (History shows it).
CONFIRM_NOTE = "confirmed in bulk (the model's label)"


#: A person's label in force on one prediction: (prediction id, label set, multi-label, label key).
_Vote = tuple[int, frozenset[str], bool, str]


def _in_force_elsewhere(session: Session, document_ids: Iterable[int]) -> dict[int, list[_Vote]]:
    """document id → the person's label in force on each of its corrected predictions."""
    found: dict[int, list[_Vote]] = {}
    for chunk in chunked(list(document_ids)):
        for vote in corrections_in_force(session, [PredictionRow.document_id.in_(chunk)]):
            entry = (vote.prediction_id, vote.label_set_key, vote.multi_label, vote.key)
            found.setdefault(vote.document_id, []).append(entry)
    return found


class ConflictsMixin:
    """Conflict and bulk-confirm methods of :class:`~longbert.store.Store`."""

    _db: Database

    def correction_conflicts(self, model: str | None = None) -> list[CorrectionConflict]:
        """Every conflict (one text, one model and label set, different people's labels in
        force), most recently corrected sets first. Reads no document text."""

        def work(session: Session) -> list[CorrectionConflict]:
            out: list[CorrectionConflict] = []
            for group in scan_sets(session, model):
                found = conflicts_of(group)
                names = document_names(session, found)
                out += [
                    CorrectionConflict(names[d][0], names[d][1], group.model, list(group.labels), votes)
                    for d, votes in found.items()
                ]
            return out

        return self._db.read(work)

    def confirm_predictions(self, prediction_ids: Iterable[int], note: str = CONFIRM_NOTE) -> ConfirmOutcome:
        """Record the model's label of each prediction as checked by a person (bulk confirm).

        Never overrules a person: a prediction that has a correction already is skipped, and so
        is one whose text carries a person's *different* label in force on another prediction
        with the same label set (confirming it would make a conflict). One transaction.
        """
        wanted = list(dict.fromkeys(int(p) for p in prediction_ids))

        def work(session: Session) -> ConfirmOutcome:
            rows: dict[int, Any] = {}
            for chunk in chunked(wanted):
                statement = (
                    select(
                        PredictionRow.id,
                        PredictionRow.document_id,
                        PredictionRow.document_name,
                        PredictionRow.label,
                        PredictionRow.labels,
                        PredictionRow.probabilities,
                        ModelRow.multi_label,
                    )
                    .join(ModelRow, ModelRow.id == PredictionRow.model_id)
                    .where(PredictionRow.id.in_(chunk))
                    # Locked (PostgreSQL; SQLite serialises writes already) like add_correction
                    # locks its row: a person's label saved meanwhile is seen below, never overruled.
                    .order_by(PredictionRow.id)
                    .with_for_update(of=PredictionRow)
                )
                rows.update({row[0]: row for row in session.execute(statement)})
            elsewhere = _in_force_elsewhere(session, {row[1] for row in rows.values()})
            confirmed: list[int] = []
            skipped: list[tuple[int, str, str]] = []
            for prediction_id in wanted:
                if prediction_id not in rows:
                    skipped.append((prediction_id, "", "no such prediction"))
                    continue
                _, document_id, name, label, labels, probabilities, multi = rows[prediction_id]
                value = label_key(list(labels)) if multi else label
                label_set = frozenset(map(str, probabilities))
                # The same question: the same label set (any order), the same kind of model.
                votes = elsewhere.get(document_id, [])
                same_set = [(p, v) for p, s, m, v in votes if s == label_set and m == bool(multi)]
                if any(p == prediction_id for p, _ in same_set):
                    skipped.append((prediction_id, name, "already corrected"))
                    continue
                other = sorted({v for _, v in same_set if v != value})
                if other:
                    where = ", ".join(f"#{p}" for p, v in same_set if v != value)
                    skipped.append(
                        (
                            prediction_id,
                            name,
                            f"a person labelled this text "
                            f"'{', '.join(other)}' in {where}; the model says '{value}'",
                        )
                    )
                    continue
                chosen = list(labels) if multi else [label]
                session.add(
                    CorrectionRow(
                        prediction_id=prediction_id,
                        label=", ".join(chosen),
                        labels=chosen,
                        note=note,
                        created_at=utcnow(),
                    )
                )
                confirmed.append(prediction_id)
                elsewhere.setdefault(document_id, []).append((prediction_id, label_set, bool(multi), value))
            return ConfirmOutcome(confirmed, skipped)

        return self._db.write(work)
