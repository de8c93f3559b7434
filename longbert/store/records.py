"""What the store returns: plain dataclasses, detached from the database session.

Predictions come back as the core's own :class:`~longbert.results.Prediction` (arrays bit-exact);
everything else is a small record with the row's id and timestamps (aware UTC datetimes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from longbert.document import Document
from longbert.errors import StoreError
from longbert.results import Prediction


@dataclass(frozen=True)
class CorrectionRecord:
    """A label a person set for a prediction (``labels`` has one entry for single-label models)."""

    id: int
    prediction_id: int
    label: str
    labels: list[str]
    note: str | None
    created_at: datetime


@dataclass(frozen=True)
class StoredPrediction:
    """A prediction read back: the core's Prediction and Document plus the store's bookkeeping."""

    id: int
    prediction: Prediction
    document: Document
    created_at: datetime
    batch_id: int | None
    #: Where this prediction's text came from (``document.source`` is where it was first seen).
    source: str
    #: Oldest first; the last one is in force.
    corrections: list[CorrectionRecord] = field(default_factory=list)

    @property
    def latest_correction(self) -> CorrectionRecord | None:
        return self.corrections[-1] if self.corrections else None

    @property
    def final_labels(self) -> list[str]:
        """The corrected labels if a person corrected the prediction, else the model's."""
        latest = self.latest_correction
        return list(latest.labels) if latest else list(self.prediction.labels)


@dataclass(frozen=True)
class HistoryRow:
    """One line of the history table: no text, no attention arrays."""

    id: int
    created_at: datetime
    document_name: str
    document_sha256: str
    #: The prediction's source (paste, upload, batch...), not the document's first one.
    source: str
    model_name: str
    strategy: str
    label: str
    labels: list[str]
    #: The probability of ``label``.
    confidence: float
    used_tokens: int
    total_tokens: int
    latency_ms: float
    batch_id: int | None
    zero_shot: bool
    corrected_label: str | None
    corrected_labels: list[str] | None
    #: The saved label set the prediction was made with (None: not recorded).
    label_set: str | None = None
    #: Every label's probability.
    probabilities: dict[str, float] = field(default_factory=dict)
    #: The id of the correction in force (None: none): what a page that shows
    #: ``corrected_label`` passes back as ``in_force`` when a person changes it.
    correction_id: int | None = None
    #: The early-exit threshold the prediction ran at, from 0 (the full model) to 1, as its
    #: ``extra["exit_threshold"]`` records it (:func:`longbert.exit_threshold.recorded_threshold`);
    #: None for a model without exits and for predictions saved before thresholds were recorded.
    #: Tells apart two predictions of one early-exit model made at different thresholds.
    exit_threshold: float | None = None


@dataclass(frozen=True)
class HistoryPage:
    """One page of history (newest first) and how many rows match in all."""

    rows: list[HistoryRow]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class HistoryFilter:
    """Filters for history, exports and label distribution; ``None`` means "any".

    Text fields accept one value or a list of values. ``since``/``until`` are inclusive; a
    ``date`` covers its whole day (UTC). ``text`` is a case-insensitive substring of the
    document's text or name. ``source`` is the prediction's (where that text came from then).
    """

    model: str | Sequence[str] | None = None
    label: str | Sequence[str] | None = None
    strategy: str | Sequence[str] | None = None
    source: str | Sequence[str] | None = None
    batch_id: int | None = None
    since: date | datetime | None = None
    until: date | datetime | None = None
    text: str | None = None
    corrected: bool | None = None
    zero_shot: bool | None = None
    #: Which label ``label`` filters on: ``final`` (the label in force: a person's correction,
    #: else the prediction), ``predicted`` (the model's) or ``corrected`` (a person's only).
    label_of: str = "predicted"
    #: Only these predictions (e.g. those in a conflict, :meth:`Store.correction_conflicts`).
    prediction_ids: Sequence[int] | None = None
    #: Predictions made with these saved label sets (by name).
    label_set: str | Sequence[str] | None = None


@dataclass(frozen=True)
class LabelCount:
    """How many predictions got ``label`` on ``day`` (UTC)."""

    day: date
    label: str
    count: int


@dataclass(frozen=True)
class ModelRecord:
    """A registered model (``kind``: ``trained`` or ``zero_shot``; ``version`` 1, 2... per name)."""

    id: int
    name: str
    kind: str
    version: int
    folder: str | None
    encoder: str | None
    labels: list[str]
    multi_label: bool
    strategy: dict[str, Any]
    metrics: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @property
    def zero_shot(self) -> bool:
        return self.kind == "zero_shot"


