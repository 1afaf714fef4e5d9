"""Video-model experiments (RGB, RGB+pose, flow): the video twin of ``experiment.py``.

``sportlens train CONFIG`` comes here when the config's model is a ``VideoModel``. Same protocol as
the skeleton experiments: a typed config (defaults here, flat YAML overrides in ``configs/``), a
stratified validation split of the training clips for model selection, the test split evaluated
once with the best-on-validation checkpoint. Datasets: ``synthetic`` (rendered people, generated
here and deterministic: the proof that a model learns when no real video dataset is present),
``penn-action-frames``, ``ucf101``, ``hmdb51`` (official layouts) and ``folder`` (videos + labels.csv).
"""
from __future__ import annotations

import inspect
import warnings
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from sportlens.data import stratified_split
from sportlens.data import video_datasets as vd
from sportlens.data.synthetic_video import SyntheticVideoSpec, make_synthetic_dataset
from sportlens.engine.checkpoint import build_from_checkpoint, load_checkpoint
from sportlens.engine.config import save_resolved_config
from sportlens.engine.export import PositionalInputs, example_inputs
from sportlens.engine.fit import FitSettings, fit, set_seed
from sportlens.engine.loops import evaluate
from sportlens.engine.metrics import (classification_report, count_flops, count_parameters, latency_ms,
                                      save_confusion_matrix)
from sportlens.engine.tasks import TASKS, Task
from sportlens.errors import InputError
from sportlens.fsutil import write_json
from sportlens.jsonable import to_jsonable
from sportlens.models import create_model
from sportlens.models._common import VideoModel
from sportlens.models.registry import list_models, model_entrypoint


@dataclass(frozen=True)
class VideoDataSettings:
    dataset: str = "synthetic"  # synthetic | penn-action-frames | ucf101 | hmdb51 | folder
    root: str = ""  # the dataset folder (official layout); unused for synthetic
    split: int = 1  # ucf101 / hmdb51: which official split (1-3)
    num_frames: int = 8  # T segments (SportNet sec 2.2)
    image_size: int = 112  # person-centred square crop side (SportNet uses 224)
    flow_stack: int = 5  # k stacked x/y flow fields per sampled frame (flow models)
    val_fraction: float = 0.15  # stratified, from the training split (real datasets)
    batch_size: int = 8
    workers: int = 0
    cache_dir: str = ""  # decoded, resized frames cached here (and optical flow)
    synthetic_classes: int = 6
    synthetic_clips_per_class: int = 60
    synthetic_size: int = 128  # rendered frame side
    synthetic_seed: int = 0


@dataclass(frozen=True)
class VideoTrainConfig:
    model: str = "c3d_attn"
    model_kwargs: dict = field(default_factory=dict)
    task: str = "video_classification"  # video_classification | action_pose (hicnn_psta: + heatmaps)
    data: VideoDataSettings = field(default_factory=VideoDataSettings)
    fit: FitSettings = field(default_factory=FitSettings)
    out_dir: str = "runs"
    name: str = ""


def is_video_model(name: str) -> bool:
    """True when the registered model ``name`` is a ``VideoModel`` (built once at its defaults:
    cheaper than keeping a second list of names that could drift from the registry)."""
    if name not in list_models():
        return False
    try:
        with torch.device("meta"):  # no memory, no initialisation cost
            return isinstance(create_model(name), VideoModel)
    except (RuntimeError, NotImplementedError):  # an initialiser that needs real tensors
        return isinstance(create_model(name), VideoModel)


