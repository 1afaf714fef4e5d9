"""k-fold cross-validation (seed 003, eq. 9): Performance = 1/k * sum_i Evaluate(S_i, S \\ S_i)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch.nn as nn
from torch.utils.data import Dataset

from sportlens.engine.fit import FitSettings, fit, set_seed
from sportlens.engine.tasks import Task
from sportlens.fsutil import write_json


def cross_validate(make_model: Callable[[], nn.Module], task: Task, folds: Sequence[tuple[Dataset, Dataset]],
                   make_loader: Callable[[Dataset, bool], Any], settings: FitSettings, run_dir: str | Path, *,
                   checkpoint_meta: dict[str, Any] | None = None, progress=None) -> dict[str, Any]:
    """Fit a fresh model per fold (``make_loader(dataset, train)`` builds the loaders) and average
    each fold's best validation metrics. Writes ``fold<i>/`` runs and ``cv.json`` under ``run_dir``."""
    run_dir = Path(run_dir)
    per_fold = []
    for i, (train_ds, val_ds) in enumerate(folds):
        set_seed(settings.seed + i)  # a fresh, reproducible initialisation per fold
        result = fit(make_model(), task, make_loader(train_ds, True), make_loader(val_ds, False), settings,
                     run_dir=run_dir / f"fold{i}", checkpoint_meta=checkpoint_meta or {}, progress=progress)
        best = result.history[result.best_epoch - 1]
        per_fold.append({"fold": i, "best_epoch": result.best_epoch, "n_train": len(train_ds), "n_val": len(val_ds),
                         "val": {k[4:]: v for k, v in best.items() if k.startswith("val_")},
                         "checkpoint": str(result.best_checkpoint)})
    metrics = sorted({k for fold in per_fold for k in fold["val"]})
    values = {m: [f["val"][m] for f in per_fold if f["val"].get(m) is not None] for m in metrics}
    summary = {
        "k": len(per_fold), "monitor": task.monitor, "folds": per_fold,
        "mean": {m: float(np.mean(v)) if v else None for m, v in values.items()},
        "std": {m: float(np.std(v)) if v else None for m, v in values.items()},  # population std over folds
    }
    write_json(run_dir / "cv.json", _finite(summary))
    return summary


def _finite(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