@dataclass(frozen=True)
class CorrectionSet:
    """Corrections made with one model and one label set: what one training set can be made of.

    ``labels`` is the label set the predictions were made with, in the model's order (zero-shot
    predictions of one encoder share a model name but each labelling has its own label set).
    ``documents`` is how many lines its training set has (one per text, the latest correction
    wins); ``corrections`` how many predictions were corrected.
    """

    model: str
    labels: list[str]
    multi_label: bool
    zero_shot: bool
    documents: int
    corrections: int
    latest_at: datetime
    #: Texts whose predictions carry different people's labels in force (conflicts): the
    #: training export refuses them or leaves them out, never picks one.
    conflicts: int = 0
    #: Names of the saved label sets these predictions were made with, most recently used
    #: first (empty for predictions made before label sets had names).
    label_set_names: tuple[str, ...] = ()
    #: The ids of the texts (documents) its training set has: one text corrected under one label
    #: set with several models is in several sets, counted once by their union.
    document_ids: frozenset[int] = field(default=frozenset(), compare=False, repr=False)

    @property
    def label_set_name(self) -> str | None:
        """The label set's name (the most recently used one), or None when it has none."""
        return self.label_set_names[0] if self.label_set_names else None

    @property
    def key(self) -> str:
        """A stable identifier (for a select box): the model and its sorted labels."""
        return "\x1f".join([self.model, *sorted(self.labels)])

    @property
    def title(self) -> str:
        """E.g. ``corrections made with model hp-v1 (12 documents, labels true/false)``."""
        plural = "document" if self.documents == 1 else "documents"
        return (
            f"corrections made with model {self.model} ({self.documents:,} {plural}, "
            f"labels {'/'.join(self.labels)})"
        )


@dataclass(frozen=True)
class BatchRecord:
    """A batch and its progress. ``pending`` = items neither done nor failed yet.

    ``status`` is as reported: a batch stored as ``running`` that no live worker holds is
    ``interrupted`` (:mod:`longbert.store.leases`). ``worker_host``/``worker_pid`` name the
    worker holding it, ``heartbeat_at`` its last sign of life (all None when none holds it).
    """

    id: int
    name: str
    status: str
    total: int
    done: int
    errors: int
    config: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    worker_host: str | None = None
    worker_pid: int | None = None
    heartbeat_at: datetime | None = None

    @property
    def worker(self) -> str | None:
        """``"process 123 on host"`` while a live worker holds the batch, else None."""
        if self.worker_pid is None:
            return None
        return f"process {self.worker_pid} on {self.worker_host}"

    @property
    def pending(self) -> int:
        return max(self.total - self.done - self.errors, 0)

    @property
    def fraction(self) -> float:
        """Share of items finished (done or failed), 0..1."""
        return 1.0 if self.total == 0 else (self.done + self.errors) / self.total


@dataclass(frozen=True)
class BatchItemRecord:
    """One item of a batch; ``row`` is its prediction's history row when it is done."""

    batch_id: int
    position: int
    name: str
    #: pending, done, error or superseded (a command-line re-run labelled the input again).
    status: str
    error: str | None
    prediction_id: int | None
    document_sha256: str | None
    updated_at: datetime
    row: HistoryRow | None = None
    #: The source row's other columns (a table upload's id, title...); empty if none.
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EpochRecord:
    """One epoch's metrics."""

    epoch: int
    metrics: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class TrainingRunRecord:
    """A training run with its configuration, outcome and (from ``get_training_run``) epochs."""

    id: int
    name: str
    status: str
    config: dict[str, Any]
    best_metrics: dict[str, Any] | None
    model_folder: str | None
    started_at: datetime
    finished_at: datetime | None
    epochs: list[EpochRecord] = field(default_factory=list)


@dataclass(frozen=True)
class LabelSetRecord:
    """A saved label set: ``labels`` in order, ``descriptions`` (label → description)."""

    id: int
    name: str
    labels: list[str]
    descriptions: dict[str, str]
    created_at: datetime
    updated_at: datetime

    @property
    def text(self) -> str:
        """As typed in the app: one ``label: description`` line per label."""
        return "\n".join(f"{label}: {self.descriptions.get(label, label)}" for label in self.labels)


@dataclass(frozen=True)
class CorrectionConflict:
    """A text whose predictions (made with one label set) carry different people's labels in
    force: ``votes`` maps each label to the prediction ids where it is in force."""

    document_sha256: str
    document_name: str
    model: str
    labels: list[str]
    votes: dict[str, list[int]]

    @property
    def prediction_ids(self) -> list[int]:
        return sorted(p for ids in self.votes.values() for p in ids)

    @property
    def title(self) -> str:
        """E.g. ``report.txt: 'sport' (#3) vs 'politics' (#7)``."""
        return f"{self.document_name}: " + " vs ".join(
            f"'{label}' (" + ", ".join(f"#{p}" for p in ids) + ")" for label, ids in self.votes.items()
        )


@dataclass(frozen=True)
class ConfirmOutcome:
    """What :meth:`Store.confirm_predictions` did: ``confirmed`` prediction ids, and ``skipped``
    ones with why (``(prediction id, document name, reason)``)."""

    confirmed: list[int]
    skipped: list[tuple[int, str, str]]


class RecordNotFoundError(StoreError, LookupError):
    """An id or name that is not in the database (a prediction, batch, model or training run)."""


class CorrectionChangedError(StoreError):
    """The label in force of a prediction is not the one the caller read: another person (or
    page) corrected it, or took a correction back, since. Nothing was saved; a person's label is
    never overruled by a change made from an out-of-date view."""
