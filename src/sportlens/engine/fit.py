"""``fit``: train, select the best epoch on the validation set, stop early, keep checkpoints.

Model selection and early stopping look at the validation loader only; the test set is never
seen here (seed 003: stop when validation accuracy has not improved for ``patience`` epochs).
"""
from __future__ import annotations

import csv
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data.distributed import DistributedSampler

from sportlens.engine import distributed
from sportlens.engine.checkpoint import atomic_path, load_checkpoint, save_checkpoint
from sportlens.engine.loops import Progress, evaluate, train_one_epoch
from sportlens.engine.optim import build_optimizer, build_scheduler
from sportlens.engine.tasks import Task
from sportlens.errors import InputError


@dataclass(frozen=True)
class FitSettings:
    epochs: int = 60
    optimizer: str = "adamw"  # adamw | adam | sgd
    lr: float = 1e-3
    weight_decay: float = 1e-4  # the L2 term of seed 000's loss; not applied to norms and biases
    momentum: float = 0.9  # sgd only
    schedule: str = "cosine"  # cosine | step | none (per-step LambdaLR)
    warmup_epochs: float = 2.0  # linear warm-up (cosine and step)
    step_size: int = 20  # epochs between lr *= gamma (schedule=step)
    gamma: float = 0.1
    label_smoothing: float = 0.1  # read by whoever builds the ClassificationTask
    grad_clip: float = 1.0  # max gradient norm; 0 = off
    early_stopping_patience: int = 15  # epochs without validation improvement; 0 = off
    seed: int = 0


@dataclass
class FitResult:
    history: list[dict[str, Any]]  # one row per epoch: epoch, lr, train_*, val_*, seconds
    best_epoch: int
    best_val: float  # the task's monitored validation metric at best_epoch
    seconds: float
    best_checkpoint: Path
    last_checkpoint: Path
    stopped_early: bool = False


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch; make cuDNN deterministic (cheap: no global strict mode)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def fit(model: nn.Module, task: Task, train_loader, val_loader, settings: FitSettings, *, run_dir: str | Path,
        checkpoint_meta: dict[str, Any], resume: str | Path | None = None, progress: Progress | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None) -> FitResult:
    """Train ``model`` (already on its device) for ``settings.epochs``; select on ``val_loader`` only.

    ``val_loader`` None: a refit on all training data with settings chosen earlier on a validation split;
    nothing is selected, ``best.pt`` is the last epoch (early stopping cannot trigger).

    ``checkpoint_meta``: model_name, model_kwargs, classes, data_spec, config (see ``save_checkpoint``).
    ``resume``: a ``last.pt`` to continue from. ``on_epoch(row)`` is called after every epoch.
    """
    run_dir, start = Path(run_dir), time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    best_path, last_path = run_dir / "best.pt", run_dir / "last.pt"
    meta = {"model_name": type(model).__name__, "model_kwargs": {}, "classes": [], "data_spec": {},
            "config": {}, **checkpoint_meta}
    net = distributed.wrap(model)  # DDP: the model whose backward averages gradients over processes
    optimizer = build_optimizer(model, settings.optimizer, settings.lr, settings.weight_decay, settings.momentum)
    scheduler = build_scheduler(optimizer, settings.schedule, epochs=settings.epochs,
                                steps_per_epoch=len(train_loader), warmup_epochs=settings.warmup_epochs,
                                step_size=settings.step_size, gamma=settings.gamma)
    state = {"history": [], "best_epoch": 0, "best_key": None, "bad_epochs": 0}
    if resume is not None:
        state = _resume(resume, model, optimizer, scheduler)
    else:
        set_seed(settings.seed)
    sign, patience, stopped = (1.0 if task.monitor_mode == "max" else -1.0), settings.early_stopping_patience, False

    for epoch in range(len(state["history"]) + 1, settings.epochs + 1):
        if patience and state["bad_epochs"] >= patience:
            stopped = True
            break
        lr = optimizer.param_groups[0]["lr"]
        if isinstance(getattr(train_loader, "sampler", None), DistributedSampler):
            train_loader.sampler.set_epoch(epoch)  # a new order each epoch, the same on every rank
        train = train_one_epoch(net, task, train_loader, optimizer, scheduler,
                                grad_clip=settings.grad_clip or None, progress=progress)
        if val_loader is not None:
            val = distributed.on_main(evaluate, model, task, val_loader)  # DDP: rank 0's, for every rank
            scores, val_seconds = {"loss": val.loss, **task.summarize(val.probs, val.labels)}, val.seconds
            # selection: best monitored metric, ties broken by lower val loss; patience: metric only (seed 003)
            key = (sign * scores[task.monitor], -val.loss)
        else:  # a refit on all training data (settings chosen before): no selection, the last epoch wins
            scores, val_seconds, key = {}, 0.0, (float(epoch), 0.0)
        row = {"epoch": epoch, "lr": lr, "train_loss": train["loss"], "train_accuracy": train["accuracy"],
               **{f"val_{k}": v for k, v in scores.items()}, "seconds": train["seconds"] + val_seconds}
        state["history"].append(row)
        best = state["best_key"]
        state["bad_epochs"] = 0 if best is None or key[0] > best[0] else state["bad_epochs"] + 1
        if best is None or key > tuple(best):
            state.update(best_key=key, best_epoch=epoch)
            if distributed.is_main():
                save_checkpoint(best_path, **meta, model=model, epoch=epoch, metrics=row)
        if not distributed.is_main():
            continue  # DDP: rank 0 writes and reports; every rank holds the same weights and state
        save_checkpoint(last_path, **meta, model=model, optimizer=optimizer, scheduler=scheduler, epoch=epoch,
                        metrics=row, extra={**state, "rng": _rng_state(), "settings": asdict(settings)})
        write_history(state["history"], run_dir / "history.csv")
        if on_epoch is not None:
            on_epoch(row)

    if state["history"] and distributed.is_main():
        save_curves(state["history"], run_dir / "curves.png")
    best_val = (state["history"][state["best_epoch"] - 1].get(f"val_{task.monitor}", float("nan"))
                if state["best_epoch"] else float("nan"))
    return FitResult(history=state["history"], best_epoch=state["best_epoch"], best_val=best_val,
                     seconds=time.perf_counter() - start, best_checkpoint=best_path, last_checkpoint=last_path,
                     stopped_early=stopped)


