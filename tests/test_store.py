"""The store: migrations on SQLite and PostgreSQL, models, content-addressed artifacts (atomic, crash
safe, gc), safe file names, and clear errors for a read-only database or a full disk."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, inspect, select

from _media import gradient_frames, make_video
from sportlens.errors import InputError, OutputError
from sportlens.store import (Analysis, AnalysisFile, Artifact, NotFoundError, ReadOnlyStoreError, Reference,
                             Session, StoreError, StoreFullError, add_athlete, add_reference, add_session,
                             default_data_dir, enqueue_analysis, open_store, resolve_config, safe_filename)
from sportlens.store.db import current_revision, head_revision
from sportlens.store.models import Base

pytest_plugins = ["_postgres"]  # the db_url fixture: SQLite and a real PostgreSQL server
pytestmark = pytest.mark.timeout(300)  # a lock-up (two migrations, a stuck claim) fails instead of hanging
SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture
def store(db_url, tmp_path):
    s = open_store(db_url, tmp_path / "data")
    yield s
    s.close()


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("video") / "clip.mp4", gradient_frames(12), fps=12)


# -- migrations ---------------------------------------------------------------------------------------

def test_migrations_apply_and_match_models(db_url, tmp_path):
    s = open_store(db_url, tmp_path / "data")
    try:
        assert current_revision(s.engine) == head_revision() == "0001"
        names = set(inspect(s.engine).get_table_names())
        assert {"artifacts", "athletes", "sessions", "analyses", "analysis_files", "reference_movements",
                "jobs", "alembic_version"} <= names
        with s.engine.connect() as conn:  # the shipped migrations create exactly what models.py says
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == []
    finally:
        s.close()
    again = open_store(db_url, tmp_path / "data")  # a second open is a no-op upgrade
    assert current_revision(again.engine) == "0001"
    again.close()


def test_concurrent_first_opens_migrate_once(db_url, tmp_path):
    """Several processes starting on a new database at once (server + workers): one migrates, all open."""
    from concurrent.futures import ThreadPoolExecutor

    def open_and_close(_):
        s = open_store(db_url, tmp_path / "data")
        s.close()
        return current_revision(s.engine)

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(open_and_close, range(4))) == ["0001"] * 4


def test_wal_switch_waits_for_another_writer(tmp_path):
    """A new (rollback-journal) file whose write lock another opener holds: SQLite refuses the WAL switch
    at once, without its busy handler; opening must wait for the lock like any other write (CI once
    failed on this race between server and workers)."""
    import sqlite3
    import threading

    path = tmp_path / "sportlens.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE first_opener (x)")
    threading.Timer(0.5, holder.commit).start()
    s = open_store(f"sqlite:///{path}", tmp_path / "data")
    try:
        assert current_revision(s.engine) == "0001"
        with s.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        s.close()
        holder.close()


def test_locations_from_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("SPORTLENS_DATABASE_URL", raising=False)
    monkeypatch.setenv("SPORTLENS_HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home"
    assert resolve_config().url == f"sqlite:///{tmp_path / 'home' / 'sportlens.db'}"
    monkeypatch.delenv("SPORTLENS_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "sportlens"
    monkeypatch.setenv("SPORTLENS_DATABASE_URL", "postgresql://coach:s3cret@db.example/sl")
    cfg = resolve_config(data_dir=tmp_path)
    assert cfg.url == "postgresql+psycopg://coach:s3cret@db.example/sl"  # psycopg 3, not psycopg2
    assert "s3cret" not in repr(cfg) and "***" in repr(cfg)


def test_bad_url_and_unreachable_server_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="not a usable database URL"):
        open_store("nosuchdb://x", tmp_path)
    with socket_closed_port() as port, pytest.raises(StoreError) as e:
        open_store(f"postgresql://nobody@127.0.0.1:{port}/x", tmp_path)
    assert "127.0.0.1" in str(e.value) and "\n" not in str(e.value)


class socket_closed_port:
    """A loopback port nothing listens on."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc) -> None:
        pass


# -- models -------------------------------------------------------------------------------------------

