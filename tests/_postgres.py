"""A throwaway PostgreSQL server for the store tests, started on loopback by a fixture.

``initdb`` + ``pg_ctl`` into a temp folder on a free port (binaries: ``$SPORTLENS_PG_BIN``, else the
folder of ``pg_ctl`` on PATH, else the newest ``/usr/lib/postgresql/*/bin``). PostgreSQL refuses to
run as root: as root the server runs as the ``postgres`` user (else ``nobody``), via subprocess'
``user=``/``group=``. Durability is off (fsync, full_page_writes): a test server, not data.

Each test gets a fresh database on the session's server (``db_url`` fixture, parametrised over
SQLite and PostgreSQL). Where no server can be started the PostgreSQL cases skip with the reason,
and fail under CI=true (where .ci/run installs the Debian ``postgresql`` package).
"""
from __future__ import annotations

import atexit
import glob
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import pytest


def find_pg_bin() -> Path | None:
    if os.environ.get("SPORTLENS_PG_BIN"):
        return Path(os.environ["SPORTLENS_PG_BIN"])
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name or 0))
    return Path(dirs[-1]) if dirs else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One server in a temp folder: ``start()``, ``new_database() -> url``, ``stop()`` (removes all)."""

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="sportlens-pg-"))
        self.port = _free_port()
        self.user_kw: dict = {}
        self.started = False

    def _run(self, *args: str, timeout: float = 60) -> None:
        proc = subprocess.run([str(self.bin / args[0]), *args[1:]], capture_output=True, text=True,
                              timeout=timeout, **self.user_kw)
        if proc.returncode != 0:
            log = (self.dir / "log").read_text(errors="replace")[-2000:] if (self.dir / "log").exists() else ""
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip()[-1000:]} {log}")

    def start(self) -> "PostgresServer":
        if os.geteuid() == 0:  # PostgreSQL will not run as root
            pw = _unprivileged_user()
            self.user_kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "sportlens", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off -c synchronous_commit=off -c max_connections=60")
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-o", opts, "-l", str(self.dir / "log"), "-w",
                  "-t", "60", "start", timeout=90)
        self.started = True
        atexit.register(self.stop)  # a crashed test session still stops its server
        return self

    def new_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        self._admin(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://sportlens@127.0.0.1:{self.port}/{name}"

    def drop_database(self, url: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=sportlens dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def stop(self) -> None:
        if self.started:
            self.started = False
            try:
                self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _unprivileged_user() -> pwd.struct_passwd:
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


def _unavailable(reason: str):
    msg = f"PostgreSQL tests need a server: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(msg + " - required under CI (apt-get install -y postgresql)")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def postgres_server():
    bin_dir = find_pg_bin()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        _unavailable("no initdb/pg_ctl found (install the Debian 'postgresql' package or set SPORTLENS_PG_BIN)")
    if importlib.util.find_spec("psycopg") is None:
        _unavailable("the psycopg driver is not installed (pip install 'psycopg[binary]')")
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        server.stop()
        _unavailable(f"could not start one in a temp folder: {e}")
    previous = _stop_on_sigterm(server)
    yield server
    server.stop()
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def _stop_on_sigterm(server: PostgresServer):
    """A test run killed by SIGTERM (``timeout``, CI cancel) skips atexit: stop the server first."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        server.stop()
        signal.signal(signum, previous if callable(previous) else signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, on_term)
    return previous


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """A fresh, empty database: a SQLite file under tmp_path, or a new database on the test server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sportlens.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    url = server.new_database()
    yield url
    server.drop_database(url)  # keeps the server's folder small (each database is ~8 MB)
