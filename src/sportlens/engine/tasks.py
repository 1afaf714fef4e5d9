"""What a model is trained *for*: the loss, the targets and the predictions of one task.

The loops in ``loops.py`` know nothing about classification; they call a ``Task``. A new kind of
training (quality-score regression, pose forecasting...) is a new ``Task`` subclass, never an
``if model_name == ...`` in a loop.
"""
from __future__ import annotations

import math
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

    def forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """Logits; with a mirrored view (``batch["x_flip"]``, flip test-time augmentation) the log of the two
        views' averaged probabilities, so ``predict`` (softmax) returns that average and the loss stays a
        cross-entropy."""
        logits = model(batch["x"])  # (B, K)
        if "x_flip" not in batch:
            return logits
        logp = torch.stack([logits.log_softmax(-1), model(batch["x_flip"]).log_softmax(-1)])  # (2, B, K)
        return torch.logsumexp(logp, dim=0) - math.log(2.0)

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
        logits = model.member_logits(batch["x"])  # (B, S, K)
        if "x_flip" in batch:  # flip test-time augmentation: the mirrored view's members join the average
            logits = torch.cat([logits, model.member_logits(batch["x_flip"])], dim=1)  # (B, 2S, K)
        return logits

    def loss(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        b, s, k = outputs.shape
        weight = None if self.class_weights is None else self.class_weights.to(outputs.device, outputs.dtype)
        return F.cross_entropy(outputs.reshape(b * s, k), self.targets(batch).repeat_interleave(s), weight=weight,
                               label_smoothing=self.label_smoothing)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.float().softmax(dim=-1).mean(dim=1)  # (B, K)

    def correct(self, outputs: torch.Tensor, batch: Batch) -> int:
        return int((self.predict(outputs).argmax(dim=1) == self.targets(batch)).sum())


class RegressionTask(Task):
    """Scalar regression (e.g. a movement-quality score, ``assess.quality_seq``): the model's single output
    (B, 1) or (B,) against ``batch["target"]`` (float), mean squared error (``loss="mse"``) or Huber
    (``loss="huber"``, ``delta``). Targets are expected on a standardised scale (the caller scales and
    unscales them). ``predict`` gives (B,) values; validation: mean loss (monitored, lower is better), RMSE
    and MAE."""

    monitor = "loss"
    monitor_mode = "min"

    def __init__(self, loss: str = "mse", delta: float = 1.0):
        if loss not in ("mse", "huber"):
            raise ValueError(f"loss must be mse or huber, got {loss!r}")
        self.loss_name, self.delta = loss, float(delta)

    def targets(self, batch: Batch) -> torch.Tensor:
        return batch["target"]

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.float().reshape(len(outputs), -1)[:, 0]

    def loss(self, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
        pred, target = self.predict(outputs), self.targets(batch).float()
        if self.loss_name == "huber":
            return F.huber_loss(pred, target, delta=self.delta)
        return F.mse_loss(pred, target)

    def summarize(self, predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        if len(targets) == 0:
            return {"rmse": float("nan"), "mae": float("nan")}
        err = np.asarray(predictions, dtype=np.float64) - np.asarray(targets, dtype=np.float64)
        return {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err)))}

    def __repr__(self) -> str:
        return f"RegressionTask(loss={self.loss_name!r}, delta={self.delta})"


# TrainConfig.task -> Task class (experiment files say ``task: stream_ensemble``)
TASKS = {"classification": ClassificationTask, "stream_ensemble": StreamEnsembleTask}


