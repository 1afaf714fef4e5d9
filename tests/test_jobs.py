"""The persistent job queue and its worker processes, on SQLite and a real PostgreSQL server:
claiming is exclusive (threads and processes racing), failures retry up to max_attempts, cancel,
a killed worker, a server restart, stale heartbeats, and the analyze handler end to end."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from sportlens.errors import InputError
from sportlens.store import (Analysis, JobCancelled, JobQueue, LostJobError, NotFoundError, QueueSettings,
                             WorkerPool, WorkerSettings, add_athlete, add_session, enqueue_analysis, open_store,
                             register_handler)
from sportlens.store.worker import run_job

pytest_plugins = ["_postgres"]  # the db_url fixture: SQLite and a real PostgreSQL server
pytestmark = pytest.mark.timeout(300)  # a lock-up (two migrations, a stuck claim) fails instead of hanging
SRC = str(Path(__file__).resolve().parents[1] / "src")
FAST = WorkerSettings(concurrency=1, poll_s=0.1, heartbeat_s=0.3, stale_after_s=3.0, retry_delay_s=0.0,
                      shutdown_grace_s=5.0, progress_every_s=0.0)
HANDLERS = {k: f"test_jobs:{k}" for k in ("record", "slow", "flaky", "bad_input")}


# -- handlers the worker processes import (as "test_jobs:NAME") -----------------------------------------

def record(ctx):
    """Log start/end of each run: a job run twice, or twice at once, shows in the log."""
    with open(ctx.payload["log"], "a") as f:
        f.write(f"start {ctx.job.id} {os.getpid()}\n")
    time.sleep(ctx.payload.get("sleep", 0.02))
    with open(ctx.payload["log"], "a") as f:
        f.write(f"end {ctx.job.id} {os.getpid()}\n")
    return {"pid": os.getpid()}


def slow(ctx):
    """Reports progress in steps; the first ``slow_attempts`` attempts take ``steps`` x 0.1 s."""
    Path(ctx.payload["dir"], f"pid-{ctx.job.id}-{ctx.job.attempts}").write_text(str(os.getpid()))
    steps = ctx.payload["steps"] if ctx.job.attempts <= ctx.payload.get("slow_attempts", 99) else 1
    for i in range(steps):
        ctx.progress(i / steps, f"step {i}")
        time.sleep(0.1)
    Path(ctx.payload["dir"], f"done-{ctx.job.id}").write_text("")
    return {"steps": steps}


def flaky(ctx):
    if ctx.job.attempts < ctx.payload["succeed_on"]:
        raise RuntimeError(f"flaky failure on attempt {ctx.job.attempts}")
    return {"attempt": ctx.job.attempts}


def bad_input(ctx):
    raise InputError("clip.mp4: not a video")


for _name in HANDLERS:
    register_handler(_name)(globals()[_name])


# -- helpers ------------------------------------------------------------------------------------------

@pytest.fixture
def store(db_url, tmp_path):
    s = open_store(db_url, tmp_path / "data")
    yield s
    s.close()


def queue(store) -> JobQueue:
    return JobQueue(store, QueueSettings(retry_delay_s=0.0))


def wait_for(cond, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def pool(store, **kw) -> WorkerPool:
    from dataclasses import replace

    return WorkerPool(store.config, replace(FAST, **kw), handlers=HANDLERS)


# -- the queue itself (one process) ------------------------------------------------------------------

def test_job_lifecycle(store):
    q = queue(store)
    job_id = q.enqueue("record", {"log": "x"}, max_attempts=2, priority=1)
    job = q.get(job_id)
    assert (job.status, job.progress, job.attempts, job.finished) == ("queued", 0.0, 0, False)
    claimed = q.claim("w1", ["record"])
    assert (claimed.id, claimed.status, claimed.attempts, claimed.worker_id) == (job_id, "running", 1, "w1")
    assert claimed.worker_pid == os.getpid() and claimed.heartbeat_at is not None
    assert q.claim("w2", ["record"]) is None
    assert q.heartbeat(job_id, "w1") is False
    q.progress(job_id, "w1", 0.5, "half way")
    assert (q.get(job_id).progress, q.get(job_id).message) == (0.5, "half way")
    with pytest.raises(LostJobError):
        q.progress(job_id, "w2", 0.6)  # not its job
    done = q.complete(job_id, "w1", {"answer": 42})
    assert (done.status, done.progress, done.result, done.finished) == ("done", 1.0, {"answer": 42}, True)
    assert [j.id for j in q.list(status="done")] == [job_id] and q.list(status="queued") == []
    assert done.to_dict()["finished_at"].endswith("+00:00")
    with pytest.raises(NotFoundError):
        q.get(12345)
    for bad in [dict(kind=""), dict(kind="x", payload={"f": float("nan")}), dict(kind="x", max_attempts=0),
                dict(kind="x", payload=[1])]:
        with pytest.raises(InputError):
            q.enqueue(**bad)


def test_claim_order_and_kinds(store):
    q = queue(store)
    low = q.enqueue("a")
    high = q.enqueue("a", priority=5)
    other = q.enqueue("b")
    assert q.claim("w", ["b"]).id == other
    assert q.claim("w", ["a"]).id == high  # higher priority first, then oldest
    assert q.claim("w", ["a"]).id == low
    assert q.claim("w", []) is None


def test_threads_never_claim_the_same_job(store):
    q = queue(store)
    ids = [q.enqueue("race") for _ in range(40)]
    got: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            while (job := q.claim(f"t{n}", ["race"])) is not None:
                with lock:
                    got.append(job.id)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert sorted(got) == ids  # every job claimed, none twice
    assert {j.attempts for j in q.list(status="running", limit=100)} == {1}


def test_failures_retry_until_max_attempts(store):
    q = queue(store)
    job_id = q.enqueue("x", max_attempts=2)
    q.claim("w", ["x"])
    again = q.fail(job_id, "w", "decoder crashed")
    assert (again.status, again.error, again.worker_id) == ("queued", "decoder crashed", None)
    assert "attempt 1 of 2 failed, will retry" in again.message
    q.claim("w", ["x"])
    final = q.fail(job_id, "w", "decoder crashed again")
    assert final.status == "failed" and final.error == "decoder crashed again (gave up after 2 attempts)"
    assert q.claim("w", ["x"]) is None
    assert q.retry(job_id).status == "queued" and q.get(job_id).attempts == 0
    q.claim("w", ["x"])
    assert q.fail(job_id, "w", "bad input", retry=False).status == "failed"  # no retry asked: at once
    with pytest.raises(InputError, match="only failed or cancelled"):
        q.retry(q.enqueue("x"))


def test_retry_waits_for_its_back_off(store):
    q = JobQueue(store, QueueSettings(retry_delay_s=30.0))
    job_id = q.enqueue("x")
    q.claim("w", ["x"])
    q.fail(job_id, "w", "transient")
    assert q.claim("w", ["x"]) is None  # not before 30 s
    assert q.get(job_id).status == "queued"


def test_cancel(store, tmp_path):
    q = queue(store)
    with store.session() as db:
        athlete = add_athlete(db, "Eve")
    queued = q.enqueue("x")
    assert q.cancel(queued).status == "cancelled" and q.claim("w", ["x"]) is None
    running = q.enqueue("x")
    q.claim("w", ["x"])
    flagged = q.cancel(running)
    assert (flagged.status, flagged.cancel_requested, flagged.message) == ("running", True, "cancelling")
    assert q.heartbeat(running, "w") is True
    with pytest.raises(JobCancelled):
        q.progress(running, "w", 0.3)
    assert q.mark_cancelled(running, "w").status == "cancelled"
    assert q.cancel(running).status == "cancelled"  # cancelling a finished job changes nothing
    assert athlete.id


def test_stale_jobs_are_recovered_and_their_old_worker_is_locked_out(store):
    q = queue(store)
    a = q.enqueue("x", max_attempts=2)
    b = q.enqueue("x", max_attempts=1)
    q.claim("w-old", ["x"])
    q.claim("w-old", ["x"])
    assert q.recover_stale(timeout_s=60) == []  # heartbeats are fresh
    time.sleep(0.05)
    recovered = {j.id: j for j in q.recover_stale(timeout_s=0.01)}
    assert recovered[a].status == "queued" and "stopped responding" in recovered[a].error
    assert recovered[b].status == "failed" and "no heartbeat" in recovered[b].error
    assert "gave up after 1 attempt" in recovered[b].error
    with pytest.raises(LostJobError):
        q.complete(a, "w-old")  # the presumed-dead worker cannot overwrite the job
    with pytest.raises(LostJobError):
        q.heartbeat(a, "w-old")
    assert q.claim("w-new", ["x"]).id == a


def test_analysis_status_follows_its_job(store, tmp_path):
    from _media import gradient_frames, make_video

    video = make_video(tmp_path / "clip.mp4", gradient_frames(6), fps=6)
    with store.session() as db:
        session_id = add_session(store, db, add_athlete(db, "Fay").id, video, "clip.mp4").id
    analysis_id, job_id = enqueue_analysis(store, session_id)
    q = queue(store)

    def status():
        with store.session() as db:
            a = db.get(Analysis, analysis_id)
            return a.status, a.error

    q.claim("w", ["analyze"])
    assert status() == ("running", None)
    q.fail(job_id, "w", "pose model crashed")
    assert status()[0] == "queued"
    q.claim("w", ["analyze"])
    q.fail(job_id, "w", "pose model crashed")
    assert status() == ("failed", "pose model crashed (gave up after 2 attempts)")
    q.retry(job_id)
    assert status()[0] == "queued"
    assert q.cancel(job_id).status == "cancelled" and status()[0] == "cancelled"


def test_run_job_maps_handler_outcomes(store, tmp_path):
    q = queue(store)
    host_dir = tmp_path / "w"
    host_dir.mkdir()
    ok = q.enqueue("record", {"log": str(tmp_path / "log")})
    bad = q.enqueue("bad_input", max_attempts=3)
    flake = q.enqueue("flaky", {"succeed_on": 2}, max_attempts=3)
    unknown = q.enqueue("no_such_kind")
    for _ in range(5):
        job = q.claim("w", ["record", "bad_input", "flaky", "no_such_kind"])
        if job is not None:
            run_job(store, q, job, "w", FAST)
    assert q.get(ok).result == {"pid": os.getpid()} and q.get(ok).status == "done"
    assert (q.get(bad).status, q.get(bad).attempts, q.get(bad).error) == ("failed", 1, "clip.mp4: not a video")
    assert (q.get(flake).status, q.get(flake).result) == ("done", {"attempt": 2})
    assert q.get(unknown).status == "failed" and "no handler" in q.get(unknown).error
    assert not any((store.data_dir / "tmp").glob("job-*"))  # work folders are removed


def test_a_job_interrupted_by_the_pools_sigterm_is_left_for_the_pool(store, tmp_path):
    """stop()'s SIGTERM can surface inside a handler as another error (e.g. a driver error from cleaning up the
    database call it interrupted; the job was then recorded as failed, seen in CI): the job must stay running,
    for the pool to requeue without counting the attempt."""
    from sportlens.store import worker
    from sportlens.store.errors import StoreError

    q = queue(store)
    job_id = q.enqueue("record", {"log": str(tmp_path / "log")}, max_attempts=1)
    job = q.claim("w", ["record"])

    def interrupted():
        worker.TERMINATING.set()  # what the SIGTERM handler does first
        raise StoreError("sqlite: database error (connection lost)")

    try:
        with pytest.raises(SystemExit):
            worker._finish(q, job, "w", interrupted)
    finally:
        worker.TERMINATING.clear()
    assert q.get(job_id).status == "running"
    q.release_worker("w", "the server stopped while it ran", count_attempt=False)
    assert (q.get(job_id).status, q.get(job_id).attempts) == ("queued", 0)


# -- worker processes ---------------------------------------------------------------------------------

def test_worker_processes_never_run_a_job_twice(store, tmp_path):
    log = tmp_path / "runs.log"
    q = queue(store)
    ids = [q.enqueue("record", {"log": str(log), "sleep": 0.01}) for _ in range(24)]
    with pool(store, concurrency=3):
        wait_for(lambda: all(q.get(i).finished for i in ids), 120, "all jobs to finish")
    assert {q.get(i).status for i in ids} == {"done"} and {q.get(i).attempts for i in ids} == {1}
    lines = log.read_text().split()
    starts = sorted(int(lines[i + 1]) for i in range(0, len(lines), 3) if lines[i] == "start")
    assert starts == ids  # each job started exactly once across all workers


def test_cancel_a_running_job_in_a_worker(store, tmp_path):
    q = queue(store)
    job_id = q.enqueue("slow", {"dir": str(tmp_path), "steps": 600})
    with pool(store):
        wait_for(lambda: q.get(job_id).progress > 0, 60, "the job to report progress")
        q.cancel(job_id)
        job = wait_for(lambda: (j := q.get(job_id)).finished and j, 30, "the job to stop")
    assert job.status == "cancelled" and not (tmp_path / f"done-{job_id}").exists()


def test_killed_worker_job_is_retried_or_failed_with_reason(store, tmp_path):
    q = queue(store)
    retried = q.enqueue("slow", {"dir": str(tmp_path), "steps": 600, "slow_attempts": 1}, max_attempts=2)
    with pool(store) as p:
        pid = int(wait_for(lambda: _read(tmp_path / f"pid-{retried}-1"), 60, "the first attempt"))
        assert pid in p.workers.values()
        os.kill(pid, signal.SIGKILL)
        job = wait_for(lambda: (j := q.get(retried)).finished and j, 60, "the retry to finish")
        assert (job.status, job.attempts) == ("done", 2)
        assert "killed by signal SIGKILL" in job.error  # the reason of the lost attempt stays visible
        wait_for(lambda: not any((store.data_dir / "tmp").glob("job-*")), 30, "the dead worker's folder to go")
        gave_up = q.enqueue("slow", {"dir": str(tmp_path), "steps": 600}, max_attempts=1)
        pid = int(wait_for(lambda: _read(tmp_path / f"pid-{gave_up}-1"), 60, "the job to start"))
        os.kill(pid, signal.SIGKILL)
        job = wait_for(lambda: (j := q.get(gave_up)).finished and j, 60, "the job to fail")
        assert job.status == "failed" and "killed by signal SIGKILL" in job.error
        assert "gave up after 1 attempt" in job.error
        wait_for(lambda: len(p.workers) == 1, 30, "the dead worker to be replaced")


def test_jobs_survive_a_server_crash(store, tmp_path):
    """A server (and its workers) killed mid-job: the next start finds the job and runs it again."""
    q = queue(store)
    job_id = q.enqueue("slow", {"dir": str(tmp_path), "steps": 2})
    crash = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {SRC!r})
        from sportlens.store import open_store
        s = open_store({store.config.url!r}, {str(store.data_dir)!r})
        assert s.jobs.claim("crashed-server:w1", ["slow"]).id == {job_id}
        (s.data_dir / "tmp" / "job-{job_id}-crashed-server-w1").mkdir()  # its work folder, left behind
        os._exit(1)
    """)
    assert subprocess.run([sys.executable, "-c", crash], timeout=120).returncode == 1
    assert q.get(job_id).status == "running"  # as the dead server left it
    with pool(store):
        job = wait_for(lambda: (j := q.get(job_id)).finished and j, 60, "the job to finish after restart")
    assert (job.status, job.attempts) == ("done", 2) and "server stopped" in job.error
    assert not any((store.data_dir / "tmp").glob("job-*"))


