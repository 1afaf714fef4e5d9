"""Is msgcn short of compute? The issue 6 forecasters trained with far more optimiser steps (on a GPU).

The 15-minute CPU budget of issue 6 gives msgcn about 6,000 steps of batch 64, and its validation curve is
still rising at the end (``benchmarks/runs/forecast/msgcn/log.json``). This script trains several recipes
AT ONCE (one process each, sharing the device) for the same wall time, then scores every resulting
checkpoint and the msgcn shipped in the package on the official TEST split, protocols A and B, by the same
``protocols.evaluate`` as ``bench_forecast.py``; the model selection of every run uses the validation split
of the training clips only (``forecast/training.py``).

Run (GPU)::

    python benchmarks/forecast_scaling.py --data PENN_DIR --out OUT --minutes 6 --device cuda

Writes ``OUT/forecast_scaling.md`` and ``.json`` (copied to ``benchmarks/results/`` by hand from the device
run), one folder per recipe with its checkpoint and ``log.json``. ``--quick`` runs two tiny recipes (a check
of the script on a CPU). A recipe is a dict of ``python -m sportlens.forecast.training`` options.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

TEMPOS = ["--tempos", "0.6", "0.8", "1.25", "1.5"]
RECIPES: dict[str, list[str]] = {
    # the shipped recipe (hidden 32, batch 64, lr 4e-3), only given more steps
    "msgcn_h32_b64": ["--model", "msgcn", "--kw", "hidden=32", "--batch", "64", "--lr", "0.004"],
    "msgcn_h128_b256": ["--model", "msgcn", "--kw", "hidden=128", "--batch", "256", "--lr", "0.002"],
    "msgcn_h128_b256_tempo": ["--model", "msgcn", "--kw", "hidden=128", "--batch", "256", "--lr", "0.002",
                              *TEMPOS],
    "trajgcn_b256_tempo": ["--model", "trajgcn", "--batch", "256", "--lr", "0.002", *TEMPOS],
    # alone on the device (--recipes): 4x the batch again
    "msgcn_h128_b1024": ["--model", "msgcn", "--kw", "hidden=128", "--batch", "1024", "--lr", "0.003"],
}
DEFAULT = ("msgcn_h32_b64", "msgcn_h128_b256", "msgcn_h128_b256_tempo", "trajgcn_b256_tempo")
QUICK: dict[str, list[str]] = {
    "msgcn_h16_b32": ["--model", "msgcn", "--kw", "hidden=16", "--batch", "32", "--eval-every", "20"],
    "trajgcn_b32_tempo": ["--model", "trajgcn", "--kw", "hidden=16", "--batch", "32", "--eval-every", "20",
                          *TEMPOS],
}


def train_all(recipes: dict[str, list[str]], data: Path, out: Path, minutes: float, device: str) -> dict:
    """Start one training process per recipe, all at once; wait for them; return their log.json."""
    procs = {}
    for name, args in recipes.items():
        (out / name).mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "sportlens.forecast.training", str(data), str(out / name), str(minutes),
               "--device", device, "--threads", "2", *args]
        if "--eval-every" not in args:
            cmd += ["--eval-every", "1000" if device != "cpu" else "200"]
        log = open(out / name / "train.log", "w")
        procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
        print("started", name, " ".join(cmd[1:]), flush=True)
    logs = {}
    for name, (p, log) in procs.items():
        rc = p.wait()
        log.close()
        print(name, "exit", rc, flush=True)
        if rc == 0:
            logs[name] = json.loads((out / name / "log.json").read_text())
        else:
            print((out / name / "train.log").read_text()[-3000:], flush=True)
    return logs


def score(checkpoint: Path, windows: dict, device: str) -> dict:
    """Test PCK@0.05 per step of one checkpoint, protocols A and B (model on ``device``)."""
    from sportlens.forecast.protocols import evaluate
    from sportlens.forecast.training import Forecaster, predict_pixels

    fc = Forecaster(checkpoint)
    fc.model.to(device)
    return {p: evaluate(predict_pixels(fc.model, w.observed, w.horizon), w)["pck"] for p, w in windows.items()}


def table(rows: dict[str, dict], logs: dict[str, dict]) -> list[str]:
    out = ["| recipe | steps | best val step | val A@16 | val B@16 | test A@16 | test A mean | test B@16 | "
           "test B mean | test B@8 |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        lg = logs.get(name, {})
        b = lg.get("best", {})
        out.append(f"| {name} | {lg.get('steps', '-')} | {b.get('step', '-')} | "
                   f"{100 * b.get('val_pck16_A', np.nan):.1f} | {100 * b.get('val_pck16_B', np.nan):.1f} | "
                   f"{100 * r['A'][-1]:.1f} | {100 * np.mean(r['A']):.1f} | {100 * r['B'][-1]:.1f} | "
                   f"{100 * np.mean(r['B']):.1f} | {100 * r['B'][7]:.1f} |")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=6.0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--recipes", default=",".join(DEFAULT), help=f"comma-separated, of {', '.join(RECIPES)}")
    a = ap.parse_args(argv)
    from sportlens.data.penn import load_penn_action
    from sportlens.forecast.protocols import protocol_a_windows, protocol_b_windows
    from sportlens.forecast.training import SHIPPED_CHECKPOINT

    t0 = time.perf_counter()
    recipes = QUICK if a.quick else {k: RECIPES[k] for k in a.recipes.split(",")}
    logs = train_all(recipes, a.data, a.out, a.minutes, a.device)
    test, _ = load_penn_action(a.data, split="test")
    if a.quick:
        test = test[:40]
    windows = {"A": protocol_a_windows(test), "B": protocol_b_windows(test)}
    rows = {"shipped msgcn (the package's checkpoint)": score(SHIPPED_CHECKPOINT, windows, a.device)}
    for name in logs:
        rows[name] = score(a.out / name / f"{name.split('_')[0]}.pt", windows, a.device)
    gpu = torch.cuda.get_device_name(0) if a.device.startswith("cuda") else "none"
    lines = ["# Forecasters with far more optimiser steps than the 15-minute CPU budget (issue 6)", "",
             f"- date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
             f"- machine: {platform.machine()}, {os.cpu_count()} cores, GPU {gpu}, torch {torch.__version__}",
             f"- command: `python benchmarks/forecast_scaling.py --data PENN --out OUT --minutes {a.minutes:g} "
             f"--device {a.device}{' --quick' if a.quick else ' --recipes ' + a.recipes}`",
             f"- every recipe trained for {a.minutes:g} min of wall time, all {len(recipes)} at once on the "
             "same device (one process each); model selection on the validation split of the training clips",
             f"- test: {len(test)} clips, A {len(windows['A'])} windows, B {len(windows['B'])} windows; "
             "PCK@0.05 (%); wall time of the script " f"{time.perf_counter() - t0:.0f} s", "",
             "recipes: " + "; ".join(f"`{k}`: `{' '.join(v)}`" for k, v in recipes.items()), "",
             *table(rows, logs), ""]
    text = "\n".join(lines)
    print(text)
    (a.out / "forecast_scaling.md").write_text(text)
    (a.out / "forecast_scaling.json").write_text(json.dumps(
        {"rows": {k: {p: list(map(float, v)) for p, v in r.items()} for k, r in rows.items()},
         "logs": logs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
