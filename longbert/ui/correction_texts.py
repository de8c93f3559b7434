"""The app's corrections by label set, with how many distinct texts each label set holds.

A label set used with several models (zero-shot, then a trained model) has one correction set
per model, and a text corrected on predictions of both is in both: summing the sets' document
counts counts it twice ("Desk · 7 documents" for 6 texts). The Train page's label-set picker
shows the distinct texts instead (each set carries its texts' ids).
"""

from __future__ import annotations

from dataclasses import dataclass

from longbert.store import CorrectionSet, Store
from longbert.ui.training import corrections_by_label_set


@dataclass(frozen=True)
class LabelSetCorrections:
    """The corrections made under one label set (by its title:
    :func:`longbert.ui.training.label_set_title`)."""

    title: str
    #: One correction set per model (and labels), most recently corrected first.
    sets: list[CorrectionSet]
    #: Distinct texts corrected under the label set, over all its sets.
    texts: int


def corrections_by_label_set_with_texts(store: Store) -> dict[str, LabelSetCorrections]:
    """:func:`longbert.ui.training.corrections_by_label_set` (same titles, same order), each with
    its distinct texts counted: the union of its sets' text ids. One read; reads no text."""
    return {
        title: LabelSetCorrections(title, sets, len(frozenset().union(*(s.document_ids for s in sets))))
        for title, sets in corrections_by_label_set(store).items()
    }


def correction_set_title(chosen: CorrectionSet) -> str:
    """How the Train page offers one model's corrections under a label set: the model, its
    labels (two versions of one label set, edited between labellings, differ only there) and
    its documents, e.g. ``zero-shot:enc · sport, politics, business · 6 documents``."""
    kind = " · multi-label" if chosen.multi_label else ""
    noun = "document" if chosen.documents == 1 else "documents"
    return f"{chosen.model} · {', '.join(chosen.labels)}{kind} · {chosen.documents:,} {noun}"
