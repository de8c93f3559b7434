"""The Review page's queue: one document at a time, the ones that teach the model most first.

A :class:`ReviewQueue` is built from stored predictions -- an upload batch, or any History
filter -- and ordered by a sampler of :mod:`longbert.active` (margin by default; least
confident, entropy, the diversity-aware ``cluster_uncertainty`` and ``kcenter``, random). Each
answer is saved at once as a correction of its prediction with :meth:`Store.add_correction`, the
call Batch label's grid and History make, so label sets, conflicts and training sets behave as
there; :meth:`ReviewQueue.undo` removes exactly the correction the last answer saved (the one in
force before it is in force again).

A multi-label queue (its model's, as the store records it) answers with label *sets*: accepting
saves the labels the model chose (every one over its threshold, maybe none), an answer is the
set of labels that apply (``[]``: none does), as Bulk Confirm and the Batch label grid save them.

Items already corrected count as reviewed; the rest are ranked. After a retrain
(:mod:`longbert.ui.review_jobs`) the remaining items carry the new model's probabilities (and
document embeddings), are ranked again, and :attr:`ReviewQueue.rescored` says when and with
which model -- also kept in the store, so a new session shows it.

:mod:`longbert.ui.review_source` builds a queue from the store. No Streamlit here: the page keeps a
queue in its session state and shows it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from longbert.active import SAMPLERS, get_sampler, rank
from longbert.active.samplers import DEFAULT_CLUSTERS
from longbert.errors import LongBertError
from longbert.store import CorrectionChangedError, HistoryFilter, RecordNotFoundError, Store

#: Samplers offered, in the page's order (margin first: the default).
REVIEW_SAMPLERS = ("margin", "least_confident", "entropy", "cluster_uncertainty", "kcenter", "random")
SAMPLER_TITLES = {
    "margin": "Margin (closest call between the top two labels)",
    "least_confident": "Least confident",
    "entropy": "Entropy",
    "cluster_uncertainty": "Diverse: most uncertain per cluster",
    "kcenter": "Diverse: k-center (core-set)",
    "random": "Random (baseline)",
}
#: The note an answer leaves on its correction (History shows it).
ANSWER_NOTE = "reviewed (Review page)"
ACCEPT_NOTE = "accepted the model's label (Review page)"
#: A multi-label re-score chooses the labels at or over this probability (predict's default
#: threshold, :func:`longbert.inference.predict`).
MULTI_LABEL_THRESHOLD = 0.5
#: Below this many reviewed documents for some label, retraining from a zero-shot start is
#: likely to make things worse (see :meth:`ReviewQueue.retrain_warning`).
FEW_LABELS_PER_CLASS = 8


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


@dataclass(frozen=True)
class Rescored:
    """When the remaining queue was last scored by a model other than the stored predictions'."""

    at: datetime
    model: str

    def text(self) -> str:
        return f"Last re-scored {self.at:%Y-%m-%d %H:%M} UTC with model {self.model}"


