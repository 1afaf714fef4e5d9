"""Cutting a time range into contiguous chunks that parallel workers decode independently."""
from __future__ import annotations

import math

import numpy as np

from sportlens.types import VideoInfo

MIN_CHUNK_S = 1.0  # shorter chunks cost more in re-detection and seeking than they gain


def plan_chunks(start: float, end: float, workers: int, chunk_seconds: float) -> list[tuple[float, float]]:
    """Contiguous [t0, t1) chunks covering [start, end): at least one per worker when long enough."""
    span = end - start
    if workers <= 1 or span < 2 * MIN_CHUNK_S:
        n = max(1, math.ceil(span / chunk_seconds)) if span > 0 else 1
    else:
        n = max(min(workers, int(span // MIN_CHUNK_S)), math.ceil(span / chunk_seconds))
    edges = np.linspace(start, end, n + 1)
    return [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:])]


def chunk_ranges(info: VideoInfo, start: float | None, end: float | None, workers: int,
                 chunk_seconds: float) -> list[tuple[float, float | None]]:
    """Chunks of [start, end) of a video; the last one runs to ``end`` (None: the real end of the
    stream), because container durations are estimates and must not cut off the last frames."""
    t_start = max(0.0, start or 0.0)
    t_plan = min(end, info.duration) if end is not None and info.duration else (end or info.duration)
    chunks: list[tuple[float, float | None]] = (
        list(plan_chunks(t_start, t_plan, workers, chunk_seconds)) if t_plan and t_plan > t_start
        else [(t_start, None)])
    chunks[-1] = (chunks[-1][0], end)
    return chunks
