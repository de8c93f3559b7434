"""Run-time helpers of the loop: clean stopping on signals, precision choice, JSON-able metrics."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import torch

from longbert.config import autocast_dtype
from longbert.training.config import TrainConfigError


class StopSignal:
    """``stop()`` is True once SIGINT/SIGTERM arrived or ``should_stop()`` says so.

    The first Ctrl-C asks for a clean stop (state saved at the next optimiser step); a second one
    raises KeyboardInterrupt at once. Handlers are installed only in the main thread (the web
    app trains in a worker thread and stops through ``should_stop``) and restored on exit.
    """

    def __init__(self, should_stop: Callable[[], bool] | None, say: Callable[[str], None]) -> None:
        self.should_stop, self.say = should_stop, say
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.say(
            f"{signal.Signals(signum).name}: stopping after this step and saving the training state "
            "(Ctrl-C again to abort without saving)."
        )

    def __enter__(self) -> StopSignal:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def __call__(self) -> bool:
        if not self.requested and self.should_stop is not None and self.should_stop():
            self.requested = True
        return self.requested


def precision_dtype(option: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``--precision`` (None = float32 throughout)."""
    if option == "auto":
        # The CPU trains in float32 unless asked: bf16 there is measured for inference, not for
        # the accuracy of fine-tuning.
        return autocast_dtype(device) if device.type == "cuda" else None
    if option == "fp32":
        return None
    if device.type != "cuda" and option == "fp16":
        raise TrainConfigError("--precision fp16 needs a CUDA device; use fp32 or bf16 on the CPU.")
    if device.type == "cuda" and option == "bf16" and not torch.cuda.is_bf16_supported():
        raise TrainConfigError("--precision bf16: this GPU does not support bfloat16; use fp16.")
    return torch.bfloat16 if option == "bf16" else torch.float16


def summary(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A JSON-safe copy of a metrics dict (numpy numbers become Python ones)."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=lambda x: x.item() if hasattr(x, "item") else str(x)))


@dataclass
class TrainResult:
    """How a run ended. ``status``: ``done`` (all epochs, or stopped early on the dev metric) or
    ``interrupted`` (stopped by a signal or ``should_stop``; resume with ``resume=True``)."""

    status: str
    output_dir: Path
    best_epoch: int | None
    best_metrics: dict[str, Any] | None
    history: list[dict[str, Any]]
    test_metrics: dict[str, Any] | None = None
    stopped_early: bool = False
    run_id: int | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
