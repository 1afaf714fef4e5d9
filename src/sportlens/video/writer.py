"""Writing MP4 with PyAV: H.264 (libx264) when the FFmpeg build has it, else MPEG-4 Part 2.

The file is written under a temporary name next to the target and renamed on ``close()``, so a
crash never leaves a half-written video under the final name.
"""
from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

log = logging.getLogger(__name__)


def pick_codec() -> str:
    """'libx264' if available (plays everywhere, small files), else 'mpeg4' (logged)."""
    if "libx264" in av.codecs_available:
        return "libx264"
    log.warning("libx264 is not in this FFmpeg build: overlay video falls back to MPEG-4 Part 2 "
                "(plays in VLC and most desktop players, not in every browser)")
    return "mpeg4"


class VideoWriter:
    """Encode RGB uint8 frames (H, W, 3) of a fixed, even size to an MP4 file."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float, *, crf: int = 23):
        self.path = Path(path)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part.mp4")
        self.width, self.height = width, height
        self.codec = pick_codec()
        self._container = av.open(str(self._tmp), mode="w", options={"movflags": "+faststart"})
        rate = Fraction(fps).limit_denominator(1001) if fps and fps > 0 else Fraction(30)
        self._stream = self._container.add_stream(self.codec, rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        if self.codec == "libx264":
            self._stream.options = {"crf": str(crf), "preset": "veryfast"}
        else:
            self._stream.bit_rate = 4_000_000
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, writer expects "
                             f"{self.width}x{self.height}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> Path:
        """Flush, close and move the file to its final name. Returns the final path."""
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._container.close()
        except Exception:  # closing a broken container must not hide the original error
            pass
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