def test_models_round_trip(store, tiny_video):
    with store.session() as db:
        ana = add_athlete(db, "  Ana Müller ")
        sess = add_session(store, db, ana.id, tiny_video, "Squat 1.mp4", notes="left knee")
    assert ana.name == "Ana Müller"
    assert (sess.original_name, sess.size_bytes) == ("Squat 1.mp4", tiny_video.stat().st_size)
    assert sess.fps == pytest.approx(12) and (sess.width, sess.height) == (64, 48)
    assert sess.duration_s == pytest.approx(1.0, abs=0.1) and sess.uploaded_at.tzinfo is not None
    assert store.artifacts.path(sess.video_key).read_bytes() == tiny_video.read_bytes()
    analysis_id, job_id = enqueue_analysis(store, sess.id, {"end": 1.0, "output.video": False})
    with store.session() as db:
        a = db.get(Analysis, analysis_id)
        assert (a.status, a.job_id, a.settings) == ("queued", job_id, {"end": 1.0, "output.video": False})
        report = store.add_artifact(db, b"<html></html>", "text/html")
        a.files = [AnalysisFile(name="report.html", artifact_key=report.key)]
        a.report_key, a.summary = report.key, {"metrics": {"rom": {"knee": 90.0}}, "warnings": []}
        ref = add_reference(store, db, "coach squat", b"keypoints", movement="squat", session_id=sess.id)
    with store.session() as db:
        athlete_sessions = db.get(Session, sess.id).athlete.sessions
        assert [s.id for s in athlete_sessions] == [sess.id]
        a = db.get(Analysis, analysis_id)
        assert a.summary["metrics"]["rom"]["knee"] == 90.0 and [f.name for f in a.files] == ["report.html"]
        assert db.get(Reference, ref.id).keypoints_key == hashlib.sha256(b"keypoints").hexdigest()
    assert store.verify().ok and store.verify().orphans == []


def test_session_input_is_checked(store, tmp_path, tiny_video):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with store.session() as db:
        athlete_id = add_athlete(db, "Ben").id
    with pytest.raises(InputError), store.session() as db:
        add_session(store, db, athlete_id, text, "notes.mp4")
    with pytest.raises(InputError, match="path"), store.session() as db:
        add_session(store, db, athlete_id, tiny_video, "../../etc/passwd")
    with pytest.raises(InputError, match="larger than the limit"), store.session() as db:
        add_session(store, db, athlete_id, io.BytesIO(tiny_video.read_bytes()), "a.mp4", max_bytes=100)
    with pytest.raises(InputError, match="settings"):
        enqueue_analysis(store, 1, {"cleaning.no_such": 1})
    assert list(store.artifacts.keys()) == []  # the non-video path was probed before it was stored
    with pytest.raises(NotFoundError), store.session() as db:
        add_session(store, db, 999, tiny_video, "a.mp4")
    with store.session() as db:
        assert db.scalars(select(Session)).all() == [] and db.scalars(select(Artifact)).all() == []
    assert store.verify().missing == []  # at worst an orphan file (the copy comes before the lock)


# -- artifacts ----------------------------------------------------------------------------------------

def test_artifacts_are_content_addressed(tmp_path):
    s = open_store(data_dir=tmp_path)
    data = os.urandom(3 << 20)  # several copy chunks
    key = hashlib.sha256(data).hexdigest()
    with s.session() as db:
        a = s.add_artifact(db, io.BytesIO(data), "application/x-test")
        b = s.add_artifact(db, data)  # same content: same key, one file, one row
    assert a.key == b.key == key and a.size == len(data)
    path = s.artifacts.path(key)
    assert path == tmp_path / "artifacts" / key[:2] / key[2:4] / key
    assert path.read_bytes() == data and not stat.S_IMODE(path.stat().st_mode) & 0o222  # immutable
    assert list(s.artifacts.keys()) == [key] and s.artifacts.temp_files() == []
    with s.artifacts.open(key) as f:
        assert f.read(4) == data[:4]
    with pytest.raises(NotFoundError):
        s.artifacts.open("0" * 64)
    for bad in ("../../etc/passwd", "A" * 64, key[:-1], key + "/x"):
        with pytest.raises(InputError):
            s.artifacts.path(bad)
    s.close()


