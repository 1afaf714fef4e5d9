"""Box-loss ablation for the seed 002 detector: CIoU vs improved CIoU (eq. 8) vs SIoU, same budget each.

Run: .venv/bin/python benchmarks/bench_detector_ablation.py [--losses ciou,ciou_improved,siou]
     [--epochs 8] [--time-cap 780] [--set k=v ...]

Protocol: configs/synthetic_detector.yaml (YOLOv5s + CBAM, width 0.1875, 160 px input, generated scenes:
train seed 0, validation seed 1 for model selection on mAP@0.5:0.95, held-out test seed 2 evaluated once),
one intra-op thread, the same training seed for every loss. Decision: the budget is a fixed number of
epochs (= the same images seen and the same lr schedule for every loss), not a wall-clock limit, because
the machine is shared and a time budget would hand a loss that ran while the machine was busy fewer
steps. ``--time-cap`` only stops a run that would blow the total budget; a row says when it hit the cap
(its budget was then smaller: compare images seen). The budget is short (8 of
bench_detector.py's 60 epochs), so absolute numbers sit below the full run's; the point is the ranking.
Writes benchmarks/results/bench_detector_ablation.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from sportlens.engine.config import load_config
from sportlens.engine.detection_experiment import DetectorTrainConfig, run_detector_training

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "benchmarks" / "runs"  # git-ignored
LABELS = {"ciou": "CIoU (eq. 5-7)", "ciou_improved": "improved CIoU (eq. 8)", "siou": "SIoU", "iou": "IoU"}


def _load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def run_one(loss: str, epochs: int, time_cap: float, overrides: list[str]) -> tuple[dict, DetectorTrainConfig]:
    cfg = load_config(ROOT / "configs" / "synthetic_detector.yaml",
                      [f"out_dir={RUNS}", f"name=ablation-{loss}", f"box_loss={loss}", f"epochs={epochs}",
                       f"time_limit_s={time_cap}", "threads=1", *overrides], DetectorTrainConfig())
    load_before = _load_average()
    run_dir = run_detector_training(cfg, on_epoch=lambda r: print(loss, r, flush=True))
    m = json.loads((run_dir / "metrics.json").read_text())
    m["load_before"], m["load_after"] = load_before, _load_average()
    return m, cfg


def row(loss: str, m: dict) -> str:
    t, v = m["test"], m["best_val"]
    return (f"| {LABELS.get(loss, loss)} | {t['map50']:.3f} | {t['map50_95']:.3f} | {t['precision']:.3f} "
            f"| {t['recall']:.3f} | {v.get('val_map50', float('nan')):.3f} | {v.get('val_map50_95', float('nan')):.3f} "
            f"| {m['epochs_run']} (best {m['best_epoch']}) | {m['train_images_seen']} | {m['train_seconds']:.0f} "
            f"| {'yes' if m['stopped_by_time_limit'] else 'no'} | {m['load_before']} -> {m['load_after']} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--losses", default="ciou,ciou_improved,siou")
    ap.add_argument("--epochs", type=int, default=8, help="the budget: same epochs (images seen) per loss")
    ap.add_argument("--time-cap", type=float, default=780.0, help="safety stop per loss, seconds")
    ap.add_argument("--set", dest="set_", action="append", default=[], help="config override, k=v")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows, cfg, t0 = [], None, time.perf_counter()
    for loss in args.losses.split(","):
        m, cfg = run_one(loss, args.epochs, args.time_cap, args.set_)
        rows.append(row(loss, m))
        print(rows[-1], flush=True)
    total = time.perf_counter() - t0
    lines = ["# bench_detector_ablation: box loss of the seed 002 detector (YOLOv5s + CBAM) on generated scenes", "",
             f"- date: {dt.datetime.now().isoformat(timespec='seconds')}; total {total / 60:.1f} min",
             f"- machine: {platform.machine()}, {os.cpu_count()} cores SHARED with other people's jobs (load "
             f"average column: 1/5/15-min before -> after each run), 1 intra-op thread, "
             f"{'GPU' if torch.cuda.is_available() else 'no GPU'}, Python {platform.python_version()}, "
             f"torch {torch.__version__}",
             f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
             f"- model: {cfg.model} {cfg.model_kwargs}, input {cfg.image_size}x{cfg.image_size}; AdamW lr {cfg.lr}, "
             f"batch {cfg.batch_size}; budget {args.epochs} epochs per loss (same images seen, same seed "
             f"{cfg.seed}), safety cap {args.time_cap:.0f} s",
             f"- data: generated scenes, train {cfg.synthetic_train} (seed {cfg.synthetic_seed}), val "
             f"{cfg.synthetic_val} (seed {cfg.synthetic_seed + 1}, checkpoint selection on mAP@0.5:0.95 every "
             f"{cfg.eval_every} epochs), test {cfg.synthetic_test} (seed {cfg.synthetic_seed + 2}, held out, once)",
             "- test P/R at the confidence of maximal F1 (IoU 0.5); mAP all-point interpolated; "
             "mAP@0.5:0.95 over the 10 COCO thresholds. One seed per loss: differences of a few 0.01 are "
             "within run-to-run noise and not a ranking.", "",
             "| box loss | test mAP@0.5 | test mAP@0.5:0.95 | P | R | val mAP@0.5 | val mAP@0.5:0.95 "
             "| epochs | images seen | train s | hit time cap | load avg |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|", *rows]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_detector_ablation.md").write_text(text)


if __name__ == "__main__":
    main()
