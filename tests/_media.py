"""Small media files the tests make themselves (no real data needed)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
import numpy as np


def make_video(path: Path, frames: Iterable[np.ndarray], *, fps: float = 30, times: list[float] | None = None,
               rotation_ccw: int | None = None, codec: str = "libx264", faststart: bool = True) -> Path:
    """Encode RGB uint8 frames (H, W, 3) to ``path``; ``times`` gives variable-rate timestamps."""
    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", options={"movflags": "+faststart"} if faststart else {}) as c:
        s = c.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        if times is not None:
            s.codec_context.time_base = Fraction(1, 1000)
        if rotation_ccw is not None:
            s.set_display_rotation(rotation_ccw)
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            if times is not None:
                f.pts, f.time_base = int(round(times[i] * 1000)), Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def gradient_frames(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    """Frames with a moving bright square on a gradient: decodable, and nobody in them."""
    out = []
    base = np.linspace(0, 120, w, dtype=np.uint8)[None, :, None].repeat(h, 0).repeat(3, 2)
    for i in range(n):
        img = base.copy()
        x = (i * 3) % max(1, w - 8)
        img[4:12, x:x + 8] = 255
        out.append(img)
    return out


def transcode(src: Path, dst: Path, *, rotate_cw_stored: int = 0, end: float | None = None,
              display_rotation_ccw: int | None = None, max_frames: int | None = None) -> Path:
    """Re-encode a real video, optionally storing frames turned and tagging a display rotation."""
    frames, fps = [], 30.0
    with av.open(str(src)) as c:
        s = c.streams.video[0]
        fps = float(s.average_rate or 30)
        for f in c.decode(s):
            if (end is not None and f.time >= end) or (max_frames and len(frames) >= max_frames):
                break
            img = f.to_ndarray(format="rgb24")
            frames.append(np.ascontiguousarray(np.rot90(img, k=-(rotate_cw_stored // 90))))
    frames = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in frames]
    return make_video(dst, frames, fps=fps, rotation_ccw=display_rotation_ccw)
