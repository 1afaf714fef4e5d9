"""Proof that every video model learns: the generated video dataset, held-out test split.

Run: .venv/bin/python benchmarks/bench_video_models.py [--models sportnet,c3d_attn,...] [--set k=v ...]

Protocol: ``sportlens.data.synthetic_video`` (rendered stick-figure people doing class-specific
movements, varying background, scale, camera shake and noise; deterministic by seed), split
70/15/15 per class into train/val/test; model selection on val, the test split evaluated once with
the best-on-validation checkpoint. Each model trains with configs/synthetic_<model>.yaml (small
inputs: the table says which). Target (issue 4): top-1 >= 90 % within 15 minutes of CPU training,
and PCK@0.2 >= 80 % for hicnn_psta's pose head. Writes benchmarks/results/bench_video_models.md.
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
from sportlens.engine.video_experiment import VideoTrainConfig, run_video_training

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "benchmarks" / "runs"  # git-ignored
MODELS = "sportnet,c3d_attn,cnn_lstm,two_stream,hicnn_psta"
SEEDS = {"sportnet": "000", "c3d_attn": "002", "cnn_lstm": "003", "two_stream": "004", "hicnn_psta": "001"}


def train(name: str, overrides: list[str]) -> tuple[VideoTrainConfig, dict]:
    cfg = load_config(ROOT / "configs" / f"synthetic_{name}.yaml",
                      [f"out_dir={RUNS}", f"name=synthetic-{name}", *overrides], VideoTrainConfig())
    run = run_video_training(cfg)
    return cfg, json.loads((run / "metrics.json").read_text())


def row(name: str, cfg: VideoTrainConfig, m: dict) -> str:
    t, d = m["test"], cfg.data
    pck = t.get("pck") or {}
    pck_txt = " / ".join(f"{100 * pck[k]:.1f}" for k in ("pck@0.2", "pck@0.1", "pck@0.05")) if pck else "-"
    inp = f"{d.num_frames}x{d.image_size}²" + (f" +{d.flow_stack} flow" if name == "two_stream" else "")
    ok = t["top1"] >= 0.9 and m["train_seconds"] <= 900 and (not pck or pck["pck@0.2"] >= 0.8)
    return (f"| {name} | {SEEDS.get(name, '')} | {inp} | {t['top1']:.4f} | {t['mean_class_accuracy']:.4f} "
            f"| {pck_txt} | {m['train_seconds']:.0f} | {m['epochs_run']} (best {m['best_epoch']}) "
            f"| {t['params']:,} | {t['flops'] / 1e9:.3f} | {t['latency_ms']:.1f} | {'yes' if ok else 'NO'} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=MODELS, help="comma-separated configs/synthetic_<name>.yaml")
    ap.add_argument("--set", dest="set_", action="append", default=[], help="override for every model, k=v")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2,
                    help="intra-op threads (1 on a shared machine: OpenMP threads that wait for a busy core cost more "
                         "than they give)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows, first = [], None
    for name in args.models.split(","):
        cfg, m = train(name, args.set_)
        first = first or cfg
        rows.append(row(name, cfg, m))
        print(rows[-1], flush=True)
    d = first.data
    lines = ["# bench_video_models: every video model on the generated video dataset", "",
             f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
             f"- machine: {platform.machine()}, {os.cpu_count()} cores, no GPU, Python {platform.python_version()}, "
             f"torch {torch.__version__}, {args.threads} intra-op thread(s)",
             f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
             f"- data: synthetic, {d.synthetic_classes} classes x {d.synthetic_clips_per_class} clips, "
             f"{d.synthetic_size}px frames, seed {d.synthetic_seed}; split 70/15/15 per class; selection on val, "
             "test evaluated once",
             "- input: T frames x crop side (small inputs, chosen so each model trains on 2 CPU cores in minutes); "
             "GFLOPs and latency per clip at that input, batch 1", "",
             "| model | seed | input | test top-1 | mean class acc | PCK@0.2 / 0.1 / 0.05 (%) | train s | epochs "
             "| params | GFLOPs/clip | CPU ms/clip | target met |",
             "|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|", *rows]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_video_models.md").write_text(text)


if __name__ == "__main__":
    main()
