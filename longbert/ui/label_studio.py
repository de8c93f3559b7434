"""Moving work between LongBERT and Label Studio (text classification: a ``Choices`` control
named ``label`` on a ``Text`` object named ``text``).

* :func:`label_studio_tasks` -- a batch as Label Studio tasks: each document's text and its
  source row's own columns under ``data``, LongBERT's label as a pre-annotation (a
  ``prediction`` with its score and the model as ``model_version``), and a person's correction
  as an annotation: each of its labels a choice of its own, "no label applies" (a multi-label
  correction of none) an annotation without a choice.
* :func:`import_label_studio` -- a Label Studio JSON export into the store (see
  :mod:`longbert.ui.label_studio_import`): predictions kept as predictions, annotations as a
  person's corrections under a named label set; importing a file again adds exactly the
  annotations not imported before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from longbert.store import Store
from longbert.ui.label_studio_import import (
    ANNOTATIONS_KEY,
    IMPORT_SOURCE,
    MULTI_LABEL_SUFFIX,
    TASK_KEY,
    Imported,
    import_label_studio,
)
from longbert.ui.label_studio_tasks import FROM_NAME, TO_NAME
from longbert.ui.tables import correction_labels, predicted_labels

__all__ = [
    "ANNOTATIONS_KEY",
    "FROM_NAME",
    "IMPORT_SOURCE",
    "MULTI_LABEL_SUFFIX",
    "TASK_KEY",
    "TO_NAME",
    "Imported",
    "import_label_studio",
    "label_studio_tasks",
]


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
        labels = predicted_labels(row) or []
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
                    "result": [_choice(labels)] if labels else [],
                }
            ],
        }
        chosen = correction_labels(row)
        if chosen is not None:  # a person's label(s) travel as an annotation
            task["annotations"] = [{"result": [_choice(chosen)] if chosen else []}]
        tasks.append(task)
    return json.dumps(tasks, ensure_ascii=False, indent=1).encode("utf-8")
