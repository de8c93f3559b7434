"""The parts of a Review queue (:mod:`longbert.ui.review`): its items, the answers it saved, its
last re-score, and the rule for documents whose text a person labelled already (the sampler
order of its items is :mod:`longbert.ui.review_ranking`'s).

*One text, one question.* The store keeps one document per text (its SHA-256); a text can have
several predictions (uploaded in two batches, or classified again). A person's label in force
on any of them under the queue's label set -- what Bulk Confirm checks by text before it records
a model's label (:meth:`Store.confirm_predictions`) -- answers the question for every prediction
of that text the queue holds: :func:`label_of_text` picks the latest such label (as a training
set takes a text's latest correction), and the queue shows it, and where it is from, instead of
asking again (an answer that differed would make a conflict). An answer is saved on each of the
queue's predictions of the text (:func:`save_copies`), so that each one's batch export and
History row carry it, as Bulk Confirm records each prediction it confirms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from longbert.errors import LongBertError
from longbert.store import CorrectionChangedError, RecordNotFoundError, Store
from longbert.store.text_labels import TextVote

#: A person's answer: one label (single-label queues), or the labels that apply in the queue's
#: label order (multi-label queues; empty: no label applies).
LabelAnswer = str | tuple[str, ...]


class ReviewError(LongBertError):
    """The queue cannot do what was asked; the message says why and what to do."""


def answer_text(value: LabelAnswer) -> str:
    """An answer as the page writes it: ``econ``, ``econ, sport`` or ``no label applies``."""
    if isinstance(value, str):
        return value
    return ", ".join(value) if value else "no label applies"


def differs(given: LabelAnswer, predicted: LabelAnswer) -> bool:
    """Whether an answer differs from the prediction (label sets: in any order)."""
    if isinstance(given, str) or isinstance(predicted, str):
        return given != predicted
    return set(given) != set(predicted)


@dataclass(frozen=True)
class QueueItem:
    """One document of the queue: its stored prediction and the model's current view of it.

    ``probabilities`` are the stored prediction's until a re-score replaces them; ``predicted``
    (``predicted_labels`` on a multi-label queue) is the stored prediction's label (what
    "changed" is measured against).
    """

    prediction_id: int
    document_name: str
    predicted: str
    probabilities: dict[str, float]
    #: The stored prediction's chosen labels: multi-label, every label at or over its threshold
    #: (maybe none), in the queue's label order; single-label, ``(predicted,)``.
    predicted_labels: tuple[str, ...] = ()
    #: A multi-label re-score's chosen labels; None: the stored prediction's.
    rescored_labels: tuple[str, ...] | None = None
    #: The text's SHA-256 (empty: unknown, the item is a text of its own).
    document_sha256: str = ""

    @property
    def model_label(self) -> str:
        """The label the model (as last scored) finds most probable: what accepting saves on
        a single-label queue."""
        if not self.probabilities:
            return self.predicted
        return max(self.probabilities, key=lambda k: self.probabilities[k])

    @property
    def model_labels(self) -> tuple[str, ...]:
        """The labels the model (as last scored) chooses: what accepting saves on a
        multi-label queue (the most probable one alone would drop the others)."""
        return self.predicted_labels if self.rescored_labels is None else self.rescored_labels

    @property
    def text_key(self) -> str:
        """What identifies the item's text within a queue."""
        return self.document_sha256 or f"#{self.prediction_id}"


@dataclass(frozen=True)
class Answer:
    """What one answer saved: the correction, and whether it changes the predicted label."""

    prediction_id: int
    correction_id: int
    #: What was saved, as the page writes it (:func:`answer_text`).
    label: str
    changed: bool
    #: Set when the text now carries different people's labels (settle it in History).
    conflict: str | None = None
    #: The label(s) saved: one, or a multi-label queue's set (empty: no label applies).
    labels: tuple[str, ...] = ()
    #: The queue's other predictions of the same text the answer was saved on too, as
    #: ``(prediction id, correction id)``: undoing the answer takes these back with it.
    copies: tuple[tuple[int, int], ...] = ()
    #: Why it was not saved on some of them (someone labelled one meanwhile).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rescored:
    """When the remaining queue was last scored by a model other than the stored predictions'."""

    at: datetime
    model: str

    def text(self) -> str:
        return f"Last re-scored {self.at:%Y-%m-%d %H:%M} UTC with model {self.model}"


class TextLabel(NamedTuple):
    """A person's label in force on one prediction of a text."""

    prediction_id: int
    correction_id: int
    value: LabelAnswer


def label_of_text(
    members: list[int],
    in_force: Mapping[int, int],
    reviewed: Mapping[int, LabelAnswer],
    outside: Sequence[TextLabel] = (),
) -> TextLabel | None:
    """The person's label that answers for a text: the latest correction in force (highest id)
    among the queue's predictions of it (``members``, with their corrections ``in_force``) and
    the ones outside the queue; None when no person labelled the text. A training set takes a
    text's latest correction too (:meth:`Store.export_label_set_training_set`)."""
    found = [TextLabel(p, in_force[p], reviewed[p]) for p in members if p in in_force and p in reviewed]
    return max([*found, *outside], key=lambda label: label.correction_id, default=None)


class ReviewQueue(Protocol):
    """What the functions below use of :class:`longbert.ui.review.ReviewQueue` (a protocol, so
    this module, which that one imports, does not import it back)."""

    labels: list[str]
    items: dict[int, QueueItem]
    reviewed: dict[int, LabelAnswer]
    in_force: dict[int, int]
    answers: list[Answer]
    multi_label: bool
    same_text: dict[int, int]
    outside: dict[str, list[TextLabel]]

    def refresh(self, store: Store, prediction_id: int) -> None: ...

    def value_of(self, label: str, labels: Sequence[str] | None) -> LabelAnswer: ...


