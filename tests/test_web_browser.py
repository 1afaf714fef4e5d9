"""The web app in a real browser: Debian chromium driven by Playwright against `sportlens serve` on loopback.

A coach's path: log in with the printed token, add an athlete, drop a non-video (refused in the browser),
upload a real video (first 2 s), watch the job finish, open the analysis (the video plays, the plots render,
a click on the plot seeks the video), upload the next 2 s and make them a reference, then the athlete's
progress chart, two sessions side by side and a session beside the reference (DTW comparison: score, aligned
curves that seek both videos, or the reason it was refused).
Screenshots go to $SPORTLENS_TEST_ARTIFACTS (else the test's tmp folder).
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
# Runs the CLI exactly as `sportlens serve` does once "serve" is in sportlens.cli.COMMAND_MODULES.
SERVE = "import sportlens.cli.serve, sportlens.cli as cli; cli.main()"


def _skip(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " - required under CI")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def playwright():
    if not CHROMIUM.exists():
        _skip(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip("playwright for Python is not installed (pip install playwright; no `playwright install` needed)")
    with sync_playwright() as p:
        yield p


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """`sportlens serve` with one worker process; yields (base URL, admin token); stopped with SIGINT."""
    port, log = _free_port(), tmp_path / "server.log"
    cmd = [sys.executable, "-c", SERVE, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--data-dir", str(tmp_path / "data"), "--require-token"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc, log)
        token = re.search(r"admin access token is\s+(\S+)", log.read_text()).group(1)
        yield base, token
    finally:
        proc.send_signal(signal.SIGINT)  # graceful: uvicorn stops, the lifespan stops the workers
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _wait_healthy(base: str, proc, log: Path, timeout_s: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"server not healthy after {timeout_s:.0f}s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def artifacts(tmp_path) -> Path:
    out = Path(os.environ.get("SPORTLENS_TEST_ARTIFACTS") or tmp_path / "artifacts") / "web_browser"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _until(page, js: str, timeout_s: float = 30.0) -> None:
    """Poll a JS expression until true. Not ``wait_for_function``: Playwright evaluates its predicate with
    eval(), which the pages' Content-Security-Policy (rightly) forbids; ``evaluate`` is not subject to it."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(js):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s:.0f}s: {js}")
        time.sleep(0.1)


def _upload(page, video: Path, start: str, end: str):
    page.set_input_files("#file-input", str(video))
    _until(page, "!document.getElementById('upload-button').disabled")
    page.fill("input[name=start]", start)
    page.fill("input[name=end]", end)
    page.click("#upload-button")
    page.wait_for_url(re.compile(r"/(jobs|analyses)/\d+$"), timeout=60_000)


def test_coach_uploads_watches_and_reads_an_analysis(playwright, server, demo_video, artifacts, tmp_path):
    base, token = server
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    problems: list[str] = []
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}")
                if r.status >= 400 else None)
        page.on("request", lambda r: problems.append(f"external request {r.url}")
                if not r.url.startswith((base, "data:", "blob:")) else None)

        page.goto(base + "/")
        assert "/login" in page.url  # token required: the browser is sent to the login page
        page.fill("input[name=token]", token)
        page.click("button[type=submit]")
        page.fill("input[name=name]", "Ana Runner")
        page.click("text=Add athlete")
        page.wait_for_url(re.compile(r"/athletes/\d+$"))
        athlete_url = page.url

        _drop_a_text_file(page)
        page.screenshot(path=str(artifacts / "1_refused_in_browser.png"), full_page=True)

        _upload(page, demo_video, "0", "2")
        page.screenshot(path=str(artifacts / "2_job_progress.png"), full_page=True)
        seen = _watch_job(page)
        assert "running" in seen or "done" in seen, seen  # live updates reached the page
        first = page.url
        _check_analysis_page(page, artifacts)

        page.goto(athlete_url)
        _upload(page, demo_video, "2", "4")
        page.wait_for_url(re.compile(r"/analyses/\d+$"), timeout=240_000)
        page.click("text=Make this session a reference")  # the admin publishes the second clip
        page.wait_for_load_state()
        page.goto(athlete_url)
        page.wait_for_selector("#progress-chart[data-ready='1']")
        assert page.locator("#progress-chart circle").count() == 2  # one point per session
        page.screenshot(path=str(artifacts / "4_athlete_progress.png"), full_page=True)
        for box in page.locator(".compare-pick").all():
            box.check()
        page.click("#compare-button")
        page.wait_for_load_state()
        assert page.locator("video.compare-video").count() == 2
        _check_comparison(page)
        page.screenshot(path=str(artifacts / "5_compare.png"), full_page=True)
        assert first.rsplit("/", 1)[1] in page.url

        page.goto(first)
        page.click("text=Compare with this reference")
        page.wait_for_load_state()
        assert "reference:" in page.inner_text("#comparison h2")  # the heading names the reference
        _check_comparison(page)
        page.screenshot(path=str(artifacts / "6_compare_reference.png"), full_page=True)

        # The demo's clips are refused (see _check_comparison): two synthetic squats (knee 20° deeper, another
        # tempo) stored beside them, with the demo's overlay as their video, show the scored view.
        deep, model = _synthetic_squats(tmp_path / "data", int(athlete_url.rsplit("/", 1)[1]), tmp_path)
        page.goto(f"{base}/compare?a={deep}&b={model}")
        _check_comparison(page, scored=True)
        assert 60 < float(page.inner_text("#compare-score")) < 90
        assert "Left knee flexion at the bottom was 120°" in page.inner_text("#compare-feedback")
        page.screenshot(path=str(artifacts / "7_compare_aligned.png"), full_page=True)
    finally:
        browser.close()
    assert problems == []  # no script error, no CSP violation, nothing fetched from outside


