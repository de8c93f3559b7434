"""Corrections: the label(s) a person set for a prediction. The latest one per prediction wins;
a person can take a correction back (:meth:`CorrectionsMixin.remove_correction`).

Corrections become training data per *correction set*: the model and the label set the corrected
predictions were made with (zero-shot predictions of one encoder share a model name, but each
labelling has its own labels). One training set never mixes label sets, nor single- and
multi-label models: :meth:`CorrectionsMixin.correction_sets` lists what there is, cheaply (no
texts are read), and :meth:`CorrectionsMixin.export_corrections_training_set` writes one.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from longbert.errors import StoreError
from longbert.store.engine import Database, chunked, get_row
from longbert.store.records import (
    CorrectionChangedError,
    CorrectionRecord,
    CorrectionSet,
    RecordNotFoundError,
)
from longbert.store.schema import CorrectionRow, DocumentRow, ModelRow, PredictionRow, utcnow

#: Every correction with what identifies its set, oldest first (no document text).
_SCAN = (
    select(
        CorrectionRow.id,
        CorrectionRow.prediction_id,
        CorrectionRow.label,
        CorrectionRow.labels,
        CorrectionRow.created_at,
        PredictionRow.document_id,
        PredictionRow.probabilities,
        PredictionRow.zero_shot,
        ModelRow.name,
        ModelRow.multi_label,
        ModelRow.kind,
        PredictionRow.label_set,
    )
    .join(PredictionRow, PredictionRow.id == CorrectionRow.prediction_id)
    .join(ModelRow, ModelRow.id == PredictionRow.model_id)
    .order_by(CorrectionRow.id)
)


@dataclass
class _Group:
    """The corrections of one (model, label set), while scanning."""

    model: str
    labels: list[str]
    multi_label: bool
    zero_shot: bool
    latest_at: datetime
    #: document id → (correction id, training label): the latest correction of each text.
    documents: dict[int, tuple[int, Any]] = field(default_factory=dict)
    predictions: set[int] = field(default_factory=set)
    #: document id → prediction id → (correction id, label): the correction in force of each
    #: prediction of the text. Two predictions of one text in force with different labels are
    #: a conflict (:func:`conflicts_of`): no training set picks one of them silently.
    votes: dict[int, dict[int, tuple[int, Any]]] = field(default_factory=dict)
    #: Names of the saved label sets the corrected predictions were made with, newest last.
    label_set_names: list[str] = field(default_factory=list)

    @property
    def label_set(self) -> frozenset[str]:
        return frozenset(self.labels)

    def record(self) -> CorrectionSet:
        return CorrectionSet(
            model=self.model,
            labels=list(self.labels),
            multi_label=self.multi_label,
            zero_shot=self.zero_shot,
            documents=len(self.documents),
            corrections=len(self.predictions),
            latest_at=self.latest_at,
            conflicts=len(conflicts_of(self)),
            label_set_names=tuple(reversed(self.label_set_names)),
        )


def _scan(session: Session, model: str | None) -> list[_Group]:
    """Corrections grouped by (model, label set), most recently corrected first."""
    statement = _SCAN if model is None else _SCAN.where(ModelRow.name == model)
    groups: dict[tuple[str, frozenset[str]], _Group] = {}
    for row in session.execute(statement):
        (correction_id, prediction_id, label, labels, created_at, document_id, probabilities,
         zero_shot, name, multi_label, kind, set_name) = row  # fmt: skip
        label_set = [str(key) for key in probabilities]
        group = groups.get((name, frozenset(label_set)))
        if group is None:
            group = groups[(name, frozenset(label_set))] = _Group(
                name, label_set, bool(multi_label), bool(zero_shot) or kind == "zero_shot", created_at
            )
        group.labels, group.latest_at = label_set, created_at  # the newest prediction's order
        group.zero_shot = group.zero_shot or bool(zero_shot)
        group.documents.pop(document_id, None)  # re-insert: order = when last corrected
        value = list(labels) if multi_label else label
        group.documents[document_id] = (correction_id, value)
        group.predictions.add(prediction_id)
        group.votes.setdefault(document_id, {})[prediction_id] = (correction_id, value)
        if set_name:
            if set_name in group.label_set_names:
                group.label_set_names.remove(set_name)
            group.label_set_names.append(set_name)
    return sorted(groups.values(), key=lambda g: g.latest_at, reverse=True)


def label_key(value: Any) -> str:
    """A training label as one comparable string (multi-label lists sorted and joined)."""
    return value if isinstance(value, str) else ", ".join(sorted(str(v) for v in value))


def conflicts_of(group: _Group) -> dict[int, dict[str, list[int]]]:
    """document id → label in force → prediction ids, for each text of ``group`` whose
    predictions carry different people's labels in force (a conflict)."""
    found: dict[int, dict[str, list[int]]] = {}
    for document_id, votes in group.votes.items():
        by_label: dict[str, list[int]] = {}
        for prediction_id, (_, value) in sorted(votes.items()):
            by_label.setdefault(label_key(value), []).append(prediction_id)
        if len(by_label) > 1:
            found[document_id] = by_label
    return found


