"""Speed and memory of `sportlens analyze` against a naive decode-then-pose loop.

Run: .venv/bin/python benchmarks/bench_analyze.py [--video PATH] [--repeats 3] [--long-minutes 10]

In ONE process, alternating run after run on the same video:
  (a) naive loop: decode a frame with PyAV (full size RGB), run BlazePose full, next frame;
  (b) analyze --no-video: the library call the CLI makes (pose, cleaning, angles, tables, report);
  (c) analyze with the overlay video, to measure what rendering adds.
Then (optional, --long-minutes > 0) peak RSS of `sportlens analyze --no-video` in a child process on a
long 1920x1080 video made by re-encoding the sample once and looping its packets (no re-encode).
Prints a table and writes it to benchmarks/results/bench_analyze.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from sportlens.api import analyze_video
from sportlens.config import AnalyzeSettings, OutputSettings
from sportlens.pose.blazepose import BlazePoseEstimator
from sportlens.samples import sample_video

RESULTS = Path(__file__).parent / "results" / "bench_analyze.md"


def naive_loop(path: Path) -> tuple[int, float]:
    est = BlazePoseEstimator()
    t0, n = time.perf_counter(), 0
    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.video[0]):
            est.estimate(frame.to_ndarray(format="rgb24"))
            n += 1
    est.close()
    return n, time.perf_counter() - t0


def analyze_run(path: Path, video: bool) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as out:
        settings = AnalyzeSettings(output=OutputSettings(video=video))
        t0 = time.perf_counter()
        a = analyze_video(path, out, settings)
        return a.raw.num_frames, time.perf_counter() - t0


def make_long_video(src: Path, dst: Path, minutes: float) -> Path:
    """1920x1080 H.264: encode the sample once, then repeat its packets with shifted timestamps."""
    once = dst.with_name("once.mp4")
    with av.open(str(src)) as ic, av.open(str(once), "w") as oc:
        s_in = ic.streams.video[0]
        s = oc.add_stream("libx264", rate=s_in.average_rate)
        s.width, s.height, s.pix_fmt = 1920, 1080, "yuv420p"
        s.options = {"preset": "veryfast", "crf": "23", "g": "60", "bf": "0"}
        for i, f in enumerate(ic.decode(s_in)):
            img = f.reformat(width=1920, height=1080, format="yuv420p")
            img.pts, img.time_base = i, 1 / Fraction(s_in.average_rate)
            for p in s.encode(img):
                oc.mux(p)
        for p in s.encode():
            oc.mux(p)
    with av.open(str(once)) as ic, av.open(str(dst), "w") as oc:
        s_in = ic.streams.video[0]
        s = oc.add_stream_from_template(s_in)
        # (bytes, pts, dts, keyframe): a muxed packet is consumed, so each loop needs new ones
        packets = [(bytes(p), p.pts, p.dts, p.is_keyframe, p.duration) for p in ic.demux(s_in) if p.size]
        span = max(p[1] for p in packets) + (packets[0][4] or 1)
        loops = int(np.ceil(minutes * 60 / float(span * s_in.time_base)))
        for k in range(loops):
            for data, pts, dts, key, dur in packets:
                p = av.Packet(data)
                p.pts, p.dts, p.duration, p.is_keyframe = pts + k * span, dts + k * span, dur, key
                p.time_base, p.stream = s_in.time_base, s
                oc.mux(p)
    once.unlink()
    return dst


def peak_rss_child(path: Path) -> tuple[float, float, int]:
    """(peak RSS MiB, seconds, exit code) of `sportlens analyze --no-video` on ``path``."""
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "sportlens", "analyze", str(path), "--out", out,
                               "--no-video", "--json"], capture_output=True, text=True)
        secs = time.perf_counter() - t0
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, secs, done.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--long-minutes", type=float, default=10.0, help="0 skips the long-video memory run")
    args = ap.parse_args()
    video = args.video or sample_video()
    analyze_run(video, video=False)  # warm-up: imports, model load, file cache
    rows = {"naive": [], "analyze --no-video": [], "analyze (with overlay)": []}
    for _ in range(args.repeats):
        rows["naive"].append(naive_loop(video))
        rows["analyze --no-video"].append(analyze_run(video, video=False))
        rows["analyze (with overlay)"].append(analyze_run(video, video=True))
    fps = {k: float(np.median([n / s for n, s in v])) for k, v in rows.items()}
    secs = {k: float(np.median([s for _, s in v])) for k, v in rows.items()}
    lines = _table(video, args, fps, secs)
    if args.long_minutes > 0:
        with tempfile.TemporaryDirectory() as tmp:
            long_video = make_long_video(video, Path(tmp) / "long.mp4", args.long_minutes)
            rss, s, rc = peak_rss_child(long_video)
            n = int(round(args.long_minutes * 60 * 30))
            lines += ["", f"Long video: {args.long_minutes:g} min 1920x1080 H.264 (sample re-encoded, looped), "
                          f"`sportlens analyze --no-video`: peak RSS **{rss:.0f} MiB**, {s:.0f} s "
                          f"(~{n / s:.1f} frames/s), exit code {rc}; target < 1024 MiB."]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


def _table(video: Path, args, fps: dict, secs: dict) -> list[str]:
    ratio = fps["analyze --no-video"] / fps["naive"]
    overlay = secs["analyze (with overlay)"] / secs["analyze --no-video"] - 1
    return [
        "# bench_analyze",
        "",
        f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.platform()}",
        f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
        f"- video: {video.name}; median of {args.repeats} alternating runs in one process",
        "",
        "| run | frames/s | seconds |",
        "|---|---:|---:|",
        *[f"| {k} | {fps[k]:.1f} | {secs[k]:.2f} |" for k in fps],
        "",
        f"analyze --no-video / naive = **{ratio:.2f}x** (target >= 1.5x and >= 40 frames/s); "
        f"overlay adds **{overlay:.0%}** to analyze time (target <= 30 %).",
    ]


if __name__ == "__main__":
    main()
