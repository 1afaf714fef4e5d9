"""Choose a Penn Action recognition design by k-fold cross-validation of the TRAINING split (test untouched).

Run: .venv/bin/python benchmarks/cv_recognition_designs.py [--designs jgb,jgba,jgb_t48] [--folds 5] [--jobs 2]

Why not the 10 % validation split: it is saturated (every multistream variant makes one error in 126 clips),
so it cannot tell designs apart. Here every training clip is predicted once by a model that never saw it
(stratified k folds), so a design's out-of-fold (OOF) accuracy rests on all 1257 training clips. Each fold is
trained exactly as the refit runs are (``data.val_fraction=0``: fixed epochs, the last epoch is the model, no
selection on the held-out fold) and predicted with flip test-time augmentation; pairs and the triple of designs
are scored as ensembles from the same OOF probabilities. Rule fixed before the run: the highest OOF top-1
wins, ties go to the higher tennis_forehand OOF accuracy, then to the cheaper design.
Writes benchmarks/results/bench_recognition_cv.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import platform
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "benchmarks" / "runs" / "cv"  # git-ignored
# design name -> overrides of configs/penn_tcn_multistream.yaml (all refit, all with flip TTA)
DESIGNS = {"jgb": [], "jgba": ["model_kwargs.streams=jgba"], "jgb_t48": ["data.num_frames=48"]}
BASE = ["data.val_fraction=0", "data.tta_flip=true"]


def oof_fold(design: str, fold: int, k: int) -> dict[str, np.ndarray]:
    """Train ``design`` on the other k-1 folds of the training split; probabilities (N, K) of fold ``fold``."""
    from sportlens.data import kfold_splits
    from sportlens.engine.config import load_config
    from sportlens.engine.experiment import (TrainConfig, channels, data_spec, load_clips, make_loader,
                                             make_task)
    from sportlens.engine.fit import fit, set_seed
    from sportlens.engine.loops import evaluate
    from sportlens.models import create_model

    torch.set_num_threads(1)
    cfg = load_config(ROOT / "configs" / "penn_tcn_multistream.yaml", [*BASE, *DESIGNS[design]], TrainConfig())
    clips, classes, _ = load_clips(cfg.data)
    train, held = kfold_splits([c for c in clips if c.split == "train"], k, seed=0)[fold]
    kwargs = {"num_classes": len(classes), "skeleton": cfg.data.skeleton, "in_channels": channels(cfg.data),
              "num_frames": cfg.data.num_frames, **cfg.model_kwargs}
    set_seed(cfg.fit.seed)
    model, task = create_model(cfg.model, **kwargs), make_task(cfg)
    meta = {"model_name": cfg.model, "model_kwargs": kwargs, "classes": classes, "data_spec": data_spec(cfg.data)}
    result = fit(model, task, make_loader(train, classes, cfg.data, train=True, augment=cfg.augment,
                                          seed=cfg.fit.seed), None, cfg.fit,
                 run_dir=RUNS / f"{design}-fold{fold}", checkpoint_meta=meta)
    res = evaluate(model.eval(), task, make_loader(held, classes, replace(cfg.data, tta_flip=True), train=False,
                                                   augment=None, seed=0))
    return {"probs": res.probs, "labels": res.labels, "names": np.array([c.name for c in held]),
            "seconds": result.seconds, "classes": classes}


def _score(p: np.ndarray, y: np.ndarray, fh: int) -> tuple[float, int, float, int]:
    pred = p.argmax(1)
    return float((pred == y).mean()), int((pred != y).sum()), float((pred[y == fh] == fh).mean()), \
        int((pred[y == fh] != fh).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--designs", default=",".join(DESIGNS))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2, help="trainings at a time (processes, one thread each)")
    args = ap.parse_args()
    designs = args.designs.split(",")
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp

    work = [(d, f) for f in range(args.folds) for d in designs]
    with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
        done = dict(zip(work, pool.map(oof_fold, *zip(*work), [args.folds] * len(work))))
    fh = list(done[work[0]]["classes"]).index("tennis_forehand")
    oof = {d: np.concatenate([done[d, f]["probs"] for f in range(args.folds)]) for d in designs}
    y = np.concatenate([done[designs[0], f]["labels"] for f in range(args.folds)])
    names = [np.concatenate([done[d, f]["names"] for f in range(args.folds)]) for d in designs]
    assert all((n == names[0]).all() for n in names), "designs must predict the same clips in the same order"
    rows = ["| design(s) | OOF top-1 | errors | tennis_forehand | forehand errors | train s per fold (mean) |",
            "|---|---:|---:|---:|---:|---:|"]
    combos = [(d,) for d in designs] + list(itertools.combinations(designs, 2)) + \
        ([tuple(designs)] if len(designs) > 2 else [])
    for combo in combos:
        acc, err, fa, fe = _score(sum(oof[d] for d in combo), y, fh)
        secs = np.mean([done[d, f]["seconds"] for d in combo for f in range(args.folds)]) * len(combo)
        rows.append(f"| {' + '.join(combo)} | {acc * 100:.2f} % | {err} | {fa * 100:.1f} % | {fe} | {secs:.0f} |")
    text = "\n".join([
        "# bench_recognition: design choice by cross-validation of the training split (Penn Action, GT joints)", "",
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, 1 thread per "
        f"training, {args.jobs} at a time",
        f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
        f"- {args.folds} stratified folds of the {len(y)} training clips (seed 0); each design = "
        "configs/penn_tcn_multistream.yaml + `" + " ".join(BASE) + "` + its overrides "
        f"({'; '.join(f'{d}: ' + (' '.join(DESIGNS[d]) or 'none') for d in designs)}); the test split is not used",
        "- rule fixed before the run: highest OOF top-1, then tennis_forehand, then the cheaper design; "
        "ensembles sum the designs' OOF probabilities (their training time is the sum)", "", *rows]) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_recognition_cv.md").write_text(text)


if __name__ == "__main__":
    main()
