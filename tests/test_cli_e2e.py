"""`sportlens analyze` end to end on the real sample video (shared/videos/sports2d_demo.mp4)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sportlens.video import probe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(demo_video, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    done = subprocess.run([sys.executable, "-m", "sportlens", "analyze", str(demo_video), "--out", str(out),
                           "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return out, json.loads(done.stdout), done


def test_all_outputs_present_and_loadable(run):
    out, summary, _ = run
    names = {p.name for p in out.iterdir()}
    assert names == {"keypoints.parquet", "keypoints.csv", "angles.csv", "summary.json", "overlay.mp4",
                     "report.html"}
    kp = pd.read_parquet(out / "keypoints.parquet")
    assert list(kp.columns[:6]) == ["frame", "time", "joint", "x", "y", "score"]
    assert len(kp) == 230 * 33 and kp["joint"].nunique() == 33
    assert len(pd.read_csv(out / "keypoints.csv")) == len(kp)
    angles = pd.read_csv(out / "angles.csv")
    assert len(angles) == 230 and "left_knee_flexion_vel" in angles
    video = probe(out / "overlay.mp4")
    assert video.frame_count == 230 and video.codec == "h264"
    html = (out / "report.html").read_text()
    assert "sports2d_demo.mp4" in html and "<img" in html and "http://" not in html
    assert json.loads((out / "summary.json").read_text()) == summary


def test_detection_rate_above_90_percent(run):
    _, summary, _ = run
    assert summary["metrics"]["detection"]["frames"] == 230
    assert summary["metrics"]["detection"]["rate"] > 0.9


def test_plausible_angles_during_jumping_jacks(run):
    out, _, _ = run
    a = pd.read_csv(out / "angles.csv")
    jj = a[(a.time >= 0.5) & (a.time < 2.5)]  # the man on the box does jumping jacks here
    for side in ("left", "right"):
        shoulder = jj[f"{side}_shoulder_flexion"]
        assert shoulder.max() > 120 and shoulder.min() < 60  # arms from the sides to overhead
        assert 3 < jj[f"{side}_knee_flexion"].max() < 70  # soft landings, no squat
        assert jj[f"{side}_elbow_flexion"].max() < 100  # arms stay nearly straight
    assert np.isfinite(jj["left_knee_flexion"]).mean() > 0.9


def test_progress_and_summary_on_stderr_json_on_stdout(run):
    _, _, done = run
    assert "Traceback" not in done.stderr
    assert "XNNPACK" not in done.stderr  # native start-up noise is filtered


def test_cli_help_and_version():
    done = subprocess.run([sys.executable, "-m", "sportlens", "analyze", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for opt in ("--out", "--start", "--end", "--filter", "--no-video", "--json"):
        assert opt in done.stdout
    done = subprocess.run([sys.executable, "-m", "sportlens", "--version"], capture_output=True, text=True)
    assert done.stdout.startswith("sportlens ")


def test_start_end_trim(demo_video, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "sportlens", "analyze", str(demo_video), "--out", str(out),
                           "--start", "1", "--end", "2", "--filter", "oneeuro", "--no-video", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["metrics"]["detection"]["frames"] == 30
    assert summary["metrics"]["cleaning"]["filter"] == "oneeuro"
    a = pd.read_csv(out / "angles.csv")
    assert a.time.min() == pytest.approx(1.0, abs=1e-3) and a.time.max() < 2.0
    assert not (out / "overlay.mp4").exists()


def test_report_renders_offline_in_headless_chromium(run, tmp_path):
    """The report opens in a real browser with no network: the screenshot shows the plots."""
    import shutil

    import cv2

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian chromium not installed (.ci/run installs it)")
    out, _, _ = run
    shot = tmp_path / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400", f"--screenshot={shot}"]
    subprocess.run([chromium, *flags, (out / "report.html").as_uri()], capture_output=True, timeout=120)
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (2400, 1280)
    # The plots' orange (left side) lines are drawn: many strongly orange pixels in the page.
    b, g, r = img[..., 0].astype(int), img[..., 1].astype(int), img[..., 2].astype(int)
    assert ((r > 200) & (g > 120) & (g < 190) & (b < 60)).sum() > 2000


def test_movement_timeline_in_summary_and_report(run):
    """The shipped recognition model runs inside analyze: segments cover the clip, each with a top-3."""
    out, summary, _ = run
    actions = summary["actions"]
    assert actions is not None and actions["segments"], summary["warnings"]
    segs = actions["segments"]
    assert segs[0]["start"] == pytest.approx(0.0, abs=0.1) and segs[-1]["end"] > 7.0
    assert all(len(s["top3"]) == 3 and 0 <= s["confidence"] <= 1 for s in segs)
    assert "Recognised movements" in (out / "report.html").read_text()


def test_walking_is_not_forced_into_a_sports_class(run):
    """3.5-6.5 s of the sample is people walking: no Penn Action class may claim it with confidence."""
    _, summary, _ = run
    for seg in summary["actions"]["segments"]:
        if seg["end"] > 3.5 and seg["start"] < 6.5 and seg["label"] != "unknown":
            overlap = min(seg["end"], 6.5) - max(seg["start"], 3.5)
            assert overlap < 0.5 or seg["confidence"] < 0.6, seg


def test_golf_swing_is_recognised(golf_video, tmp_path):
    done = subprocess.run([sys.executable, "-m", "sportlens", "analyze", str(golf_video), "--out", str(tmp_path / "o"),
                           "--no-video", "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    segs = [s for s in json.loads(done.stdout)["actions"]["segments"] if s["label"] != "unknown"]
    assert segs, "no movement recognised"
    top = max(segs, key=lambda s: s["end"] - s["start"])
    assert top["label"] == "golf_swing" and top["confidence"] > 0.5


def test_jumping_jacks_are_recognised(run):
    """0.5-2.5 s of the sample is the man on the box doing jumping jacks."""
    _, summary, _ = run
    segs = [s for s in summary["actions"]["segments"] if s["start"] <= 1.0 and s["end"] >= 2.0]
    assert segs and segs[0]["label"] == "jumping_jacks" and segs[0]["confidence"] > 0.5, summary["actions"]
