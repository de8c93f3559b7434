"""Moving work between LongBERT and Label Studio (text classification: a ``Choices`` control
named ``label`` on a ``Text`` object named ``text``).

* :func:`label_studio_tasks` -- a batch as Label Studio tasks: each document's text and its
  source row's own columns under ``data``, LongBERT's label as a pre-annotation (a
  ``prediction`` with its score and the model as ``model_version``).
* :func:`import_label_studio` -- a Label Studio JSON export into the store: each task's
  predictions are kept as predictions (model ``label-studio:<model_version>``; the chosen
  label gets the task's score, the other labels share the rest), and its annotations become a
  person's corrections under a named label set. A task annotated but never pre-annotated gets
  a record-only prediction (model ``label-studio:annotations``, every label equally likely),
  so the correction has something to correct.

An import never loses what is saved: an existing label set keeps its labels and their
descriptions (zero-shot reads them) and only gains the labels the file adds. Each task's text
becomes a document exactly as an uploaded table row does (:func:`~longbert.bulk.items.text_item`:
cleaned, encoded blocks cut, size checked, valid Unicode), so its SHA-256 matches the same text
uploaded; a task that cannot be a document, or whose labels do not fit the set, is skipped
whole, with its reason. A task already imported (same task id, same text, same label set) is
left as it is, so importing a file again -- after fixing the tasks it skipped -- adds nothing
twice.
"""

from __future__ import annotations

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
#: Added to the name of the models a multi-label import records (a model is one or the other).
MULTI_LABEL_SUFFIX = " (multi-label)"


def _choice(value: Sequence[str]) -> dict[str, Any]:
    return {"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices", "value": {"choices": list(value)}}


def label_studio_tasks(store: Store, rows: Sequence[Mapping[str, Any]]) -> bytes:
    """The labelled rows of a batch (as :func:`~longbert.ui.tables.batch_rows` gives them) as a
    Label Studio import file (a JSON list of tasks), UTF-8."""
    done = [r for r in rows if r.get("status") == "ok" and r.get("prediction_id") is not None]
    texts = store.document_texts(int(r["prediction_id"]) for r in done)
    tasks = []
    for row in done:
        pid = int(row["prediction_id"])
        fields = {k: v for k, v in (row.get("fields") or {}).items() if k not in (TO_NAME, "name")}
        labels = [s.strip() for s in str(row.get("labels") or row.get("label") or "").split(",") if s.strip()]
        task: dict[str, Any] = {
            "data": {
                TO_NAME: texts.get(pid, ""),
                "name": row.get("document"),
                **fields,
                "longbert_prediction_id": pid,
            },
            "predictions": [
                {
                    "model_version": str(row.get("model") or "longbert"),
                    "score": float(row.get("confidence") or 0.0),
                    "result": [_choice(labels or [str(row.get("label"))])],
                }
            ],
        }
        if row.get("correction"):  # a person's label travels as an annotation
            task["annotations"] = [{"result": [_choice([str(row["correction"])])]}]
        tasks.append(task)
    return json.dumps(tasks, ensure_ascii=False, indent=1).encode("utf-8")


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
    #: Tasks left as they were: imported before, with the same text, under the same set.
    already_imported: int = 0


def _choices(result: Any) -> list[str]:
    out: list[str] = []
    for item in result or []:
        if isinstance(item, Mapping) and item.get("type") == "choices":
            out += [str(c) for c in (item.get("value") or {}).get("choices") or []]
    return list(dict.fromkeys(out))


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
    """A stored prediction of ``chosen`` (one label, or several in a multi-label set); ``score``
    None (or out of range) says nothing about the labels: all equally likely."""
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
        label=chosen[0],
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


Chosen = list[tuple[Mapping[str, Any], list[str]]]


def _results(task: Mapping[str, Any]) -> tuple[Chosen, list[list[str]]]:
    """A task's predictions with their choices, and its annotations' choices (predictions and
    annotations without a choice, and cancelled annotations, left out)."""
    predictions = [
        (p, c)
        for p in task.get("predictions") or []
        if isinstance(p, Mapping) and (c := _choices(p.get("result")))
    ]
    annotations = [
        a for a in task.get("annotations") or [] if isinstance(a, Mapping) and not a.get("was_cancelled")
    ]
    return predictions, [c for a in annotations if (c := _choices(a.get("result")))]


