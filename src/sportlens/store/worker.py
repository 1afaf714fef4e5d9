"""Worker processes that run queued jobs by kind, and the built-in ``analyze`` handler.

``WorkerPool`` (in the server process) starts ``concurrency`` worker processes (spawned, not forked:
a forked copy of a process holding database connections and model threads is unsafe) and supervises
them: a worker that dies (killed, out of memory) has its job requeued or failed with the reason at
once and is replaced; jobs of workers that vanished with a previous server (same host, pid gone) are
released at start, and any job whose heartbeat is older than ``stale_after_s`` (other hosts) is
recovered periodically.

Each worker: claim a job -> a heartbeat thread keeps it alive -> the handler runs in the main thread
with a ``JobContext`` -> complete / fail / cancelled. ``InputError`` from a handler fails the job at
once (bad input does not get better by retrying); other errors are retried up to ``max_attempts``.
"""
from __future__ import annotations

import importlib
import json
import logging
import multiprocessing as mp
import os
import shutil
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sportlens.errors import InputError, SportlensError
from sportlens.store.db import Store, StoreConfig, open_store
from sportlens.store.errors import JobCancelled, LostJobError, StoreError, from_os_error
from sportlens.store.jobs import JobInfo, JobQueue, QueueSettings, worker_identity

log = logging.getLogger(__name__)

Handler = Callable[["JobContext"], "dict[str, Any] | None"]
HANDLERS: dict[str, Handler] = {}


def register_handler(kind: str) -> Callable[[Handler], Handler]:
    """Decorator: ``fn(ctx: JobContext) -> dict | None`` runs jobs of ``kind`` (result stored as JSON)."""
    def deco(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn
    return deco


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = 2  # worker processes
    kinds: tuple[str, ...] | None = None  # job kinds these workers take (None: every registered kind)
    poll_s: float = 1.0  # idle workers look for new jobs this often
    heartbeat_s: float = 5.0  # a running job's heartbeat period
    stale_after_s: float = 60.0  # a running job without heartbeat for this long is recovered
    retry_delay_s: float = 5.0  # first retry back-off (doubles per attempt)
    shutdown_grace_s: float = 10.0  # stop(): running jobs get this long to finish, then are requeued
    progress_every_s: float = 0.5  # at most one progress write per this period (a forced one at 100 %)
    # extra handlers: kind -> "module:function", imported in each worker (tests, plug-ins)
    handlers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.concurrency < 1:
            raise InputError(f"worker concurrency must be >= 1, not {self.concurrency}")
        if self.stale_after_s <= 2 * self.heartbeat_s:
            raise InputError("stale_after_s must be more than twice heartbeat_s, or live jobs look dead")


class JobContext:
    """What a handler gets: the job, the store, a private work folder and progress reporting."""

    def __init__(self, job: JobInfo, store: Store, queue: JobQueue, worker_id: str, work_dir: Path,
                 settings: WorkerSettings):
        self.job, self.store, self.queue, self.worker_id = job, store, queue, worker_id
        self.payload, self.work_dir, self._settings = job.payload, work_dir, settings
        self.cancelled, self.lost = threading.Event(), threading.Event()
        self._last_write, self._last_message = 0.0, None

    def check_cancelled(self) -> None:
        """Raise ``JobCancelled`` (or ``LostJobError``) if the heartbeat saw a cancel (or lost the job)."""
        if self.lost.is_set():
            raise LostJobError(f"job {self.job.id} was taken away from worker {self.worker_id}")
        if self.cancelled.is_set():
            raise JobCancelled(f"job {self.job.id} was cancelled")

    def progress(self, fraction: float, message: str | None = None) -> None:
        """Report progress (0..1); the place where a cancelled job stops (``JobCancelled``)."""
        self.check_cancelled()
        now = time.monotonic()
        if message == self._last_message and fraction < 1 and now - self._last_write < self._settings.progress_every_s:
            return
        self._last_write, self._last_message = now, message
        try:
            self.queue.progress(self.job.id, self.worker_id, fraction, message)
        except LostJobError:
            self.lost.set()
            raise


class _Heartbeat(threading.Thread):
    def __init__(self, ctx: JobContext, period: float):
        super().__init__(daemon=True, name=f"heartbeat-{ctx.job.id}")
        self.ctx, self.period, self.done = ctx, period, threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.period):
            try:
                if self.ctx.queue.heartbeat(self.ctx.job.id, self.ctx.worker_id):
                    self.ctx.cancelled.set()
            except LostJobError:
                self.ctx.lost.set()
                return
            except StoreError as e:  # a database hiccup: try again next period
                log.warning("heartbeat of job %s failed: %s", self.ctx.job.id, e)


