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

    def __init__(self, path: str | Path, width: int, height: int, fps: float, *, crf: int = 23,
                 preset: str = "veryfast"):
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
            # bframes=0: segments written in parallel can then be joined packet by packet (concat_mp4)
            self._stream.options = {"crf": str(crf), "preset": preset, "bf": "0"}
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


def concat_mp4(parts: list[Path], out: Path) -> Path:
    """Join MP4 segments of one codec/size into ``out`` by copying packets (no re-encoding).

    Why by hand: FFmpeg's concat demuxer is not exposed by PyAV; joining is only re-timing packets.
    Segments must have no B-frames reordering across their ends (true for our encoder settings).
    Written to a temporary name and renamed, like every output.
    """
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part.mp4")
    try:
        with av.open(str(tmp), "w", options={"movflags": "+faststart"}) as oc:
            stream, offset = None, 0
            for part in parts:
                with av.open(str(part)) as ic:
                    s_in = ic.streams.video[0]
                    if stream is None:
                        stream = oc.add_stream_from_template(s_in)
                    end = offset
                    for p in ic.demux(s_in):
                        if p.dts is None:  # the demuxer's final flush packet
                            continue
                        dur = p.duration or 0
                        p.pts, p.dts = p.pts + offset, p.dts + offset
                        end = max(end, p.pts + dur)
                        p.stream = stream
                        oc.mux(p)
                    offset = end
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
