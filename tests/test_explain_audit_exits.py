"""Explanations explain the model that predicted: early exits, and a warning when they cannot.

An early-exit model lets confident inputs stop at an earlier layer; occlusion and the gradient
methods run every layer, so on such a model they once explained another model's probabilities
("occlusion of 'c' (32.7%)" for a prediction shown at 66.4%). They are refused while the exits
are in force; attention and the full model (threshold 0) are explained. Whatever the cause, an
explanation whose base probability is not the prediction's carries a warning the page shows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder

from longbert import LongBertClassifier
from longbert.compression.early_exit import ExitHeads
from longbert.document import as_document
from longbert.explain import Explanation, check_probability, explain
from longbert.store.explanations import ExplanationRecord
from longbert.ui import explanations as why

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXT = " ".join(
    [
        "The central bank raised rates to fight inflation.",
        "Fans celebrated the final whistle.",
        "Bond yields climbed after the news.",
        "The club won the cup.",
    ]
    * 6
)
SPARSE = {"name": "sparse", "params": {"max_tokens": 1024, "attention_window": 16}}


@pytest.fixture(scope="module")
def early_exit_model(tmp_path_factory: pytest.TempPathFactory) -> LongBertClassifier:
    folder = save_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder", hidden=32, heads=2)
    model = LongBertClassifier.from_encoder(folder, labels=["a", "b", "c"], strategy="truncate", device="cpu")
    torch.manual_seed(1)
    exits = ExitHeads(32, 3, 2, threshold=1.0)  # 1.0: every row leaves after the first layer
    for parameter in exits.parameters():
        torch.nn.init.normal_(parameter, 0, 0.5)
    model.early_exit = exits.eval()
    return model.eval()


def test_the_early_exit_model_predicts_other_than_its_full_depth(
    early_exit_model: LongBertClassifier,
) -> None:
    (early,) = early_exit_model.predict([TEXT])
    (full,) = early_exit_model.predict([TEXT], exit_threshold=0)
    assert early.extra["exit_threshold"] == 1.0 and full.extra["exit_threshold"] == 0.0
    assert abs(early.probabilities["c"] - full.probabilities["c"]) > 0.05  # the check bites


@pytest.mark.parametrize("method", ["occlusion", "integrated_gradients", "gradient_x_input"])
def test_full_depth_methods_are_refused_while_exits_are_in_force(
    early_exit_model: LongBertClassifier, method: str
) -> None:
    with pytest.raises(ValueError, match=r"early-exit model.*exit_threshold=0.*attention"):
        explain(early_exit_model, TEXT, method=method, n_steps=2)
    # At threshold 0 the full model predicts, and that is what is explained.
    (full,) = early_exit_model.predict([TEXT], exit_threshold=0)
    result = explain(early_exit_model, TEXT, method=method, exit_threshold=0, n_steps=2, label="c")
    assert result.probability == pytest.approx(full.probabilities["c"], abs=0.02)
    # The sparse mode never exits early: nothing to refuse there.
    assert explain(early_exit_model, TEXT, method=method, strategy=SPARSE, n_steps=2).sentences


def test_attention_explains_the_early_exit_prediction(early_exit_model: LongBertClassifier) -> None:
    (early,) = early_exit_model.predict([TEXT])
    result = explain(early_exit_model, TEXT, method="attention", label="c")
    assert result.probability == pytest.approx(early.probabilities["c"], abs=1e-6)


def test_a_stored_prediction_is_explained_at_its_own_threshold(early_exit_model: LongBertClassifier) -> None:
    document = as_document(TEXT, name="doc.txt", source="paste")
    (early,) = early_exit_model.predict([document])
    with pytest.raises(why.ExplanationFailed, match="early-exit model"):
        why.explain_prediction(early_exit_model, early, document, "occlusion")
    assert why.explain_prediction(early_exit_model, early, document, "attention").warnings == []
    (full,) = early_exit_model.predict([document], exit_threshold=0)
    explained = why.explain_prediction(early_exit_model, full, document, "occlusion")
    assert explained.probability == pytest.approx(full.probabilities[full.label], abs=0.02)
    assert explained.warnings == []


def test_an_explained_probability_that_is_not_the_predictions_is_warned(
    early_exit_model: LongBertClassifier,
) -> None:
    document = as_document(TEXT, name="doc.txt", source="paste")
    (full,) = early_exit_model.predict([document], exit_threshold=0)
    # As if the prediction had been made by another version of the model.
    full.probabilities[full.label] = max(0.0, full.probabilities[full.label] - 0.2)
    explained = why.explain_prediction(early_exit_model, full, document, "occlusion")
    (warning,) = explained.warnings
    assert f"'{full.label}'" in warning and "the prediction said" in warning
    restored = Explanation.from_dict(json.loads(json.dumps(explained.to_dict())))
    assert restored.warnings == explained.warnings
    record = ExplanationRecord(1, 1, datetime(2026, 1, 5, 10, 12, tzinfo=UTC), restored)
    assert "⚠ " + warning in why.summary_text(record)
    # Within the tolerance: no warning, and nothing new in the stored dict.
    assert check_probability(restored, restored.probability + 0.01)
    plain = explain(early_exit_model, TEXT, method="attention")
    assert "warnings" not in plain.to_dict()
