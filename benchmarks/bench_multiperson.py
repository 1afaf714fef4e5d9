"""Frames/s of the multi-person pose against the single-person (legacy mediapipe) pipeline.

Run: .venv/bin/python benchmarks/bench_multiperson.py [--repeats 2] [--max-side 960]

For each video (../shared/videos/sports2d_demo.mp4, ../shared/videos/arm_wrestling.mp4), in ONE
process, alternating run after run, each decode + pose frame by frame in one thread:
  (a) single: VideoReader -> BlazePoseEstimator.estimate (mediapipe.solutions.pose, full model);
  (b) multi:  sportlens.pose.multiperson.estimate_people_video with the default MultiPoseSettings
      (detector score 0.3, zooms 1 and 2, every 5 frames and on every frame for up to
      ``redetect_frames`` = 15 frames after a person was lost, up to 4 people);
  (c) (b) without the re-detection after a loss (``redetect_frames=0``: the pipeline before it);
  (d) (b) with ``workers=2``: the people of a frame split over two threads;
  (e) (b) with the small-person search on (``--small-people``, ``sportlens.pose.small_people``; frames
      decoded at up to 1920 px for it): its cost.
Best of the repeats (the machine is shared). Also the people found per frame. Prints a table and
writes benchmarks/results/bench_multiperson.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from sportlens.config import MultiPoseSettings
from sportlens.pose.blazepose import BlazePoseEstimator
from sportlens.pose.multiperson import estimate_people_video
from sportlens.samples import shared_dir
from sportlens.video import VideoReader

RESULTS = Path(__file__).parent / "results" / "bench_multiperson.md"


def single(path: Path, max_side: int) -> tuple[int, float, np.ndarray]:
    est = BlazePoseEstimator()
    t0, counts = time.perf_counter(), []
    for frame in VideoReader(path, max_side=max_side or None):
        kp, _ = est.estimate(frame.image)
        counts.append(int(np.isfinite(kp).all()))
    dt_ = time.perf_counter() - t0
    est.close()
    return len(counts), dt_, np.array(counts)


def multi(path: Path, settings: MultiPoseSettings) -> tuple[int, float, np.ndarray]:
    t0 = time.perf_counter()
    res = estimate_people_video(path, settings)
    return len(res.people), time.perf_counter() - t0, res.counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--max-side", type=int, default=960)
    args = ap.parse_args()
    shared = shared_dir()
    if shared is None:
        sys.exit("shared/ not found (set SPORTLENS_SHARED)")
    videos = [shared / "videos/sports2d_demo.mp4", shared / "videos/arm_wrestling.mp4"]
    base = MultiPoseSettings(max_side=args.max_side)
    variants = {
        "single (legacy mediapipe)": lambda p: single(p, args.max_side),
        "multi (defaults)": lambda p: multi(p, base),
        "multi (no re-detection after a loss)": lambda p: multi(p, replace(base, redetect_frames=0)),
        "multi (defaults, 2 workers)": lambda p: multi(p, replace(base, workers=2)),
        "multi (small-people search on)": lambda p: multi(
            p, replace(base, small_people=replace(base.small_people, enabled=True))),
    }
    rows = []
    for video in videos:
        best: dict[str, tuple[int, float, np.ndarray]] = {}
        for _ in range(args.repeats):
            for name, fn in variants.items():
                n, secs, counts = fn(video)
                if name not in best or secs < best[name][1]:
                    best[name] = (n, secs, counts)
        for name, (n, secs, counts) in best.items():
            hist = np.bincount(counts, minlength=3)
            rows.append((video.name, name, n, n / secs, 1000 * secs / n, hist[0], hist[1], int(hist[2:].sum())))
            print(f"{video.name:20s} {name:36s} {n:4d} frames {n / secs:6.1f} frames/s  people 0/1/2+: "
                  f"{hist[0]}/{hist[1]}/{int(hist[2:].sum())}", flush=True)

    load = os.getloadavg()
    lines = [
        "# Multi-person pose vs single-person pipeline",
        "",
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores, {platform.platform()}, "
        f"Python {platform.python_version()}; load average at the end {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} "
        "(the machine is shared: other jobs were running)",
        f"- command: `.venv/bin/python benchmarks/bench_multiperson.py --repeats {args.repeats} "
        f"--max-side {args.max_side}`",
        "- each row: decode (PyAV, frames scaled to the longer side "
        f"{args.max_side or 'native'}) + pose, frame by frame in one thread, best of {args.repeats} runs;"
        " single = `mediapipe.solutions.pose` full model (one person); multi = "
        "`sportlens.pose.multiperson.estimate_people_video` (same BlazePose models through ai-edge-litert, "
        "one landmark pass per person)",
        "",
        "| video | pipeline | frames | frames/s | ms/frame | frames with 0 / 1 / 2+ people |",
        "|---|---|---:|---:|---:|---|",
    ]
    for v, name, n, fps, ms, h0, h1, h2 in rows:
        lines.append(f"| {v} | {name} | {n} | {fps:.1f} | {ms:.1f} | {h0} / {h1} / {h2} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten {RESULTS}")


if __name__ == "__main__":
    main()
