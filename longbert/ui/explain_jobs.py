"""Explaining a sample of a batch in the background (the Batch page's "Explain a sample").

An analyst who labelled hundreds of documents checks *why* on a sample: the least confident
ones first (where a wrong reason is likeliest), or a random sample (an unbiased audit). Each
explanation is stored with its prediction, exactly as one made on Classify or History, so the
document's highlighted view shows it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from longbert.store import Store
from longbert.ui.explanations import ExplanationFailed, explain_and_store, score_text, top_lines
from longbert.ui.jobs import JobContext

#: How the sample is drawn: order -> title.
SAMPLE_ORDERS = {
    "least_confident": "Least confident first",
    "random": "Random (an unbiased audit)",
}


def sample_predictions(rows: Sequence[Mapping[str, Any]], size: int, order: str, seed: int = 0) -> list[int]:
    """Prediction ids of up to ``size`` labelled rows of a batch (``batch_rows``), least confident
    first or a seeded random draw. Raises ValueError for an unknown order or a size below 1."""
    if order not in SAMPLE_ORDERS:
        raise ValueError(f"Unknown sample order '{order}'; choose one of {', '.join(SAMPLE_ORDERS)}.")
    if size < 1:
        raise ValueError(f"The sample needs at least one document, got {size}.")
    labelled = [r for r in rows if r.get("status") == "ok" and r.get("prediction_id") is not None]
    if order == "least_confident":
        chosen = sorted(labelled, key=lambda r: (float(r["confidence"]), int(r["prediction_id"])))[:size]
    else:
        picks = np.random.default_rng(seed).permutation(len(labelled))[:size]
        chosen = [labelled[i] for i in sorted(picks.tolist())]
    return [int(r["prediction_id"]) for r in chosen]


def explain_sample_work(
    store: Store,
    prediction_ids: Sequence[int],
    method: str,
    load_model: Callable[[str, dict[str, str] | None], Any],
    *,
    full_model: bool = False,
) -> Callable[[JobContext], dict[str, int]]:
    """A job function explaining each prediction (``method``) and storing it; one row per document
    (its strongest supporting sentence and the explanation's first warning, or why it failed).
    A model that cannot be loaded stops the job with its message; one document the method fails
    on is a row with the error, and the job goes on. Stop is honoured between documents; what
    was stored stays stored. ``full_model``: predictions an early-exit model made with its exits
    are explained with the full model (see :func:`~longbert.ui.explanations.explain_prediction`),
    not refused."""

    def work(ctx: JobContext) -> dict[str, int]:
        ids = list(prediction_ids)
        explained = failed = 0
        ctx.progress(0, len(ids), f"Explaining {len(ids)} documents")
        for done, prediction_id in enumerate(ids, start=1):
            ctx.check_stop()
            stored = store.get_prediction(prediction_id)
            row: dict[str, Any] = {
                "prediction_id": prediction_id,
                "document": stored.document.name,
                "label": stored.prediction.label,
                "confidence": round(
                    float(stored.prediction.probabilities.get(stored.prediction.label, 0.0)), 4
                ),
            }
            try:
                outcome = explain_and_store(
                    store,
                    prediction_id,
                    stored.prediction,
                    stored.document,
                    method,
                    load_model,
                    full_model=full_model,
                )
            except ExplanationFailed as error:
                failed += 1
                ctx.add_row({**row, "error": str(error)}, error=True)
            else:
                explained += 1
                best = top_lines(stored.document.text, outcome.explanation, k=1, max_chars=200)
                against = top_lines(stored.document.text, outcome.explanation, k=1, sign=-1, max_chars=200)
                ctx.add_row(
                    {
                        **row,
                        "strongest for the label": best[0].sentence if best else "",
                        "score": best[0].score if best else score_text(outcome.explanation, 0.0),
                        "strongest against": against[0].sentence if against else "",
                        "seconds": round(outcome.wall_seconds, 2),
                        "note": outcome.explanation.warnings[0] if outcome.explanation.warnings else "",
                    }
                )
            ctx.progress(done, len(ids))
        return {"explained": explained, "failed": failed}

    return work
