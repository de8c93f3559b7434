"""What History does to settle a conflict between people's labels (one text, one label set,
different labels in force on its predictions, whichever models made them --
:mod:`longbert.store.conflicts`): offer each answer given, the latest first, and keep the one a
person picks, saved as a new correction on the text's other predictions.

Nothing is picked for the person: the latest answer is only preselected, and the conflict stays
(training refuses it or leaves the text out) until someone clicks Settle. Plain Python over the
store, tested without a browser; the page only shows the outcome.
"""

from __future__ import annotations

from longbert.errors import StoreError
from longbert.store import Store
from longbert.store.conflicts import ConflictVote, TextConflict


def conflict_key(conflict: TextConflict) -> str:
    """A stable widget key for one conflict: its text and question (a text can be in conflict
    under two label sets, or under one label set with single- and multi-label models)."""
    kind = "multi" if conflict.multi_label else "single"
    return f"{conflict.document_sha256}:{kind}:{'|'.join(sorted(conflict.labels))}"


def _answer_of(conflict: TextConflict) -> dict[int, str]:
    """prediction id → its answer (the label key :attr:`TextConflict.votes` groups by)."""
    return {p: answer for answer, ids in conflict.votes.items() for p in ids}


def answers(conflict: TextConflict) -> list[str]:
    """The answers given (as :attr:`TextConflict.votes` keys them), the most recently saved first."""
    answer_of = _answer_of(conflict)
    newest_first = [answer_of[v.prediction_id] for v in reversed(conflict.in_force)]
    return list(dict.fromkeys(newest_first))


def _votes_for(conflict: TextConflict, answer: str) -> list[ConflictVote]:
    answer_of = _answer_of(conflict)
    return [v for v in conflict.in_force if answer_of.get(v.prediction_id) == answer]


def answer_title(conflict: TextConflict, answer: str) -> str:
    """E.g. ``'politics' — #7 desk-v1 (2026-12-07 10:00 UTC, the latest)``."""
    shown = f"'{answer}'" if answer else "no label applies"
    latest = conflict.latest.prediction_id
    where = "; ".join(
        f"#{v.prediction_id} {v.model} ({v.created_at:%Y-%m-%d %H:%M} UTC"
        + (", the latest" if v.prediction_id == latest else "")
        + ")"
        for v in _votes_for(conflict, answer)
    )
    return f"{shown} — {where}"


def settle(store: Store, conflict: TextConflict, answer: str, note: str | None = None) -> str:
    """Keep ``answer`` for ``conflict``'s text: it is saved on each prediction carrying another
    label (:meth:`Store.settle_conflict`), judged against the labels in force ``conflict`` was
    read with -- a label set since is never overruled, nor one on a prediction of the text the
    conflict did not show (CorrectionChangedError, nothing saved: the page shows the conflict
    again). Returns what to tell the person, true whatever else is saved on the text.

    Raises:
        StoreError: ``answer`` is not one of the conflict's answers, or what the store raises.
    """
    kept = _votes_for(conflict, answer)
    if not kept:
        raise StoreError(
            f"'{answer}' is not one of the answers in conflict for {conflict.document_name} "
            f"({', '.join(repr(a) for a in answers(conflict))}): nothing was saved."
        )
    saved = store.settle_conflict(kept[-1].prediction_id, conflict.shown, note=note)
    # The store saved on exactly these (their labels were still the ones shown) and refused if
    # any other prediction of the text with these labels carries a different person's label:
    # so every person's label on the text under this label set now says ``answer``. Predictions
    # no person labelled keep the model's label, so the message claims nothing about those.
    changed = [v.prediction_id for v in conflict.in_force if v not in kept]
    label = f"'{answer}'" if answer else "no label applies"
    if saved:
        what = (
            f"{len(saved)} new correction{'s' if len(saved) != 1 else ''}, on "
            f"{', '.join(f'#{p}' for p in changed)}; "
            f"{'their earlier labels stay' if len(saved) != 1 else 'its earlier label stays'} in "
            f"{'their' if len(saved) != 1 else 'its'} history"
        )
    else:  # not reached from History (a conflict has another answer), kept for a true message
        what = "no new correction was needed"
    return (
        f"Settled {conflict.document_name}: people's labels on it under this label set now all "
        f"say {label} ({what})."
    )