# ---------------------------------------------------------------- video models (models/_common.VideoModel)
def _video_inputs(model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
    """The batch tensors a video model takes, by the names in its ``inputs`` (e.g. rgb, flow)."""
    missing = [k for k in model.inputs if k not in batch]
    if missing:
        raise KeyError(f"the batch lacks {missing} needed by {type(model).__name__} (inputs={model.inputs}); "
                       f"it has {sorted(batch)}")
    return {k: batch[k] for k in model.inputs}


class VideoClassificationTask(ClassificationTask):
    """Classification for the video models: ``model(**{name: batch[name] for name in model.inputs})``."""

    def forward(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return model(**_video_inputs(model, batch))


class ActionPoseOutput(tuple):
    """(logits (B, K), heatmaps (B, T, V, h, w)); ``detach()`` like a tensor, for the training loop."""

    def __new__(cls, logits: torch.Tensor, heatmaps: torch.Tensor) -> "ActionPoseOutput":
        return super().__new__(cls, (logits, heatmaps))

    @property
    def logits(self) -> torch.Tensor:
        return self[0]

    @property
    def heatmaps(self) -> torch.Tensor:
        return self[1]

    def detach(self) -> "ActionPoseOutput":
        return ActionPoseOutput(self[0].detach(), self[1].detach())


def elastic_net_heatmap_loss(pred: torch.Tensor, target: torch.Tensor,
                             mask: torch.Tensor | None = None) -> torch.Tensor:
    """Seed 001 eq. 7, ``L_p = 1/N_j sum_j (||p^_j - p_j||_1 + ||p^_j - p_j||_2^2)``, on heatmaps.

    ``pred``, ``target`` (B, T, V, h, w); each (frame, joint) map is one p_j, its norms summed over the
    h*w pixels; the mean runs over the N_j maps with ``mask`` (B, T, V) True (visible joints; None =
    all). No visible joint -> 0 (still connected to ``pred``'s graph).
    """
    if pred.shape != target.shape or pred.dim() < 3:
        raise ValueError(f"pred and target must be (..., V, h, w) of one shape, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    diff = (pred - target.to(pred.dtype)).flatten(-2)  # (..., V, h*w)
    per_joint = diff.abs().sum(-1) + diff.pow(2).sum(-1)  # (..., V): L1 + squared L2 of eq. 7
    if mask is None:
        return per_joint.mean()
    mask = mask.to(torch.bool)
    if mask.shape != per_joint.shape:
        raise ValueError(f"heatmap_mask must be {tuple(per_joint.shape)}, got {tuple(mask.shape)}")
    n = mask.sum()
    return (per_joint * mask).sum() / n.clamp_min(1)


class ActionPoseTask(ClassificationTask):
    """HICNN-PSTA's multi-task training (seed 001 sec III.B): cross-entropy on the action logits plus
    ``pose_weight`` x the elastic-net heatmap loss of eq. 7 (``elastic_net_heatmap_loss``).

    The batch has the model's inputs (``rgb``), ``label``, ``heatmaps`` (B, T, V, h, w) float targets
    (``sportlens.data.heatmaps.gaussian_heatmaps``) and ``heatmap_mask`` (B, T, V) bool (visible
    joints). The seed gives no weight between the two losses: ``pose_weight`` = 1 is plain summation.
    Eq. 7's norms sum over the pixels of a map, so the pose term grows with the heatmap area; lower
    ``pose_weight`` for large maps. predict/correct/summarize use the logits only.
    """

    def __init__(self, pose_weight: float = 1.0, label_smoothing: float = 0.0,
                 class_weights: Sequence[float] | torch.Tensor | None = None):
        super().__init__(label_smoothing, class_weights)
        if pose_weight < 0:
            raise ValueError(f"pose_weight must be >= 0, got {pose_weight}")
        self.pose_weight = float(pose_weight)

    def forward(self, model: nn.Module, batch: Batch) -> ActionPoseOutput:
        return ActionPoseOutput(*model.forward_multitask(**_video_inputs(model, batch)))

    def pose_loss(self, outputs: ActionPoseOutput, batch: Batch) -> torch.Tensor:
        return elastic_net_heatmap_loss(outputs[1], batch["heatmaps"], batch.get("heatmap_mask"))

    def loss(self, outputs: ActionPoseOutput, batch: Batch) -> torch.Tensor:
        ce = super().loss(outputs[0], batch)
        return ce + self.pose_weight * self.pose_loss(outputs, batch)

    def predict(self, outputs: ActionPoseOutput) -> torch.Tensor:
        return super().predict(outputs[0])

    def correct(self, outputs: ActionPoseOutput, batch: Batch) -> int:
        return super().correct(outputs[0], batch)

    def __repr__(self) -> str:
        return (f"ActionPoseTask(pose_weight={self.pose_weight}, label_smoothing={self.label_smoothing}, "
                f"class_weights={self.class_weights})")


TASKS["video_classification"] = VideoClassificationTask
TASKS["action_pose"] = ActionPoseTask
