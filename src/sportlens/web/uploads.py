"""Checking an uploaded video before anything else sees it: name, size, container bytes, decodability.

Decisions:
- **File names are metadata, never paths.** The stored file is named by its content hash (the store's
  content-addressed artifacts); the client's name is only shown back. Still, a name with a path separator,
  a ``..`` part, a control character or a leading dot is *rejected* (400), not silently cleaned: such a
  name comes from a hand-made request, not from a browser's file picker.
- **Content sniffing, three layers**: the extension must be a video container we know; the first bytes
  must be that family's signature (ISO-BMFF ``ftyp``/``moov``..., Matroska/WebM EBML, AVI ``RIFF``), so a
  renamed text or image file is refused without decoding anything; then PyAV opens it and decodes the first
  frame (``sportlens.video.probe``). For ISO-BMFF (MP4/MOV, what phones record) the top-level boxes are
  walked too: a box running past the end of the file means the upload was cut (truncated video), which
  PyAV alone may not notice when the index comes first.
- Error messages name the file as the user called it, never a server path.
"""
from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sportlens.errors import SportlensError
from sportlens.types import VideoInfo
from sportlens.video import probe

EXTENSIONS = {".mp4": "iso", ".m4v": "iso", ".mov": "iso", ".mkv": "ebml", ".webm": "ebml", ".avi": "riff"}
ISO_TOP_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"styp", b"moof",
                 b"sidx", b"meta", b"pdin"}
MAX_NAME = 200
CHUNK = 1024 * 1024


class UploadRejected(SportlensError):
    """The upload is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class CheckedUpload:
    path: Path  # the checked file (a temporary file owned by the caller)
    filename: str  # the client's name, validated
    sha256: str
    size: int
    info: VideoInfo


def safe_filename(name: str | None) -> str:
    """The client's file name if it is a plain name, else ``UploadRejected``."""
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name:
        raise UploadRejected("The upload has no file name")
    if "/" in name or "\\" in name or name in {".", ".."}:
        raise UploadRejected("File name rejected: it must not contain a path (/, \\ or ..)")
    if name.startswith(".") or any(unicodedata.category(c).startswith("C") for c in name):
        raise UploadRejected("File name rejected: no leading dot or control characters")
    if len(name) > MAX_NAME:
        raise UploadRejected(f"File name rejected: longer than {MAX_NAME} characters")
    if Path(name).suffix.lower() not in EXTENSIONS:
        raise UploadRejected(f"{name}: not a video file type this server accepts "
                             f"({', '.join(sorted(EXTENSIONS))})", status=415)
    return name


def sniff(head: bytes) -> str | None:
    """The container family the first bytes announce: "iso", "ebml", "riff" or None."""
    if len(head) >= 8 and head[4:8] in ISO_TOP_BOXES:
        return "iso"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "ebml"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "riff"
    return None


def iso_problem(path: Path) -> str | None:
    """Why an ISO-BMFF file is incomplete (a top-level box runs past its end, no index), or None."""
    size, offset, seen = path.stat().st_size, 0, set()
    with open(path, "rb") as f:
        while offset < size:
            f.seek(offset)
            header = f.read(16)
            if len(header) < 8:
                return "is truncated (it ends inside a box header)"
            box_size, kind = struct.unpack(">I4s", header[:8])
            if box_size == 1:  # 64-bit size follows
                if len(header) < 16:
                    return "is truncated (it ends inside a box header)"
                box_size = struct.unpack(">Q", header[8:16])[0]
            elif box_size == 0:  # runs to the end of the file
                box_size = size - offset
            if box_size < 8:
                return "is corrupt (invalid box size)"
            if offset + box_size > size:
                return f"is truncated: its '{kind.decode('latin-1')}' part stops early (the upload or copy was cut)"
            seen.add(kind)
            offset += box_size
    if b"moov" not in seen and b"moof" not in seen:
        return "is truncated or corrupt (its index, the 'moov' atom, is missing)"
    return None


def copy_hashed(src: BinaryIO, dst: Path, limit: int) -> tuple[str, int]:
    """Copy ``src`` into ``dst`` while hashing; ``UploadRejected`` (413) past ``limit`` bytes."""
    digest, total = hashlib.sha256(), 0
    with open(dst, "wb") as out:
        while chunk := src.read(CHUNK):
            total += len(chunk)
            if total > limit:
                raise UploadRejected(f"The upload is larger than the limit of {limit / 2**20:.0f} MiB", status=413)
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest(), total


def check_upload(src: BinaryIO, filename: str | None, tmp_dir: Path, limit: int) -> CheckedUpload:
    """Validate and copy an upload into a temporary file under ``tmp_dir`` (the caller moves or deletes it)."""
    name = safe_filename(filename)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=".upload-", suffix=Path(name).suffix.lower())
    os.close(fd)  # reopened by name below
    path = Path(tmp)
    try:
        digest, size = copy_hashed(src, path, limit)
        info = check_video(path, name)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return CheckedUpload(path=path, filename=name, sha256=digest, size=size, info=info)


def check_video(path: Path, name: str) -> VideoInfo:
    """Signature, completeness and decodability of a saved upload, or ``UploadRejected``."""
    if path.stat().st_size == 0:
        raise UploadRejected(f"{name}: the file is empty (0 bytes)")
    with open(path, "rb") as f:
        family = sniff(f.read(16))
    expected = EXTENSIONS[Path(name).suffix.lower()]
    if family is None:
        raise UploadRejected(f"{name}: not a video (its content is not a video container)", status=415)
    if family != expected:
        raise UploadRejected(f"{name}: the content is a {family.upper()} container, not what the extension "
                             "says; rename it or export it again", status=415)
    if family == "iso" and (problem := iso_problem(path)):
        raise UploadRejected(f"{name}: {problem}. Upload the complete file")
    try:
        return probe(path)
    except SportlensError as e:  # the reader's message starts with our temporary path: show the user's name
        raise UploadRejected(str(e).replace(str(path), name)) from None
