"""Samplers: which unlabelled documents to ask the analyst about first.

Each sampler is a small typed object registered by name (:data:`SAMPLERS`, :func:`get_sampler`),
in the manner of small-text's query strategies (``small_text/query_strategies/``), with two
differences: a sampler *orders* the whole pool (the Review page shows a queue, not one batch of
``n``), and it works on predictions alone, so a batch can be ranked without its model loaded.

* ``random`` -- the baseline every active-learning result must beat.
* ``least_confident``, ``margin`` (breaking ties), ``entropy`` -- uncertainty sampling
  (:mod:`longbert.active.uncertainty`), most uncertain first.
* ``kcenter`` -- k-center greedy, the core-set of Sener & Savarese (ICLR 2018), following
  small-text's ``greedy_coreset``: cosine distance on normalised embeddings; each pick is the
  document farthest from everything labelled or picked so far, so near-duplicates are picked
  only once every other region has one.
* ``cluster_uncertainty`` -- k-means on the embeddings, then round-robin over the clusters
  taking each one's most uncertain document (clusters ordered by their most uncertain member):
  uncertainty without 20 questions about one story. It sits between small-text's
  ``EmbeddingKMeans`` (the document nearest each centre; Yuan et al. 2020) and Zhdanov's
  "Diverse mini-batch active learning" (2019: uncertainty, then k-means).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from longbert.active.uncertainty import UNCERTAINTIES, uncertainty


@dataclass
class Pool:
    """What samplers read: candidates (row indices, in input order) and the rows' data.

    ``probabilities`` ``[N, L]`` (NaN rows: none) or None; ``embeddings`` ``[N, H]`` or None;
    ``labelled`` the row indices already labelled (they anchor the diversity of k-center).
    """

    candidates: np.ndarray
    labelled: np.ndarray
    probabilities: np.ndarray | None
    embeddings: np.ndarray | None
    multi_label: bool = False

    def scores(self, measure: str) -> np.ndarray:
        """``[len(candidates)]`` uncertainty of each candidate (higher = more uncertain)."""
        if self.probabilities is None:
            raise ValueError(f"the '{measure}' uncertainty needs probabilities")
        return uncertainty(self.probabilities[self.candidates], measure, self.multi_label)

    def unit_embeddings(self) -> np.ndarray:
        """``[N, H]`` L2-normalised embeddings (rows of zeros stay zero)."""
        if self.embeddings is None:
            raise ValueError("this sampler needs document embeddings")
        vectors = np.asarray(self.embeddings, dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)


class Sampler(ABC):
    """A named, parameterised ranking of a :class:`Pool`'s candidates."""

    name: ClassVar[str]
    needs_probabilities: ClassVar[bool] = True
    needs_embeddings: ClassVar[bool] = False

    @abstractmethod
    def order(self, pool: Pool, k: int, rng: np.random.Generator) -> np.ndarray:
        """The first ``k`` candidates to ask about (row indices), most useful first."""

    def config(self) -> dict[str, Any]:
        """``{"name": ..., "params": {...}}``, as strategies describe themselves."""
        return {"name": self.name, "params": asdict(self) if hasattr(self, "__dataclass_fields__") else {}}


def _check_measure(measure: str) -> None:
    if measure not in UNCERTAINTIES:
        raise ValueError(f"Unknown uncertainty '{measure}'. Choose one of: {', '.join(UNCERTAINTIES)}.")


