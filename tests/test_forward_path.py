"""The one forward path: batched equals one by one, pooling with the model, format-1 checkpoints.

Float32 throughout, so predictions are compared exactly (to float noise). Comparisons between
documents use the packaged encoder: a tiny random one gives every document nearly the same
[CLS] vector, and a mix-up of their windows could hide in that sameness.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder, text_of

from longbert import Document, LongBertClassifier, Prediction, load_classifier
from longbert.checkpoints import read_manifest
from longbert.inputs import ModelInputs
from longbert.modeling.modules import ChunkPooling

CHUNK = {"name": "chunk", "params": {"window": 24, "stride": 16}}
SPARSE = {"name": "sparse", "params": {"max_tokens": 600, "global_sentences": True}}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"))


#: The packaged encoder (``from_encoder(None)``).
PACKAGED = None


@pytest.fixture(autouse=True)
def exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")


def documents() -> list[Document]:
    """Five documents of different lengths and topics: 1 to about 40 chunk windows each."""
    sizes = [(2, 0), (40, 1), (7, 2), (1, 3), (19, 1)]
    return [Document(text_of(n, offset), name=f"d{i}") for i, (n, offset) in enumerate(sizes)]


def classifier_for(encoder: Path | None, strategy: dict, **settings: object) -> LongBertClassifier:
    torch.manual_seed(1)
    clf = LongBertClassifier.from_encoder(encoder, labels=["x", "y", "z"], strategy=strategy, **settings)
    with torch.no_grad():  # a head that separates documents, so mixing them up shows
        clf.head.classifier.weight.normal_(0.0, 2.0)
        clf.pooling.scorer.weight.normal_(0.0, 1.0)
    return clf.eval()


def assert_same(a: Prediction, b: Prediction) -> None:
    assert a.document_name == b.document_name
    assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)
    assert a.used_tokens == b.used_tokens and a.spans == b.spans
    windows_a = [s for s in a.segment_scores if s.kind == "window"]
    windows_b = [s for s in b.segment_scores if s.kind == "window"]
    assert [s.span for s in windows_a] == [s.span for s in windows_b]
    np.testing.assert_allclose([s.weight for s in windows_a], [s.weight for s in windows_b], atol=1e-5)
    np.testing.assert_allclose([s.score for s in windows_a], [s.score for s in windows_b], atol=1e-5)
    assert a.attention is not None and b.attention is not None
    np.testing.assert_allclose(a.attention.token_scores, b.attention.token_scores, atol=1e-5)


@pytest.mark.parametrize(
    ("strategy", "settings", "batch_size"),
    [
        (CHUNK, {"pooling": "attention"}, 3),  # a document's windows split over passes
        (CHUNK, {"pooling": "attention"}, 64),  # every window of every document in one pass
        (CHUNK, {"pooling": "max"}, 3),
        (SPARSE, {"attention_window": 16}, 8),  # several long documents in one pass
    ],
    ids=["chunk-attention-3", "chunk-attention-64", "chunk-max-3", "sparse"],
)
def test_batched_predictions_equal_one_by_one(strategy: dict, settings: dict, batch_size: int) -> None:
    """Several documents per pass (and windows of one document split over passes) predict what
    each document alone does: a bug mixing windows between documents fails here."""
    clf = classifier_for(PACKAGED, strategy, **settings)
    docs = documents()
    together = clf.predict(docs, batch_size=batch_size)
    alone = [clf.predict([d], batch_size=1)[0] for d in docs]
    for a, b in zip(together, alone, strict=True):
        assert isinstance(a, Prediction) and isinstance(b, Prediction)
        assert_same(a, b)
    spread = max(abs(a.probabilities["x"] - b.probabilities["x"]) for a in alone for b in alone)
    assert spread > 100 * 1e-5  # documents differ far beyond the tolerance: a mix-up could not hide
    if strategy is CHUNK:
        windows = [len([s for s in p.segment_scores if s.kind == "window"]) for p in alone]
        assert max(windows) > 3 and sum(windows) < 64  # both cases above really happen
        assert {p.extra["pooling"] for p in together} == {settings["pooling"]}
    else:
        assert {p.extra["attention_window"] for p in together} == {16}


def test_a_mix_up_of_windows_between_documents_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above is sensitive: shifting which document each window belongs to (the
    bug it guards against) changes the batched predictions."""
    clf = classifier_for(PACKAGED, CHUNK, pooling="mean")
    docs = documents()
    alone = [clf.predict([d])[0] for d in docs]
    real = clf.collate

    def mixed_up(selections: list, labels: torch.Tensor | None = None) -> ModelInputs:
        inputs = real(selections, labels)
        if inputs.num_docs > 1:  # two neighbouring documents swap a window (each keeps its count)
            swapped = inputs.window_doc.clone()
            last = int(torch.nonzero(torch.diff(swapped))[0])
            swapped[[last, last + 1]] = swapped[[last + 1, last]]
            return ModelInputs(**{**inputs.__dict__, "window_doc": swapped})
        return inputs

    monkeypatch.setattr(clf, "collate", mixed_up)
    together = clf.predict(docs, batch_size=64)
    differences = [
        abs(a.probabilities["x"] - b.probabilities["x"]) for a, b in zip(together, alone, strict=True)
    ]
    assert max(differences) > 100 * 1e-5


