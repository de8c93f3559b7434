"""Transformer pooling: a document-level layer over chunk windows that knows where each sits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder, text_of

from longbert import Document, LongBertClassifier, load_classifier
from longbert.modeling.modules import ChunkPooling
from longbert.modeling.window_context import WindowContext

CHUNK = {"name": "chunk", "params": {"window": 24, "stride": 16}}
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")



def test_untrained_transformer_pooling_is_mean_pooling() -> None:
    torch.manual_seed(0)
    vectors = torch.randn(9, 16)
    window_doc = torch.tensor([0, 0, 0, 1, 2, 2, 2, 2, 2])
    starts = torch.tensor([0.0, 0.3, 0.6, 0.0, 0.0, 0.2, 0.4, 0.6, 0.8])
    pooling = ChunkPooling(16, "transformer").eval()
    pooled, weights = pooling(vectors, window_doc, 3, window_start=starts)
    mean, _ = pooling(vectors, window_doc, 3, method="mean")
    assert torch.allclose(pooled, mean, atol=1e-6)
    assert torch.allclose(weights, torch.tensor([1 / 3] * 3 + [1.0] + [0.2] * 5))


def marker_documents(count: int, rng: np.random.Generator) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Documents of 3-6 random window vectors, one carrying a marker; label: is the marker in
    the document's first half? Only a pooling that knows where windows sit can tell."""
    marker = torch.zeros(16)
    marker[0] = 3.0
    docs, labels = [], []
    for _ in range(count):
        n = int(rng.integers(3, 7))
        vectors = torch.from_numpy(rng.normal(0, 1, (n, 16)).astype(np.float32))
        at = int(rng.integers(n))
        vectors[at] += marker
        docs.append(vectors)
        labels.append(int(at / n < 0.5))
    return docs, torch.tensor(labels)


def accuracy_after_training(method: str) -> float:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    pooling, head = ChunkPooling(16, method), torch.nn.Linear(16, 2)
    optimizer = torch.optim.Adam([*pooling.parameters(), *head.parameters()], lr=1e-2)

    def batch(docs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        window_doc = torch.cat([torch.full((len(d),), i) for i, d in enumerate(docs)])
        starts = torch.cat([torch.arange(len(d)) / len(d) for d in docs])
        return torch.cat(docs), window_doc, starts

    for _ in range(150):
        docs, labels = marker_documents(32, rng)
        vectors, window_doc, starts = batch(docs)
        pooled, _ = pooling(vectors, window_doc, len(docs), window_start=starts)
        loss = torch.nn.functional.cross_entropy(head(pooled), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    pooling.eval()
    docs, labels = marker_documents(400, np.random.default_rng(1))
    with torch.no_grad():
        vectors, window_doc, starts = batch(docs)
        pooled, _ = pooling(vectors, window_doc, len(docs), window_start=starts)
    return float((head(pooled).argmax(-1) == labels).float().mean())


def test_transformer_pooling_learns_where_a_window_sits_and_attention_pooling_cannot() -> None:
    assert accuracy_after_training("transformer") > 0.85
    assert accuracy_after_training("attention") < 0.65


def test_window_starts_reach_the_model_and_survive_sampling_and_slicing(tmp_path: Path) -> None:
    encoder = save_tiny_encoder(tmp_path / "tiny-bert")
    clf = LongBertClassifier.from_encoder(encoder, labels=["x", "y"], strategy=CHUNK, pooling="transformer")
    (selection,) = clf.prepare([Document(text_of(12, 0), name="d")])
    inputs = clf.collate([selection])
    starts = inputs.window_start.tolist()
    assert len(starts) == len(selection.windows) > 3 and starts[0] == 0.0
    assert starts == sorted(starts) and starts[-1] < 1.0
    assert inputs.rows(1, 3).window_start.tolist() == starts[1:3]
    subset = type(selection)(selection.doc, selection.mode, [selection.windows[i] for i in (0, 2, 3)])
    assert clf.collate([subset]).window_start.tolist() == [starts[0], starts[2], starts[3]]


def test_a_transformer_pooled_model_saves_loads_and_predicts_the_same(tmp_path: Path) -> None:
    encoder = save_tiny_encoder(tmp_path / "tiny-bert")
    torch.manual_seed(3)
    clf = LongBertClassifier.from_encoder(encoder, labels=["x", "y"], strategy=CHUNK, pooling="transformer")
    with torch.no_grad():  # a trained-looking document layer, so a lost weight would show
        for parameter in clf.pooling.context.parameters():
            parameter.normal_(0.0, 0.2)
        clf.head.classifier.weight.normal_(0.0, 2.0)
    clf.eval()
    doc = Document(text_of(10, 1), name="d")
    (own,) = clf.predict([doc])
    (mean,) = clf.predict([doc], pooling="mean")
    assert own.extra["pooling"] == "transformer" and own.probabilities != pytest.approx(mean.probabilities)
    folder = clf.save_pretrained(tmp_path / "m")
    again = load_classifier(folder)
    assert again.pooling_method == "transformer" and isinstance(again.pooling.context, WindowContext)
    assert again.predict([doc])[0].probabilities == pytest.approx(own.probabilities, abs=1e-6)
    # A model trained with mean pooling has no document layer until asked for one: then it is
    # the identity, so transformer pooling gives that model's attention pooling (here: mean).
    plain = LongBertClassifier.from_encoder(encoder, labels=["x", "y"], strategy=CHUNK).eval()
    assert plain.pooling.context is None
    (as_mean,) = plain.predict([doc])
    (as_transformer,) = plain.predict([doc], pooling="transformer")
    assert as_transformer.probabilities == pytest.approx(as_mean.probabilities, abs=1e-6)
