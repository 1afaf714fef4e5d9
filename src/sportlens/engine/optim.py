"""Optimizers (no weight decay on norms and biases) and per-step learning-rate schedules."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.optim.lr_scheduler import LambdaLR

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "step", "none")

_NORMS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm,
          nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: decayed weights, and biases/norm parameters/1-D parameters without decay."""
    no_decay_ids = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if isinstance(module, _NORMS) or name.endswith("bias") or p.ndim <= 1:
                no_decay_ids.add(id(p))
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if id(p) not in no_decay_ids]
    no_decay = [p for p in params if id(p) in no_decay_ids]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, name: str = "adamw", lr: float = 1e-3, weight_decay: float = 1e-4,
                    momentum: float = 0.9) -> torch.optim.Optimizer:
    groups = param_groups(model, weight_decay)
    name = name.lower()
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    if name == "adam":  # Adam's decay is L2 in the loss, as in SportNet's eq. (seed 000, sec. 2.6)
        return torch.optim.Adam(groups, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def build_scheduler(optimizer: torch.optim.Optimizer, name: str = "cosine", *, epochs: int,
                    steps_per_epoch: int, warmup_epochs: float = 0, step_size: int = 20,
                    gamma: float = 0.1) -> LambdaLR | None:
    """A ``LambdaLR`` stepped once per optimizer step (``None`` for ``"none"``: constant lr).

    cosine: linear warm-up over ``warmup_epochs``, then cosine decay to 0 at the end of training.
    step: linear warm-up, then lr * gamma ** (epoch // step_size), changing at epoch boundaries.
    """
    name = name.lower()
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    if name == "none":
        return None
    steps_per_epoch = max(1, int(steps_per_epoch))
    total = max(1, int(epochs) * steps_per_epoch)
    warmup = int(round(warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if name == "cosine":
            progress = min(1.0, (step - warmup) / max(1, total - warmup))
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return gamma ** ((step // steps_per_epoch) // max(1, step_size))

    return LambdaLR(optimizer, factor)
