"""Scoring prepared documents (dev and test sets during training), spread over ranks.

The same forward path as :func:`longbert.inference.predict` (``collate`` then
:meth:`~longbert.classifier.DocumentClassifier.infer`: windows run in slices), minus what
evaluation does not need (attention, spans, Prediction objects), and on documents prepared once
before training rather than every epoch.

And in the same precision as ``predict`` and ``evaluate`` run the saved model: they load it with
its encoder's weights cast once for inference (bf16 on CUDA and on a native-bf16 CPU), while a
model being trained holds float32 weights, which under autocast give other numbers (a few-shot
model scored 63.64 on its test set in training and 72.73 in ``evaluate``). So a model with
float32 weights is scored through a copy cast as loading casts it (:func:`scoring_model`); the
weights being trained are never touched. Each report names the ``precision`` it was scored in.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from time import perf_counter

import numpy as np
import torch

from longbert.classifier import DocumentClassifier, LongBertClassifier
from longbert.devices import dtype_name, weights_dtype
from longbert.inference import LONG_GROUP_TOKENS
from longbert.training.distributed import DistContext
from longbert.training.losses import LossFn
from longbert.training.metrics import report_from_probabilities
from longbert.training.prepared import PreparedSet, scoring_groups


@dataclass
class Scores:
    """``logits``/``probabilities`` ``[N, L]`` float32 in document order; mean ``loss``;
    ``precision``: what the model computed in (``bfloat16``, ``float32``...)."""

    logits: np.ndarray
    probabilities: np.ndarray
    loss: float | None
    seconds: float
    precision: str = "float32"


def scoring_model(classifier: DocumentClassifier) -> DocumentClassifier:
    """``classifier`` as ``predict``/``evaluate`` would run it once saved and loaded: where
    loading would cast its float32 weights for inference
    (:meth:`~longbert.classifier_inference.ClassifierInferenceMixin.hold_weights_in` with
    ``auto``, whose rule :func:`~longbert.devices.weights_dtype` gives), a copy cast that way (in
    ``classifier``'s train/eval mode; its tokenizer shared), else ``classifier`` itself."""
    if classifier.prepared_dtype is not None or weights_dtype(classifier.device) == classifier.weights_dtype:
        return classifier  # already as loading leaves it (cast, or float32 on this device)
    tokenizer = getattr(classifier, "tokenizer", None)
    cast = copy.deepcopy(classifier, memo={id(tokenizer): tokenizer})
    return cast.hold_weights_in("auto")


def _logits(classifier: DocumentClassifier, data: PreparedSet, indices: np.ndarray, rows: int) -> np.ndarray:
    """``[len(indices), L]`` float32 logits, in the order of ``indices``."""
    out = np.zeros((len(indices), len(classifier.labels)), dtype=np.float32)
    where = {int(index): k for k, index in enumerate(indices.tolist())}
    for group in scoring_groups(data, indices, rows, LONG_GROUP_TOKENS):
        model_inputs = classifier.collate([data.selections[i] for i in group])
        logits = classifier.infer(model_inputs, rows_per_pass=rows).logits.float().cpu().numpy()
        for k, index in enumerate(group.tolist()):
            out[where[index]] = logits[k]
    return out


def score(
    classifier: LongBertClassifier,
    data: PreparedSet,
    *,
    batch_size: int,
    ctx: DistContext | None = None,
    loss_fn: LossFn | None = None,
) -> Scores:
    """Logits, probabilities and loss of every document; each rank scores its share.

    Every rank returns the same full result (shares are gathered), so every rank takes the same
    early-stopping decision.
    """
    started = perf_counter()
    was_training = classifier.training
    classifier.eval()
    rank, world = (ctx.rank, ctx.world_size) if ctx is not None else (0, 1)
    mine = np.arange(len(data), dtype=np.int64)[rank::world]
    try:
        model = scoring_model(classifier)  # made in eval mode
        local = _logits(model, data, mine, batch_size)
        precision = dtype_name(model.inference_dtype())
        del model  # a cast copy's memory goes back before training resumes
    finally:
        classifier.train(was_training)
    if ctx is not None and ctx.enabled:
        logits = np.zeros((len(data), len(classifier.labels)), dtype=np.float32)
        for r, part in enumerate(ctx.gather(local)):
            logits[np.arange(len(data))[r::world]] = part
    else:
        logits = local
    tensor = torch.from_numpy(logits)
    probabilities = classifier.probabilities(tensor).numpy()
    loss = None
    if loss_fn is not None and len(data):
        loss = float(loss_fn(tensor, torch.from_numpy(np.ascontiguousarray(data.targets))))
    return Scores(logits, probabilities, loss, perf_counter() - started, precision)


def evaluate_set(
    classifier: LongBertClassifier,
    data: PreparedSet,
    *,
    batch_size: int,
    ctx: DistContext | None = None,
    loss_fn: LossFn | None = None,
) -> dict[str, object]:
    """A metrics report (see :mod:`longbert.training.metrics`) plus ``loss``, ``docs_per_second``
    and ``precision`` (what the model was scored in: as ``evaluate`` reports it)."""
    scores = score(classifier, data, batch_size=batch_size, ctx=ctx, loss_fn=loss_fn)
    report = report_from_probabilities(
        scores.probabilities, data.targets, classifier.labels, classifier.multi_label
    )
    if scores.loss is not None:
        report["loss"] = scores.loss
    report["seconds"] = scores.seconds
    report["docs_per_second"] = len(data) / max(scores.seconds, 1e-9)
    report["precision"] = scores.precision
    return report
