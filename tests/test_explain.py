"""Explanations on a model whose answer is known: one keyword makes the label.

The "keyword model" is a tiny BERT whose weights are set by hand: every layer's [CLS] takes the
plain mean of all tokens (query/key weights 0, value and output identity, feed-forward off), the
keyword's embedding alone has a non-zero first coordinate, and the head reads that coordinate.
So the probability of label ``kw`` grows with the keyword's share of what the model read, and
the sentence holding the keyword is the one that carries the label.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder

from longbert import LongBertClassifier
from longbert.explain import (
    METHODS,
    Explanation,
    document_html,
    explain,
    explain_many,
    keep_positions,
    read_sentences,
    remove_positions,
    top_sentences_html,
    top_share,
)
from longbert.explain.model_io import LabelForward, read, resolve, resolve_strategy

KEYWORD = "inflation"
FILLER = [
    "The committee met on Tuesday to review the plans.",
    "Several members asked for more time before the vote.",
    "The report was published later that week.",
    "Nobody expected the meeting to last so long.",
]
STRATEGIES = {
    "truncate": {"name": "truncate", "params": {}},
    "key_sentences": {"name": "key_sentences", "params": {"max_tokens": 120}},
    "chunk": {"name": "chunk", "params": {"window": 48, "stride": 24}},
    "sparse": {"name": "sparse", "params": {"max_tokens": 1024, "attention_window": 16}},
}


def keyword_text(n_sentences: int = 12, at: int = 5) -> tuple[str, str]:
    """A text of filler sentences with the keyword sentence at index ``at``; and that sentence."""
    signal = f"Prices rose because {KEYWORD} kept growing."
    sentences = [FILLER[i % len(FILLER)] for i in range(n_sentences)]
    sentences[at] = signal
    return " ".join(sentences), signal


@pytest.fixture(scope="module")
def keyword_model(tmp_path_factory: pytest.TempPathFactory) -> LongBertClassifier:
    folder = save_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder", hidden=32)
    model = LongBertClassifier.from_encoder(folder, labels=["other", "kw"], strategy="truncate", device="cpu")
    keyword_id = model.tokenizer.convert_tokens_to_ids(KEYWORD)
    assert model.tokenizer.tokenize(KEYWORD) == [KEYWORD]
    encoder, hidden = model.encoder, 32
    eye = torch.eye(hidden)
    with torch.no_grad():
        words = encoder.embeddings.word_embeddings.weight
        words.normal_(0, 1.0)
        words[:, 0] = 0.0
        words[keyword_id] = 0.0
        words[keyword_id, 0], words[keyword_id, 1] = 4.0, -4.0
        words -= words.mean(dim=1, keepdim=True)  # zero-mean rows: LayerNorm keeps coordinate 0 at 0
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
    model.eval()
    return model


def test_keyword_model_reads_the_keyword(keyword_model: LongBertClassifier) -> None:
    text, _ = keyword_text()
    plain = " ".join(FILLER * 3)
    with_kw, without = keyword_model.predict([text, plain])
    assert with_kw.label == "kw" and without.label == "other"


@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.parametrize("method", ["occlusion", "integrated_gradients"])
def test_signal_sentence_ranks_first(keyword_model: LongBertClassifier, strategy: str, method: str) -> None:
    """Gradient x input is left out on purpose: one step of the gradient, times an embedding that
    is not a difference from a baseline, has no such guarantee (and fails it here); the benchmark
    measures how faithful it is on real models."""
    text, signal = keyword_text(n_sentences=12, at=5)
    result = explain(
        keyword_model, text, method=method, strategy=STRATEGIES[strategy], n_steps=32, internal_batch_size=64
    )
    assert result.label == "kw"
    best = result.sentences[result.ranking()[0]]
    assert text[best.span[0] : best.span[1]] == signal
    assert best.score > 0
    # Its top word is the keyword itself.
    (words,) = [w for i, w in result.top_words.items() if result.sentences[i] is best]
    assert text[words[0].span[0] : words[0].span[1]] == KEYWORD


def test_occlusion_scores_are_probability_drops(keyword_model: LongBertClassifier) -> None:
    text, signal = keyword_text()
    result = explain(keyword_model, text, method="occlusion")
    without = keyword_model.predict([text.replace(signal + " ", "")])[0]
    best = result.sentences[result.ranking()[0]]
    assert best.score == pytest.approx(result.probability - without.probabilities["kw"], abs=0.02)
    others = [s.score for s in result.sentences if s is not best]
    assert best.score > 2 * max(abs(score) for score in others)


def test_long_mode_occlusion_goes_coarse_to_fine_within_its_budget(keyword_model: LongBertClassifier) -> None:
    """Sparse reruns the whole document per perturbed copy: exact occlusion costs one pass per
    sentence, but blocks first find the signal at a bounded cost, with the signal sentence's
    score exact."""
    text, signal = keyword_text(n_sentences=240, at=181)
    spec = {"name": "sparse", "params": {"max_tokens": 4096, "attention_window": 16}}
    options: dict[str, Any] = {"method": "occlusion", "strategy": spec, "label": "kw", "top_sentences": 1}
    fast = explain(keyword_model, text, **options)
    exact = explain(keyword_model, text, **options, occlusion_budget=0)
    count = len(exact.sentences)
    plan = fast.details["occlusion"]
    assert count > 100 and len(fast.sentences) == count and "occlusion" not in exact.details
    assert plan["perturbed_copies"] <= 64 and 0 < plan["blocks"] < count and plan["estimated_sentences"] > 0
    best = fast.ranking()[0]
    assert text[slice(*fast.sentences[best].span)].endswith(signal) and best == exact.ranking()[0]
    assert fast.sentences[best].score == pytest.approx(exact.sentences[best].score, abs=1e-4)
    with pytest.raises(ValueError, match="occlusion budget"):
        explain(keyword_model, text, method="occlusion", strategy=spec, occlusion_budget=1)


@pytest.mark.parametrize("strategy", ["truncate", "chunk", "sparse"])
def test_integrated_gradients_completeness(keyword_model: LongBertClassifier, strategy: str) -> None:
    """Attributions add up to f(input) − f(baseline) (per window for chunks)."""
    spec = STRATEGIES[strategy]
    text, _ = keyword_text(n_sentences=12)
    result = explain(
        keyword_model, text, method="integrated_gradients", strategy=spec, n_steps=64, internal_batch_size=64
    )
    assert result.details["convergence_delta"] < 1e-3
    chosen, settings = resolve(keyword_model, spec)  # the spec's sparse window is a model setting
    encoded = read(keyword_model, text, chosen)
    forward = LabelForward(keyword_model, encoded, chosen, label_index=1, settings=settings)
    ids, mask, global_mask, index = forward.inputs()
    with torch.no_grad():
        at_input = forward(ids, mask, global_mask, index)
        at_baseline = forward(forward.baseline(ids, mask), mask, global_mask, index)
    expected = float((at_input - at_baseline).sum())
    total = sum(s.score for s in result.sentences)
    assert total == pytest.approx(expected, abs=2e-3)
    assert abs(expected) > 0.05  # the check is not vacuous


@pytest.mark.parametrize("strategy", list(STRATEGIES))
@pytest.mark.parametrize("method", list(METHODS))
def test_every_strategy_covers_what_it_read(
    keyword_model: LongBertClassifier, strategy: str, method: str
) -> None:
    text, _ = keyword_text(n_sentences=80)
    chosen = resolve_strategy(keyword_model, STRATEGIES[strategy])
    encoded = read(keyword_model, text, chosen)
    result = explain(
        keyword_model, text, method=method, strategy=STRATEGIES[strategy], n_steps=4, internal_batch_size=64
    )
    read_spans = {tuple(int(x) for x in encoded.doc.sentence_spans[i]) for i in read_sentences(encoded).index}
    assert {s.span for s in result.sentences} == read_spans
    assert result.strategy == STRATEGIES[strategy]["name"]
    if strategy in ("chunk", "sparse"):  # the whole document is read
        assert len(result.sentences) == len(encoded.doc.sentence_spans)
    else:  # a 510- or 120-token window of a longer document
        assert encoded.total_tokens > 510
        assert 0 < len(result.sentences) < len(encoded.doc.sentence_spans)
    assert all(np.isfinite(s.score) for s in result.sentences)
    restored = Explanation.from_dict(json.loads(json.dumps(result.to_dict())))
    assert [s.span for s in restored.sentences] == [s.span for s in result.sentences]
    assert restored.top_words.keys() == result.top_words.keys()
    assert restored.method == method and restored.label == result.label


def test_attention_is_the_prediction_summary(keyword_model: LongBertClassifier) -> None:
    text, _ = keyword_text()
    result = explain(keyword_model, text, method="attention")
    summary = keyword_model.predict([text])[0].attention
    assert summary is not None
    assert [s.score for s in result.sentences] == pytest.approx(summary.sentence_scores.tolist(), abs=1e-5)
    assert result.details["unsigned"] and all(s.score >= 0 for s in result.sentences)


def test_html_escapes_document_text(keyword_model: LongBertClassifier) -> None:
    text = "<script>alert('x')</script> prices & wages. " + keyword_text()[0] + " <b>bold</b> end."
    result = explain(keyword_model, text, method="occlusion")
    for page in (document_html(text, result, k=20), top_sentences_html(text, result, k=20)):
        assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;" in document_html(text, result, k=20)
    assert "&amp;" in document_html(text, result, k=20)


def test_removal_and_keeping_positions() -> None:
    from longbert.strategies import Selection

    doc = type("Doc", (), {})()
    encoded = Selection(doc=doc, mode="chunks", windows=[np.arange(0, 6), np.arange(4, 10)])  # type: ignore[arg-type]
    removed = remove_positions(encoded, np.array([4, 5]))
    assert [w.tolist() for w in removed.windows] == [[0, 1, 2, 3], [6, 7, 8, 9]]
    kept = keep_positions(encoded, np.array([4, 5, 9]))
    assert [w.tolist() for w in kept.windows] == [[4, 5], [4, 5, 9]]
    order = np.array([2, 0, 1])
    assert top_share(order, np.array([10, 10, 80]), 0.05).tolist() == [2]
    assert top_share(order, np.array([10, 10, 80]), 0.85).tolist() == [2, 0]


def test_bad_requests_are_clear_errors(keyword_model: LongBertClassifier) -> None:
    with pytest.raises(ValueError, match="unknown explanation method"):
        explain(keyword_model, "text", method="lime")
    with pytest.raises(ValueError, match="unknown label"):
        explain(keyword_model, "some text.", method="occlusion", label="nope")
    with pytest.raises(ValueError, match=r"malformed|unknown explanation format"):
        Explanation.from_dict({"format": 1, "method": "occlusion"})
    rows = explain_many(keyword_model, ["   ", "Fine text."], methods=["occlusion"])
    assert isinstance(rows[0]["occlusion"], str) and isinstance(rows[1]["occlusion"], Explanation)


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "chunk", "params": {"window": 48, "stride": 24, "pooling": "max"}},
        {"name": "sparse", "params": {"max_tokens": 1024}, "model": {"attention_window": 8}},
    ],
)
def test_model_settings_in_the_spec_are_used_as_predict_uses_them(
    keyword_model: LongBertClassifier, spec: dict
) -> None:
    """A spec's model settings (chunk's pooling, sparse's window) override the model's, as in predict."""
    text, _ = keyword_text(n_sentences=40)
    (prediction,) = keyword_model.predict([text], strategy=spec, attention="none")
    plain = {"name": spec["name"], "params": {k: v for k, v in spec["params"].items() if k != "pooling"}}
    (own,) = keyword_model.predict([text], strategy=plain, attention="none")  # the model's settings
    assert abs(own.probabilities["kw"] - prediction.probabilities["kw"]) > 1e-3  # the check bites
    for method in ("occlusion", "attention"):
        result = explain(keyword_model, text, method=method, strategy=spec)
        assert result.probability == pytest.approx(prediction.probabilities[result.label], abs=1e-4)
    assert keyword_model.pooling_method == "mean"  # the model itself is unchanged
