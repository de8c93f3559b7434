"""The app's corrections by label set, with how many distinct texts each label set holds.

A label set used with several models (zero-shot, then a trained model) has one correction set
per model, and a text corrected on predictions of both is in both: summing the sets' document
counts counts it twice ("Desk · 7 documents" for 6 texts). The Train page's label-set picker
shows the distinct texts instead, read here in the same scan that groups the sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from longbert.store import CorrectionSet, Store
from longbert.ui.training import label_set_title

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


@dataclass(frozen=True)
class LabelSetCorrections:
    """The corrections made under one label set (by its title, :func:`label_set_title`)."""

    title: str
    #: One correction set per model (and labels), most recently corrected first.
    sets: list[CorrectionSet]
    #: Distinct texts corrected under the label set, over all its sets.
    texts: int


def corrections_by_label_set_with_texts(store: Store) -> dict[str, LabelSetCorrections]:
    """Like :func:`longbert.ui.training.corrections_by_label_set` (same titles, same order), each
    with its distinct texts counted. One read of the corrections in force; reads no text.

    It reads through the store's database handle because no public store method returns the
    texts of each correction set (the store's modules are owned elsewhere; a method there
    could replace this read)."""
    from longbert.store.correction_sets import scan_sets

    def work(session: Session) -> dict[str, tuple[list[CorrectionSet], set[int]]]:
        grouped: dict[str, tuple[list[CorrectionSet], set[int]]] = {}
        for group in scan_sets(session, None):
            record = group.record()
            sets, texts = grouped.setdefault(label_set_title(record), ([], set()))
            sets.append(record)
            texts.update(group.documents)
        return grouped

    grouped = store._db.read(work)  # the store's handle: see the docstring
    return {title: LabelSetCorrections(title, sets, len(texts)) for title, (sets, texts) in grouped.items()}


def correction_set_title(chosen: CorrectionSet) -> str:
    """How the Train page offers one model's corrections under a label set: the model, its
    labels (two versions of one label set, edited between labellings, differ only there) and
    its documents, e.g. ``zero-shot:enc · sport, politics, business · 6 documents``."""
    kind = " · multi-label" if chosen.multi_label else ""
    noun = "document" if chosen.documents == 1 else "documents"
    return f"{chosen.model} · {', '.join(chosen.labels)}{kind} · {chosen.documents:,} {noun}"
