"""AdamW with BERT's parameter groups and a linear warm-up / linear decay schedule."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

#: Top-level modules of a classifier trained from scratch (not part of the pre-trained encoder).
NEW_MODULES = ("head", "pooling")


def parameter_groups(
    model: nn.Module, weight_decay: float, head_learning_rate: float | None = None
) -> list[dict[str, object]]:
    """Weights with decay; biases and LayerNorm (any 1-D parameter) without. With
    ``head_learning_rate``, the parameters of :data:`NEW_MODULES` form two more groups at that
    learning rate (the schedule scales every group alike).

    Judging by dimension rather than by name catches every LayerNorm and bias whatever the
    module calls it (BERT's ``LayerNorm.weight``, a head's ``bias``...); embedding tables are 2-D
    and decay as in the original BERT recipe.
    """
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        new = bool(head_learning_rate) and name.removeprefix("module.").split(".")[0] in NEW_MODULES
        groups.setdefault((new, parameter.ndim >= 2), []).append(parameter)
    out: list[dict[str, object]] = []
    for new in (False, True) if head_learning_rate else (False,):
        extra = {"lr": head_learning_rate} if new else {}
        out.append({"params": groups.get((new, True), []), "weight_decay": weight_decay, **extra})
        out.append({"params": groups.get((new, False), []), "weight_decay": 0.0, **extra})
    return out


def make_optimizer(
    model: nn.Module, learning_rate: float, weight_decay: float, *, head_learning_rate: float = 0.0
) -> torch.optim.AdamW:
    """AdamW (eps 1e-8, betas 0.9/0.999, as BERT fine-tuning) over :func:`parameter_groups`
    (``head_learning_rate`` 0: one learning rate for everything)."""
    fused = all(p.is_cuda for p in model.parameters())
    groups = parameter_groups(model, weight_decay, head_learning_rate or None)
    return torch.optim.AdamW(groups, lr=learning_rate, eps=1e-8, fused=fused or None)


def linear_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int) -> LambdaLR:
    """Learning rate factor rising linearly to 1 over ``warmup_steps``, then falling to 0 at
    ``total_steps`` (as ``transformers.get_linear_schedule_with_warmup``, except that the first
    step already runs at ``1 / warmup_steps``: no step is wasted at a learning rate of 0)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return LambdaLR(optimizer, factor)
