"""The person's label in force on each corrected prediction: one query that every reader of
people's labels shares (correction sets and conflicts, bulk confirm's check by text, the Review
queue's labels by text), so they cannot disagree about which correction rules.

A prediction's correction *in force* is its latest (highest id); taking one back deletes it, and
the one before rules again. Only those rows are read -- one per corrected prediction, found
through the index on ``corrections.prediction_id`` -- and never any document text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, aliased

from longbert.store.schema import CorrectionRow, DocumentRow, ModelRow, PredictionRow


def label_key(value: Any) -> str:
    """A training label as one comparable string (multi-label lists sorted and joined)."""
    return value if isinstance(value, str) else ", ".join(sorted(str(v) for v in value))


@dataclass(frozen=True)
class LabelInForce:
    """The correction in force on one prediction, with what identifies its text and label set."""

    correction_id: int
    prediction_id: int
    document_id: int
    document_sha256: str
    document_name: str
    created_at: datetime
    #: The prediction's label set, in its probabilities' order (the model's label order).
    label_set: tuple[str, ...]
    #: The label(s) the correction saved (single-label: one; multi-label: maybe none).
    labels: tuple[str, ...]
    #: The single label as saved (multi-label: the labels joined), what History shows.
    label: str
    multi_label: bool
    model: str
    zero_shot: bool
    #: The name of the saved label set the prediction was made with, if any.
    label_set_name: str | None

    @property
    def label_set_key(self) -> frozenset[str]:
        """The label set in any order: predictions with equal keys are about the same labels."""
        return frozenset(self.label_set)

    @property
    def value(self) -> str | list[str]:
        """The training label: the list for a multi-label model, else the one label."""
        return list(self.labels) if self.multi_label else self.label

    @property
    def key(self) -> str:
        """:attr:`value` as one comparable string (:func:`label_key`)."""
        return label_key(self.value)


def corrections_in_force(
    session: Session, conditions: Sequence[ColumnElement[bool]] = ()
) -> Iterator[LabelInForce]:
    """Every prediction's correction in force that meets ``conditions`` (on
    :class:`CorrectionRow`, :class:`PredictionRow`, :class:`ModelRow` or :class:`DocumentRow`
    columns), oldest correction first. Callers that filter by a list of ids or SHA-256s pass
    at most :func:`~longbert.store.engine.chunked`'s share per call (bound-parameter limits)."""
    newer = aliased(CorrectionRow)
    in_force = select(func.max(newer.id)).where(newer.prediction_id == PredictionRow.id).scalar_subquery()
    statement = (
        select(
            CorrectionRow.id,
            CorrectionRow.prediction_id,
            PredictionRow.document_id,
            DocumentRow.sha256,
            PredictionRow.document_name,
            CorrectionRow.created_at,
            PredictionRow.probabilities,
            CorrectionRow.labels,
            CorrectionRow.label,
            ModelRow.multi_label,
            ModelRow.name,
            ModelRow.kind,
            PredictionRow.zero_shot,
            PredictionRow.label_set,
        )
        .join(PredictionRow, PredictionRow.id == CorrectionRow.prediction_id)
        .join(ModelRow, ModelRow.id == PredictionRow.model_id)
        .join(DocumentRow, DocumentRow.id == PredictionRow.document_id)
        .where(CorrectionRow.id == in_force, *conditions)
        .order_by(CorrectionRow.id)
    )
    for row in session.execute(statement):
        (correction_id, prediction_id, document_id, sha256, name, created_at, probabilities, labels,
         label, multi_label, model, kind, zero_shot, set_name) = row  # fmt: skip
        yield LabelInForce(
            correction_id=correction_id,
            prediction_id=prediction_id,
            document_id=document_id,
            document_sha256=sha256,
            document_name=name,
            created_at=created_at,
            # The label set is the probabilities' keys (JSON): compared in Python, portably.
            label_set=tuple(str(key) for key in probabilities),
            labels=tuple(str(value) for value in labels or ()),
            label=label,
            multi_label=bool(multi_label),
            model=model,
            zero_shot=bool(zero_shot) or kind == "zero_shot",
            label_set_name=set_name,
        )
