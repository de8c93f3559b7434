"""Where a model runs and in what precision: the one place that decides both.

Inference, scoring during training, training itself (and next: pre-training, explanations,
compression) ask :func:`resolve_device` for the device and :func:`precision_dtype` for the
mixed-precision dtype, and run under :func:`autocast`. Checked here, before any weights load, so
a typo or a missing GPU is one clear error rather than torch's assertion halfway through loading.

Two ways to run in low precision, per use:

* training (and scoring during training) keeps float32 weights and runs under :func:`autocast`;
* a classifier loaded for inference holds its encoder's weights in :func:`weights_dtype`'s dtype
  (cast once, at load): bfloat16 on a CPU with native bf16 and on CUDA (float16 on a GPU without
  bf16), float32 elsewhere or with ``fp32``. Casting at every matmul, as autocast does over
  float32 weights, costs about a third of the speed of a 6-layer encoder on the CPU.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Any

import torch

from longbert.errors import LongBertError
from longbert.settings import PRECISIONS

DeviceLike = str | torch.device


class DeviceError(LongBertError, ValueError):
    """A device torch does not know, or one this machine does not have."""


class PrecisionError(LongBertError, ValueError):
    """A precision setting that is unknown or that this device cannot run."""


def resolve_device(device: DeviceLike | None = None) -> torch.device:
    """``device``, else ``LONGBERT_DEVICE``, else CUDA when available, else the CPU -- checked."""
    env = os.environ.get("LONGBERT_DEVICE") or None
    wanted = device if device is not None else env
    if wanted is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    origin = f"device={device!r}" if device is not None else f"LONGBERT_DEVICE={env!r}"
    try:
        resolved = torch.device(wanted)
    except (RuntimeError, TypeError) as error:
        raise DeviceError(f"{origin} is not a device torch knows ({error}); use 'cpu' or 'cuda'.") from error
    if resolved.type == "meta":
        raise DeviceError(f"{origin}: the meta device holds shapes, not weights; use 'cpu' or 'cuda'.")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"{origin}: CUDA is not available on this machine; use 'cpu'.")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise DeviceError(f"{origin}: this machine has {torch.cuda.device_count()} CUDA device(s).")
    return resolved


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


def precision_dtype(
    device: torch.device, option: str | None = None, *, training: bool = False
) -> torch.dtype | None:
    """The mixed-precision dtype on ``device`` (None = float32 throughout).

    ``option`` is ``auto``/``fp32``/``bf16``/``fp16``; None reads ``LONGBERT_PRECISION``
    (default ``auto``), which is how predictions choose. ``auto`` uses bf16 on CUDA when
    supported, else fp16; on the CPU, bf16 where it is native (about 2x faster there, labels
    unchanged in the inference benchmark) -- except for ``training``, which stays in float32 on
    the CPU unless asked (bf16 there was measured for inference, not for the accuracy of
    fine-tuning). ``fp32`` keeps float32 everywhere (exact, reproducible across machines).
    Raises :class:`PrecisionError` for an unknown value or one the device cannot run.
    """
    source = "LONGBERT_PRECISION" if option is None else "--precision"
    value = (os.environ.get("LONGBERT_PRECISION", "auto") if option is None else option).strip().lower()
    if value not in PRECISIONS:
        raise PrecisionError(f"{source} must be one of {', '.join(PRECISIONS)}; got {value!r}.")
    cuda = device.type == "cuda"
    if value == "fp32":
        return None
    if value == "fp16":
        if not cuda:
            raise PrecisionError(f"{source}={value} needs a CUDA device; use bf16 or fp32 on the CPU.")
        return torch.float16
    if value == "bf16":
        if cuda and not torch.cuda.is_bf16_supported():
            raise PrecisionError(f"{source}={value}: this GPU does not support bfloat16; use fp16.")
        return torch.bfloat16
    if cuda:
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and not training and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def weights_dtype(device: torch.device, option: str | None = None) -> torch.dtype:
    """The dtype a classifier loaded for inference holds its encoder's weights in on ``device``.

    The inference choice of :func:`precision_dtype` (``option``, else ``LONGBERT_PRECISION``,
    else ``auto``), float32 where that is None. Per device, with ``auto``:

    ========================== =========
    CPU with AVX512-BF16 / AMX bfloat16
    other CPUs                 float32
    CUDA with bf16             bfloat16
    CUDA without bf16          float16
    ========================== =========
    """
    return precision_dtype(device, option) or torch.float32


def dtype_name(dtype: torch.dtype | None) -> str:
    """``"float32"`` for None (no mixed precision), else the dtype's name (``"bfloat16"``)."""
    return str(dtype or torch.float32).removeprefix("torch.")


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision in ``dtype`` on ``device``; a no-op for None (float32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
