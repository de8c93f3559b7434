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

Importing a file again adds exactly the annotations not imported before. Each correction knows
the annotation it came from (its note: ``Label Studio task 7, annotation 12``; an annotation
without an id is known by a hash of its result and task id), and the prediction keeps the list
of annotations ever imported onto it (``extra["label_studio_annotations"]``), so a correction a
person took back in the app is not brought back, and a new annotation is added whatever the app
added meanwhile. A task an older LongBERT imported (no such list) is left as it is
(:attr:`Imported.legacy`). A new annotation whose labels the earlier prediction's model lacks
(labels this import added to the set) is stored on a new record-only prediction, which has them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from longbert.bulk.items import text_item
from longbert.document import Document
from longbert.errors import LongBertError
from longbert.readers import FileError
from longbert.results import Prediction
from longbert.store import Store
from longbert.store.records import LabelSetRecord
from longbert.text.limits import DEFAULT_LIMITS

FROM_NAME = "label"
TO_NAME = "text"
#: Where imported documents say they came from.
IMPORT_SOURCE = "import"
#: The prediction ``extra`` key naming the task a prediction was imported from.
TASK_KEY = "label_studio_task"
#: The prediction ``extra`` key listing the annotations ever imported onto it (their identities).
ANNOTATIONS_KEY = "label_studio_annotations"
#: Added to the name of the models a multi-label import records (a model is one or the other).
MULTI_LABEL_SUFFIX = " (multi-label)"
#: How a correction's note names the task and annotation it was imported from.
NOTE = "Label Studio task {task}, annotation {annotation}"
_NOTE_START, _NOTE_ANNOTATION = "Label Studio task ", ", annotation "


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


Annotation = tuple[str, list[str]]  # (identity, choices)
Chosen = list[tuple[Mapping[str, Any], list[str]]]


def _choices(result: Any) -> list[str]:
    out: list[str] = []
    for item in result or []:
        if isinstance(item, Mapping) and item.get("type") == "choices":
            out += [str(c) for c in (item.get("value") or {}).get("choices") or []]
    return list(dict.fromkeys(out))


def _identity(annotation: Mapping[str, Any], task_id: Any) -> str:
    """Label Studio's id of an annotation, else a stable hash of its result and task id."""
    if isinstance(annotation.get("id"), int | str) and str(annotation["id"]).strip():
        return str(annotation["id"]).strip()
    blob = json.dumps([str(task_id), annotation.get("result")], sort_keys=True, default=str)
    return "(no id) " + hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def _noted(note: str) -> str | None:
    """The annotation identity a correction's note names (None: not an annotation's note)."""
    if not note.startswith(_NOTE_START) or _NOTE_ANNOTATION not in note:
        return None
    return note.rpartition(_NOTE_ANNOTATION)[2]


def _text(data: Mapping[str, Any]) -> str | None:
    value = data.get(TO_NAME)
    if isinstance(value, str):
        return value
    strings = [v for v in data.values() if isinstance(v, str)]
    return strings[0] if len(strings) == 1 else None


def _prediction(
    document: Document,
    model: str,
    chosen: Sequence[str],
    labels: Sequence[str],
    score: float | None,
    multi_label: bool,
    extra: dict[str, Any],
) -> Prediction:
    """A stored prediction of ``chosen`` (one label, or several -- or none -- in a multi-label
    set); ``score`` None (or out of range) says nothing about the labels: all equally likely."""
    known = score is not None and 0.0 <= score <= 1.0
    if multi_label:  # per-label sigmoids: the chosen ones at the score, the others at the rest
        probabilities = {
            name: ((score if name in chosen else 1.0 - score) if known else 0.5) for name in labels
        }
    elif known:
        rest = (1.0 - score) / max(len(labels) - 1, 1)
        probabilities = {name: (score if name == chosen[0] else rest) for name in labels}
    else:
        probabilities = {name: 1.0 / len(labels) for name in labels}
    return Prediction(
        document_name=document.name,
        document_sha256=document.sha256,
        label=chosen[0] if chosen else labels[0],
        probabilities=probabilities,
        labels=list(chosen),
        model_name=model,
        strategy="imported",
        strategy_params={},
        total_tokens=0,
        used_tokens=0,
        spans=[],
        segment_scores=[],
        attention=None,
        latency_ms=0.0,
        extra=extra,
    )


def _load_tasks(data: bytes) -> list[Mapping[str, Any]]:
    try:
        tasks = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LongBertError(f"Not a Label Studio JSON export: {error}") from error
    if isinstance(tasks, Mapping):
        tasks = [tasks]
    if not isinstance(tasks, list) or not all(isinstance(t, Mapping) and "data" in t for t in tasks):
        raise LongBertError("Not a Label Studio JSON export: expected a list of tasks with 'data'.")
    return tasks


