"""Running a classifier for inference: its device, the dtype it computes in, no-gradient passes.

:class:`ClassifierInferenceMixin` is the base of :class:`~longbert.classifier.DocumentClassifier`
(so of every LongBERT classifier): the forward path itself lives there, and this module is what
turns it into predictions -- the precision policy (weights cast once for inference, or float32
weights under autocast as ``LONGBERT_PRECISION`` says), :meth:`~ClassifierInferenceMixin.infer`
(every inference pass: predict, explanations, exit calibration, re-scoring), probabilities and
``predict``. Kept apart from the model as transformers keeps ``GenerationMixin`` apart from its
models; checkpoints are read and written by :mod:`longbert.classifier_io`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import torch
from torch import nn

from longbert import inference
from longbert.classifier_outputs import ClassifierOutput
from longbert.devices import autocast, precision_dtype, weights_dtype
from longbert.document import Document
from longbert.exit_threshold import check_exit_threshold
from longbert.inputs import ModelInputs
from longbert.modeling.long_bert import LongBertModel
from longbert.results import PredictionResult

__all__ = ["ClassifierInferenceMixin"]


class ClassifierInferenceMixin(nn.Module):
    """Device, inference precision, :meth:`infer`, :meth:`probabilities` and :meth:`predict`.

    Reads the subclass's ``encoder`` (its weights are what gets cast) and ``multi_label``;
    ``forward`` is the subclass's (:meth:`~longbert.classifier.DocumentClassifier.forward`).
    """

    encoder: LongBertModel
    multi_label: bool

    #: Set when the weights were prepared for inference (cast by :meth:`hold_weights_in`, or
    #: int8-quantized by :mod:`longbert.compression`): :meth:`infer` then runs the model as it
    #: is, never under autocast. None: float32 weights, autocast per the precision policy.
    prepared_dtype: torch.dtype | None = None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def weights_dtype(self) -> torch.dtype:
        """The dtype the encoder's weights are held in (float32 unless cast for inference)."""
        return self.encoder.embeddings.word_embeddings.weight.dtype

    def hold_weights_in(self, precision: str | None = None) -> Self:
        """Cast the encoder's weights, once, to the inference dtype of the precision policy on
        this device (:func:`~longbert.devices.weights_dtype`: bf16 on a native-bf16 CPU and on
        CUDA, float32 elsewhere or with ``fp32``); returns ``self``.

        For inference only: a model being trained keeps float32 weights and autocasts. The head
        and the chunk pooling stay float32 (a few thousand weights; probabilities keep their
        digits); the [CLS] attention row stays an exact float32 softmax of the bf16 states.
        """
        if self.prepared_dtype == torch.qint8:  # int8 linear layers take float32 activations
            return self
        # "auto" is the inference policy: LONGBERT_PRECISION when it is set (fp32: exact float32
        # everywhere, as the README promises), else the device's best.
        dtype = weights_dtype(self.device, None if precision == "auto" else precision)
        if dtype != self.weights_dtype:
            self.encoder.to(dtype)
        self.prepared_dtype = dtype if dtype != torch.float32 else None
        return self

    def inference_dtype(self) -> torch.dtype | None:
        """The dtype :meth:`infer` computes in: the weights' own when they were prepared for
        inference (``torch.qint8``: int8 linear layers), else the autocast dtype
        ``LONGBERT_PRECISION`` picks (None: float32)."""
        return self.prepared_dtype or precision_dtype(self.device)

    def autocast_dtype(self) -> torch.dtype | None:
        """The dtype inference autocasts to: none when the weights were prepared for inference
        (bf16 or int8 weights run as they are; int8 layers take float32 activations), else the
        one ``LONGBERT_PRECISION`` picks (None: float32). Every inference pass -- predict,
        explanations, exit calibration, re-scoring -- runs under it."""
        return precision_dtype(self.device) if self.prepared_dtype is None else None

    def infer(self, inputs: ModelInputs, **options: Any) -> ClassifierOutput:
        """:meth:`forward` without gradients, on this model's device, in :meth:`inference_dtype`
        (an early-exit model takes ``exit_threshold=``; None: its stored threshold):
        with weights cast for inference (:meth:`hold_weights_in`) the model runs as it is;
        with float32 weights under autocast in the precision ``LONGBERT_PRECISION`` picks there
        (see :func:`~longbert.devices.precision_dtype`)."""
        device = self.device
        mixed = self.autocast_dtype()
        threshold = check_exit_threshold(options.pop("exit_threshold", None))  # in [0, 1] or None
        with torch.inference_mode(), autocast(device, mixed):
            # Early-exit models (see longbert.compression.early_exit): confident rows stop early.
            if (exits := self._modules.get("early_exit")) is not None:
                from longbert.compression.early_exit import run_with_exits

                limit = exits.threshold if threshold is None else threshold
                out = run_with_exits(self, inputs.to(device), limit, **options)
                if out is not None:
                    return ClassifierOutput(**out)
            return self(inputs.to(device), **options)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax (single-label) or sigmoid (multi-label) in float32."""
        logits = logits.float()
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)

    def predict(self, items: Sequence[str | bytes | Document], **options: Any) -> list[PredictionResult]:
        """Classify texts, file bytes or documents; see :func:`longbert.inference.predict`."""
        return inference.predict(self, items, **options)
