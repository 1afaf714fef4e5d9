"""Persistent storage: athletes, sessions, analyses, references, artifacts and the job queue.

Stable API (the web app, the batch runner and the CLI build on exactly this; additions only)
=========================================================================================

Opening::

    from sportlens.store import open_store
    store = open_store(url=None, data_dir=None)   # creates/migrates the schema, checks it can write
    ...
    store.close()

- ``data_dir``: argument, else ``$SPORTLENS_HOME``, else ``$XDG_DATA_HOME/sportlens``, else
  ``~/.local/share/sportlens`` (``default_data_dir()``). It holds ``sportlens.db`` (the default SQLite
  database), ``artifacts/`` (content-addressed files) and ``tmp/`` (staging + job work folders).
- ``url``: argument, else ``$SPORTLENS_DATABASE_URL``, else ``sqlite:///<data_dir>/sportlens.db``.
  ``postgresql://user:pw@host/db`` is accepted and uses psycopg 3 (``postgresql+psycopg://``).
- Migrations (Alembic, shipped in ``sportlens/store/migrations``) run on open; no alembic.ini.
- ``open_store(..., migrate=False)`` skips them (worker processes); ``store.config`` is a picklable
  ``StoreConfig(url, data_dir)`` to re-open the same store in another process: ``open_store(config)``.
- Store attributes: ``config``, ``data_dir``, ``engine``, ``artifacts``, ``jobs``, ``where`` (the URL
  without password, for messages); ``close()``; usable as a context manager.
- Layout of the data folder: ``sportlens.db`` (+ ``-wal``/``-shm``), ``artifacts/ab/cd/<sha256>``,
  ``tmp/`` (artifact staging ``.put-*``, job work folders ``job-*``; other faces may keep their own
  sub-folders there, e.g. ``tmp/web-uploads``). Developers: ``python -m sportlens.store revision "msg"``
  autogenerates the next migration.

Transactions::

    with store.session() as db:         # sqlalchemy.orm.Session; commit on success, rollback on error
        athlete = add_athlete(db, "Ana")
    # objects stay readable after the block (expire_on_commit=False)
    # SQLite: a transaction holds the write lock from its first statement to commit (BEGIN IMMEDIATE):
    # keep blocks short; never stream an upload or run analysis work inside one.

Database errors inside ``store.session()`` become ``StoreError`` subclasses (never a raw traceback):
``ReadOnlyStoreError`` (read-only file/folder), ``StoreFullError`` (disk or database full),
``StoreError`` (cannot connect, ...). ``NotFoundError`` (an ``InputError``) for unknown ids/keys.

Models (SQLAlchemy 2 declarative, ``sportlens.store.models``): ``Athlete``, ``Session`` (one uploaded
video + metadata), ``Analysis`` (+ ``AnalysisFile`` rows: every output file by name), ``Reference``,
``Job``, ``Artifact``. Column names are documented on each class.

Domain helpers (``sportlens.store.repo``)::

    add_athlete(db, name, notes="") -> Athlete
    add_session(store, db, athlete_id, video, original_name, *, max_bytes=None, recorded_at=None,
                notes="") -> Session          # video: Path or binary file object; probed (InputError if
                                              # not a decodable video), stored as an artifact
    enqueue_analysis(store, session_id, settings=None, *, max_attempts=2) -> (analysis_id, job_id)
                                              # settings: flat overrides {"start": 1.0, "output.video": False}
    add_reference(store, db, name, keypoints=None, *, movement="", session_id=None, analysis_id=None,
                  notes="", meta=None) -> Reference   # keypoints: Path/bytes, else the analysis' file
    get(db, Model, id) -> row                 # or NotFoundError

Artifacts (``store.artifacts``, content-addressed by sha256; key = 64 hex chars)::

    store.add_artifact(db, source, media_type=None, max_bytes=None) -> Artifact
        # source: Path, bytes or binary file; the file is written (atomically, fsynced) first, the row
        # joins db's transaction: a crash leaves at worst an orphan file, never a row without a file
    store.artifacts.put(source, max_bytes=None) -> PutResult(key, size, created)   # file only, no row
    store.record_artifact(db, put, media_type) -> Artifact   # its row (big files: put before the block)
    store.artifacts.path(key) -> Path      store.artifacts.open(key) -> BinaryIO
    store.artifacts.exists(key) -> bool
    store.verify() -> VerifyReport(missing=[keys with a row but no file], orphans=[files without a row],
                                   temp_files=[left-over partial writes])
    store.gc(grace_s=3600.0) -> VerifyReport   # removes orphans/temp files older than grace_s
    safe_filename(user_name) -> str            # InputError on path traversal / empty names

Job queue (``store.jobs``, a ``JobQueue``; returns frozen ``JobInfo`` snapshots)::

    enqueue(kind, payload, *, max_attempts=3, priority=0) -> int
    get(job_id) -> JobInfo                     list(status=None, kind=None, limit=100) -> list[JobInfo]
    cancel(job_id) -> JobInfo                  # queued: cancelled now; running: at its next progress report
    retry(job_id) -> JobInfo                   # a failed/cancelled job back to queued
    wait(job_id, timeout_s=600, poll_s=0.2) -> JobInfo
    # worker side (used by WorkerPool; a worker_id owns a claimed job):
    claim(worker_id, kinds=None) -> JobInfo | None
    heartbeat(job_id, worker_id) -> bool (cancel requested)
    progress(job_id, worker_id, fraction, message=None)   # raises JobCancelled when cancel was asked
    complete(job_id, worker_id, result=None)   fail(job_id, worker_id, error, retry=True) -> JobInfo
    mark_cancelled(job_id, worker_id)
    recover_stale(timeout_s) -> list[JobInfo]  release_worker(worker_id, reason) -> list[JobInfo]
    release_dead_local(reason) -> list[JobInfo]   # jobs of vanished processes on this host

Errors raised by the queue: ``NotFoundError`` (unknown job id), ``InputError`` (bad kind/payload,
retry of a job that is not failed/cancelled), ``LostJobError`` (a worker writes to a job it no longer
owns), ``JobCancelled`` (from ``progress`` once a cancel was requested).

``JobInfo`` fields: id, kind, payload, status ("queued" | "running" | "done" | "failed" | "cancelled"),
progress (0..1), message, attempts, max_attempts, priority, worker_id, worker_pid, worker_host,
heartbeat_at, cancel_requested, created_at, started_at, finished_at, result, error (the reason of the
last failed attempt; kept when a retry then succeeds);
``.finished`` is True for done/failed/cancelled.

Workers (``sportlens.store.worker``)::

    pool = WorkerPool(store.config, WorkerSettings(concurrency=2), handlers=None)
        # WorkerSettings: concurrency, kinds, poll_s, heartbeat_s, stale_after_s (60), retry_delay_s,
        # shutdown_grace_s, progress_every_s, handlers {kind: "module:function"}
        # pool.workers -> {worker_id: pid}
    pool.start(); ...; pool.stop()            # or: with WorkerPool(...) as pool:
    @register_handler("kind")                 # fn(ctx: JobContext) -> dict | None
    run_job(store, queue, job, worker_id, settings)   # run one claimed job in this process (tests)
    # ctx.job (JobInfo), ctx.payload, ctx.store, ctx.work_dir (private, removed after the job),
    # ctx.progress(fraction, message=None) (raises JobCancelled), ctx.check_cancelled()

A job whose kind no running worker handles stays queued. A handler's ``InputError`` fails the job at
once; any other error is retried (back-off ``retry_delay_s`` doubling) until ``max_attempts``.

Built-in kind ``"analyze"``: payload ``{"analysis_id": int}`` (made by ``enqueue_analysis``); runs
``sportlens.api.analyze_video`` and stores every output file as an artifact, the Analysis row
(status "done", summary, actions, metrics, warnings, report/overlay/keypoints keys, one AnalysisFile
per output file) in one transaction. ``scores``/``feedback`` are filled from summary.json's keys of the
same names once analyze_video writes them (None until then).
"""
from sportlens.store.artifacts import ArtifactStore, safe_filename
from sportlens.store.db import Store, StoreConfig, VerifyReport, default_data_dir, open_store, resolve_config
from sportlens.store.errors import (JobCancelled, LostJobError, NotFoundError, ReadOnlyStoreError, StoreError,
                                    StoreFullError)
from sportlens.store.jobs import JobInfo, JobQueue, QueueSettings
from sportlens.store.models import (FINISHED, JOB_STATUSES, Analysis, AnalysisFile, Artifact, Athlete, Job,
                                    Reference, Session)
from sportlens.store.repo import add_athlete, add_reference, add_session, enqueue_analysis, get
from sportlens.store.worker import JobContext, WorkerPool, WorkerSettings, register_handler, run_job

__all__ = [
    "ArtifactStore", "safe_filename", "Store", "StoreConfig", "VerifyReport", "default_data_dir", "open_store",
    "resolve_config", "JobCancelled", "LostJobError", "NotFoundError", "ReadOnlyStoreError", "StoreError",
    "StoreFullError", "JobInfo", "JobQueue", "QueueSettings", "FINISHED", "JOB_STATUSES", "Analysis",
    "AnalysisFile", "Artifact", "Athlete", "Job", "Reference", "Session", "add_athlete", "add_reference",
    "add_session", "enqueue_analysis", "get", "JobContext", "WorkerPool", "WorkerSettings", "register_handler",
    "run_job",
]
