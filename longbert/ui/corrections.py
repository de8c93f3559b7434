"""What the Batch label page does with a person's labels: save the edited correction cells, take
corrections back, confirm the predicted labels, and which labels a batch may be corrected to.

Each function is plain Python over the store (tested without a browser); the page only shows the
outcome.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbert.checkpoints import read_manifest
from longbert.errors import DatasetError
from longbert.store import CorrectionChangedError, CorrectionSet, Store
from longbert.ui.batch_jobs import BatchSettings
from longbert.ui.tables import NO_CORRECTION, apply_corrections, has_correction

_UNSEEN = object()


@dataclass(frozen=True)
class SavedCorrections:
    """The outcome of :func:`save_corrections`."""

    #: The rows with the edits applied.
    rows: list[dict[str, Any]]
    #: How many corrections were saved.
    saved: int = 0
    #: Documents whose correction was taken back (the one before it, or the predicted label,
    #: is in force again).
    removed: list[str] = field(default_factory=list)
    #: ``(document, why)`` of each edit not saved: the label in force changed since the grid
    #: was drawn (someone else's label is never overruled from an out-of-date grid).
    refused: list[tuple[str, str]] = field(default_factory=list)


def save_corrections(
    store: Store,
    rows: Sequence[Mapping[str, Any]],
    edits: Mapping[int, Mapping[str, Any]],
    applied: dict[int, Any] | None = None,
    shown: Mapping[int, int | None] | None = None,
) -> SavedCorrections:
    """Save the corrections a data editor's ``edited_rows`` hold for ``rows`` (an upload batch's
    result rows as stored).

    A cell set to a label saves that correction; a cleared cell (or "—") takes back the
    correction in force (the one before it, or the predicted label, is in force again). Cells
    that already hold the stored value change nothing, so calling this again with the same edits
    (Streamlit reruns) saves nothing twice.

    ``applied`` (kept by the page per editor: row index → the cell value already saved) makes an
    edit count once: a cell edited in this grid long ago never re-applies its value over a
    change made since elsewhere (e.g. a correction removed in History).

    ``shown`` (row index → the id of the correction in force when the grid was drawn, None: none)
    is what the person saw: an edit of a row whose correction in force changed since (another
    person, History, the Review page) is not saved but listed in ``refused``. Without it, the
    ids in ``rows`` count as seen.
    """
    if applied is not None:
        fresh = {i: e for i, e in edits.items()
                 if "correction" in e and applied.get(int(i), _UNSEEN) != e["correction"]}
        applied.update({int(i): e["correction"] for i, e in fresh.items()})
        edits = fresh
    updated, changes = apply_corrections(rows, edits)
    saved, removed, refused = 0, [], []
    for index, label in changes:
        row = rows[index]
        prediction_id = row.get("prediction_id")
        if prediction_id is None:
            continue
        seen = (shown or {}).get(index, row.get("correction_id"))
        try:
            if label:
                updated[index]["correction_id"] = store.add_correction(
                    int(prediction_id), label, in_force=seen)
                saved += 1
            elif seen is not None:
                store.remove_correction(int(prediction_id), seen, only_if_in_force=True)
                removed.append(str(row["document"]))
            else:  # cleared a cell that showed no correction: the one in force came since
                refused.append((str(row["document"]), f"'{row.get('correction')}' was set since "
                                "this table was drawn; nothing was taken back."))
        except CorrectionChangedError as error:
            refused.append((str(row["document"]), str(error)))
    return SavedCorrections(updated, saved, removed, refused)


def out_of_step(rows: Sequence[Mapping[str, Any]], applied: Mapping[int, Any]) -> list[int]:
    """Rows whose edited cell no longer shows the label in force: the grid keeps a cell's edit
    (Streamlit holds ``edited_rows`` across reruns) while the store moved on -- someone labelled
    the row elsewhere, or taking back this grid's correction put the one before it in force
    again. Such a grid must be drawn afresh, or the next edit would be judged against a label
    the person no longer sees."""
    def shown(value: Any) -> Any:
        return NO_CORRECTION if value in (None, "") else value

    return sorted(
        i for i, value in applied.items()
        if 0 <= i < len(rows) and rows[i].get("status") == "ok"
        and shown(value) != (NO_CORRECTION if not has_correction(rows[i]) else rows[i]["correction"])
    )


def unconfirmed(rows: Sequence[Mapping[str, Any]], min_confidence: float = 0.0) -> list[Mapping[str, Any]]:
    """Labelled rows without a person's correction whose confidence is at least
    ``min_confidence`` (0..1): what :func:`confirm_labels` would try to confirm."""
    return [r for r in rows if r.get("status") == "ok" and not has_correction(r)
            and r.get("prediction_id") is not None
            and float(r.get("confidence") or 0.0) >= min_confidence]


@dataclass(frozen=True)
class Confirmed:
    """The outcome of :func:`confirm_labels`."""

    confirmed: int
    #: ``(document name, why)`` of each row left alone: a person labelled that text otherwise.
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def message(self) -> str:
        """What to tell the person, e.g. "Confirmed 3 labels. Skipped 1 …"."""
        text = f"Confirmed {self.confirmed} label{'s' if self.confirmed != 1 else ''}."
        if self.skipped:
            shown = "; ".join(f"{name}: {why}" for name, why in self.skipped[:5])
            more = f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            text += (f" Skipped {len(self.skipped)} whose text a person labelled otherwise "
                     f"(never overruled): {shown}{more}.")
        return text


def confirm_labels(store: Store, rows: Sequence[Mapping[str, Any]], min_confidence: float = 0.0) -> Confirmed:
    """Record the predicted label of each unconfirmed row with confidence ≥ ``min_confidence``
    as checked by a person (so the batch can be used as training data). A text a person
    labelled otherwise (in this or another batch, same label set) is skipped and named."""
    outcome = store.confirm_predictions(int(r["prediction_id"]) for r in unconfirmed(rows, min_confidence))
    return Confirmed(len(outcome.confirmed), [(name, why) for _, name, why in outcome.skipped])


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


def export_without_conflicts(store: Store, folder: Path, chosen: CorrectionSet) -> tuple[Path, str | None]:
    """Write ``chosen``'s corrections for training with the conflicting texts left out (a person
    asked for it); returns the file and the warning naming what was left out (None if nothing).

    Raises DatasetError when fewer than 4 documents are left, like the plain export.
    """
    path = folder / "corrections.jsonl"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        count = store.export_corrections_training_set(
            path, model=chosen.model, labels=chosen.labels, conflicts="leave_out")
    if count < 4:
        raise DatasetError(
            f"Only {count} corrected document(s) without a conflict with model {chosen.model}: "
            "settle the conflicts in History, or correct or confirm more (Batch label page)."
        )
    said = [str(w.message) for w in caught if "conflict" in str(w.message)]
    return path, (said[0] if said else None)
