"""Samplers of longbert.active: orderings on constructed cases, diversity, seeds, inputs."""

from __future__ import annotations

import numpy as np
import pytest

from longbert import Prediction, PredictionError
from longbert.active import SAMPLERS, get_sampler, probability_table, rank, uncertainty

# Five documents, three labels, built so that the three uncertainty measures disagree:
#   least confident (1 - top):   b .60 > a .50 > e .45 > d .10 > c .02
#   margin (top - second):       a .01 < b .10 < e .30 < d .85 < c .97
#   entropy:                     b 1.09 > e 1.00 > a .74 > d .39 > c .11
A, B, C, D, E = range(5)
PROBS = np.array(
    [
        [0.50, 0.49, 0.01],  # a: two labels tied
        [0.40, 0.30, 0.30],  # b: spread out
        [0.98, 0.01, 0.01],  # c: sure
        [0.90, 0.05, 0.05],  # d: fairly sure
        [0.55, 0.25, 0.20],  # e
    ]
)


@pytest.mark.parametrize(
    ("sampler", "expected"),
    [
        ("least_confident", [B, A, E, D, C]),
        ("margin", [A, B, E, D, C]),
        ("breaking_ties", [A, B, E, D, C]),
        ("entropy", [B, E, A, D, C]),
    ],
)
def test_uncertainty_orderings_on_a_constructed_case(sampler: str, expected: list[int]) -> None:
    assert rank(PROBS, sampler=sampler).tolist() == expected


def test_k_and_already_labelled_and_unusable_rows() -> None:
    probs = PROBS.copy()
    probs[E] = np.nan  # no prediction for e: never picked
    order = rank(probs, sampler="margin", already_labelled=[A])
    assert order.tolist() == [B, D, C]
    assert rank(probs, sampler="margin", already_labelled=[A], k=2).tolist() == [B, D]
    mask = np.array([True, False, False, False, False])
    assert rank(probs, sampler="margin", already_labelled=mask, k=1).tolist() == [B]
    assert rank(probs, sampler="margin", k=0).tolist() == []


def test_ties_keep_input_order() -> None:
    probs = np.array([[0.7, 0.3], [0.6, 0.4], [0.7, 0.3], [0.6, 0.4]])
    assert rank(probs, sampler="margin").tolist() == [1, 3, 0, 2]


def test_multi_label_uncertainty_reads_label_sets() -> None:
    probs = np.array(
        [
            [0.80, 0.80, 0.80],  # every label fairly sure
            [0.99, 0.50, 0.01],  # one label undecided, the rest sure
            [0.99, 0.99, 0.01],  # sure of everything
        ]
    )
    # Margin: the best label set vs the one flipping the most undecided label.
    assert rank(probs, sampler="margin", multi_label=True).tolist() == [1, 0, 2]
    # Least confident: 1 - P(best set) = 1 - .512 for row 0, 1 - .495 for row 1.
    assert rank(probs, sampler="least_confident", multi_label=True).tolist() == [1, 0, 2]
    joint = uncertainty(probs, "entropy", multi_label=True)
    binary = -(probs * np.log(probs) + (1 - probs) * np.log(1 - probs)).sum(axis=1)
    np.testing.assert_allclose(joint, binary)


def _prediction(probabilities: dict[str, float], multi_label: bool = False) -> Prediction:
    label = max(probabilities, key=probabilities.__getitem__)
    return Prediction(
        document_name="d",
        document_sha256="0" * 64,
        label=label,
        probabilities=probabilities,
        labels=[label],
        model_name="m",
        strategy="truncate",
        strategy_params={},
        total_tokens=1,
        used_tokens=1,
        spans=[],
        segment_scores=[],
        attention=None,
        latency_ms=0.0,
        extra={"threshold": 0.5} if multi_label else {},
    )


def test_predictions_dicts_and_errors_as_inputs() -> None:
    labels = ["x", "y", "z"]
    dicts = [dict(zip(labels, row, strict=True)) for row in PROBS.tolist()]
    predictions: list[object] = [_prediction(d) for d in dicts]
    predictions[C] = PredictionError("c", "unreadable")
    assert rank(dicts, sampler="margin").tolist() == [A, B, E, D, C]
    assert rank(predictions, sampler="margin").tolist() == [A, B, E, D]
    # Label order inside the dicts does not matter.
    shuffled = [{k: d[k] for k in reversed(labels)} for d in dicts]
    assert rank(shuffled, sampler="entropy").tolist() == [B, E, A, D, C]


