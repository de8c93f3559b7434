"""Ranking never loses a document silently: rank_documents puts documents it could not read
last, with a warning that says why, and an empty list ranks to an empty order as an empty
array does."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.classifier_factories import save_tiny_encoder, text_of

from longbert import LongBertClassifier
from longbert.active import SAMPLERS, probability_table, rank, rank_documents, score_documents

DOCS = [text_of(3, 0), "   ", text_of(12, 1), "", text_of(7, 2)]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> LongBertClassifier:
    encoder = save_tiny_encoder(tmp_path_factory.mktemp("tiny-rank"))
    return LongBertClassifier.from_encoder(encoder, ["a", "b"], "truncate", device="cpu")


@pytest.mark.parametrize("sampler", ["margin", "kcenter", "cluster_uncertainty", "random"])
def test_unreadable_documents_come_last_with_their_reasons(
    classifier: LongBertClassifier, sampler: str
) -> None:
    with pytest.warns(UserWarning, match=r"2 of 5 documents could not be read.*#1: .*empty.*#3: ") as caught:
        order = rank_documents(classifier, DOCS, sampler=sampler, seed=3)
    assert len(caught) == 1
    assert sorted(order[:3].tolist()) == [0, 2, 4] and order[3:].tolist() == [1, 3]
    # k counts them too (they come after every readable one); labelled ones never come back.
    with pytest.warns(UserWarning):
        assert rank_documents(classifier, DOCS, sampler=sampler, k=4, already_labelled=[3]).tolist()[3:] == [
            1
        ]
    with pytest.warns(UserWarning):
        assert len(rank_documents(classifier, DOCS, sampler=sampler, k=2)) == 2


def test_the_reasons_are_those_of_score_documents(classifier: LongBertClassifier) -> None:
    scores = score_documents(classifier, DOCS)
    with pytest.warns(UserWarning) as caught:
        order = rank_documents(classifier, DOCS, scores=scores)
    assert all(why in str(caught[0].message) for why in scores.errors.values())
    assert order.tolist()[-2:] == [1, 3]


def test_readable_documents_rank_without_a_warning(
    classifier: LongBertClassifier, recwarn: pytest.WarningsRecorder
) -> None:
    readable = [DOCS[0], DOCS[2], DOCS[4]]
    assert sorted(rank_documents(classifier, readable).tolist()) == [0, 1, 2]
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_an_empty_list_ranks_like_an_empty_array(sampler: str) -> None:
    empty = np.zeros((0, 4))
    assert rank([], sampler=sampler, embeddings=empty).tolist() == []
    assert rank(np.empty((0, 3)), sampler=sampler, embeddings=empty).tolist() == []
    assert rank([], sampler=sampler, embeddings=empty, k=5, labels=["a", "b"]).dtype == np.int64
    assert probability_table([], labels=["a", "b"]).matrix.shape == (0, 2)
    with pytest.raises(ValueError, match="none of the predictions"):
        rank([None, None], sampler=sampler, embeddings=np.zeros((2, 4)))  # still refused: nothing usable
