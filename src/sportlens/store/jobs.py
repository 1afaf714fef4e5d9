"""A job queue persisted in the database: jobs survive restarts, never run twice at once.

State machine (``Job.status``)::

    queued --claim--> running --complete--> done
      ^                  |  \\--fail(retry, attempts left) / worker lost--> queued (after a back-off)
      |                  |   \\-fail(no retry / no attempts left) / worker lost--> failed (error = reason)
      |                  \\--cancel (flag; the handler stops at its next progress report)--> cancelled
      \\--retry-- failed | cancelled            queued --cancel--> cancelled

Decisions:
- Claiming is one transaction: pick the oldest highest-priority queued job (``FOR UPDATE SKIP
  LOCKED`` on PostgreSQL, so concurrent workers skip each other's rows instead of waiting), then a
  conditional ``UPDATE ... WHERE status = 'queued'`` whose row count says who won (on SQLite the
  ``BEGIN IMMEDIATE`` transaction already serialises claims; the condition keeps it correct anyway).
- A worker owns a running job by ``worker_id``: every later write checks it (``LostJobError``
  otherwise), so a worker presumed dead and replaced cannot overwrite its successor's work.
- Liveness is a heartbeat written by the worker (a thread, independent of the handler's progress).
  ``recover_stale`` requeues (or fails, with the reason, once ``max_attempts`` is spent) running jobs
  whose heartbeat is older than a timeout: a killed worker or a crashed server. Times come from the
  workers' clocks: across machines keep them in sync (NTP), the timeout (60 s) is far above skew.
- An attempt is counted at claim; a job that kills its worker every time therefore ends ``failed``.
- Jobs linked to an ``Analysis`` (``Analysis.job_id``) keep its status in step, in the same
  transaction (``done`` is set by the handler together with the results).
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session as DbSession

from sportlens.errors import InputError
from sportlens.store.errors import JobCancelled, LostJobError, NotFoundError
from sportlens.store.models import FINISHED, JOB_STATUSES, Analysis, Job, utcnow


@dataclass(frozen=True)
class JobInfo:
    """A snapshot of one job (safe to keep after the transaction, to send as JSON with ``to_dict``)."""

    id: int
    kind: str
    payload: dict[str, Any]
    status: str
    progress: float
    message: str
    attempts: int
    max_attempts: int
    priority: int
    worker_id: str | None
    worker_pid: int | None
    worker_host: str | None
    heartbeat_at: datetime | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: dict[str, Any] | None
    error: str | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def of(cls, job: Job) -> "JobInfo":
        return cls(**{f.name: getattr(job, f.name) for f in fields(cls)})

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in out.items()}


@dataclass(frozen=True)
class QueueSettings:
    retry_delay_s: float = 5.0  # wait before a retry; doubles with each attempt ...
    max_retry_delay_s: float = 300.0  # ... up to this


def worker_identity() -> tuple[str, int]:
    """(host, pid) of this process: stored with a claimed job to find jobs of dead local workers."""
    return socket.gethostname(), os.getpid()


class JobQueue:
    """The job queue of a ``Store`` (``store.jobs``). Every method is one short transaction."""

    def __init__(self, store, settings: QueueSettings = QueueSettings()):
        self.store, self.settings = store, settings

    # -- producer side -------------------------------------------------------------------------------
    def enqueue(self, kind: str, payload: dict[str, Any] | None = None, *, max_attempts: int = 3,
                priority: int = 0, db: DbSession | None = None) -> int:
        """Queue a job; with ``db``, inside that transaction (e.g. together with the row it fills)."""
        job = Job(kind=_check_kind(kind), payload=_check_payload(payload or {}), status="queued",
                  max_attempts=_check_attempts(max_attempts), priority=int(priority), message="queued",
                  created_at=utcnow(), updated_at=utcnow())
        if db is not None:
            db.add(job)
            db.flush()
            return job.id
        with self.store.session() as db:
            db.add(job)
            db.flush()
            return job.id

    def get(self, job_id: int) -> JobInfo:
        with self.store.session() as db:
            return JobInfo.of(_get(db, job_id))

    def list(self, status: str | None = None, kind: str | None = None, limit: int = 100) -> list[JobInfo]:
        """The newest jobs first, optionally of one status and/or kind."""
        if status is not None and status not in JOB_STATUSES:
            raise InputError(f"unknown job status {status!r}; one of {', '.join(JOB_STATUSES)}")
        q = select(Job).order_by(Job.id.desc()).limit(max(1, min(int(limit), 10_000)))
        if status is not None:
            q = q.where(Job.status == status)
        if kind is not None:
            q = q.where(Job.kind == kind)
        with self.store.session() as db:
            return [JobInfo.of(j) for j in db.scalars(q)]

    def cancel(self, job_id: int) -> JobInfo:
        """Cancel: a queued job at once; a running one is flagged and stops at its next progress report."""
        with self.store.session() as db:
            job = _get(db, job_id, lock=True)
            if job.status == "queued":
                _finish(job, "cancelled", "cancelled before it started")
            elif job.status == "running" and not job.cancel_requested:
                job.cancel_requested, job.message, job.updated_at = True, "cancelling", utcnow()
            _sync_analysis(db, job)
            return JobInfo.of(job)

    def retry(self, job_id: int) -> JobInfo:
        """Put a failed or cancelled job back in the queue with a fresh set of attempts."""
        with self.store.session() as db:
            job = _get(db, job_id, lock=True)
            if job.status not in ("failed", "cancelled"):
                raise InputError(f"job {job_id} is {job.status}: only failed or cancelled jobs can be retried")
            _requeue(job, "queued again", run_after=None)
            job.attempts, job.cancel_requested = 0, False
            _sync_analysis(db, job)
            return JobInfo.of(job)

    def wait(self, job_id: int, timeout_s: float = 600.0, poll_s: float = 0.2) -> JobInfo:
        """Poll until the job is finished (or ``timeout_s`` passed); returns the last snapshot."""
        deadline = time.monotonic() + timeout_s
        while True:
            info = self.get(job_id)
            if info.finished or time.monotonic() >= deadline:
                return info
            time.sleep(poll_s)

    # -- worker side ---------------------------------------------------------------------------------
    def claim(self, worker_id: str, kinds: list[str] | None = None, host: str | None = None,
              pid: int | None = None) -> JobInfo | None:
        """Take the next queued job for ``worker_id`` (atomically: see module doc), or None."""
        if kinds is not None and not kinds:
            return None
        host_pid = worker_identity()
        for _ in range(5):  # only PostgreSQL without SKIP LOCKED support could lose the race; be safe
            with self.store.session() as db:
                now = utcnow()
                q = select(Job.id).where(Job.status == "queued", or_(Job.run_after.is_(None), Job.run_after <= now))
                if kinds is not None:
                    q = q.where(Job.kind.in_(list(kinds)))
                job_id = db.scalar(q.order_by(Job.priority.desc(), Job.id).limit(1).with_for_update(skip_locked=True))
                if job_id is None:
                    return None
                won = db.execute(update(Job).where(Job.id == job_id, Job.status == "queued").values(
                    status="running", worker_id=worker_id, worker_host=host or host_pid[0],
                    worker_pid=pid or host_pid[1], attempts=Job.attempts + 1, started_at=now,
                    heartbeat_at=now, updated_at=now, progress=0.0, message="started", run_after=None,
                ).execution_options(synchronize_session=False)).rowcount
                if won == 1:
                    job = db.get(Job, job_id, populate_existing=True)
                    _sync_analysis(db, job)
                    return JobInfo.of(job)
        return None

    def heartbeat(self, job_id: int, worker_id: str) -> bool:
        """Say the worker is alive; returns True when a cancel was requested."""
        with self.store.session() as db:
            job = _owned(db, job_id, worker_id)
            job.heartbeat_at = job.updated_at = utcnow()
            return job.cancel_requested

    def progress(self, job_id: int, worker_id: str, fraction: float, message: str | None = None) -> None:
        """Record progress (0..1) and a message; raises ``JobCancelled`` once a cancel was requested."""
        with self.store.session() as db:
            job = _owned(db, job_id, worker_id)
            job.progress = min(1.0, max(0.0, float(fraction)))
            if message is not None:
                job.message = str(message)[:2000]
            job.heartbeat_at = job.updated_at = utcnow()
            cancelled = job.cancel_requested
        if cancelled:
            raise JobCancelled(f"job {job_id} was cancelled")

    def complete(self, job_id: int, worker_id: str, result: dict[str, Any] | None = None) -> JobInfo:
        with self.store.session() as db:
            job = _owned(db, job_id, worker_id)
            job.result = _check_payload(result or {}, what="result")  # error: kept, the last failed attempt's
            _finish(job, "done", "done")
            job.progress = 1.0
            return JobInfo.of(job)

    def fail(self, job_id: int, worker_id: str, error: str, retry: bool = True) -> JobInfo:
        """The attempt failed with ``error``: queued again if ``retry`` and attempts are left, else failed."""
        with self.store.session() as db:
            job = _owned(db, job_id, worker_id)
            if retry:
                self._requeue_or_fail(job, str(error))
            else:
                job.error = str(error)
                _finish(job, "failed", "failed")
            _sync_analysis(db, job)
            return JobInfo.of(job)

    def mark_cancelled(self, job_id: int, worker_id: str) -> JobInfo:
        """The handler stopped because of a cancel request."""
        with self.store.session() as db:
            job = _owned(db, job_id, worker_id)
            _finish(job, "cancelled", "cancelled")
            _sync_analysis(db, job)
            return JobInfo.of(job)

    # -- recovery ------------------------------------------------------------------------------------
    def recover_stale(self, timeout_s: float) -> list[JobInfo]:
        """Running jobs whose heartbeat is older than ``timeout_s``: requeued, or failed with the reason."""
        cutoff = utcnow() - timedelta(seconds=timeout_s)
        q = select(Job).where(Job.status == "running", or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff))
        return self._recover(q, lambda j: f"worker {j.worker_id} (pid {j.worker_pid} on {j.worker_host}) "
                                          f"stopped responding: no heartbeat for over {timeout_s:.0f} s")

    def release_worker(self, worker_id: str, reason: str, count_attempt: bool = True) -> list[JobInfo]:
        """The running jobs of ``worker_id`` (known dead or stopped): requeued, or failed with ``reason``.

        ``count_attempt=False`` (an orderly shutdown) gives the attempt back."""
        q = select(Job).where(Job.status == "running", Job.worker_id == worker_id)
        return self._recover(q, lambda j: reason, count_attempt)

    def release_dead_local(self, reason: str = "its worker process is gone") -> list[JobInfo]:
        """Running jobs claimed on this host by processes that no longer exist (a server restart)."""
        host = worker_identity()[0]
        with self.store.session() as db:
            rows = db.execute(select(Job.worker_id, Job.worker_pid).where(
                Job.status == "running", Job.worker_host == host)).all()
        out = []
        for worker_id, pid in rows:
            if pid is None or not _alive(pid):
                out += self.release_worker(worker_id, f"{reason} (pid {pid})")
        return out

    def _recover(self, query, reason, count_attempt: bool = True) -> list[JobInfo]:
        with self.store.session() as db:
            out = []
            for job in db.scalars(query.with_for_update(skip_locked=True)):
                if not count_attempt:
                    job.attempts = max(0, job.attempts - 1)
                self._requeue_or_fail(job, reason(job))
                _sync_analysis(db, job)
                out.append(JobInfo.of(job))
            return out

    def _requeue_or_fail(self, job: Job, reason: str) -> None:
        if job.cancel_requested:
            _finish(job, "cancelled", f"cancelled ({reason})")
        elif job.attempts < job.max_attempts:
            delay = min(self.settings.max_retry_delay_s, self.settings.retry_delay_s * 2 ** max(0, job.attempts - 1))
            _requeue(job, f"attempt {job.attempts} of {job.max_attempts} failed, will retry: {reason}",
                     run_after=utcnow() + timedelta(seconds=delay))
            job.error = reason
        else:
            job.error = f"{reason} (gave up after {job.attempts} attempt{'s' * (job.attempts != 1)})"
            _finish(job, "failed", "failed")


def _get(db: DbSession, job_id: int, lock: bool = False) -> Job:
    q = select(Job).where(Job.id == int(job_id))
    job = db.scalar(q.with_for_update() if lock else q)
    if job is None:
        raise NotFoundError(f"no job {job_id}")
    return job


def _owned(db: DbSession, job_id: int, worker_id: str) -> Job:
    job = _get(db, job_id, lock=True)
    if job.status != "running" or job.worker_id != worker_id:
        raise LostJobError(f"job {job_id} is no longer run by worker {worker_id} "
                           f"(it is {job.status}, worker {job.worker_id})")
    return job


def _finish(job: Job, status: str, message: str) -> None:
    job.status, job.message = status, message
    job.finished_at = job.updated_at = utcnow()


def _requeue(job: Job, message: str, run_after: datetime | None) -> None:
    job.status, job.message, job.progress, job.run_after = "queued", message, 0.0, run_after
    job.worker_id = job.worker_pid = job.worker_host = job.heartbeat_at = job.finished_at = None
    job.updated_at = utcnow()


def _sync_analysis(db: DbSession, job: Job) -> None:
    """Keep the Analysis rows produced by this job in step (``done`` is written by the handler)."""
    if job.status == "done":
        return
    values: dict[str, Any] = {"status": job.status}
    if job.status in ("failed", "cancelled"):
        values.update(error=job.error or job.message, finished_at=job.finished_at)
    db.execute(update(Analysis).where(Analysis.job_id == job.id, Analysis.status != "done").values(**values)
               .execution_options(synchronize_session=False))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _check_kind(kind: str) -> str:
    if not isinstance(kind, str) or not kind.strip() or len(kind) > 64:
        raise InputError(f"job kind must be a non-empty name of at most 64 characters, not {kind!r}")
    return kind


def _check_attempts(n: int) -> int:
    if not isinstance(n, int) or n < 1:
        raise InputError(f"max_attempts must be an integer >= 1, not {n!r}")
    return n


def _check_payload(data: dict[str, Any], what: str = "payload") -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InputError(f"job {what} must be a JSON object (dict), not {type(data).__name__}")
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InputError(f"job {what} is not plain JSON ({e})") from None
    return data
