"""Reference library, comparison (normalise, DTW, deviations, score), report, CLI and the UI-PRMD DTW baseline.

The synthetic athlete is a side-view squat built from its joint angles (``squat_track``): the knee, hip and
trunk angles are known exactly, so a copy with the knee bent 20 deg more must read 20 deg more.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sportlens.assess.compare import (
    ComparisonRefused, accumulated_cost, compare, compare_tracks, dtw, dtw_distances, normalise,
)
from sportlens.assess.deviations import FORWARD_LEAN, Deviation
from sportlens.assess.feedback import sentence
from sportlens.assess.reference import (
    KEYPOINTS, Reference, ReferenceCard, add_reference, expand_joints, facing, list_references, load_reference,
    measured_view, read_keypoints, references_dir, write_keypoints,
)
from sportlens.errors import InputError
from sportlens.kinematics import compute_angles
from sportlens.skeletons import BLAZEPOSE33
from sportlens.types import PoseTrack

from conftest import shared_path

FPS = 30.0
THIGH, SHANK, TRUNK, UPPER_ARM, FOREARM = 0.45, 0.45, 0.55, 0.3, 0.27  # metres-ish, scaled to pixels below


def _squat_angles(phase: np.ndarray, knee_extra: float = 0.0, lean_extra: float = 0.0) -> dict[str, np.ndarray]:
    """Joint angles (deg) of one squat at phase in [0, 1]: down to the bottom at 0.5, back up.
    ``lean_extra`` is added to the forward trunk lean at the bottom only (scaled by the depth)."""
    depth = np.sin(np.pi * np.clip(phase, 0, 1)) ** 2  # 0 standing -> 1 bottom -> 0
    return {"knee": 10.0 + 90.0 * depth + knee_extra, "hip": 10.0 + 80.0 * depth,
            "lean": 5.0 + (30.0 + lean_extra) * depth,
            "shoulder": 20.0 + 60.0 * depth, "elbow": 15.0 + 20.0 * depth}


def _pose(ang: dict[str, float], face: int, scale: float, origin: tuple[float, float]) -> np.ndarray:
    """(33, 2) BlazePose pixels of a side-view pose facing +x (face=1) or -x (face=-1); y down."""
    def v(deg_from_down: float, forward: int) -> np.ndarray:  # unit vector, angle from straight down
        a = math.radians(deg_from_down)
        return np.array([forward * math.sin(a), math.cos(a)])

    ankle = np.array([0.0, 0.0])
    lean = ang["lean"]
    alpha = ang["hip"] - lean  # thigh forward of vertical-down
    beta = ang["knee"] - alpha  # shank backward of vertical-down (from the knee)
    knee = ankle - v(beta, -1) * SHANK
    hip = knee - v(alpha, 1) * THIGH
    shoulder = hip + np.array([math.sin(math.radians(lean)), -math.cos(math.radians(lean))]) * TRUNK
    # upper arm: shoulder_flexion from the trunk's downward direction, forward
    arm_dir = v(ang["shoulder"] - lean, 1)
    elbow = shoulder + arm_dir * UPPER_ARM
    wrist = elbow + v(ang["shoulder"] - lean + ang["elbow"], 1) * FOREARM
    head = shoulder + np.array([math.sin(math.radians(lean)), -math.cos(math.radians(lean))]) * 0.2
    nose = head + np.array([0.1, 0.0])
    ear = head - np.array([0.03, 0.0])
    heel, toe = ankle + np.array([-0.06, 0.05]), ankle + np.array([0.18, 0.05])
    pts = {"nose": nose, "left_ear": ear, "right_ear": ear + [0.01, 0], "left_eye_inner": nose - [0.03, 0.03],
           "left_eye": nose - [0.04, 0.03], "left_eye_outer": nose - [0.05, 0.03],
           "right_eye_inner": nose - [0.03, 0.031], "right_eye": nose - [0.04, 0.031],
           "right_eye_outer": nose - [0.05, 0.031], "mouth_left": nose + [-0.02, 0.04],
           "mouth_right": nose + [-0.02, 0.041]}
    for s, dx in (("left", 0.0), ("right", 0.012)):  # the far side a few pixels off, as filmed side-on
        off = np.array([dx, 0.0])
        pts.update({f"{s}_shoulder": shoulder + off, f"{s}_elbow": elbow + off, f"{s}_wrist": wrist + off,
                    f"{s}_pinky": wrist + off + [0.03, 0.04], f"{s}_index": wrist + off + [0.05, 0.03],
                    f"{s}_thumb": wrist + off + [0.04, 0.01], f"{s}_hip": hip + off, f"{s}_knee": knee + off,
                    f"{s}_ankle": ankle + off, f"{s}_heel": heel + off, f"{s}_foot_index": toe + off})
    xy = np.array([pts[j] for j in BLAZEPOSE33.joints])
    xy[:, 0] *= face
    return xy * scale + np.asarray(origin)


def squat_track(seconds: float = 2.0, *, fps: float = FPS, knee_extra: float = 0.0, face: int = 1,
                scale: float = 400.0, origin=(600.0, 900.0), t0: float = 0.0, lean_extra: float = 0.0) -> PoseTrack:
    n = int(round(seconds * fps))
    times = t0 + np.arange(n) / fps
    phase = np.arange(n) / (n - 1)
    ang = _squat_angles(phase, knee_extra, lean_extra)
    kp = np.stack([_pose({k: float(v[i]) for k, v in ang.items()}, face, scale, origin) for i in range(n)])
    return PoseTrack(keypoints=kp, scores=np.ones(kp.shape[:2]), times=times, skeleton="blazepose33")


def _ref(track: PoseTrack, joints=("knee", "hip", "trunk"), view="side", movement="squat") -> Reference:
    card = ReferenceCard(name="squat-ref", movement=movement, view=view, joints=expand_joints(list(joints)),
                         fps=FPS, frames=track.num_frames, duration_s=float(track.times[-1]),
                         skeleton=track.skeleton, source="synthetic", source_kind="keypoints", created="now",
                         facing=facing(track))
    return Reference(card, track)


def _angle_rows(cmp, kind="angle_at_event"):
    return [d for d in cmp.deviations if d.kind == kind]


# ------------------------------------------------------------------------------------------- geometry


def test_synthetic_squat_angles_are_exact():
    ang = compute_angles(squat_track())
    phase = np.arange(60) / 59
    want = _squat_angles(phase)
    assert np.allclose(ang.column("left_knee_flexion"), want["knee"], atol=1e-6)
    assert np.allclose(ang.column("left_hip_flexion"), want["hip"], atol=1e-6)
    assert np.allclose(ang.column("trunk_lean"), want["lean"], atol=1e-6)
    assert np.allclose(compute_angles(squat_track(knee_extra=20)).column("right_knee_flexion"), want["knee"] + 20)
    assert facing(squat_track()) == 1 and facing(squat_track(face=-1)) == -1
    assert measured_view(squat_track()) == "side"


def test_dtw_matches_brute_force_and_batches():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(9, 2)), rng.normal(size=(13, 2))
    d = np.full((10, 14), np.inf)
    d[0, 0] = 0
    for i in range(1, 10):
        for j in range(1, 14):
            d[i, j] = np.linalg.norm(a[i - 1] - b[j - 1]) + min(d[i - 1, j], d[i, j - 1], d[i - 1, j - 1])
    cost, path = dtw(a, b)
    assert cost == pytest.approx(d[-1, -1])
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (8, 12)
    assert np.all(np.diff(path, axis=0) >= 0) and np.all(np.diff(path, axis=0).sum(1) >= 1)
    assert sum(np.linalg.norm(a[i] - b[j]) for i, j in path) == pytest.approx(cost)
    refs = [b, a, rng.normal(size=(4, 2))]
    got = dtw_distances(a, refs)
    assert got[0] == pytest.approx(d[-1, -1] / (9 + 13))
    assert got[1] == pytest.approx(0.0, abs=1e-6)
    assert accumulated_cost(np.zeros((3, 4)))[-1, -1] == 0


def test_self_comparison_scores_100_with_no_deviation():
    t = squat_track()
    cmp = compare_tracks(t, _ref(t))
    assert cmp.score == 100.0
    assert cmp.deviations == []
    assert not cmp.mirrored
    for j in cmp.joints:
        assert j.mean_abs_deviation == pytest.approx(0, abs=1e-9) and j.rom_difference == pytest.approx(0, abs=1e-9)
        assert j.score == 100.0 and j.timing_offset_s == pytest.approx(0, abs=1e-9)
    assert [p.name for p in cmp.phases] == ["start-bottom", "bottom-end"]
    assert cmp.primary_joint in ("left_knee_flexion", "right_knee_flexion")
    assert np.array_equal(cmp.path[:, 0], cmp.path[:, 1])
    json.dumps(cmp.to_dict(), allow_nan=False)


def test_position_and_scale_do_not_matter():
    ref = squat_track()
    cmp = compare_tracks(squat_track(scale=150.0, origin=(100.0, 300.0)), _ref(ref))
    assert cmp.score == 100.0 and cmp.deviations == []
    n = normalise(squat_track(scale=150.0, origin=(100.0, 300.0)))
    assert np.allclose(n.keypoints, normalise(ref).keypoints, atol=1e-9)


def test_time_stretched_copy_aligns_and_reports_tempo():
    ref = squat_track(2.0)
    slow = squat_track(3.0, t0=5.0)  # the same squat, 1.5x slower, later in its video
    cmp = compare_tracks(slow, _ref(ref))
    assert cmp.duration_ratio == pytest.approx(1.5, rel=0.02)
    for j in cmp.joints:
        assert j.mean_abs_deviation < 1.5 and abs(j.rom_difference) < 1.0 and abs(j.timing_offset_s) < 0.1
    assert cmp.score > 96
    assert _angle_rows(cmp) == [] and _angle_rows(cmp, "rom") == []
    tempo = _angle_rows(cmp, "tempo")
    assert {d.quantity for d in tempo} == {"start-bottom duration", "bottom-end duration"}
    for d in tempo:
        assert d.value / d.reference == pytest.approx(1.5, rel=0.05) and d.unit == "s"
    bottom = next(p for p in cmp.phases if p.name == "start-bottom")
    assert bottom.athlete_start_s == pytest.approx(5.0) and bottom.athlete_end_s == pytest.approx(6.5, abs=0.05)


def test_knee_bent_20_degrees_more_is_reported_on_the_knee():
    ref = squat_track()
    cmp = compare_tracks(squat_track(knee_extra=20.0), _ref(ref))
    by = {j.name: j for j in cmp.joints}
    for side in ("left", "right"):
        k = by[f"{side}_knee_flexion"]
        assert k.mean_deviation == pytest.approx(20.0, abs=1.0) and k.mean_abs_deviation == pytest.approx(20, abs=1)
        assert k.score == pytest.approx(50.0, abs=3.0)
        assert abs(k.rom_difference) < 1.0
    for other in ("left_hip_flexion", "right_hip_flexion", "trunk_lean"):
        assert by[other].mean_abs_deviation < 1.0 and by[other].score > 97
    rows = _angle_rows(cmp)
    assert rows and {d.quantity for d in rows} == {"left_knee_flexion", "right_knee_flexion"}
    for d in rows:
        assert isinstance(d, Deviation) and d.difference == pytest.approx(20.0, abs=1.0)
        assert d.severity == pytest.approx(2.0, abs=0.1) and d.source == "reference:squat-ref" and d.unit == "deg"
    bottom = [d for d in rows if d.phase == "bottom"]
    assert len(bottom) == 2 and bottom[0].time_s == pytest.approx(1.0, abs=0.05)
    assert 60 < cmp.score < 90


def test_athlete_facing_the_other_way_is_mirrored():
    ref = squat_track()
    cmp = compare_tracks(squat_track(face=-1, origin=(1200.0, 900.0)), _ref(ref))
    assert cmp.mirrored and cmp.athlete_facing == -1 and cmp.reference_facing == 1
    assert cmp.score == 100.0 and cmp.deviations == []
    # without mirroring the trunk lean would read -lean: the comparison must not see that
    assert compute_angles(squat_track(face=-1)).column("trunk_lean")[30] < 0
    assert cmp.athlete_angles.column("trunk_lean")[30] > 0


@pytest.mark.parametrize("ref_face,ath_face", [(1, 1), (1, -1), (-1, -1)])
def test_trunk_lean_rows_say_forward_whichever_way_the_athlete_faces(ref_face, ath_face):
    ref = squat_track(face=ref_face)
    cmp = compare_tracks(squat_track(face=ath_face, lean_extra=20.0), _ref(ref))
    lean = [d for d in _angle_rows(cmp) if d.quantity == FORWARD_LEAN and d.phase == "bottom"]
    assert len(lean) == 1 and not any(d.quantity == "trunk_lean" for d in _angle_rows(cmp))
    d = lean[0]
    assert d.reference == pytest.approx(35.0, abs=1.0) and d.value == pytest.approx(55.0, abs=1.5)
    assert sentence(d) == "Trunk leans 55° forward at the bottom (reference 35° forward) — keep your chest up"


def test_refuses_other_view_movement_and_gaps():
    ref = _ref(squat_track())
    with pytest.raises(ComparisonRefused, match="movement"):
        compare_tracks(squat_track(), ref, movement="lunge")
    with pytest.raises(ComparisonRefused, match="front"):
        compare_tracks(squat_track(), ref, view="front")
    gappy = squat_track()
    kp = gappy.keypoints.copy()
    kp[10:40, BLAZEPOSE33.index("left_knee")] = np.nan  # 1 s without the knee
    with pytest.raises(ComparisonRefused, match="left_knee_flexion"):
        compare_tracks(gappy.with_data(kp), ref)
    front = squat_track()
    kp = front.keypoints.copy()
    kp[:, BLAZEPOSE33.index("right_shoulder"), 0] += 300  # shoulders wide apart: a frontal view
    with pytest.raises(ComparisonRefused, match="view"):
        compare_tracks(front.with_data(kp), ref)
    still = squat_track()
    still = still.with_data(np.repeat(still.keypoints[:1], still.num_frames, axis=0))  # standing still
    with pytest.raises(ComparisonRefused, match="not the same movement"):
        compare_tracks(still, ref)
    with pytest.raises(ComparisonRefused, match="frames"):
        compare_tracks(squat_track().slice(0, 5), ref)
    assert issubclass(ComparisonRefused, InputError)


# ------------------------------------------------------------------------------------------- library


def _parquet(tmp_path, track, name="keypoints.parquet"):
    p = tmp_path / name
    write_keypoints(track, p)
    return p


def test_library_add_list_load_and_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("SPORTLENS_HOME", str(tmp_path / "home"))
    assert references_dir() == tmp_path / "home" / "references"
    assert list_references() == []
    src = _parquet(tmp_path, squat_track())
    rt = read_keypoints(src)
    assert rt.skeleton == "blazepose33" and np.allclose(rt.keypoints, squat_track().keypoints)
    assert np.allclose(rt.times, squat_track().times)
    card = add_reference("squat1", src, movement="squat", joints="knee,hip,trunk")
    assert card.view == "side" and card.facing == 1 and card.fps == pytest.approx(FPS)
    assert card.joints == ["left_knee_flexion", "right_knee_flexion", "left_hip_flexion", "right_hip_flexion",
                           "trunk_lean"]
    folder = references_dir() / "squat1"
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", KEYPOINTS]
    saved = json.loads((folder / "card.json").read_text())
    assert saved["movement"] == "squat" and saved["source_kind"] == "keypoints" and saved["created"]
    ref = load_reference("squat1")
    assert np.allclose(ref.track.keypoints, squat_track().keypoints, equal_nan=True)
    assert [c.name for c in list_references()] == ["squat1"]
    # an analyze-style folder is a source too, default joints chosen from motion
    (tmp_path / "run").mkdir()
    _parquet(tmp_path / "run", squat_track(face=-1))
    card2 = add_reference("squat2", tmp_path / "run", movement="squat")
    assert "left_knee_flexion" in card2.joints and card2.facing == -1
    assert [c.name for c in list_references()] == ["squat1", "squat2"]
    with pytest.raises(InputError, match="already exists"):
        add_reference("squat1", src, movement="squat")
    add_reference("squat1", src, movement="deep squat", force=True)
    assert load_reference("squat1").card.movement == "deep squat"
    with pytest.raises(InputError, match="unknown reference 'nope'.*squat1"):
        load_reference("nope")
    with pytest.raises(InputError, match="no such file"):
        add_reference("x", tmp_path / "missing.parquet", movement="squat")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(InputError, match="parquet"):
        add_reference("x", bad, movement="squat")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(InputError, match="not a video"):
        add_reference("x", tmp_path / "notes.txt", movement="squat")
    with pytest.raises(InputError, match="name"):
        add_reference("../evil", src, movement="squat")
    with pytest.raises(InputError, match="movement"):
        add_reference("x", src, movement="")
    with pytest.raises(InputError, match="unknown joint"):
        add_reference("x", src, movement="squat", joints="tail")
    empty = squat_track()
    empty = empty.with_data(np.full_like(empty.keypoints, np.nan), np.zeros_like(empty.scores))
    with pytest.raises(InputError, match="person"):
        add_reference("x", _parquet(tmp_path, empty, "empty.parquet"), movement="squat")
    assert [c.name for c in list_references()] == ["squat1", "squat2"]
    assert not [p for p in references_dir().iterdir() if p.name.startswith(".")]  # no staging left behind


def test_compare_by_name_and_report(tmp_path):
    from sportlens.report.compare_report import render_compare_html, write_compare_report

    lib = tmp_path / "lib"
    add_reference("squat", _parquet(tmp_path, squat_track()), movement="squat", joints="knee,hip,trunk", root=lib)
    athlete = _parquet(tmp_path, squat_track(2.5, knee_extra=15.0, face=-1), "athlete.parquet")
    cmp = compare(athlete, "squat", library=lib)
    assert cmp.mirrored and cmp.reference == "squat" and cmp.score < 100
    html = render_compare_html(cmp)
    assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html
    for text in ("Score", "left knee flexion", "Deviations", "start-bottom"):
        assert text.lower() in html.lower()
    assert "http://" not in html and "https://" not in html and "<script src" not in html
    files = write_compare_report(cmp, tmp_path / "out")
    assert set(files) == {"comparison.json", "compare_report.html"}
    data = json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert data["score"] == cmp.score and data["deviations"]
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_cli_reference_and_compare(tmp_path, monkeypatch, capfd):
    from typer.testing import CliRunner

    from sportlens.cli import app

    monkeypatch.setenv("SPORTLENS_HOME", str(tmp_path / "home"))
    runner = CliRunner()

    def said(r) -> str:  # errors go to the real stderr (the native-noise filter writes to fd 2)
        return r.output + capfd.readouterr().err

    src = _parquet(tmp_path, squat_track())
    r = runner.invoke(app, ["reference", "add", "squat", str(src), "--movement", "squat", "--joints", "knee,hip"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["reference", "add", "squat", str(src), "--movement", "squat"])
    assert r.exit_code == 2 and "already exists" in said(r)
    r = runner.invoke(app, ["reference", "list"])
    assert r.exit_code == 0 and "squat" in r.output and "side" in r.output
    ath = _parquet(tmp_path, squat_track(knee_extra=20.0), "a.parquet")
    r = runner.invoke(app, ["compare", str(ath), "squat", "--out", str(tmp_path / "cmp"), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert 0 < data["score"] < 100 and (tmp_path / "cmp" / "compare_report.html").is_file()
    r = runner.invoke(app, ["compare", str(ath), "nosuch"])
    assert r.exit_code == 2 and "unknown reference" in said(r)
    r = runner.invoke(app, ["compare", str(ath), "squat", "--movement", "lunge"])
    assert r.exit_code == 2 and "movement" in said(r)
    r = runner.invoke(app, ["compare", str(ath), str(src), "--out", str(tmp_path / "cmp2")])  # a path reference
    assert r.exit_code == 0, said(r)
    assert "score" in r.output and (tmp_path / "cmp2" / "comparison.json").is_file()


# ------------------------------------------------------------------------------------------- real data


@pytest.mark.slow
def test_compare_end_to_end_on_real_video(tmp_path, demo_video):
    """Reference = the first 1.5 s of the demo's jumping jacks (filmed face-on), athlete = the next 1.5 s."""
    from sportlens.report.compare_report import write_compare_report

    lib = tmp_path / "lib"
    card = add_reference("jacks", demo_video, movement="jumping jacks", root=lib, start=0.0, end=1.5)
    assert card.source_kind == "video" and card.joints and card.frames > 20
    assert card.view == "front" and card.facing == 0 and not any("ankle" in j for j in card.joints)
    cmp = compare(demo_video, "jacks", library=lib, start=1.5, end=3.0)
    assert 40 < cmp.score <= 100 and cmp.joints and not cmp.mirrored  # measured 67.8: same person, same movement
    assert all(math.isfinite(j.mean_abs_deviation) for j in cmp.joints)
    files = write_compare_report(cmp, tmp_path / "out")
    assert (tmp_path / "out" / "compare_report.html").stat().st_size > 10_000 and len(files) == 2
    # later the single-person pose follows the woman walking past, filmed side-on: no score against jacks
    with pytest.raises(ComparisonRefused, match="side"):
        compare(demo_video, "jacks", library=lib, start=4.0, end=5.5)


@pytest.mark.slow
def test_dtw_baseline_on_real_ui_prmd():
    from sportlens.assess.dtw_baseline import dtw_baseline
    from sportlens.data.ui_prmd import load_ui_prmd

    samples, _ = load_ui_prmd(shared_path("data/ui_prmd"), movements=(1, 7))
    res = dtw_baseline(samples)
    assert set(res["per_movement"]) == {1, 7}
    assert all(r["n"] == 200 for r in res["per_movement"].values())
    assert all(r["auc"] > 0.8 for r in res["per_movement"].values())  # full run: 0.884 and 0.923
    assert res["features"] == "positions" and res["mean_auc"] > 0.85
