"""Gradient explanations never disturb predictions running at the same time on the same model.

The app keeps one classifier object per checkpoint, shared by every session and by the Batch
page's background "Explain a sample" job, with no lock: an integrated-gradients run must not
change anything another caller's forward pass goes through (it once hooked the embedding layer,
and a prediction running meanwhile failed on the hooked embeddings' shape or was silently wrong).
"""

from __future__ import annotations

import threading

import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder, text_of

from longbert import LongBertClassifier
from longbert.explain import explain

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def shared_model(tmp_path_factory: pytest.TempPathFactory) -> LongBertClassifier:
    folder = save_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder", hidden=32, heads=2)
    model = LongBertClassifier.from_encoder(folder, labels=["a", "b"], strategy="truncate", device="cpu")
    torch.manual_seed(3)
    with torch.no_grad():
        for parameter in model.head.parameters():
            parameter.normal_(0, 1.0)  # a head that separates: a wrong embedding shows
    return model.eval()


@pytest.mark.parametrize("method", ["integrated_gradients", "gradient_x_input"])
def test_predictions_while_a_gradient_explanation_runs_are_unchanged(
    shared_model: LongBertClassifier, method: str
) -> None:
    explained = text_of(24)  # ~400 tokens: a longer input than the one predicted meanwhile
    predicted = "Fans celebrated in the streets long after the final whistle. The club won the cup."
    (reference,) = shared_model.predict([predicted], attention="none")
    failures: list[str] = []
    outcome: list[object] = []

    def explainer() -> None:
        try:
            for _ in range(3 if method == "gradient_x_input" else 1):
                outcome.append(
                    explain(shared_model, explained, method=method, n_steps=48, internal_batch_size=2)
                )
        except Exception as error:
            failures.append(f"explain: {type(error).__name__}: {error}")

    thread = threading.Thread(target=explainer)
    thread.start()
    runs = 0
    while thread.is_alive() or runs < 30:
        (result,) = shared_model.predict([predicted], attention="none")
        runs += 1
        probabilities = getattr(result, "probabilities", None)
        if probabilities is None:
            failures.append(f"predict: {result.message}")  # type: ignore[union-attr]
        elif max(abs(probabilities[k] - reference.probabilities[k]) for k in probabilities) > 1e-6:
            failures.append(f"predict: {probabilities} instead of {reference.probabilities}")
    thread.join()
    assert runs >= 30
    assert failures == [], failures[:3]
    assert outcome and all(len(e.sentences) > 0 for e in outcome)  # type: ignore[attr-defined]