def _synthetic_squats(data_dir: Path, athlete_id: int, tmp_path: Path) -> tuple[int, int]:
    """Two finished analyses from known squat tracks (tests/test_reference_compare.py) in the server's store."""
    from sqlalchemy import select

    from sportlens.store import Analysis, open_store
    from tests.test_reference_compare import squat_track
    from tests.test_web import _synthetic_analysis

    with open_store(data_dir=data_dir, migrate=False) as store:
        with store.session() as db:
            overlay = db.scalars(select(Analysis.overlay_key).where(Analysis.overlay_key.is_not(None))).first()
        return (_synthetic_analysis(store, athlete_id, squat_track(2.0, knee_extra=20.0), "deep.mp4", tmp_path,
                                    overlay),
                _synthetic_analysis(store, athlete_id, squat_track(3.0), "model.mp4", tmp_path, overlay))


def _check_comparison(page, scored: bool = False) -> None:
    """The DTW comparison: a score, per-joint rows and aligned curves (two per joint) that seek both videos
    when clicked; or, for pieces it cannot score (the demo's two clips are refused: the athlete turns from a
    side view to the camera), the reason."""
    if not scored and page.locator("#compare-refused").count():
        assert page.inner_text("#compare-refused").startswith("No score: ")
        return
    charts = page.locator("#compare-chart svg.aligned")
    assert charts.count() >= 1 and 0 <= float(page.inner_text("#compare-score")) <= 100
    assert page.locator("#compare-chart path.series").count() == 2 * charts.count()
    assert page.locator("#compare-joints tbody tr").count() == charts.count()
    lengths = page.eval_on_selector_all("#compare-chart path.series", "ps => ps.map(p => p.getAttribute('d').length)")
    assert min(lengths) > 50  # drawn, not empty
    _until(page, "[...document.querySelectorAll('video.compare-video')].every(v => v.readyState >= 1)")
    box = charts.first.bounding_box()  # click() scrolls the chart into view first (it is below the fold)
    charts.first.click(position={"x": box["width"] * 0.6, "y": box["height"] / 2})  # seek both, aligned
    # A seek fetches byte ranges from a server that may still be analysing the other upload: on a loaded
    # 2-core machine that took over 30 s once, so this wait is longer than the others.
    _until(page, "[...document.querySelectorAll('video.compare-video')].every(v => v.currentTime > 0.3)", 90.0)
    assert charts.first.locator("line.cursor").get_attribute("visibility") == "visible"


def _watch_job(page, timeout_s: float = 240.0) -> list[str]:
    """The statuses the job page showed (pushed by server-sent events) until it moved on to the analysis."""
    seen, deadline = [], time.monotonic() + timeout_s
    while "/analyses/" not in page.url:
        if time.monotonic() > deadline:
            raise AssertionError(f"job not done after {timeout_s:.0f}s; statuses seen: {seen}")
        try:
            status = page.evaluate("(document.getElementById('job-status') || {}).textContent || ''")
        except Exception:  # the page is navigating to the analysis
            status = ""
        if status and (not seen or seen[-1] != status):
            seen.append(status)
        time.sleep(0.1)
    page.wait_for_load_state()
    return seen


def _drop_a_text_file(page) -> None:
    """Drop a text file named .mp4 on the drop zone: refused in the browser from its first bytes."""
    page.evaluate("""() => {
        const dt = new DataTransfer();
        dt.items.add(new File(["this is not a video at all"], "notes.mp4", {type: "video/mp4"}));
        document.getElementById('drop-zone').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
    }""")
    _until(page, "document.getElementById('upload-message').textContent.includes('does not look like a video')")
    assert page.locator("#upload-button").is_disabled()


def _check_analysis_page(page, artifacts: Path) -> None:
    page.wait_for_selector("#angle-chart[data-ready='1']")
    lengths = page.eval_on_selector_all("#angle-chart path.series", "ps => ps.map(p => p.getAttribute('d').length)")
    assert len(lengths) >= 2 and min(lengths) > 100  # the default angles are drawn, not empty paths
    _until(page, "document.getElementById('player').readyState >= 2")
    page.evaluate("document.getElementById('player').play()")
    _until(page, "document.getElementById('player').currentTime > 0.5")
    assert page.get_attribute("#angle-chart line.cursor", "visibility") == "visible"  # follows playback
    page.evaluate("document.getElementById('player').pause()")
    page.screenshot(path=str(artifacts / "3_analysis.png"), full_page=True)
    box = page.locator("#angle-chart svg").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)  # seek by clicking the plot
    _until(page, "Math.abs(document.getElementById('player').currentTime - 0.45) < 0.35")
    for name in ("overlay.mp4", "angles.csv", "report.html"):
        assert page.locator(f".downloads a:has-text('{name}')").count() == 1
