"""Atomic output: nothing half-written ever appears under a final name.

``StagedDir`` collects a run's files in a hidden staging folder inside the output directory (same
file system, so ``os.replace`` is an atomic rename), and moves them into place only when the run
succeeded; on failure the staging folder is removed and earlier outputs stay as they were.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from sportlens.errors import OutputError


def ensure_writable_dir(path: str | Path) -> Path:
    """Create ``path`` if needed and check we can write into it, or raise ``OutputError``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a directory. Choose another --out folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".sportlens-write-test-"):
            pass
    except OSError as e:
        raise OutputError(f"{path}: output folder is not writable ({e.strerror}). "
                          "Choose another --out folder or fix its permissions") from None
    return path


class StagedDir:
    """Write files into ``staging``; ``commit()`` renames them into ``target``; ``abort()`` drops them."""

    def __init__(self, target: str | Path):
        self.target = ensure_writable_dir(target)
        self.staging = Path(tempfile.mkdtemp(dir=self.target, prefix=".sportlens-partial-"))
        self.files: dict[str, Path] = {}

    def path(self, name: str) -> Path:
        """Where to write ``name`` now (inside the staging folder)."""
        return self.staging / name

    def commit(self, order: list[str] | None = None) -> dict[str, Path]:
        """Move every staged file into ``target``; names in ``order`` go last, in that order."""
        names = sorted(p.name for p in self.staging.iterdir())
        last = [n for n in (order or []) if n in names]
        for name in [n for n in names if n not in last] + last:
            final = self.target / name
            os.replace(self.staging / name, final)
            self.files[name] = final
        shutil.rmtree(self.staging, ignore_errors=True)
        return self.files

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> "StagedDir":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``, else delete it.

    The temporary name keeps the final suffix plus ".tmp" (writers that append a suffix to a str
    path, like ``np.savez``, should be given an open file instead).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix + ".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the user's usual mode
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp_path)`` and move the result onto ``path`` only if it succeeded."""
    with atomic_path(path) as tmp:
        write(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, data: Any) -> None:
    """Write strict JSON (no NaN) atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, allow_nan=False)))
