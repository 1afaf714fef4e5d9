"""Content-addressed files under ``<data_dir>/artifacts``: ``ab/cd/abcd...`` (sha256 hex, two-level fan-out).

Write protocol (why a crash never leaves a database row pointing at a missing file):
1. ``put`` streams the content into ``<data_dir>/tmp`` (same file system), hashing as it goes, fsyncs
   it, then renames it onto its key and fsyncs the folder. The file is complete and durable before
   anyone learns its key.
2. Only then does the caller add the ``Artifact`` row (``Store.add_artifact``) in its transaction.
A crash between 1 and 2 leaves an orphan file (listed by ``Store.verify``, removed by ``Store.gc``);
a crash inside 1 leaves a temp file in ``tmp/`` (same). Files are immutable once written.

Concurrency with ``gc``: ``put`` of content that already exists refreshes the file's mtime, and gc
only removes orphans older than a grace period; gc first renames a file to a tombstone and checks
its mtime again, so a ``put`` racing with it either sees the file missing (and writes it anew) or
has touched it (and gc puts it back).
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from sportlens.errors import InputError
from sportlens.store.errors import NotFoundError, from_os_error

KEY_RE = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20
TMP_PREFIX = ".put-"


@dataclass(frozen=True)
class PutResult:
    key: str
    size: int
    created: bool  # False when the same content was already stored


def check_key(key: str) -> str:
    """``key`` if it is a sha256 hex digest, else ``InputError`` (keys come from URLs: no paths allowed)."""
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise InputError(f"{str(key)[:80]!r} is not an artifact key (64 lowercase hex characters)")
    return key


class ArtifactStore:
    """The artifact files of one data folder. Database rows are the caller's business (see module doc)."""

    def __init__(self, root: str | Path, tmp: str | Path):
        self.root, self.tmp = Path(root), Path(tmp)

    def path(self, key: str) -> Path:
        """Where the file of ``key`` lives (whether or not it exists)."""
        check_key(key)
        return self.root / key[:2] / key[2:4] / key

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def open(self, key: str) -> BinaryIO:
        """The file of ``key`` opened for reading, or ``NotFoundError``."""
        try:
            return open(self.path(key), "rb")
        except FileNotFoundError:
            raise NotFoundError(f"artifact {key} is not in {self.root}") from None

    def put(self, source: str | Path | bytes | BinaryIO, max_bytes: int | None = None) -> PutResult:
        """Store ``source`` (a path, bytes or a binary file object) and return its key.

        ``max_bytes``: larger content raises ``InputError`` (nothing is kept)."""
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.tmp, prefix=TMP_PREFIX)
        except OSError as e:
            raise from_os_error(e, str(self.tmp)) from e
        try:
            with os.fdopen(fd, "wb") as out:
                key, size = _copy_hashed(source, out, max_bytes)
                out.flush()
                os.fsync(out.fileno())
            return PutResult(key, size, self._place(Path(tmp), key))
        except OSError as e:
            raise from_os_error(e, str(self.root)) from e
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _place(self, tmp: Path, key: str) -> bool:
        final = self.path(key)
        try:
            os.utime(final)  # already stored: refresh mtime so gc's grace period starts again
            return False
        except FileNotFoundError:
            pass
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)  # content-addressed files never change
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        return True

    def keys(self) -> Iterator[str]:
        """Every stored key (walks the fan-out folders)."""
        if not self.root.is_dir():
            return
        for a in sorted(self.root.iterdir()):
            for b in sorted(a.iterdir()) if a.is_dir() else ():
                for f in sorted(b.iterdir()) if b.is_dir() else ():
                    if KEY_RE.match(f.name) and f.name[:2] == a.name and f.name[2:4] == b.name:
                        yield f.name

    def hash_of(self, key: str) -> str:
        """The sha256 of the stored content (to detect a file damaged on disk)."""
        with self.open(key) as f:
            return _copy_hashed(f, None, None)[0]

    def temp_files(self) -> list[Path]:
        """Left-over partial writes (a crash during ``put``)."""
        return sorted(self.tmp.glob(TMP_PREFIX + "*")) if self.tmp.is_dir() else []

    def remove_if_stale(self, key: str, grace_s: float) -> bool:
        """Delete the file of ``key`` if untouched for ``grace_s``; racing ``put``s win (module doc)."""
        final = self.path(key)
        try:
            if time.time() - final.stat().st_mtime < grace_s:
                return False
            tomb = final.with_name(final.name + ".gc")
            os.replace(final, tomb)
            if time.time() - tomb.stat().st_mtime < grace_s:  # touched by a put just now: keep it
                os.replace(tomb, final)
                return False
            tomb.unlink()
            return True
        except FileNotFoundError:
            return False
        except OSError as e:
            raise from_os_error(e, str(final)) from e


