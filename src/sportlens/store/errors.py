"""Store errors: a database or data folder problem the user can act on, said in one line.

``StoreError`` is an ``OutputError`` (exit code 3): the place sportlens keeps its data cannot be
written. Unknown ids and artifact keys are ``NotFoundError`` (an ``InputError``: the caller asked for
something that does not exist; the web app answers 404).
"""
from __future__ import annotations

import errno

from sportlens.errors import InputError, OutputError, SportlensError


class StoreError(OutputError):
    """The database or the data folder cannot be used (connection refused, corrupt file, ...)."""


class ReadOnlyStoreError(StoreError):
    """The database file, or the folder it lives in, is read-only."""


class StoreFullError(StoreError):
    """The disk (or the database's size limit) is full."""


class NotFoundError(InputError):
    """An id or artifact key that does not exist."""


class JobCancelled(SportlensError):
    """Raised inside a job handler at its next progress report once the job was cancelled."""


class LostJobError(SportlensError):
    """A worker touched a job it no longer owns (recovered as stale, or finished elsewhere)."""


READ_ONLY_HINT = "Make the data folder writable or choose another one (SPORTLENS_HOME)"
FULL_HINT = "Free some disk space or move the data folder (SPORTLENS_HOME) to a larger disk"


def from_os_error(e: OSError, where: str) -> StoreError:
    """The ``StoreError`` for an ``OSError`` raised while writing under ``where``."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreFullError(f"{where}: no space left on the device. {FULL_HINT}")
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return ReadOnlyStoreError(f"{where}: cannot write ({e.strerror}). {READ_ONLY_HINT}")
    return StoreError(f"{where}: {e.strerror or e}. Check the data folder")


def from_db_error(e: Exception, where: str) -> StoreError:
    """The ``StoreError`` for a database driver error (SQLAlchemy ``DBAPIError`` or its ``orig``)."""
    text = str(getattr(e, "orig", None) or e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    low = text.lower()
    if any(w in low for w in ("readonly", "read-only", "read only", "permission denied")):
        return ReadOnlyStoreError(f"{where}: the database is read-only ({text}). {READ_ONLY_HINT}")
    if "disk is full" in low or "no space left" in low or "disk full" in low:
        return StoreFullError(f"{where}: the database is full ({text}). {FULL_HINT}")
    if "unable to open database" in low:
        return ReadOnlyStoreError(f"{where}: cannot open the database file ({text}). {READ_ONLY_HINT}")
    return StoreError(f"{where}: database error ({text})")
