"""One training epoch and one evaluation pass (after torchvision's references/classification)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import torch
import torch.nn as nn

from sportlens.engine import distributed
from sportlens.engine.tasks import Task
from sportlens.errors import SportlensError

Progress = Callable[[int, int, float, "float | None"], None]  # (step, n_steps, running_loss, running_acc)


class TrainingDiverged(SportlensError):
    """The loss became NaN/inf: the learning rate is usually too high."""


@dataclass
class EvalResult:
    loss: float
    probs: np.ndarray  # (N, K): task.predict(outputs), e.g. class probabilities
    labels: np.ndarray  # (N,): task.targets(batch)
    seconds: float


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device


def train_one_epoch(model: nn.Module, task: Task, loader: Iterable, optimizer: torch.optim.Optimizer,
                    scheduler: Any = None, *, grad_clip: float | None = None,
                    progress: Progress | None = None) -> dict[str, float | None]:
    """Train for one pass over ``loader``; the scheduler (if any) steps after every batch."""
    model.train()
    device, start = _device(model), time.perf_counter()
    loss_sum, n_seen, n_correct, has_acc = 0.0, 0, 0, True
    n_steps = len(loader)  # type: ignore[arg-type]
    for step, batch in enumerate(loader, 1):
        batch = to_device(batch, device)
        outputs = task.forward(model, batch)
        loss = task.loss(outputs, batch)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"training diverged: loss is {loss.item()} at step {step}/{n_steps}. "
                                   "Lower the learning rate (fit.lr) or enable gradient clipping (fit.grad_clip)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()

        n = len(task.targets(batch))
        loss_sum, n_seen = loss_sum + loss.item() * n, n_seen + n
        correct = task.correct(outputs.detach(), batch)
        has_acc = has_acc and correct is not None
        n_correct += correct or 0
        if progress is not None:
            progress(step, n_steps, loss_sum / n_seen, n_correct / n_seen if has_acc else None)
    loss_sum, n_seen, n_correct = distributed.all_reduce_sums(loss_sum, n_seen, n_correct)  # DDP: all ranks
    return {"loss": loss_sum / n_seen if n_seen else math.nan,
            "accuracy": n_correct / n_seen if has_acc and n_seen else None,
            "seconds": time.perf_counter() - start}


def evaluate(model: nn.Module, task: Task, loader: Iterable) -> EvalResult:
    """Mean loss plus all predictions/targets as numpy arrays (in loader order)."""
    model.eval()
    device, start = _device(model), time.perf_counter()
    loss_sum, n_seen, preds, targets = 0.0, 0, [], []
    with torch.inference_mode():
        for batch in loader:
            batch = to_device(batch, device)
            outputs = task.forward(model, batch)
            target = task.targets(batch)
            loss_sum += task.loss(outputs, batch).item() * len(target)
            n_seen += len(target)
            preds.append(task.predict(outputs).cpu().numpy())
            targets.append(target.cpu().numpy())
    if not n_seen:
        raise ValueError("evaluate() got an empty loader")
    return EvalResult(loss=loss_sum / n_seen, probs=np.concatenate(preds), labels=np.concatenate(targets),
                      seconds=time.perf_counter() - start)