def document_names(session: Session, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """document id → (SHA-256, name), in chunks (bound-parameter limits)."""
    wanted, found = list(ids), {}
    for chunk in chunked(wanted):
        statement = select(DocumentRow.id, DocumentRow.sha256, DocumentRow.name)
        statement = statement.where(DocumentRow.id.in_(chunk))
        found.update({i: (sha, name) for i, sha, name in session.execute(statement)})
    return found


def describe_conflicts(session: Session, conflicts: dict[int, dict[str, list[int]]]) -> str:
    """E.g. ``report.txt ('sport' in #3, 'politics' in #7); ...`` (at most 10 documents)."""
    names = document_names(session, conflicts)
    parts = [
        f"{names[d][1]} (" + ", ".join(
            f"'{label}' in " + ", ".join(f"#{p}" for p in ids) for label, ids in votes.items()
        ) + ")"
        for d, votes in list(conflicts.items())[:10]
    ]
    more = f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
    return "; ".join(parts) + more


CONFLICT_POLICIES = ("raise", "leave_out")


def _settle(session: Session, group: _Group, conflicts: str) -> _Group:
    """``group`` without its conflicting texts (``leave_out``, with a warning naming them), or
    StoreError naming them (``raise``)."""
    if conflicts not in CONFLICT_POLICIES:
        raise StoreError(f"conflicts must be one of {', '.join(CONFLICT_POLICIES)}, got {conflicts!r}.")
    found = conflicts_of(group)
    if not found:
        return group
    what = f"{len(found)} document{'s' if len(found) != 1 else ''}"
    described = describe_conflicts(session, found)
    if conflicts == "raise":
        raise StoreError(
            f"Corrections conflict for {what}: people set different labels on different "
            f"predictions of the same text: {described}. Settle each conflict in History (filter "
            "'Only conflicting corrections'), or leave these documents out of the training set."
        )
    warnings.warn(
        f"Left out {what} whose corrections conflict: {described}.", UserWarning, stacklevel=4
    )
    documents = {d: v for d, v in group.documents.items() if d not in found}
    return _Group(group.model, group.labels, group.multi_label, group.zero_shot, group.latest_at,
                  documents, group.predictions, group.votes)  # fmt: skip


def _describe(groups: Iterable[_Group]) -> str:
    return "; ".join(f"{g.model} ({'/'.join(g.labels)})" for g in groups)


def _chosen(session: Session, model: str | None, labels: Sequence[str] | None) -> _Group | None:
    """The one set ``model``/``labels`` name (sets of one label set merged), or None if empty.

    Raises:
        StoreError: bad arguments, an unknown model, or corrections of several label sets (or
            of single- and multi-label models) that the arguments do not tell apart.
    """
    if labels is not None and (isinstance(labels, str) or not labels):
        raise StoreError(f"labels must be a non-empty list of label names, got {labels!r}.")
    wanted = None if labels is None else frozenset(str(label) for label in labels)
    groups = [g for g in _scan(session, model) if wanted is None or g.label_set == wanted]
    if not groups:
        if model is not None and session.scalar(select(ModelRow.id).where(ModelRow.name == model)) is None:
            raise RecordNotFoundError(f"No model called '{model}' is registered.")
        return None
    label_sets = {g.label_set for g in groups}
    if len(label_sets) > 1:
        what = f"with model '{model}'" if model is not None else "in this database"
        raise StoreError(
            f"Corrections {what} were made with {len(label_sets)} label sets: {_describe(groups)}. "
            "Choose one (model and labels): a training set takes one label set."
        )
    if len({g.multi_label for g in groups}) > 1:
        raise StoreError(
            f"Corrections with labels {'/'.join(groups[0].labels)} come from single- and "
            f"multi-label models ({_describe(groups)}): choose one model."
        )
    merged = _Group(groups[0].model, groups[0].labels, groups[0].multi_label,
                    any(g.zero_shot for g in groups), groups[0].latest_at)  # fmt: skip
    for group in groups:
        for document_id, (correction_id, label) in group.documents.items():
            if document_id not in merged.documents or merged.documents[document_id][0] < correction_id:
                merged.documents[document_id] = (correction_id, label)
        merged.predictions |= group.predictions
        for document_id, votes in group.votes.items():
            merged.votes.setdefault(document_id, {}).update(votes)
    merged.documents = dict(sorted(merged.documents.items(), key=lambda item: item[1][0]))
    return merged


def _training_rows(session: Session, group: _Group) -> list[dict[str, Any]]:
    """``{"id", "name", "text", "label"}`` per document of the set, in correction order."""
    ids = list(group.documents)
    found: dict[int, tuple[str, str, str]] = {}
    for chunk in chunked(ids):  # bound-parameter limits
        statement = select(DocumentRow.id, DocumentRow.sha256, DocumentRow.name, DocumentRow.text)
        for document_id, sha256, name, text in session.execute(statement.where(DocumentRow.id.in_(chunk))):
            found[document_id] = (sha256, name, text)
    return [
        {"id": found[d][0], "name": found[d][1], "text": found[d][2], "label": group.documents[d][1]}
        for d in ids
    ]


#: ``add_correction(..., in_force=UNCHECKED)``: save over whatever is in force (scripts, imports).
UNCHECKED: Literal["unchecked"] = "unchecked"


def _in_force(session: Session, prediction_id: int) -> CorrectionRow | None:
    """The correction in force of a prediction (its latest), or None."""
    latest = session.scalar(
        select(func.max(CorrectionRow.id)).where(CorrectionRow.prediction_id == prediction_id)
    )
    return None if latest is None else session.get(CorrectionRow, latest)


def _check_in_force(session: Session, prediction_id: int, expected: int | None) -> None:
    """Raise CorrectionChangedError unless the correction in force is ``expected`` (None: none).

    Callers lock the prediction row first, so no other write slips in between this check and
    their own (SQLite's write transactions are serialised already)."""
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
            row = get_row(session, PredictionRow, prediction_id,
                          f"There is no prediction {prediction_id} to correct.", lock=True)
            if in_force != UNCHECKED:
                _check_in_force(session, prediction_id, in_force)
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
            get_row(session, PredictionRow, prediction_id, f"There is no prediction {prediction_id}.",
                    lock=only_if_in_force)
            if only_if_in_force:
                _check_in_force(session, prediction_id, correction_id)
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
        return self._db.read(lambda session: [g.record() for g in _scan(session, model)])

    def count_corrections(
        self, model: str | None = None, labels: Sequence[str] | None = None, conflicts: str = "raise"
    ) -> int:
        """How many lines :meth:`export_corrections_training_set` writes for the same arguments
        (reads no document text). Raises StoreError where the export would."""

        def work(session: Session) -> int:
            group = _chosen(session, model, labels)
            if group is None:
                return 0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return len(_settle(session, group, conflicts).documents)

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
            group = _chosen(session, model, labels)
            if group is None:
                return []
            return _training_rows(session, _settle(session, group, conflicts))

        rows = self._db.read(work)
        if isinstance(destination, str | os.PathLike):
            from longbert.data.jsonl import write_jsonl

            return write_jsonl(rows, Path(destination))
        for row in rows:
            destination.write(json.dumps(row, ensure_ascii=False) + "\n")
        return len(rows)