def run_job(store: Store, queue: JobQueue, job: JobInfo, worker_id: str, settings: WorkerSettings) -> None:
    """Run one claimed job to its end state (complete / fail / cancelled); never raises for the job's errors."""
    handler = HANDLERS.get(job.kind)
    if handler is None:
        queue.fail(job.id, worker_id, f"no handler for job kind {job.kind!r} in this worker", retry=False)
        return
    work_dir = store.data_dir / "tmp" / work_dir_name(job.id, worker_id)
    shutil.rmtree(work_dir, ignore_errors=True)
    try:
        work_dir.mkdir(parents=True)
    except OSError as e:  # full disk, read-only folder: the job may succeed later or elsewhere
        queue.fail(job.id, worker_id, str(from_os_error(e, str(work_dir))))
        return
    ctx = JobContext(job, store, queue, worker_id, work_dir, settings)
    beat = _Heartbeat(ctx, settings.heartbeat_s)
    beat.start()
    try:
        _finish(queue, job, worker_id, lambda: handler(ctx))
    finally:
        beat.done.set()
        beat.join()
        shutil.rmtree(work_dir, ignore_errors=True)


def _finish(queue: JobQueue, job: JobInfo, worker_id: str, call: Callable[[], Any]) -> None:
    try:
        try:
            result = call()
        except Exception as e:
            if TERMINATING.is_set():
                # stop() terminated this worker mid-job. The SIGTERM's SystemExit can be replaced by
                # another error on its way out (e.g. a driver error from cleaning up the database call it
                # interrupted), and the job was then recorded as failed (seen in CI, PostgreSQL). The job
                # stays running: the pool requeues it without counting the attempt.
                raise SystemExit(128 + signal.SIGTERM) from e
            _record_failure(queue, job, worker_id, e)
        else:
            queue.complete(job.id, worker_id, result or {})
    except LostJobError as e:  # recovered as stale meanwhile: its new owner decides
        log.warning("%s", e)


def _record_failure(queue: JobQueue, job: JobInfo, worker_id: str, e: Exception) -> None:
    if isinstance(e, JobCancelled):
        queue.mark_cancelled(job.id, worker_id)
    elif isinstance(e, InputError):
        queue.fail(job.id, worker_id, str(e), retry=False)
    elif isinstance(e, LostJobError):
        raise e
    elif isinstance(e, SportlensError):
        queue.fail(job.id, worker_id, str(e))
    else:  # a bug or an environment problem: logged in full, retried
        log.error("job %s (%s) failed:\n%s", job.id, job.kind,
                  "".join(traceback.format_exception(type(e), e, e.__traceback__)))
        queue.fail(job.id, worker_id, f"{type(e).__name__}: {e}")


def _load_handlers(handlers: dict[str, str]) -> None:
    for kind, target in handlers.items():
        module, _, name = target.partition(":")
        try:
            HANDLERS[kind] = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            raise InputError(f"job handler {target!r} for kind {kind!r} cannot be loaded ({e})") from None


def worker_main(config: StoreConfig, settings: WorkerSettings, worker_id: str, stop) -> None:
    """Entry point of one worker process: claim and run jobs until ``stop`` is set."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the pool decides
    signal.signal(signal.SIGTERM, _exit_on_term)  # stop(): unwind, so finally blocks clean the work folder
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {worker_id} %(levelname)s %(message)s")
    _load_handlers(settings.handlers)
    try:
        store = open_store(config, migrate=False, check_writable=False)
    except SportlensError as e:  # database down: say so, and let the pool restart us a bit later
        log.error("cannot open the store: %s", e)
        time.sleep(5 * settings.poll_s)
        raise SystemExit(1) from None
    queue = JobQueue(store, QueueSettings(retry_delay_s=settings.retry_delay_s))
    kinds = list(settings.kinds) if settings.kinds is not None else sorted(HANDLERS)
    host, pid = worker_identity()
    parent = os.getppid()
    while not stop.is_set() and os.getppid() == parent:  # an orphan (server killed) stops claiming
        try:
            job = queue.claim(worker_id, kinds, host=host, pid=pid)
        except StoreError as e:
            log.warning("cannot claim jobs: %s", e)
            job = None
        if job is None:
            stop.wait(settings.poll_s)
            continue
        try:
            run_job(store, queue, job, worker_id, settings)
        except StoreError as e:  # could not record the outcome: the heartbeat timeout recovers the job
            log.error("job %s: %s", job.id, e)
    store.close()


TERMINATING = threading.Event()  # set in a worker process once the pool's SIGTERM arrived


def _exit_on_term(signum, frame) -> None:
    TERMINATING.set()
    raise SystemExit(128 + signum)


def work_dir_name(job_id: int, worker_id: str) -> str:
    return f"job-{job_id}-{worker_id.replace(':', '-')}"


def remove_work_dirs(store: Store, worker_id: str) -> None:
    """Work folders a dead worker left behind (killed: its finally blocks never ran)."""
    if not worker_id:
        return
    for d in (store.data_dir / "tmp").glob(work_dir_name(0, worker_id).replace("job-0-", "job-*-", 1)):
        shutil.rmtree(d, ignore_errors=True)


def remove_stale_work_dirs(queue: JobQueue) -> None:
    """Work folders whose job is not running under that folder's worker any more (left by a crash)."""
    from sportlens.store.errors import NotFoundError

    for d in (queue.store.data_dir / "tmp").glob("job-*"):
        try:
            job = queue.get(int(d.name.split("-")[1]))
        except (ValueError, IndexError, NotFoundError):
            job = None
        if job is None or job.status != "running" or work_dir_name(job.id, job.worker_id or "") != d.name:
            shutil.rmtree(d, ignore_errors=True)