def text_votes(queue: ReviewQueue) -> dict[str, dict[str, list[int]]]:
    """Text key → each person's label in force on it (as :func:`answer_text` writes it) → the
    predictions carrying it: the queue's own corrections and those outside it, under the
    queue's label set."""
    votes: dict[str, dict[str, list[int]]] = {}

    def add(key: str, value: LabelAnswer, prediction_id: int) -> None:
        votes.setdefault(key, {}).setdefault(answer_text(value), []).append(prediction_id)

    for prediction_id in queue.in_force:  # the queue's own corrections
        if prediction_id in queue.items and prediction_id in queue.reviewed:
            add(queue.items[prediction_id].text_key, queue.reviewed[prediction_id], prediction_id)
    for key, labels in queue.outside.items():
        for label in labels:
            add(key, label.value, label.prediction_id)
    return votes


def training_answers(queue: ReviewQueue) -> dict[str, LabelAnswer]:
    """Text key → the label a retrain trains on, for each of the queue's reviewed texts: its
    person's label (:func:`label_of_text`), unless its predictions carry different people's
    labels (a conflict, which the training set leaves out). The same rule as the retrain's
    training set (:func:`longbert.ui.review_jobs.retrain_config`), so the counts agree."""
    conflicting = {key for key, labels in text_votes(queue).items() if len(labels) > 1}
    return {
        queue.items[p].text_key: value
        for p, value in queue.reviewed.items()
        if queue.items[p].text_key not in conflicting
    }


def read_text_again(queue: ReviewQueue, store: Store, item: QueueItem) -> str | None:
    """Read the people's labels on ``item``'s text outside the queue again (someone may have
    labelled it meanwhile), and return the conflict the text is in now, if any, as History
    titles one (e.g. ``report.txt: 'sport' (#3) vs 'econ' (#7)``)."""
    if item.document_sha256:
        found = store.labels_of_texts([item.document_sha256], queue.labels, multi_label=queue.multi_label)
        outside = outside_labels(queue, found).get(item.document_sha256, [])
        if outside:
            queue.outside[item.document_sha256] = outside
        else:
            queue.outside.pop(item.document_sha256, None)
    votes = text_votes(queue).get(item.text_key, {})
    if len(votes) < 2:
        return None
    return f"{item.document_name}: " + " vs ".join(
        f"'{label}' (" + ", ".join(f"#{p}" for p in sorted(ids)) + ")" for label, ids in votes.items()
    )


def outside_labels(queue: ReviewQueue, found: Mapping[str, Sequence[TextVote]]) -> dict[str, list[TextLabel]]:
    """Text (SHA-256) → the people's labels in force on its predictions outside ``queue``, as
    the queue's answers, from what :meth:`Store.labels_of_texts` ``found``."""
    outside: dict[str, list[TextLabel]] = {}
    for sha, votes in found.items():
        for vote in votes:
            if vote.prediction_id not in queue.items:
                value = queue.value_of(", ".join(vote.labels), vote.labels)
                outside.setdefault(sha, []).append(TextLabel(vote.prediction_id, vote.correction_id, value))
    return outside


def settle_texts(queue: ReviewQueue, prediction_ids: Iterable[int] | None = None) -> None:
    """On each of ``queue``'s items of the texts of ``prediction_ids`` (None: every text) that
    has no correction of its own, show the person's label of its text (:func:`label_of_text`)
    and where it is from -- or nothing, when no person labelled the text."""
    wanted = None if prediction_ids is None else {queue.items[p].text_key for p in prediction_ids}
    texts: dict[str, list[int]] = {}
    for prediction_id, item in queue.items.items():
        if wanted is None or item.text_key in wanted:
            texts.setdefault(item.text_key, []).append(prediction_id)
    for key, members in texts.items():
        found = label_of_text(members, queue.in_force, queue.reviewed, queue.outside.get(key, ()))
        for prediction_id in members:
            if prediction_id in queue.in_force or found is None:
                queue.same_text.pop(prediction_id, None)
                if prediction_id not in queue.in_force:
                    queue.reviewed.pop(prediction_id, None)
            else:
                queue.reviewed[prediction_id] = found.value
                queue.same_text[prediction_id] = found.prediction_id


def save_copies(
    queue: ReviewQueue, store: Store, item: QueueItem, value: LabelAnswer, note: str
) -> tuple[list[tuple[int, int]], list[str]]:
    """Save ``value`` on the queue's other predictions of ``item``'s text too, so that each
    of them (its batch's export, History) carries the person's label. One carrying its own
    person's label is left as it is -- never overruled; a different one is a conflict, and
    the answer says so -- unless that label is a copy or answer of this queue."""
    ours = {a.correction_id for a in queue.answers} | {c for a in queue.answers for _, c in a.copies}
    copies: list[tuple[int, int]] = []
    notes: list[str] = []
    for other, other_item in queue.items.items():
        current = queue.in_force.get(other)
        if other == item.prediction_id or other_item.text_key != item.text_key:
            continue
        if current is not None and current not in ours:
            continue
        try:
            correction_id = store.add_correction(
                other,
                value if isinstance(value, str) else list(value),
                note=note,
                in_force=current,
            )
        except (CorrectionChangedError, RecordNotFoundError) as error:
            queue.refresh(store, other)
            notes.append(f"Not saved on #{other} (the same text): {error}")
            continue
        queue.reviewed[other], queue.in_force[other] = value, correction_id
        copies.append((other, correction_id))
    return copies, notes
