"""LongBERT: classify long documents with BERT -- without silently dropping everything after 512 tokens.

Public API::

    from longbert import LongBertClassifier, ZeroShotClassifier, load_classifier
    clf = load_classifier("models/my-model")            # or LongBertClassifier.from_encoder(...)
    for p in clf.predict(["a long text ...", Document(text, name="report.pdf")]):
        print(p.label, p.probabilities, p.used_tokens, p.total_tokens)

The library never imports Streamlit; the app's pages use only what is exported here and in the
submodules' documented functions.

Words (each means one thing in the code):

* **document** -- a text with its name and hash (:class:`Document`).
* **tokenize** -- document → WordPiece ids with offsets, words, sentences (``tokenization``).
* **strategy** / **select** -- a strategy *selects* what the model reads of a tokenised
  document: a :class:`~longbert.strategies.Selection` of windows (``Strategy.select``).
* **prepare** -- tokenize + select, the one document → selection step (``inputs.prepare``).
* **model inputs** -- selections padded into tensors (``inputs.collate`` →
  :class:`~longbert.inputs.ModelInputs`).
* **encoder** -- the BERT network (``LongBertModel``); **encode** / **run the encoder** -- run it
  (``DocumentClassifier.run_encoder``); ``encoder_source`` finds one by name.
* **forward path** -- model inputs → logits: encoder, pooling, head
  (``DocumentClassifier.forward``; ``infer`` = no gradients, configured precision).
* **model settings** -- pooling method and sparse attention window: the model's, saved with it;
  a call may override them. **Strategy params** are only about what is read.
* **group** -- the documents that go through the model in one forward pass (at most
  ``batch_size`` of them: the option keeps its usual name).
* **batch** -- a set of uploaded documents labelled together (the store and the app).
* **checkpoint** -- a folder with a manifest (``longbert.json``) of a kind: ``classifier`` or
  ``encoder`` (``checkpoints``); **run** -- one long job (training...), its state and its record
  (``runs``).
* **settings** -- paths and constants shared by every layer (``settings``); **devices** -- where
  a model runs and in what precision.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longbert.document import Document, as_document
from longbert.errors import (
    CheckpointError,
    DatasetError,
    EmptyDocumentError,
    EncoderNotFoundError,
    LongBertError,
    StoreError,
    StrategyConfigError,
    UnreadableFileError,
    UnreadableWeightsError,
    UnsupportedEncoderError,
)
from longbert.results import (
    AttentionSummary,
    FullAttention,
    Prediction,
    PredictionError,
    PredictionResult,
    SegmentScore,
)
from longbert.settings import DEFAULT_ENCODER

if TYPE_CHECKING:
    import torch

    from longbert.classifier import DocumentClassifier, LongBertClassifier
    from longbert.devices import DeviceError, resolve_device
    from longbert.fewshot.prior import ZeroShotPriorClassifier
    from longbert.zero_shot import ZeroShotClassifier

__version__ = "0.1.0"


def load_classifier(
    name_or_path: str | os.PathLike[str],
    *,
    device: str | torch.device | None = None,
    precision: str | None = "fp32",
) -> LongBertClassifier | ZeroShotPriorClassifier:
    """Load a trained checkpoint by folder or by name under ``models/``: the one load function
    the app, the command-line tools and workers use.

    Every classifier checkpoint loads here (fine-tuned or SetFit: a
    :class:`LongBertClassifier`, compressed ones carrying their method in the manifest; a
    ``zero-shot-prior`` one, manifest ``architecture``: a
    :class:`~longbert.fewshot.prior.ZeroShotPriorClassifier`); a folder holding an encoder alone
    is refused with a :class:`CheckpointError` that says to train from it. It runs on ``device``; by default
    ``LONGBERT_DEVICE``, else CUDA when there is a GPU, else the CPU. A device torch does not
    know or this machine lacks raises :class:`DeviceError`.

    ``precision`` says which dtype the encoder's weights are held in
    (:func:`longbert.devices.weights_dtype`): ``fp32`` (default) keeps them as saved -- exact,
    ready to train, predicting under autocast as ``LONGBERT_PRECISION`` says; ``auto`` (or
    None: ``LONGBERT_PRECISION``) casts them once for inference: bfloat16 on a CPU with native
    bf16 and on CUDA, float32 on other CPUs. The app and ``python -m longbert.evaluate`` load
    with ``auto``.
    """
    from longbert.checkpoints import read_manifest, resolve_checkpoint
    from longbert.classifier import LongBertClassifier

    path = resolve_checkpoint(Path(name_or_path))
    if read_manifest(path).architecture == "zero-shot-prior":
        from longbert.fewshot.prior import ZeroShotPriorClassifier

        return ZeroShotPriorClassifier.from_pretrained(path, device=device, precision=precision)
    return LongBertClassifier.from_pretrained(path, device=device, precision=precision)


def __getattr__(name: str) -> Any:
    # torch/transformers load lazily so that `import longbert` (e.g. for readers or the store)
    # stays fast.
    if name in ("LongBertClassifier", "DocumentClassifier"):
        from longbert import classifier

        return getattr(classifier, name)
    if name in ("DeviceError", "resolve_device"):
        from longbert import devices

        return getattr(devices, name)
    if name == "ZeroShotClassifier":
        from longbert.zero_shot import ZeroShotClassifier

        return ZeroShotClassifier
    if name in ("get_strategy", "STRATEGIES"):
        from longbert import strategies

        return getattr(strategies, name)
    raise AttributeError(f"module 'longbert' has no attribute {name!r}")


__all__ = [
    "DEFAULT_ENCODER",
    "STRATEGIES",
    "AttentionSummary",
    "CheckpointError",
    "DatasetError",
    "DeviceError",
    "Document",
    "DocumentClassifier",
    "EmptyDocumentError",
    "EncoderNotFoundError",
    "FullAttention",
    "LongBertClassifier",
    "LongBertError",
    "Prediction",
    "PredictionError",
    "PredictionResult",
    "SegmentScore",
    "StoreError",
    "StrategyConfigError",
    "UnreadableFileError",
    "UnreadableWeightsError",
    "UnsupportedEncoderError",
    "ZeroShotClassifier",
    "__version__",
    "as_document",
    "get_strategy",
    "load_classifier",
    "resolve_device",
]
