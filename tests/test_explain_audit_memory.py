"""Exact occlusion of a long chunked document holds bounded memory, and running out of memory
is a clear error.

Occlusion makes one perturbed copy per sentence, each a full set of its document's window
vectors for pooling. Stacking them all at once ([1 + sentences, windows, hidden]) took 10 GiB
for a 150k-token document at BERT-base size (71 GiB at 400k); now each pooling pass is built
from the base's vectors and only its copies' changed rows, within a byte budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder, text_of
from helpers.store_factories import make_document

from longbert import LongBertClassifier
from longbert.errors import LongBertError
from longbert.explain import ExplanationMemoryError, explain, model_io, read_sentences, remove_positions
from longbert.explain.model_io import POOL_BYTES, docs_per_pool_within
from longbert.ui import explanations as why

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CHUNK = {"name": "chunk", "params": {"window": 32, "stride": 16}}
HIDDEN = 32


@pytest.fixture(scope="module")
def chunk_model(tmp_path_factory: pytest.TempPathFactory) -> LongBertClassifier:
    folder = save_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder", hidden=HIDDEN, heads=2)
    model = LongBertClassifier.from_encoder(folder, labels=["a", "b"], strategy=CHUNK, device="cpu")
    torch.manual_seed(2)
    with torch.no_grad():
        for parameter in model.head.parameters():
            parameter.normal_(0, 1.0)
    return model.eval()


def test_exact_chunk_occlusion_pools_within_its_byte_budget(
    chunk_model: LongBertClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = text_of(160)
    encoded = model_io.read(chunk_model, text, model_io.resolve_strategy(chunk_model, CHUNK))
    windows, sentences = len(encoded.windows), len(read_sentences(encoded))
    assert windows > 100 and sentences == 160  # a long document, exact occlusion (one copy each)
    unbounded = explain(chunk_model, text, method="occlusion", top_sentences=0)

    docs_per_pass = 10
    budget = docs_per_pass * windows * HIDDEN * 4
    monkeypatch.setattr(model_io, "POOL_BYTES", budget)
    pooled: list[tuple[int, ...]] = []
    classify = model_io._classify

    def spy(classifier: Any, template: Any, vectors: torch.Tensor, *args: Any) -> torch.Tensor:
        pooled.append(tuple(vectors.shape))
        return classify(classifier, template, vectors, *args)

    monkeypatch.setattr(model_io, "_classify", spy)
    bounded = explain(chunk_model, text, method="occlusion", top_sentences=0)
    # Every pass holds at most 10 documents' window vectors: never all 161 at once.
    assert max(rows for rows, _ in pooled) * HIDDEN * 4 <= budget
    assert sum(rows for rows, _ in pooled) >= (sentences + 1) * windows  # every copy was pooled
    assert bounded.probability == pytest.approx(unbounded.probability, abs=1e-6)
    assert [s.score for s in bounded.sentences] == pytest.approx(
        [s.score for s in unbounded.sentences], abs=1e-6
    )


def test_the_default_budget_holds_at_bert_base_size() -> None:
    """150k tokens under the default chunk strategy: 585 windows of 768 floats per copy."""
    docs = docs_per_pool_within(585, 768, 256, POOL_BYTES)
    assert 1 <= docs < 256 and docs * 585 * 768 * 4 <= POOL_BYTES <= 2**27
    assert docs_per_pool_within(100_000, 768, 256, POOL_BYTES) == 1  # at least one, whatever the size


def test_a_removed_sentence_leaves_the_other_windows_shared(chunk_model: LongBertClassifier) -> None:
    encoded = model_io.read(chunk_model, text_of(40), model_io.resolve_strategy(chunk_model, CHUNK))
    positions = read_sentences(encoded).positions[20]
    removed = remove_positions(encoded, positions)
    touched = [w for w, (a, b) in enumerate(zip(encoded.windows, removed.windows, strict=True)) if a is not b]
    assert 1 <= len(touched) <= 4 < len(encoded.windows)  # copies of the windows it was in only
    for w in touched:
        assert not np.isin(removed.windows[w], positions).any()
        assert len(removed.windows[w]) < len(encoded.windows[w])


@pytest.mark.parametrize("error", [MemoryError, torch.OutOfMemoryError])
def test_running_out_of_memory_is_a_clear_error(
    chunk_model: LongBertClassifier, monkeypatch: pytest.MonkeyPatch, error: type[Exception], tmp_path: Path
) -> None:
    def out_of_memory(*args: Any, **kwargs: Any) -> None:
        raise error("could not allocate 10737418240 bytes")

    monkeypatch.setattr(model_io, "variant_probabilities", out_of_memory)
    with pytest.raises(ExplanationMemoryError, match="ran out of memory on this document: try attention"):
        explain(chunk_model, text_of(20), method="occlusion")
    assert issubclass(ExplanationMemoryError, LongBertError)
    document = make_document(1)
    (prediction,) = chunk_model.predict([document])
    with pytest.raises(why.ExplanationFailed, match="ran out of memory"):
        why.explain_prediction(chunk_model, prediction, document, "occlusion")
