"""Several processes (GPUs or machines) through PyTorch's own launcher, with no code change.

``torchrun --nproc_per_node=N -m longbert.train ...`` sets ``RANK``/``WORLD_SIZE``/
``LOCAL_RANK``; :func:`setup` sees them, joins the process group (NCCL on GPUs, gloo on CPUs)
and pins one GPU per process. A plain ``python -m longbert.train`` is a world of one and none of
this costs anything. Rank 0 alone writes checkpoints, prints and records in the database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from longbert.devices import resolve_device


@dataclass
class DistContext:
    """Where this process stands: its rank among ``world_size`` and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on any (e.g. one rank was told to stop)."""
        if not self.enabled:
            return flag
        value = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(value, op=dist.ReduceOp.MAX, group=_cpu_group())
        return bool(value.item() > 0)

    def mean(self, value: float) -> float:
        """The mean of a float over ranks."""
        if not self.enabled:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor, group=_cpu_group())
        return float(tensor.item()) / self.world_size

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank (pickled over the gloo side group:
        only our own numpy arrays and numbers travel, never data read from disk)."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj, group=_cpu_group())
        return out

    def wrap(self, model: nn.Module) -> nn.Module:
        """DistributedDataParallel around ``model`` when several processes train, else ``model``.

        ``find_unused_parameters``: a strategy leaves some parameters out of the graph (the
        global projections outside sparse mode, the attention-pooling scorer outside chunk
        mode), and DDP must not wait for their gradients.
        """
        if not self.enabled:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)

    def close(self) -> None:
        global _CPU_GROUP
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            _CPU_GROUP = None


_CPU_GROUP: Any = None


T = TypeVar("T")


def rank_share(batches: list[T], rank: int, world_size: int) -> list[T]:
    """This rank's share of ``batches``, every rank getting the same count (the list is first
    repeated from its start to a multiple of ``world_size``): DDP steps in lockstep."""
    if world_size > 1:
        padded = -(-len(batches) // world_size) * world_size
        batches = [batches[i % len(batches)] for i in range(padded)]
        batches = batches[rank::world_size]
    return batches


def _cpu_group() -> Any:
    """A gloo group for small CPU-side collectives (flags, metrics) whatever the main backend."""
    global _CPU_GROUP
    if _CPU_GROUP is None:
        _CPU_GROUP = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else dist.group.WORLD
    return _CPU_GROUP


def process_device(option: str, local_rank: int = 0, distributed: bool = False) -> torch.device:
    """This process's device for ``--device``: ``auto`` -> CUDA when available (``LONGBERT_DEVICE``
    overrides), else the CPU; under torchrun, the process's own GPU."""
    # Checked by the one resolver (DeviceError): a typo here or in LONGBERT_DEVICE is a message,
    # not torch's traceback, and a missing GPU is reported before any data or weights load.
    device = resolve_device(None if option == "auto" else option)
    if device.type == "cuda":
        if distributed:  # torchrun: one GPU per process
            device = torch.device("cuda", local_rank)
        elif device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    return device


def setup(device_option: str = "auto") -> DistContext:
    """Join the process group when launched by torchrun; a world of one otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = process_device(device_option, local_rank, distributed=world > 1)
    owns = False
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    if dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=device, owns_group=owns)


@contextmanager
def job_context(device_option: str = "auto") -> Iterator[DistContext]:
    """The distributed context of one training job (see :func:`setup`), closed when it ends; torch's
    CPU thread count is put back too (a job's --threads is the job's, not the process's)."""
    ctx = setup(device_option)
    threads = torch.get_num_threads()
    try:
        yield ctx
    finally:
        torch.set_num_threads(threads)
        ctx.close()


def use_threads(threads: int) -> None:
    """Run torch on ``threads`` CPU threads for the rest of the job (0: torch's default)."""
    if threads:
        torch.set_num_threads(threads)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (or the module itself)."""
    return model.module if isinstance(model, DistributedDataParallel) else model