def _results(task: Mapping[str, Any], task_id: Any) -> tuple[Chosen, list[Annotation]]:
    """A task's predictions with their choices (those without a choice left out), and its
    annotations as ``(identity, choices)`` (cancelled ones left out). An annotation's choices
    may be empty: a multi-label "no label applies" (its result has no other control's value)."""
    predictions = [
        (p, c)
        for p in task.get("predictions") or []
        if isinstance(p, Mapping) and (c := _choices(p.get("result")))
    ]
    annotations = [
        (_identity(a, task_id), _choices(a.get("result")))
        for a in task.get("annotations") or []
        if isinstance(a, Mapping)
        and not a.get("was_cancelled")
        and (_choices(a.get("result")) or not a.get("result"))
    ]
    return predictions, annotations


def _every_choice(task: Mapping[str, Any]) -> list[list[str]]:
    predictions, people = _results(task, None)
    return [choice for _, choice in predictions] + [choice for _, choice in people]


def _joined(choice: str, labels: Sequence[str]) -> bool:
    """Whether ``choice`` is several other ``labels`` joined with ", " (as a multi-label
    correction's label is written), not a label of its own."""
    parts = [part.strip() for part in choice.split(",")]
    others = set(labels) - {choice}
    return len(parts) > 1 and all(part in others for part in parts)


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
    return any(len(choice) > 1 for task in tasks for choice in _every_choice(task))


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
    tasks = _load_tasks(data)
    if labels is None:
        used = [label for task in tasks for choice in _every_choice(task) for label in choice]
        known = [*used, *_saved_labels(store, label_set)]
        labels = [label for label in used if not _joined(label, known)]
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


class _Importer:
    """One import's tasks into one label set: each checked whole, then written."""

    def __init__(self, store: Store, record: LabelSetRecord, multi_label: bool, out: Imported) -> None:
        self.store, self.record, self.multi_label, self.out = store, record, multi_label, out
        self.suffix = MULTI_LABEL_SUFFIX if multi_label else ""
        #: What earlier imports stored under this set (see :meth:`Store.tagged_predictions`).
        self.earlier = store.tagged_predictions(TASK_KEY, label_set=record.name, source=IMPORT_SOURCE)
        #: Model name → why it cannot take this import's predictions ("" when it can).
        self.models: dict[str, str] = {}

    def task(self, task: Mapping[str, Any], task_id: Any) -> str | None:
        """Store one task; the reason when it is skipped."""
        text = _text(task["data"]) if isinstance(task["data"], Mapping) else None
        if not text or not text.strip():
            return "no text"
        name = str(task["data"].get("name") or f"label-studio task {task_id}")
        item = text_item(text, name, source=IMPORT_SOURCE, limits=DEFAULT_LIMITS)
        if isinstance(item, FileError):
            return item.reason
        predictions, people = _results(task, task_id)
        if not self.multi_label:  # "no label applies" is no single label
            people = [(identity, choice) for identity, choice in people if choice]
        if not predictions and not people:
            return "no label chosen (no prediction or annotation with a choice)"
        every = [choice for _, choice in predictions] + [choice for _, choice in people]
        unknown = sorted({label for choice in every for label in choice} - set(self.record.labels))
        joined = next((label for label in unknown if _joined(label, self.record.labels)), None)
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
        if done:
            return self._again(task_id, item.document, people, done)
        models = [self._model_name(p) for p, _ in predictions] or [self._model_name(None)]
        refused = next((why for model in models if (why := self._model_check(model))), None)
        if refused:
            return refused
        return self._write(task_id, item.document, predictions, people)

    def _again(
        self, task_id: Any, document: Document, people: Sequence[Annotation], done: list[dict[str, Any]]
    ) -> str | None:
        """A task imported before: store the annotations never imported (neither listed in its
        predictions' ``extra`` nor named by a correction's note -- an import cut short before it
        listed them), on its latest prediction, or on a new one when that one's model lacks
        their labels. A task an older version imported (nothing listed) is left as it is."""
        if not any(ANNOTATIONS_KEY in earlier["extra"] for earlier in done):
            self.out.already_imported += 1
            self.out.legacy += 1
            return None
        seen = {str(i) for earlier in done for i in earlier["extra"].get(ANNOTATIONS_KEY) or []}
        seen |= {i for earlier in done for note in earlier["notes"] if (i := _noted(note))}
        missing = [(identity, choice) for identity, choice in people if identity not in seen]
        if not missing:
            self.out.already_imported += 1
            return None
        latest = done[-1]
        if {label for _, choice in missing for label in choice} <= set(latest["labels"]):
            return self._write(task_id, document, [], missing, latest["id"])
        refused = self._model_check(self._model_name(None))
        return refused or self._write(task_id, document, [], missing)

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
        latest in force, then the list of annotations imported onto it. The store writes each
        row in a transaction of its own: a failure midway is reported, and importing the file
        again finishes the task (each correction's note names its annotation)."""
        extra: dict[str, Any] = {TASK_KEY: task_id, ANNOTATIONS_KEY: []}
        labels, multi = self.record.labels, self.multi_label
        saved: list[int] = []
        try:
            for item, choice in predictions:
                score = item.get("score")
                saved.append(
                    self.store.save_prediction(
                        _prediction(
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
                        _prediction(
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
        except LongBertError as error:
            return f"stored only in part ({error}); import the file again to finish it"
        finally:
            self.out.predictions += len(saved)
        self.out.tasks += 1
        return None
