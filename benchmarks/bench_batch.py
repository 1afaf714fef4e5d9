"""Throughput of `sportlens batch` (Ray) with 1 and 2 workers on this machine, side by side in one run.

Run: .venv/bin/python benchmarks/bench_batch.py [--piece 3] [--copies 2] [--repeats 1] [--video]

The fixed set: every video of shared/videos copied ``--copies`` times into a temporary input folder
(3 x 2 = 6 files), each analysed from 0 to ``--piece`` seconds (the same work as `sportlens batch
IN --out OUT --end 3 --no-video`). For each worker count, in one process: start a local Ray with that
many CPUs (timed apart: a fixed cost per batch, not per video), then `run_batch` into a fresh output
folder (nothing resumed). Repeats alternate the order (1, 2, 2, 1, ...). Prints a table and writes it
to benchmarks/results/bench_batch.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from sportlens.batch import BatchSettings, run_batch
from sportlens.config import AnalyzeSettings
from sportlens.samples import shared_dir

RESULTS = Path(__file__).parent / "results" / "bench_batch.md"
WORKERS = (1, 2)


def make_inputs(folder: Path, copies: int) -> list[str]:
    shared = shared_dir()
    if shared is None or not (shared / "videos").is_dir():
        sys.exit("shared/videos not found: set SPORTLENS_SHARED or put shared/ beside the checkout")
    names = []
    for src in sorted((shared / "videos").glob("*.mp4")):
        for k in range(copies):
            shutil.copy(src, folder / f"{src.stem}_{k}{src.suffix}")
            names.append(src.name)
    return names


def one_batch(inputs: Path, out: Path, workers: int, analyze: AnalyzeSettings) -> dict:
    import logging

    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
             object_store_memory=256 * 2**20)
    ray_start = time.perf_counter() - t0
    try:
        report = run_batch(inputs, out, BatchSettings(workers=workers), analyze)  # reuses this Ray
    finally:
        ray.shutdown()
    if report.failed:
        sys.exit(f"failed videos: {report.failed}")
    return {"workers": workers, "videos": report.analysed, "frames": report.frames, "seconds": report.seconds,
            "ray_start": ray_start, "cpu": report.cpu_seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--piece", type=float, default=3.0, help="seconds analysed of each video")
    ap.add_argument("--copies", type=int, default=2, help="copies of each shared video in the input folder")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--video", action="store_true", help="also write the overlay videos")
    args = ap.parse_args()
    base = AnalyzeSettings(start=0.0, end=args.piece)
    analyze = replace(base, output=replace(base.output, video=args.video))
    load_before = os.getloadavg()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "in"
        inputs.mkdir()
        names = make_inputs(inputs, args.copies)
        for r in range(args.repeats):
            for w in (WORKERS if r % 2 == 0 else WORKERS[::-1]):
                out = Path(tmp) / f"out-{w}-{r}"
                runs.append(one_batch(inputs, out, w, analyze))
                print(f"workers {w}: {runs[-1]['videos']} videos, {runs[-1]['frames']} frames in "
                      f"{runs[-1]['seconds']:.1f} s, {runs[-1]['cpu']:.1f} CPU s "
                      f"(+ Ray start {runs[-1]['ray_start']:.1f} s)", flush=True)
    write_results(args, names, runs, load_before, os.getloadavg())


def write_results(args, names: list[str], runs: list[dict], load_before, load_after) -> None:
    rows, base = [], None
    for w in WORKERS:
        mine = [r for r in runs if r["workers"] == w]
        secs = statistics.median(r["seconds"] for r in mine)
        videos, frames = mine[0]["videos"], mine[0]["frames"]
        base = base or secs
        cpu = statistics.median(r["cpu"] for r in mine)
        rows.append(f"| {w} | {videos} | {frames} | {secs:.1f} | {60 * videos / secs:.1f} | {frames / secs:.1f} | "
                    f"{base / secs:.2f}x | {cpu / videos:.1f} | {cpu / secs:.2f} | "
                    f"{statistics.median(r['ray_start'] for r in mine):.1f} |")
    text = "\n".join([
        "# bench_batch", "",
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
        f"{platform.platform()}",
        f"- command: `python benchmarks/bench_batch.py --piece {args.piece:g} --copies {args.copies} "
        f"--repeats {args.repeats}{' --video' if args.video else ''}`",
        f"- input: {len(names)} files ({', '.join(sorted(set(names)))} x {args.copies}), each analysed "
        f"0-{args.piece:g} s, {'with' if args.video else 'without'} overlay video; fresh output folder per run",
        f"- load average (1 min) before / after: {load_before[0]:.1f} / {load_after[0]:.1f} "
        "(a shared machine: other jobs run on the same cores)",
        f"- median of {args.repeats} run(s) per worker count, alternating order; seconds = `run_batch` wall "
        "time with Ray already started (Ray start-up shown apart)", "",
        "| workers | videos | frames | seconds | videos/min | frames/s | speed-up | CPU s/video | cores used "
        "| Ray start (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows, "",
        "CPU s/video: CPU time of the analysing worker processes per video; cores used: their CPU seconds "
        "per wall second (2 workers can use at most 2; less means other jobs had the cores).", ""])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