def _copy_hashed(source, out, max_bytes: int | None) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with _reader(source) as f:
        while chunk := _read(f):
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise InputError(f"file is larger than the limit of {max_bytes / 1e6:.1f} MB")
            digest.update(chunk)
            if out is not None:
                out.write(chunk)
    return digest.hexdigest(), size


def _read(f: BinaryIO) -> bytes:
    """A chunk of the source; a failing source (upload cut off) is the input's fault, not the store's."""
    try:
        return f.read(CHUNK)
    except OSError as e:
        raise InputError(f"the file to store could not be read to its end ({e.strerror or e})") from None


class _reader:
    """A context manager giving a binary reader for a path, bytes or an (unclosed) file object."""

    def __init__(self, source):
        self.source, self.owned = source, None

    def __enter__(self) -> BinaryIO:
        if isinstance(self.source, (bytes, bytearray, memoryview)):
            return io.BytesIO(self.source)
        if isinstance(self.source, (str, Path)):
            try:
                self.owned = open(self.source, "rb")
            except OSError as e:
                raise InputError(f"{self.source}: cannot read ({e.strerror})") from None
            return self.owned
        return self.source

    def __exit__(self, *exc) -> None:
        if self.owned is not None:
            self.owned.close()


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (not supported everywhere: then best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def safe_filename(name: str, max_len: int = 120) -> str:
    """A file name safe to show, store and send back, made from a user-given one.

    Anything that tries to name another folder (``/``, ``\\``, ``..``, NUL) is refused with
    ``InputError``, never silently repaired: a client sending such a name is buggy or hostile.
    Other characters outside letters, digits, ``._- `` become ``_``; leading dots are dropped (no
    hidden files); the name is cut to ``max_len`` keeping its extension."""
    if not isinstance(name, str) or not name.strip():
        raise InputError("empty file name")
    if any(c in name for c in "/\\\x00") or name.strip() in (".", ".."):
        raise InputError(f"file name {name[:80]!r} contains a path; give a plain file name")
    clean = unicodedata.normalize("NFKC", name).strip()
    clean = re.sub(r"[^\w.\- ]", "_", clean)
    clean = re.sub(r"\s+", " ", clean).lstrip(". ")
    stem, dot, ext = clean.rpartition(".")
    if not dot:
        stem, ext = clean, ""
    ext = ext[:16]
    stem = stem[: max(1, max_len - len(ext) - 1)]
    clean = f"{stem}.{ext}" if ext and stem else (stem or ext)
    if not clean.strip("_ .-"):
        raise InputError(f"file name {name[:80]!r} has no usable characters")
    if clean.split(".")[0].lower() in _RESERVED:
        clean = "_" + clean
    return clean


def remove_temp(path: Path, grace_s: float) -> bool:
    """Delete a left-over temp file if it is older than ``grace_s`` (a put in progress is younger)."""
    try:
        if time.time() - path.stat().st_mtime < grace_s:
            return False
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def copy_out(store: ArtifactStore, key: str, dest: Path) -> Path:
    """Copy (or hard-link, when possible) the file of ``key`` to ``dest``: a work copy for a job."""
    src = store.path(key)
    if not src.is_file():
        raise NotFoundError(f"artifact {key} is not in {store.root}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
    return dest
