"""Correction sets: a store's corrections grouped by the model and label set they were made
with, the conflicts between people's labels on one text, and the rows a set gives as training
data (what :class:`~longbert.store.corrections.CorrectionsMixin`'s listing, counting and export
read). Reads only: the writes are in :mod:`longbert.store.corrections`.

A *conflict* is about a text and a question, not a model: one text whose predictions made with
one label set (any order) by models of one kind (single- or multi-label) carry different
people's labels in force, whichever models made those predictions (say a zero-shot encoder's,
then a model trained on its corrections). Each prediction's label in force is its latest
correction; across predictions no label wins by being newer -- a person settles the conflict
(:meth:`~longbert.store.conflicts.ConflictsMixin.settle_conflict`). So a set's conflicts are
found among *every* model's labels on its texts (:func:`votes_by_question`), the scope Bulk
Confirm checks and the Review page asks by (:mod:`longbert.store.text_labels`): one model's
training set never takes a text's label while a person said otherwise on another model's
prediction of it.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from longbert.errors import StoreError
from longbert.store.engine import chunked
from longbert.store.in_force import LabelInForce, corrections_in_force
from longbert.store.records import CorrectionSet, RecordNotFoundError
from longbert.store.schema import DocumentRow, ModelRow

#: A question people answer: a label set (any order) and whether the model is multi-label.
Question = tuple[frozenset[str], bool]
#: document id → prediction id → the person's label in force on it.
TextVotes = dict[int, dict[int, LabelInForce]]


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
    #: document id → prediction id → the label in force, for each text of the set: the labels
    #: in force on *every* model's predictions of the text with the same label set and kind.
    #: Two of them with different labels are a conflict (:func:`conflicts_of`): no training
    #: set picks one of them silently.
    votes: TextVotes = field(default_factory=dict)
    #: Names of the saved label sets the corrected predictions were made with, newest last.
    label_set_names: list[str] = field(default_factory=list)

    @property
    def label_set(self) -> frozenset[str]:
        return frozenset(self.labels)

    @property
    def question(self) -> Question:
        return self.label_set, self.multi_label

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
            document_ids=frozenset(self.documents),
        )


def votes_by_question(votes: Iterable[LabelInForce]) -> dict[Question, TextVotes]:
    """People's labels in force by question (label set and kind), then text, then prediction:
    the scope a conflict is found in, whatever models made the predictions."""
    found: dict[Question, TextVotes] = {}
    for vote in votes:
        texts = found.setdefault((vote.label_set_key, vote.multi_label), {})
        texts.setdefault(vote.document_id, {})[vote.prediction_id] = vote
    return found


def scan_sets(session: Session, model: str | None) -> list[_Group]:
    """Corrections in force grouped by (model, label set), most recently corrected first
    (``model``: that model's sets only). Each set's ``votes`` hold the labels in force of every
    model's predictions of its texts with the same label set and kind, so its conflicts are
    the texts' conflicts. Reads every prediction's correction in force, never a document text."""
    groups: dict[tuple[str, frozenset[str]], _Group] = {}
    every = list(corrections_in_force(session))
    for vote in every:
        if model is not None and vote.model != model:
            continue
        label_set = list(vote.label_set)
        group = groups.get((vote.model, vote.label_set_key))
        if group is None:
            group = groups[(vote.model, vote.label_set_key)] = _Group(
                vote.model, label_set, vote.multi_label, vote.zero_shot, vote.created_at
            )
        group.labels, group.latest_at = label_set, vote.created_at  # the newest prediction's order
        group.zero_shot = group.zero_shot or vote.zero_shot
        group.documents.pop(vote.document_id, None)  # re-insert: order = when last corrected
        group.documents[vote.document_id] = (vote.correction_id, vote.value)
        group.predictions.add(vote.prediction_id)
        if vote.label_set_name:
            if vote.label_set_name in group.label_set_names:
                group.label_set_names.remove(vote.label_set_name)
            group.label_set_names.append(vote.label_set_name)
    questions = votes_by_question(every)
    for group in groups.values():
        texts = questions[group.question]
        group.votes = {document_id: texts[document_id] for document_id in group.documents}
    return sorted(groups.values(), key=lambda g: g.latest_at, reverse=True)


def conflicting_labels(votes: dict[int, LabelInForce]) -> dict[str, list[LabelInForce]] | None:
    """Label in force → the votes carrying it (by prediction id), where one text's
    predictions carry different labels (a conflict); None where they agree."""
    by_label: dict[str, list[LabelInForce]] = {}
    for _, vote in sorted(votes.items()):
        by_label.setdefault(vote.key, []).append(vote)
    return by_label if len(by_label) > 1 else None


def conflicts_of(group: _Group) -> dict[int, dict[str, list[LabelInForce]]]:
    """document id → label in force → the votes carrying it, for each text of ``group`` whose
    predictions (any model's, same label set and kind) carry different people's labels in
    force (a conflict)."""
    found: dict[int, dict[str, list[LabelInForce]]] = {}
    for document_id, votes in group.votes.items():
        if (by_label := conflicting_labels(votes)) is not None:
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


def describe_conflicts(session: Session, conflicts: dict[int, dict[str, list[LabelInForce]]]) -> str:
    """E.g. ``report.txt ('sport' in #3, 'politics' in #7); ...`` (at most 10 documents), each
    prediction with its model's name where one text's conflict spans several models."""
    names = document_names(session, conflicts)

    def where(votes: dict[str, list[LabelInForce]]) -> str:
        several = len({v.model for same in votes.values() for v in same}) > 1
        return ", ".join(
            f"'{label}' in "
            + ", ".join(f"#{v.prediction_id}" + (f" ({v.model})" if several else "") for v in same)
            for label, same in votes.items()
        )

    parts = [f"{names[d][1]} ({where(votes)})" for d, votes in list(conflicts.items())[:10]]
    more = f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
    return "; ".join(parts) + more


CONFLICT_POLICIES = ("raise", "leave_out")


def settle(session: Session, group: _Group, conflicts: str) -> _Group:
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
            f"predictions of the same text: {described}. Settle each conflict in History ('Settle "
            "conflicting corrections', or the filter 'Only conflicting corrections'), or leave "
            "these documents out of the training set."
        )
    warnings.warn(f"Left out {what} whose corrections conflict: {described}.", UserWarning, stacklevel=4)
    documents = {d: v for d, v in group.documents.items() if d not in found}
    return _Group(group.model, group.labels, group.multi_label, group.zero_shot, group.latest_at,
                  documents, group.predictions, group.votes)  # fmt: skip


def _describe(groups: Iterable[_Group]) -> str:
    return "; ".join(f"{g.model} ({'/'.join(g.labels)})" for g in groups)


def chosen_set(session: Session, model: str | None, labels: Sequence[str] | None) -> _Group | None:
    """The one set ``model``/``labels`` name (sets of one label set merged), or None if empty.

    Raises:
        StoreError: bad arguments, an unknown model, or corrections of several label sets (or
            of single- and multi-label models) that the arguments do not tell apart.
    """
    if labels is not None and (isinstance(labels, str) or not labels):
        raise StoreError(f"labels must be a non-empty list of label names, got {labels!r}.")
    wanted = None if labels is None else frozenset(str(label) for label in labels)
    groups = [g for g in scan_sets(session, model) if wanted is None or g.label_set == wanted]
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
    return merge_groups(groups)


def merge_groups(groups: Sequence[_Group]) -> _Group:
    """Correction sets of one label set and kind as one: each text once with its latest
    correction, the votes of all kept (every set's votes hold every model's already, so the
    merged set's conflicts are its sets' conflicts)."""
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


def write_training_rows(rows: list[dict[str, Any]], destination: str | os.PathLike[str] | IO[str]) -> int:
    """Training rows as JSON Lines to a path (a temporary file beside it, renamed: never left
    half-written) or an open text stream; returns the line count."""
    if isinstance(destination, str | os.PathLike):
        from longbert.data.jsonl import write_jsonl

        return write_jsonl(rows, Path(destination))
    for row in rows:
        destination.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def training_rows(session: Session, group: _Group) -> list[dict[str, Any]]:
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