def _every_choice(task: Mapping[str, Any]) -> list[list[str]]:
    predictions, people = _results(task)
    return [choice for _, choice in predictions] + people


def _label_set(store: Store, name: str, wanted: Sequence[str]) -> tuple[LabelSetRecord, list[str], bool]:
    """The label set ``name`` with ``wanted`` in it: ``(record, labels added, made now)``. An
    existing set keeps its labels, in order, and their descriptions; only new labels are added."""
    try:
        earlier: LabelSetRecord | None = store.get_label_set(name)
    except LookupError:
        earlier = None
    if earlier is None:
        labels = list(dict.fromkeys(wanted))
        if len(labels) < 2:
            raise LongBertError(
                f"The file uses only the label(s) {', '.join(labels) or 'none'}: a label set needs "
                "two or more. Name an existing label set, or give its labels."
            )
        return store.save_label_set(name, labels), labels, True
    added = [label for label in dict.fromkeys(wanted) if label not in earlier.labels]
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

    ``labels``: the set's labels; default: every choice the file uses. An existing set keeps
    its labels and descriptions and gains only labels it lacks (:attr:`Imported.added_labels`).
    ``multi_label``: whether a text may have several labels; None: as the set's earlier
    predictions are, else as the file is (a task with several choices). In a single-label set a
    task with several choices is skipped, named, with its reason.

    Raises LongBertError for a file that is not a Label Studio JSON export. A task without a
    usable text or label, or with a label outside the set, is skipped whole and named in
    :attr:`Imported.skipped`; one already imported is left as it is (counted in
    :attr:`Imported.already_imported`): nothing is half-imported or imported twice.
    """
    tasks = _load_tasks(data)
    if labels is None:
        labels = [label for task in tasks for choice in _every_choice(task) for label in choice]
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
        predictions, people = _results(task)
        if not predictions and not people:
            return "no label chosen (no prediction or annotation with a choice)"
        every = [choice for _, choice in predictions] + people
        unknown = sorted({label for choice in every for label in choice} - set(self.record.labels))
        if unknown:
            return f"labels outside '{self.record.name}': {', '.join(unknown)}"
        several = next((choice for choice in every if len(choice) > 1), None)
        if several is not None and not self.multi_label:
            return (
                f"several labels ({', '.join(several)}) in the single-label set "
                f"'{self.record.name}'; keep one label per text, or import it as multi-label"
            )
        done = self.earlier.get((str(task_id), item.document.sha256))
        if done:  # imported before: only what an import cut short did not store
            missing = people[sum(corrections for _, corrections in done) :]
            if not missing:
                self.out.already_imported += 1
                return None
            return self._write(task_id, item.document, [], missing, done[-1][0])
        models = [self._model_name(p) for p, _ in predictions] or [self._model_name(None)]
        refused = next((why for model in models if (why := self._model_check(model))), None)
        if refused:
            return refused
        return self._write(task_id, item.document, predictions, people, None)

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
        people: Sequence[list[str]],
        corrected: int | None,
    ) -> str | None:
        """Write a checked task: its predictions (a record-only one for annotations alone), then
        its annotations as corrections of the last one (of ``corrected`` when the predictions
        were stored before), the latest in force. The store writes each row in a transaction of
        its own: a failure midway is reported, and importing the file again finishes the task."""
        extra = {TASK_KEY: task_id}
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
                            people[-1],
                            labels,
                            None,
                            multi,
                            {**extra, "record_only": True},
                        ),
                        document,
                        label_set=self.record.name,
                    )
                )
            for choice in people:
                self.store.add_correction(
                    saved[-1] if saved else corrected,
                    choice if multi else choice[0],
                    note=f"Label Studio task {task_id}",
                )
                self.out.corrections += 1
        except LongBertError as error:
            return f"stored only in part ({error}); import the file again to finish it"
        finally:
            self.out.predictions += len(saved)
        self.out.tasks += 1
        return None
