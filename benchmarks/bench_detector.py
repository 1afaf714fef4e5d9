"""Proof that the seed 002 detector (YOLOv5s + CBAM, improved CIoU eq. 8) learns: generated scenes.

Run: .venv/bin/python benchmarks/bench_detector.py [--losses ciou_improved,ciou,siou] [--set k=v ...]

Protocol: ``sportlens.data.detection_data.generate_scenes`` (1-4 rendered stick-figure people per
image, 10-85 % of the image height, varied backgrounds and noise; deterministic by seed); train on
seed 0, select on a validation split (seed 1), evaluate the best checkpoint once on a held-out test
split (seed 2, disjoint scenes). configs/synthetic_detector.yaml sets a small input and width so
training fits ~12 minutes on 2 CPU cores. Target (issue 5): test mAP@0.5 >= 0.9. One row per box
loss (the loss ablation, when several are given). Writes benchmarks/results/bench_detector.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path

import torch

from sportlens.engine.config import load_config
from sportlens.engine.detection_experiment import DetectorTrainConfig, run_detector_training

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "benchmarks" / "runs"  # git-ignored


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--losses", default="ciou_improved", help="comma-separated box losses (ablation)")
    ap.add_argument("--set", dest="set_", action="append", default=[], help="config override, k=v")
    args = ap.parse_args()
    rows, cfg = [], None
    for loss in args.losses.split(","):
        cfg = load_config(ROOT / "configs" / "synthetic_detector.yaml",
                          [f"out_dir={RUNS}", f"name=detector-{loss}", f"box_loss={loss}", *args.set_],
                          DetectorTrainConfig())
        m = json.loads((run_detector_training(cfg, on_epoch=lambda r: print(r, flush=True)) / "metrics.json").read_text())
        t = m["test"]
        rows.append(f"| {loss} | {cfg.image_size}² | {t['precision']:.3f} | {t['recall']:.3f} | {t['map50']:.3f} "
                    f"| {t['map50_95']:.3f} | {m['fps_batch1']:.1f} | {m['params']:,} | {m['flops'] / 1e9:.3f} "
                    f"| {m['train_seconds']:.0f} | {m['epochs_run']} (best {m['best_epoch']}) "
                    f"| {m['train_images_seen']} | {'yes' if t['map50'] >= 0.9 else 'NO'} |")
        print(rows[-1], flush=True)
    lines = ["# bench_detector: YOLOv5s + CBAM person detector (seed 002) on generated scenes", "",
             f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
             f"- machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), "
             f"{'GPU' if torch.cuda.is_available() else 'no GPU'}, Python {platform.python_version()}, torch {torch.__version__}",
             f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
             f"- model: {cfg.model} {cfg.model_kwargs}, input {cfg.image_size}x{cfg.image_size} letterboxed; "
             f"Adam(W) lr {cfg.lr}, batch {cfg.batch_size}, at most {cfg.epochs} epochs / {cfg.time_limit_s:.0f} s",
             f"- data: generated scenes, train {cfg.synthetic_train} (seed {cfg.synthetic_seed}), val "
             f"{cfg.synthetic_val} (seed {cfg.synthetic_seed + 1}, model selection on mAP@0.5:0.95), test "
             f"{cfg.synthetic_test} (seed {cfg.synthetic_seed + 2}, held out, evaluated once)",
             "- P and R at the confidence of maximal F1 (IoU 0.5); mAP with all-point interpolation, "
             "mAP@0.5:0.95 over the 10 COCO thresholds; FPS at batch 1 on this CPU including decode + NMS; "
             "GFLOPs of one forward pass", "",
             "| box loss | input | P | R | mAP@0.5 | mAP@0.5:0.95 | FPS | params | GFLOPs | train s | epochs "
             "| images seen | mAP@0.5 >= 0.9 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|", *rows]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_detector.md").write_text(text)


if __name__ == "__main__":
    main()
