"""``cls_only``: the last layer computes the [CLS] query alone and must give exactly what the full
last layer gives at position 0 — hidden state, logged [CLS] attention row and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.long_bert_factories import batch, tiny_model


def _globals(ids: torch.Tensor, every: int) -> torch.Tensor:
    glob = torch.zeros_like(ids)
    glob[0, 9] = 1
    if every:
        glob[:, ::every] = 1  # many globals: projections applied, not folded
    return glob


@pytest.mark.parametrize(
    ("sparse", "every"), [(False, 0), (True, 0), (True, 3)], ids=["dense", "sparse", "sparse-many-globals"]
)
def test_cls_only_equals_full_last_layer(sparse: bool, every: int) -> None:
    model = tiny_model(seed=3)
    with torch.no_grad():  # distinct global projections: a mix-up of local/global would show
        for layer in model.encoder.layer:
            layer.attention.self.query_global.weight.mul_(-1.5)
    ids, mask = batch([70, 41, 1], 70, vocab=100)
    glob = _globals(ids, every)
    with torch.inference_mode():
        full = model(ids, mask, glob, sparse=sparse, attention_window=5, output_cls_attention=True)
        cls = model(
            ids, mask, glob, sparse=sparse, attention_window=5, output_cls_attention=True, cls_only=True
        )
    assert cls.last_hidden_state.shape == (3, 1, 64)
    assert torch.allclose(cls.last_hidden_state, full.last_hidden_state[:, :1], atol=1e-10)
    assert full.cls_attention is not None and cls.cls_attention is not None
    assert torch.allclose(cls.cls_attention, full.cls_attention, atol=1e-7)
    assert (cls.cls_attention[1, 41:] == 0).all()


@pytest.mark.parametrize("checkpointing", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_cls_only_gives_the_same_gradients(sparse: bool, checkpointing: bool) -> None:
    ids, mask = batch([50, 30], 50, vocab=100)
    glob = _globals(ids, 0)
    grads = []
    for cls_only in (False, True):
        model = tiny_model(seed=2).float().train()
        if checkpointing:
            model.gradient_checkpointing_enable()
        out = model(ids, mask, glob, sparse=sparse, attention_window=4, output_cls_attention=True,
                    cls_only=cls_only)
        assert out.cls_attention is not None
        (out.last_hidden_state[:, 0].square().mean() + out.cls_attention.square().sum()).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    # Sparse: the last layer's local projections feed only non-global rows, so [CLS] gives them
    # no gradient; the full pass has them in its graph with zero gradients.
    assert grads[1].keys() <= grads[0].keys()
    for name, grad in grads[0].items():
        expected = grads[1].get(name, torch.zeros_like(grad))
        assert torch.allclose(grad, expected, atol=1e-5), name


def test_cls_only_with_dropout_trains() -> None:
    model = tiny_model(attention_probs_dropout_prob=0.5).float().train()
    ids, mask = batch([40], 40, vocab=100)
    for sparse in (False, True):
        first = model(ids, mask, sparse=sparse, attention_window=4, cls_only=True).last_hidden_state
        again = model(ids, mask, sparse=sparse, attention_window=4, cls_only=True).last_hidden_state
        assert first.shape == (1, 1, 64) and not torch.allclose(first, again)


def test_cls_only_refuses_full_maps() -> None:
    model = tiny_model()
    ids, mask = batch([10], 10, vocab=100)
    with pytest.raises(ValueError, match="cls_only"):
        model(ids, mask, output_attentions=True, cls_only=True)


@pytest.mark.parametrize(
    "strategy",
    [
        {"name": "truncate", "params": {"mode": "head+tail"}},
        {"name": "chunk", "params": {"pooling": "attention"}},
        {"name": "sparse", "params": {"max_tokens": 1024, "global_sentences": True}},
    ],
    ids=lambda s: s["name"],
)
def test_classifier_predictions_unchanged(strategy: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The classifier's fast path (last layer for [CLS] only) predicts what the full pass does."""
    from helpers.classifier_factories import text_of

    from longbert import LongBertClassifier

    monkeypatch.setenv("LONGBERT_PRECISION", "fp32")
    torch.manual_seed(0)
    model = LongBertClassifier.from_encoder(None, labels=["economy", "sport"], strategy=strategy)
    texts = [text_of(70), text_of(9, offset=2)]
    fast = model.predict(texts)
    monkeypatch.setattr(model, "reads_cls_only", False)
    full = model.predict(texts)
    for a, b in zip(fast, full, strict=True):
        assert a.label == b.label
        for label in a.probabilities:
            assert a.probabilities[label] == pytest.approx(b.probabilities[label], abs=1e-5)
        assert a.attention is not None and b.attention is not None
        np.testing.assert_allclose(a.attention.token_scores, b.attention.token_scores, atol=1e-6)


def test_unpadded_batches_skip_the_mask_with_the_same_result() -> None:
    """A batch without padding runs mask-free attention; rows match the same rows in a padded batch."""
    model = tiny_model(seed=4)
    ids, mask = batch([30, 30, 12], 30, vocab=100)
    with torch.inference_mode():
        padded = model(ids, mask, output_cls_attention=True)
        full = model(ids[:2], mask[:2], output_cls_attention=True)
    assert torch.allclose(full.last_hidden_state, padded.last_hidden_state[:2], atol=1e-10)
    assert full.cls_attention is not None and padded.cls_attention is not None
    assert torch.allclose(full.cls_attention, padded.cls_attention[:2], atol=1e-12)
