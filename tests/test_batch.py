"""`sportlens batch`: discovery, the resume manifest, sessions.parquet (fast), and a real Ray run on
short pieces of the shared videos (slow): 2 workers, a corrupt file, then a resumed run."""
from __future__ import annotations

import importlib
import json
import os
import shutil
from dataclasses import replace

import pandas as pd
import pytest
from conftest import shared_path

from sportlens.batch import BatchSettings, run_batch
from sportlens.batch import manifest
from sportlens.batch.discover import find_videos
from sportlens.batch.runner import describe_error, per_task_settings
from sportlens.batch.sessions import COLUMNS, MAIN_ANGLES, session_row, top_action, write_sessions
from sportlens.config import AnalyzeSettings, to_dict
from sportlens.errors import InputError

PIECE = 1.2  # seconds of each video analysed: enough for every stage, cheap on a shared machine


# ---------------------------------------------------------------- discovery

def test_find_videos_keeps_videos_in_order_and_makes_names_unique(tmp_path):
    for name in ("b.mp4", "a.MOV", "a.mp4", "notes.txt", ".hidden.mp4", "thumb.jpg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.mp4").write_bytes(b"x")  # not recursive
    jobs = find_videos(tmp_path)
    assert [j.path.name for j in jobs] == ["a.MOV", "a.mp4", "b.mp4"]
    assert [j.name for j in jobs] == ["a_mov", "a_mp4", "b"]  # a shared stem never overwrites
    assert all(j.path.is_absolute() for j in jobs)


