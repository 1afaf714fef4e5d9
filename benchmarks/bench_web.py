"""Request latency of the web app's main pages under concurrent users, on loopback.

Run: .venv/bin/python benchmarks/bench_web.py [--users 1 8] [--seconds 10] [--max-requests 2000]

1. Seeds a fresh data folder: one athlete, two sessions of the sample video (first 2 s, then 2-4 s),
   analysed for real (the store's ``analyze`` handler, in this process), so the pages show real results.
2. Starts ``sportlens serve --workers 0 --require-token`` in a child process (a real uvicorn server; the
   token is checked on every request, as on a public address).
3. For each user count: that many threads, each with its own keep-alive ``httpx.Client``, request the
   pages below round-robin until ``--seconds`` have passed or ``--max-requests`` were made (bounded in
   time and count). Latency = send to last byte, per page.
Prints a table and writes it to benchmarks/results/bench_web.md. Server and load generator share this
machine's cores, so the numbers are an upper bound on what a client on another machine would see.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from sportlens.samples import sample_video

RESULTS = Path(__file__).parent / "results" / "bench_web.md"
SERVE = "import sportlens.cli.serve, sportlens.cli as cli; cli.main()"


def pages(ids: dict) -> list[tuple[str, str]]:
    a, b, athlete, job = ids["analysis_a"], ids["analysis_b"], ids["athlete"], ids["job"]
    return [("health", "/healthz"), ("athletes page", "/"), ("athlete page", f"/athletes/{athlete}"),
            ("analysis page", f"/analyses/{a}"), ("angle series (JSON)", f"/api/analyses/{a}/series"),
            ("progress (JSON)", f"/api/athletes/{athlete}/progress"), ("job (JSON)", f"/api/jobs/{job}"),
            ("compare page", f"/compare?a={a}&b={b}")]


def seed(data_dir: Path, video: Path) -> dict:
    """One athlete, two analysed sessions; returns their ids."""
    from sportlens.store import add_athlete, add_session, enqueue_analysis, open_store
    from sportlens.store.worker import WorkerSettings, run_job

    with open_store(data_dir=data_dir) as store:
        with store.session() as db:
            athlete = add_athlete(db, "Bench Athlete").id
        ids = {"athlete": athlete}
        for key, (start, end) in (("a", (0.0, 2.0)), ("b", (2.0, 4.0))):
            with store.session() as db:
                session = add_session(store, db, athlete, video, video.name).id
            ids[f"analysis_{key}"], ids["job"] = enqueue_analysis(store, session, {"start": start, "end": end})
            job = store.jobs.claim("bench")
            run_job(store, store.jobs, job, "bench", WorkerSettings(concurrency=1))
            if store.jobs.get(job.id).status != "done":
                raise SystemExit(f"seeding failed: {store.jobs.get(job.id).error}")
    return ids


def start_server(data_dir: Path, log: Path) -> tuple[subprocess.Popen, str, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-c", SERVE, "serve", "--port", str(port), "--workers", "0", "--require-token",
           "--data-dir", str(data_dir)]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base, re.search(r"admin access token is\s+(\S+)", log.read_text()).group(1)
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start:\n{log.read_text()[-2000:]}")


def load(base: str, token: str, targets: list[tuple[str, str]], users: int, seconds: float,
         max_requests: int) -> tuple[dict[str, list[float]], int, float]:
    """Latencies (s) per page, error count and wall time of one run with ``users`` threads."""
    latencies: dict[str, list[float]] = {name: [] for name, _ in targets}
    errors, budget, lock = [0], [max_requests], threading.Lock()
    stop_at = time.monotonic() + seconds

    def user(offset: int) -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/html"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            i = offset
            while time.monotonic() < stop_at:
                with lock:
                    if budget[0] <= 0:
                        return
                    budget[0] -= 1
                name, path = targets[i % len(targets)]
                t0 = time.perf_counter()
                r = client.get(path)
                dt_s = time.perf_counter() - t0
                with lock:
                    latencies[name].append(dt_s)
                    errors[0] += r.status_code != 200
                i += 1

    threads = [threading.Thread(target=user, args=(k,)) for k in range(users)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0], time.perf_counter() - t0


def table(results: list[tuple[int, dict, int, float]]) -> str:
    lines = ["| users | page | requests | p50 ms | p95 ms | max ms |", "|---:|---|---:|---:|---:|---:|"]
    for users, lat, _, _ in results:
        for name, values in lat.items():
            v = np.array(values) * 1000
            if len(v):
                lines.append(f"| {users} | {name} | {len(v)} | {np.percentile(v, 50):.1f} | "
                             f"{np.percentile(v, 95):.1f} | {v.max():.1f} |")
    lines += ["", "| users | requests | errors | wall s | requests/s | p50 ms (all) | p95 ms (all) |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    for users, lat, errors, wall in results:
        allv = np.concatenate([np.array(v) for v in lat.values() if v]) * 1000
        lines.append(f"| {users} | {len(allv)} | {errors} | {wall:.1f} | {len(allv) / wall:.0f} | "
                     f"{np.percentile(allv, 50):.1f} | {np.percentile(allv, 95):.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, nargs="+", default=[1, 8], help="concurrent users, one run each")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each run, at most")
    ap.add_argument("--max-requests", type=int, default=2000, help="requests per run, at most")
    ap.add_argument("--video", type=Path, default=None, help="video to seed with (default: the sample)")
    ap.add_argument("--no-write", action="store_true", help="print only, do not write the results file")
    args = ap.parse_args()
    video = args.video or sample_video()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        data = Path(tmp) / "data"
        t0 = time.perf_counter()
        ids = seed(data, video)
        seeded = time.perf_counter() - t0
        proc, base, token = start_server(data, Path(tmp) / "server.log")
        try:
            targets = pages(ids)
            load(base, token, targets, 1, 2.0, 50)  # warm-up: first-request imports, template compilation
            results = [(u, *load(base, token, targets, u, args.seconds, args.max_requests)) for u in args.users]
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
    text = table(results)
    header = (f"# bench_web\n\n- date: {dt.datetime.now().isoformat(timespec='seconds')}\n"
              f"- machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}, "
              f"{platform.platform()}\n- command: `python benchmarks/bench_web.py --users "
              f"{' '.join(map(str, args.users))} --seconds {args.seconds:g} --max-requests {args.max_requests}`\n"
              f"- server: `sportlens serve --workers 0 --require-token` (uvicorn, 1 process) on loopback; "
              f"load: one thread + keep-alive httpx client per user, pages round-robin\n"
              f"- data: 1 athlete, 2 sessions of {video.name} analysed (2 s each; seeding took {seeded:.0f} s)\n\n")
    print(header + text)
    if not args.no_write:
        RESULTS.write_text(header + text + "\n")


if __name__ == "__main__":
    main()