@dataclass
class ReviewQueue:
    """The queue over ``filters`` (see the module docstring); built by
    :func:`longbert.ui.review_source.build_queue`."""

    filters: HistoryFilter
    key: str
    labels: list[str]
    model: str
    label_set: str | None
    items: dict[int, QueueItem]
    #: prediction id → the label in force from a person (reviewed items; multi-label queues: the
    #: tuple of labels, see :data:`LabelAnswer`).
    reviewed: dict[int, LabelAnswer]
    #: prediction id → the id of the correction in force as this queue last read or saved it
    #: (absent: none). An answer is saved only while it is still in force (see :meth:`_save`).
    in_force: dict[int, int] = field(default_factory=dict)
    sampler: str = "margin"
    seed: int = 0
    #: The order shown: reviewed items first (as answered), then the rest, most useful first.
    order: list[int] = field(default_factory=list)
    position: int = 0
    embeddings: dict[int, np.ndarray] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    #: The re-score this queue's items carry (None: the stored predictions' probabilities).
    rescored: Rescored | None = None
    #: The last re-score of this source in an earlier session (its scores are not kept).
    earlier_rescore: Rescored | None = None
    #: Whether the queue's model is multi-label: answers are then sets of labels.
    multi_label: bool = False

    # -- what the page shows ---------------------------------------------------------------------

    @property
    def current(self) -> QueueItem | None:
        return self.items[self.order[self.position]] if self.order else None

    @property
    def pending(self) -> list[int]:
        return [p for p in self.order if p not in self.reviewed]

    def model_answer(self, item: QueueItem) -> LabelAnswer:
        """What accepting ``item`` saves: the model's label, or a multi-label model's set."""
        return item.model_labels if self.multi_label else item.model_label

    def predicted_answer(self, item: QueueItem) -> LabelAnswer:
        """The stored prediction's label (set): what "changed" is measured against."""
        return item.predicted_labels if self.multi_label else item.predicted

    def progress(self) -> tuple[int, int, int]:
        """``(reviewed, changed, total)``: changed = a person's label differs from the prediction."""
        changed = sum(
            1 for p, value in self.reviewed.items() if _differs(value, self.predicted_answer(self.items[p]))
        )
        return len(self.reviewed), changed, len(self.items)

    def answers_per_label(self) -> dict[str, int]:
        """How many reviewed documents carry each label (every label of the queue, 0 included;
        each label of a multi-label set counts)."""
        counts = dict.fromkeys(self.labels, 0)
        for value in self.reviewed.values():
            for label in (value,) if isinstance(value, str) else value:
                counts[label] = counts.get(label, 0) + 1
        return counts

    def retrain_warning(self, few_shot_method: str = "auto") -> str | None:
        """A caution before retraining from a zero-shot start on few labels, or None.

        Measured (bench_active.py on bbc_news, 5 labels, 3 seeds): with 8 labels per class the
        SetFit model scored 94.75 against zero-shot's 95.50, and a model fit from nothing on 20
        reviewed documents (4 per class) fell to 45-73% where zero-shot had 92%; below ~8 per
        class such a model is likely to be worse than the zero-shot labels it replaces. The
        corrected zero-shot model (``prior``, what ``auto`` trains from a zero-shot start on a
        single-label queue) starts *from* those labels and did not fall below them (95.83 at 8
        per class), so it gets no caution; it is single-label only, so on a multi-label queue
        ``auto`` means SetFit, which does.
        """
        if few_shot_method == "prior" or (few_shot_method == "auto" and not self.multi_label):
            return None
        if self.rescored is not None or not self.model.startswith("zero-shot"):
            return None
        fewest = min(self.answers_per_label().values(), default=0)
        if fewest >= FEW_LABELS_PER_CLASS:
            return None
        return (
            f"The fewest answers for one label is {fewest}. From a zero-shot start, models trained "
            f"on fewer than {FEW_LABELS_PER_CLASS} documents per label were usually *worse* than "
            "the zero-shot labels in our measurements (bbc_news: 4 per label gave 45-73% where "
            "zero-shot gave 92%). Retrain anyway to see, or review more first; the zero-shot "
            "predictions stay stored either way."
        )

    def progress_text(self) -> str:
        """E.g. ``37 reviewed · 12 changed · 151 to go``."""
        reviewed, changed, total = self.progress()
        return f"{reviewed} reviewed · {changed} changed · {total - reviewed} to go"

    # -- moving ------------------------------------------------------------------------------------

    def move(self, step: int) -> None:
        """Arrows: the next (``+1``) or previous (``-1``) document, stopping at the ends."""
        if self.order:
            self.position = max(0, min(len(self.order) - 1, self.position + step))

    def go_to(self, prediction_id: int) -> None:
        self.position = self.order.index(prediction_id)

    def _next_pending(self) -> None:
        after = [i for i in range(self.position + 1, len(self.order)) if self.order[i] not in self.reviewed]
        before = [i for i in range(len(self.order)) if self.order[i] not in self.reviewed]
        if after or before:
            self.position = (after or before)[0]

    # -- answering ---------------------------------------------------------------------------------

    def answer(self, store: Store, label: str | Sequence[str], prediction_id: int | None = None) -> Answer:
        """Save ``label`` as the correction of the current document (or ``prediction_id``), move
        on to the next unreviewed one, and return what was saved.

        A single-label queue takes one label (or a list of one); a multi-label queue the list of
        labels that apply (``[]``: none does) -- never one label alone, which would silently
        drop the others the model chose."""
        return self._save(store, self._answer_of(label), ANSWER_NOTE, prediction_id)

    def accept(self, store: Store, prediction_id: int | None = None) -> Answer:
        """Save the model's label (as last scored; a multi-label model's whole set) as the
        person's: Enter on the page."""
        item = self._item(prediction_id)
        return self._save(store, self.model_answer(item), ACCEPT_NOTE, item.prediction_id)

    def _answer_of(self, given: str | Sequence[str]) -> LabelAnswer:
        """``given`` as this queue's answer, or ReviewError saying what it takes."""
        values = [given] if isinstance(given, str) else [str(label) for label in given]
        unknown = [label for label in values if label not in self.labels]
        if unknown:
            raise ReviewError(
                f"{', '.join(map(repr, unknown))} is not a label of this queue ({', '.join(self.labels)})."
            )
        if self.multi_label:
            if isinstance(given, str):
                raise ReviewError(
                    "This queue is multi-label: answer with the list of labels that apply ([] when "
                    f"none does), e.g. ['{given}'], so that no label the model chose is dropped."
                )
            return tuple(label for label in self.labels if label in values)
        if len(values) != 1:
            raise ReviewError(f"This queue is single-label: answer with one label, got {values}.")
        return values[0]

    def undo(self, store: Store) -> Answer | None:
        """Take back the last answer: its correction is removed (the one before it, or the
        prediction, is in force again) and the queue goes back to that document.

        A correction taken back elsewhere already (History, the Batch label grid) leaves nothing
        to undo: the answer is dropped, the document shows what is in force, and ReviewError
        says so. A label someone set after the answer stays in force."""
        if not self.answers:
            return None
        last = self.answers[-1]
        try:
            store.remove_correction(last.prediction_id, last.correction_id)
        except RecordNotFoundError as error:
            self.answers.pop()
            self.refresh(store, last.prediction_id)
            self.go_to(last.prediction_id)
            raise ReviewError(
                f"Your answer '{last.label}' on {self.items[last.prediction_id].document_name} was "
                "already taken back elsewhere: nothing to undo. The document shows the label in "
                "force now."
            ) from error
        self.answers.pop()
        self.refresh(store, last.prediction_id)
        self.go_to(last.prediction_id)
        return last

    def refresh(self, store: Store, prediction_id: int) -> None:
        """Read the correction in force of one item again (after it changed, here or elsewhere)."""
        corrections = store.list_corrections(prediction_id)
        if corrections:
            self.reviewed[prediction_id] = self.value_of(corrections[-1].label, corrections[-1].labels)
            self.in_force[prediction_id] = corrections[-1].id
        else:
            self.reviewed.pop(prediction_id, None)
            self.in_force.pop(prediction_id, None)

    def value_of(self, label: str, labels: Sequence[str] | None) -> LabelAnswer:
        """A stored correction (its ``label`` and ``labels``) as this queue's answer."""
        if not self.multi_label:
            return label
        chosen = set(labels if labels is not None else [label])
        return tuple(name for name in self.labels if name in chosen)

    def _item(self, prediction_id: int | None) -> QueueItem:
        if prediction_id is None:
            if self.current is None:
                raise ReviewError("The queue is empty.")
            return self.current
        if prediction_id not in self.items:
            raise ReviewError(f"Prediction #{prediction_id} is not in this queue.")
        return self.items[prediction_id]

    def _save(self, store: Store, value: LabelAnswer, note: str, prediction_id: int | None) -> Answer:
        item = self._item(prediction_id)
        try:
            correction_id = store.add_correction(
                item.prediction_id,
                value if isinstance(value, str) else list(value),
                note=note,
                in_force=self.in_force.get(item.prediction_id),
            )
        except CorrectionChangedError as error:
            # Someone labelled it (or took a label back) since this queue read it: show them what
            # is in force now; answering again is then a choice made knowing it.
            self.refresh(store, item.prediction_id)
            raise ReviewError(str(error)) from error
        answer = Answer(
            item.prediction_id,
            correction_id,
            answer_text(value),
            _differs(value, self.predicted_answer(item)),
            _conflict(store, self.model, item.prediction_id),
            (value,) if isinstance(value, str) else value,
        )
        self.answers.append(answer)
        self.reviewed[item.prediction_id] = value
        self.in_force[item.prediction_id] = correction_id
        self.go_to(item.prediction_id)
        self._next_pending()
        return answer

    # -- ranking -----------------------------------------------------------------------------------

    def needs_embeddings(self, sampler: str | None = None) -> bool:
        """Whether ``sampler`` (default: the queue's) needs document embeddings it lacks."""
        chosen = get_sampler(sampler or self.sampler)
        return chosen.needs_embeddings and any(p not in self.embeddings for p in self.pending)

    def rerank(self, sampler: str | None = None, seed: int | None = None) -> None:
        """Order the unreviewed items by ``sampler`` (reviewed ones stay first, as answered) and
        go to the first unreviewed one. A diversity sampler needs embeddings (a re-score)."""
        if sampler is not None:
            if sampler not in SAMPLERS:
                raise ReviewError(f"Unknown sampler '{sampler}'. Choose one of: {', '.join(SAMPLERS)}.")
            self.sampler = sampler
        self.seed = self.seed if seed is None else seed
        if self.needs_embeddings():
            raise ReviewError(
                f"The '{self.sampler}' order needs document embeddings: score the queue with the "
                "model first (one pass over the remaining documents)."
            )
        done = [p for p in self.order if p in self.reviewed] + [
            p for p in self.items if p in self.reviewed and p not in self.order
        ]
        pending = [p for p in self.items if p not in self.reviewed]
        ranked = _rank_items(self, pending)
        self.order = done + ranked
        self.position = len(done) if ranked else max(0, len(done) - 1)

    def apply_scores(
        self,
        labels: Sequence[str],
        probabilities: Mapping[int, Sequence[float]],
        embeddings: Mapping[int, Sequence[float]] | None = None,
        *,
        model: str | None = None,
        store: Store | None = None,
        at: datetime | None = None,
    ) -> None:
        """Take a model's scores of queue items (prediction id → probabilities in ``labels``
        order, and embeddings), then re-rank. With ``model`` this is a re-score: it is recorded
        (in ``store`` too, so the next session shows it)."""
        unknown = set(labels) - set(self.labels)
        if unknown:
            raise ReviewError(f"The model's labels {sorted(unknown)} are not this queue's ({self.labels}).")
        for prediction_id, row in probabilities.items():
            if prediction_id in self.items and np.isfinite(np.asarray(row, dtype=float)).all():
                scored = dict(zip(labels, map(float, row), strict=True))
                values = {label: scored.get(label, 0.0) for label in self.labels}
                # A new model's choice, at predict's threshold; the queue's own model's scores
                # leave its stored choice (made at the threshold it ran with).
                chosen = tuple(k for k, v in values.items() if v >= MULTI_LABEL_THRESHOLD)
                self.items[prediction_id] = replace(
                    self.items[prediction_id],
                    probabilities=values,
                    rescored_labels=chosen if self.multi_label and model is not None else None,
                )
        for prediction_id, vector in (embeddings or {}).items():
            array = np.asarray(vector, dtype=np.float64)
            if prediction_id in self.items and np.isfinite(array).all():
                self.embeddings[prediction_id] = array
        if model is not None:
            self.rescored = self.earlier_rescore = Rescored(at or datetime.now(UTC), model)
            if store is not None:
                store.set_setting(
                    rescore_setting(self.key),
                    json.dumps({"at": self.rescored.at.isoformat(), "model": model})[:255],
                )
        self.rerank()


