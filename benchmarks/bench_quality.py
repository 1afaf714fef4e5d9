"""Movement quality on UI-PRMD (issue 7): correct vs incorrect, leave-one-subject-out, per movement.

Run: .venv/bin/python benchmarks/bench_quality.py [--data ../shared/data/ui_prmd] [--resample 32] [--c 1.0]
     [--no-write]

Protocol and the baseline's feature recipe: ``sportlens/assess/loso.py`` (module docstring). Loader and
forward kinematics: ``sportlens/data/ui_prmd.py``. Writes benchmarks/results/bench_quality.md.
Adding a model: pass another ``make_classifier`` / ``featurize`` to ``evaluate_loso``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path

from sportlens.assess.loso import BASELINE_C, RESAMPLE_LEN, angle_features, evaluate_loso, logistic_baseline
from sportlens.data.ui_prmd import load_ui_prmd
from sportlens.samples import shared_dir

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def main(argv: list[str] | None = None) -> int:
    shared = shared_dir()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=(shared / "data" / "ui_prmd") if shared else None)
    ap.add_argument("--resample", type=int, default=RESAMPLE_LEN)
    ap.add_argument("--c", type=float, default=BASELINE_C)
    ap.add_argument("--no-write", action="store_true", help="print only, do not write the results file")
    args = ap.parse_args(argv)
    if args.data is None:
        print("UI-PRMD not found: pass --data DIR (the folder holding 'Segmented Movements')", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    samples, report = load_ui_prmd(args.data)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = evaluate_loso(samples, partial(logistic_baseline, args.c), partial(angle_features, length=args.resample))
    t_eval = time.perf_counter() - t0
    cmd_args = argv if argv is not None else sys.argv[1:]
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    text = "\n".join([
        "# Movement quality: UI-PRMD correct vs incorrect, leave-one-subject-out",
        "",
        f"- date: {now}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}",
        f"- command: `{' '.join(['.venv/bin/python', 'benchmarks/bench_quality.py', *cmd_args])}`",
        f"- data: {report}",
        f"- time: load + forward kinematics {t_load:.1f} s, LOSO (10 movements x 10 folds) {t_eval:.1f} s",
        "",
        "## Baseline: logistic regression on resampled Kinect joint angles",
        "",
        f"Recipe: all 22 x 3 joint angles (degrees), each channel linearly resampled to {args.resample} frames, "
        f"flattened ({66 * args.resample} features), StandardScaler fitted on the training subjects, "
        f"LogisticRegression(C={args.c}, max_iter=2000); one model per movement and held-out subject; "
        "accuracy at P(correct) >= 0.5 and ROC AUC on the pooled held-out predictions of each movement.",
        "",
        res.table(),
        "",
        "Reference (issue 7 / shared NOTES.md): 73.4 % mean accuracy, mean AUC 0.818 (per movement 65-85 %). "
        "Target: >= 92 % and AUC >= 0.97.",
        "",
    ])
    print(text)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "bench_quality.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