def test_rows_per_pass_and_input_embeddings_give_the_same_logits(encoder: Path) -> None:
    clf = classifier_for(encoder, CHUNK, pooling="attention")
    inputs = clf.collate(clf.prepare([d.text for d in documents()]))
    whole = clf(inputs).logits
    sliced = clf(inputs, rows_per_pass=5).logits
    torch.testing.assert_close(sliced, whole, atol=1e-5, rtol=1e-5)
    # Gradient attributions run the model from the word embeddings: same logits, and gradients.
    embeddings = clf.encoder.embeddings.word_embeddings(inputs.input_ids).detach().requires_grad_(True)
    from_embeddings = clf(inputs.with_embeddings(embeddings)).logits
    torch.testing.assert_close(from_embeddings, whole, atol=1e-5, rtol=1e-5)
    from_embeddings[:, 0].sum().backward()
    assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="inputs_embeds"):
        inputs.with_embeddings(embeddings[:, :3])


def test_model_inputs_move_and_slice_every_field() -> None:
    ids = torch.arange(12).reshape(4, 3)
    inputs = ModelInputs(
        mode="chunks", input_ids=ids, attention_mask=torch.ones_like(ids),
        window_doc=torch.tensor([0, 0, 1, 1]), num_docs=2, labels=torch.tensor([1, 0]),
    )
    part = inputs.rows(1, 3)
    assert part.input_ids.tolist() == [[3, 4, 5], [6, 7, 8]] and part.window_doc.tolist() == [0, 1]
    assert part.labels is not None and part.labels.tolist() == [1, 0]  # per document: kept whole
    assert part.num_docs == 2 and part.global_attention_mask is None
    moved = inputs.to("cpu")
    assert moved.labels is not None and moved.mode == "chunks"


# --- chunk pooling ----------------------------------------------------------------------------


def test_chunk_pooling_mean_max_and_attention() -> None:
    vectors = torch.tensor(
        [[1.0, 0.0, 4.0], [3.0, 2.0, 0.0], [5.0, 5.0, 5.0], [-1.0, 6.0, 2.0], [0.0, 0.0, 0.0]]
    )
    window_doc = torch.tensor([0, 1, 2, 0, 1])  # windows of a document need not be adjacent
    pooling = ChunkPooling(3)
    assert pooling.method == "mean"
    mean, weights = pooling(vectors, window_doc, 3)
    torch.testing.assert_close(mean, torch.tensor([[0.0, 3.0, 3.0], [1.5, 1.0, 0.0], [5.0, 5.0, 5.0]]))
    torch.testing.assert_close(weights, torch.tensor([0.5, 0.5, 1.0, 0.5, 0.5]))
    biggest, weights = pooling(vectors, window_doc, 3, "max")
    torch.testing.assert_close(biggest, torch.tensor([[1.0, 6.0, 4.0], [3.0, 2.0, 0.0], [5.0, 5.0, 5.0]]))
    # Document 0: window 0 wins dimensions 0 and 2, window 3 dimension 1.
    torch.testing.assert_close(weights, torch.tensor([2 / 3, 1.0, 1.0, 1 / 3, 0.0]))
    untrained, weights = pooling(vectors, window_doc, 3, "attention")
    torch.testing.assert_close(untrained, mean)  # a zero scorer is mean pooling
    with torch.no_grad():
        pooling.scorer.weight.copy_(torch.tensor([[1.0, 0.0, 0.0]]))
    attended, weights = pooling(vectors, window_doc, 3, "attention")
    share = torch.softmax(torch.tensor([1.0, -1.0]), dim=0)
    torch.testing.assert_close(attended[0], share[0] * vectors[0] + share[1] * vectors[3])
    torch.testing.assert_close(weights[[0, 3]], share)
    with pytest.raises(ValueError, match="Unknown pooling 'sum'"):
        pooling(vectors, window_doc, 3, "sum")


