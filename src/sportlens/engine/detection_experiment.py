"""Detector experiments (``sportlens train-detector CONFIG``): train, select on validation, test once.

Protocol: a typed config (``DetectorTrainConfig``; defaults here, flat YAML overrides in ``configs/``
through ``engine.config.load_config``), training on the train split with AdamW (seed 002 Table 2:
lr 0.001, weight decay 0.0005, momentum = beta1 0.937; no decay on norms and biases) and a cosine
schedule with linear warm-up (optionally bounded by ``time_limit_s``, the schedule then following the
elapsed-time fraction),
validation mAP@0.5:0.95 every ``eval_every`` epochs for model selection (``best.pt``), then the test
split evaluated once with the best checkpoint. Data: ``synthetic`` (generated scenes, three
disjoint seeds for train / val / test; written as a COCO folder when ``synthetic_write_coco`` so the
COCO loader is exercised) or ``coco`` (``train_json``/``val_json``/``test_json`` + image folders).

The run folder holds ``config.yaml``, ``history.csv``, ``best.pt``, ``last.pt`` and ``metrics.json``:
precision, recall, mAP@0.5, mAP@0.5:0.95 (test and best validation), FPS at batch 1 (median forward +
decode + NMS latency on this machine), parameters, FLOPs (one forward at ``image_size``), timings.

``fit`` from ``engine/fit.py`` is not reused: its evaluation step collects class probabilities,
while a detector is selected on mAP computed from decoded, NMS-filtered boxes.
"""
from __future__ import annotations

import csv
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from sportlens.data.detection_data import (DetectionDataset, DetectionSample, collate_detection, generate_scenes,
                                           load_coco, write_coco_folder)
from sportlens.engine.checkpoint import build_from_checkpoint, load_checkpoint, save_checkpoint
from sportlens.engine.config import save_resolved_config
from sportlens.engine.detection import BOX_LOSSES, DetectionLoss, LossWeights, detection_metrics, predict
from sportlens.engine.fit import set_seed
from sportlens.engine.metrics import count_flops, count_parameters
from sportlens.errors import InputError
from sportlens.fsutil import write_json
from sportlens.models import create_model
from sportlens.models._common import DetectorModel


@dataclass(frozen=True)
class DetectorTrainConfig:
    model: str = "yolov5s_cbam"
    model_kwargs: dict = field(default_factory=dict)  # e.g. width, depth, cbam, swin
    image_size: int = 160  # letterboxed input side (multiple of 32)
    box_loss: str = "ciou_improved"  # iou | ciou (eq. 5-7) | ciou_improved (eq. 8) | siou
    box_gain: float = 0.05  # seed 002 Table 2 "loss coefficient"
    obj_gain: float = 1.0
    cls_gain: float = 0.5
    anchor_t: float = 4.0  # seed 002 Table 2 "target aspect ratio"
    # data
    dataset: str = "synthetic"  # synthetic | coco
    train_json: str = ""
    train_images: str = ""
    val_json: str = ""
    val_images: str = ""
    test_json: str = ""
    test_images: str = ""
    synthetic_train: int = 1200
    synthetic_val: int = 150
    synthetic_test: int = 300
    synthetic_seed: int = 0  # train uses this seed, val seed + 1, test seed + 2 (disjoint scenes)
    synthetic_write_coco: bool = False  # write the generated splits as COCO folders and read them back
    # optimisation
    epochs: int = 30
    batch_size: int = 16
    lr: float = 0.001  # seed 002 Table 2
    weight_decay: float = 0.0005  # seed 002 Table 2
    momentum: float = 0.937  # seed 002 Table 2 (Adam beta1)
    warmup_epochs: float = 1.0
    time_limit_s: float = 0.0  # > 0: stop after this much training time; the lr schedule then follows
    #                            the larger of the step and time fractions, so it anneals fully either way
    grad_clip: float = 10.0
    augment: bool = True
    eval_every: int = 2  # validation mAP every n epochs (and at the last)
    # evaluation
    conf_threshold: float = 0.001  # for mAP; the detector's own default is higher
    nms_iou: float = 0.6
    seed: int = 0
    threads: int = 0  # torch intra-op threads; 0 = leave as is
    out_dir: str = "runs"
    name: str = ""


