"""Penn Action skeleton action recognition: every registered model, ablations, robustness, timeline.

Run: .venv/bin/python benchmarks/bench_recognition.py [--models tcn,stgcn,mhssa@model_kwargs.attention=softmax]
     [--ship MODEL]
     .venv/bin/python benchmarks/bench_recognition.py --ablation [--ablation-epochs 10]
     .venv/bin/python benchmarks/bench_recognition.py --models tcn,tcn_global,tcn_multistream --seeds 3 [--jobs 2]

``--seeds N`` trains every listed model with seeds 0..N-1 and writes bench_recognition_seeds.md: per-seed
test top-1 and tennis_forehand accuracy, training seconds and CPU latency, mean +- std, the N-seed
ensemble (mean of probabilities) and the first two models paired seed by seed (sum of probabilities:
two encodings, one training each); one seed's number alone says little here (seed-to-seed spread is
up to 1.3 points). ``--jobs J`` trains J runs at a time in separate processes (one thread each when
SPORTLENS_THREADS=1); the load average is recorded since it inflates the training seconds.

Protocol: official Penn Action split, ground-truth joints, person box from the joints (as on video);
model selection on a stratified 10 % validation split of the training clips; the test split is
evaluated once per model with its best-on-validation checkpoint. Each model trains with its
experiment file configs/penn_<model>.yaml. Writes benchmarks/results/bench_recognition.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from sportlens.config import RecognitionSettings
from sportlens.data import estimator_noise, joint_dropout
from sportlens.engine.config import load_config
from sportlens.engine.experiment import DataSettings, TrainConfig, evaluate_clips, load_clips, run_training
from sportlens.recognize import Recognizer
from sportlens.types import PoseTrack

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "benchmarks" / "runs"  # git-ignored


def train_model(name: str, overrides: list[str]) -> tuple[Path, dict]:
    cfg = load_config(ROOT / "configs" / f"penn_{name}.yaml", [f"out_dir={RUNS}", f"name={name}", *overrides],
                      TrainConfig())
    run = run_training(cfg)
    return run, json.loads((run / "metrics.json").read_text())


def model_table(rows: list[dict]) -> list[str]:
    out = ["| model | top-1 | mean class acc | macro F1 | tennis_forehand | tennis_serve | train s | epochs | params "
           "| MFLOPs/clip | CPU ms/clip |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        t = r["test"]
        pc = t["per_class_accuracy"]
        out.append(f"| {r['model'].replace('@model_kwargs.', ' ')} | {t['top1']:.4f} | {t['mean_class_accuracy']:.4f} | {t['macro_f1']:.4f} "
                   f"| {pc['tennis_forehand']:.3f} | {pc['tennis_serve']:.3f} | {r['train_seconds']:.0f} "
                   f"| {r['epochs_run']} | {t['params']:,} | {t['flops'] / 1e6:.1f} | {t['latency_ms']:.2f} |")
    return out


def robustness(ckpt: Path, clips, classes, data: DataSettings) -> list[str]:
    """Test accuracy when the test joints get pose-estimator-like noise and dropout."""
    rng = np.random.default_rng(0)
    out = ["| joint noise (σ, fraction of body size) | dropout | top-1 |", "|---:|---:|---:|"]
    for sigma, drop in [(0.0, 0.0), (0.01, 0.0), (0.02, 0.05), (0.05, 0.1), (0.1, 0.2)]:
        noisy = []
        for c in clips:
            kp, vis = c.keypoints.copy(), c.visibility.copy()
            if sigma:
                kp = estimator_noise(kp, vis, c.skeleton, sigma, 0.01, rng)
            if drop:
                kp, vis = joint_dropout(kp, vis, drop, rng)
            noisy.append(replace(c, keypoints=kp, visibility=vis))
        top1 = evaluate_clips(ckpt, noisy, classes, data)["top1"]
        out.append(f"| {sigma:.2f} | {drop:.2f} | {top1:.4f} |")
    return out


def timeline_quality(ckpt: Path, clips, seed: int = 0, n_seq: int = 40, per_seq: int = 5) -> list[str]:
    """Concatenate test clips (with 0.3 s still transitions) into long tracks, localise the actions.

    R@1 at IoU m: the fraction of ground-truth clips for which the recognised segment of the same class
    that overlaps it most has temporal IoU >= m. Per-frame accuracy over the frames of the clips.
    """
    rec = Recognizer(ckpt)
    rng = np.random.default_rng(seed)
    hits = {0.5: 0, 0.7: 0}
    total, correct, frames = 0, 0, 0
    for _ in range(n_seq):
        chosen = [clips[i] for i in rng.choice(len(clips), per_seq, replace=False)]
        track, spans = _concat(chosen)
        tl = rec.timeline(track, RecognitionSettings(min_confidence=0.0))
        labels = _frame_labels(tl, track.num_frames)
        for clip, (a, b) in zip(chosen, spans):
            total += 1
            correct += int(np.sum(np.array(labels[a:b]) == clip.label))
            frames += b - a
            best = max((_iou(s.start, s.end, track.times[a], track.times[b - 1] + 1 / 30) for s in tl.segments
                        if s.label == clip.label), default=0.0)
            for m in hits:
                hits[m] += best >= m
    return ["| R@1, IoU=0.5 | R@1, IoU=0.7 | per-frame accuracy | sequences | clips |", "|---:|---:|---:|---:|---:|",
            f"| {hits[0.5] / total:.3f} | {hits[0.7] / total:.3f} | {correct / frames:.3f} | {n_seq} | {total} |"]


def _concat(clips) -> tuple[PoseTrack, list[tuple[int, int]]]:
    parts, spans, n, gap = [], [], 0, 9  # 0.3 s still transition: the last pose held
    for c in clips:
        kp = c.keypoints
        hold = np.repeat(kp[-1:], gap, axis=0)
        spans.append((n, n + len(kp)))
        parts += [kp, hold]
        n += len(kp) + gap
    kp = np.concatenate(parts)
    times = np.arange(len(kp)) / 30.0
    return PoseTrack(kp, np.isfinite(kp).all(-1).astype(float), times, "penn13"), spans


def _frame_labels(tl, T: int) -> list[str]:
    labels = ["unknown"] * T
    for s in tl.segments:
        a, b = np.searchsorted(tl.times, s.start), np.searchsorted(tl.times, s.end)
        labels[a:b] = [s.label] * (b - a)
    return labels


def _iou(a0, a1, b0, b1) -> float:
    inter = max(0.0, min(a1, b1) - max(a0, b0))
    return inter / (max(a1, b1) - min(a0, b0))


def ablation(epochs: int) -> list[str]:
    """SportNet's grid on the pose branch: T x hidden x batch, accuracy and training time per cell."""
    out = ["| T | hidden | batch | top-1 | mean class acc | train s |", "|---:|---:|---:|---:|---:|---:|"]
    points = []
    for T in (16, 32, 64):
        for hidden in (256, 512):
            for batch in (4, 8, 32):
                run, m = train_model("sportnet_pose", [f"data.num_frames={T}", f"model_kwargs.hidden={hidden}",
                                                      f"data.batch_size={batch}", f"fit.epochs={epochs}",
                                                      f"name=abl-T{T}-h{hidden}-b{batch}"])
                t = m["test"]
                points.append((m["train_seconds"], t["top1"], f"T{T}/h{hidden}/b{batch}"))
                out.append(f"| {T} | {hidden} | {batch} | {t['top1']:.4f} | {t['mean_class_accuracy']:.4f} "
                           f"| {m['train_seconds']:.0f} |")
    _pareto_plot(points, RESULTS / "recognition_ablation_pareto.png")
    return out


