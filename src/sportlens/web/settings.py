"""Settings of the web app (``sportlens serve``), in one typed place."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024


@dataclass(frozen=True)
class WebSettings:
    # Database file (SQLite default), artifacts, token hashes. None = the store's default
    # ($SPORTLENS_HOME, else ~/.local/share/sportlens; see sportlens.store).
    data_dir: Path | None = None
    database_url: str = ""  # "" = $SPORTLENS_DATABASE_URL, else SQLite inside data_dir; PostgreSQL by URL
    host: str = "127.0.0.1"  # where the server listens: decides whether a token is required
    port: int = 8000
    workers: int = 1  # analysis worker processes (the job queue's concurrency)
    max_upload_bytes: int = 1024 * MiB  # larger uploads are refused (413) before and while they stream
    # Clip analysed by default when the form leaves start/end empty: None = the whole video.
    default_end_s: float | None = None
    # Force token auth even on loopback (tests; shared machines where other users reach 127.0.0.1).
    require_token: bool | None = None  # None = required unless host is a loopback address
    start_workers: bool = True  # False: no worker processes (tests drive the queue themselves)
    # Extra origins allowed to POST (a reverse proxy's public URL, e.g. "https://club.example.org").
    trusted_origins: tuple[str, ...] = ()

    @property
    def token_required(self) -> bool:
        return self.require_token if self.require_token is not None else not is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"; 0.0.0.0 / :: (all interfaces) are not loopback."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything, so treat it as public