def test_crash_between_file_and_row_leaves_no_dangling_row(tmp_path):
    """A process killed after the file is written but before its row commits: an orphan file, never
    a row pointing at a missing file; gc removes the orphan."""
    child = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {SRC!r})
        from sportlens.store import open_store, add_athlete
        s = open_store(data_dir={str(tmp_path)!r})
        with s.session() as db:
            add_athlete(db, "Ana")
            s.add_artifact(db, b"overlay video bytes")   # file on disk, row not committed
            db.flush()
            os._exit(9)                                  # crash: no commit, no cleanup
    """)
    assert subprocess.run([sys.executable, "-c", child], timeout=120).returncode == 9
    s = open_store(data_dir=tmp_path)
    report = s.verify()
    key = hashlib.sha256(b"overlay video bytes").hexdigest()
    assert report.missing == [] and report.orphans == [key]
    with s.session() as db:
        assert db.scalars(select(Artifact)).all() == []
    assert s.gc(grace_s=3600).orphans == []  # too young: an upload may be about to commit it
    assert s.gc(grace_s=0).orphans == [key]
    assert s.verify().orphans == [] and not s.artifacts.exists(key)
    s.close()


def test_crash_during_file_write_never_shows_a_partial_file(tmp_path, monkeypatch):
    s = open_store(data_dir=tmp_path)

    class Exploding(io.RawIOBase):  # a stream that dies half-way (client gone, process killed)
        def __init__(self):
            self.n = 0

        def readable(self):
            return True

        def readinto(self, b):
            self.n += 1
            if self.n > 2:
                raise ConnectionResetError("client went away")
            b[:1024] = b"x" * 1024
            return 1024

    with pytest.raises(InputError, match="could not be read"), s.session() as db:
        s.add_artifact(db, io.BufferedReader(Exploding(), 1024))
    assert list(s.artifacts.keys()) == [] and s.artifacts.temp_files() == []
    # a hard crash leaves its temp file: listed, never under a key, removed by gc
    (tmp_path / "tmp" / ".put-crashed").write_bytes(b"half")
    assert [p.name for p in s.verify().temp_files] == [".put-crashed"]
    assert [p.name for p in s.gc(grace_s=0).temp_files] == [".put-crashed"]
    s.close()


def test_gc_removes_unreferenced_rows_keeps_used_ones(store, tiny_video):
    with store.session() as db:
        athlete_id = add_athlete(db, "Cleo").id
        sess = add_session(store, db, athlete_id, tiny_video, "a.mp4")
        loose = store.add_artifact(db, b"left over").key
    assert store.verify().unreferenced == [loose]
    assert store.gc(grace_s=3600).unreferenced == []  # young rows are kept
    removed = store.gc(grace_s=0)
    assert removed.unreferenced == [loose] and removed.orphans == [loose]  # row first, then its file
    assert loose not in set(store.artifacts.keys())
    assert store.artifacts.exists(sess.video_key) and store.verify().ok
    with store.session() as db:  # deleting the athlete frees the video; then gc takes it
        db.delete(db.get(Session, sess.id).athlete)
    store.gc(grace_s=0)
    store.gc(grace_s=0)
    assert list(store.artifacts.keys()) == []


def test_gc_never_removes_a_file_a_put_just_touched(tmp_path):
    s = open_store(data_dir=tmp_path)
    key = s.artifacts.put(b"shared").key
    old = s.artifacts.path(key).stat().st_mtime - 7200
    os.utime(s.artifacts.path(key), (old, old))
    assert s.artifacts.put(b"shared").created is False  # re-upload of the same content refreshes it
    assert s.gc(grace_s=3600).orphans == [] and s.artifacts.exists(key)
    s.close()


def test_deep_verify_finds_damaged_files(tmp_path):
    s = open_store(data_dir=tmp_path)
    with s.session() as db:
        key = s.add_artifact(db, b"original").key
    path = s.artifacts.path(key)
    os.chmod(path, 0o644)
    path.write_bytes(b"bit rot")
    assert s.verify().ok and s.verify(deep=True).corrupt == [key]
    path.unlink()
    assert s.verify().missing == [key] and not s.verify().ok
    s.close()


@pytest.mark.parametrize("name, expected", [
    ("squat.mp4", "squat.mp4"), ("Ana's jump (1).MOV", "Ana_s jump _1_.MOV"), ("..hidden.mp4", "hidden.mp4"),
    ("vidéo été.mp4", "vidéo été.mp4"), ("CON.mp4", "_CON.mp4"), ("a" * 300 + ".mp4", "a" * 116 + ".mp4"),
])
def test_safe_filename(name, expected):
    assert safe_filename(name) == expected


@pytest.mark.parametrize("name", ["../etc/passwd", "..\\win.ini", "/abs/x.mp4", "a\x00.mp4", "..", "", "  ", "???"])
def test_safe_filename_rejects(name):
    with pytest.raises(InputError):
        safe_filename(name)


# -- errors -------------------------------------------------------------------------------------------

def test_read_only_database_is_a_clear_error():
    """A database file the user cannot write: ReadOnlyStoreError at open, one line, no traceback."""
    data = Path(tempfile.mkdtemp(prefix="sl-ro-"))  # outside tmp_path: an unprivileged user must reach it
    try:
        open_store(data_dir=data).close()
        for p in [data, *data.rglob("*")]:
            os.chmod(p, 0o777 if p.is_dir() else 0o666)
        os.chmod(data / "sportlens.db", 0o444)
        with unprivileged():  # root may write anything: be a plain user for the check
            with pytest.raises(ReadOnlyStoreError) as e:
                open_store(data_dir=data)
        assert "read-only" in str(e.value) and "\n" not in str(e.value)
    finally:
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def unprivileged():
    """Run the block with the effective user ``nobody`` when running as root (restored after)."""
    if os.geteuid() != 0:
        yield
        return
    import pwd

    nobody = pwd.getpwnam("nobody")
    os.setegid(nobody.pw_gid)
    os.seteuid(nobody.pw_uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_read_only_connection_is_a_clear_error(tmp_path):
    open_store(data_dir=tmp_path).close()
    url = f"sqlite:///file:{tmp_path / 'sportlens.db'}?mode=ro&uri=true"
    with pytest.raises(ReadOnlyStoreError, match="read-only") as e:
        open_store(url, tmp_path)
    assert isinstance(e.value, OutputError)
    reader = open_store(url, tmp_path, migrate=False, check_writable=False)
    with pytest.raises(ReadOnlyStoreError), reader.session() as db:
        add_athlete(db, "Dora")
    reader.close()


def test_read_only_postgresql_database_is_a_clear_error(postgres_server, tmp_path):
    url = postgres_server.new_database()
    open_store(url, tmp_path).close()
    postgres_server._admin(f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" SET default_transaction_read_only = on')
    with pytest.raises(ReadOnlyStoreError, match="read-only"):
        open_store(url, tmp_path)
    postgres_server.drop_database(url)


def test_full_database_is_a_clear_error(tmp_path):
    s = open_store(data_dir=tmp_path)
    with s.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

    @event.listens_for(s.engine, "connect")
    def _cap(dbapi_conn, _):  # the database may not grow: what a full disk looks like to SQLite
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    s.engine.dispose()
    with pytest.raises(StoreFullError, match="full"), s.session() as db:
        for i in range(2000):
            add_athlete(db, f"athlete {i}", notes="x" * 500)
    s.close()


def test_full_disk_while_writing_an_artifact(tmp_path, monkeypatch):
    s = open_store(data_dir=tmp_path)

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(StoreFullError, match="no space left") as e, s.session() as db:
        s.add_artifact(db, b"video")
    assert "\n" not in str(e.value)
    monkeypatch.undo()
    assert list(s.artifacts.keys()) == [] and s.artifacts.temp_files() == []
    s.close()


def test_unwritable_data_folder_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError):
        open_store(data_dir=blocker / "data")
