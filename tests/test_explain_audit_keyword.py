"""Explanations on the keyword model (one keyword makes the label; see tests/test_explain.py):
stored predictions explained with their own model settings, estimated occlusion scores marked
and never listed first, key words for every sentence the page lists."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder

from longbert import LongBertClassifier
from longbert.document import as_document
from longbert.explain import Explanation, explain
from longbert.explain.api import LISTED_SENTENCES
from longbert.store.explanations import ExplanationRecord
from longbert.ui import explanations as why

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KEYWORD = "inflation"
SIGNAL = f"Prices rose because {KEYWORD} kept growing."
FILLER = [
    "The committee met on Tuesday to review the plans.",
    "Several members asked for more time before the vote.",
    "The report was published later that week.",
    "Nobody expected the meeting to last so long.",
]


def keyword_text(n_sentences: int, signal_at: set[int]) -> str:
    return " ".join(SIGNAL if i in signal_at else FILLER[i % len(FILLER)] for i in range(n_sentences))


@pytest.fixture(scope="module")
def keyword_model(tmp_path_factory: pytest.TempPathFactory) -> LongBertClassifier:
    """Every layer's [CLS] takes the plain mean of the tokens, the keyword's embedding alone has
    a non-zero first coordinate, and the head reads it: P(kw) grows with the keyword's share."""
    folder = save_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder", hidden=32)
    model = LongBertClassifier.from_encoder(folder, labels=["other", "kw"], strategy="truncate", device="cpu")
    keyword_id = model.tokenizer.convert_tokens_to_ids(KEYWORD)
    encoder, eye = model.encoder, torch.eye(32)
    torch.manual_seed(0)
    with torch.no_grad():
        words = encoder.embeddings.word_embeddings.weight
        words.normal_(0, 1.0)
        words[:, 0] = 0.0
        words[keyword_id] = 0.0
        words[keyword_id, 0], words[keyword_id, 1] = 4.0, -4.0
        words -= words.mean(dim=1, keepdim=True)
        encoder.embeddings.position_embeddings.weight.zero_()
        encoder.embeddings.token_type_embeddings.weight.zero_()
        for layer in encoder.encoder.layer:
            attention = layer.attention.self
            for linear in (attention.query, attention.key, attention.query_global, attention.key_global):
                linear.weight.zero_()
                linear.bias.zero_()
            for linear in (attention.value, attention.value_global, layer.attention.output.dense):
                linear.weight.copy_(eye)
                linear.bias.zero_()
            layer.output.dense.weight.zero_()
            layer.output.dense.bias.zero_()
        model.head.pooler.weight.copy_(eye)
        model.head.pooler.bias.zero_()
        model.head.classifier.weight.zero_()
        model.head.classifier.weight[1, 0] = 6.0
        model.head.classifier.bias.copy_(torch.tensor([0.0, -0.5]))
    return model.eval()


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "chunk", "params": {"window": 48, "stride": 24}, "model": {"pooling": "max"}},
        {"name": "sparse", "params": {"max_tokens": 1024}, "model": {"attention_window": 8}},
    ],
)
def test_a_stored_prediction_is_explained_with_its_model_settings(
    keyword_model: LongBertClassifier, spec: dict[str, Any]
) -> None:
    """A bulk job or the API may predict with pooling / window overrides; the prediction keeps
    them in ``extra``, and re-explaining it uses them (not the model's own settings)."""
    document = as_document(keyword_text(40, {5}), name="doc.txt", source="paste")
    (prediction,) = keyword_model.predict([document], strategy=spec, attention="none")
    plain = {"name": spec["name"], "params": spec["params"]}
    (own,) = keyword_model.predict([document], strategy=plain, attention="none")
    assert abs(own.probabilities["kw"] - prediction.probabilities["kw"]) > 1e-3  # the check bites
    assert why.prediction_spec(prediction)["model"] == spec["model"]
    for method in ("occlusion", "integrated_gradients", "attention"):
        explained = why.explain_prediction(keyword_model, prediction, document, method, "kw")
        assert explained.probability == pytest.approx(prediction.probabilities["kw"], abs=1e-4)
        assert explained.warnings == []


