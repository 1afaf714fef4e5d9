"""What a model is trained *for*: the loss, the targets and the predictions of one task.

The loops in ``loops.py`` know nothing about classification; they call a ``Task``. A new kind of
training (quality-score regression, pose forecasting...) is a new ``Task`` subclass, never an
``if model_name == ...`` in a loop.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

Batch = dict[str, Any]


class Task:
    """Base class. Subclasses override ``loss`` (and usually ``predict``/``summarize``).

    ``monitor`` names the key of ``summarize`` that selects the best epoch (validation only), and
    ``monitor_mode`` says whether higher (``"max"``) or lower (``"min"``) is better.
    """

    monitor: str = "loss"
    monitor_mode: str = "min"

    def forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """Run the model on a batch (override when a model needs more than ``batch["x"]``)."""
        return model(batch["x"])

    def targets(self, batch: Batch) -> torch.Tensor:
        return batch["label"]

    def loss(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        """Model outputs -> what is stored/evaluated (e.g. probabilities)."""
        return outputs

    def correct(self, outputs: torch.Tensor, batch: Batch) -> int | None:
        """Number of correct predictions in the batch, or None when accuracy does not apply."""
        return None

    def summarize(self, predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        """Cheap per-epoch validation metrics (plain floats) from ``evaluate``'s arrays."""
        return {}


class ClassificationTask(Task):
    """Softmax classification: cross-entropy with optional label smoothing and class weights.

    The L2 term of SportNet's loss (seed 000, sec. 2.6) is the optimizer's weight decay.
    """

    monitor = "mean_class_accuracy"  # robust to class imbalance (seed 003 reports per-class results)
    monitor_mode = "max"

    def __init__(self, label_smoothing: float = 0.0, class_weights: Sequence[float] | torch.Tensor | None = None):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self.class_weights = (None if class_weights is None
                              else torch.as_tensor(class_weights, dtype=torch.float32))

    def loss(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        weight = None if self.class_weights is None else self.class_weights.to(outputs.device, outputs.dtype)
        return F.cross_entropy(outputs, self.targets(batch), weight=weight,
                               label_smoothing=self.label_smoothing)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.float().softmax(dim=1)

    def correct(self, outputs: torch.Tensor, batch: Batch) -> int:
        return int((outputs.argmax(dim=1) == self.targets(batch)).sum())

    def summarize(self, predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        if len(targets) == 0:
            return {"accuracy": float("nan"), "mean_class_accuracy": float("nan")}
        pred = predictions.argmax(axis=1)
        per_class = [float((pred[targets == k] == k).mean()) for k in np.unique(targets)]
        return {"accuracy": float((pred == targets).mean()), "mean_class_accuracy": float(np.mean(per_class))}

    def __repr__(self) -> str:
        return f"ClassificationTask(label_smoothing={self.label_smoothing}, class_weights={self.class_weights})"


class StreamEnsembleTask(ClassificationTask):
    """Multi-stream ensembles (``models/ensemble.py``): each member's own cross-entropy, averaged, so
    every stream learns as if alone; predictions are the members' averaged probabilities."""

    def forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return model.member_logits(batch["x"])  # (B, S, K)

    def loss(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        b, s, k = outputs.shape
        weight = None if self.class_weights is None else self.class_weights.to(outputs.device, outputs.dtype)
        return F.cross_entropy(outputs.reshape(b * s, k), self.targets(batch).repeat_interleave(s), weight=weight,
                               label_smoothing=self.label_smoothing)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.float().softmax(dim=-1).mean(dim=1)  # (B, K)

    def correct(self, outputs: torch.Tensor, batch: Batch) -> int:
        return int((self.predict(outputs).argmax(dim=1) == self.targets(batch)).sum())


# TrainConfig.task -> Task class (experiment files say ``task: stream_ensemble``)
TASKS = {"classification": ClassificationTask, "stream_ensemble": StreamEnsembleTask}
