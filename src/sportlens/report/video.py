"""The overlay video (skeleton, angle labels, angle strip) and the key frames of the report.

The video is decoded a second time (at overlay size, streaming) rather than keeping frames from
the pose pass: memory stays flat however long the video is. Decoded frames are matched to the
analysis by timestamp, not by counting, so a trimmed or variable-frame-rate video stays in sync.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from sportlens.report.draw import render_overlay_frame
from sportlens.types import Analysis
from sportlens.video import VideoReader, VideoWriter


def _match(times: np.ndarray, t: float) -> int | None:
    """Index of the analysis frame at time ``t`` (within half a frame), else None."""
    if len(times) == 0:
        return None
    i = int(np.clip(np.searchsorted(times, t), 1, len(times) - 1)) if len(times) > 1 else 0
    j = i if abs(times[i] - t) <= abs(times[i - 1] - t) else i - 1
    tol = 0.5 * float(np.median(np.diff(times))) if len(times) > 1 else 1e-3
    return j if abs(times[j] - t) <= tol + 1e-9 else None


def render_overlay(analysis: Analysis, out_path: Path | None, *, start: float | None, end: float | None,
                   max_side: int, key_times: list[float],
                   progress: Callable[[int], None] | None = None) -> list[tuple[float, np.ndarray]]:
    """Write the overlay MP4 to ``out_path`` (None: only grab key frames). Returns key frames."""
    reader = VideoReader(analysis.video.path, start=start, end=end, max_side=max_side, fast_scaling=False)
    times = analysis.clean.times
    keys: list[tuple[float, np.ndarray]] = []
    pending = sorted(key_times)
    writer = VideoWriter(out_path, *reader.output_size, analysis.video.fps) if out_path else None
    try:
        for frame in _frames(reader, pending, seek=writer is None):
            i = _match(times, frame.time)
            img = render_overlay_frame(frame.image, i, analysis) if i is not None else frame.image
            if pending and i is not None and frame.time >= pending[0] - 1e-6:
                keys.append((frame.time, frame.image.copy()))  # drawn by render_html
                pending.pop(0)
            if writer:
                writer.write(img)
            if progress:
                progress(1)
    except BaseException:
        if writer:
            writer.abort()
        raise
    if writer:
        writer.close()
    return keys


def _frames(reader: VideoReader, key_times: list[float], seek: bool):
    """All frames, or (no video wanted) only short reads around each key time."""
    if not seek:
        yield from reader
        return
    for t in key_times:
        sub = VideoReader(reader.path, start=t, end=t + 0.2, max_side=reader.max_side, fast_scaling=False)
        yield from sub
