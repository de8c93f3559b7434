"""The classifier and inference API end to end: strategies, attention summaries, checkpoints, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder

from longbert import (
    CheckpointError,
    Document,
    EncoderNotFoundError,
    LongBertClassifier,
    Prediction,
    PredictionError,
    ZeroShotClassifier,
    load_classifier,
)
from longbert.encoder_source import default_encoder_path

TOPIC_SENTENCES = [
    "The central bank raised interest rates again to fight inflation.",
    "Markets fell sharply after the announcement, and bond yields climbed.",
    "Analysts expect the economy to slow as borrowing becomes more expensive.",
    "The football club won the championship after a dramatic penalty shoot-out.",
    "Fans celebrated in the streets long after the final whistle.",
    "The coach praised the players for their discipline and courage.",
]


def long_text(n_sentences: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(TOPIC_SENTENCES), size=n_sentences)
    return " ".join(TOPIC_SENTENCES[i] for i in picks)


@pytest.fixture(scope="module")
def classifier() -> LongBertClassifier:
    torch.manual_seed(0)
    return LongBertClassifier.from_encoder(None, labels=["economy", "sport", "other"], strategy="truncate")


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer, 48-wide BERT with the default vocabulary: sizes must never be hard-coded."""
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"))


@pytest.mark.parametrize(
    "strategy",
    [
        {"name": "truncate", "params": {"mode": "head"}},
        {"name": "truncate", "params": {"mode": "head+tail"}},
        {"name": "key_sentences", "params": {}},
        {"name": "chunk", "params": {"pooling": "attention"}},
        {"name": "sparse", "params": {"max_tokens": 2048}},
    ],
    ids=lambda s: f"{s['name']}-{s['params'].get('mode', s['params'].get('pooling', ''))}",
)
def test_predict_every_strategy(classifier: LongBertClassifier, strategy: dict) -> None:
    text = long_text(120)  # ~1,600 tokens: every strategy has to make choices
    (prediction,) = classifier.predict([Document(text, name="report.txt")], strategy=strategy)
    assert isinstance(prediction, Prediction), prediction
    assert prediction.strategy == strategy["name"]
    assert set(prediction.probabilities) == {"economy", "sport", "other"}
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert prediction.label == max(prediction.probabilities, key=prediction.probabilities.get)
    assert prediction.total_tokens > 1000
    if strategy["name"] in ("truncate", "key_sentences"):
        assert prediction.used_tokens <= 510
    if strategy["name"] in ("chunk", "sparse"):
        assert prediction.used_tokens == prediction.total_tokens
    # Spans are inside the text and sorted; the summary covers every document token.
    assert all(0 <= a < b <= len(text) for a, b in prediction.spans)
    assert prediction.spans == sorted(prediction.spans)
    summary = prediction.attention
    assert summary is not None
    assert summary.token_scores.shape == (prediction.total_tokens,)
    assert summary.word_scores.sum() == pytest.approx(summary.token_scores.sum(), rel=1e-4)
    assert summary.sentence_scores.sum() == pytest.approx(summary.token_scores.sum(), rel=1e-4)
    assert 0.0 < summary.token_scores.sum() <= 1.0 + 1e-4
    assert summary.word_spans.shape[1] == 2 and summary.sentence_spans.shape[1] == 2
    if strategy["name"] == "chunk":
        windows = [s for s in prediction.segment_scores if s.kind == "window"]
        assert len(windows) >= 4
        assert sum(s.weight for s in windows) == pytest.approx(1.0, abs=1e-5)
        assert all(0.0 <= s.score <= 1.0 for s in windows)
    assert prediction.latency_ms > 0


