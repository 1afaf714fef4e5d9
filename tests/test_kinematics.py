"""Exact-geometry tests of sportlens.kinematics on hand-placed joints (no real data)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sportlens.kinematics import (
    ANGLE_NAMES,
    center_of_mass,
    compute_angles,
    peak_velocity,
    range_of_motion,
    segment_parameters,
    summary_metrics,
    symmetry_index,
    unwrap_degrees,
)
from sportlens.skeletons import get_skeleton
from sportlens.types import AngleTable, PoseTrack

pytestmark = pytest.mark.filterwarnings("error")  # NaN handling must not emit RuntimeWarnings


def make_track(frames: list[dict[str, tuple[float, float]]], layout: str = "blazepose33",
               times: np.ndarray | None = None) -> PoseTrack:
    """A track whose frame t has the joints of frames[t] and NaN everywhere else."""
    skel = get_skeleton(layout)
    kp = np.full((len(frames), skel.num_joints, 2), np.nan)  # (T, V, 2)
    for t, joints in enumerate(frames):
        for name, xy in joints.items():
            kp[t, skel.index(name)] = xy
    scores = np.isfinite(kp).all(axis=-1).astype(float)  # (T, V)
    times = np.arange(len(frames)) / 30.0 if times is None else np.asarray(times, float)
    return PoseTrack(keypoints=kp, scores=scores, times=times, skeleton=layout)


def standing(cx: float = 100.0) -> dict[str, tuple[float, float]]:
    """Upright, left/right symmetric about x = cx, arms hanging, feet flat (image y down)."""
    pose = {"nose": (cx, 20.0), "left_ear": (cx + 8, 22.0), "right_ear": (cx - 8, 22.0)}
    half = {"shoulder": (15, 50), "elbow": (15, 110), "wrist": (15, 160), "index": (17, 175),
            "pinky": (13, 175), "hip": (15, 150), "knee": (15, 250), "ankle": (15, 350),
            "heel": (15, 360), "foot_index": (15 + 30, 360)}
    for j, (dx, y) in half.items():
        # the athlete faces the camera: their left is on the image right
        pose[f"left_{j}"] = (cx + dx, float(y))
        pose[f"right_{j}"] = (cx - dx, float(y))
    return pose


def col(table: AngleTable, name: str) -> np.ndarray:
    return table.column(name)


# --- joint angles -----------------------------------------------------------------------------

def test_names_are_unique_and_complete():
    assert len(set(ANGLE_NAMES)) == len(ANGLE_NAMES)
    for side in ("left", "right"):
        for n in ("elbow_flexion", "knee_flexion", "hip_flexion", "shoulder_flexion", "ankle_dorsiflexion",
                  "thigh_angle", "shank_angle", "upper_arm_angle", "forearm_angle"):
            assert f"{side}_{n}" in ANGLE_NAMES
    assert "trunk_lean" in ANGLE_NAMES and "trunk_angle" in ANGLE_NAMES


def test_right_angle_elbow_is_90_and_straight_arm_is_0():
    pose = {"left_shoulder": (0, 0), "left_elbow": (0, 100), "left_wrist": (100, 100),
            "right_shoulder": (300, 0), "right_elbow": (300, 100), "right_wrist": (300, 230)}
    t = compute_angles(make_track([pose]))
    assert col(t, "left_elbow_flexion")[0] == pytest.approx(90.0, abs=1e-9)
    assert col(t, "right_elbow_flexion")[0] == pytest.approx(0.0, abs=1e-9)


def test_elbow_flexion_45():
    pose = {"left_shoulder": (0, 0), "left_elbow": (0, 100), "left_wrist": (50, 150)}
    assert col(compute_angles(make_track([pose])), "left_elbow_flexion")[0] == pytest.approx(45.0, abs=1e-9)


def test_standing_pose_reads_neutral():
    t = compute_angles(make_track([standing()]))
    for side in ("left", "right"):
        for n in ("elbow_flexion", "knee_flexion", "hip_flexion", "shoulder_flexion"):
            assert col(t, f"{side}_{n}")[0] == pytest.approx(0.0, abs=1e-9), n
        assert col(t, f"{side}_ankle_dorsiflexion")[0] == pytest.approx(0.0, abs=1e-9)
        assert col(t, f"{side}_thigh_angle")[0] == pytest.approx(-90.0, abs=1e-9)
        assert col(t, f"{side}_shank_angle")[0] == pytest.approx(-90.0, abs=1e-9)
    assert col(t, "trunk_lean")[0] == pytest.approx(0.0, abs=1e-9)
    assert col(t, "trunk_angle")[0] == pytest.approx(90.0, abs=1e-9)


def test_sitting_hip_and_knee_90_and_arm_forward_90():
    pose = {"left_shoulder": (0, 0), "left_hip": (0, 100), "left_knee": (100, 100), "left_ankle": (100, 200),
            "left_elbow": (60, 0)}
    t = compute_angles(make_track([pose]))
    assert col(t, "left_hip_flexion")[0] == pytest.approx(90.0, abs=1e-9)
    assert col(t, "left_knee_flexion")[0] == pytest.approx(90.0, abs=1e-9)
    assert col(t, "left_shoulder_flexion")[0] == pytest.approx(90.0, abs=1e-9)
    assert col(t, "left_thigh_angle")[0] == pytest.approx(0.0, abs=1e-9)  # pointing image-right
    assert col(t, "left_upper_arm_angle")[0] == pytest.approx(0.0, abs=1e-9)


def test_ankle_dorsiflexion_sign():
    base = {"left_knee": (0, 200), "left_ankle": (0, 300), "left_heel": (-10, 310)}
    up = dict(base, left_foot_index=(40, 260))  # sole 45 deg above horizontal: toes towards shin
    down = dict(base, left_foot_index=(40, 360))  # toes pointed
    t = compute_angles(make_track([up, down]))
    np.testing.assert_allclose(col(t, "left_ankle_dorsiflexion"), [45.0, -45.0], atol=1e-9)


def test_mirrored_sides_give_equal_joint_angles():
    pose = standing()
    # bend both sides identically (mirror images about x = 100)
    for side, s in (("left", 1), ("right", -1)):
        pose[f"{side}_elbow"] = (100 + s * 60, 80.0)
        pose[f"{side}_wrist"] = (100 + s * 40, 20.0)
        pose[f"{side}_knee"] = (100 + s * 50, 220.0)
        pose[f"{side}_ankle"] = (100 + s * 20, 320.0)
    t = compute_angles(make_track([pose]))
    for n in ("elbow_flexion", "knee_flexion", "hip_flexion", "shoulder_flexion", "ankle_dorsiflexion"):
        left, right = col(t, f"left_{n}")[0], col(t, f"right_{n}")[0]
        assert np.isfinite(left) and left == pytest.approx(right, abs=1e-9), n
    assert col(t, "left_knee_flexion")[0] > 10  # really bent, not trivially 0 == 0
    # mirrored segments point in mirrored directions: angles add up to 180 (mod 360)
    s = col(t, "left_thigh_angle")[0] + col(t, "right_thigh_angle")[0]
    assert np.mod(s, 360.0) == pytest.approx(180.0, abs=1e-9)


def test_trunk_lean_sign():
    lean30 = np.tan(np.radians(30.0)) * 100
    right = {"left_hip": (110, 200), "right_hip": (90, 200),
             "left_shoulder": (120 + lean30, 100), "right_shoulder": (80 + lean30, 100)}
    left = {k: (200 - x, y) for k, (x, y) in right.items()}  # mirror about x = 100
    t = compute_angles(make_track([right, left]))
    np.testing.assert_allclose(col(t, "trunk_lean"), [30.0, -30.0], atol=1e-9)
    np.testing.assert_allclose(col(t, "trunk_angle"), [60.0, 120.0], atol=1e-9)


# --- unwrapping -------------------------------------------------------------------------------

def thigh_track(theta_deg: np.ndarray, times=None) -> PoseTrack:
    """Left thigh pointing at theta (anticlockwise on screen from image-right), hip at (0, 0)."""
    th = np.radians(theta_deg)
    frames = [{"left_hip": (0.0, 0.0), "left_knee": (100 * np.cos(a), -100 * np.sin(a))} for a in th]
    return make_track(frames, times=times)


def test_segment_angle_through_180_has_no_jump():
    theta = np.linspace(150.0, 250.0, 41)
    a = col(compute_angles(thigh_track(theta)), "left_thigh_angle")
    np.testing.assert_allclose(a, theta, atol=1e-9)
    assert np.abs(np.diff(a)).max() < 3.0


def test_multiple_turns_unwrap_to_the_analytic_value():
    theta = np.linspace(-170.0, 900.0, 200)  # three turns, steps well under 180
    a = col(compute_angles(thigh_track(theta)), "left_thigh_angle")
    np.testing.assert_allclose(a, theta, atol=1e-9)


def test_unwrap_bridges_nan_gap_with_nearest_turn():
    theta = np.linspace(150.0, 260.0, 23)  # 5 deg steps
    track = thigh_track(theta)
    gap = (theta > 170) & (theta < 205)
    track.keypoints[gap] = np.nan
    a = col(compute_angles(track), "left_thigh_angle")
    assert np.isnan(a[gap]).all()
    np.testing.assert_allclose(a[~gap], theta[~gap], atol=1e-9)


def test_unwrap_degrees_plain():
    x = np.array([170.0, -170.0, np.nan, np.nan, -150.0, 179.0, -179.0])
    np.testing.assert_allclose(unwrap_degrees(x), [170, 190, np.nan, np.nan, 210, 179, 181], atol=1e-9)


# --- derivatives ------------------------------------------------------------------------------

def nonuniform_times(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate(([0.0], np.cumsum(rng.uniform(0.01, 0.05, n - 1))))


def elbow_track(flexion_deg: np.ndarray, times: np.ndarray) -> PoseTrack:
    """Left elbow at the given flexion: upper arm straight down, forearm rotated by the flexion."""
    f = np.radians(flexion_deg)
    frames = [{"left_shoulder": (0.0, 0.0), "left_elbow": (0.0, 100.0),
               "left_wrist": (100 * np.sin(a), 100 + 100 * np.cos(a))} for a in f]
    return make_track(frames, times=times)


def test_velocity_uses_real_nonuniform_times():
    times = nonuniform_times(40)
    assert np.ptp(np.diff(times)) > 0.01  # really non-uniform
    t = compute_angles(elbow_track(10 + 90 * times, times))
    np.testing.assert_allclose(col(t, "left_elbow_flexion"), 10 + 90 * times, atol=1e-9)
    vel = t.velocity[:, t.names.index("left_elbow_flexion")]
    np.testing.assert_allclose(vel, 90.0, atol=1e-6)


def test_acceleration_of_quadratic():
    times = nonuniform_times(50, seed=1)  # ends near 1.5 s, flexion stays under 180
    f = 20 + 30 * times + 40 * times**2
    assert f.max() < 180
    t = compute_angles(elbow_track(f, times))
    i = t.names.index("left_elbow_flexion")
    np.testing.assert_allclose(t.velocity[:, i], 30 + 80 * times, atol=1e-6)
    np.testing.assert_allclose(t.acceleration[:, i], 80.0, atol=1e-5)


def test_velocity_of_unwrapped_segment_across_180():
    times = nonuniform_times(60, seed=2)
    theta = 120 + 200 * times  # passes 180 and keeps going
    t = compute_angles(thigh_track(theta, times))
    np.testing.assert_allclose(t.velocity[:, t.names.index("left_thigh_angle")], 200.0, atol=1e-6)


def test_derivatives_nan_aware():
    times = nonuniform_times(14, seed=3)
    track = elbow_track(10 + 90 * times, times)
    track.keypoints[[5, 7, 8, 11]] = np.nan  # runs: 0-4, 6 (isolated), 9-10 and 12-13 (2 frames)
    t = compute_angles(track)
    i = t.names.index("left_elbow_flexion")
    vel, acc = t.velocity[:, i], t.acceleration[:, i]
    assert np.isnan(vel[[5, 6, 7, 8, 11]]).all()  # missing or isolated
    np.testing.assert_allclose(vel[[0, 1, 2, 3, 4, 9, 10, 12, 13]], 90.0, atol=1e-6)
    np.testing.assert_allclose(acc[:5], 0.0, atol=1e-4)
    assert np.isnan(acc[5:]).all()  # acceleration needs 3 frames in a row


def test_times_must_increase():
    track = make_track([standing(), standing()], times=[0.0, 0.0])
    with pytest.raises(ValueError):
        compute_angles(track)


# --- layouts and missing joints ---------------------------------------------------------------

@pytest.mark.parametrize("layout", ["coco17", "penn13"])
def test_other_layouts(layout):
    skel = get_skeleton(layout)
    pose = {k: v for k, v in standing().items() if skel.has(k)}
    bent = dict(pose, left_knee=(115 + 100, 150.0), left_ankle=(215, 250.0))  # sitting left leg
    if layout == "penn13":
        pose["head"] = bent["head"] = (100.0, 20.0)
    t = compute_angles(make_track([pose, bent], layout=layout))
    assert t.names == ANGLE_NAMES and t.values.shape == (2, len(ANGLE_NAMES))
    assert np.isnan(col(t, "left_ankle_dorsiflexion")).all()
    assert np.isnan(col(t, "right_ankle_dorsiflexion")).all()
    np.testing.assert_allclose(col(t, "left_knee_flexion"), [0.0, 90.0], atol=1e-9)
    np.testing.assert_allclose(col(t, "left_hip_flexion"), [0.0, 90.0], atol=1e-9)
    np.testing.assert_allclose(col(t, "trunk_lean"), [0.0, 0.0], atol=1e-9)
    com = center_of_mass(make_track([pose], layout=layout))
    assert com[0, 0] == pytest.approx(100.0, abs=1e-9)


def test_missing_joints_give_nan_not_crash():
    pose = standing()
    del pose["left_wrist"], pose["right_hip"]
    t = compute_angles(make_track([pose, pose, pose]))
    assert np.isnan(col(t, "left_elbow_flexion")).all()
    assert np.isnan(col(t, "trunk_lean")).all()  # mid-hip needs both hips
    assert np.isnan(col(t, "right_knee_flexion")).all()
    np.testing.assert_allclose(col(t, "left_knee_flexion"), [0.0, 0.0, 0.0], atol=1e-9)
    assert np.isnan(center_of_mass(make_track([pose]))).all()


def test_empty_and_all_nan_tracks():
    empty = make_track([])
    t = compute_angles(empty)
    assert t.values.shape == (0, len(ANGLE_NAMES))
    nan_track = make_track([{}, {}, {}])
    t = compute_angles(nan_track)
    assert np.isnan(t.values).all() and np.isnan(t.velocity).all()
    s = summary_metrics(t, nan_track)
    json.dumps(s, allow_nan=False)
    assert s["range_of_motion"]["left_knee_flexion"]["rom"] is None


def test_coincident_joints_are_nan():
    pose = {"left_shoulder": (0, 0), "left_elbow": (0, 0), "left_wrist": (10, 10)}
    assert np.isnan(col(compute_angles(make_track([pose])), "left_elbow_flexion")).all()


# --- metrics ----------------------------------------------------------------------------------

def table_of(columns: dict[str, np.ndarray], times: np.ndarray) -> AngleTable:
    names = tuple(columns)
    values = np.stack([columns[n] for n in names], axis=1)  # (T, A)
    vel = np.gradient(values, times, axis=0)
    return AngleTable(times=times, names=names, values=values, velocity=vel, acceleration=np.zeros_like(values))


def test_range_of_motion_and_symmetry():
    times = np.linspace(0.0, 1.0, 101)
    t = table_of({"left_knee_flexion": np.linspace(0, 100, 101), "right_knee_flexion": np.linspace(0, 50, 101),
                  "trunk_lean": np.full(101, np.nan)}, times)
    rom = range_of_motion(t)
    assert rom["left_knee_flexion"]["rom"] == pytest.approx(90.0)  # p95 - p05 of 0..100
    assert rom["left_knee_flexion"]["range"] == pytest.approx(100.0)
    assert rom["right_knee_flexion"]["rom"] == pytest.approx(45.0)
    assert rom["right_knee_flexion"]["p05"] == pytest.approx(2.5)
    assert np.isnan(rom["trunk_lean"]["rom"])
    si = symmetry_index(t)
    assert set(si) == {"knee_flexion"}
    assert si["knee_flexion"] == pytest.approx(100 * 45 / 67.5)  # 66.67 %
    pv = peak_velocity(t)
    assert pv["left_knee_flexion"] == pytest.approx(100.0)
    assert pv["right_knee_flexion"] == pytest.approx(50.0)


def test_symmetry_of_equal_and_still_sides():
    times = np.linspace(0.0, 1.0, 11)
    same = np.linspace(0, 30, 11)
    t = table_of({"left_elbow_flexion": same, "right_elbow_flexion": same,
                  "left_knee_flexion": np.zeros(11), "right_knee_flexion": np.zeros(11)}, times)
    si = symmetry_index(t)
    assert si["elbow_flexion"] == pytest.approx(0.0) and si["knee_flexion"] == pytest.approx(0.0)


def test_summary_metrics_is_json_with_none_for_nan():
    times = nonuniform_times(30)
    track = make_track([standing() for _ in times], layout="blazepose33", times=times)
    coco = make_track([{k: v for k, v in standing().items() if get_skeleton("coco17").has(k)} for _ in times],
                      layout="coco17", times=times)
    for tr in (track, coco):
        s = summary_metrics(compute_angles(tr), tr)
        text = json.dumps(s, allow_nan=False)
        assert json.loads(text) == s
        assert s["frames"] == 30 and s["duration_s"] == pytest.approx(times[-1])
        assert s["range_of_motion"]["left_knee_flexion"]["rom"] == pytest.approx(0.0, abs=1e-9)
        assert s["valid_fraction"]["left_knee_flexion"] == 1.0
    assert s["range_of_motion"]["left_ankle_dorsiflexion"]["rom"] is None
    assert s["symmetry_index"]["ankle_dorsiflexion"] is None
    assert s["valid_fraction"]["left_ankle_dorsiflexion"] == 0.0


# --- centre of mass ---------------------------------------------------------------------------

def test_mass_fractions_sum_to_one():
    for sex in ("male", "female", "average"):
        assert sum(m for m, _ in segment_parameters(sex).values()) == pytest.approx(1.0, abs=2e-4)
    with pytest.raises(ValueError):
        segment_parameters("other")


def test_com_of_symmetric_pose_on_axis():
    pose = standing(cx=250.0)
    # a non-trivial symmetric pose: arms raised sideways, knees bent outwards
    for side, s in (("left", 1), ("right", -1)):
        pose[f"{side}_elbow"] = (250 + s * 80, 30.0)
        pose[f"{side}_wrist"] = (250 + s * 130, 0.0)
        pose[f"{side}_knee"] = (250 + s * 60, 240.0)
    com = center_of_mass(make_track([pose]))
    assert com.shape == (1, 2)
    assert com[0, 0] == pytest.approx(250.0, abs=1e-9)
    assert 50 < com[0, 1] < 250  # between the shoulders and the knees


def test_com_trunk_only_and_renormalisation():
    trunk = {"left_shoulder": (10, 0), "right_shoulder": (-10, 0), "left_hip": (10, 100), "right_hip": (-10, 100)}
    com = center_of_mass(make_track([trunk]), sex="male")
    np.testing.assert_allclose(com[0], [0.0, 44.86], atol=1e-9)  # de Leva male trunk COM
    with_thigh = dict(trunk, left_knee=(10, 200))
    params = segment_parameters("male")
    mt, ft = params["trunk"]
    mh, fh = params["left_thigh"]
    expected = (mt * np.array([0, 100 * ft]) + mh * np.array([10, 100 + 100 * fh])) / (mt + mh)
    np.testing.assert_allclose(center_of_mass(make_track([with_thigh]), sex="male")[0], expected, atol=1e-9)


def test_peak_velocity_ignores_run_edges():
    from sportlens.kinematics.metrics import peak_velocity

    T = 20
    times = np.arange(T) / 10.0
    values = np.full((T, 1), np.nan)
    values[5:15, 0] = 10.0 * times[5:15]  # 10 deg/s ...
    vel = np.full((T, 1), np.nan)
    vel[5:15, 0] = 10.0
    vel[5, 0] = 5000.0  # ... with a spurious spike where the run starts
    table = AngleTable(times=times, names=("x",), values=values, velocity=vel, acceleration=vel * 0)
    assert peak_velocity(table)["x"] == pytest.approx(10.0)
    vel[10, 0] = 300.0  # a real peak inside the run is kept
    assert peak_velocity(table)["x"] == pytest.approx(300.0)
