"""Active learning: rank documents so the analyst labels the ones that teach the model most.

From stored predictions (what the Review page has)::

    from longbert.active import rank
    order = rank([p.probabilities for p in predictions], sampler="margin", k=20)

From a model and documents (one forward pass gives probabilities and embeddings)::

    from longbert.active import rank_documents
    order = rank_documents(classifier, texts, sampler="kcenter", already_labelled=[0, 5], k=20)

Samplers (:data:`SAMPLERS`): ``random``, ``least_confident``, ``margin`` (breaking ties),
``entropy``, ``kcenter`` (core-set) and ``cluster_uncertainty``; see
:mod:`longbert.active.samplers`. Multi-label predictions are scored over label sets (see
:mod:`longbert.active.uncertainty`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from longbert.active.inputs import ProbabilityTable, probability_table
from longbert.active.samplers import (
    SAMPLERS,
    ClusterUncertaintySampler,
    EntropySampler,
    KCenterGreedySampler,
    LeastConfidentSampler,
    MarginSampler,
    Pool,
    RandomSampler,
    Sampler,
    UncertaintySampler,
    get_sampler,
)
from longbert.active.uncertainty import entropy, least_confident, margin, uncertainty

if TYPE_CHECKING:
    from longbert.active.embeddings import DocumentScores
    from longbert.classifier import DocumentClassifier
    from longbert.document import Document
    from longbert.strategies import Strategy


def _row_mask(selection: Any, rows: int, what: str) -> np.ndarray:
    """``[rows]`` bool from row indices or a boolean mask (None: nothing)."""
    mask = np.zeros(rows, dtype=bool)
    if selection is None:
        return mask
    values = np.asarray(list(selection) if not isinstance(selection, np.ndarray) else selection)
    if values.dtype == bool:
        if values.shape != (rows,):
            raise ValueError(f"{what} as a mask needs {rows} entries, got {values.shape[0]}")
        return values.copy()
    if values.size and (values.min() < 0 or values.max() >= rows):
        raise ValueError(f"{what} holds row indices outside 0..{rows - 1}")
    mask[values.astype(np.int64)] = True
    return mask


def rank(
    probabilities: Any = None,
    *,
    sampler: str | dict[str, Any] | Sampler = "margin",
    embeddings: np.ndarray | None = None,
    k: int | None = None,
    already_labelled: Sequence[int] | np.ndarray | None = None,
    seed: int = 0,
    labels: Sequence[str] | None = None,
    multi_label: bool | None = None,
) -> np.ndarray:
    """Row indices of the documents to ask about, most useful first.

    Args:
        probabilities: ``[N, L]`` array, or one entry per document: a ``{label: probability}``
            dict, a ``Prediction`` or a ``StoredPrediction`` (see :func:`probability_table`);
            entries without a prediction are never picked. May be None for samplers that read
            only embeddings (``random``, ``kcenter``).
        sampler: a name in :data:`SAMPLERS`, ``{"name", "params"}``, or a Sampler.
        embeddings: ``[N, H]`` document embeddings (diversity samplers), rows as ``probabilities``.
        k: how many to return (default: every candidate).
        already_labelled: row indices (or a boolean mask) of labelled documents: never returned,
            and k-center keeps away from them.
        seed: random choices (``random``, k-means initialisation) follow it.
        labels, multi_label: see :func:`probability_table`.

    Returns an int64 array of distinct row indices (empty for no documents: ``[]`` as an empty
    array).
    """
    chosen = get_sampler(sampler)
    table: ProbabilityTable | None = None
    if probabilities is not None:
        table = probability_table(probabilities, labels=labels, multi_label=multi_label)
    elif chosen.needs_probabilities:
        raise ValueError(f"sampler '{chosen.name}' needs probabilities")
    if chosen.needs_embeddings and embeddings is None:
        raise ValueError(
            f"sampler '{chosen.name}' needs document embeddings: pass embeddings=, or use "
            "rank_documents(classifier, documents) to compute them"
        )
    vectors = None if embeddings is None else np.asarray(embeddings, dtype=np.float64)
    if vectors is not None and vectors.ndim != 2:
        raise ValueError(f"embeddings must be [documents, dimensions], got shape {vectors.shape}")
    rows = table.matrix.shape[0] if table is not None else (vectors.shape[0] if vectors is not None else 0)
    if vectors is not None and vectors.shape[0] != rows:
        raise ValueError(f"{vectors.shape[0]} embeddings for {rows} documents")
    if k is not None and k < 0:
        raise ValueError("k must be >= 0")
    labelled = _row_mask(already_labelled, rows, "already_labelled")
    usable = np.ones(rows, dtype=bool)
    if table is not None:
        usable &= table.usable
    if vectors is not None and chosen.needs_embeddings:
        usable &= np.isfinite(vectors).all(axis=1)
    candidates = np.nonzero(usable & ~labelled)[0]
    anchors = np.nonzero(labelled & (np.isfinite(vectors).all(axis=1) if vectors is not None else True))[0]
    pool = Pool(
        candidates=candidates,
        labelled=anchors,
        probabilities=None if table is None else table.matrix,
        embeddings=vectors,
        multi_label=bool(table.multi_label) if table is not None else False,
    )
    count = len(candidates) if k is None else min(k, len(candidates))
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(chosen.order(pool, count, np.random.default_rng(seed)), dtype=np.int64)


def rank_documents(
    classifier: DocumentClassifier,
    documents: Sequence[str | Document],
    *,
    sampler: str | dict[str, Any] | Sampler = "margin",
    k: int | None = None,
    already_labelled: Sequence[int] | np.ndarray | None = None,
    seed: int = 0,
    strategy: Strategy | dict[str, Any] | str | None = None,
    batch_size: int = 8,
    scores: DocumentScores | None = None,
) -> np.ndarray:
    """:func:`rank` over ``documents`` as ``classifier`` sees them (one forward pass).

    Documents the classifier could not read (empty, undecodable...) are never dropped: they
    come after every readable one, in input order (``k`` counts them too; labelled ones never
    come back), and one UserWarning names each with its reason -- ``score_documents(...).errors``
    has them too. ``scores`` reuses a :func:`~longbert.active.embeddings.score_documents` result.
    """
    from longbert.active.embeddings import score_documents

    if scores is None:
        scores = score_documents(classifier, documents, strategy=strategy, batch_size=batch_size)
    order = rank(
        scores.probabilities,
        sampler=sampler,
        embeddings=scores.embeddings,
        k=k,
        already_labelled=already_labelled,
        seed=seed,
        labels=scores.labels,
        multi_label=scores.multi_label,
    )
    if not scores.errors:
        return order
    rows = scores.probabilities.shape[0]
    labelled = _row_mask(already_labelled, rows, "already_labelled")
    unreadable = [row for row in sorted(scores.errors) if not labelled[row]]
    room = len(unreadable) if k is None else max(0, k - len(order))
    _warn_unreadable(scores.errors, rows)
    return np.concatenate([order, np.asarray(unreadable[:room], dtype=np.int64)])


#: At most this many unreadable documents are named in rank_documents' warning.
NAMED_ERRORS = 10


def _warn_unreadable(errors: dict[int, str], rows: int) -> None:
    named = "; ".join(f"#{row}: {why}" for row, why in sorted(errors.items())[:NAMED_ERRORS])
    more = f"; and {len(errors) - NAMED_ERRORS} more" if len(errors) > NAMED_ERRORS else ""
    warnings.warn(
        f"{len(errors)} of {rows} documents could not be read and are ranked last (row indices): "
        f"{named}{more}",  # each reason ends a sentence of its own
        UserWarning,
        stacklevel=3,
    )


def __getattr__(name: str) -> Any:
    # torch loads only when a model is involved: ranking stored predictions needs numpy alone.
    if name in ("DocumentScores", "score_documents"):
        from longbert.active import embeddings

        return getattr(embeddings, name)
    raise AttributeError(f"module 'longbert.active' has no attribute {name!r}")


__all__ = [
    "SAMPLERS",
    "ClusterUncertaintySampler",
    "DocumentScores",
    "EntropySampler",
    "KCenterGreedySampler",
    "LeastConfidentSampler",
    "MarginSampler",
    "Pool",
    "ProbabilityTable",
    "RandomSampler",
    "Sampler",
    "UncertaintySampler",
    "entropy",
    "get_sampler",
    "least_confident",
    "margin",
    "probability_table",
    "rank",
    "rank_documents",
    "score_documents",
    "uncertainty",
]
