"""Reading a Label Studio JSON export (text classification: a ``Choices`` control named
``label`` on a ``Text`` object named ``text``): its tasks, their choices, the identity of each
annotation, and the stored prediction a task's choice becomes. :mod:`longbert.ui.label_studio_import`
writes what these read into the store.

An annotation is known by Label Studio's id plus the moment it was last saved
(``"12, updated 2026-12-01T10:00:00Z"``): an annotation edited in Label Studio after an import is
a new answer of that person and is imported again; one without an id is known by a hash of its
result (which an edit changes) and its task id. Imports before edits were told apart recorded the
bare id; such an id stands for every version of its annotation (:func:`already_imported`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from longbert.document import Document
from longbert.errors import LongBertError
from longbert.results import Prediction

FROM_NAME = "label"
TO_NAME = "text"
#: How a correction's note names the task and annotation it was imported from.
NOTE = "Label Studio task {task}, annotation {annotation}"
_NOTE_START, _NOTE_ANNOTATION = "Label Studio task ", ", annotation "
_UPDATED = ", updated "

Annotation = tuple[str, list[str]]  # (identity, choices)
Chosen = list[tuple[Mapping[str, Any], list[str]]]  # (a task's prediction, its choices)


def choices_of(result: Any) -> list[str]:
    """The ``choices`` of a prediction's or annotation's result, in order, each once."""
    out: list[str] = []
    for item in result or []:
        if isinstance(item, Mapping) and item.get("type") == "choices":
            out += [str(c) for c in (item.get("value") or {}).get("choices") or []]
    return list(dict.fromkeys(out))


def annotation_identity(annotation: Mapping[str, Any], task_id: Any) -> str:
    """Label Studio's id of an annotation and when it was last saved, else a stable hash of its
    result and task id."""
    if isinstance(annotation.get("id"), int | str) and str(annotation["id"]).strip():
        identity = str(annotation["id"]).strip()
        updated = annotation.get("updated_at")
        return f"{identity}{_UPDATED}{str(updated).strip()}" if updated and str(updated).strip() else identity
    blob = json.dumps([str(task_id), annotation.get("result")], sort_keys=True, default=str)
    return "(no id) " + hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def annotation_id(identity: str) -> str:
    """The annotation an identity names, whatever its version (``"12, updated …"`` → ``"12"``)."""
    return identity.partition(_UPDATED)[0]


def already_imported(identity: str, seen: Collection[str]) -> bool:
    """Whether the annotation ``identity`` names is among those imported (``seen``): this version
    of it, or the annotation as an older import recorded it (its id alone, any version)."""
    return identity in seen or annotation_id(identity) in seen


def noted_annotation(note: str) -> str | None:
    """The annotation identity a correction's note names (None: not an annotation's note)."""
    if not note.startswith(_NOTE_START) or _NOTE_ANNOTATION not in note:
        return None
    return note.rpartition(_NOTE_ANNOTATION)[2]


def task_text(data: Mapping[str, Any]) -> str | None:
    """The task's text: ``data["text"]``, else its only string value."""
    value = data.get(TO_NAME)
    if isinstance(value, str):
        return value
    strings = [v for v in data.values() if isinstance(v, str)]
    return strings[0] if len(strings) == 1 else None


def load_tasks(data: bytes) -> list[Mapping[str, Any]]:
    """The tasks of an export (one task alone is taken as a list of one)."""
    try:
        tasks = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LongBertError(f"Not a Label Studio JSON export: {error}") from error
    if isinstance(tasks, Mapping):
        tasks = [tasks]
    if not isinstance(tasks, list) or not all(isinstance(t, Mapping) and "data" in t for t in tasks):
        raise LongBertError("Not a Label Studio JSON export: expected a list of tasks with 'data'.")
    return tasks


def task_results(task: Mapping[str, Any], task_id: Any) -> tuple[Chosen, list[Annotation]]:
    """A task's predictions with their choices (those without a choice left out), and its
    annotations as ``(identity, choices)`` (cancelled ones left out). An annotation's choices
    may be empty: a multi-label "no label applies" (its result has no other control's value)."""
    predictions = [
        (p, c)
        for p in task.get("predictions") or []
        if isinstance(p, Mapping) and (c := choices_of(p.get("result")))
    ]
    annotations = [
        (annotation_identity(a, task_id), choices_of(a.get("result")))
        for a in task.get("annotations") or []
        if isinstance(a, Mapping)
        and not a.get("was_cancelled")
        and (choices_of(a.get("result")) or not a.get("result"))
    ]
    return predictions, annotations


def every_choice(task: Mapping[str, Any]) -> list[list[str]]:
    """Every choice of a task's predictions and annotations."""
    predictions, people = task_results(task, None)
    return [choice for _, choice in predictions] + [choice for _, choice in people]


def is_joined(choice: str, labels: Sequence[str]) -> bool:
    """Whether ``choice`` is several other ``labels`` joined with ", " (as a multi-label
    correction's label is written), not a label of its own."""
    parts = [part.strip() for part in choice.split(",")]
    others = set(labels) - {choice}
    return len(parts) > 1 and all(part in others for part in parts)


def stored_prediction(
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