def _pareto_plot(points, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    xs, ys, names = zip(*points)
    ax.scatter(xs, ys)
    for x, y, n in points:
        ax.annotate(n, (x, y), fontsize=7)
    front = sorted(points)
    best, fx, fy = -1.0, [], []
    for x, y, _ in front:
        if y > best:
            best = y
            fx.append(x)
            fy.append(y)
    ax.step(fx, fy, where="post", color="tab:red", label="Pareto front")
    ax.set(xlabel="training time (s)", ylabel="test top-1", title="SportNet pose branch: T x hidden x batch")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tcn_video,tcn,tcn_ensemble,sportnet_pose,stgcn,psta,mhssa,"
                                        "mhssa@model_kwargs.attention=softmax,lstm_attn",
                    help="comma-separated configs/penn_<name>.yaml; NAME@key=value adds an override")
    ap.add_argument("--ablation", action="store_true", help="run only the T x hidden x batch grid")
    ap.add_argument("--ablation-epochs", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=0, help="train each model with seeds 0..N-1 (seed study)")
    ap.add_argument("--jobs", type=int, default=1, help="seed study: trainings run at a time (processes)")
    ap.add_argument("--out", default="bench_recognition_seeds.md", help="seed study: results file name")
    ap.add_argument("--tta", action="store_true", help="seed study: also evaluate every model with flip test-time "
                                                      "augmentation (rows NAME+flip)")
    ap.add_argument("--reuse", action="store_true", help="seed study: evaluate existing runs in benchmarks/runs "
                                                        "instead of training again (train s from their metrics)")
    ap.add_argument("--ship", default="", help="copy this model's best checkpoint into the package")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("SPORTLENS_THREADS", os.cpu_count() or 2)))
    if args.ablation:  # a separate run and results file: 18 trainings
        lines = ["# bench_recognition: SportNet ablation on the pose branch (Penn Action, GT joints)", "",
                 f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
                 f"- machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
                 f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
                 f"- {args.ablation_epochs} epochs per cell (shortened so the grid runs in minutes); test top-1", "",
                 *ablation(args.ablation_epochs), "", "![Pareto](recognition_ablation_pareto.png)"]
        text = "\n".join(lines) + "\n"
        print(text)
        (RESULTS / "bench_recognition_ablation.md").write_text(text)
        return
    if args.seeds:
        text = seed_study(args.models.split(","), args.seeds, args.jobs, tta=args.tta, reuse=args.reuse)
        print(text)
        (RESULTS / args.out).write_text(text)
        return
    rows = []
    for spec in args.models.split(","):  # "mhssa@model_kwargs.attention=softmax": a model plus overrides
        name, *overrides = spec.split("@")
        run, m = train_model(name, [*overrides, f"name={spec.replace('@', '-').replace('=', '-')}"])
        rows.append({"model": spec, "run": run, **m})
        print(f"{name}: top-1 {m['test']['top1']:.4f} in {m['train_seconds']:.0f} s", flush=True)
    best = max(rows, key=lambda r: r["test"]["top1"])
    data = DataSettings()
    clips, classes, _ = load_clips(data)
    test = [c for c in clips if c.split == "test"]
    lines = ["# bench_recognition: Penn Action, ground-truth joints, official split", "",
             f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
             f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"torch {torch.__version__}",
             f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
             "- selection on a stratified 10 % validation split of the training clips; test evaluated once", "",
             "## Models", "", *model_table(rows), "",
             f"## Robustness of the best model ({best['model']}): test joints perturbed like a pose estimator", "",
             *robustness(best["run"] / "best.pt", test, classes, data), "",
             f"## Action timeline on concatenated test clips ({best['model']}, sliding windows 2 s / hop 0.25 s)", "",
             *timeline_quality(best["run"] / "best.pt", test)]
    if args.ship:
        ship = best if args.ship == "best" else next(r for r in rows if r["model"] == args.ship)
        _ship(ship)
        lines += ["", f"Shipped: `{ship['model']}` -> src/sportlens/assets/recognition_penn13.pt"]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_recognition.md").write_text(text)