def load_samples(data: VideoDataSettings) -> tuple[list, list[str], str]:
    """All samples (train/val/test), the class order, and the loader's report as text."""
    if data.dataset == "synthetic":
        spec = SyntheticVideoSpec(num_classes=data.synthetic_classes, clips_per_class=data.synthetic_clips_per_class,
                                  size=(data.synthetic_size, data.synthetic_size), seed=data.synthetic_seed)
        samples = make_synthetic_dataset(spec)
        classes = sorted({s.label for s in samples})
        counts = {k: sum(s.split == k for s in samples) for k in ("train", "val", "test")}
        return samples, classes, (f"synthetic: {len(samples)} clips ({counts}), {len(classes)} classes, "
                                  f"{data.synthetic_size}px, seed {data.synthetic_seed}")
    if not data.root:
        raise InputError(f"data.dataset={data.dataset} needs data.root (the dataset folder); "
                         "set it in the config or with --set data.root=DIR")
    loaders: dict[str, Callable] = {"penn-action-frames": lambda: vd.load_penn_action_frames(data.root),
                                    "ucf101": lambda: vd.load_ucf101(data.root, split=data.split),
                                    "hmdb51": lambda: vd.load_hmdb51(data.root, split=data.split),
                                    "folder": lambda: vd.load_video_folder(data.root)}
    if data.dataset not in loaders:
        raise InputError(f"unknown data.dataset {data.dataset!r}; use synthetic, {', '.join(loaders)}")
    samples, report = loaders[data.dataset]()
    return samples, list(report.classes), str(report)


def make_loader(samples, classes, data: VideoDataSettings, model: VideoModel, *, train: bool,
                heatmap_size: int = 0) -> DataLoader:
    ds = vd.VideoClipDataset(samples, classes, num_frames=data.num_frames, image_size=data.image_size, train=train,
                          inputs=tuple(model.inputs), seed=0, cache_dir=data.cache_dir or None,
                          heatmap_size=heatmap_size, flow_stack=data.flow_stack)
    return DataLoader(ds, batch_size=data.batch_size, shuffle=train, num_workers=data.workers,
                      drop_last=train and len(ds) > data.batch_size)


def build_model(cfg: VideoTrainConfig, num_classes: int) -> tuple[VideoModel, dict]:
    params = inspect.signature(model_entrypoint(cfg.model)).parameters
    wanted = {"num_classes": num_classes, "num_frames": cfg.data.num_frames, "image_size": cfg.data.image_size,
              "flow_stack": cfg.data.flow_stack}
    unknown = sorted(set(cfg.model_kwargs) - set(params))
    if unknown:
        raise InputError(f"model_kwargs {', '.join(unknown)} not accepted by {cfg.model}; it takes "
                         f"{', '.join(params)}")
    kwargs = {**{k: v for k, v in wanted.items() if k in params}, **cfg.model_kwargs}
    return create_model(cfg.model, **kwargs), kwargs


def make_task(cfg: VideoTrainConfig) -> Task:
    if cfg.task not in TASKS:
        raise InputError(f"unknown task {cfg.task!r}; choose one of {', '.join(TASKS)}")
    return TASKS[cfg.task](label_smoothing=cfg.fit.label_smoothing)


