"""`sportlens analyze VIDEO --forecast 0.5` end to end on the real sample video (3 s of it)."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from sportlens.types import RISK_DISCLAIMER
from sportlens.video import probe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(demo_video, tmp_path_factory):
    root = tmp_path_factory.mktemp("forecast")
    outs = {}
    for name, extra in (("with", ["--forecast", "0.5"]), ("without", [])):
        out = root / name
        done = subprocess.run([sys.executable, "-m", "sportlens", "analyze", str(demo_video), "--start", "2",
                               "--end", "5", "--out", str(out), "--json", *extra],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        outs[name] = (out, json.loads(done.stdout))
    return outs


def test_summary_has_the_forecast_and_its_measured_error(run):
    _, summary = run["with"]
    fc = summary["forecast"]
    assert fc["horizon_s"] == pytest.approx(0.5) and fc["steps"] == 15 and fc["skeleton"] == "penn13"
    assert summary["settings"]["forecast"]["enabled"] is True
    frames = summary["metrics"]["detection"]["frames"]
    assert fc["forecasts"] + sum(fc["skipped"].values()) == frames  # every origin frame accounted for
    assert fc["skipped"]["short_history"] >= 9  # the first 9 frames have no 10-pose history
    m = fc["metrics"]
    assert m["evaluated"] > 10 and 0.0 <= m["pck"] <= 1.0 and m["mean_error_px"] > 0
    assert m["evaluated"] + m["future_unknown"] <= fc["forecasts"]
    assert set(m["angle_error_deg"]) >= {"left_knee_flexion", "right_knee_flexion"}
    if fc["model"].endswith("baseline"):  # until the trained model ships, the note says so
        assert any("baseline" in n for n in fc["notes"])


def test_summary_has_the_risk_flags_with_their_facts(run):
    _, summary = run["with"]
    risk = summary["risk_flags"]
    assert risk["note"] == RISK_DISCLAIMER
    for f in risk["flags"]:
        assert f["basis"] in ("observed", "forecast") and f["source"] and f["unit"] == "deg"
        assert 2.0 - 1e-6 <= f["start"] <= f["time"] <= f["end"] and np.isfinite(f["value"])
        assert (f["predicted_at"] is None) == (f["basis"] == "observed")
    assert risk["flags"], "the demo's jumps and walk raise at least one cue with the default thresholds"
    m = summary["forecast"]["metrics"]
    if m["pck"] < m["zero_velocity_pck"]:  # a forecast worse than standing still raises no flags
        assert not [f for f in risk["flags"] if f["basis"] == "forecast"]
        assert any("withheld" in n for n in summary["forecast"]["notes"])


def test_report_has_the_forecast_section_and_the_flag_table(run):
    out, _ = run["with"]
    html = (out / "report.html").read_text()
    assert "Forecast: where the movement is heading" in html and "Risk flags" in html
    assert "screening cues from 2D video, not diagnoses" in html
    plain = (run["without"][0] / "report.html").read_text()
    assert "Risk flags" not in plain and run["without"][1]["forecast"] is None


def test_overlay_shows_the_ghost(run):
    """The overlay with --forecast differs from the one without only where a forecast exists."""
    out_with, summary = run["with"]
    out_without, _ = run["without"]
    assert probe(out_with / "overlay.mp4").frame_count == summary["metrics"]["detection"]["frames"]
    a, b = cv2.VideoCapture(str(out_with / "overlay.mp4")), cv2.VideoCapture(str(out_without / "overlay.mp4"))
    diffs = []
    while True:
        ok_a, fa = a.read()
        ok_b, fb = b.read()
        if not (ok_a and ok_b):
            break
        diffs.append(float(np.abs(fa.astype(np.int16) - fb.astype(np.int16)).mean()))
    first = summary["forecast"]["skipped"]["short_history"]
    # no forecast in the first frames (no history yet): identical up to codec noise; later a ghost is drawn
    assert max(diffs[:first]) < 0.5 and max(diffs[first:]) > 1.0