class WorkerPool:
    """``concurrency`` supervised worker processes; ``start()`` / ``stop()`` or a ``with`` block."""

    def __init__(self, config: StoreConfig | Store, settings: WorkerSettings = WorkerSettings(),
                 handlers: dict[str, str] | None = None):
        self.config = config.config if isinstance(config, Store) else config
        self.settings = settings if not handlers else _with_handlers(settings, handlers)
        self._ctx = mp.get_context("spawn")
        self._stop = self._ctx.Event()
        self._procs: dict[str, Any] = {}
        self._serial = 0
        self._monitor: threading.Thread | None = None
        self._halt = threading.Event()
        self._lock = threading.Lock()  # _procs is changed by the monitor thread, read by others
        self.store: Store | None = None

    @property
    def workers(self) -> dict[str, int]:
        """worker_id -> pid of the live workers."""
        with self._lock:
            return {wid: p.pid for wid, p in self._procs.items() if p.is_alive()}

    def start(self) -> "WorkerPool":
        _load_handlers(self.settings.handlers)  # fail here, not in N children
        self.store = open_store(self.config)  # migrates once, before any worker starts
        self.queue = JobQueue(self.store, QueueSettings(retry_delay_s=self.settings.retry_delay_s))
        for job in self.queue.release_dead_local("the server stopped while it ran"):
            log.info("job %s recovered at start: %s", job.id, job.status)
        remove_stale_work_dirs(self.queue)
        self.queue.recover_stale(self.settings.stale_after_s)
        for _ in range(self.settings.concurrency):
            self._spawn()
        self._monitor = threading.Thread(target=self._watch, daemon=True, name="sportlens-worker-monitor")
        self._monitor.start()
        return self

    def _spawn(self) -> None:
        host, pid = worker_identity()
        self._serial += 1
        wid = f"{host}:{pid}:w{self._serial}"
        proc = self._ctx.Process(target=worker_main, args=(self.config, self.settings, wid, self._stop),
                                 name=f"sportlens-{wid}", daemon=True)
        proc.start()
        with self._lock:
            self._procs[wid] = proc

    def _watch(self) -> None:
        period = min(1.0, self.settings.heartbeat_s)
        last_stale = time.monotonic()
        while not self._halt.wait(period):
            try:
                self._reap(respawn=True)
                if time.monotonic() - last_stale > self.settings.stale_after_s / 2:
                    self.queue.recover_stale(self.settings.stale_after_s)
                    last_stale = time.monotonic()
            except StoreError as e:
                log.warning("worker monitor: %s", e)

    def _reap(self, respawn: bool) -> None:
        with self._lock:
            dead = [(wid, proc) for wid, proc in self._procs.items() if proc.exitcode is not None]
            for wid, _ in dead:
                del self._procs[wid]
        for wid, proc in dead:
            if respawn and not self._stop.is_set():
                self._spawn()
            reason = f"worker process {proc.pid} {_exit_text(proc.exitcode)}"
            remove_work_dirs(self.store, wid)
            try:
                for job in self.queue.release_worker(wid, reason):
                    log.warning("job %s: %s -> %s", job.id, reason, job.status)
            except StoreError as e:  # its jobs are then recovered by the heartbeat timeout
                log.warning("could not release the jobs of %s: %s", wid, e)

    def stop(self, grace_s: float | None = None) -> None:
        """Stop claiming; running jobs get ``grace_s`` to finish, then their workers are terminated and
        their jobs requeued without counting the attempt."""
        if self._monitor is None:
            return
        self._halt.set()
        self._monitor.join()
        self._stop.set()
        deadline = time.monotonic() + (self.settings.shutdown_grace_s if grace_s is None else grace_s)
        for proc in self._procs.values():
            proc.join(max(0.0, deadline - time.monotonic()))
        for wid, proc in self._procs.items():
            if proc.is_alive():
                proc.terminate()
                proc.join(10)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
            self.queue.release_worker(wid, "the server stopped while it ran", count_attempt=False)
            remove_work_dirs(self.store, wid)
        self._procs.clear()
        self._monitor = None
        self.store.close()

    def __enter__(self) -> "WorkerPool":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _with_handlers(settings: WorkerSettings, handlers: dict[str, str]) -> WorkerSettings:
    from dataclasses import replace

    return replace(settings, handlers={**settings.handlers, **handlers})


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


