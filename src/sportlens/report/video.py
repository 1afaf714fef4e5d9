"""The overlay video (skeleton, angle labels, angle strip) and the key frames of the report.

The video is decoded a second time (at overlay size, streaming) rather than keeping frames from
the pose pass: memory stays flat however long the video is. As in the pose pass, the time range
is cut into chunks rendered by parallel threads (each its own decoder and encoder; FFmpeg, x264
and OpenCV release the GIL), and the segments are joined without re-encoding. Decoded frames are
matched to the analysis by timestamp, not by counting, so trimmed or variable-frame-rate videos
stay in sync.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

from sportlens.report.draw import render_overlay_frame
from sportlens.types import Analysis
from sportlens.video import VideoReader, VideoWriter, concat_mp4
from sportlens.video.chunks import chunk_ranges

KeyFrames = list[tuple[float, np.ndarray]]


def _match(times: np.ndarray, t: float) -> int | None:
    """Index of the analysis frame at time ``t`` (within half a frame), else None."""
    if len(times) == 0:
        return None
    i = int(np.clip(np.searchsorted(times, t), 1, len(times) - 1)) if len(times) > 1 else 0
    j = i if abs(times[i] - t) <= abs(times[i - 1] - t) else i - 1
    tol = 0.5 * float(np.median(np.diff(times))) if len(times) > 1 else 1e-3
    return j if abs(times[j] - t) <= tol + 1e-9 else None


def render_overlay(analysis: Analysis, out_path: Path | None, *, start: float | None, end: float | None,
                   max_side: int, key_times: list[float], workers: int = 2, chunk_seconds: float = 20.0,
                   progress: Callable[[int], None] | None = None) -> KeyFrames:
    """Write the overlay MP4 to ``out_path`` (None: only grab key frames). Returns the key frames
    (time, undrawn RGB image at overlay size), for the report to draw on."""
    if out_path is None:
        return grab_frames(analysis, key_times, max_side, workers)
    chunks = chunk_ranges(analysis.video, start, end, workers, chunk_seconds)
    parts = [out_path.with_name(f".{out_path.stem}.seg{k}.{os.getpid()}.mp4") for k in range(len(chunks))]
    lock = threading.Lock()

    def tick() -> None:
        if progress:
            with lock:
                progress(1)

    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            # FFmpeg threads stay on here: x264 and drawing leave the cores idle at times (measured:
            # overlay +18 % of analyze time with them, +30 % without)
            jobs = [pool.submit(_render_chunk, analysis, p, a, b, max_side, key_times, tick, True)
                    for p, (a, b) in zip(parts, chunks)]
            keys = [k for j in jobs for k in j.result()]
        concat_mp4([p for p in parts if p.exists()], out_path)
    finally:
        for p in parts:
            p.unlink(missing_ok=True)
    return _dedupe(keys)


def _render_chunk(analysis: Analysis, part: Path, t0: float, t1: float | None, max_side: int,
                  key_times: list[float], tick: Callable[[], None], threaded: bool) -> KeyFrames:
    reader = VideoReader(analysis.video.path, start=t0, end=t1, max_side=max_side, threaded=threaded)
    pending = sorted(t for t in key_times if t >= t0 - 1e-6 and (t1 is None or t < t1))
    keys: KeyFrames = []
    times = analysis.clean.times
    # ultrafast: the overlay is a viewing aid; speed matters more than file size (~15 MB/min at 960 px)
    with VideoWriter(part, *reader.output_size, analysis.video.fps, preset="ultrafast") as writer:
        for frame in reader:
            if pending and frame.time >= pending[0] - 1e-6:
                keys.append((frame.time, frame.image.copy()))  # before drawing: the report draws its own
                pending.pop(0)
            i = _match(times, frame.time)
            writer.write(render_overlay_frame(frame.image, i, analysis) if i is not None else frame.image)
            tick()
    return keys


def grab_frames(analysis: Analysis, key_times: list[float], max_side: int, workers: int = 2) -> KeyFrames:
    """The first frame at or after each time: short seeks in parallel threads, no full decode."""
    def grab(t: float) -> KeyFrames:
        for frame in VideoReader(analysis.video.path, start=t, end=t + 0.5, max_side=max_side):
            return [(frame.time, frame.image)]
        return []

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return [k for found in pool.map(grab, sorted(key_times)) for k in found]


def _dedupe(keys: KeyFrames) -> KeyFrames:
    seen, out = set(), []
    for t, img in sorted(keys, key=lambda k: k[0]):
        if round(t, 4) not in seen:
            seen.add(round(t, 4))
            out.append((t, img))
    return out
