"""Opening a store: where its data lives, the database engine, migrations, transactions, gc.

Decisions:
- Data folder: ``data_dir`` argument, else ``$SPORTLENS_HOME``, else ``$XDG_DATA_HOME/sportlens``,
  else ``~/.local/share/sportlens`` (XDG's place for user data that must survive; not a cache).
- Database: ``url`` argument, else ``$SPORTLENS_DATABASE_URL``, else SQLite at
  ``<data_dir>/sportlens.db``. ``postgresql://`` URLs use psycopg 3.
- SQLite runs in WAL mode (readers never block the writer) with a 30 s busy timeout, foreign keys on,
  and every transaction opened with ``BEGIN IMMEDIATE``: a transaction that reads then writes would
  otherwise fail at once with "database is locked" when another process wrote in between (SQLite
  cannot wait in that case). Writers are serialised; transactions here are short.
- Migrations run on open inside one transaction (SQLite: the immediate lock; PostgreSQL: an
  advisory lock), so two processes opening a new database at once do not both create it.
- Opening checks the database can be written (a no-op UPDATE): a read-only file fails at start with
  a clear ``ReadOnlyStoreError``, not at the first upload.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, exists, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError
from sqlalchemy.orm import Session as DbSession, sessionmaker

from sportlens.errors import InputError
from sportlens.store.artifacts import ArtifactStore, PutResult, remove_temp
from sportlens.store.errors import StoreError, from_db_error, from_os_error
from sportlens.store.models import Analysis, AnalysisFile, Artifact, Reference, Session, utcnow as _now

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_NAME = "sportlens.db"
_PG_LOCK = 0x5350_4C53  # advisory lock id held while migrating ("SPLS")
BUSY_TIMEOUT_S = 30.0  # SQLite: how long a connection waits for another's write lock


def default_data_dir() -> Path:
    """``$SPORTLENS_HOME``, else ``$XDG_DATA_HOME/sportlens``, else ``~/.local/share/sportlens``."""
    if os.environ.get("SPORTLENS_HOME"):
        return Path(os.environ["SPORTLENS_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "sportlens"


@dataclass(frozen=True)
class StoreConfig:
    """Everything needed to open the same store again (in a worker process): picklable."""

    url: str
    data_dir: Path

    def __repr__(self) -> str:  # never print a password
        return f"StoreConfig(url={safe_url(self.url)!r}, data_dir={str(self.data_dir)!r})"

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


def safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def resolve_config(url: str | None = None, data_dir: str | Path | None = None) -> StoreConfig:
    data = Path(data_dir).expanduser() if data_dir else default_data_dir()
    url = url or os.environ.get("SPORTLENS_DATABASE_URL") or f"sqlite:///{data / SQLITE_NAME}"
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            url = "postgresql+psycopg://" + url[len(plain):]
    return StoreConfig(url=url, data_dir=data.absolute())


@dataclass
class VerifyReport:
    """What ``verify`` found (or ``gc`` removed): artifact keys and temp files."""

    missing: list[str] = field(default_factory=list)  # a row exists, its file does not (must stay empty)
    orphans: list[str] = field(default_factory=list)  # a file without a row (a crash before the row)
    temp_files: list[Path] = field(default_factory=list)  # partial writes left by a crash
    corrupt: list[str] = field(default_factory=list)  # content no longer matches its key (deep only)
    unreferenced: list[str] = field(default_factory=list)  # rows no session/analysis/reference uses

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupt


class Store:
    """An open store: database engine + artifact folder. Thread-safe; one per process."""

    def __init__(self, config: StoreConfig, engine: Engine):
        self.config, self.engine = config, engine
        self.data_dir = config.data_dir
        self.artifacts = ArtifactStore(self.data_dir / "artifacts", self.data_dir / "tmp")
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._jobs = None

    def __repr__(self) -> str:
        return f"Store({self.config!r})"

    @property
    def where(self) -> str:
        return safe_url(self.config.url)

    @property
    def jobs(self):
        """The job queue of this store (``sportlens.store.jobs.JobQueue``)."""
        if self._jobs is None:
            from sportlens.store.jobs import JobQueue

            self._jobs = JobQueue(self)
        return self._jobs

    @contextlib.contextmanager
    def session(self) -> Iterator[DbSession]:
        """A transaction: commit when the block ends, roll back on error; driver errors become StoreError."""
        db = self._sessions()
        try:
            yield db
            db.commit()
        except DBAPIError as e:
            _quiet_rollback(db)
            raise from_db_error(e, self.where) from e
        except BaseException:
            _quiet_rollback(db)
            raise
        finally:
            db.close()

    def add_artifact(self, db: DbSession, source, media_type: str | None = None,
                     max_bytes: int | None = None) -> Artifact:
        """Store ``source``'s content (file first, fsynced) and add its row to ``db``'s transaction."""
        put = self.artifacts.put(source, max_bytes=max_bytes)
        return self.record_artifact(db, put, media_type or _guess_type(source))

    def record_artifact(self, db: DbSession, put: PutResult, media_type: str = "application/octet-stream"
                        ) -> Artifact:
        """The row of a file already stored with ``store.artifacts.put``: write big files before the
        transaction's first statement, so a slow copy never holds the database's write lock (SQLite)."""
        insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
        db.execute(insert(Artifact).values(key=put.key, size=put.size, media_type=media_type, created_at=_now())
                   .on_conflict_do_nothing())
        return db.get(Artifact, put.key)

    def verify(self, deep: bool = False) -> VerifyReport:
        """Compare artifact rows with files; ``deep`` re-hashes every file (slow)."""
        with self.session() as db:
            rows = set(db.scalars(select(Artifact.key)))
            unref = sorted(db.scalars(select(Artifact.key).where(~_referenced())))
        files = set(self.artifacts.keys())
        report = VerifyReport(missing=sorted(rows - files), orphans=sorted(files - rows),
                              temp_files=self.artifacts.temp_files(), unreferenced=unref)
        if deep:
            report.corrupt = [k for k in sorted(rows & files) if self.artifacts.hash_of(k) != k]
        return report

    def gc(self, grace_s: float = 3600.0) -> VerifyReport:
        """Remove unreferenced artifact rows, orphan files and temp files older than ``grace_s``.

        Rows go first, each in its own transaction (a row still referenced, or referenced meanwhile,
        is kept: the foreign key refuses); their files become orphans, removed once untouched for
        ``grace_s`` (an upload in progress has a younger file)."""
        removed = VerifyReport()
        for key in self.verify().unreferenced:
            if self._drop_row(key, grace_s):
                removed.unreferenced.append(key)
        report = self.verify()
        removed.orphans = [k for k in report.orphans if self.artifacts.remove_if_stale(k, grace_s)]
        removed.temp_files = [p for p in report.temp_files if remove_temp(p, grace_s)]
        return removed

    def _drop_row(self, key: str, grace_s: float) -> bool:
        try:
            with self.session() as db:
                row = db.get(Artifact, key)
                if row is None or (_now() - row.created_at).total_seconds() < grace_s:
                    return False
                db.delete(row)
            return True
        except StoreError as e:
            if isinstance(e.__cause__, IntegrityError):
                return False
            raise

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_store(url: str | StoreConfig | None = None, data_dir: str | Path | None = None, *, migrate: bool = True,
               check_writable: bool = True) -> Store:
    """Open (create, migrate) the store; see the package docstring for where things live.

    ``url`` may be a ``StoreConfig`` (``store.config`` of another process's store)."""
    config = url if isinstance(url, StoreConfig) else resolve_config(url, data_dir)
    _prepare_dir(config.data_dir)
    engine = _engine(config)
    store = Store(config, engine)
    try:
        if migrate:
            upgrade(engine)
        if check_writable:
            _check_writable(engine)
    except DBAPIError as e:
        engine.dispose()
        raise from_db_error(e, store.where) from e
    except BaseException:
        engine.dispose()
        raise
    return store


def _prepare_dir(data_dir: Path) -> None:
    try:
        for sub in ("", "artifacts", "tmp"):
            (data_dir / sub).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise from_os_error(e, str(data_dir)) from e


def _engine(config: StoreConfig) -> Engine:
    try:
        if config.is_sqlite:
            engine = create_engine(config.url, connect_args={"timeout": BUSY_TIMEOUT_S})
            _sqlite_events(engine)
        else:
            engine = create_engine(config.url, pool_pre_ping=True, connect_args=_pg_args(config.url))
    except (ArgumentError, NoSuchModuleError) as e:
        raise InputError(f"{safe_url(config.url)}: not a usable database URL ({e}). "
                         "Use sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB") from None
    return engine


def _pg_args(url: str) -> dict:
    return {"connect_timeout": 10} if make_url(url).get_backend_name() == "postgresql" else {}


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        for pragma in (f"busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}", "foreign_keys = ON", "synchronous = NORMAL"):
            cur.execute(f"PRAGMA {pragma}")
        _ensure_wal(cur)
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _ensure_wal(cur, timeout_s: float = BUSY_TIMEOUT_S) -> None:
    """Switch the file to WAL (persistent: only the first open of a new database writes it).

    The switch needs the exclusive lock, and SQLite answers "database is locked" at once, without the
    busy handler, when another connection holds the write lock (waiting could deadlock). Several
    processes opening a new database at once (server + workers) hit exactly that, so retry here within
    the busy timeout."""
    import sqlite3
    import time

    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            cur.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as e:
            if ("locked" not in str(e) and "busy" not in str(e)) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _alembic_config(connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the shipped migrations up to ``revision`` (one transaction, serialised across processes)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
        command.upgrade(_alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def make_revision(message: str) -> Path:
    """Autogenerate the next migration (``versions/NNNN_message.py``) from models.py: development only.

    Compared against a scratch SQLite database at head; review the file (PostgreSQL-only details,
    data migrations) before committing it."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/head.db")
        _sqlite_events(engine)
        upgrade(engine)
        with engine.begin() as conn:
            script = command.revision(_alembic_config(conn), message=message, autogenerate=True,
                                      rev_id=f"{int(head_revision()) + 1:04d}")
        engine.dispose()
    return Path(script.path)


def _check_writable(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = version_num"))


def _referenced():
    """SQL condition: some row points at ``Artifact.key``."""
    key = Artifact.key
    return or_(exists().where(Session.video_key == key),
               exists().where(or_(Analysis.report_key == key, Analysis.overlay_key == key,
                                  Analysis.keypoints_key == key)),
               exists().where(AnalysisFile.artifact_key == key),
               exists().where(Reference.keypoints_key == key))


def _guess_type(source) -> str:
    import mimetypes

    if isinstance(source, (str, Path)):
        return mimetypes.guess_type(str(source))[0] or "application/octet-stream"
    return "application/octet-stream"


def _quiet_rollback(db: DbSession) -> None:
    try:
        db.rollback()
    except DBAPIError:
        pass  # the connection is gone; the database rolls back on its own

