"""Every bad input gets one specific line naming the file, a non-zero exit, no traceback, no files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from _media import gradient_frames, make_video, transcode


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "sportlens", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def assert_clean_failure(done: subprocess.CompletedProcess, path: Path, fragment: str) -> None:
    assert done.returncode != 0, done.stdout + done.stderr
    err = done.stderr.strip()
    assert "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err  # one line
    assert str(path) in err and fragment in err, err


def out_files(out: Path) -> list[str]:
    return sorted(p.name for p in out.rglob("*")) if out.exists() else []


@pytest.mark.parametrize("case, fragment", [
    ("missing", "file not found"),
    ("directory", "is a directory"),
    ("text", "is not a video file"),
    ("jpeg", "still image"),
    ("empty", "is empty (0 bytes)"),
])
def test_unreadable_inputs(tmp_path, case, fragment):
    path = tmp_path / "clip.mp4"
    if case == "directory":
        path.mkdir()
    elif case == "text":
        path.write_text("this is not a video\n" * 50)
    elif case == "jpeg":
        ok, buf = cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))
        path.write_bytes(buf.tobytes())
    elif case == "empty":
        path.write_bytes(b"")
    out = tmp_path / "out"
    done = run_cli("analyze", str(path), "--out", str(out))
    assert_clean_failure(done, path, fragment)
    assert out_files(out) == []


def test_truncated_without_index_is_a_clear_error(tmp_path):
    src = make_video(tmp_path / "full.mp4", gradient_frames(60), faststart=False)  # index at the end
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    done = run_cli("analyze", str(cut), "--out", str(tmp_path / "out"))
    assert_clean_failure(done, cut, "truncated")


def test_output_dir_not_writable(tmp_path):
    video = make_video(tmp_path / "v.mp4", gradient_frames(10))
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    done = run_cli("analyze", str(video), "--out", str(blocker))
    assert_clean_failure(done, blocker, "not a directory")
    if os.geteuid() == 0:  # root ignores permission bits: use a folder the kernel refuses
        target = Path("/proc/sportlens-out")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = ro / "out"
    done = run_cli("analyze", str(video), "--out", str(target))
    assert_clean_failure(done, target, "not writable")


def test_video_with_no_person_reports_it(tmp_path):
    video = make_video(tmp_path / "empty_scene.mp4", gradient_frames(30, 160, 120))
    out = tmp_path / "out"
    done = run_cli("analyze", str(video), "--out", str(out), "--no-video")
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["detection"]["frames_with_person"] == 0
    assert any("No person was detected" in w for w in summary["warnings"])
    assert "No person was detected" in (out / "report.html").read_text()


def test_very_small_video(tmp_path):
    video = make_video(tmp_path / "tiny.mp4", gradient_frames(12, 64, 48))
    out = tmp_path / "out"
    done = run_cli("analyze", str(video), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert {"report.html", "summary.json", "overlay.mp4", "angles.csv"} <= set(out_files(out))


def test_failure_midway_leaves_no_partial_output(tmp_path, monkeypatch):
    from sportlens import api

    video = make_video(tmp_path / "v.mp4", gradient_frames(10))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user file")

    def boom(*a, **k):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(api, "render_html", boom)
    with pytest.raises(RuntimeError):
        api.analyze_video(video, out)
    assert out_files(out) == ["keep.txt"]


@pytest.mark.slow
def test_real_video_cut_in_half_is_processed_up_to_the_cut(tmp_path, demo_video):
    cut = tmp_path / "half.mp4"  # this file has its index first, so the first half stays decodable
    cut.write_bytes(demo_video.read_bytes()[: demo_video.stat().st_size // 2])
    out = tmp_path / "out"
    done = run_cli("analyze", str(cut), "--out", str(out), "--no-video")
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert any("truncated" in w for w in summary["warnings"])
    assert 60 < summary["metrics"]["detection"]["frames"] < 230
    assert "truncated" in done.stderr


@pytest.mark.slow
def test_portrait_phone_video_with_rotation_metadata(tmp_path, golf_video):
    # Store the frames lying on their side and tag the display rotation, as phones do.
    rotated = transcode(golf_video, tmp_path / "phone.mp4", rotate_cw_stored=-90, display_rotation_ccw=-90,
                        max_frames=90)
    out = tmp_path / "out"
    done = run_cli("analyze", str(rotated), "--out", str(out), "--no-video")
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["video"]["rotation"] == 90
    assert summary["video"]["height"] > summary["video"]["width"]  # upright portrait
    assert summary["metrics"]["detection"]["rate"] > 0.9  # the golfer is found only if frames are upright
