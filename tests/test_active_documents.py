"""Ranking documents through a model: one pass gives predict's probabilities and mean-pooled embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder, text_of

from longbert import Document, LongBertClassifier
from longbert.active import rank, rank_documents, score_documents
from longbert.active.embeddings import mean_pool
from longbert.tokenization import tokenize_document

STRATEGIES = [
    "truncate",
    {"name": "chunk", "params": {"window": 32, "stride": 16}},
    {"name": "sparse", "params": {"max_tokens": 1024, "attention_window": 16}},
]


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-active"))


@pytest.fixture(autouse=True)
def exact_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")


DOCS = [text_of(n, offset) for n, offset in ((3, 0), (12, 1), (30, 2), (2, 3), (7, 1), (60, 0))]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=["truncate", "chunk", "sparse"])
def test_scores_match_predict_and_embeddings_are_unit_means(tiny_encoder: Path, strategy: object) -> None:
    torch.manual_seed(0)
    clf = LongBertClassifier.from_encoder(tiny_encoder, ["a", "b", "c"], strategy)
    scores = score_documents(clf, [*DOCS, "   "], batch_size=3)
    assert scores.errors and list(scores.errors) == [len(DOCS)]  # the blank one: a value, not a raise
    assert np.isnan(scores.probabilities[-1]).all()
    predicted = clf.predict(DOCS, attention="none")
    expected = np.array([[p.probabilities[label] for label in clf.labels] for p in predicted])
    np.testing.assert_allclose(scores.probabilities[: len(DOCS)], expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(scores.embeddings[: len(DOCS)], axis=1), 1.0, atol=1e-5)
    # A document's embedding: the normalised mean of its windows' normalised mean token states.
    encoded = clf.strategy.select(tokenize_document(Document(DOCS[0]), clf.tokenizer))
    batch = clf.collate([encoded])
    with torch.no_grad():
        hidden = clf.encoder(
            batch.input_ids,
            attention_mask=batch.attention_mask,
            global_attention_mask=batch.global_attention_mask,
            sparse=batch.mode == "long",
            attention_window=clf.attention_window,
        ).last_hidden_state
    windows = mean_pool(hidden, batch.attention_mask).mean(dim=0)
    expected_embedding = torch.nn.functional.normalize(windows, dim=0).numpy()
    np.testing.assert_allclose(scores.embeddings[0], expected_embedding, atol=1e-5)


def test_rank_documents_is_rank_over_the_scores(tiny_encoder: Path) -> None:
    clf = LongBertClassifier.from_encoder(tiny_encoder, ["a", "b"], "truncate")
    scores = score_documents(clf, DOCS)
    for sampler in ("margin", "kcenter", "cluster_uncertainty"):
        direct = rank_documents(clf, DOCS, sampler=sampler, k=4, already_labelled=[1], seed=3)
        again = rank(
            scores.probabilities,
            sampler=sampler,
            embeddings=scores.embeddings,
            k=4,
            already_labelled=[1],
            seed=3,
        )
        assert direct.tolist() == again.tolist()
        assert 1 not in direct.tolist() and len(direct) == 4


def test_zero_shot_classifier_scores_like_its_predictions() -> None:
    from longbert import ZeroShotClassifier

    zs = ZeroShotClassifier({"economy": "interest rates, markets, banks", "sport": "football, fans, matches"})
    docs = [text_of(2, 0), text_of(2, 2)]
    scores = score_documents(zs, docs)
    predicted = zs.predict(docs, attention="none")
    expected = np.array([[p.probabilities[label] for label in zs.labels] for p in predicted])
    np.testing.assert_allclose(scores.probabilities, expected, atol=1e-4)
    assert [zs.labels[i] for i in scores.probabilities.argmax(axis=1)] == ["economy", "sport"]
