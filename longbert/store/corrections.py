"""Corrections: the label(s) a person set for a prediction. The latest one per prediction wins;
a person can take a correction back (:meth:`CorrectionsMixin.remove_correction`).

Corrections become training data per *correction set*: the model and the label set the corrected
predictions were made with (zero-shot predictions of one encoder share a model name, but each
labelling has its own labels). One training set never mixes label sets, nor single- and
multi-label models: :meth:`CorrectionsMixin.correction_sets` lists what there is, cheaply (no
texts are read), and :meth:`CorrectionsMixin.export_corrections_training_set` writes one.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import IO, Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from longbert.errors import StoreError
from longbert.store.correction_sets import (
    chosen_set,
    scan_sets,
    settle,
    training_rows,
    write_training_rows,
)
from longbert.store.engine import Database, get_row
from longbert.store.records import (
    CorrectionChangedError,
    CorrectionRecord,
    CorrectionSet,
    RecordNotFoundError,
)
from longbert.store.schema import CorrectionRow, ModelRow, PredictionRow, utcnow

#: ``add_correction(..., in_force=UNCHECKED)``: save over whatever is in force (scripts, imports).
UNCHECKED: Literal["unchecked"] = "unchecked"


def _in_force(session: Session, prediction_id: int) -> CorrectionRow | None:
    """The correction in force of a prediction (its latest), or None."""
    latest = session.scalar(
        select(func.max(CorrectionRow.id)).where(CorrectionRow.prediction_id == prediction_id)
    )
    return None if latest is None else session.get(CorrectionRow, latest)


def check_in_force(session: Session, prediction_id: int, expected: int | None) -> None:
    """Raise CorrectionChangedError unless the correction in force of prediction
    ``prediction_id`` is the one with id ``expected`` (None: no correction is in force).

    Every writer that acts on what a person was shown calls it, so an answer given from an
    out-of-date view never overrules a label someone set since: adding a correction
    (:meth:`CorrectionsMixin.add_correction` with ``in_force``), taking one back
    (:meth:`CorrectionsMixin.remove_correction` with ``only_if_in_force``) and settling a
    conflict (:mod:`longbert.store.conflicts`). The error says what is in force now (its label,
    note and time) or that the correction shown was taken back.

    Callers lock the prediction row first, in the same write transaction, so no other write
    slips in between this check and their own (SQLite's write transactions are serialised
    already)."""
    current = _in_force(session, prediction_id)
    if (current.id if current is not None else None) == expected:
        return
    if current is None:
        raise CorrectionChangedError(
            f"The correction of prediction #{prediction_id} shown here was taken back elsewhere "
            "after this view was read (no person's label is in force now), so nothing was saved. "
            "Look at the document again."
        )
    set_by = f"'{current.label}'" + (f" ({current.note})" if current.note else "")
    when = f"{current.created_at:%Y-%m-%d %H:%M} UTC"
    if expected is not None and current.id < expected:  # the one shown is gone, an older one rules
        raise CorrectionChangedError(
            f"The correction of prediction #{prediction_id} shown here was taken back elsewhere "
            f"after this view was read; the label in force is now {set_by}, from {when}. Nothing "
            "was saved: look at the document again."
        )
    raise CorrectionChangedError(
        f"Prediction #{prediction_id} was labelled {set_by} at {when}, after this view was read, "
        "so nothing was saved and that label stands. Look at the document again; answer once "
        "more to replace it."
    )


def check_correction_labels(session: Session, row: PredictionRow, wanted: Sequence[str]) -> None:
    """Raise StoreError unless ``wanted`` may be a correction of prediction ``row``: labels of
    its model or its label set, exactly one for a single-label model. Every writer of a
    person's label calls it (:meth:`CorrectionsMixin.add_correction`, settling a conflict), so
    none saves a label the prediction's question does not have."""
    model = session.get_one(ModelRow, row.model_id)
    known = list(dict.fromkeys([*model.labels, *row.probabilities]))
    unknown = [item for item in wanted if item not in known]
    if unknown:
        raise StoreError(
            f"Unknown label(s) {', '.join(map(repr, unknown))} for model '{model.name}'; "
            f"its labels are {', '.join(known)}."
        )
    if not model.multi_label and len(wanted) != 1:
        raise StoreError(f"Model '{model.name}' is single-label: a correction needs exactly one label.")


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

    def add_correction(
        self,
        prediction_id: int,
        label: str | Sequence[str],
        note: str | None = None,
        *,
        in_force: int | Literal["unchecked"] | None = UNCHECKED,
    ) -> int:
        """Record the label(s) a person set for a prediction; returns the correction id.

        Single-label models take one label; multi-label models a list (possibly empty). Labels
        must be among the model's labels. The latest correction of a prediction is in force.

        ``in_force``: the id of the correction in force when the person looked (None: there was
        none). A page passes it so that an answer given from an out-of-date view never overrules
        a label someone set since: then nothing is saved and CorrectionChangedError says what is
        in force. :data:`UNCHECKED` (the default) saves over whatever is in force.
        """
        wanted = [label] if isinstance(label, str) else [str(item) for item in label]

        def work(session: Session) -> int:
            row = get_row(
                session,
                PredictionRow,
                prediction_id,
                f"There is no prediction {prediction_id} to correct.",
                lock=True,
            )
            if in_force != UNCHECKED:
                check_in_force(session, prediction_id, in_force)
            check_correction_labels(session, row, wanted)
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

    def remove_correction(
        self, prediction_id: int, correction_id: int | None = None, *, only_if_in_force: bool = False
    ) -> int:
        """Take back a person's correction(s) of a prediction; returns how many were removed.

        ``correction_id``: that one correction (the one before it, if any, is in force again);
        None: every correction of the prediction, which then counts with its predicted label
        again (history, label counts, exports, training sets). The prediction itself stays.
        ``only_if_in_force``: remove ``correction_id`` only while it is the one in force -- what
        a page that showed it as in force means; a label someone set since is never taken back.

        Raises:
            RecordNotFoundError: no such prediction, or the correction is not one of its own.
            CorrectionChangedError: with ``only_if_in_force``, another correction is in force, or
                this one is gone already.
        """
        if only_if_in_force and correction_id is None:
            raise StoreError("only_if_in_force needs the correction_id that was shown as in force.")

        def work(session: Session) -> int:
            get_row(
                session,
                PredictionRow,
                prediction_id,
                f"There is no prediction {prediction_id}.",
                lock=only_if_in_force,
            )
            if only_if_in_force:
                check_in_force(session, prediction_id, correction_id)
            statement = select(CorrectionRow).where(CorrectionRow.prediction_id == prediction_id)
            if correction_id is not None:
                statement = statement.where(CorrectionRow.id == correction_id)
            rows = list(session.scalars(statement))
            if correction_id is not None and not rows:
                raise RecordNotFoundError(
                    f"Prediction {prediction_id} has no correction {correction_id} to remove."
                )
            for row in rows:
                session.delete(row)
            return len(rows)

        return self._db.write(work)

    def list_corrections(self, prediction_id: int) -> list[CorrectionRecord]:
        """A prediction's corrections, oldest first."""
        statement = (
            select(CorrectionRow)
            .where(CorrectionRow.prediction_id == prediction_id)
            .order_by(CorrectionRow.id)
        )
        return self._db.read(lambda s: [correction_record(c) for c in s.scalars(statement)])

    def correction_sets(self, model: str | None = None) -> list[CorrectionSet]:
        """Corrections grouped by the model and label set they were made with, most recently
        corrected first (``model``: only that model's). Reads no document text."""
        return self._db.read(lambda session: [g.record() for g in scan_sets(session, model)])

    def count_corrections(
        self, model: str | None = None, labels: Sequence[str] | None = None, conflicts: str = "raise"
    ) -> int:
        """How many lines :meth:`export_corrections_training_set` writes for the same arguments
        (reads no document text). Raises StoreError where the export would."""

        def work(session: Session) -> int:
            group = chosen_set(session, model, labels)
            if group is None:
                return 0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return len(settle(session, group, conflicts).documents)

        return self._db.read(work)

    def export_corrections_training_set(
        self,
        destination: str | os.PathLike[str] | IO[str],
        model: str | None = None,
        labels: Sequence[str] | None = None,
        conflicts: str = "raise",
    ) -> int:
        """Write one correction set as training data (JSON Lines); returns the line count.

        The set is the corrections of predictions made with ``model`` and/or with the label set
        ``labels`` (any order); both may be left out where the corrections hold one label set
        only. With ``labels`` alone, the sets of every model with those labels are merged
        (single- and multi-label ones never). One line per document, ``{"id", "name", "text",
        "label"}``, with the latest correction in the set; ``label`` is a string, or a list for
        multi-label models; ``id`` is the text's SHA-256. This is what ``longbert.data`` reads.
        A path is written to a temporary file beside it and renamed: never left half-written.

        A text whose predictions carry *different* people's labels in force (a conflict, e.g. a
        careful correction in one batch and a bulk confirm of another label in the next) is
        never settled by picking one: ``conflicts="raise"`` raises StoreError naming them,
        ``"leave_out"`` writes the others and warns (UserWarning) naming the ones left out.

        Raises:
            StoreError: the arguments leave several label sets, name an unknown model, or the
                set has conflicting corrections (with ``conflicts="raise"``).
        """

        def work(session: Session) -> list[dict[str, Any]]:
            group = chosen_set(session, model, labels)
            if group is None:
                return []
            return training_rows(session, settle(session, group, conflicts))

        return write_training_rows(self._db.read(work), destination)
