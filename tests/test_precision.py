"""Inference precision: which dtype weights are held in per device, and bf16 weights vs fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder, text_of

from longbert import devices, load_classifier
from longbert.classifier import LongBertClassifier

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("native", "option", "expected"),
    [
        (True, "auto", torch.bfloat16),
        (False, "auto", torch.float32),
        (True, "fp32", torch.float32),
        (False, "bf16", torch.bfloat16),  # asked for: emulated, but what the user chose
    ],
)
def test_weights_dtype_on_the_cpu(
    monkeypatch: pytest.MonkeyPatch, native: bool, option: str, expected: torch.dtype
) -> None:
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: native)
    assert devices.weights_dtype(CPU, option) == expected


def test_weights_dtype_on_cuda_without_a_gpu_needs_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert devices.weights_dtype(cuda, "auto") == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert devices.weights_dtype(cuda, "auto") == torch.float16
    assert devices.weights_dtype(cuda, "fp32") == torch.float32


def test_weights_dtype_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    assert devices.weights_dtype(CPU) == torch.float32
    monkeypatch.setenv("LONGBERT_PRECISION", "fp16")
    with pytest.raises(devices.PrecisionError):
        devices.weights_dtype(CPU)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("precision")
    encoder = save_tiny_encoder(root / "encoder")
    torch.manual_seed(1)
    model = LongBertClassifier.from_encoder(encoder, labels=["a", "b", "c"], strategy="chunk", device="cpu")
    # A head that separates the documents, so labels are not decided by noise.
    with torch.no_grad():
        model.head.classifier.weight.mul_(50)
    return model.save_pretrained(root / "model")


DOCS = [text_of(n, offset) for n, offset in ((3, 0), (40, 1), (90, 2), (12, 3), (200, 0), (7, 2))]


def test_load_classifier_holds_bf16_weights_and_keeps_head_float32(tiny_checkpoint: Path) -> None:
    model = load_classifier(tiny_checkpoint, device="cpu", precision="bf16")
    assert model.weights_dtype == torch.bfloat16
    assert {p.dtype for p in model.encoder.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in model.head.parameters()} == {torch.float32}
    assert {p.dtype for p in model.pooling.parameters()} == {torch.float32}
    assert model.inference_dtype() == torch.bfloat16
    fp32 = load_classifier(tiny_checkpoint, device="cpu", precision="fp32")
    assert fp32.weights_dtype == torch.float32
    # The lower-level loader keeps weights as saved (ready to train) unless asked.
    assert LongBertClassifier.from_pretrained(tiny_checkpoint, device="cpu").weights_dtype == torch.float32


@pytest.mark.parametrize("strategy", ["truncate", "chunk", "key_sentences"])
def test_bf16_weights_agree_with_fp32(
    tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, strategy: str
) -> None:
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")  # the fp32 reference runs without autocast
    fp32 = load_classifier(tiny_checkpoint, device="cpu", precision="fp32")
    bf16 = load_classifier(tiny_checkpoint, device="cpu", precision="bf16")
    want = fp32.predict(DOCS, strategy=strategy)
    got = bf16.predict(DOCS, strategy=strategy)
    assert [p.label for p in got] == [p.label for p in want]
    for a, b in zip(got, want, strict=True):
        assert a.extra["precision"] == "bfloat16" and b.extra["precision"] == "float32"
        np.testing.assert_allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=0.03)
        # The [CLS] row is kept: float32 weights over the same tokens, close to fp32's.
        assert a.attention is not None and a.attention.token_scores.dtype == np.float32
        np.testing.assert_allclose(a.attention.token_scores, b.attention.token_scores, atol=0.02)


def test_labels_only_skips_sentence_splitting(tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """attention='none' with a token strategy never splits sentences; a summary does, once."""
    import longbert.tokenization as tokenization

    calls: list[int] = []
    real = tokenization.split_sentences
    monkeypatch.setattr(tokenization, "split_sentences", lambda text: calls.append(1) or real(text))
    model = load_classifier(tiny_checkpoint, device="cpu", precision="bf16")
    labels_only = model.predict(DOCS, attention="none")
    assert calls == [] and all(p.attention is None for p in labels_only)
    summaries = model.predict(DOCS, attention="summary")
    assert len(calls) == len(DOCS)
    assert [p.label for p in summaries] == [p.label for p in labels_only]
    for p in summaries:
        assert p.attention is not None
        assert p.attention.sentence_scores.sum() == pytest.approx(p.attention.token_scores.sum(), rel=1e-4)