def _train_seed(name: str, overrides: list[str], seed: int, threads: int, reuse: bool = False) -> tuple[Path, dict]:
    """One seed-study training (also in a worker process: sets its own thread count); ``reuse``: the run
    folder of an earlier study, when it has its metrics."""
    torch.set_num_threads(threads)
    tag = "-".join([name, *overrides]).replace("=", "-")  # one run folder per spec and seed
    run = RUNS / f"{tag}-seed{seed}"
    if reuse and (run / "metrics.json").is_file():
        return run, json.loads((run / "metrics.json").read_text())
    return train_model(name, [*overrides, f"fit.seed={seed}", f"name={tag}-seed{seed}"])


def _test_probs(run: Path, tta_flip: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Test-split probabilities (N, K), labels (N,) and classes of a run's best checkpoint."""
    from sportlens.engine.checkpoint import build_from_checkpoint, load_checkpoint
    from sportlens.engine.experiment import make_loader
    from sportlens.engine.loops import evaluate
    from sportlens.engine.tasks import ClassificationTask

    ckpt = load_checkpoint(run / "best.pt")
    spec_data = ckpt["data_spec"]
    data = replace(DataSettings(), encoding=spec_data.get("encoding", "sportnet"),
                   num_frames=int(spec_data.get("num_frames", 32)), tta_flip=tta_flip)
    clips, classes, _ = load_clips(data)
    test = [c for c in clips if c.split == "test"]
    res = evaluate(build_from_checkpoint(ckpt).eval(), ClassificationTask(),
                   make_loader(test, classes, data, train=False, augment=None, seed=0))
    return res.probs, np.asarray(res.labels), classes


def seed_study(specs: list[str], n: int, jobs: int = 1, tta: bool = False, reuse: bool = False) -> str:
    """Train each model with seeds 0..n-1; per-seed, mean +- std and ensemble test accuracy (``tta``: each
    model also with flip test-time augmentation, as the row NAME+flip)."""
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing as mp

    threads = torch.get_num_threads()
    loads = [os.getloadavg()]
    work = [(spec, seed) for spec in specs for seed in range(n)]
    args = {(spec, seed): (spec.split("@")[0], spec.split("@")[1:], seed, threads, reuse) for spec, seed in work}
    if jobs > 1:
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = {k: pool.submit(_train_seed, *a) for k, a in args.items()}
            trained = {k: f.result() for k, f in futures.items()}
    else:
        trained = {k: _train_seed(*a) for k, a in args.items()}
    loads.append(os.getloadavg())

    out = ["| model | seed | val mca | top-1 | tennis_forehand | train s | CPU ms/clip |",
           "|---|---|---:|---:|---:|---:|---:|"]
    by_spec: dict[str, list[np.ndarray]] = {}
    # a spec's own row is evaluated as it was trained (data.tta_flip); --tta adds the other setting as a row
    trained_flip = {spec: "data.tta_flip=true" in spec.split("@") for spec in specs}
    rows = [(spec, spec, trained_flip[spec]) for spec in specs]
    if tta:
        rows = [(r, spec, flip) for spec in specs for r, flip in
                ((spec, trained_flip[spec]), (f"{spec}{'-flip' if trained_flip[spec] else '+flip'}",
                                              not trained_flip[spec]))]
    for label, spec, flip in rows:
        probs, accs, fhs, secs, vals = by_spec.setdefault(label, []), [], [], [], []
        for seed in range(n):
            run, m = trained[spec, seed]
            p, y, classes = _test_probs(run, flip)
            tf = classes.index("tennis_forehand")
            probs.append(p)
            accs.append(float((p.argmax(1) == y).mean()))
            fhs.append(float((p.argmax(1)[y == tf] == tf).mean()))
            secs.append(m["train_seconds"])
            vals.append(float("nan") if m["val_best"] is None else m["val_best"])  # None: refit, no validation
            out.append(f"| {label} | {seed} | {vals[-1]:.4f} | {accs[-1]:.4f} | {fhs[-1]:.3f} | {secs[-1]:.0f} "
                       f"| {m['test']['latency_ms'] * (2 if flip else 1):.2f} |")
            print(out[-1], flush=True)
        pred = np.mean(probs, axis=0).argmax(1)
        out.append(f"| {label} | mean +- std | {np.mean(vals):.4f} | {np.mean(accs):.4f} +- {np.std(accs):.4f} "
                   f"| {np.mean(fhs):.3f} +- {np.std(fhs):.3f} | {np.mean(secs):.0f} | |")
        out.append(f"| {label} | ensemble of {n} | | {(pred == y).mean():.4f} "
                   f"| {(pred[y == tf] == tf).mean():.3f} | | |")
    if len(specs) >= 2:  # the first two models paired seed by seed: two encodings, one seed each
        a, b = specs[:2]
        accs, fhs = [], []
        for seed, (pa, pb) in enumerate(zip(by_spec[a], by_spec[b])):
            pred = (pa + pb).argmax(1)
            accs.append(float((pred == y).mean()))
            fhs.append(float((pred[y == tf] == tf).mean()))
            out.append(f"| {a} + {b} | {seed} | | {accs[-1]:.4f} | {fhs[-1]:.3f} | sum of both | |")
        out.append(f"| {a} + {b} | mean +- std | | {np.mean(accs):.4f} +- {np.std(accs):.4f} "
                   f"| {np.mean(fhs):.3f} +- {np.std(fhs):.3f} | | |")
    load = ", ".join(f"{x:.1f}" for x in (*loads[0], *loads[1]))
    return "\n".join(["# bench_recognition: seed study (Penn Action, GT joints, official split)", "",
                      f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
                      f"- machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                      f"{threads} thread(s) per training, {jobs} training(s) at a time",
                      f"- load average (1, 5, 15 min) at start and end of training: {load} -- the machine was "
                      "shared with other jobs, so train s and CPU ms/clip are inflated accordingly",
                      "- val mca: the best epoch's mean class accuracy on the stratified 10 % validation split of "
                      "the training clips (what selection looks at; the split follows the seed); test evaluated once per trained model "
                      "(best-on-validation checkpoint); CPU ms/clip = median forward pass, batch 1, encoding excluded",
                      "- `@data.val_fraction=0`: the same settings refit on every training clip (no validation split, "
                      "no selection: the last epoch is the model; val mca nan)",
                      "- each model is evaluated as trained: with flip test-time augmentation where the spec says "
                      "`data.tta_flip=true` (the mirrored clip classified too, probabilities averaged; CPU ms/clip "
                      "= 2 x the single forward pass)",
                      *(["- `+flip` / `-flip` rows (`--tta`): the same checkpoints evaluated with / without the flip"]
                        if tta else []),
                      *(["- `--reuse`: checkpoints and train s of the runs already in benchmarks/runs (an earlier "
                         "training of the same specs and seeds), evaluated again here"] if reuse else []),
                      f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`", "", *out]) + "\n"


def _ship(row: dict) -> None:
    """Copy the checkpoint without optimizer state, plus a model card."""
    ckpt = torch.load(row["run"] / "best.pt", map_location="cpu", weights_only=True)
    ckpt["optimizer"], ckpt["scheduler"] = None, None
    # half precision keeps the package small (1.5 MB); loading copies the weights into float32 parameters
    ckpt["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    ckpt["extra"] = {"weights_dtype": "float16 (stored half precision to keep the package small; loaded as float32)"}
    assets = ROOT / "src" / "sportlens" / "assets"
    torch.save(ckpt, assets / "recognition_penn13.pt")
    t = row["test"]
    card = {"model": row["model"], "data": "Penn Action annotations (ground-truth 13 joints), official split",
            "selection": "stratified 10 % validation split of the training clips", "test_top1": t["top1"],
            "test_mean_class_accuracy": t["mean_class_accuracy"], "test_macro_f1": t["macro_f1"],
            "per_class_accuracy": t["per_class_accuracy"], "train_seconds": row["train_seconds"],
            "params": t["params"], "date": dt.date.today().isoformat(),
            "command": f"python benchmarks/bench_recognition.py --models {row['model']} --ship {row['model']}",
            "config": f"configs/penn_{row['model']}.yaml"}
    (assets / "recognition_penn13.card.json").write_text(json.dumps(card, indent=2))
    shutil.copy(row["run"] / "config.yaml", assets / "recognition_penn13.config.yaml")


if __name__ == "__main__":
    main()
