"""A Label Studio JSON export into the store (:func:`import_label_studio`; see
:mod:`longbert.ui.label_studio`, which also names it).

Each task's predictions are kept as predictions (model ``label-studio:<model_version>``; the
chosen label gets the task's score, the other labels share the rest), and its annotations become
a person's corrections under a named label set. A task annotated but never pre-annotated gets a
record-only prediction (model ``label-studio:annotations``, every label equally likely), so the
correction has something to correct.

An import never loses what is saved: an existing label set keeps its labels and their
descriptions (zero-shot reads them) and only gains the labels the file adds -- never a choice
that is several labels joined into one (``"x, y"``, as older LongBERT exports wrote a multi-label
correction). Each task's text becomes a document exactly as an uploaded table row does
(:func:`~longbert.bulk.items.text_item`), so its SHA-256 matches the same text uploaded; a task
that cannot be a document, or whose labels do not fit the set, is skipped whole, with its reason.

Each task is stored in one transaction (:meth:`~longbert.store.Store.transaction`): its
prediction(s), its corrections and the list of annotations imported onto it are stored together
or -- an error, a crash, a kill midway -- not at all. A task that failed so is named in
:attr:`Imported.skipped` with nothing of it stored, and importing the file again imports it
whole; the tasks before it stay stored. Importing a file again adds exactly the annotations not
imported before (see :mod:`longbert.ui.label_studio_reimport`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from longbert.bulk.items import text_item
from longbert.document import Document
from longbert.errors import LongBertError
from longbert.readers import FileError
from longbert.store import Store
from longbert.store.records import LabelSetRecord
from longbert.text.limits import DEFAULT_LIMITS
from longbert.ui.label_studio_reimport import ANNOTATIONS_KEY, Reimport
from longbert.ui.label_studio_tasks import (
    NOTE,
    Annotation,
    Chosen,
    every_choice,
    is_joined,
    load_tasks,
    stored_prediction,
    task_results,
    task_text,
)

#: Where imported documents say they came from.
IMPORT_SOURCE = "import"
#: The prediction ``extra`` key naming the task a prediction was imported from.
TASK_KEY = "label_studio_task"
#: Added to the name of the models a multi-label import records (a model is one or the other).
MULTI_LABEL_SUFFIX = " (multi-label)"

#: A task checked whole: its document, predictions, annotations, and what earlier imports
#: stored of it (:meth:`Store.tagged_predictions`; empty for a task new to the store).
_Checked = tuple[Document, Chosen, list[Annotation], list[dict[str, Any]]]


@dataclass
class Imported:
    """What :func:`import_label_studio` stored."""

    tasks: int = 0
    predictions: int = 0
    corrections: int = 0
    #: ``task id: reason`` for each task left out.
    skipped: list[str] = field(default_factory=list)
    #: Labels this import added to the label set (all of them when the set is new).
    added_labels: list[str] = field(default_factory=list)
    #: Whether the label set was made by this import.
    new_label_set: bool = False
    #: Whether a text may have several labels in this set (the corrections keep every choice).
    multi_label: bool = False
    #: Tasks left as they were: imported before, with the same text, under the same set, and
    #: no annotation of them new (legacy tasks included).
    already_imported: int = 0
    #: Of those, tasks an older LongBERT imported, which did not record which annotations it
    #: stored: left as they were, even if Label Studio has new annotations for them.
    legacy: int = 0
    #: ``task id, annotation: reason`` for each annotation edited in Label Studio whose new
    #: answer was not applied (a person set another label in LongBERT since it was imported; or
    #: an older LongBERT imported it without its version).
    not_applied: list[str] = field(default_factory=list)

    def add(self, task: Imported) -> None:
        """Count in what one task stored (its own :class:`Imported`: the per-task fields)."""
        self.tasks += task.tasks
        self.predictions += task.predictions
        self.corrections += task.corrections
        self.already_imported += task.already_imported
        self.legacy += task.legacy
        self.not_applied += task.not_applied


def _saved_labels(store: Store, name: str) -> list[str]:
    try:
        return list(store.get_label_set(name).labels)
    except LookupError:
        return []


def _label_set(store: Store, name: str, wanted: Sequence[str]) -> tuple[LabelSetRecord, list[str], bool]:
    """The label set ``name`` with ``wanted`` in it: ``(record, labels added, made now)``. An
    existing set keeps its labels, in order, and their descriptions; only new labels are added."""
    try:
        earlier: LabelSetRecord | None = store.get_label_set(name)
    except LookupError:
        earlier = None
    wanted = list(dict.fromkeys(wanted))
    if earlier is None:
        if len(wanted) < 2:
            raise LongBertError(
                f"The file uses only the label(s) {', '.join(wanted) or 'none'}: a label set needs "
                "two or more. Name an existing label set, or give its labels."
            )
        return store.save_label_set(name, wanted), wanted, True
    added = [label for label in wanted if label not in earlier.labels]
    if not added:
        return earlier, [], False
    descriptions = {label: earlier.descriptions.get(label, label) for label in earlier.labels}
    descriptions.update({label: label for label in added})
    return store.save_label_set(earlier.name, descriptions), added, False


def _is_multi_label(store: Store, label_set: str, tasks: Sequence[Mapping[str, Any]]) -> bool:
    """Multi-label when the set's earlier predictions are (any of them from a multi-label
    model); for a set without predictions, when some task of the file has several labels."""
    models = [model for model, sets in store.label_sets_by_model().items() if label_set in sets]
    if models:
        flags = {record.name: record.multi_label for record in store.list_models()}
        return any(flags.get(model, False) for model in models)
    return any(len(choice) > 1 for task in tasks for choice in every_choice(task))


def import_label_studio(
    store: Store,
    data: bytes,
    label_set: str,
    labels: Sequence[str] | None = None,
    multi_label: bool | None = None,
) -> Imported:
    """Store a Label Studio JSON export (a list of tasks) under the label set ``label_set``.

    ``labels``: the set's labels; default: every choice the file uses (but a choice that is
    several of them joined, ``"x, y"``). An existing set keeps its labels and descriptions and
    gains only labels it lacks (:attr:`Imported.added_labels`). ``multi_label``: whether a text
    may have several labels; None: as the set's earlier predictions are, else as the file is (a
    task with several choices). In a single-label set a task with several choices is skipped,
    named, with its reason.

    Raises LongBertError for a file that is not a Label Studio JSON export. A task without a
    usable text or label, or with a label outside the set, is skipped whole and named in
    :attr:`Imported.skipped`; of a task imported before only annotations not imported before
    are added (:attr:`Imported.already_imported` counts those with none): nothing is imported
    twice, nor brought back after a person took it back.
    """
    tasks = load_tasks(data)
    if labels is None:
        used = [label for task in tasks for choice in every_choice(task) for label in choice]
        known = [*used, *_saved_labels(store, label_set)]
        labels = [label for label in used if not is_joined(label, known)]
    if multi_label is None:
        multi_label = _is_multi_label(store, " ".join(str(label_set).split()), tasks)
    record, added, made = _label_set(store, label_set, list(labels))
    importer = _Importer(
        store, record, multi_label, Imported(added_labels=added, new_label_set=made, multi_label=multi_label)
    )
    for number, task in enumerate(tasks, start=1):
        task_id = task.get("id", number)
        reason = importer.task(task, task_id)
        if reason:
            importer.out.skipped.append(f"task {task_id}: {reason}")
    return importer.out


class _Importer(Reimport):
    """One import's tasks into one label set: each checked whole, then written in one
    transaction; a task imported before is :class:`Reimport`'s work."""

    def __init__(self, store: Store, record: LabelSetRecord, multi_label: bool, out: Imported) -> None:
        self.store, self.record, self.multi_label, self.out = store, record, multi_label, out
        self.suffix = MULTI_LABEL_SUFFIX if multi_label else ""
        #: What earlier imports stored under this set (see :meth:`Store.tagged_predictions`).
        self.earlier = store.tagged_predictions(TASK_KEY, label_set=record.name, source=IMPORT_SOURCE)
        #: Model name → why it cannot take this import's predictions ("" when it can).
        self.models: dict[str, str] = {}

    def task(self, task: Mapping[str, Any], task_id: Any) -> str | None:
        """Store one task in one transaction; the reason when it is skipped. A task whose
        writes fail midway leaves nothing stored (and nothing counted): it is skipped, named,
        and importing the file again imports it whole."""
        checked = self._check(task, task_id)
        if isinstance(checked, str):
            return checked
        total, self.out = self.out, Imported()
        models = dict(self.models)
        try:
            with self.store.transaction():  # the write lock is held from here: checks come first
                reason = self._store(task_id, *checked)
        except LongBertError as error:
            self.models = models  # a model registered in the transaction is gone with it
            return f"not stored ({error}); nothing of it was saved: import the file again to add it"
        else:
            total.add(self.out)
            return reason
        finally:
            self.out = total

    def _check(self, task: Mapping[str, Any], task_id: Any) -> str | _Checked:
        """A task checked whole (nothing written): why it is skipped, or what to store -- its
        document, predictions, annotations and what earlier imports stored of it."""
        text = task_text(task["data"]) if isinstance(task["data"], Mapping) else None
        if not text or not text.strip():
            return "no text"
        name = str(task["data"].get("name") or f"label-studio task {task_id}")
        item = text_item(text, name, source=IMPORT_SOURCE, limits=DEFAULT_LIMITS)
        if isinstance(item, FileError):
            return item.reason
        predictions, people = task_results(task, task_id)
        if not self.multi_label:  # "no label applies" is no single label
            people = [(identity, choice) for identity, choice in people if choice]
        if not predictions and not people:
            return "no label chosen (no prediction or annotation with a choice)"
        every = [choice for _, choice in predictions] + [choice for _, choice in people]
        unknown = sorted({label for choice in every for label in choice} - set(self.record.labels))
        joined = next((label for label in unknown if is_joined(label, self.record.labels)), None)
        if joined is not None:
            return (
                f"'{joined}' is several labels joined into one choice (an older LongBERT export); "
                "choose them one by one in Label Studio"
            )
        if unknown:
            return f"labels outside '{self.record.name}': {', '.join(unknown)}"
        several = next((choice for choice in every if len(choice) > 1), None)
        if several is not None and not self.multi_label:
            return (
                f"several labels ({', '.join(several)}) in the single-label set "
                f"'{self.record.name}'; keep one label per text, or import it as multi-label"
            )
        raw = Document(text=text, name=name, source=IMPORT_SOURCE).sha256  # older imports' key
        done = self.earlier.get((str(task_id), item.document.sha256)) or self.earlier.get((str(task_id), raw))
        return item.document, predictions, people, done or []

    def _store(
        self,
        task_id: Any,
        document: Document,
        predictions: Chosen,
        people: list[Annotation],
        done: list[dict[str, Any]],
    ) -> str | None:
        """Store a checked task, inside its transaction; the reason when it is refused."""
        if done:
            return self._again(task_id, document, people, done)
        models = [self._model_name(p) for p, _ in predictions] or [self._model_name(None)]
        refused = next((why for model in models if (why := self._model_check(model))), None)
        if refused:
            return refused
        return self._write(task_id, document, predictions, people)

    def _model_name(self, prediction: Mapping[str, Any] | None) -> str:
        version = "annotations" if prediction is None else prediction.get("model_version") or "import"
        return f"label-studio:{version}{self.suffix}"

    def _model_check(self, name: str) -> str:
        """Why model ``name`` cannot record this import ("" when it can), registering it first
        as single- or multi-label (a first prediction alone may not tell which it is)."""
        if name not in self.models:
            try:
                found = self.store.get_model(name).multi_label
            except LookupError:
                found = None
                self.store.register_model(
                    name,
                    labels=self.record.labels,
                    multi_label=self.multi_label,
                    strategy={"name": "imported", "params": {}},
                )
            kind = "multi-label" if found else "single-label"
            self.models[name] = (
                ""
                if found in (None, self.multi_label)
                else f"the model '{name}' is already recorded as {kind}"
            )
        return self.models[name]

    def _write(
        self,
        task_id: Any,
        document: Document,
        predictions: Chosen,
        people: Sequence[Annotation],
        corrected: int | None = None,
    ) -> str | None:
        """Write a checked task: its predictions (a record-only one for annotations alone), then
        its annotations as corrections of the last one (of ``corrected``, stored before), the
        latest in force, then the list of annotations imported onto it -- all in the task's
        transaction (:meth:`task`), so a failure midway leaves none of it stored."""
        extra: dict[str, Any] = {TASK_KEY: task_id, ANNOTATIONS_KEY: []}
        labels, multi = self.record.labels, self.multi_label
        saved: list[int] = []
        for item, choice in predictions:
            score = item.get("score")
            saved.append(
                self.store.save_prediction(
                    stored_prediction(
                        document,
                        self._model_name(item),
                        choice,
                        labels,
                        float(score) if isinstance(score, int | float) else None,
                        multi,
                        extra,
                    ),
                    document,
                    label_set=self.record.name,
                )
            )
        if corrected is None and not saved:
            saved.append(
                self.store.save_prediction(
                    stored_prediction(
                        document,
                        self._model_name(None),
                        people[-1][1],
                        labels,
                        None,
                        multi,
                        {**extra, "record_only": True},
                    ),
                    document,
                    label_set=self.record.name,
                )
            )
        target = saved[-1] if saved else int(corrected or 0)
        for identity, choice in people:
            self.store.add_correction(
                target,
                choice if multi else choice[0],
                note=NOTE.format(task=task_id, annotation=identity),
            )
            self.out.corrections += 1
        if people:
            self.store.extend_prediction_extra(target, ANNOTATIONS_KEY, [i for i, _ in people])
        self.out.predictions += len(saved)
        self.out.tasks += 1
        return None
