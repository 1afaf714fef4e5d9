"""Training and evaluation: tasks, loops, fit, metrics, checkpoints, configs, cross-validation.

Lower layers (``models``, ``data``) never import this package.
"""
from sportlens.engine.checkpoint import (build_from_checkpoint, check_compatible, load_checkpoint,
                                         save_checkpoint)
from sportlens.engine.config import flatten_config, load_config, parse_override, save_resolved_config
from sportlens.engine.fit import FitResult, FitSettings, fit, set_seed
from sportlens.engine.kfold import cross_validate
from sportlens.engine.loops import EvalResult, TrainingDiverged, evaluate, train_one_epoch
from sportlens.engine.metrics import (classification_report, count_flops, count_parameters, latency_ms,
                                      save_confusion_matrix, top_k_accuracy)
from sportlens.engine.optim import build_optimizer, build_scheduler
from sportlens.engine.tasks import ClassificationTask, Task

__all__ = [
    "Task", "ClassificationTask", "build_optimizer", "build_scheduler", "train_one_epoch", "evaluate",
    "EvalResult", "TrainingDiverged", "classification_report", "top_k_accuracy", "save_confusion_matrix",
    "count_parameters", "count_flops", "latency_ms", "save_checkpoint", "load_checkpoint",
    "build_from_checkpoint", "check_compatible", "FitSettings", "FitResult", "fit", "set_seed",
    "load_config", "parse_override", "save_resolved_config", "flatten_config", "cross_validate",
]
