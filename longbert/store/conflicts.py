"""Keeping people's labels safe: conflicts between them are found, shown and settled by a
person, and a bulk confirm of the model's labels never overrules a label a person set on the
same text.

A *conflict* is one text whose predictions made with one label set (any order), by models of
one kind (single- or multi-label), carry different labels in force from people (each
prediction's latest correction) -- whichever models made the predictions: a text labelled
'sport' on a zero-shot prediction and 'politics' later on a trained model's prediction with the
same label set is a conflict. A prediction's latest correction rules that prediction; between
predictions no label wins by being newer, since each was a person's deliberate answer. So a
conflict is never settled by picking one: the training exports refuse it or leave it out
(:mod:`longbert.store.correction_sets`), History lists it
(:meth:`ConflictsMixin.correction_conflicts`), and a person settles it -- by keeping one of the
answers, which is then saved on each of the other predictions of the text as a new correction
in force (:meth:`ConflictsMixin.settle_conflict`), or by removing or changing one correction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from longbert.errors import StoreError
from longbert.store.correction_sets import conflicting_labels, document_names, votes_by_question
from longbert.store.corrections import check_correction_labels, check_in_force
from longbert.store.engine import Database, chunked, get_row
from longbert.store.in_force import LabelInForce, corrections_in_force, label_key
from longbert.store.records import ConfirmOutcome, CorrectionChangedError, CorrectionConflict
from longbert.store.schema import CorrectionRow, ModelRow, PredictionRow, utcnow

#: The note a bulk confirm leaves on each correction it records (History shows it).
CONFIRM_NOTE = "confirmed in bulk (the model's label)"


@dataclass(frozen=True)
class ConflictVote:
    """One prediction's person's label in force, in a conflict."""

    prediction_id: int
    correction_id: int
    model: str
    #: The label(s) the correction saved (single-label: one; multi-label: maybe none).
    labels: tuple[str, ...]
    #: The label as History shows it (multi-label: the labels joined).
    label: str
    created_at: datetime


@dataclass(frozen=True)
class TextConflict(CorrectionConflict):
    """A conflict with what a person needs to settle it: every prediction's label in force
    (``in_force``, oldest correction first) and the models that made the predictions.
    ``model`` is the model of the latest correction; ``labels`` the label set."""

    models: tuple[str, ...] = ()
    multi_label: bool = False
    in_force: tuple[ConflictVote, ...] = ()

    @property
    def shown(self) -> dict[int, int]:
        """prediction id → the id of its correction in force: what :meth:`settle_conflict`
        checks is still in force, so a label set since is never overruled."""
        return {vote.prediction_id: vote.correction_id for vote in self.in_force}

    @property
    def latest(self) -> ConflictVote:
        """The most recently saved of the answers."""
        return self.in_force[-1]


def _conflict(names: tuple[str, str], by_label: dict[str, list[LabelInForce]]) -> TextConflict:
    votes = sorted((v for same in by_label.values() for v in same), key=lambda v: v.correction_id)
    return TextConflict(
        document_sha256=names[0],
        document_name=names[1],
        model=votes[-1].model,
        labels=list(votes[-1].label_set),
        votes={label: [v.prediction_id for v in same] for label, same in by_label.items()},
        models=tuple(dict.fromkeys(v.model for v in votes)),
        multi_label=votes[-1].multi_label,
        in_force=tuple(
            ConflictVote(v.prediction_id, v.correction_id, v.model, v.labels, v.label, v.created_at)
            for v in votes
        ),
    )


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


def _lock_text(session: Session, ids: list[int]) -> dict[int, PredictionRow]:
    """Lock the predictions ``ids`` and every other prediction of the first one's text, in id
    order (like bulk confirm), so no person's label lands on any of them between the checks of
    :func:`_settled` and its writes (SQLite serialises writes already). Returns the rows of
    ``ids``."""
    first = get_row(session, PredictionRow, ids[0], f"There is no prediction {ids[0]}.")
    same_text = session.scalars(
        select(PredictionRow.id).where(PredictionRow.document_id == first.document_id)
    )
    rows: dict[int, PredictionRow] = {}
    for prediction_id in sorted({*ids, *same_text}):
        if prediction_id in ids:
            missing = f"There is no prediction {prediction_id}."
            rows[prediction_id] = get_row(session, PredictionRow, prediction_id, missing, lock=True)
        else:
            session.get(PredictionRow, prediction_id, with_for_update=True)
    return rows


def _check_not_shown(session: Session, kept: LabelInForce, ids: list[int]) -> None:
    """Raise CorrectionChangedError where a prediction of ``kept``'s text and question (label
    set and kind) that was not shown carries a person's label other than the kept one: settling
    would leave the text in conflict, and that label, unseen, must not be overruled."""
    newer = [
        vote
        for vote in corrections_in_force(session, [PredictionRow.document_id == kept.document_id])
        if vote.prediction_id not in ids
        and (vote.label_set_key, vote.multi_label) == (kept.label_set_key, kept.multi_label)
        and vote.key != kept.key
    ]
    if newer:
        which = "; ".join(
            f"#{v.prediction_id} {v.model}: {_quoted(v.key)}, from {v.created_at:%Y-%m-%d %H:%M} UTC"
            for v in newer
        )
        raise CorrectionChangedError(
            f"The conflict over {kept.document_name} is not the one shown here: "
            f"{'a person has' if len(newer) == 1 else 'people have'} also labelled "
            f"{'another prediction' if len(newer) == 1 else f'{len(newer)} other predictions'} of it "
            f"with the same labels otherwise than {_quoted(kept.key)} ({which}). Nothing was saved, "
            "so that label stands. Look at the conflict again (History shows every answer) and "
            "settle it once more."
        )


def _quoted(key: str) -> str:
    """A label key as messages show it (a multi-label answer may be no label at all)."""
    return f"'{key}'" if key else "no label"


def _settled(session: Session, keep: int, shown: Mapping[int, int], note: str | None) -> list[int]:
    """:meth:`ConflictsMixin.settle_conflict`'s work, in its transaction."""
    ids = sorted({int(p) for p in shown})
    if keep not in ids or len(ids) < 2:
        raise StoreError(
            f"Settling a conflict needs the prediction whose label is kept (#{keep}) and at least "
            f"one other among the predictions shown, got {', '.join(f'#{p}' for p in ids) or 'none'}."
        )
    rows = _lock_text(session, ids)
    for prediction_id in ids:  # checked once locked: nothing saved since is overruled
        check_in_force(session, prediction_id, int(shown[prediction_id]))
    votes = {v.prediction_id: v for v in corrections_in_force(session, [PredictionRow.id.in_(ids)])}
    kept = votes[keep]
    other = [votes[p] for p in ids if p != keep]
    if any((v.document_id, v.label_set_key, v.multi_label) !=
           (kept.document_id, kept.label_set_key, kept.multi_label) for v in other):  # fmt: skip
        raise StoreError(
            "Only predictions of one text made with one label set (by models of one kind) can "
            f"settle a conflict; {', '.join(f'#{p}' for p in ids)} are not."
        )
    _check_not_shown(session, kept, ids)
    wanted = list(kept.labels) if kept.multi_label else [kept.label]
    text = note or f"settled a conflict: '{kept.label}' as on #{keep} ({kept.model})"
    added: list[CorrectionRow] = []
    for vote in other:
        if vote.key == kept.key:
            continue
        check_correction_labels(session, rows[vote.prediction_id], wanted)  # as add_correction does
        row = CorrectionRow(prediction_id=vote.prediction_id, label=", ".join(wanted),
                            labels=wanted, note=text, created_at=utcnow())  # fmt: skip
        session.add(row)
        added.append(row)
    session.flush()
    return [row.id for row in added]


