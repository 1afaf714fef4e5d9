"""Token authentication: who is calling, and which athletes they may see.

Decisions:
- Tokens are 32 random bytes (``secrets.token_urlsafe``). Only their SHA-256 is stored (``tokens.json`` in
  the data directory, mode 0600). A slow password hash (bcrypt, scrypt) protects guessable passwords; a
  256-bit random token cannot be guessed, so a fast hash is as safe and keeps the per-request check cheap.
  Comparison is constant-time (``hmac.compare_digest``).
- The first start creates an *admin* token (every athlete) and prints it once; it cannot be shown again
  (only its hash is kept). ``sportlens serve --new-token [--athlete ID]`` issues more, optionally limited
  to some athletes: a coach of one squad sees only that squad (per-athlete access checks).
- A token is accepted as ``Authorization: Bearer <token>``, as ``X-Sportlens-Token: <token>`` or as the
  ``sportlens_token`` cookie that the login page sets (HttpOnly, SameSite=Strict; see ``security``).
- On loopback the token is not required (only this machine's users reach the server) unless
  ``WebSettings.require_token``; a token that *is* given must still be valid: a wrong one is a 401.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sportlens.fsutil import atomic_write

COOKIE = "sportlens_token"
HEADER = "x-sportlens-token"
TOKENS_FILE = "tokens.json"


@dataclass(frozen=True)
class Principal:
    """The caller. ``athletes`` None = every athlete (admin or trusted loopback)."""

    name: str
    athletes: frozenset[int] | None = None

    def can_access(self, athlete_id: int) -> bool:
        return self.athletes is None or int(athlete_id) in self.athletes

    @property
    def is_admin(self) -> bool:
        return self.athletes is None


LOOPBACK = Principal("local user")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """Hashed tokens in ``data_dir/tokens.json``: ``[{"name", "sha256", "athletes", "created"}]``."""

    def __init__(self, data_dir: str | Path):
        self.path = Path(data_dir) / TOKENS_FILE
        self._stamp: tuple[int, int] | None = None
        self._entries = self._load()

    def _load(self) -> list[dict]:
        if not self.path.exists():
            return []
        st = self.path.stat()
        self._stamp = (st.st_mtime_ns, st.st_ino)
        entries = json.loads(self.path.read_text(encoding="utf-8"))
        if not isinstance(entries, list):
            raise ValueError(f"{self.path}: expected a list of tokens; remove the file to start afresh")
        return entries

    def _save(self) -> None:
        def write(tmp: Path) -> None:
            tmp.write_text(json.dumps(self._entries, indent=2), encoding="utf-8")
            os.chmod(tmp, 0o600)

        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, write)
        os.chmod(self.path, 0o600)  # atomic_write applies the umask; hashes stay private anyway

    @property
    def empty(self) -> bool:
        return not self._entries

    def issue(self, name: str, athletes: list[int] | None = None) -> str:
        """Create a token, store its hash and return the token itself (shown once, never again)."""
        token = secrets.token_urlsafe(32)
        self._entries.append({"name": name, "sha256": _digest(token),
                              "athletes": sorted({int(a) for a in athletes}) if athletes is not None else None,
                              "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        self._save()
        return token

    def ensure_admin(self) -> str | None:
        """The admin token when this call created it (first start), else None."""
        return self.issue("admin") if self.empty else None

    def _refresh(self) -> None:
        """Re-read the file when another process (``serve --new-token``) replaced it: one stat per check."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return
        if (st.st_mtime_ns, st.st_ino) != self._stamp:
            self._entries = self._load()

    def verify(self, token: str) -> Principal | None:
        self._refresh()
        digest = _digest(token)
        found = None
        for entry in self._entries:  # no early exit: the time taken does not tell which entry matched
            if hmac.compare_digest(entry["sha256"], digest):
                found = entry
        if found is None:
            return None
        athletes = found.get("athletes")
        return Principal(found["name"], frozenset(athletes) if athletes is not None else None)


def token_from(headers, cookies) -> str | None:
    """The token a request carries (header first, then cookie), or None."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return headers.get(HEADER) or cookies.get(COOKIE) or None