def _splits(cfg: DetectorTrainConfig, run_dir: Path) -> dict[str, list[DetectionSample]]:
    if cfg.dataset == "synthetic":
        sizes = {"train": cfg.synthetic_train, "val": cfg.synthetic_val, "test": cfg.synthetic_test}
        out = {k: generate_scenes(n, seed=cfg.synthetic_seed + i) for i, (k, n) in enumerate(sizes.items())}
        if cfg.synthetic_write_coco:
            for k, samples in out.items():
                out[k] = load_coco(write_coco_folder(samples, run_dir / "data" / k))
        return out
    if cfg.dataset == "coco":
        out = {}
        for k in ("train", "val", "test"):
            js, im = getattr(cfg, f"{k}_json"), getattr(cfg, f"{k}_images")
            if js:
                out[k] = load_coco(js, im or None)
        if "train" not in out or "val" not in out:
            raise InputError("dataset coco needs train_json and val_json (and their image folders)")
        return out
    raise InputError(f"unknown dataset {cfg.dataset!r}; choose synthetic or coco")


def evaluate_detector(model: torch.nn.Module, samples: list[DetectionSample], image_size: int, *,
                      conf_threshold: float = 0.001, nms_iou: float = 0.6, batch_size: int = 16) -> dict:
    """mAP etc. of ``model`` on ``samples``, in letterboxed pixels (IoU is scale-invariant)."""
    loader = DataLoader(DetectionDataset(samples, image_size), batch_size=batch_size, collate_fn=collate_detection)
    dets, gts = [], []
    device = next(model.parameters()).device
    model.eval()
    for batch in loader:
        out = predict(model, batch["image"].to(device), conf_threshold, nms_iou)
        t = batch["targets"]
        for i, d in enumerate(out):
            dets.append(d[:, :5].cpu().numpy())
            gts.append(t[t[:, 0] == i, 2:6].numpy())
    return detection_metrics(dets, gts)


def measure_fps(model: torch.nn.Module, image_size: int, repeats: int = 20,
                image: torch.Tensor | None = None) -> float:
    """Images per second at batch 1: forward + decode + NMS (median of ``repeats``) on ``image``
    (1, 3, S, S), e.g. a test image (random noise, the default, gives unrealistically many candidates)."""
    device = next(model.parameters()).device
    x = image.to(device) if image is not None else torch.rand(1, 3, image_size, image_size, device=device)
    times = []
    model.eval()
    for i in range(repeats + 3):
        t = time.perf_counter()
        predict(model, x, 0.25, 0.45)
        if i >= 3:
            times.append(time.perf_counter() - t)
    return float(1.0 / np.median(times))