def _resume(path: str | Path, model: nn.Module, optimizer, scheduler) -> dict[str, Any]:
    """Restore weights, optimizer, scheduler and RNG states from ``last.pt``; return the fit state."""
    ckpt = load_checkpoint(path)
    if ckpt.get("optimizer") is None or "history" not in ckpt.get("extra", {}):
        raise InputError(f"{path}: has no training state to resume from (a best.pt?). Resume from last.pt")
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
        optimizer.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, ValueError, KeyError) as e:
        raise InputError(f"{path}: does not match this model/optimizer ({str(e).splitlines()[0]})") from None
    if scheduler is not None and ckpt.get("scheduler") is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    extra = ckpt["extra"]
    _set_rng_state(extra.get("rng"))
    return {k: extra[k] for k in ("history", "best_epoch", "best_key", "bad_epochs")}


def _rng_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(), "numpy": (name, keys.tolist(), pos, has_gauss, cached),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _set_rng_state(rng: dict[str, Any] | None) -> None:
    if not rng:
        return
    random.setstate(rng["python"])
    name, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(rng["cuda"])


def write_history(history: list[dict[str, Any]], path: str | Path) -> None:
    fields = list(dict.fromkeys(k for row in history for k in row))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(history)


def save_curves(history: list[dict[str, Any]], path: str | Path) -> None:
    """Loss (left) and accuracy-like metrics (right) against epoch."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for key in dict.fromkeys(k for row in history for k in row):
        if key in ("epoch", "lr", "seconds"):
            continue
        values = [np.nan if row.get(key) is None else row[key] for row in history]
        ax = loss_ax if key.endswith("loss") else acc_ax
        ax.plot(epochs, values, marker="o", markersize=3, label=key)
    for ax, title in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize=8)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
