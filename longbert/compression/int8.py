"""``int8``: dynamic int8 quantization of the encoder's linear layers (``torch.ao``).

Every ``nn.Linear`` of the encoder (attention projections, feed-forward) gets int8 weights with
one scale per tensor (``quantize_dynamic``'s default ``qint8`` config); activations are
quantized on the fly per batch. Embeddings, LayerNorm, the head and the
chunk pooling stay float32. CPU only (fbgemm/onednn kernels): on CUDA the model is loaded
uncompressed and held in the precision policy's dtype instead (bf16), which is faster there.

What is saved: the source's float32 weights, unchanged, and the method in the manifest; the int8
weights are made again at every load. Dynamic quantization is a deterministic function of the
float32 weights (scale and zero point from each weight tensor's min/max), so the loaded model is
bit-for-bit the one that was evaluated; the folder stays plain safetensors that every LongBERT
(and a CUDA machine) can read, with no pickled packed-parameter objects; quantizing a 6-layer
encoder takes a fraction of a second. The price is disk: the folder is the source's size.

Sparse attention reads the global key/value projections' weights directly (it folds them into
the queries): with int8 layers it reads their dequantized weights
(:func:`longbert.modeling.sparse_attention.linear_parameters`), so an int8 model reads with any
strategy.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

#: Recorded in the manifest's metadata: how the int8 weights are made from the stored ones.
RECIPE = "torch.ao.quantization.quantize_dynamic(encoder, {nn.Linear}, dtype=torch.qint8) at load"


def quantize_int8(classifier: Any) -> bool:
    """Quantize a LongBertClassifier's encoder in place (CPU only); True when done, False on CUDA."""
    if classifier.device.type != "cpu":
        return False
    if classifier.prepared_dtype == torch.qint8:
        return True
    classifier.encoder.float()  # quantize from float32 weights whatever they were held in
    classifier.encoder = torch.ao.quantization.quantize_dynamic(
        classifier.encoder, {nn.Linear}, dtype=torch.qint8, inplace=True
    )
    classifier.prepared_dtype = torch.qint8
    return True
