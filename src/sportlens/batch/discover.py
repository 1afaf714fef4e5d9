"""Which files of the input folder are videos, and the output folder name each one gets."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sportlens.errors import InputError

# Containers PyAV/FFmpeg read that cameras and phones write. Others are ignored, not failed:
# a season's folder also holds notes, thumbnails and sidecar files.
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mts", ".m2ts", ".mpg", ".mpeg"})


@dataclass(frozen=True)
class VideoJob:
    path: Path  # the input file (absolute)
    name: str  # its output folder name under --out: the file's stem, unique within the batch


def find_videos(input_dir: str | Path) -> list[VideoJob]:
    """Videos directly inside ``input_dir`` (not recursive), in name order.

    Output names are the stems; when two files share one (``a.mp4``, ``a.mov``), each of them gets
    ``<stem>_<ext>`` instead, so no analysis overwrites another and the names do not depend on order.
    """
    root = Path(input_dir)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder. Give the folder that holds the videos")
    files = sorted(p.resolve() for p in root.iterdir()
                   if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise InputError(f"{root}: no video files found (looked for {', '.join(sorted(VIDEO_SUFFIXES))})")
    stems: dict[str, int] = {}
    for p in files:
        stems[p.stem] = stems.get(p.stem, 0) + 1
    return [VideoJob(p, p.stem if stems[p.stem] == 1 else f"{p.stem}_{p.suffix[1:].lower()}") for p in files]