def test_multi_label_is_read_from_predictions() -> None:
    rows = [{"x": 0.9, "y": 0.8}, {"x": 0.5, "y": 0.1}]
    assert probability_table([_prediction(r, multi_label=True) for r in rows]).multi_label
    assert probability_table(rows).multi_label  # rows do not sum to 1
    assert not probability_table([{"x": 0.9, "y": 0.1}]).multi_label


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="one label set"):
        rank([{"x": 0.5, "y": 0.5}, {"x": 0.5, "z": 0.5}])
    with pytest.raises(ValueError, match="Unknown sampler"):
        rank(PROBS, sampler="oracle")
    with pytest.raises(ValueError, match="needs document embeddings"):
        rank(PROBS, sampler="kcenter")
    with pytest.raises(ValueError, match="needs probabilities"):
        rank(None, sampler="margin", embeddings=np.eye(3))
    with pytest.raises(ValueError, match="embeddings for"):
        rank(PROBS, sampler="kcenter", embeddings=np.eye(3))
    with pytest.raises(ValueError, match="outside"):
        rank(PROBS, already_labelled=[7])
    with pytest.raises(ValueError, match="unknown parameter"):
        get_sampler("margin", clusters=3)


def near_duplicate_clusters(
    clusters: int = 5, size: int = 6, dim: int = 32, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of ``clusters`` groups of ``size`` near-duplicates, rows shuffled; and each row's group."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    group = np.repeat(np.arange(clusters), size)
    vectors = centres[group] + 0.02 * rng.normal(size=(len(group), dim))
    order = rng.permutation(len(group))
    return vectors[order], group[order]


def test_kcenter_picks_one_per_cluster_before_a_second() -> None:
    vectors, group = near_duplicate_clusters()
    picks = rank(None, sampler="kcenter", embeddings=vectors, k=10)
    assert sorted(group[picks[:5]].tolist()) == [0, 1, 2, 3, 4]
    assert len(set(picks.tolist())) == 10
    # Labelled documents anchor the diversity: the four other clusters come first.
    labelled = np.nonzero(group == 2)[0][:1]
    picks = rank(None, sampler="coreset", embeddings=vectors, k=4, already_labelled=labelled)
    assert sorted(group[picks].tolist()) == [0, 1, 3, 4]


def test_uncertainty_alone_asks_about_near_duplicates_and_clusters_spread_it() -> None:
    vectors, group = near_duplicate_clusters()
    rng = np.random.default_rng(1)
    # The members of cluster 0 are all more uncertain than anything else.
    top = np.where(group == 0, rng.uniform(0.0, 0.02, len(group)), rng.uniform(0.2, 0.9, len(group)))
    probs = np.stack([(1 + top) / 2, (1 - top) / 2], axis=1)
    assert set(group[rank(probs, sampler="margin", k=5)].tolist()) == {0}
    picks = rank(probs, sampler="cluster_uncertainty", embeddings=vectors, k=5)
    assert sorted(group[picks].tolist()) == [0, 1, 2, 3, 4]
    # Within each cluster the pick is that cluster's most uncertain document, and the clusters
    # come in the order of their most uncertain member.
    for pick in picks:
        members = np.nonzero(group == group[pick])[0]
        assert top[pick] == top[members].min()
    assert group[picks[0]] == 0
    assert list(top[picks]) == sorted(top[picks])
    # Whole-pool ranking: every cluster's first pick before any cluster's second.
    full = rank(probs, sampler={"name": "cluster_uncertainty", "params": {"clusters": 5}}, embeddings=vectors)
    assert sorted(full.tolist()) == list(range(len(group)))
    assert sorted(group[full[:5]].tolist()) == [0, 1, 2, 3, 4]
    assert sorted(group[full[5:10]].tolist()) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_is_deterministic_under_a_seed(name: str) -> None:
    vectors, _ = near_duplicate_clusters(seed=3)
    probs = np.random.default_rng(2).dirichlet([1, 1, 1], size=len(vectors))
    first = rank(probs, sampler=name, embeddings=vectors, k=12, seed=7)
    again = rank(probs, sampler=name, embeddings=vectors, k=12, seed=7)
    assert first.tolist() == again.tolist()
    assert len(set(first.tolist())) == 12
    if name == "random":
        assert rank(probs, sampler=name, k=12, seed=8).tolist() != first.tolist()
        everything = rank(probs, sampler=name, seed=7)
        assert sorted(everything.tolist()) == list(range(len(vectors)))


def test_samplers_describe_themselves() -> None:
    sampler = get_sampler({"name": "cluster_uncertainty", "params": {"measure": "entropy", "clusters": 4}})
    expected = {"name": "cluster_uncertainty", "params": {"measure": "entropy", "clusters": 4}}
    assert sampler.config() == expected
    assert get_sampler(sampler) is sampler