def run_video_training(cfg: VideoTrainConfig, *, progress=None, on_epoch=None, resume=None) -> Path:
    """Train, select on validation, evaluate once on test. Returns the run folder."""
    samples, classes, report = load_samples(cfg.data)
    train_all = [s for s in samples if s.split == "train"]
    val = [s for s in samples if s.split == "val"]
    test = [s for s in samples if s.split == "test"]
    if not train_all:
        raise InputError(f"{cfg.data.root or cfg.data.dataset}: no training clips found")
    train = train_all
    if not val:  # real datasets have no validation split: take one from the training clips
        train, val = stratified_split(train_all, cfg.data.val_fraction, seed=cfg.fit.seed)
    set_seed(cfg.fit.seed)  # the initial weights too, not only the data order, follow the seed
    model, kwargs = build_model(cfg, len(classes))
    task = make_task(cfg)
    hm = int(getattr(model, "heatmap_size", 0)) if cfg.task == "action_pose" else 0
    run_dir = Path(cfg.out_dir) / (cfg.name or f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.mkdir(parents=True, exist_ok=True)
    save_resolved_config(cfg, run_dir / "config.yaml")
    (run_dir / "data_report.txt").write_text(report + "\n")
    spec = {"kind": "video", "inputs": list(model.inputs), "num_frames": cfg.data.num_frames,
            "image_size": cfg.data.image_size, "flow_stack": cfg.data.flow_stack, "dataset": cfg.data.dataset,
            "skeleton": model.skeleton, "in_channels": model.in_channels}
    meta = {"model_name": cfg.model, "model_kwargs": kwargs, "classes": classes, "data_spec": spec,
            "config": to_jsonable(asdict(cfg))}
    result = fit(model, task, make_loader(train, classes, cfg.data, model, train=True, heatmap_size=hm),
                 make_loader(val, classes, cfg.data, model, train=False, heatmap_size=hm), cfg.fit,
                 run_dir=run_dir, checkpoint_meta=meta, resume=resume, progress=progress, on_epoch=on_epoch)
    metrics = {"train_seconds": result.seconds, "best_epoch": result.best_epoch, "epochs_run": len(result.history),
               "stopped_early": result.stopped_early, "val_best": result.best_val,
               "clips": {"train": len(train), "val": len(val), "test": len(test)}}
    if test:
        metrics["test"] = evaluate_video(result.best_checkpoint, test, classes, cfg, task, hm, run_dir)
    write_json(run_dir / "metrics.json", to_jsonable(metrics))
    return run_dir


def evaluate_video(checkpoint, samples, classes, cfg: VideoTrainConfig, task: Task, heatmap_size: int,
                   out_dir: Path | None = None) -> dict[str, Any]:
    """Top-1, mean class accuracy, F1, confusion matrix, cost; PCK for models with a pose head."""
    model = build_from_checkpoint(load_checkpoint(checkpoint)).eval()
    loader = make_loader(samples, classes, cfg.data, model, train=False, heatmap_size=heatmap_size)
    res = evaluate(model, task, loader)
    report = classification_report(res.labels, res.probs, classes)
    example = example_inputs(model)
    wrapped = PositionalInputs(model, list(example)).eval()
    report.update(params=count_parameters(model), flops=count_flops(wrapped, tuple(example.values())),
                  latency_ms=latency_ms(wrapped, tuple(example.values())), eval_seconds=res.seconds,
                  clips=len(samples))
    if heatmap_size:
        report["pck"] = pose_head_pck(model, loader)
    if out_dir is not None:
        save_confusion_matrix(report["confusion_matrix"], classes, out_dir / "confusion_matrix.png",
                              out_dir / "confusion_matrix.csv")
    return report


def pose_head_pck(model, loader, alphas=(0.2, 0.1, 0.05)) -> dict[str, float]:
    """PCK@alpha of a pose head (heatmap argmax vs the ground-truth keypoints of visible joints;
    reference length = the larger side of the box around the frame's visible joints)."""
    from sportlens.engine.metrics import heatmap_argmax, pck

    preds, gts, vis = [], [], []
    with torch.inference_mode():
        for batch in loader:
            _, heat = model.forward_multitask(**{k: batch[k] for k in model.inputs})  # (B, T, V, h, w)
            scale = model.image_size / heat.shape[-1]
            # heatmap pixel centres -> crop pixels: the inverse of VideoClipDataset's target mapping
            preds.append((heatmap_argmax(heat).reshape(-1, heat.shape[2], 2) + 0.5) * scale - 0.5)
            gts.append(batch["keypoints"].reshape(-1, heat.shape[2], 2).numpy())
            vis.append(batch["visibility"].reshape(-1, heat.shape[2]).numpy().astype(bool))
    pred, gt, v = np.concatenate(preds), np.concatenate(gts), np.concatenate(vis)
    ref = _reference_lengths(gt, v)
    return {f"pck@{a}": pck(pred, gt, v, ref, a) for a in alphas}


def _reference_lengths(gt: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """(N,) larger side of the box around each frame's visible joints (1 where none is visible)."""
    big = np.where(vis[..., None], gt, np.nan)  # (N, V, 2)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames
        side = np.nanmax(np.nanmax(big, axis=1) - np.nanmin(big, axis=1), axis=1)
    return np.where(np.isfinite(side) & (side > 0), side, 1.0)