def _rank_items(queue: ReviewQueue, pending: list[int]) -> list[int]:
    """``pending`` in the sampler's order. Diversity samplers also see the reviewed documents
    they have embeddings of, as already labelled: k-center keeps away from them."""
    if not pending:
        return []
    chosen = get_sampler(queue.sampler)
    if queue.sampler == "cluster_uncertainty":
        # A queue of N documents in ~sqrt(N) clusters: each round of questions spans the
        # clusters, and a cluster is big enough to hold near-duplicates together.
        chosen = get_sampler(
            queue.sampler, clusters=min(DEFAULT_CLUSTERS, max(2, round(len(pending) ** 0.5)))
        )
    anchors = [p for p in queue.reviewed if p in queue.embeddings] if chosen.needs_embeddings else []
    rows = pending + anchors
    matrix = np.array(
        [[queue.items[p].probabilities.get(label, 0.0) for label in queue.labels] for p in rows]
    )
    vectors = np.stack([queue.embeddings[p] for p in rows]) if chosen.needs_embeddings else None
    order = rank(
        matrix,
        sampler=chosen,
        embeddings=vectors,
        seed=queue.seed,
        labels=queue.labels,
        multi_label=queue.multi_label,
        already_labelled=list(range(len(pending), len(rows))),
    )
    ranked = [rows[i] for i in order]
    return ranked + [p for p in pending if p not in set(ranked)]  # unusable rows last, never lost


def _differs(given: LabelAnswer, predicted: LabelAnswer) -> bool:
    """Whether an answer differs from the prediction (label sets: in any order)."""
    if isinstance(given, str) or isinstance(predicted, str):
        return given != predicted
    return set(given) != set(predicted)


def _conflict(store: Store, model: str, prediction_id: int) -> str | None:
    """The conflict this prediction's text is in now (as History lists it), if any."""
    for conflict in store.correction_conflicts(model=model):
        if prediction_id in conflict.prediction_ids:
            return conflict.title
    return None


def rescore_setting(key: str) -> str:
    """The store setting that keeps the last re-score of the queue ``key`` (any session)."""
    return f"review:{key}"[:64]
