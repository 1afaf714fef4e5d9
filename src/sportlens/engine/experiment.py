"""Skeleton action-recognition experiments: one typed config, one function to train, one to evaluate.

``sportlens train CONFIG [--set k=v]`` resolves a ``TrainConfig`` (defaults here, flat YAML
overrides in ``configs/``) and calls ``run_training``; ``sportlens eval recognition`` calls
``evaluate_checkpoint``. Model selection uses a stratified validation split of the TRAINING set;
the official test split is evaluated once, with the best-on-validation checkpoint.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader

from sportlens.data import (ENCODINGS, AugmentSettings, SkeletonClip, kfold_splits, load_penn_action,
                            load_skeleton_dataset, stratified_split)
from sportlens.data.penn import PENN_CLASSES
from sportlens.data.torch_dataset import SkeletonClipDataset
from sportlens.engine import distributed
from sportlens.engine.checkpoint import build_from_checkpoint, check_compatible, load_checkpoint
from sportlens.engine.config import save_resolved_config
from sportlens.engine.fit import FitSettings, fit, set_seed
from sportlens.engine.kfold import cross_validate
from sportlens.engine.loops import evaluate
from sportlens.engine.metrics import (classification_report, count_flops, count_parameters, latency_ms,
                                      save_confusion_matrix)
from sportlens.engine.tasks import TASKS, ClassificationTask, Task
from sportlens.errors import InputError
from sportlens.fsutil import write_json
from sportlens.jsonable import to_jsonable
from sportlens.models import create_model
from sportlens.samples import shared_dir


@dataclass(frozen=True)
class DataSettings:
    dataset: str = "penn-action"  # penn-action | folder (the generic skeleton dataset format)
    root: str = ""  # penn-action: folder holding labels/; default shared/data/penn_action
    skeleton: str = "penn13"
    num_frames: int = 32  # T segments (SportNet sec 2.2)
    encoding: str = "sportnet"  # sportnet (sec 2.4, 5 channels) | sportnet_global (+ clip-level, 9)
    # stratified, taken from the training split; 0 = refit on every training clip with settings chosen
    # before on a validation split (no selection: the last epoch is the model)
    val_fraction: float = 0.1
    # False: person box from the joints, exactly as at inference on a video (no annotated boxes there)
    use_annotated_bbox: bool = False
    batch_size: int = 64
    workers: int = 0
    # evaluation only: also classify the mirrored clip and average the two (flip test-time augmentation, as
    # PoseC3D / pyskl test by default); validation during training uses it too, so selection sees what test sees
    tta_flip: bool = False


@dataclass(frozen=True)
class TrainConfig:
    model: str = "tcn"
    model_kwargs: dict = field(default_factory=dict)
    task: str = "classification"  # classification | stream_ensemble (multi-stream models: one loss per stream)
    data: DataSettings = field(default_factory=DataSettings)
    augment: AugmentSettings = field(default_factory=AugmentSettings)
    fit: FitSettings = field(default_factory=FitSettings)
    out_dir: str = "runs"
    name: str = ""  # run folder name; default <model>-<date>


def default_penn_root() -> Path:
    shared = shared_dir()
    if shared is None:
        raise InputError("Penn Action not found: pass --data DIR (the folder holding labels/NNNN.mat) or put "
                         "shared/ beside the checkout")
    return shared / "data" / "penn_action"


def load_clips(data: DataSettings) -> tuple[list[SkeletonClip], list[str], str]:
    """All clips of the dataset (train, val and test splits), the class list and a loader report."""
    if data.dataset == "penn-action":
        clips, report = load_penn_action(Path(data.root) if data.root else default_penn_root())
        classes = list(PENN_CLASSES)
    elif data.dataset == "folder":
        if not data.root:
            raise InputError("data.dataset=folder needs data.root (a folder with labels.csv)")
        clips, report = load_skeleton_dataset(data.root, skeleton=data.skeleton)
        classes = sorted({c.label for c in clips})
    else:
        raise InputError(f"unknown data.dataset {data.dataset!r}; use penn-action or folder")
    if not data.use_annotated_bbox:
        clips = [_without_bbox(c) for c in clips]
    return clips, classes, str(report)


def _without_bbox(clip: SkeletonClip) -> SkeletonClip:
    return replace(clip, bbox=None)


def make_loader(clips, classes, data: DataSettings, *, train: bool, augment: AugmentSettings | None,
                seed: int) -> DataLoader:
    ds = SkeletonClipDataset(clips, classes, T=data.num_frames, train=train, augment=augment, seed=seed,
                             encoding=data.encoding, flip_view=data.tta_flip and not train)
    sampler = distributed.train_sampler(ds, seed) if train else None
    if sampler is not None:  # DDP: this process's share of every global batch of data.batch_size
        return DataLoader(ds, batch_size=distributed.local_batch_size(data.batch_size), sampler=sampler,
                          num_workers=data.workers, drop_last=len(ds) > data.batch_size)
    return DataLoader(ds, batch_size=data.batch_size, shuffle=train, num_workers=data.workers,
                      drop_last=train and len(ds) > data.batch_size)


def make_task(cfg: TrainConfig) -> Task:
    if cfg.task not in TASKS:
        raise InputError(f"unknown task {cfg.task!r}; choose one of {', '.join(TASKS)}")
    return TASKS[cfg.task](label_smoothing=cfg.fit.label_smoothing)


def channels(data: DataSettings) -> int:
    if data.encoding not in ENCODINGS:
        raise InputError(f"unknown data.encoding {data.encoding!r}; choose one of {', '.join(ENCODINGS)}")
    return ENCODINGS[data.encoding]


def data_spec(data: DataSettings) -> dict[str, Any]:
    return {"skeleton": data.skeleton, "in_channels": channels(data), "encoding": data.encoding,
            "num_frames": data.num_frames,
            "dataset": data.dataset, "bbox": "annotated" if data.use_annotated_bbox else "joints",
            "tta_flip": data.tta_flip}


def run_training(cfg: TrainConfig, *, progress=None, on_epoch: Callable[[dict], None] | None = None,
                 resume: str | Path | None = None) -> Path:
    """Train, select on validation, evaluate once on test. Returns the run folder."""
    clips, classes, report = load_clips(cfg.data)
    train_all = [c for c in clips if c.split == "train"]
    test = [c for c in clips if c.split == "test"]
    if not train_all:
        raise InputError(f"{cfg.data.root or cfg.data.dataset}: no training clips found")
    train, val = (train_all, []) if cfg.data.val_fraction == 0 else \
        stratified_split(train_all, cfg.data.val_fraction, seed=cfg.fit.seed)
    run_dir = Path(cfg.out_dir) / (cfg.name or f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.mkdir(parents=True, exist_ok=True)
    if distributed.is_main():  # DDP: one writer
        save_resolved_config(cfg, run_dir / "config.yaml")
        (run_dir / "data_report.txt").write_text(report + "\n")
    kwargs = {"num_classes": len(classes), "skeleton": cfg.data.skeleton, "in_channels": channels(cfg.data),
              "num_frames": cfg.data.num_frames, **cfg.model_kwargs}
    set_seed(cfg.fit.seed)  # the initial weights too, not only the data order, follow the seed
    model = create_model(cfg.model, **kwargs)
    task = make_task(cfg)
    meta = {"model_name": cfg.model, "model_kwargs": kwargs, "classes": classes, "data_spec": data_spec(cfg.data),
            "config": to_jsonable(asdict(cfg))}
    result = fit(model, task, make_loader(train, classes, cfg.data, train=True, augment=cfg.augment,
                                          seed=cfg.fit.seed),
                 make_loader(val, classes, cfg.data, train=False, augment=None, seed=0) if val else None, cfg.fit,
                 run_dir=run_dir, checkpoint_meta=meta, resume=resume, progress=progress, on_epoch=on_epoch)
    if not distributed.is_main():
        return run_dir  # DDP: rank 0 evaluates the test split and writes metrics.json
    metrics = {"train_seconds": result.seconds, "best_epoch": result.best_epoch, "epochs_run": len(result.history),
               "stopped_early": result.stopped_early, "val_best": result.best_val,
               "clips": {"train": len(train), "val": len(val), "test": len(test)}}
    if test:
        metrics["test"] = evaluate_clips(result.best_checkpoint, test, classes, cfg.data, run_dir)
    write_json(run_dir / "metrics.json", to_jsonable(metrics))
    return run_dir


def run_cross_validation(cfg: TrainConfig, k: int, *, progress=None) -> Path:
    """k-fold cross-validation on the TRAINING split (seed 003 eq. 9); the test split is not touched.
    Writes ``fold<i>/`` runs and ``cv.json`` (per-fold and mean/std validation metrics)."""
    if k < 2:
        raise InputError(f"--folds must be at least 2, got {k}")
    clips, classes, report = load_clips(cfg.data)
    train_all = [c for c in clips if c.split == "train"]
    try:
        folds = kfold_splits(train_all, k, seed=cfg.fit.seed)
    except ValueError as e:  # a class with fewer clips than folds
        raise InputError(f"{cfg.data.root or cfg.data.dataset}: cannot make {k} stratified folds: {e}") from None
    run_dir = Path(cfg.out_dir) / (cfg.name or f"{cfg.model}-cv{k}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.mkdir(parents=True, exist_ok=True)
    save_resolved_config(cfg, run_dir / "config.yaml")
    (run_dir / "data_report.txt").write_text(report + "\n")
    kwargs = {"num_classes": len(classes), "skeleton": cfg.data.skeleton, "in_channels": channels(cfg.data),
              "num_frames": cfg.data.num_frames, **cfg.model_kwargs}
    meta = {"model_name": cfg.model, "model_kwargs": kwargs, "classes": classes, "data_spec": data_spec(cfg.data),
            "config": to_jsonable(asdict(cfg))}
    cross_validate(lambda: create_model(cfg.model, **kwargs), make_task(cfg), folds,
                   lambda part, train: make_loader(part, classes, cfg.data, train=train,
                                                   augment=cfg.augment if train else None, seed=cfg.fit.seed),
                   cfg.fit, run_dir, checkpoint_meta=meta, progress=progress)
    return run_dir


def evaluate_clips(checkpoint: str | Path, clips: list[SkeletonClip], classes: list[str], data: DataSettings,
                   out_dir: Path | None = None) -> dict[str, Any]:
    """Top-1, mean class accuracy, F1, per-class accuracy, confusion matrix, model cost, for ``clips``."""
    ckpt = load_checkpoint(checkpoint)
    check_compatible(ckpt, skeleton=data.skeleton, in_channels=channels(data), num_frames=data.num_frames)
    if list(ckpt["classes"]) != list(classes):
        raise InputError(f"{checkpoint}: trained on classes {ckpt['classes']}, the data has {classes}")
    model = build_from_checkpoint(ckpt).eval()
    res = evaluate(model, ClassificationTask(), make_loader(clips, classes, data, train=False, augment=None, seed=0))
    report = classification_report(res.labels, res.probs, classes)
    example = torch.zeros(1, data.num_frames, _num_joints(data.skeleton), channels(data))
    report.update(params=count_parameters(model), flops=count_flops(model, example),
                  latency_ms=latency_ms(model, example), eval_seconds=res.seconds, clips=len(clips))
    if out_dir is not None:
        save_confusion_matrix(report["confusion_matrix"], classes, out_dir / "confusion_matrix.png",
                              out_dir / "confusion_matrix.csv")
    return report


def evaluate_checkpoint(checkpoint: str | Path, *, dataset: str = "penn-action", root: str = "",
                        split: str = "test", tta_flip: bool | None = None) -> dict[str, Any]:
    """Evaluate a checkpoint on a dataset split with the data settings it was trained with
    (``tta_flip``: None = as trained, True/False = with/without flip test-time augmentation)."""
    ckpt = load_checkpoint(checkpoint)
    spec = ckpt["data_spec"]
    data = DataSettings(dataset=dataset, root=root, skeleton=spec.get("skeleton", "penn13"),
                        num_frames=int(spec.get("num_frames", 32)), encoding=spec.get("encoding", "sportnet"),
                        use_annotated_bbox=spec.get("bbox") == "annotated",
                        tta_flip=bool(spec.get("tta_flip", False)) if tta_flip is None else tta_flip)
    clips, classes, _ = load_clips(data)
    chosen = [c for c in clips if c.split == split]
    if not chosen:
        raise InputError(f"{root or dataset}: no clips in split {split!r}")
    return evaluate_clips(checkpoint, chosen, classes, data)


def _num_joints(skeleton: str) -> int:
    from sportlens.skeletons import get_skeleton

    return get_skeleton(skeleton).num_joints
