"""The modules split to stay under the style rule's ~400 lines keep every import path they had.

``longbert.classifier`` re-exports the forward path's outputs (now :mod:`longbert.classifier_outputs`)
and its classes still carry the inference methods (now :mod:`longbert.classifier_inference`);
``longbert.ui.review`` re-exports the sampler names and the re-score setting (now
:mod:`longbert.ui.review_ranking`); ``longbert.pretraining`` still exports ``pretrain`` and
``PretrainResult`` from ``loop`` (the step loop is now :mod:`longbert.pretraining.step_loop`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "longbert"


def test_the_classifier_keeps_its_names_and_methods() -> None:
    from longbert import DocumentClassifier as FromPackage
    from longbert import classifier_inference, classifier_outputs
    from longbert.classifier import ClassifierOutput, DocumentClassifier, LongBertClassifier, WindowEncoding

    assert ClassifierOutput is classifier_outputs.ClassifierOutput
    assert WindowEncoding is classifier_outputs.WindowEncoding
    assert FromPackage is DocumentClassifier
    mixin = classifier_inference.ClassifierInferenceMixin
    methods = ("device", "weights_dtype", "hold_weights_in", "inference_dtype", "autocast_dtype", "infer")
    for name in (*methods, "probabilities", "predict"):
        assert getattr(LongBertClassifier, name) is getattr(mixin, name)
    assert issubclass(LongBertClassifier, mixin) and LongBertClassifier.prepared_dtype is None


def test_the_review_queue_keeps_its_names_fields_and_methods() -> None:
    from longbert.ui import review, review_ranking

    assert review.REVIEW_SAMPLERS is review_ranking.REVIEW_SAMPLERS
    assert review.SAMPLER_TITLES is review_ranking.SAMPLER_TITLES
    assert review.rescore_setting("k") == "review:k"
    assert dataclasses.is_dataclass(review.ReviewQueue)
    fields = [f.name for f in dataclasses.fields(review.ReviewQueue)]
    assert fields[:6] == ["filters", "key", "labels", "model", "label_set", "items"]
    for name in ("pending", "needs_embeddings", "rerank", "apply_scores"):
        assert hasattr(review.ReviewQueue, name)


def test_pretraining_keeps_its_names() -> None:
    from longbert.pretraining import PretrainResult, loop, pretrain, step_loop

    assert pretrain is loop.pretrain and PretrainResult is loop.PretrainResult
    assert step_loop.RECENT == 20


@pytest.mark.parametrize(
    "module",
    [
        "classifier.py",
        "classifier_inference.py",
        "classifier_io.py",
        "classifier_outputs.py",
        "ui/review.py",
        "ui/review_items.py",
        "ui/review_ranking.py",
        "pretraining/loop.py",
        "pretraining/step_loop.py",
    ],
)
def test_split_modules_stay_under_the_style_rules_size(module: str) -> None:
    assert len((PACKAGE / module).read_text().splitlines()) < 400
