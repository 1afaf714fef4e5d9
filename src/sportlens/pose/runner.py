"""Run a pose backend over a whole video, in parallel over time chunks.

Why threads and chunks: BlazePose keeps one core busy and releases the GIL while it runs
(measured: 2 threads on 2 cores ~1.9x one thread), and decoding (PyAV) releases it too. So the
time range is cut into contiguous chunks; each worker thread opens its own decoder (seeking to the
chunk start) and its own estimator, and runs the chunk start to end. Chunks are contiguous so the
tracker sees consecutive frames; each chunk starts with a fresh detection. Memory stays flat:
only the per-frame keypoints (V x 3 floats) are kept.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from sportlens.config import PoseSettings
from sportlens.pose.base import create_estimator
from sportlens.skeletons import get_skeleton
from sportlens.types import PoseTrack, VideoInfo
from sportlens.video import VideoReader, probe
from sportlens.video.chunks import chunk_ranges

@dataclass
class _ChunkResult:
    times: list[float] = field(default_factory=list)
    keypoints: list[np.ndarray] = field(default_factory=list)  # each (V, 2)
    scores: list[np.ndarray] = field(default_factory=list)  # each (V,)
    warnings: list[str] = field(default_factory=list)
    skeleton: str = ""


def _run_chunk(path: Path, t0: float, t1: float | None, settings: PoseSettings,
               info: VideoInfo, tick: Callable[[int], None], stop: threading.Event) -> _ChunkResult:
    res = _ChunkResult()
    reader = VideoReader(path, start=t0, end=t1, max_side=settings.max_side or None,
                         threaded=settings.workers <= 1)
    w, h = reader.output_size
    scale = np.array([info.width / w, info.height / h])  # back to original pixels
    est = create_estimator(settings.backend, min_detection_confidence=settings.min_detection_confidence,
                           min_tracking_confidence=settings.min_tracking_confidence)
    res.skeleton = est.skeleton
    with est:
        for frame in reader:
            if stop.is_set():
                break
            kp, sc = est.estimate(frame.image)  # (V, 2) pixels of the scaled frame, (V,)
            res.times.append(frame.time)
            res.keypoints.append(kp * scale)
            res.scores.append(sc)
            tick(1)
    res.warnings.extend(reader.warnings)
    return res


def estimate_video(path: str | Path, settings: PoseSettings = PoseSettings(), *, start: float | None = None,
                   end: float | None = None, progress: Callable[[int], None] | None = None,
                   info: VideoInfo | None = None) -> tuple[PoseTrack, list[str]]:
    """Pose of the main person over [start, end) seconds. Returns the raw track and warnings.

    ``progress(n)`` is called (from worker threads, serialised by a lock) after every n frames.
    """
    path = Path(path)
    info = info or probe(path)
    chunks = chunk_ranges(info, start, end, settings.workers, settings.chunk_seconds)
    lock, stop = threading.Lock(), threading.Event()

    def tick(n: int) -> None:
        if progress is not None:
            with lock:
                progress(n)

    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        futures = [pool.submit(_run_chunk, path, a, b, settings, info, tick, stop) for a, b in chunks]
        try:
            results = [f.result() for f in futures]
        except BaseException:
            stop.set()  # let the other workers finish their current frame and return
            raise
    # A damaged file makes every later chunk complain too: the earliest chunk's words are the precise ones.
    warnings = next((r.warnings for r in results if r.warnings), [])
    return _merge(results), warnings


def _merge(results: list[_ChunkResult]) -> PoseTrack:
    skeleton = results[0].skeleton
    times = np.array([t for r in results for t in r.times], dtype=np.float64)
    if len(times) == 0:
        V = get_skeleton(skeleton).num_joints
        return PoseTrack(np.zeros((0, V, 2)), np.zeros((0, V)), times, skeleton)
    kp = np.stack([k for r in results for k in r.keypoints])  # (T, V, 2)
    sc = np.stack([s for r in results for s in r.scores])  # (T, V)
    order = np.argsort(times, kind="stable")
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = np.diff(times[order]) > 1e-9  # a frame on a chunk edge is never counted twice
    order = order[keep]
    return PoseTrack(kp[order], sc[order], times[order], skeleton=skeleton)