class ConflictsMixin:
    """Conflict and bulk-confirm methods of :class:`~longbert.store.Store`."""

    _db: Database

    def correction_conflicts(self, model: str | None = None) -> list[TextConflict]:
        """Every conflict (one text, one label set and kind, different people's labels in force
        on its predictions, whatever models made them), most recently corrected first
        (``model``: those with a prediction made by that model). Reads no document text."""

        def work(session: Session) -> list[TextConflict]:
            found: list[tuple[int, dict[str, list[LabelInForce]]]] = []
            for texts in votes_by_question(corrections_in_force(session)).values():
                for document_id, votes in texts.items():
                    if model is not None and all(v.model != model for v in votes.values()):
                        continue
                    if (by_label := conflicting_labels(votes)) is not None:
                        found.append((document_id, by_label))
            names = document_names(session, {d for d, _ in found})
            out = [_conflict(names[d], by_label) for d, by_label in found]
            return sorted(out, key=lambda c: c.latest.correction_id, reverse=True)

        return self._db.read(work)

    def settle_conflict(self, keep: int, shown: Mapping[int, int], note: str | None = None) -> list[int]:
        """Settle a conflict by keeping the label in force on prediction ``keep``: it is saved
        on each other prediction of ``shown`` that carries another label, as a new correction
        (then in force; each prediction's old one stays in its history and comes back if this
        one is taken back). One transaction; returns the new corrections' ids.

        ``shown`` maps each prediction of the conflict (``keep`` too) to the id of the
        correction in force the person saw on it (:attr:`TextConflict.shown`): where another is
        in force now, nothing is saved -- a label set since is never overruled.

        Raises:
            CorrectionChangedError: a label in force changed since the conflict was read, or
                another prediction of the text with the same labels (not in ``shown``) carries
                a person's label other than the kept one -- settling would leave the text in
                conflict, and that label was not seen, so it is not overruled either.
            RecordNotFoundError: no such prediction.
            StoreError: ``keep`` is not among ``shown``, the predictions are not of one text,
                label set and kind, or the kept label is not one a prediction it would be
                saved on may carry (as :meth:`add_correction` checks).
        """
        return self._db.write(lambda session: _settled(session, int(keep), shown, note))

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