def test_stop_requeues_running_jobs_without_counting_the_attempt(store, tmp_path):
    q = queue(store)
    job_id = q.enqueue("slow", {"dir": str(tmp_path), "steps": 600}, max_attempts=1)
    p = pool(store).start()
    try:
        wait_for(lambda: q.get(job_id).progress > 0, 60, "the job to start")
    finally:
        p.stop(grace_s=0.5)
    job = q.get(job_id)
    assert (job.status, job.attempts) == ("queued", 0) and "server stopped" in job.error


def _read(path: Path) -> str | None:
    try:
        return path.read_text() or None
    except FileNotFoundError:
        return None


# -- the analyze handler, end to end ------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.timeout(900)
def test_analyze_job_end_to_end(demo_video, tmp_path):
    store = open_store(data_dir=tmp_path / "data")
    with store.session() as db:
        session_id = add_session(store, db, add_athlete(db, "Demo").id, demo_video, "sports2d demo.mp4").id
    analysis_id, job_id = enqueue_analysis(store, session_id, {"start": 1.0, "end": 2.0, "output.video": False})
    with WorkerPool(store.config, WorkerSettings(concurrency=1, poll_s=0.2)):
        job = store.jobs.wait(job_id, timeout_s=600)
    assert job.status == "done", job.error
    assert job.result["analysis_id"] == analysis_id and "report.html" in job.result["files"]
    with store.session() as db:
        a = db.get(Analysis, analysis_id)
        files = {f.name: f.artifact_key for f in a.files}
        assert a.status == "done" and a.finished_at is not None and a.error is None
        assert a.overlay_key is None and a.report_key == files["report.html"]
        assert a.keypoints_key == files["keypoints.parquet"] and {"summary.json", "angles.csv"} <= set(files)
        assert a.summary["video"]["fps"] > 0 and a.metrics == a.summary["metrics"]
        assert a.summary["settings"]["start"] == 1.0 and a.summary["settings"]["end"] == 2.0
    assert b"<html" in store.artifacts.path(a.report_key).read_bytes()[:2000].lower()
    report = store.verify(deep=True)
    assert report.ok and report.orphans == [] and report.temp_files == []
    assert not any((store.data_dir / "tmp").iterdir())  # work folders gone
    store.close()
