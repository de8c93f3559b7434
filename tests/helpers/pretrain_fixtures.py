"""The quick pre-training run the pre-training tests share (the tiny encoder is
:func:`helpers.classifier_factories.save_tiny_encoder` with :data:`helpers.train_fixtures.TRAIN_ENCODER`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from longbert.pretraining import PretrainConfig

#: Options of a quick, silent pre-training run on the CPU: 62-token sequences, 2 per step, a
#: fifth of the documents held out, float32, one thread (milliseconds per step).
QUICK_PRETRAIN: dict[str, Any] = {
    "name": "tiny",
    "max_tokens": 62,
    "batch_size": 2,
    "learning_rate": 1e-3,
    "heldout_fraction": 0.2,
    "precision": "fp32",
    "threads": 1,
    "quiet": True,
}


def pretrain_options(encoder: Path, corpus: Sequence[Path], /, **options: Any) -> PretrainConfig:
    """:data:`QUICK_PRETRAIN` on ``corpus`` from ``encoder``, with ``options`` on top (a
    ``corpus=`` among them replaces it)."""
    return PretrainConfig(
        **{**QUICK_PRETRAIN, "corpus": [str(p) for p in corpus], "encoder": str(encoder), **options}
    )
