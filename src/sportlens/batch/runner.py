"""``run_batch``: analyse every video of a folder in parallel Ray tasks, resumably.

Decisions:
- One Ray task per video, each calling ``sportlens.api.analyze_video`` (no step re-implemented).
  A task asks Ray for one CPU; with several tasks at once each one's pose estimation runs one worker
  (``pose.workers = 1``) so N tasks use N cores, not 2N.
- At most ``workers`` tasks are in flight: locally Ray is started with that many CPUs; on a cluster
  (``ray_address``) the default is every CPU the cluster has. Paths must then be on a file system
  every node sees at the same path (the tasks read the input and write the output themselves).
- A failed video is tried again ``retries`` times (after the others queued), then reported with its
  error; the other videos go on. Only the driver writes the manifest and
  ``sessions.parquet``, both atomically, so a crash or Ctrl-C leaves a batch that resumes.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator, Protocol

from sportlens.batch import manifest
from sportlens.batch.discover import VideoJob, find_videos
from sportlens.batch.sessions import SESSIONS, session_row, write_sessions
from sportlens.batch.worker import analyze_one
from sportlens.config import AnalyzeSettings, to_dict
from sportlens.errors import InputError, SportlensError
from sportlens.fsutil import ensure_writable_dir

LOCK = ".batch.lock"


@dataclass(frozen=True)
class BatchSettings:
    workers: int | None = None  # analyses at once; None: every local core (or every CPU of the cluster)
    ray_address: str = ""  # "": start a private local Ray; "auto" or "HOST:PORT": join that cluster
    retries: int = 1  # a failed video is tried again this many times, then reported
    object_store_mb: int = 256  # local Ray only: results are small JSON, the default (30 % of RAM) is waste


class BatchProgress(Protocol):
    def start(self, total: int, skipped: int) -> None: ...

    def finished(self, row: dict[str, Any]) -> None: ...


class _Silent:
    def start(self, total: int, skipped: int) -> None:
        pass

    def finished(self, row: dict[str, Any]) -> None:
        pass


@dataclass
class BatchReport:
    out_dir: Path
    sessions: Path  # OUT/sessions.parquet
    rows: list[dict[str, Any]]  # one per video, in name order (the parquet's rows)
    analysed: int  # analysed in this run (succeeded)
    skipped: int  # finished by an earlier run
    failed: list[tuple[str, str]] = field(default_factory=list)  # (name, error)
    seconds: float = 0.0  # wall time of the whole run
    frames: int = 0  # frames analysed in this run (throughput)
    cpu_seconds: float = 0.0  # CPU time the successful analyses of this run took, all workers together


def run_batch(input_dir: str | Path, out_dir: str | Path, settings: BatchSettings = BatchSettings(),
              analyze: AnalyzeSettings = AnalyzeSettings(), progress: BatchProgress | None = None) -> BatchReport:
    """Analyse every video of ``input_dir`` into ``out_dir/<stem>/``; write ``out_dir/sessions.parquet``."""
    progress, start = progress or _Silent(), time.perf_counter()
    if settings.workers is not None and settings.workers < 1:
        raise InputError(f"--workers must be at least 1, got {settings.workers}")
    jobs = find_videos(input_dir)
    out = ensure_writable_dir(Path(out_dir).resolve())
    with _exclusive(out):
        return _run(jobs, out, settings, analyze, progress, start)


def _run(jobs: list[VideoJob], out: Path, settings: BatchSettings, analyze: AnalyzeSettings,
         progress: BatchProgress, start: float) -> BatchReport:
    workers = settings.workers or (None if settings.ray_address else len(os.sched_getaffinity(0)))
    task_settings = per_task_settings(analyze, workers)
    key = manifest.settings_key(to_dict(task_settings))
    entries = manifest.load(out)
    rows: dict[str, dict[str, Any]] = {}
    pending = []
    for job in jobs:
        row = _resumed_row(job, out, entries.get(job.name), key)
        if row is None:
            pending.append(job)
        else:
            rows[job.name] = row
    progress.start(len(jobs), len(rows))
    report = BatchReport(out, out / SESSIONS, [], analysed=0, skipped=len(rows))
    if pending:
        with ray_session(settings, workers) as slots:
            for job, row, entry, cpu in _run_tasks(pending, out, task_settings, key, slots, settings.retries):
                rows[job.name], entries[job.name] = row, entry
                report.cpu_seconds += cpu
                manifest.save(out, entries)  # after every video: an interrupted batch resumes here
                if row["status"] == "ok":
                    report.analysed += 1
                    report.frames += int(row["frames"] or 0)
                else:
                    report.failed.append((job.name, row["error"]))
                progress.finished(row)
    report.rows = [rows[job.name] for job in jobs]
    write_sessions(report.rows, report.sessions)
    report.seconds = time.perf_counter() - start
    return report


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """One batch per output folder at a time: two drivers would redo each other's videos and race on
    the manifest. An OS lock (flock), so a crashed driver never leaves the folder locked."""
    with open(out / LOCK, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{out}: another `sportlens batch` is writing to this folder; wait for it or "
                             "choose another --out") from None
        yield


def per_task_settings(analyze: AnalyzeSettings, workers: int | None) -> AnalyzeSettings:
    """One pose worker per task when tasks run side by side (None: a cluster, always several)."""
    if workers == 1:
        return analyze
    return replace(analyze, pose=replace(analyze.pose, workers=1))


def _resumed_row(job: VideoJob, out: Path, entry: manifest.Entry | None, key: str) -> dict[str, Any] | None:
    summary_path = out / job.name / "summary.json"
    if not manifest.is_finished(entry, job.path, summary_path, key):
        return None
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError):  # damaged since: analyse again
        return None
    return session_row(job.name, str(job.path), out / job.name, summary, status="ok", resumed=True,
                       seconds=entry.seconds, attempts=entry.attempts)


@contextlib.contextmanager
def ray_session(settings: BatchSettings, workers: int | None) -> Iterator[int]:
    """Connect to Ray (or reuse the caller's connection); yield how many tasks to keep in flight."""
    try:
        import ray
    except ImportError:
        raise SportlensError("sportlens batch needs Ray: pip install ray (the pinned version is in "
                             "requirements/lock.txt)") from None

    owned = not ray.is_initialized()
    if owned:
        # Worker output (native pose-library noise) stays in Ray's log files: errors come back as exceptions.
        common = {"log_to_driver": False, "logging_level": logging.ERROR}
        if settings.ray_address:
            ray.init(address=settings.ray_address, **common)
        else:
            ray.init(num_cpus=workers, include_dashboard=False,
                     object_store_memory=settings.object_store_mb * 2**20, **common)
    try:
        yield workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    finally:
        if owned:
            ray.shutdown()


def _run_tasks(jobs: list[VideoJob], out: Path, settings: AnalyzeSettings, key: str, slots: int,
               retries: int) -> Iterator[tuple[VideoJob, dict[str, Any], manifest.Entry, float]]:
    """Keep ``slots`` tasks in flight; yield each video's row, manifest entry and CPU seconds as it finishes.

    Retries are the driver's (a failed video goes to the back of the queue): Ray's own exception
    retries print the remote traceback on the driver's terminal for every attempt. Ray still retries
    a task whose worker process died (``max_retries``), which the driver cannot tell from a slow one.
    """
    import ray

    task = ray.remote(analyze_one).options(num_cpus=1, max_retries=retries)
    queue: list[tuple[VideoJob, int, float]] = [(job, 1, 0.0) for job in jobs]  # (job, attempt, seconds so far)
    in_flight: dict[Any, tuple[VideoJob, int, float, tuple[int, int], float]] = {}
    try:
        while queue or in_flight:
            while queue and len(in_flight) < slots:
                job, attempt, spent = queue.pop(0)
                stamp = manifest.file_stamp(job.path)  # before: a file replaced meanwhile is redone next time
                ref = task.remote(str(job.path), str(out / job.name), settings)
                in_flight[ref] = (job, attempt, spent, stamp, time.perf_counter())
            done, _ = ray.wait(list(in_flight), num_returns=1)
            job, attempt, spent, stamp, t0 = in_flight.pop(done[0])
            try:
                result = ray.get(done[0])
            except Exception as e:  # the task raised, or its worker died beyond Ray's retries
                spent += time.perf_counter() - t0
                if attempt <= retries:
                    queue.append((job, attempt + 1, spent))
                    continue
                yield job, *_failed(job, out, key, stamp, describe_error(e), spent, attempt), 0.0
                continue
            yield job, *_succeeded(job, out, key, stamp, result, attempt), result["cpu_seconds"]
    finally:
        for ref in in_flight:  # Ctrl-C or an error in the driver: stop the rest, nothing half-written stays
            ray.cancel(ref, force=True)


def _succeeded(job: VideoJob, out: Path, key: str, stamp: tuple[int, int], result: dict[str, Any],
               attempts: int) -> tuple[dict[str, Any], manifest.Entry]:
    row = session_row(job.name, str(job.path), out / job.name, result["summary"], status="ok",
                      seconds=result["seconds"], attempts=attempts)
    return row, manifest.Entry(str(job.path), *stamp, key, "ok", "", result["seconds"], attempts)


def _failed(job: VideoJob, out: Path, key: str, stamp: tuple[int, int], error: str, seconds: float,
            attempts: int) -> tuple[dict[str, Any], manifest.Entry]:
    row = session_row(job.name, str(job.path), out / job.name, None, status="failed", error=error,
                      seconds=seconds, attempts=attempts)
    return row, manifest.Entry(str(job.path), *stamp, key, "failed", error, seconds, attempts)


def describe_error(exc: BaseException) -> str:
    """One line: the task's own exception (not Ray's wrapper and remote traceback) when there is one."""
    cause = getattr(exc, "cause", None) or exc
    lines = str(cause).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__
