"""People's labels by text under one label set, whatever model made the prediction.

The Review queue asks about a text once: a person's label in force on *any* prediction of the
text made with the queue's label set answers for it (the rule Bulk Confirm checks by text,
:meth:`~longbert.store.Store.confirm_predictions`). What the queue counts as reviewed and what
its retrain trains on are read with that one scope -- the label set (any order) and whether the
models are multi-label, never single- and multi-label models together:

* :meth:`TextLabelsMixin.labels_of_texts` -- the label in force on each prediction of some
  texts (one query per 500 texts, whatever the size of the store);
* :meth:`TextLabelsMixin.export_label_set_training_set` -- the training set: every model's
  corrections with the label set merged, each text once with its latest person's label, a
  text whose predictions carry different labels in force (a conflict) refused or left out, as
  :meth:`~longbert.store.Store.export_corrections_training_set` decides them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy.orm import Session

from longbert.errors import StoreError
from longbert.store.correction_sets import (
    CONFLICT_POLICIES,
    _Group,
    merge_groups,
    scan_sets,
    settle,
    training_rows,
    write_training_rows,
)
from longbert.store.engine import Database, chunked
from longbert.store.in_force import corrections_in_force
from longbert.store.schema import DocumentRow, ModelRow


@dataclass(frozen=True)
class TextVote:
    """A person's label in force (the latest correction) on one prediction of a text."""

    document_sha256: str
    document_name: str
    prediction_id: int
    correction_id: int
    #: The label(s) the correction saved (single-label: one; multi-label: maybe none).
    labels: tuple[str, ...]


def _label_set(labels: Sequence[str]) -> frozenset[str]:
    """``labels`` as a label set, or StoreError (a bare string is no list of labels)."""
    if isinstance(labels, str) or not labels:
        raise StoreError(f"labels must be a non-empty list of label names, got {labels!r}.")
    return frozenset(str(label) for label in labels)


def _merged(session: Session, wanted: frozenset[str], multi_label: bool) -> _Group | None:
    """Every model's correction set with the label set ``wanted`` and kind ``multi_label``,
    merged: each text once with its latest correction, the votes of all kept for conflicts
    (as :func:`~longbert.store.correction_sets.chosen_set` merges the sets of one label set)."""
    groups = [g for g in scan_sets(session, None) if g.label_set == wanted and g.multi_label == multi_label]
    if not groups:
        return None
    return merge_groups(groups)


class TextLabelsMixin:
    """Label-set-scoped reads of people's labels, methods of :class:`~longbert.store.Store`."""

    _db: Database

    def labels_of_texts(
        self, sha256s: Iterable[str], labels: Sequence[str], *, multi_label: bool
    ) -> dict[str, list[TextVote]]:
        """Text (SHA-256) → the person's label in force on each of its predictions made with
        the label set ``labels`` (any order) by a model that is (``multi_label``) or is not
        multi-label, oldest correction first; texts without one are absent. Reads no text:
        one query per 500 SHA-256s, joining each prediction's latest correction."""
        wanted = _label_set(labels)
        texts = sorted({str(sha) for sha in sha256s if sha})
        found: dict[str, list[TextVote]] = {}

        def work(session: Session) -> None:
            for chunk in chunked(texts):
                conditions = [DocumentRow.sha256.in_(chunk), ModelRow.multi_label == multi_label]
                for vote in corrections_in_force(session, conditions):
                    if vote.label_set_key != wanted:
                        continue
                    found.setdefault(vote.document_sha256, []).append(
                        TextVote(
                            vote.document_sha256,
                            vote.document_name,
                            vote.prediction_id,
                            vote.correction_id,
                            vote.labels,
                        )
                    )

        self._db.read(work)
        return found

    def export_label_set_training_set(
        self,
        destination: str | os.PathLike[str] | IO[str],
        labels: Sequence[str],
        *,
        multi_label: bool,
        conflicts: str = "raise",
    ) -> int:
        """Write the people's labels under the label set ``labels`` (any order) as training
        data (JSON Lines, ``{"id", "name", "text", "label"}``); returns the line count.

        Every model's corrections with that label set are taken (of multi-label models, or of
        single-label ones: ``multi_label``), each text once with its latest person's label --
        the texts :meth:`labels_of_texts` finds labelled. A text whose predictions carry
        different labels in force is a conflict: ``conflicts="raise"`` raises StoreError naming
        them, ``"leave_out"`` writes the others and warns (UserWarning). A path is written to a
        temporary file beside it and renamed: never left half-written."""
        wanted = _label_set(labels)
        if conflicts not in CONFLICT_POLICIES:
            raise StoreError(f"conflicts must be one of {', '.join(CONFLICT_POLICIES)}, got {conflicts!r}.")

        def work(session: Session) -> list[dict[str, Any]]:
            group = _merged(session, wanted, multi_label)
            if group is None:
                return []
            return training_rows(session, settle(session, group, conflicts))

        return write_training_rows(self._db.read(work), destination)
