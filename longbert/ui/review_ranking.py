"""The order of a Review queue: the samplers offered, the ranking of the documents not yet
reviewed, and a model's scores (a re-score, with document embeddings) taken into the queue.

:class:`QueueRanking` is a base of :class:`longbert.ui.review.ReviewQueue`, which declares the
fields it reads (listed below, as the dataclass holds them); the queue's answering, moving and
progress live there. A re-score is recorded in the store under :func:`rescore_setting`, so a new
session shows when the queue was last scored and by which model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from longbert.active import SAMPLERS, get_sampler, rank
from longbert.active.samplers import DEFAULT_CLUSTERS
from longbert.store import Store
from longbert.ui.review_items import LabelAnswer, QueueItem, Rescored, ReviewError

#: Samplers offered, in the page's order (margin first: the default).
REVIEW_SAMPLERS = ("margin", "least_confident", "entropy", "cluster_uncertainty", "kcenter", "random")
SAMPLER_TITLES = {
    "margin": "Margin (closest call between the top two labels)",
    "least_confident": "Least confident",
    "entropy": "Entropy",
    "cluster_uncertainty": "Diverse: most uncertain per cluster",
    "kcenter": "Diverse: k-center (core-set)",
    "random": "Random (baseline)",
}
#: A multi-label re-score chooses the labels at or over this probability (predict's default
#: threshold, :func:`longbert.inference.predict`).
MULTI_LABEL_THRESHOLD = 0.5


def rescore_setting(key: str) -> str:
    """The store setting that keeps the last re-score of the queue ``key`` (any session)."""
    return f"review:{key}"[:64]


class QueueRanking:
    """Ranking and re-scoring of a :class:`~longbert.ui.review.ReviewQueue` (see the module
    docstring)."""

    # The queue's fields this class reads and sets (declared, with their meaning, by ReviewQueue).
    key: str
    labels: list[str]
    items: dict[int, QueueItem]
    reviewed: dict[int, LabelAnswer]
    sampler: str
    seed: int
    order: list[int]
    position: int
    embeddings: dict[int, np.ndarray]
    rescored: Rescored | None
    earlier_rescore: Rescored | None
    multi_label: bool

    @property
    def pending(self) -> list[int]:
        """The documents not reviewed yet, in the order shown."""
        return [p for p in self.order if p not in self.reviewed]

    def needs_embeddings(self, sampler: str | None = None) -> bool:
        """Whether ``sampler`` (default: the queue's) needs document embeddings it lacks."""
        chosen = get_sampler(sampler or self.sampler)
        return chosen.needs_embeddings and any(p not in self.embeddings for p in self.pending)

    def rerank(self, sampler: str | None = None, seed: int | None = None) -> None:
        """Order the unreviewed items by ``sampler`` (reviewed ones stay first, as answered) and
        go to the first unreviewed one. A diversity sampler needs embeddings (a re-score)."""
        if sampler is not None:
            if sampler not in SAMPLERS:
                raise ReviewError(f"Unknown sampler '{sampler}'. Choose one of: {', '.join(SAMPLERS)}.")
            self.sampler = sampler
        self.seed = self.seed if seed is None else seed
        if self.needs_embeddings():
            raise ReviewError(
                f"The '{self.sampler}' order needs document embeddings: score the queue with the "
                "model first (one pass over the remaining documents)."
            )
        done = [p for p in self.order if p in self.reviewed] + [
            p for p in self.items if p in self.reviewed and p not in self.order
        ]
        pending = [p for p in self.items if p not in self.reviewed]
        ranked = rank_items(self, pending)
        self.order = done + ranked
        self.position = len(done) if ranked else max(0, len(done) - 1)

    def apply_scores(
        self,
        labels: Sequence[str],
        probabilities: Mapping[int, Sequence[float]],
        embeddings: Mapping[int, Sequence[float]] | None = None,
        *,
        model: str | None = None,
        store: Store | None = None,
        at: datetime | None = None,
    ) -> None:
        """Take a model's scores of queue items (prediction id → probabilities in ``labels``
        order, and embeddings), then re-rank. With ``model`` this is a re-score: it is recorded
        (in ``store`` too, so the next session shows it)."""
        unknown = set(labels) - set(self.labels)
        if unknown:
            raise ReviewError(f"The model's labels {sorted(unknown)} are not this queue's ({self.labels}).")
        for prediction_id, row in probabilities.items():
            if prediction_id in self.items and np.isfinite(np.asarray(row, dtype=float)).all():
                scored = dict(zip(labels, map(float, row), strict=True))
                values = {label: scored.get(label, 0.0) for label in self.labels}
                # A new model's choice, at predict's threshold; the queue's own model's scores
                # leave its stored choice (made at the threshold it ran with).
                chosen = tuple(k for k, v in values.items() if v >= MULTI_LABEL_THRESHOLD)
                self.items[prediction_id] = replace(
                    self.items[prediction_id],
                    probabilities=values,
                    rescored_labels=chosen if self.multi_label and model is not None else None,
                )
        for prediction_id, vector in (embeddings or {}).items():
            array = np.asarray(vector, dtype=np.float64)
            if prediction_id in self.items and np.isfinite(array).all():
                self.embeddings[prediction_id] = array
        if model is not None:
            self.rescored = self.earlier_rescore = Rescored(at or datetime.now(UTC), model)
            if store is not None:
                store.set_setting(
                    rescore_setting(self.key),
                    json.dumps({"at": self.rescored.at.isoformat(), "model": model})[:255],
                )
        self.rerank()


def rank_items(queue: QueueRanking, pending: list[int]) -> list[int]:
    """``pending`` in the sampler's order. Diversity samplers also see the reviewed documents
    they have embeddings of, as already labelled: k-center keeps away from them."""
    if not pending:
        return []
    chosen = get_sampler(queue.sampler)
    if queue.sampler == "cluster_uncertainty":
        # A queue of N documents in ~sqrt(N) clusters: each round of questions spans the
        # clusters, and a cluster is big enough to hold near-duplicates together.
        chosen = get_sampler(
            queue.sampler, clusters=min(DEFAULT_CLUSTERS, max(2, round(len(pending) ** 0.5)))
        )
    anchors = [p for p in queue.reviewed if p in queue.embeddings] if chosen.needs_embeddings else []
    rows = pending + anchors
    matrix = np.array(
        [[queue.items[p].probabilities.get(label, 0.0) for label in queue.labels] for p in rows]
    )
    vectors = np.stack([queue.embeddings[p] for p in rows]) if chosen.needs_embeddings else None
    order = rank(
        matrix,
        sampler=chosen,
        embeddings=vectors,
        seed=queue.seed,
        labels=queue.labels,
        multi_label=queue.multi_label,
        already_labelled=list(range(len(pending), len(rows))),
    )
    ranked = [rows[i] for i in order]
    return ranked + [p for p in pending if p not in set(ranked)]  # unusable rows last, never lost
