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

Items already corrected count as reviewed, and so do those whose text a person labelled on
another prediction under the queue's label set, by any model of the queue's kind (single- or
multi-label; see :mod:`longbert.ui.review_items`): the text is asked about once, and an answer
is saved on each of the queue's predictions of that text that carries no other person's label.
A retrain trains on those same labels (the label set's, each text once; conflicting ones left
out, and not counted by :meth:`ReviewQueue.answers_per_label`). The rest are ranked. After a retrain
(:mod:`longbert.ui.review_jobs`) the remaining items carry the new model's probabilities (and
document embeddings), are ranked again (:mod:`longbert.ui.review_ranking`: the samplers, the
order, re-scores), and :attr:`ReviewQueue.rescored` says when and with which model -- also kept
in the store, so a new session shows it.

:mod:`longbert.ui.review_source` builds a queue from the store. No Streamlit here: the page keeps a
queue in its session state and shows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field

import numpy as np

from longbert.store import CorrectionChangedError, HistoryFilter, RecordNotFoundError, Store
from longbert.ui.review_items import (
    Answer,
    LabelAnswer,
    QueueItem,
    Rescored,
    ReviewError,
    TextLabel,
    answer_text,
    differs,
    read_text_again,
    save_copies,
    settle_texts,
    training_answers,
)
from longbert.ui.review_ranking import REVIEW_SAMPLERS as REVIEW_SAMPLERS
from longbert.ui.review_ranking import SAMPLER_TITLES as SAMPLER_TITLES
from longbert.ui.review_ranking import QueueRanking
from longbert.ui.review_ranking import rescore_setting as rescore_setting

#: The note an answer leaves on its correction (History shows it).
ANSWER_NOTE = "reviewed (Review page)"
ACCEPT_NOTE = "accepted the model's label (Review page)"
#: The note on a copy of an answer saved on another prediction of the same text.
SAME_TEXT_NOTE = "reviewed as the same text, prediction #{} (Review page)"
#: Below this many reviewed documents for some label, retraining from a zero-shot start is
#: likely to make things worse (see :meth:`ReviewQueue.retrain_warning`).
FEW_LABELS_PER_CLASS = 8


@dataclass
class ReviewQueue(QueueRanking):
    """The queue over ``filters`` (see the module docstring); built by
    :func:`longbert.ui.review_source.build_queue`. Its order -- ranking by a sampler, taking a
    model's scores -- is :class:`~longbert.ui.review_ranking.QueueRanking`'s."""

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
    #: prediction id → the other prediction of the same text whose person's label ``reviewed``
    #: shows for it (in this queue or not). Absent: its own correction, or none.
    same_text: dict[int, int] = field(default_factory=dict)
    #: text (SHA-256) → the people's labels in force on it outside this queue under the queue's
    #: label set (one per prediction), as read when the queue was built or last answered it.
    outside: dict[str, list[TextLabel]] = field(default_factory=dict)

    # -- what the page shows ---------------------------------------------------------------------

    @property
    def current(self) -> QueueItem | None:
        return self.items[self.order[self.position]] if self.order else None

    def model_answer(self, item: QueueItem) -> LabelAnswer:
        """What accepting ``item`` saves: the model's label, or a multi-label model's set."""
        return item.model_labels if self.multi_label else item.model_label

    def predicted_answer(self, item: QueueItem) -> LabelAnswer:
        """The stored prediction's label (set): what "changed" is measured against."""
        return item.predicted_labels if self.multi_label else item.predicted

    def progress(self) -> tuple[int, int, int]:
        """``(reviewed, changed, total)``: changed = a person's label differs from the prediction."""
        changed = sum(
            1 for p, value in self.reviewed.items() if differs(value, self.predicted_answer(self.items[p]))
        )
        return len(self.reviewed), changed, len(self.items)

    def answers_per_label(self) -> dict[str, int]:
        """How many reviewed texts a retrain trains on carry each label (every label of the
        queue, 0 included; each label of a multi-label set counts): a text once, and none whose
        people's labels conflict, as in the retrain's training set (:func:`training_answers`)."""
        counts = dict.fromkeys(self.labels, 0)
        for value in training_answers(self).values():
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
        left_out = len({self.items[p].text_key for p in self.reviewed} - set(training_answers(self)))
        conflicts = f" · {left_out} in conflict (left out of training)" if left_out else ""
        return f"{reviewed} reviewed · {changed} changed · {total - reviewed} to go{conflicts}"

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
        """Take back the last answer: its correction, and its copies on the same text, are
        removed (the one before each, or the prediction, is in force again) and the queue goes
        back to that document.

        A correction taken back elsewhere already (History, the Batch label grid) leaves nothing
        to undo: the answer is dropped, the document shows what is in force, and ReviewError
        says so. A label someone set after the answer stays in force."""
        if not self.answers:
            return None
        last = self.answers[-1]
        for prediction_id, correction_id in last.copies:  # the same text's copies go with it
            with suppress(RecordNotFoundError):  # taken back elsewhere already: nothing to do
                store.remove_correction(prediction_id, correction_id)
            self.refresh(store, prediction_id)
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
        self.settle([prediction_id])

    def settle(self, prediction_ids: Iterable[int] | None = None) -> None:
        """Show, on each item of the texts of ``prediction_ids`` (None: every text) that has no
        correction of its own, the person's label of its text (:func:`label_of_text`), if any."""
        settle_texts(self, prediction_ids)

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
        self.reviewed[item.prediction_id] = value
        self.in_force[item.prediction_id] = correction_id
        copies, notes = save_copies(self, store, item, value, SAME_TEXT_NOTE.format(item.prediction_id))
        conflict = read_text_again(self, store, item)
        self.settle([item.prediction_id])
        answer = Answer(
            item.prediction_id,
            correction_id,
            answer_text(value),
            differs(value, self.predicted_answer(item)),
            conflict,
            (value,) if isinstance(value, str) else value,
            tuple(copies),
            tuple(notes),
        )
        self.answers.append(answer)
        self.go_to(item.prediction_id)
        self._next_pending()
        return answer
