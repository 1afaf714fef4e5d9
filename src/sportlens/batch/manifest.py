"""The batch manifest: what was analysed, from which version of the file, with which settings.

``OUT/batch_manifest.json`` maps each output name to the input's size and mtime (ns), a hash of
the analysis settings, the status and the error. A video is *finished* when its entry says ok, its
``summary.json`` exists, and the file and settings are unchanged: a re-run skips it. A replaced or
edited video, or other settings (``--start``, ``--no-video``, ...), is analysed again. Only the
driver writes the manifest, atomically after every video, so an interrupted batch resumes where it
stopped.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sportlens.fsutil import write_json

MANIFEST = "batch_manifest.json"
VERSION = 1


@dataclass(frozen=True)
class Entry:
    file: str  # the input path (absolute)
    size: int
    mtime_ns: int
    settings: str  # settings_key() of the analysis settings used
    status: str  # ok | failed
    error: str = ""
    seconds: float = 0.0  # wall time of the analysis (all attempts)
    attempts: int = 1


def file_stamp(path: str | Path) -> tuple[int, int]:
    st = Path(path).stat()
    return st.st_size, st.st_mtime_ns


def settings_key(settings: dict[str, Any]) -> str:
    """A short hash of the analysis settings; parallelism (``pose.workers``) does not change results."""
    pose = {k: v for k, v in settings.get("pose", {}).items() if k != "workers"}
    text = json.dumps({**settings, "pose": pose}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load(out_dir: str | Path) -> dict[str, Entry]:
    """The manifest's entries; an unreadable or foreign manifest counts as empty (everything re-runs)."""
    path = Path(out_dir) / MANIFEST
    try:
        data = json.loads(path.read_text())
        if data.get("version") != VERSION:
            return {}
        return {name: Entry(**e) for name, e in data["videos"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def save(out_dir: str | Path, entries: dict[str, Entry]) -> None:
    write_json(Path(out_dir) / MANIFEST,
               {"version": VERSION, "videos": {name: asdict(e) for name, e in sorted(entries.items())}})


def is_finished(entry: Entry | None, video: str | Path, summary: Path, settings: str) -> bool:
    if entry is None or entry.status != "ok" or entry.settings != settings or not summary.is_file():
        return False
    try:
        return (entry.size, entry.mtime_ns) == file_stamp(video)
    except OSError:  # the input vanished since: nothing to redo
        return False