def _by_score(candidates: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Candidates by descending score; ties keep input order, so rankings are reproducible."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    return candidates[order[:k]]


@dataclass(frozen=True)
class RandomSampler(Sampler):
    """Uniformly random order (seeded)."""

    name: ClassVar[str] = "random"
    needs_probabilities: ClassVar[bool] = False

    def order(self, pool: Pool, k: int, rng: np.random.Generator) -> np.ndarray:
        return rng.permutation(pool.candidates)[:k]


@dataclass(frozen=True)
class UncertaintySampler(Sampler):
    """Most uncertain first, by ``measure`` (``least_confident``, ``margin`` or ``entropy``)."""

    name: ClassVar[str] = "uncertainty"
    measure: str = "margin"

    def __post_init__(self) -> None:
        _check_measure(self.measure)

    def order(self, pool: Pool, k: int, rng: np.random.Generator) -> np.ndarray:
        return _by_score(pool.candidates, pool.scores(self.measure), k)


@dataclass(frozen=True)
class LeastConfidentSampler(UncertaintySampler):
    """Lowest top-label probability first (Lewis & Gale 1994)."""

    name: ClassVar[str] = "least_confident"
    measure: str = "least_confident"


@dataclass(frozen=True)
class MarginSampler(UncertaintySampler):
    """Smallest gap between the two most probable labels first: breaking ties (Luo et al. 2005)."""

    name: ClassVar[str] = "margin"
    measure: str = "margin"


@dataclass(frozen=True)
class EntropySampler(UncertaintySampler):
    """Highest prediction entropy first (Holub et al. 2008)."""

    name: ClassVar[str] = "entropy"
    measure: str = "entropy"


@dataclass(frozen=True)
class KCenterGreedySampler(Sampler):
    """k-center greedy (core-set): each pick is farthest (cosine) from all labelled and picked rows.

    With nothing labelled the first pick is the candidate nearest the pool's mean direction (the
    most typical document), so the ranking is deterministic. Cost: ``O(k * N * H)``.
    """

    name: ClassVar[str] = "kcenter"
    needs_probabilities: ClassVar[bool] = False
    needs_embeddings: ClassVar[bool] = True

    def order(self, pool: Pool, k: int, rng: np.random.Generator) -> np.ndarray:
        vectors = pool.unit_embeddings()
        points = vectors[pool.candidates]
        count = min(k, len(points))
        taken = np.zeros(len(points), dtype=bool)
        picked: list[int] = []
        if len(pool.labelled):
            # Distance to the nearest labelled row, in slices to bound memory.
            nearest = np.full(len(points), np.inf)
            for start in range(0, len(pool.labelled), 1024):
                anchors = vectors[pool.labelled[start : start + 1024]]
                nearest = np.minimum(nearest, (1.0 - points @ anchors.T).min(axis=1))
        elif count:
            first = int(np.argmax(points @ points.mean(axis=0)))
            picked.append(first)
            taken[first] = True
            nearest = 1.0 - points @ points[first]
        while len(picked) < count:
            pick = int(np.argmax(np.where(taken, -np.inf, nearest)))  # ties: the earliest row
            picked.append(pick)
            taken[pick] = True
            nearest = np.minimum(nearest, 1.0 - points @ points[pick])
        return pool.candidates[np.asarray(picked, dtype=np.int64)]


@dataclass(frozen=True)
class ClusterUncertaintySampler(Sampler):
    """k-means on the embeddings, then the most uncertain document of each cluster, round-robin.

    ``clusters``: how many (default: ``k``, the number of documents asked for, at most
    :data:`DEFAULT_CLUSTERS` when the whole pool is ranked). ``measure``: the uncertainty.
    Round one takes every cluster's most uncertain document, the clusters ordered by that
    document's uncertainty; round two every cluster's second, and so on.
    """

    name: ClassVar[str] = "cluster_uncertainty"
    needs_embeddings: ClassVar[bool] = True
    measure: str = "margin"
    clusters: int | None = None

    def __post_init__(self) -> None:
        _check_measure(self.measure)
        if self.clusters is not None and self.clusters < 1:
            raise ValueError("clusters must be a positive number")

    def order(self, pool: Pool, k: int, rng: np.random.Generator) -> np.ndarray:
        from sklearn.cluster import KMeans

        points = pool.unit_embeddings()[pool.candidates]
        scores = pool.scores(self.measure)
        wanted = self.clusters or (k if k < len(points) else DEFAULT_CLUSTERS)
        n_clusters = max(1, min(wanted, len(points)))
        if n_clusters == 1:
            assignment = np.zeros(len(points), dtype=np.int64)
        else:
            seed = int(rng.integers(2**31 - 1))
            assignment = KMeans(n_clusters=n_clusters, random_state=seed, n_init=3).fit_predict(points)
        queues = [
            [int(i) for i in _by_score(np.nonzero(assignment == c)[0], scores[assignment == c], len(points))]
            for c in range(n_clusters)
        ]
        picked: list[int] = []
        depth = 0
        while len(picked) < min(k, len(points)):
            layer = [queue[depth] for queue in queues if depth < len(queue)]
            picked.extend(int(i) for i in _by_score(np.asarray(layer), scores[layer], len(layer)))
            depth += 1
        return pool.candidates[np.asarray(picked[:k], dtype=np.int64)]


#: Clusters when ``cluster_uncertainty`` ranks a whole pool (no ``k``).
DEFAULT_CLUSTERS = 20

SAMPLERS: dict[str, type[Sampler]] = {
    cls.name: cls
    for cls in (
        RandomSampler,
        LeastConfidentSampler,
        MarginSampler,
        EntropySampler,
        KCenterGreedySampler,
        ClusterUncertaintySampler,
    )
}
#: Other names the literature uses.
ALIASES = {"breaking_ties": "margin", "coreset": "kcenter", "core_set": "kcenter"}


def get_sampler(spec: str | dict[str, Any] | Sampler, **params: Any) -> Sampler:
    """A sampler from its name, a ``{"name", "params"}`` dict, or as is."""
    if isinstance(spec, Sampler):
        return spec
    if isinstance(spec, str):
        name, given = spec, {}
    elif isinstance(spec, dict):
        name, given = spec.get("name"), dict(spec.get("params") or {})
    else:
        raise TypeError(f"A sampler is a name, a dict or a Sampler, not {type(spec).__name__}.")
    name = ALIASES.get(str(name), str(name))
    if name not in SAMPLERS:
        raise ValueError(f"Unknown sampler '{name}'. Choose one of: {', '.join(SAMPLERS)}.")
    try:
        return SAMPLERS[name](**{**given, **params})
    except TypeError as error:
        raise ValueError(f"Sampler '{name}' got an unknown parameter: {error}") from error
