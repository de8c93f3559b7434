"""One precision policy for every inference pass: ``LONGBERT_PRECISION`` rules what the loaders'
``auto`` casts to, and explanations, re-scoring and calibration run an int8 or bf16 model as
``infer`` does (no autocast over weights prepared for inference)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder, text_of

from longbert import LongBertClassifier, load_classifier
from longbert.compression.int8 import quantize_int8
from longbert.devices import cpu_has_native_bf16
from longbert.errors import LongBertError
from longbert.explain import explain
from longbert.explain.methods import GRADIENT_METHODS
from longbert.explain.result import METHODS


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("precision")
    encoder = save_tiny_encoder(root / "tiny-bert")
    torch.manual_seed(0)
    classifier = LongBertClassifier.from_encoder(encoder, labels=["x", "y"], strategy="chunk", device="cpu")
    return classifier.save_pretrained(root / "model")


def test_longbert_precision_rules_what_auto_loads(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    exact = load_classifier(checkpoint, device="cpu", precision="auto")  # as the app and CLIs load
    assert exact.weights_dtype == torch.float32 and exact.autocast_dtype() is None
    (prediction,) = exact.predict([text_of(30)])
    assert prediction.extra["precision"] == "float32"
    monkeypatch.setenv("LONGBERT_PRECISION", "bogus")
    with pytest.raises(LongBertError, match="LONGBERT_PRECISION must be one of"):
        load_classifier(checkpoint, device="cpu", precision="auto")
    monkeypatch.delenv("LONGBERT_PRECISION")
    default = load_classifier(checkpoint, device="cpu", precision="auto")
    expected = torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    assert default.weights_dtype == expected


#: torch deprecates the quantized tensors its own dynamic int8 (longbert's int8 method) makes.
INT8_DEPRECATION = "ignore:torch.quantize_per_tensor:UserWarning"


@pytest.mark.filterwarnings(INT8_DEPRECATION)
@pytest.mark.parametrize("method", list(METHODS))
def test_an_int8_model_explains_as_it_predicts(
    checkpoint: Path, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LONGBERT_PRECISION", "bf16")  # autocast on: int8 layers must not see it
    classifier = load_classifier(checkpoint, device="cpu", precision="fp32")
    assert quantize_int8(classifier) and classifier.autocast_dtype() is None
    text = text_of(40)
    if method in GRADIENT_METHODS:  # no backward through int8 layers: refused, not silently wrong
        with pytest.raises(ValueError, match="int8 model's layers have none: use occlusion"):
            explain(classifier, text, method=method, n_steps=4)
        return
    (prediction,) = classifier.predict([text])
    explanation = explain(classifier, text, method=method)
    assert explanation.label == prediction.label
    assert explanation.sentences


@pytest.mark.filterwarnings(INT8_DEPRECATION)
def test_an_int8_model_scores_documents_for_review(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from longbert.active.embeddings import score_documents
    from longbert.document import Document

    monkeypatch.setenv("LONGBERT_PRECISION", "bf16")
    classifier = load_classifier(checkpoint, device="cpu", precision="fp32")
    quantize_int8(classifier)
    documents = [Document(text=text_of(20, offset=i), name=f"d{i}") for i in range(3)]
    scores = score_documents(classifier, documents)
    (first,) = classifier.predict([documents[0]])
    expected = [first.probabilities["x"], first.probabilities["y"]]
    assert scores.probabilities[0] == pytest.approx(expected, abs=1e-4)
