"""predict() under bad input and failures: single texts, bytes, surrogates, failing batches,
out of memory, sparse overrides and checkpoints, full attention, multi-label thresholds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder, text_of
from safetensors.torch import load_file

from longbert import Document, LongBertClassifier, Prediction, PredictionError, load_classifier

POISON = "zebra"  # a word of its own WordPiece id, absent from the topic sentences


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def classifier(encoder: Path, monkeypatch: pytest.MonkeyPatch) -> LongBertClassifier:
    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")  # exact comparisons between runs
    monkeypatch.setenv("LONGBERT_DEVICE", "cpu")
    torch.manual_seed(0)
    return LongBertClassifier.from_encoder(encoder, labels=["x", "y"], strategy="truncate").eval()


def fail_on_poison(
    classifier: LongBertClassifier, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> list[int]:
    """Make the encoder raise ``error`` for any pass containing the poison word; returns pass sizes."""
    (poison_id,) = classifier.tokenizer.convert_tokens_to_ids([POISON])
    real = classifier.run_encoder
    passes: list[int] = []

    def run_encoder(batch: Any, **kwargs: Any) -> Any:
        passes.append(int(batch.input_ids.shape[0]))
        if bool((batch.input_ids == poison_id).any()):
            raise error
        return real(batch, **kwargs)

    monkeypatch.setattr(classifier, "run_encoder", run_encoder)
    return passes


@pytest.mark.parametrize("single", ["one text", b"one text", Document("one text", name="d")])
def test_a_single_item_is_a_clear_type_error(classifier: LongBertClassifier, single: object) -> None:
    with pytest.raises(TypeError, match="wrap a single text in a list"):
        classifier.predict(single)  # type: ignore[arg-type]


def test_bytes_are_decoded_and_surrogates_are_per_document_errors(classifier: LongBertClassifier) -> None:
    text = "Le café du marché a ouvert tôt ce matin."
    results = classifier.predict(
        [text.encode("cp1252"), "Fine text \ud800 broken here.", b"\x00\x01\x02\x03" * 64, text]
    )
    assert [type(r) for r in results] == [Prediction, PredictionError, PredictionError, Prediction]
    decoded, surrogate, binary, plain = results
    assert decoded.document_sha256 == Document(text).sha256  # cp1252 detected, same text as the str
    assert decoded.probabilities == pytest.approx(plain.probabilities, abs=1e-6)
    assert "not valid Unicode (lone surrogate U+D800 at character 10)" in surrogate.message
    assert surrogate.document_name == "document 2"
    assert "could not be decoded" in binary.message and "binary" in binary.message


def test_a_failing_document_is_retried_alone_and_the_rest_survive(
    classifier: LongBertClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = [Document(text_of(3, k), name=f"d{k}.txt") for k in range(3)]
    poisoned = Document(text_of(3, 1) + f" A {POISON} crossed.", name="poison.txt")
    expected = classifier.predict(docs)
    passes = fail_on_poison(classifier, monkeypatch, RuntimeError("index out of range in self"))
    results = classifier.predict([docs[0], poisoned, docs[1], docs[2]], batch_size=8)
    assert passes[0] == 4 and sorted(passes[1:]) == [1, 1, 1, 1]  # one batch, then one by one
    assert [type(r) for r in results] == [Prediction, PredictionError, Prediction, Prediction]
    for got, want in zip([results[0], results[2], results[3]], expected, strict=True):
        assert got.document_name == want.document_name
        assert got.probabilities == pytest.approx(want.probabilities, abs=1e-5)
    assert results[1].message == "model failed on 'poison.txt': RuntimeError: index out of range in self"
    assert results[1].document_sha256 == poisoned.sha256


def test_out_of_memory_on_one_document_becomes_its_error(
    classifier: LongBertClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_on_poison(classifier, monkeypatch, torch.cuda.OutOfMemoryError("CUDA out of memory."))
    poisoned = Document(text_of(6) + f" {POISON}", name="big.txt")
    progress: list[tuple[int, int]] = []
    results = classifier.predict(
        [text_of(2), poisoned, text_of(4)], progress=lambda done, total: progress.append((done, total))
    )
    assert [type(r) for r in results] == [Prediction, PredictionError, Prediction]
    (ok,) = classifier.predict([poisoned.text.replace(POISON, "horse")])
    assert results[1].message == (
        f"'big.txt': out of memory at {ok.used_tokens} tokens; use a smaller max_tokens or the chunk strategy"
    )
    assert progress[-1] == (3, 3)


def test_an_unexpected_preprocessing_error_stays_with_its_document(
    classifier: LongBertClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    import longbert.inputs as inputs

    real = inputs.tokenize_document

    def tokenize(document: Document, tokenizer: Any) -> Any:
        if POISON in document.text:
            raise KeyError("offsets")
        return real(document, tokenizer)

    monkeypatch.setattr(inputs, "tokenize_document", tokenize)
    results = classifier.predict([text_of(2), Document(f"A {POISON}.", name="odd.txt")])
    assert isinstance(results[0], Prediction)
    assert results[1].message == "'odd.txt' could not be prepared (KeyError: 'offsets')."


def test_a_sparse_override_does_not_leak_into_the_checkpoint(
    classifier: LongBertClassifier, tmp_path: Path
) -> None:
    text = text_of(120)
    sparse = {"name": "sparse", "params": {"max_tokens": 1500}}
    (before,) = classifier.predict([text], strategy=sparse)
    assert classifier.encoder.config.max_position_embeddings == 1502  # grown in memory
    folder = classifier.save_pretrained(tmp_path / "m")
    config = json.loads((folder / "encoder" / "config.json").read_text())
    table = load_file(str(folder / "encoder" / "model.safetensors"))["embeddings.position_embeddings.weight"]
    assert config["max_position_embeddings"] == table.shape[0] == 512
    loaded = load_classifier(folder, device="cpu")
    (again,) = loaded.predict([text], strategy=sparse)  # the rows are rebuilt exactly
    assert again.probabilities == pytest.approx(before.probabilities, abs=1e-6)
    (own_a,), (own_b,) = classifier.predict([text]), loaded.predict([text])
    assert own_a.probabilities == pytest.approx(own_b.probabilities, abs=1e-6)


def test_trained_extra_positions_are_kept(encoder: Path, tmp_path: Path) -> None:
    clf = LongBertClassifier.from_encoder(
        encoder, labels=["x", "y"], strategy={"name": "sparse", "params": {"max_tokens": 1000}}, device="cpu"
    )
    clf.predict([text_of(3)], strategy={"name": "sparse", "params": {"max_tokens": 1200}})
    folder = clf.save_pretrained(tmp_path / "own")  # keeps what its own strategy needs
    assert json.loads((folder / "encoder" / "config.json").read_text())["max_position_embeddings"] == 1002
    with torch.no_grad():  # as an optimizer step would: these rows are weights now
        clf.encoder.embeddings.position_embeddings.weight[-1] += 1.0
    folder = clf.save_pretrained(tmp_path / "trained")
    assert json.loads((folder / "encoder" / "config.json").read_text())["max_position_embeddings"] == 1202


def test_read_with_changes_the_default_reading_and_grows_the_table(encoder: Path) -> None:
    from longbert.strategies import get_strategy

    clf = LongBertClassifier.from_encoder(
        encoder, labels=["x", "y"], strategy={"name": "sparse", "params": {"max_tokens": 600}}, device="cpu"
    )
    longer = get_strategy({"name": "sparse", "params": {"max_tokens": 900}})
    assert clf.encoder.embeddings.position_embeddings.num_embeddings == 602
    clf.read_with(longer)
    assert clf.strategy is longer
    assert clf.encoder.embeddings.position_embeddings.num_embeddings == 902
    text = text_of(90)
    assert len(clf.tokenizer(text)["input_ids"]) > 602  # the grown rows are read
    (own,) = clf.predict([text])
    (told,) = clf.predict([text], strategy=longer)  # the same reading named per call
    assert own.probabilities == pytest.approx(told.probabilities, abs=1e-6)


def test_full_attention_needs_a_window_strategy(classifier: LongBertClassifier) -> None:
    with pytest.raises(ValueError, match="sparse strategy does not compute"):
        classifier.predict([text_of(3)], strategy="sparse", attention="full")
    (chunk,) = classifier.predict([text_of(3)], strategy="chunk", attention="full")
    assert chunk.full_attention is not None


def test_multi_label_label_is_the_argmax_even_below_threshold(encoder: Path) -> None:
    clf = LongBertClassifier.from_encoder(encoder, labels=["a", "b", "c"], multi_label=True, device="cpu")
    (none,) = clf.predict([text_of(3)], threshold=1.0)  # a sigmoid never reaches 1
    assert none.labels == [] and none.extra["below_threshold"] is True
    assert none.label == max(none.probabilities, key=none.probabilities.get)
    (every,) = clf.predict([text_of(3)], threshold=0.0)
    assert every.labels == ["a", "b", "c"] and every.extra["below_threshold"] is False
