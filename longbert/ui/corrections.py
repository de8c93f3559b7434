"""What the Batch label page does with a person's labels: save the edited correction cells, take
corrections back, confirm the predicted labels, and which labels a batch may be corrected to.

Each function is plain Python over the store (tested without a browser); the page only shows the
outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbert.store import Store
from longbert.ui.batch_jobs import BatchSettings
from longbert.ui.models import read_manifest
from longbert.ui.tables import apply_corrections


@dataclass(frozen=True)
class SavedCorrections:
    """The outcome of :func:`save_corrections`."""

    #: The rows with the edits applied.
    rows: list[dict[str, Any]]
    #: How many corrections were saved.
    saved: int = 0
    #: Documents whose correction was taken back (their predicted label counts again).
    removed: list[str] = field(default_factory=list)


def save_corrections(
    store: Store, rows: Sequence[Mapping[str, Any]], edits: Mapping[int, Mapping[str, Any]]
) -> SavedCorrections:
    """Save the corrections a data editor's ``edited_rows`` hold for ``rows`` (an upload batch's
    result rows as stored).

    A cell set to a label saves that correction; a cleared cell takes back every correction of
    its prediction. Cells that already hold the stored value change nothing, so calling this
    again with the same edits (Streamlit reruns) saves nothing twice.
    """
    updated, changes = apply_corrections(rows, edits)
    saved, removed = 0, []
    for index, label in changes:
        prediction_id = rows[index].get("prediction_id")
        if prediction_id is None:
            continue
        if label:
            store.add_correction(int(prediction_id), label)
            saved += 1
        elif store.remove_correction(int(prediction_id)):
            removed.append(str(rows[index]["document"]))
    return SavedCorrections(updated, saved, removed)


def unconfirmed(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Labelled rows without a person's correction (what :func:`confirm_labels` would confirm)."""
    return [r for r in rows if r.get("status") == "ok" and not r.get("correction")
            and r.get("prediction_id") is not None]


def confirm_labels(store: Store, rows: Sequence[Mapping[str, Any]]) -> int:
    """Record the predicted label of every unconfirmed row as checked by a person (so the batch
    can be used as training data); returns how many were confirmed."""
    confirmed = unconfirmed(rows)
    for row in confirmed:
        store.add_correction(int(row["prediction_id"]), str(row["label"]))
    return len(confirmed)


def batch_labels(store: Store, config: dict[str, Any]) -> list[str]:
    """The labels an upload batch's predictions can be corrected to (from its model)."""
    settings = BatchSettings.from_config(config)
    if settings.labels:
        return list(settings.labels)
    try:
        return list(read_manifest(Path(settings.model)).labels)
    except (ValueError, OSError):
        pass
    try:
        return list(store.get_model(settings.model_name).labels)
    except LookupError:
        return []
