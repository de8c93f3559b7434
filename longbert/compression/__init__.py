"""Model compression: classifiers that are cheaper to run than the model they come from.

A compressed model is a classifier checkpoint like any other (``encoder/``, ``pooling/``,
``head/``, ``longbert.json``) whose manifest carries :class:`~longbert.checkpoints.Compression`
provenance: the method, the source model, accuracy before/after on a dev set. It loads through
:func:`longbert.load_classifier` (so the app, ``python -m longbert.evaluate`` and every CLI take
it), which calls :func:`apply_compression` to turn the stored weights into the compressed model.

Methods (``python -m longbert.compress --method ...``):

* ``int8`` (:mod:`longbert.compression.int8`): dynamic int8 of the encoder's linear layers.
* ``early-exit`` (:mod:`longbert.compression.early_exit`): FastBERT exits after each layer,
  trained by self-distillation; stored in ``exits/``.
* ``distill`` (:mod:`longbert.compression.distill`): a student with every other layer, trained
  on the source's soft labels and hidden states; an ordinary (smaller) classifier at load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from longbert.checkpoints import Compression
from longbert.errors import CheckpointError

#: What ``--method`` accepts, in the order they were built.
METHODS = ("int8", "early-exit", "distill")
#: What ``distill``'s hidden-state loss pulls the student toward (``--hidden``; the first is the
#: default): the final [CLS] vector, or every layer's states (TinyBERT). See
#: :mod:`longbert.compression.distill`.
HIDDEN_TARGETS = ("cls", "layers")


def apply_compression(classifier: Any, compression: Compression, folder: Path) -> None:
    """Turn a just-loaded classifier into the compressed model its manifest describes (in place).

    ``classifier`` is a :class:`~longbert.classifier.LongBertClassifier`; this package never
    imports it (the classifier's loader imports this package: no cycle)."""
    if compression.method == "int8":
        from longbert.compression.int8 import quantize_int8

        quantize_int8(classifier)
        return
    if compression.method == "early-exit":
        from longbert.compression.early_exit import attach

        attach(classifier, folder)
        return
    if compression.method == "distill":  # the student's weights are the checkpoint's own
        return
    raise CheckpointError(
        f"Checkpoint '{folder}' was compressed with {compression.method!r}, which this LongBERT does "
        f"not know (it knows {', '.join(METHODS)}); upgrade LongBERT to load it."
    )