def test_find_videos_errors_are_clear(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        find_videos(tmp_path / "missing")
    (tmp_path / "readme.txt").write_text("no videos")
    with pytest.raises(InputError, match="no video files"):
        find_videos(tmp_path)


# ---------------------------------------------------------------- manifest (resume)

def _finished_video(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"video bytes")
    summary = tmp_path / "out" / "v" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text("{}")
    entry = manifest.Entry(str(video), *manifest.file_stamp(video), "key", "ok")
    return video, summary, entry


def test_a_finished_video_is_recognised_and_any_change_redoes_it(tmp_path):
    video, summary, entry = _finished_video(tmp_path)
    assert manifest.is_finished(entry, video, summary, "key")
    assert not manifest.is_finished(None, video, summary, "key")  # never analysed
    assert not manifest.is_finished(replace(entry, status="failed"), video, summary, "key")  # failed: retry
    assert not manifest.is_finished(entry, video, summary, "other settings")
    os.utime(video, ns=(entry.mtime_ns + 10**9, entry.mtime_ns + 10**9))  # edited / replaced
    assert not manifest.is_finished(entry, video, summary, "key")
    os.utime(video, ns=(entry.mtime_ns, entry.mtime_ns))
    assert manifest.is_finished(entry, video, summary, "key")
    summary.unlink()  # outputs deleted by hand
    assert not manifest.is_finished(entry, video, summary, "key")


def test_manifest_round_trip_and_damaged_manifest_counts_as_empty(tmp_path):
    _, _, entry = _finished_video(tmp_path)
    manifest.save(tmp_path, {"v": entry})
    assert manifest.load(tmp_path) == {"v": entry}
    (tmp_path / manifest.MANIFEST).write_text("{not json")
    assert manifest.load(tmp_path) == {}
    (tmp_path / manifest.MANIFEST).write_text(json.dumps({"version": 99, "videos": {}}))
    assert manifest.load(tmp_path) == {}
    assert manifest.load(tmp_path / "nowhere") == {}


def test_settings_key_ignores_parallelism_only():
    s = AnalyzeSettings(end=2.0)
    key = manifest.settings_key(to_dict(s))
    assert manifest.settings_key(to_dict(per_task_settings(s, 4))) == key  # pose.workers=1: same results
    assert manifest.settings_key(to_dict(replace(s, end=3.0))) != key
    assert manifest.settings_key(to_dict(replace(s, output=replace(s.output, video=False)))) != key


def test_several_tasks_get_one_pose_worker_each():
    s = AnalyzeSettings()
    assert per_task_settings(s, 1) == s
    assert per_task_settings(s, 2).pose.workers == 1
    assert per_task_settings(s, None).pose.workers == 1  # a cluster


def test_describe_error_keeps_the_tasks_own_first_line():
    class Wrapper(Exception):  # like ray.exceptions.RayTaskError: the original in .cause
        cause = InputError("x.mp4: is not a video file\nremote traceback ...")

    assert describe_error(Wrapper("wrapped")) == "InputError: x.mp4: is not a video file"
    assert describe_error(RuntimeError()) == "RuntimeError"


# ---------------------------------------------------------------- sessions.parquet

SUMMARY = {
    "video": {"duration": 8.8, "fps": 29.97},
    "metrics": {"detection": {"frames": 45, "rate": 0.9}, "duration_s": 1.5,
                "rom": {"left_knee_flexion": {"rom": 42.0}, "trunk_lean": {"rom": None}}},
    "actions": {"model": "tcn", "segments": [{"start": 0.0, "end": 1.0, "label": "squat", "confidence": 0.8},
                                             {"start": 1.0, "end": 1.5, "label": "unknown", "confidence": 0.0},
                                             {"start": 1.5, "end": 2.0, "label": "jump_rope", "confidence": 0.7}]},
}


def test_top_action_is_the_longest_known_movement():
    assert top_action(SUMMARY["actions"]) == ("squat", 0.5)
    assert top_action({"segments": [{"start": 0, "end": 1, "label": "unknown"}]}) == ("unknown", None)
    assert top_action(None) == (None, None)


def test_sessions_parquet_has_one_typed_row_per_video(tmp_path):
    rows = [session_row("a", "/in/a.mp4", tmp_path / "a", SUMMARY, status="ok", seconds=3.0),
            session_row("b", "/in/b.mp4", tmp_path / "b", None, status="failed", error="InputError: bad",
                        attempts=2)]
    write_sessions(rows, tmp_path / "sessions.parquet")
    df = pd.read_parquet(tmp_path / "sessions.parquet")
    assert list(df.columns) == COLUMNS and len(df) == 2
    a, b = df.iloc[0], df.iloc[1]
    assert (a["frames"], a["fps"], a["detection_rate"], a["top_action"]) == (45, 29.97, 0.9, "squat")
    assert a["rom_left_knee_flexion"] == 42.0 and pd.isna(a["rom_trunk_lean"]) and pd.isna(a["rom_left_hip_flexion"])
    assert b["status"] == "failed" and b["error"] == "InputError: bad" and b["attempts"] == 2
    assert pd.isna(b["frames"]) and pd.isna(b["duration_s"])
    assert [p.name for p in tmp_path.iterdir()] == ["sessions.parquet"]  # no temporary file left


def test_sessions_parquet_of_only_failures_keeps_numeric_columns(tmp_path):
    rows = [session_row("b", "/in/b.mp4", tmp_path / "b", None, status="failed", error="e")]
    df = write_sessions(rows, tmp_path / "s.parquet")
    assert df["fps"].dtype == "float64" and all(df[f"rom_{a}"].dtype == "float64" for a in MAIN_ANGLES)


def test_one_batch_per_output_folder(tmp_path):
    import fcntl

    from sportlens.batch.runner import LOCK

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.mp4").write_bytes(b"x")
    (tmp_path / "out").mkdir()
    with open(tmp_path / "out" / LOCK, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a running driver holds it
        with pytest.raises(InputError, match="another `sportlens batch`"):
            run_batch(tmp_path / "in", tmp_path / "out")


def test_workers_must_be_positive(tmp_path):
    with pytest.raises(InputError, match="--workers"):
        run_batch(tmp_path, tmp_path / "out", BatchSettings(workers=0))


# ---------------------------------------------------------------- real videos, local Ray (slow)

@pytest.fixture
def ray_cleanup():
    """Ray must be installed (requirements/lock.txt; skip locally, fail under CI like real data), and
    whatever a test leaves (a failed assertion mid-run), no Ray stays up for the next test."""
    try:
        import ray
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("ray is not installed - required under CI (requirements/lock.txt)")
        pytest.skip("ray is not installed (pip install -r requirements/lock.txt)")
    yield
    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def season(tmp_path):
    """Two real videos and a file that only looks like one."""
    folder = tmp_path / "season"
    folder.mkdir()
    for name in ("golf_swing.mp4", "arm_wrestling.mp4"):
        shutil.copy(shared_path(f"videos/{name}"), folder / name)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    return folder


@pytest.mark.slow
def test_batch_on_local_ray_resumes_and_reports_a_corrupt_file(season, tmp_path, ray_cleanup):
    import ray
    from typer.testing import CliRunner

    from sportlens.cli import app

    importlib.import_module("sportlens.cli.batch")  # registers `batch` (until sportlens.cli lists it)

    out = tmp_path / "out"
    analyze = AnalyzeSettings(start=0.0, end=PIECE, output=replace(AnalyzeSettings().output, video=False))
    report = run_batch(season, out, BatchSettings(workers=2), analyze)
    assert not ray.is_initialized()  # the runner started Ray and shut it down
    assert (report.analysed, report.skipped) == (2, 0)
    assert [name for name, _ in report.failed] == ["broken"]
    assert "InputError" in report.failed[0][1] and "broken.mp4" in report.failed[0][1]
    for name in ("golf_swing", "arm_wrestling"):
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["metrics"]["duration_s"] <= PIECE + 0.1
    assert not (out / "broken").exists() or not any((out / "broken").iterdir())  # nothing half-written
    df = pd.read_parquet(out / "sessions.parquet")
    assert list(df["name"]) == ["arm_wrestling", "broken", "golf_swing"]
    ok = df[df["status"] == "ok"]
    assert len(ok) == 2 and (ok["frames"] > 25).all() and (ok["detection_rate"] > 0.5).all()
    assert (ok["fps"] > 20).all() and ok["top_action"].notna().all()
    assert ok[[f"rom_{a}" for a in MAIN_ANGLES]].notna().any(axis=1).all()
    failed = df[df["status"] == "failed"].iloc[0]
    assert failed["attempts"] == 2 and "InputError" in failed["error"]  # retried once, then reported

    # Again through the command line: the two finished videos are skipped, the corrupt one fails again.
    stamp = (out / "golf_swing" / "summary.json").stat().st_mtime_ns
    done = CliRunner().invoke(app, ["batch", str(season), "--out", str(out), "--workers", "2",
                                    "--start", "0", "--end", str(PIECE), "--no-video"])
    assert done.exit_code == 1, done.output  # 1: some video failed
    assert "2 of 3 videos already analysed" in done.output and "broken" in done.output
    assert (out / "golf_swing" / "summary.json").stat().st_mtime_ns == stamp  # not redone
    df2 = pd.read_parquet(out / "sessions.parquet")
    assert list(df2["resumed"]) == [True, False, True]
    pd.testing.assert_series_equal(df2["rom_right_elbow_flexion"], df["rom_right_elbow_flexion"])