def test_chunk_pooling_saves_its_method(tmp_path: Path) -> None:
    pooling = ChunkPooling(3, "max")
    pooling.save(tmp_path / "pooling")
    assert json.loads((tmp_path / "pooling" / "config.json").read_text())["method"] == "max"
    assert ChunkPooling.load(tmp_path / "pooling").method == "max"
    (tmp_path / "pooling" / "config.json").write_text(json.dumps({"hidden_size": 3}))  # format 1
    assert ChunkPooling.load(tmp_path / "pooling").method == "mean"


def test_max_pooling_end_to_end_and_per_call_overrides(encoder: Path, tmp_path: Path) -> None:
    clf = classifier_for(encoder, CHUNK, pooling="max")
    doc = documents()[1]
    (own,) = clf.predict([doc])
    assert own.extra["pooling"] == "max"
    assert own.strategy_params == {"window": 24, "stride": 16, "max_chunks": None, "head_tail": False}
    inputs = clf.collate(clf.prepare([doc]))
    with torch.inference_mode():
        vectors = clf.run_encoder(inputs).vectors
        expected = clf.probabilities(clf.head(vectors.max(dim=0).values[None]))[0]
    assert [own.probabilities[k] for k in clf.labels] == pytest.approx(expected.tolist(), abs=1e-5)
    (mean,) = clf.predict([doc], pooling="mean")  # an override for one call...
    assert mean.extra["pooling"] == "mean" and mean.probabilities != pytest.approx(own.probabilities)
    assert clf.pooling_method == "max"  # ...leaves the model as it was
    with pytest.raises(ValueError, match="pooling must be one of mean, max, attention"):
        clf.predict([doc], pooling="sum")  # a bad argument raises up front, for every document
    with pytest.raises(ValueError, match="attention_window must be a positive integer"):
        clf.predict([doc], attention_window=0)
    old_style = {"name": "chunk", "params": {**CHUNK["params"], "pooling": "mean"}}
    (legacy,) = clf.predict([doc], strategy=old_style)
    assert legacy.probabilities == pytest.approx(mean.probabilities, abs=1e-6)
    folder = clf.save_pretrained(tmp_path / "m")
    assert json.loads((folder / "pooling" / "config.json").read_text())["method"] == "max"
    assert "pooling" not in read_manifest(folder).strategy["params"]
    (again,) = load_classifier(folder).predict([doc])
    assert again.probabilities == pytest.approx(own.probabilities, abs=1e-6)


# --- checkpoints in the format-1 layout ---------------------------------------------------------


def to_format_1(folder: Path, strategy_params: dict) -> None:
    """Rewrite a checkpoint as LongBERT wrote it before: no kind, model settings in the strategy."""
    manifest = json.loads((folder / "longbert.json").read_text())
    del manifest["kind"]
    manifest["format"] = 1
    manifest["strategy"]["params"].update(strategy_params)
    (folder / "longbert.json").write_text(json.dumps(manifest))
    pooling = json.loads((folder / "pooling" / "config.json").read_text())
    del pooling["method"]
    (folder / "pooling" / "config.json").write_text(json.dumps(pooling))
    encoder = json.loads((folder / "encoder" / "config.json").read_text())
    encoder["attention_window"] = 256  # format 1 always saved the default here
    (folder / "encoder" / "config.json").write_text(json.dumps(encoder))


@pytest.mark.parametrize(
    ("strategy", "legacy"),
    [(CHUNK, {"pooling": "attention"}), (SPARSE, {"attention_window": 16})],
    ids=["chunk", "sparse"],
)
def test_format_1_checkpoints_load_and_predict_as_before(
    encoder: Path, tmp_path: Path, strategy: dict, legacy: dict
) -> None:
    clf = classifier_for(encoder, strategy, **legacy)
    docs = documents()[:3]
    expected = clf.predict(docs)
    folder = clf.save_pretrained(tmp_path / "m")
    to_format_1(folder, legacy)
    loaded = load_classifier(folder)
    assert loaded.strategy.config() == clf.strategy.config()  # the settings left the strategy...
    assert (loaded.pooling_method, loaded.attention_window) == (clf.pooling_method, clf.attention_window)
    for a, b in zip(loaded.predict(docs), expected, strict=True):
        assert_same(a, b)  # ...and predictions are those of the model they were trained with
    resaved = read_manifest(loaded.save_pretrained(tmp_path / "again"))
    assert resaved.format == 2 and resaved.strategy == clf.strategy.config()