def run_detector_training(cfg: DetectorTrainConfig, *, progress: Callable | None = None,
                          on_epoch: Callable[[dict], None] | None = None) -> Path:
    """Train and evaluate; returns the run folder."""
    if cfg.box_loss not in BOX_LOSSES:
        raise InputError(f"box_loss {cfg.box_loss!r} is not one of {', '.join(BOX_LOSSES)}")
    if cfg.image_size % 32 or cfg.image_size < 64:
        raise InputError(f"image_size must be a multiple of 32 and >= 64, got {cfg.image_size}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    name = cfg.name or f"{cfg.model}_{cfg.box_loss}_{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(cfg.out_dir) / name
    run_dir.mkdir(parents=True, exist_ok=True)
    save_resolved_config(cfg, run_dir / "config.yaml")
    set_seed(cfg.seed)
    t0 = time.perf_counter()
    data = _splits(cfg, run_dir)
    data_seconds = time.perf_counter() - t0
    kwargs = {"num_classes": 1, "image_size": cfg.image_size, **cfg.model_kwargs}
    model = create_model(cfg.model, **kwargs)
    if not isinstance(model, DetectorModel):
        raise InputError(f"model {cfg.model!r} is not a detector")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    loss_fn = DetectionLoss(model, cfg.box_loss, LossWeights(cfg.box_gain, cfg.obj_gain, cfg.cls_gain, cfg.anchor_t))
    loader = DataLoader(DetectionDataset(data["train"], cfg.image_size, augment=cfg.augment, seed=cfg.seed),
                        batch_size=cfg.batch_size, shuffle=True, collate_fn=collate_detection, drop_last=True,
                        generator=torch.Generator().manual_seed(cfg.seed))
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(cfg.momentum, 0.999))
    total, warm = cfg.epochs * len(loader), max(1, int(cfg.warmup_epochs * len(loader)))

    def lr_at(step: int, elapsed: float) -> float:  # linear warm-up, then cosine to 5 % of lr
        if step < warm:
            return cfg.lr * (step + 1) / warm
        frac = (step - warm) / max(1, total - warm)
        if cfg.time_limit_s > 0:
            frac = max(frac, elapsed / cfg.time_limit_s)
        return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))

    meta = dict(model_name=cfg.model, model_kwargs=kwargs, classes=["person"],
                data_spec={"task": "detection", "image_size": cfg.image_size}, config=asdict(cfg))
    history, best, best_row, step = [], -1.0, {}, 0
    train_start = time.perf_counter()
    out_of_time = False
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        sums, n, e0 = np.zeros(4), 0, time.perf_counter()
        for batch in loader:
            elapsed = time.perf_counter() - train_start
            if cfg.time_limit_s > 0 and elapsed >= cfg.time_limit_s:
                out_of_time = True
                break
            for group in opt.param_groups:
                group["lr"] = lr_at(step, elapsed)
            img = batch["image"].to(device)
            loss, parts = loss_fn(model(img), batch["targets"], img.shape[-2], img.shape[-1])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            sums += [float(loss.detach()) / img.shape[0], parts["box"], parts["obj"], parts["cls"]]
            n += 1
            if progress is not None:
                progress(n, len(loader), float(sums[0] / n), 0.0)
        row = {"epoch": epoch, "lr": opt.param_groups[0]["lr"],
               **{f"train_{k}": float(v / max(n, 1)) for k, v in zip(("loss", "box", "obj", "cls"), sums)}}
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs or out_of_time:
            val = evaluate_detector(model, data["val"], cfg.image_size, conf_threshold=cfg.conf_threshold,
                                    nms_iou=cfg.nms_iou, batch_size=cfg.batch_size)
            row.update({f"val_{k}": val[k] for k in ("precision", "recall", "map50", "map50_95")})
            if val["map50_95"] > best:
                best, best_row = val["map50_95"], row
                save_checkpoint(run_dir / "best.pt", **meta, model=model, epoch=epoch, metrics=row)
        row["seconds"] = time.perf_counter() - e0
        history.append(row)
        _write_history(history, run_dir / "history.csv")
        if on_epoch is not None:
            on_epoch(row)
        if out_of_time:
            break
    save_checkpoint(run_dir / "last.pt", **meta, model=model, epoch=len(history), metrics=history[-1])
    train_seconds = time.perf_counter() - train_start

    best_model = build_from_checkpoint(load_checkpoint(run_dir / "best.pt"), device)
    split = "test" if "test" in data else "val"
    test = evaluate_detector(best_model, data[split], cfg.image_size, conf_threshold=cfg.conf_threshold,
                             nms_iou=cfg.nms_iou, batch_size=cfg.batch_size)
    example = torch.rand(1, 3, cfg.image_size, cfg.image_size, device=device)
    metrics = {
        "model": cfg.model, "model_kwargs": kwargs, "box_loss": cfg.box_loss, "image_size": cfg.image_size,
        "dataset": cfg.dataset, "split_sizes": {k: len(v) for k, v in data.items()}, "evaluated_split": split,
        split: test, "best_epoch": best_row.get("epoch"), "best_val": best_row,
        "fps_batch1": measure_fps(best_model, cfg.image_size,
                                  image=DetectionDataset(data[split][:1], cfg.image_size)[0]["image"][None]), "device": str(device),
        "params": count_parameters(best_model), "flops": count_flops(best_model, example),
        "train_seconds": train_seconds, "data_seconds": data_seconds, "epochs": cfg.epochs,
        "epochs_run": len(history), "stopped_by_time_limit": out_of_time, "train_images_seen": step * cfg.batch_size,
        "threads": torch.get_num_threads(),
    }
    write_json(run_dir / "metrics.json", metrics)
    return run_dir


def _write_history(rows: list[dict], path: Path) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