SPARSE = {"name": "sparse", "params": {"max_tokens": 4096, "attention_window": 16}}


def test_estimated_scores_are_flagged_and_never_listed_first(keyword_model: LongBertClassifier) -> None:
    """Coarse-to-fine occlusion (long mode, over 64 sentences) estimates the scores of sentences
    in blocks it did not refine; every sentence the page lists (10 for, 10 against) is measured."""
    text = keyword_text(200, set(range(5, 200, 17)))
    fast = explain(keyword_model, text, method="occlusion", strategy=SPARSE, top_sentences=0)
    exact = explain(
        keyword_model, text, method="occlusion", strategy=SPARSE, top_sentences=0, occlusion_budget=0
    )
    plan = fast.details["occlusion"]
    flagged = [i for i, s in enumerate(fast.sentences) if s.estimated]
    assert len(flagged) == plan["estimated_sentences"] > 0
    assert 0 < plan["refined_for_lists"] < 64  # estimates reached the lists, and were measured
    assert not any(s.estimated for s in exact.sentences)
    listed = fast.top(LISTED_SENTENCES) + fast.top(LISTED_SENTENCES, sign=-1)
    assert listed and not any(fast.sentences[i].estimated for i in listed)
    for i in listed:
        assert fast.sentences[i].score == pytest.approx(exact.sentences[i].score, abs=1e-5)
    # The flags are kept with the stored explanation (exact rows keep their four items).
    stored = fast.to_dict()
    assert {len(row) for row in stored["sentences"]} == {4, 5}
    restored = Explanation.from_dict(json.loads(json.dumps(stored)))
    assert [i for i, s in enumerate(restored.sentences) if s.estimated] == flagged
    # The page says how many are estimated, and marks any it lists.
    record = ExplanationRecord(1, 1, datetime(2026, 1, 5, tzinfo=UTC), restored)
    assert f"{len(flagged)} scores estimated from blocks of sentences, marked ≈" in why.summary_text(record)
    restored.sentences[listed[0]].estimated = True
    first = why.top_lines(text, restored, 1, sign=1 if restored.sentences[listed[0]].score > 0 else -1)[0]
    assert first.estimated and first.score.startswith("≈") and first.score.endswith("(estimated)")
    # Stored before the flag: the count still shows, saying the rows are not marked.
    for sentence in restored.sentences:
        sentence.estimated = False
    assert "computed before estimated scores were marked" in why.summary_text(record)


@pytest.mark.parametrize("method", ["integrated_gradients", "gradient_x_input", "attention"])
def test_every_listed_sentence_has_its_key_words(keyword_model: LongBertClassifier, method: str) -> None:
    """The page lists up to 10 sentences for and 10 against the label, each with its key words;
    these methods' word scores cost no model run, so every listed sentence has them."""
    text = keyword_text(40, set(range(2, 40, 5)))
    result = explain(keyword_model, text, method=method, label="kw", n_steps=8)
    listed = result.top(LISTED_SENTENCES) + result.top(LISTED_SENTENCES, sign=-1)
    assert len(result.top(LISTED_SENTENCES)) == LISTED_SENTENCES
    if method != "attention":  # attention is never negative
        assert len(result.top(LISTED_SENTENCES, sign=-1)) == LISTED_SENTENCES
    assert set(listed) <= set(result.top_words)
    for sign in (1, -1):
        assert all(line.words for line in why.top_lines(text, result, LISTED_SENTENCES, sign=sign))
    assert explain(keyword_model, text, method=method, top_sentences=0).top_words == {}


def test_occlusion_scores_the_words_of_its_top_sentences_only(keyword_model: LongBertClassifier) -> None:
    """Occlusion reruns the model once per word: words for 20 sentences instead of 3 cost 2.3-3.6
    times the copies of the whole explanation on a tiny model, so it keeps to ``top_sentences``."""
    text = keyword_text(40, set(range(2, 40, 5)))
    result = explain(keyword_model, text, method="occlusion", label="kw")
    strongest = sorted(range(len(result.sentences)), key=lambda i: (-abs(result.sentences[i].score), i))
    assert sorted(result.top_words) == sorted(strongest[:3])