# -- the analyze handler -------------------------------------------------------------------------------

class _JobProgress:
    """``sportlens.api.Progress`` -> job progress: pose 0-75 %, overlay 75-95 %, storing 95-100 %."""

    SPANS = {"pose": (0.0, 0.75), "people": (0.0, 0.75), "video model": (0.75, 0.8), "overlay": (0.8, 0.95)}

    def __init__(self, ctx: JobContext):
        self.ctx, self.span, self.total, self.done, self.name = ctx, (0.0, 0.75), None, 0, "starting"

    def stage(self, name: str, total: int | None) -> None:
        self.name, self.total, self.done = name, total, 0
        self.span = self.SPANS.get(name, (self.span[1], self.span[1]))
        self.ctx.progress(self.span[0], name)

    def advance(self, n: int) -> None:
        self.done += n
        frac = min(1.0, self.done / self.total) if self.total else 0.0
        lo, hi = self.span
        self.ctx.progress(lo + (hi - lo) * frac, self.name)


KEY_FILES = {"report_key": "report.html", "overlay_key": "overlay.mp4", "keypoints_key": "keypoints.parquet"}


@register_handler("analyze")
def analyze(ctx: JobContext) -> dict[str, Any]:
    """payload {"analysis_id"}: run ``analyze_video`` on the session's video, store files + results."""
    from sportlens.api import analyze_video
    from sportlens.config import AnalyzeSettings, from_overrides
    from sportlens.store.artifacts import copy_out
    from sportlens.store.models import Analysis, AnalysisFile, utcnow
    from sportlens.store.repo import get

    analysis_id = _int_field(ctx.payload, "analysis_id")
    with ctx.store.session() as db:
        a = get(db, Analysis, analysis_id)
        video_key, name, overrides = a.session.video_key, a.session.original_name, dict(a.settings or {})
    try:
        settings = from_overrides(AnalyzeSettings(), overrides)
    except (KeyError, TypeError, AttributeError) as e:
        raise InputError(f"bad analysis settings: {e}") from None
    video = copy_out(ctx.store.artifacts, video_key, ctx.work_dir / name)
    out = ctx.work_dir / "out"
    analyze_video(video, out, settings, progress=_JobProgress(ctx))
    ctx.progress(0.95, "storing results")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    ctx.check_cancelled()  # a cancel during the run: store nothing
    puts = {f.name: ctx.store.artifacts.put(f) for f in sorted(out.iterdir()) if f.is_file()}  # files first
    with ctx.store.session() as db:
        keys = {n: ctx.store.record_artifact(db, p, _media_type(n)).key for n, p in puts.items()}
        a = get(db, Analysis, analysis_id)
        a.files = [AnalysisFile(name=n, artifact_key=k) for n, k in keys.items()]  # a rerun replaces them
        for column, file in KEY_FILES.items():
            setattr(a, column, keys.get(file))
        a.summary, a.metrics, a.actions = summary, summary.get("metrics"), summary.get("actions")
        a.scores, a.feedback = _scores_and_feedback(summary)
        a.warnings = summary.get("warnings")
        a.status, a.error, a.finished_at = "done", None, utcnow()
    return {"analysis_id": analysis_id, "files": sorted(keys)}


def _scores_and_feedback(summary: dict) -> tuple[dict | None, list | None]:
    """The columns the history pages chart, from summary.json's ``assessment`` (assess.pipeline)."""
    a = summary.get("assessment") or {}
    scores = {}
    reps = a.get("reps") or {}
    if reps.get("count", 0) >= 2 and not reps.get("reason"):
        scores["repetitions"] = reps["count"]
    if (a.get("comparison") or {}).get("score") is not None:
        scores["reference score"] = a["comparison"]["score"]
    if (a.get("quality") or {}).get("score") is not None:
        scores["quality"] = a["quality"]["score"]
    return scores or None, a.get("feedback") or None


def _media_type(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _int_field(payload: dict[str, Any], name: str) -> int:
    value = payload.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"job payload needs an integer {name!r}, got {value!r}")
    return value
