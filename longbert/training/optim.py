"""AdamW with BERT's parameter groups and a linear warm-up / linear decay schedule."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """Two groups: weights with decay; biases and LayerNorm (any 1-D parameter) without.

    Judging by dimension rather than by name catches every LayerNorm and bias whatever the
    module calls it (BERT's ``LayerNorm.weight``, a head's ``bias``...); embedding tables are 2-D
    and decay as in the original BERT recipe.
    """
    decay, no_decay = [], []
    for _, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.ndim < 2 else decay).append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def make_optimizer(model: nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW (eps 1e-8, betas 0.9/0.999, as BERT fine-tuning) over :func:`parameter_groups`."""
    fused = all(p.is_cuda for p in model.parameters())
    return torch.optim.AdamW(
        parameter_groups(model, weight_decay), lr=learning_rate, eps=1e-8, fused=fused or None
    )


def linear_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int) -> LambdaLR:
    """Learning rate factor rising linearly to 1 over ``warmup_steps``, then falling to 0 at
    ``total_steps`` (as ``transformers.get_linear_schedule_with_warmup``, except that the first
    step already runs at ``1 / warmup_steps``: no step is wasted at a learning rate of 0)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return LambdaLR(optimizer, factor)
