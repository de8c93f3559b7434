"""Attention explanations are of the label asked about, like every other method's.

The [CLS] attention does not change with the label, but the page lists stored explanations by
the label picked: an attention result saved under the predicted label instead of the one asked
for was never shown (the page looped between "saved" and "not explained yet") and replaced the
predicted label's own attention entry.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers.classifier_factories import save_tiny_encoder

from longbert import LongBertClassifier, load_classifier
from longbert.document import as_document
from longbert.explain import explain
from longbert.store import Store
from longbert.ui import explanations as why
from longbert.ui.service import classify_and_log
from longbert.ui.service import load_model as load_uncached

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXT = (
    "The central bank raised interest rates again to fight inflation. "
    "Fans celebrated in the streets long after the final whistle. "
    "Bond yields climbed as investors sold government debt."
)


@pytest.fixture(scope="module")
def three_labels(tmp_path_factory: pytest.TempPathFactory) -> LongBertClassifier:
    folder = save_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder", hidden=32, heads=2)
    return LongBertClassifier.from_encoder(
        folder, labels=["a", "b", "c"], strategy="truncate", device="cpu"
    ).eval()


def test_attention_explains_the_label_asked_for(three_labels: LongBertClassifier) -> None:
    (prediction,) = three_labels.predict([TEXT])
    other = next(label for label in prediction.probabilities if label != prediction.label)
    asked = explain(three_labels, TEXT, method="attention", label=other)
    own = explain(three_labels, TEXT, method="attention")
    assert asked.label == other and own.label == prediction.label
    assert asked.probability == pytest.approx(prediction.probabilities[other], abs=1e-6)
    assert own.probability == pytest.approx(prediction.probabilities[prediction.label], abs=1e-6)
    # The scores themselves are the same attention whichever label is asked about.
    assert [s.score for s in asked.sentences] == [s.score for s in own.sentences]
    assert asked.details["label_independent"] is True
    with pytest.raises(ValueError, match="unknown label"):
        explain(three_labels, TEXT, method="attention", label="nope")


@pytest.fixture
def models(tmp_path: Path, built: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(built, folder / "tiny-news")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(folder))
    return folder


def test_attention_of_another_label_is_stored_under_it(tmp_path: Path, models: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'longbert.sqlite'}")
    model = load_classifier(models / "tiny-news", device="cpu")
    document = as_document(TEXT, name="mixed.txt", source="paste")
    prediction, pid = classify_and_log(store, model, document, {"name": "truncate", "params": {}})
    other = next(label for label in prediction.probabilities if label != prediction.label)

    def loader(key: str, labels: dict[str, str] | None) -> Any:
        return load_uncached(key, labels, device="cpu")

    own = why.explain_and_store(store, pid, prediction, document, "attention", loader)
    asked = why.explain_and_store(store, pid, prediction, document, "attention", loader, label=other)
    assert asked.explanation.label == other and asked.record.id != own.record.id
    # What the page looks up after "Explain": the label picked has its attention now...
    assert list(why.stored_explanations(store, pid, other)) == ["attention"]
    # ...and the predicted label's entry was not replaced.
    kept = why.stored_explanations(store, pid, prediction.label)["attention"]
    assert kept.id == own.record.id and kept.explanation.label == prediction.label
    summary = why.summary_text(why.stored_explanations(store, pid, other)["attention"])
    assert f"of '{other}'" in summary and "does not depend on the label" in summary