def test_cls_attention_row_is_exact(classifier: LongBertClassifier, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stored [CLS] row equals the last layer's attention of an eager transformers BERT."""
    from transformers import BertModel

    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")  # exact means float32; bf16 is checked below

    text = long_text(10)
    (prediction,) = classifier.predict([text], strategy={"name": "truncate", "params": {"mode": "head"}})
    tokenizer = classifier.tokenizer
    batch = tokenizer(text, return_tensors="pt", truncation=True, max_length=512)
    reference = BertModel.from_pretrained(default_encoder_path(), attn_implementation="eager")
    with torch.inference_mode():
        out = reference(**batch, output_attentions=True)
    row = out.attentions[-1][0, :, 0, :].mean(dim=0).numpy()  # [T] over [CLS] tokens [SEP]
    n = prediction.total_tokens
    np.testing.assert_allclose(prediction.attention.token_scores, row[1 : n + 1], atol=1e-5)


def test_bf16_inference_stays_close_to_fp32(
    classifier: LongBertClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CPUs with native bf16 infer in bf16 by default: probabilities and attention stay close."""
    texts = [long_text(k, seed=k) for k in (3, 40, 9)]
    strategy = {"name": "chunk", "params": {"pooling": "mean", "window": 64, "stride": 48}}
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    exact = classifier.predict(texts, strategy=strategy)
    monkeypatch.setenv("LONGBERT_PRECISION", "bf16")
    fast = classifier.predict(texts, strategy=strategy)
    for a, b in zip(exact, fast, strict=True):
        assert (a.extra["precision"], b.extra["precision"]) == ("float32", "bfloat16")
        assert a.extra["device"] == b.extra["device"] == "cpu"
        assert b.probabilities == pytest.approx(a.probabilities, abs=2e-2)
        assert b.attention.token_scores.dtype == a.attention.token_scores.dtype
        np.testing.assert_allclose(b.attention.token_scores, a.attention.token_scores, atol=5e-3)


def test_precision_setting(classifier: LongBertClassifier, monkeypatch: pytest.MonkeyPatch) -> None:
    from longbert import devices

    cpu = torch.device("cpu")
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    assert devices.precision_dtype(cpu) is None
    monkeypatch.setenv("LONGBERT_PRECISION", "BF16")
    assert devices.precision_dtype(cpu) == torch.bfloat16
    monkeypatch.setenv("LONGBERT_PRECISION", "fp16")
    with pytest.raises(ValueError, match="needs a CUDA device"):
        devices.precision_dtype(cpu)
    monkeypatch.setenv("LONGBERT_PRECISION", "half")
    with pytest.raises(ValueError, match="LONGBERT_PRECISION must be one of auto, fp32, bf16, fp16"):
        devices.precision_dtype(cpu)
    with pytest.raises(ValueError, match="LONGBERT_PRECISION"):  # once, before any document
        classifier.predict(["A short text."])
    monkeypatch.delenv("LONGBERT_PRECISION")
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert devices.precision_dtype(cpu) == torch.bfloat16
    assert devices.precision_dtype(cpu, "auto", training=True) is None  # training stays in float32
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert devices.precision_dtype(cpu) is None


def test_bad_documents_do_not_sink_the_batch(classifier: LongBertClassifier) -> None:
    results = classifier.predict(["A fine sentence about football.", "", "   \n\t ", long_text(5)])
    assert [type(r) for r in results] == [Prediction, PredictionError, PredictionError, Prediction]
    assert "empty" in results[1].message


def test_batched_equals_one_by_one(classifier: LongBertClassifier) -> None:
    texts = [long_text(k, seed=k) for k in (3, 40, 9, 1)]
    together = classifier.predict(texts, batch_size=4)
    alone = [classifier.predict([t])[0] for t in texts]
    for a, b in zip(together, alone, strict=True):
        assert a.label == b.label
        for label in a.probabilities:
            assert a.probabilities[label] == pytest.approx(b.probabilities[label], abs=1e-4)


def test_full_attention_on_request(classifier: LongBertClassifier) -> None:
    (prediction,) = classifier.predict([long_text(8)], attention="full")
    full = prediction.full_attention
    assert full is not None
    layers, heads, n, m = full.weights.shape
    assert (layers, heads) == (6, 12) and n == m == prediction.used_tokens + 2
    assert full.weights.dtype == np.float16
    np.testing.assert_allclose(full.weights.astype(np.float32).sum(-1), 1.0, atol=2e-2)
    assert full.tokens[0] == "[CLS]" and full.tokens[-1] == "[SEP]"


def test_checkpoint_round_trip(classifier: LongBertClassifier, tmp_path: Path) -> None:
    folder = classifier.save_pretrained(tmp_path / "m", metrics={"accuracy": 0.5})
    manifest = json.loads((folder / "longbert.json").read_text())
    assert manifest["strategy"]["name"] == "truncate" and manifest["metadata"]["metrics"]["accuracy"] == 0.5
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt"))  # never pickles
    loaded = load_classifier(folder)
    text = long_text(60)
    (a,), (b,) = classifier.predict([text]), loaded.predict([text])
    assert a.probabilities == pytest.approx(b.probabilities, abs=1e-6)
    assert loaded.labels == classifier.labels and loaded.strategy.config() == classifier.strategy.config()


def test_bad_checkpoints_give_clear_errors(classifier: LongBertClassifier, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="No checkpoint"):
        load_classifier(tmp_path / "nothing-here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a LongBERT checkpoint"):
        load_classifier(tmp_path / "empty")
    folder = classifier.save_pretrained(tmp_path / "broken")
    (folder / "head" / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_classifier(folder)


def test_unknown_encoders_give_clear_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderNotFoundError, match="does not exist"):
        LongBertClassifier.from_encoder(str(tmp_path / "missing"), labels=["a", "b"])
    with pytest.raises(EncoderNotFoundError, match="hub"):
        LongBertClassifier.from_encoder("no-such-org/no-such-model", labels=["a", "b"])


def test_any_hidden_size(tiny_encoder: Path) -> None:
    clf = LongBertClassifier.from_encoder(tiny_encoder, labels=["x", "y"], strategy="chunk")
    assert clf.head.hidden_size == 48
    for strategy in ("truncate", "chunk", "sparse"):
        (prediction,) = clf.predict([long_text(80)], strategy=strategy)
        assert isinstance(prediction, Prediction)


def test_multi_label(tiny_encoder: Path) -> None:
    clf = LongBertClassifier.from_encoder(tiny_encoder, labels=["a", "b", "c"], multi_label=True)
    (prediction,) = clf.predict([long_text(5)], threshold=0.0)
    assert prediction.labels == ["a", "b", "c"]  # every sigmoid ≥ 0
    assert all(0.0 < p < 1.0 for p in prediction.probabilities.values())


def test_training_step_reduces_loss(tiny_encoder: Path) -> None:
    """forward() is differentiable end to end in every mode (the trainer relies on it)."""
    texts = [" ".join(TOPIC_SENTENCES[:3] * 25), " ".join(TOPIC_SENTENCES[3:] * 25)]  # ~900 tokens each
    for strategy in ("truncate", "chunk", "sparse"):
        torch.manual_seed(0)
        clf = LongBertClassifier.from_encoder(tiny_encoder, labels=["x", "y"], strategy=strategy)
        clf.eval()  # dropout off: the check is deterministic; gradients still flow
        batch = clf.collate(clf.prepare(texts), labels=torch.tensor([0, 1]))
        optimizer = torch.optim.AdamW(clf.parameters(), lr=1e-3)
        losses = []
        for _ in range(5):
            loss = torch.nn.functional.cross_entropy(clf(batch).logits, batch.labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert losses[-1] < losses[0], (strategy, losses)
        assert clf.encoder.embeddings.word_embeddings.weight.grad is not None


def test_zero_shot_labels_topics() -> None:
    zs = ZeroShotClassifier(
        {"economy": "economy, inflation, interest rates, markets", "sport": "sport, football, match, team"}
    )
    economy = " ".join(TOPIC_SENTENCES[:3] * 30)
    sport = " ".join(TOPIC_SENTENCES[3:] * 30)
    a, b = zs.predict([economy, sport])
    assert (a.label, b.label) == ("economy", "sport")
    assert a.zero_shot and b.zero_shot
    assert a.attention is not None and a.attention.token_scores.shape == (a.total_tokens,)


def test_sparse_cut_at_max_tokens(tiny_encoder: Path) -> None:
    """A document longer than the sparse budget is cut at max_tokens, with the table just long enough."""
    clf = LongBertClassifier.from_encoder(
        tiny_encoder, labels=["x", "y"], strategy={"name": "sparse", "params": {"max_tokens": 1000}}
    )
    (prediction,) = clf.predict([long_text(120)])
    assert isinstance(prediction, Prediction), prediction
    assert prediction.used_tokens == 1000 < prediction.total_tokens
    assert len(prediction.spans) == 1 and prediction.spans[0][0] == 0
