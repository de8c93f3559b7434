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
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from longbert.document import Document
from longbert.errors import LongBertError
from longbert.results import Prediction
from longbert.store import Store

FROM_NAME = "label"
TO_NAME = "text"
#: Where imported documents say they came from.
IMPORT_SOURCE = "import"


def _choice(value: Sequence[str]) -> dict[str, Any]:
    return {"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
            "value": {"choices": list(value)}}


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
            "data": {TO_NAME: texts.get(pid, ""), "name": row.get("document"), **fields,
                     "longbert_prediction_id": pid},
            "predictions": [{
                "model_version": str(row.get("model") or "longbert"),
                "score": float(row.get("confidence") or 0.0),
                "result": [_choice(labels or [str(row.get("label"))])],
            }],
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


def _choices(result: Any) -> list[str]:
    out: list[str] = []
    for item in result or []:
        if isinstance(item, Mapping) and item.get("type") == "choices":
            out += [str(c) for c in (item.get("value") or {}).get("choices") or []]
    return out


def _text(data: Mapping[str, Any]) -> str | None:
    value = data.get(TO_NAME)
    if isinstance(value, str):
        return value
    strings = [v for v in data.values() if isinstance(v, str)]
    return strings[0] if len(strings) == 1 else None


def _prediction(document: Document, model: str, label: str, labels: Sequence[str],
                score: float | None, extra: dict[str, Any]) -> Prediction:
    if score is None or not 0.0 <= score <= 1.0:
        probabilities = {name: 1.0 / len(labels) for name in labels}
    else:
        rest = (1.0 - score) / max(len(labels) - 1, 1)
        probabilities = {name: (score if name == label else rest) for name in labels}
    return Prediction(
        document_name=document.name, document_sha256=document.sha256, label=label,
        probabilities=probabilities, labels=[label], model_name=model, strategy="imported",
        strategy_params={}, total_tokens=0, used_tokens=0, spans=[], segment_scores=[],
        attention=None, latency_ms=0.0, extra=extra,
    )


def import_label_studio(store: Store, data: bytes, label_set: str,
                        labels: Sequence[str] | None = None) -> Imported:
    """Store a Label Studio JSON export (a list of tasks) under the label set ``label_set``
    (saved with ``labels``; default: the set's saved labels, if any, plus every choice the file
    uses, in order of appearance).

    Raises LongBertError for a file that is not a Label Studio JSON export; a task without a
    text or with a label outside the set is skipped and named.
    """
    try:
        tasks = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LongBertError(f"Not a Label Studio JSON export: {error}") from error
    if isinstance(tasks, Mapping):
        tasks = [tasks]
    if not isinstance(tasks, list) or not all(isinstance(t, Mapping) and "data" in t for t in tasks):
        raise LongBertError("Not a Label Studio JSON export: expected a list of tasks with 'data'.")
    if labels is None:
        seen = [c for t in tasks for part in ("predictions", "annotations")
                for item in t.get(part) or [] if isinstance(item, Mapping)
                for c in _choices(item.get("result"))]
        try:  # an existing set keeps its labels; the file may add some
            earlier = store.get_label_set(label_set).labels
        except LookupError:
            earlier = []
        labels = list(dict.fromkeys([*earlier, *seen]))
        if len(labels) < 2:
            raise LongBertError(
                f"The file uses only the label(s) {', '.join(labels) or 'none'}: a label set needs "
                "two or more. Name an existing label set, or give its labels.")
    record = store.save_label_set(label_set, list(labels))
    known = set(record.labels)
    out = Imported()
    for number, task in enumerate(tasks, start=1):
        task_id = task.get("id", number)
        text = _text(task["data"]) if isinstance(task["data"], Mapping) else None
        if not text or not text.strip():
            out.skipped.append(f"task {task_id}: no text")
            continue
        name = str(task["data"].get("name") or f"label-studio task {task_id}")
        document = Document(text=text, name=name, source=IMPORT_SOURCE)
        annotations = [a for a in task.get("annotations") or []
                       if isinstance(a, Mapping) and not a.get("was_cancelled")]
        people = [c for a in annotations if (c := _choices(a.get("result")))]
        unknown = sorted({c for choice in people for c in choice} - known)
        predictions = [p for p in task.get("predictions") or [] if isinstance(p, Mapping)]
        saved: list[int] = []
        for item in predictions:
            chosen = _choices(item.get("result"))
            if len(chosen) != 1 or chosen[0] not in known:
                unknown += [c for c in chosen if c not in known]
                continue
            score = item.get("score")
            model = f"label-studio:{item.get('model_version') or 'import'}"
            saved.append(store.save_prediction(_prediction(
                document, model, chosen[0], record.labels,
                float(score) if isinstance(score, int | float) else None,
                {"label_studio_task": task_id}), document, label_set=record.name))
        if unknown:
            out.skipped.append(f"task {task_id}: labels outside '{record.name}': {', '.join(unknown)}")
        if not saved and people and not unknown:
            saved.append(store.save_prediction(_prediction(
                document, "label-studio:annotations", people[-1][0], record.labels, None,
                {"label_studio_task": task_id, "record_only": True}), document,
                label_set=record.name))
        out.predictions += len(saved)
        if saved and people and not unknown:
            for choice in people:  # the latest annotation ends up in force
                store.add_correction(saved[-1], choice[0], note=f"Label Studio task {task_id}")
                out.corrections += 1
        out.tasks += 1 if saved else 0
    return out
