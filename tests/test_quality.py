"""Learned movement-quality models (issue 7): features, LOSO honesty, training, saving, applying, CLI."""
from __future__ import annotations

import importlib
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sportlens.assess.deviations import Deviation
from sportlens.assess.loso import (
    angle_features, evaluate_loso, logistic_baseline, loso_splits, quality_classifier, quality_featurize,
)
from sportlens.assess.quality import (
    STATS, SUMMARY_VIEWS, VIEWS, QualitySettings, ViewEnsemble, _summary, apply_quality_model, body_layout,
    bone_directions, features_with_moments, harmonic_features, resample_frames,
    feature_matrix, feature_view, feature_views, left_right_differences, load_labelled_recordings,
    load_quality_model, make_estimator,
    canonical_side, mirror_body, normalize_positions, peak_share, quality_features, save_quality_model, side_motion,
    subject_offsets, subject_shift, swap_sides, train_quality_model,
)
from sportlens.cli import app
from sportlens.data.ui_prmd import KINECT22_JOINTS, QualitySample
from sportlens.errors import InputError
from sportlens.skeletons import get_skeleton
from sportlens.types import AngleTable, PoseTrack

from conftest import shared_path

importlib.import_module("sportlens.cli.quality")  # registers eval quality / train-quality

FAST = QualitySettings(n_trees=40, rocket_features=840, seq_frames=32)  # small MiniRocket: fast tests


# ----------------------------------------------------------------------------- generated data
def _kinect_pose(depth: float, lean: float, scale: float, offset: np.ndarray) -> np.ndarray:
    """(22, 3) a crude standing/squatting Kinect skeleton: ``depth`` lowers the hips, ``lean`` the trunk."""
    p = np.zeros((22, 3))
    p[0] = [0, 90 - depth, 0]
    for j, dy in ((1, 25), (2, 50), (3, 60), (4, 70), (5, 80)):
        p[j] = p[0] + [lean * dy / 80, dy, 0]
    for side, sx in ((6, 1), (10, -1)):  # collars, arms hanging
        p[side] = p[2] + [8 * sx, 0, 0]
        for k in range(1, 4):
            p[side + k] = p[side] + [4 * sx, -25 * k, 0]
    for hip, sx in ((14, 1), (18, -1)):
        p[hip] = p[0] + [10 * sx, 0, 0]
        p[hip + 1] = p[hip] + [0, -(45 - depth / 2), depth / 2]  # knee forward as hips drop
        p[hip + 2] = [p[hip][0], 8, 0]
        p[hip + 3] = p[hip + 2] + [0, 0, 12]
    return p * scale + offset


def _rep(subject: int, correct: bool, rng, frames: int = 30) -> QualitySample:
    """A squat repetition: correct ones go deep with an upright trunk, incorrect ones stay shallow and lean."""
    scale = 0.8 + 0.1 * subject + rng.normal(0, 0.02)
    offset = np.array([rng.normal(0, 30), 0, -235 + rng.normal(0, 20)])
    depth_max = (40 if correct else 22) + rng.normal(0, 3)
    lean_max = (3 if correct else 15) + rng.normal(0, 2)
    phase = np.sin(np.linspace(0, np.pi, frames))  # down and up
    pos = np.stack([_kinect_pose(depth_max * f, lean_max * f, scale, offset) for f in phase])
    pos += rng.normal(0, 0.3, pos.shape)
    ang = rng.normal(0, 1, (frames, 22, 3))
    ang[:, 15, 0] += 90 * phase * depth_max / 40  # knee flexion channel
    return QualitySample(1, subject, 0, correct, pos.astype(np.float32), ang.astype(np.float32))


def _dataset(subjects=(1, 2, 3, 4, 5), per_class=6, movements=(1,), seed=0) -> list[QualitySample]:
    rng = np.random.default_rng(seed)
    out = []
    for mv in movements:
        for s in subjects:
            for k in range(per_class):
                for c in (True, False):
                    r = _rep(s, c, rng)
                    r.movement, r.episode = mv, k + 1
                    out.append(r)
    return out


# ----------------------------------------------------------------------------- features on exact inputs
def test_summary_statistics_exact():
    z = np.array([[0.0], [1.0], [2.0]])
    mean, std, mn, mx, p10, p50, p90, speed = _summary(z)
    assert (mean, mn, mx, p50, speed) == (1.0, 0.0, 2.0, 1.0, 1.0)
    assert std == pytest.approx(np.sqrt(2 / 3)) and p10 == pytest.approx(0.2) and p90 == pytest.approx(1.8)
    assert len(STATS) == 8


def test_body_frame_centres_turns_and_scales():
    lay = body_layout("kinect22")
    p = np.zeros((2, 22, 3))
    p[:, 0] = [5, 1, 7]  # waist
    p[:, 2] = [5, 3, 7]  # chest 2 above: torso length 2
    p[:, 14] = [5, 1, 8]  # left hip at +z, right hip at -z: hip line (right - left) along -z
    p[:, 18] = [5, 1, 6]
    n = normalize_positions(p, lay)
    assert np.allclose(n[:, 0], 0) and np.allclose(n[:, 2], [0, 1, 0])
    assert np.allclose(n[0, 18] - n[0, 14], [1, 0, 0])  # turned: hip line along +x, half a torso apart
    # 2-D layouts: mid-hip origin, mid-shoulder distance as unit, no rotation
    sk = get_skeleton("penn13")
    q = np.zeros((1, sk.num_joints, 2))
    q[0, sk.index("left_hip")], q[0, sk.index("right_hip")] = [2, 4], [4, 4]
    q[0, sk.index("left_shoulder")], q[0, sk.index("right_shoulder")] = [2, 0], [4, 0]
    m = normalize_positions(q, body_layout("penn13"))
    assert np.allclose(m[0, sk.index("right_hip")], [0.25, 0]) and np.allclose(m[0, sk.index("left_shoulder")],
                                                                                [-0.25, -1])


def test_quality_features_are_start_relative_with_duration():
    rng = np.random.default_rng(1)
    s = _rep(1, True, rng, frames=20)
    chan = QualitySettings(start_frames=1, views=("channels",))
    x, names = quality_features(s, chan)
    assert len(x) == len(names) == len(STATS) * (22 * 3 + 22 * 3) + 1
    assert names[-1] == "duration s" and x[-1] == pytest.approx(20 / 30)
    assert names[0] == "mean waist position x from start" and f"max {KINECT22_JOINTS[15]} angle x from start" in names
    # shifting and scaling the whole subject does not change any feature, in any view
    moved = QualitySample(1, 1, 0, True, s.positions * 1.3 + np.array([40, 5, -20], np.float32), s.angles)
    assert np.allclose(quality_features(moved, chan)[0], x, atol=1e-5)
    full = QualitySettings(start_frames=1)
    fm, fs = quality_features(moved, full)[0], quality_features(s, full)[0]
    # harmonic phases of nearly still channels (a hanging hand) feel the float32 rounding of the moved copy
    phase = np.array([" phase " in n for n in quality_features(s, full)[1]])
    assert np.allclose(fm[~phase], fs[~phase], atol=1e-4) and np.allclose(fm[phase], fs[phase], atol=1e-3)
    no_ang, names2 = quality_features(s, QualitySettings(use_angles=False, views=("channels",)))
    assert len(names2) == len(STATS) * 66 + 1 and not any(" angle " in n for n in names2)
    seg, names3 = quality_features(s, QualitySettings(segments=2, views=("channels",)))
    assert len(seg) == len(x) + 2 * 132 and names3[-2].startswith("segment 2/2 mean")


def test_default_views_layout_and_split():
    s = _rep(1, True, np.random.default_rng(2), frames=12)
    x, names = quality_features(s, QualitySettings(views=SUMMARY_VIEWS))
    assert QualitySettings().views == VIEWS == SUMMARY_VIEWS + ("harmonics", "sequence")
    n_chan, n_bones, n_shape = len(STATS) * 132, len(STATS) * 21 * 3, len(STATS) * 132 + 2
    n_sym = 2 * len(STATS) * 8 * (3 + 3)  # 8 left/right pairs, positions and angles, as they are and from start
    assert len(x) == len(names) == n_chan + n_bones + n_shape + n_sym + 1 and names[-1] == "duration s"
    views = feature_views(names)
    assert [len(views[v]) for v in ("channels", "bones", "shape", "symmetry")] == [
        n_chan + 1, n_bones + 1, n_shape + 1, n_sym + 1]
    assert all(views[v][-1] == len(names) - 1 for v in views)  # the duration is shared
    assert "mean waist-spine direction y from start" in names and "peak angle change from start" in names
    assert "max left_hand minus right_hand position x from start" in names
    assert {feature_view(n) for n in names} == {"channels", "bones", "shape", "symmetry", "all"}
    # the default adds the harmonics (5 amplitudes, 2 phases as cos and sin) of positions, angles and left/right
    # differences, and the sequence view: 64 resampled frames of positions, angles, left/right, bones
    x2, names2 = quality_features(s)
    n_harm, n_seq = (5 + 2 * 2) * (66 + 66 + 24), 64 * (66 + 66 + 24 + 63)
    assert len(x2) == len(x) + n_harm + n_seq and names2[:len(names) - 1] == names[:-1]
    views2 = feature_views(names2)
    assert len(views2["harmonics"]) == n_harm + 1 and len(views2["sequence"]) == n_seq  # no duration for MiniRocket
    assert "harmonic 2 amplitude left_lower_leg minus right_lower_leg position y" in names2
    assert "harmonic 1 phase sin waist position x" in names2
    assert names2[views2["sequence"][0]] == "waist position x from start at resampled frame 1/64"
    assert names2[views2["sequence"][-1]] == "right_foot-right_toes direction z from start at resampled frame 64/64"
    # settings order decides the view order; lists (from JSON) are accepted
    y, names2 = quality_features(s, QualitySettings(views=["shape", "bones"]))
    assert names2[0].endswith("share of peak") and len(y) == n_shape + n_bones + 1
    with pytest.raises(ValueError):
        QualitySettings(views=("channels", "speed"))
    with pytest.raises(ValueError):
        QualitySettings(views=())


def test_resample_frames_exact():
    z = np.array([[0.0, 10.0], [2.0, 10.0], [4.0, 0.0]])  # (T=3, K=2)
    assert np.allclose(resample_frames(z, 5), [[0, 10], [1, 10], [2, 10], [3, 5], [4, 0]])
    assert np.allclose(resample_frames(z[:2], 3), [[0, 10], [1, 10], [2, 10]])


def test_harmonic_features_exact_tempo_and_offset_free():
    t = np.arange(8) / 8
    z = np.stack([np.cos(2 * np.pi * t), 3 * np.sin(2 * np.pi * 2 * t) + 7], axis=1)  # (8, 2)
    f = harmonic_features(z, 3, 1)  # amplitudes of harmonics 1-3 (harmonic-major), cos and sin of phase 1
    assert f.shape == (3 * 2 + 2 * 2,)
    assert np.allclose(f[:6], [0.5, 0, 0, 1.5, 0, 0], atol=1e-12)  # |rfft| / T: half the oscillation's size
    # cos then sin of phase 1 per channel: the cosine's phase is 0; the second channel has no harmonic 1 (0, 0)
    assert np.allclose(f[6:], [1, 0, 0, 0], atol=1e-12)
    # the same shape at another tempo (16 frames) and with another offset: the same features
    t2 = np.arange(16) / 16
    z2 = np.stack([np.cos(2 * np.pi * t2) - 4, 3 * np.sin(2 * np.pi * 2 * t2)], axis=1)
    assert np.allclose(harmonic_features(z2, 3, 1)[:6], f[:6], atol=1e-12)


def test_minirocket_dilations_and_kernel_output_exact():
    from sportlens.assess.rocket import KERNELS, dilations, kernel_output

    assert len(KERNELS) == 84 and tuple(KERNELS[0]) == (0, 1, 2)
    dil, per = dilations(64, 10_000)
    assert dil.tolist() == [1, 2, 3, 4, 5, 6, 7] and per.sum() == 10_000 // 84
    assert dilations(9, 840)[0].tolist() == [1]  # (L - 1) / 8 = 1: no room for a wider kernel
    x = np.zeros((1, 11))
    x[0, 5] = 1.0  # an impulse: -1 wherever it is under the kernel, +2 under its three weight-2 taps
    assert kernel_output(x, 1, 0)[0].tolist() == [0, -1, -1, -1, -1, -1, -1, 2, 2, 2, 0]
    # dilation 2: taps at t-8, t-6, ..., t+8; the impulse is under tap k (weight 2 for k < 3) at t = 13 - 2k
    assert kernel_output(x, 2, 0)[0].tolist() == [0, -1, 0, -1, 0, -1, 0, -1, 0, 2, 0]


def test_minirocket_is_deterministic_and_gives_proportions():
    from sportlens.assess.rocket import MiniRocket

    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 20, 4))  # (N, L, C)
    f1 = MiniRocket(840, seed=3).fit(x).transform(x)
    f2 = MiniRocket(840, seed=3).fit(x).transform(x)
    assert f1.shape == (6, 840) and np.array_equal(f1, f2) and ((f1 >= 0) & (f1 <= 1)).all()
    assert not np.array_equal(MiniRocket(840, seed=4).fit(x).transform(x), f1)
    # one sequence's features depend on that sequence only (and the fitted kernels)
    r = MiniRocket(840, seed=3).fit(x)
    assert np.array_equal(r.transform(x[2:3]), r.transform(x)[2:3])


def test_rocket_learner_learns_generated_sequences():
    from sportlens.assess.rocket import RocketLearner

    rng = np.random.default_rng(1)
    t = np.linspace(0, 1, 32)

    def seq(bad: bool) -> np.ndarray:  # (32, 3): a dip, late and shallow for the bad ones, plus noise
        centre, depth = (0.65, 0.6) if bad else (0.5, 1.0)
        dip = -depth * np.exp(-((t - centre) / 0.12) ** 2)
        return np.stack([dip, 0.5 * dip, rng.normal(0, 1, 32)], axis=1) + rng.normal(0, 0.1, (32, 3))

    y = np.array([0, 1] * 30)
    x = np.stack([seq(not v).ravel() for v in y])  # frame-major, as the sequence view
    est = RocketLearner(32, n_features=840).fit(x[:40], y[:40])
    p = est.predict_proba(x[40:])[:, 1]
    assert ((p >= 0.5) == y[40:]).mean() >= 0.9 and np.allclose(est.predict_proba(x[40:]).sum(1), 1)
    # two MiniRockets (seeds 0 and 1), probabilities averaged
    seq = x[40:].reshape(20, 32, 3) / est.scale_
    parts = [m.predict_proba(sc.transform(r.transform(seq)))[:, 1] for r, sc, m in est.parts_]
    assert len(parts) == 2 and np.allclose(p, np.mean(parts, axis=0)) and est.parts_[1][0].seed == 1
    reg = RocketLearner(32, n_features=840, regression=True).fit(x[:40], y[:40].astype(float))
    assert np.corrcoef(reg.predict(x[40:]), y[40:])[0, 1] > 0.8
    with pytest.raises(ValueError):
        est.predict_proba(x[:, :-1])


def _chain(directions: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(T, 22, 3) Kinect positions built from per-bone unit directions (T, 21, 3) and lengths (21,)."""
    pos = np.zeros((len(directions), 22, 3))
    for b, (a, j) in enumerate(body_layout("kinect22").bones):
        pos[:, j] = pos[:, a] + lengths[b] * directions[:, b]
    return pos


def test_bone_directions_exact_and_independent_of_limb_lengths():
    lay = body_layout("kinect22")
    assert len(lay.bones) == 21 and lay.bones[0] == (0, 1) and (14, 15) in lay.bones
    p = np.zeros((1, 22, 3))
    p[0, 1] = [0, 3, 0]  # spine straight up, 3 long
    p[0, 15] = p[0, 14] + [3, 0, 4]  # thigh 5 long
    d = bone_directions(p, lay)
    assert np.allclose(d[0, lay.bones.index((0, 1))], [0, 1, 0])
    assert np.allclose(d[0, lay.bones.index((14, 15))], [0.6, 0, 0.8])
    assert np.allclose(d[0, lay.bones.index((1, 2))], [0, -1, 0])
    assert np.allclose(d[0, lay.bones.index((2, 3))], 0)  # zero-length bone: zero vector
    # the same movement (bone directions over time) by a subject with other limb proportions
    rng = np.random.default_rng(5)
    frames = 15
    base = rng.normal(size=(21, 3))
    wobble = rng.normal(scale=0.3, size=(frames, 21, 3)) * np.sin(np.linspace(0, np.pi, frames))[:, None, None]
    dirs = base + wobble
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    hips = [lay.bones.index((0, 14)), lay.bones.index((0, 18))]
    dirs[:, hips] = [[1.0, 0, 0], [-1.0, 0, 0]]  # a level hip line: the body frame's facing is the same
    short, long_ = rng.uniform(5, 10, 21), rng.uniform(10, 40, 21)
    short[hips], long_[hips] = 8.0, 12.0
    s1 = QualitySample(1, 1, 0, True, _chain(dirs, short), None)
    s2 = QualitySample(1, 2, 0, True, _chain(dirs, long_), None)
    bones_only = QualitySettings(views=("bones",))
    x1, names = quality_features(s1, bones_only)
    assert np.allclose(x1, quality_features(s2, bones_only)[0], atol=1e-9)
    chan = QualitySettings(views=("channels",))
    assert not np.allclose(quality_features(s1, chan)[0], quality_features(s2, chan)[0], atol=1e-3)


def test_shape_view_divides_by_the_recordings_own_peak():
    z = np.array([[0.0, 0.0], [3.0, 4.0], [1.5, 2.0]])
    share, amp = peak_share(z, per_frame_norm=True)
    assert amp == 5.0 and np.allclose(share, z / 5)
    share, amp = peak_share(z, per_frame_norm=False)
    assert amp == 4.0 and np.allclose(share, z / 4)
    assert peak_share(np.zeros((3, 2)), True)[1] == 0.0
    # the same movement at twice the amplitude: identical shares, doubled peaks
    rng = np.random.default_rng(3)
    frames = 20
    start = _kinect_pose(0, 0, 1.0, np.zeros(3))
    motion = np.zeros((frames, 22, 3))
    phase = np.sin(np.linspace(0, np.pi, frames))
    motion[:, 7:10] = phase[:, None, None] * rng.normal(size=(3, 3))  # the left arm moves, torso and hips stay
    ang0, ang_motion = rng.normal(size=(22, 3)), phase[:, None, None] * rng.normal(size=(22, 3))
    small = QualitySample(1, 1, 0, True, start + 10 * motion, ang0 + 5 * ang_motion)
    big = QualitySample(1, 1, 0, True, start + 20 * motion, ang0 + 10 * ang_motion)
    shape = QualitySettings(views=("shape",), start_frames=1)  # the first frame is the start pose
    xs, names = quality_features(small, shape)
    xb = quality_features(big, shape)[0]
    peaks = [names.index("peak position change from start"), names.index("peak angle change from start")]
    rest = np.setdiff1d(np.arange(len(names)), peaks)
    assert np.allclose(xs[rest], xb[rest], atol=1e-9) and np.allclose(xb[peaks], 2 * xs[peaks])
    torso = np.linalg.norm(start[2] - start[0])
    assert xs[peaks[0]] == pytest.approx(10 * np.linalg.norm(motion, axis=(1, 2)).max() / torso)


def test_symmetry_view_compares_each_left_joint_with_its_mirrored_right_partner():
    lay = body_layout("kinect22")
    assert len(lay.pairs) == 8 and (14, 18) in lay.pairs and (9, 13) in lay.pairs
    assert [len(body_layout(n).pairs) for n in ("penn13", "coco17")] == [6, 8]
    p = np.zeros((1, 22, 3))
    p[0, 9], p[0, 13] = [2, 1, 0.5], [-2, 1, 0.5]  # hands mirror images of each other
    p[0, 16], p[0, 20] = [1, -3, 0], [-1, -2, 0.3]  # right foot 1 higher and 0.3 further forward
    d = left_right_differences(p, lay)
    assert np.allclose(d[0, lay.pairs.index((9, 13))], 0)
    assert np.allclose(d[0, lay.pairs.index((16, 20))], [0, -1, -0.3])
    # a symmetric squat has all-zero position differences; raising one arm shows only in that arm's pairs
    frames = 10
    pos = np.stack([_kinect_pose(30 * f, 0, 1.0, np.zeros(3)) for f in np.sin(np.linspace(0, np.pi, frames))])
    sym = QualitySettings(views=("symmetry",), start_frames=1, canonical_side=False)  # sides as recorded
    s = QualitySample(1, 1, 0, True, pos, np.zeros((frames, 22, 3)))
    x, names = quality_features(s, sym)
    assert np.allclose(x[:-1], 0, atol=1e-9)
    raised = pos.copy()
    raised[:, 9] += np.linspace(0, 25, frames)[:, None] * [0, 1, 0]  # the left hand rises by 25 cm = 0.5 torso
    x2, _ = quality_features(QualitySample(1, 1, 0, True, raised, np.zeros((frames, 22, 3))), sym)
    moved = {n for n, v in zip(names, x2) if abs(v) > 1e-9} - {"duration s"}
    assert moved and all(n.split(" minus ")[0].split()[-1] == "left_hand" and " position y" in n for n in moved)
    assert x2[names.index("max left_hand minus right_hand position y from start")] == pytest.approx(0.5)


def test_view_ensemble_averages_its_members():
    samples = _dataset(subjects=(1, 2, 3), per_class=4)
    x, names = feature_matrix(samples, FAST)
    y = np.array([s.label for s in samples])
    est = make_estimator(FAST, feature_names=names)
    assert isinstance(est, ViewEnsemble) and set(est.columns) == set(VIEWS)
    est.fit(x, y)
    assert type(est.members["sequence"]).__name__ == "RocketLearner"
    p = est.predict_proba(x)
    out = {v: m.predict_proba(x[:, est.columns[v]]) for v, m in est.members.items()}
    summary = np.mean([out[v] for v in SUMMARY_VIEWS], axis=0)  # the four summary views count as one member
    assert np.allclose(p, (summary + out["harmonics"] + out["sequence"]) / 3) and np.allclose(p.sum(1), 1)
    assert (est.predict(x) == est.classes_[p.argmax(1)]).all()
    # one view, or no names: a plain ExtraTrees; logistic: one pipeline on all columns
    assert not isinstance(make_estimator(FAST), ViewEnsemble)
    assert not isinstance(make_estimator(QualitySettings(model="logistic"), feature_names=names), ViewEnsemble)
    with pytest.raises(ValueError):
        est.fit(x[:, :-1], y)


def _arm_raise(side: str, frames: int = 20) -> np.ndarray:
    """(T, 22, 3) Kinect skeleton standing still but for one hand rising sideways."""
    base = _kinect_pose(0.0, 0.0, 1.0, np.zeros(3))
    hand = KINECT22_JOINTS.index(f"{side}_hand")
    out = np.repeat(base[None], frames, axis=0)
    out[:, hand, 1] += np.linspace(0, 40, frames)  # up by 40 cm
    return out


def test_canonical_side_mirrors_a_left_sided_movement_onto_the_right_exactly():
    layout = body_layout("kinect22")
    left = normalize_positions(_arm_raise("left"), layout)
    right = normalize_positions(_arm_raise("right"), layout)
    lm, rm = side_motion(left, layout)
    assert lm > 0 and rm == pytest.approx(0.0, abs=1e-9)  # only the left hand moves
    canon, mirrored = canonical_side(left, layout)
    assert mirrored and np.allclose(canon, right, atol=1e-9)  # the skeleton is symmetric: its mirror is itself
    same, m2 = canonical_side(right, layout)
    assert not m2 and same is right
    # mirroring twice gives the input back; the right hip stays at +x
    assert np.allclose(mirror_body(mirror_body(left, layout), layout), left)
    rh = KINECT22_JOINTS.index("right_upper_leg")
    assert (mirror_body(left, layout)[:, rh, 0] > 0).all() and (left[:, rh, 0] > 0).all()


def test_canonical_side_makes_left_and_right_repetitions_give_the_same_features():
    angles = np.zeros((20, 22, 3))
    l_hand, r_hand = KINECT22_JOINTS.index("left_hand"), KINECT22_JOINTS.index("right_hand")
    a_left = angles.copy()
    a_left[:, l_hand, 0] = np.linspace(0, 30, 20)
    a_right = angles.copy()
    a_right[:, r_hand, 0] = np.linspace(0, 30, 20)
    s_left = QualitySample(7, 1, 1, True, _arm_raise("left").astype(np.float32), a_left.astype(np.float32))
    s_right = QualitySample(7, 2, 1, True, _arm_raise("right").astype(np.float32), a_right.astype(np.float32))
    xl, names = quality_features(s_left, FAST)
    xr, _ = quality_features(s_right, FAST)
    assert np.allclose(xl, xr, atol=1e-6)  # angles swapped with their joints, positions mirrored
    off = QualitySettings(n_trees=40, rocket_features=840, seq_frames=32, canonical_side=False)
    assert not np.allclose(quality_features(s_left, off)[0], quality_features(s_right, off)[0], atol=1e-6)
    assert swap_sides("left_hand minus right_hand position x") == "right_hand minus left_hand position x"


def test_subject_shift_moves_copies_between_subject_offsets_exactly():
    # subject a: correct rows at 0, incorrect at 2 (3 incorrect, 1 correct: the offset is the mean of the
    # two label means, 1, not the plain mean 1.5); subject b: everything at 10 (one label only: plain mean)
    x = np.array([[0.0], [2.0], [2.0], [2.0], [10.0], [10.0]])
    y = np.array([1, 0, 0, 0, 1, 1])
    g = ["a", "a", "a", "a", "b", "b"]
    off = subject_offsets(x, y, np.array(g), regression=False)
    assert off["a"] == pytest.approx([1.0]) and off["b"] == pytest.approx([10.0])
    xa, ya = subject_shift(x, y, g, copies=3, alpha=1.0, rng=np.random.default_rng(0))
    assert xa.shape == (24, 1) and (ya == np.tile(y, 4)).all() and (xa[:6] == x).all()
    move = (xa[6:] - np.tile(x, (3, 1)))[:, 0]  # a's rows move toward b by a share of 9, b's toward a by 9
    frac = move / np.tile(np.where(np.array(g) == "a", 9.0, -9.0), 3)
    assert (frac >= 0).all() and (frac <= 1).all() and frac.std() > 0.1
    xh, _ = subject_shift(x, y, g, copies=2, alpha=0.5, rng=np.random.default_rng(1))
    assert (np.abs(xh[6:] - np.tile(x, (2, 1))) <= 4.5 + 1e-12).all()
    one, _ = subject_shift(x, y, ["a"] * 6, copies=2, alpha=1.0, rng=np.random.default_rng(0))
    assert one.shape == x.shape  # one subject: nothing to shift toward
    assert (subject_shift(x, y, g, copies=0, alpha=1.0, rng=np.random.default_rng(0))[0] == x).all()


def test_view_ensemble_trains_tree_views_on_shifted_copies_when_given_subjects():
    samples = _dataset(subjects=(1, 2, 3), per_class=4)
    x, names = feature_matrix(samples, FAST)
    y = np.array([s.label for s in samples])
    groups = [s.subject for s in samples]
    est = make_estimator(FAST, feature_names=names).fit(x, y, groups=groups)
    rows = {v: m.estimators_[0].tree_.weighted_n_node_samples[0] for v, m in est.members.items() if v != "sequence"}
    assert set(rows) == set(VIEWS) - {"sequence"}
    # ExtraTrees without bootstrap: every tree sees every row, (1 + subject_shift) x the recordings
    assert all(n == len(x) * (1 + FAST.subject_shift) for n in rows.values())
    plain = make_estimator(FAST, feature_names=names).fit(x, y)  # no subjects: no copies
    assert plain.members["channels"].estimators_[0].tree_.weighted_n_node_samples[0] == len(x)
    off = make_estimator(QualitySettings(n_trees=40, rocket_features=840, seq_frames=32, subject_shift=0),
                         feature_names=names).fit(x, y, groups=groups)
    assert off.members["bones"].estimators_[0].tree_.weighted_n_node_samples[0] == len(x)
    with pytest.raises(ValueError):
        QualitySettings(subject_shift=-1)


# ----------------------------------------------------------------------------- LOSO honesty
def test_loso_never_trains_on_the_held_out_subject():
    samples = _dataset(subjects=(1, 2, 3, 4), per_class=2)
    seen: list[tuple[set, set]] = []

    class Spy:
        def fit(self, x, y):
            self.train_subjects = set(x[:, 0].astype(int))
            return self

        def predict_proba(self, x):
            seen.append((self.train_subjects, set(x[:, 0].astype(int))))
            return np.tile([0.5, 0.5], (len(x), 1))

    res = evaluate_loso(samples, Spy, lambda s: np.array([s.subject, s.label], float))
    assert len(seen) == 4
    for train, test in seen:
        assert len(test) == 1 and not (train & test) and len(train) == 3
    assert all(len(v) == len(samples) for v in res.predictions.values())

    class GroupSpy(Spy):  # a learner that takes subjects gets the training rows' subjects only
        accepts_groups = True

        def fit(self, x, y, groups=None):
            assert [int(g) for g in groups] == list(x[:, 0].astype(int))
            return super().fit(x, y)

    seen.clear()
    evaluate_loso(samples, GroupSpy, lambda s: np.array([s.subject, s.label], float))
    assert len(seen) == 4 and all(not (train & test) for train, test in seen)
    for s, tr, te in loso_splits(["a", "b", "a", "c"]):
        assert s not in {["a", "b", "a", "c"][i] for i in tr}


# ----------------------------------------------------------------------------- learning a real signal
def test_model_learns_generated_correct_incorrect_signal():
    samples = _dataset()
    res = evaluate_loso(samples, quality_classifier(FAST), quality_featurize(FAST))
    assert res.mean_accuracy >= 0.9 and res.mean_auc >= 0.95
    # the labels carry the signal: shuffled labels drop to chance
    rng = np.random.default_rng(0)
    for s, flip in zip(samples, rng.permutation([True, False] * (len(samples) // 2))):
        s.correct = bool(flip)
    shuffled = evaluate_loso(samples, quality_classifier(FAST), quality_featurize(FAST))
    assert shuffled.mean_auc < 0.8


def test_logistic_setting_and_baseline_run():
    samples = _dataset(subjects=(1, 2, 3), per_class=4)
    res = evaluate_loso(samples, quality_classifier(QualitySettings(model="logistic")),
                        quality_featurize(QualitySettings()))
    assert res.mean_accuracy >= 0.9
    assert 0 <= evaluate_loso(samples, logistic_baseline, angle_features).mean_accuracy <= 1


# ----------------------------------------------------------------------------- saving and applying
def test_train_save_load_apply_with_deviations(tmp_path):
    samples = _dataset(subjects=(1, 2, 3, 4), per_class=5)
    model = train_quality_model(samples, FAST, trained_on="generated")
    path = save_quality_model(model, tmp_path / "q.pkl")
    loaded = load_quality_model(path)
    assert loaded.task == "classification" and list(loaded.movements) == ["1"]
    rng = np.random.default_rng(7)
    good = apply_quality_model(path, _rep(6, True, rng))
    bad = apply_quality_model(path, _rep(6, False, rng))
    assert good.score > 70 > 30 > bad.score
    assert bad.deviations and all(isinstance(d, Deviation) and d.severity >= 1 for d in bad.deviations)
    assert not any("resampled frame" in d.quantity or " phase " in d.quantity for d in bad.deviations)
    assert [d.severity for d in bad.deviations] == sorted((d.severity for d in bad.deviations), reverse=True)
    assert json.dumps(bad.to_dict())


def test_feature_moments_point_at_the_frame_a_statistic_is_about():
    rep = _rep(1, True, np.random.default_rng(0), frames=31)  # deepest at frame 15 (sin phase)
    x, names, moments = features_with_moments(rep)
    assert len(moments) == len(names) == len(x) and np.allclose(x, quality_features(rep)[0])
    knee = names.index("max left_lower_leg angle x from start")  # the knee channel peaks at the bottom
    assert abs(moments[knee] - 15) <= 1
    assert moments[names.index("mean left_lower_leg angle x from start")] == -1 and moments[-1] == -1
    assert ((moments >= -1) & (moments < 31)).all()


def test_learned_deviations_carry_the_moment_in_the_video_time():
    model = train_quality_model(_dataset(subjects=(1, 2, 3, 4), per_class=5), FAST)
    bad = _rep(6, False, np.random.default_rng(7), frames=31)
    base = apply_quality_model(model, bad)
    assert base.deviations and all(0 <= d.time_s <= 30 / bad.fps for d in base.deviations)
    assert len({round(d.time_s, 3) for d in base.deviations}) >= 1
    # a track starting 12 s into the video: the same rows, 12 s later
    from sportlens.assess.quality import _deviations
    x, names, moments = features_with_moments(bad, model.settings)
    key, entry = model.entry(None)
    later = _deviations(x, entry, bad.fps, 31, 5, moments, t0=12.0)
    assert [round(d.time_s - 12.0, 6) for d in later] == [round(d.time_s, 6) for d in base.deviations]


def test_format_1_models_are_refused_with_a_retrain_message(tmp_path):
    import pickle

    path = tmp_path / "old.pkl"
    path.write_bytes(pickle.dumps({"format": 1, "kind": "sportlens-quality-model", "settings": {}}))
    with pytest.raises(InputError, match="re-train"):
        load_quality_model(path)


def test_files_from_before_canonical_side_keep_the_recordings_as_they_were(tmp_path):
    import pickle

    samples = _dataset(subjects=(1, 2), per_class=3)
    path = save_quality_model(train_quality_model(samples, FAST), tmp_path / "q.pkl")
    blob = pickle.loads(path.read_bytes())
    assert blob["settings"]["canonical_side"] is True  # written by this version: kept
    assert load_quality_model(path).settings.canonical_side
    del blob["settings"]["canonical_side"], blob["settings"]["canonical_ratio"]
    path.write_bytes(pickle.dumps(blob))  # as an older version wrote it
    assert not load_quality_model(path).settings.canonical_side


def test_feedback_on_a_mirrored_recording_names_the_athletes_own_side():
    rng = np.random.default_rng(3)
    train = [QualitySample(7, s, k, True, _arm_raise("right").astype(np.float32) + rng.normal(0, 0.3, (20, 22, 3)),
                           None) for s in (1, 2) for k in range(4)]
    train += [QualitySample(7, s, k, False, _arm_raise("right").astype(np.float32) * np.float32(1.02)
                            + rng.normal(0, 0.3, (20, 22, 3)), None) for s in (1, 2) for k in range(4)]
    model = train_quality_model(train, QualitySettings(n_trees=20, rocket_features=840, seq_frames=32,
                                                       views=("channels",)))
    lifted = _arm_raise("left").astype(np.float32)
    lifted[:, KINECT22_JOINTS.index("left_hand"), 1] += np.linspace(0, 30, 20).astype(np.float32)  # higher
    res = apply_quality_model(model, QualitySample(7, 9, 1, True, lifted, None))
    hand = [d.quantity for d in res.deviations if "hand" in d.quantity]
    assert hand and all("left_hand" in q for q in hand)  # the athlete's left hand, though scored as a right one


def test_regression_on_scores():
    samples = _dataset(subjects=(1, 2, 3), per_class=4)
    for s in samples:
        s.score = 8.0 if s.correct else 3.0
    model = train_quality_model(samples, FAST)
    assert model.task == "regression"
    rng = np.random.default_rng(3)
    assert apply_quality_model(model, _rep(5, True, rng)).score > apply_quality_model(model, _rep(5, False, rng)).score


# ----------------------------------------------------------------------------- a user's own recordings
def _write_folder(root, n_subjects=3, per_class=4, label_kind="words"):
    """penn13 2-D clips: correct = deep knee bend, incorrect = shallow; labels.csv as the docs say."""
    sk = get_skeleton("penn13")
    rng = np.random.default_rng(0)
    rows = []
    for s in range(n_subjects):
        for k in range(per_class):
            for correct in (True, False):
                depth = (60 if correct else 25) + rng.normal(0, 4)
                f = np.sin(np.linspace(0, np.pi, 24))[:, None]
                kp = np.zeros((24, sk.num_joints, 2))
                base = {"head": (0, -170), "left_shoulder": (-20, -140), "right_shoulder": (20, -140),
                        "left_elbow": (-25, -110), "right_elbow": (25, -110), "left_wrist": (-25, -80),
                        "right_wrist": (25, -80), "left_hip": (-12, -90), "right_hip": (12, -90),
                        "left_knee": (-12, -45), "right_knee": (12, -45), "left_ankle": (-12, 0),
                        "right_ankle": (12, 0)}
                for name, (x, y) in base.items():
                    drop = 0 if "ankle" in name else (depth if "knee" not in name else depth / 2)
                    kp[:, sk.index(name)] = np.column_stack([np.full(24, x), y + drop * f[:, 0]])
                kp = kp * (1 + 0.1 * s) + [300 + 20 * s, 400] + rng.normal(0, 0.5, kp.shape)
                name = f"s{s}_{k}_{int(correct)}"
                np.savez(root / f"{name}.npz", keypoints=kp, visibility=np.ones(kp.shape[:2], bool),
                         times=np.arange(24) / 30.0, skeleton=np.array("penn13"))
                label = ("correct" if correct else "incorrect") if label_kind == "words" else str(9 if correct else 2)
                rows.append({"clip": name, "label": label, "subject": f"p{s}", "movement": "squat"})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    return root


def test_generic_folder_train_and_apply_to_track(tmp_path):
    folder = _write_folder(tmp_path)
    samples = load_labelled_recordings(folder)
    assert len(samples) == 24 and {s.subject for s in samples} == {"p0", "p1", "p2"}
    assert samples[0].skeleton == "penn13" and samples[0].angles is None and samples[0].score is None
    res = evaluate_loso(samples, quality_classifier(FAST), quality_featurize(FAST))
    assert res.mean_accuracy >= 0.9 and "| squat |" in res.table()
    model = train_quality_model(samples, FAST)
    clip = np.load(folder / "s1_0_0.npz")
    track = PoseTrack(clip["keypoints"], np.ones(clip["keypoints"].shape[:2]), clip["times"], "penn13")
    assert apply_quality_model(model, track).score < 50
    (tmp_path / "scores").mkdir()
    scored = load_labelled_recordings(_write_folder(tmp_path / "scores", label_kind="scores"))
    assert {s.score for s in scored} == {9.0, 2.0} and all(s.correct == (s.score == 9.0) for s in scored)


def test_cli_train_and_eval_on_folder(tmp_path):
    folder = _write_folder(tmp_path)
    runner = CliRunner()
    out = tmp_path / "m.pkl"
    r = runner.invoke(app, ["train-quality", "--dataset", "folder", "--data", str(folder), "--out", str(out),
                            "--trees", "30"])
    assert r.exit_code == 0, r.output
    assert load_quality_model(out).movements["squat"]["n_train"] == 24
    r = runner.invoke(app, ["eval", "quality", "--dataset", "folder", "--data", str(folder), "--trees", "30",
                            "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["learned"]["mean_accuracy"] >= 0.9 and "dtw_baseline" not in res
    r = runner.invoke(app, ["eval", "quality", "--dataset", "nope", "--data", str(folder)])
    assert r.exit_code == 2 and "--dataset" in r.output


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs_raise_clear_errors(tmp_path):
    rng = np.random.default_rng(0)
    s = _rep(1, True, rng)
    with pytest.raises(InputError, match="positions must be"):
        quality_features(QualitySample(1, 1, 0, True, s.positions[:1], None))
    holes = s.positions.copy()
    holes[:, :12] = np.nan
    with pytest.raises(InputError, match="missing"):
        quality_features(QualitySample(1, 1, 0, True, holes, None, source="clip.npz"))
    with pytest.raises(InputError, match="both labels"):
        train_quality_model([_rep(1, True, rng), _rep(2, True, rng)], FAST)
    with pytest.raises(InputError, match="no labelled"):
        train_quality_model([], FAST)
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(InputError, match="junk.pkl"):
        load_quality_model(tmp_path / "junk.pkl")
    with pytest.raises(InputError, match="not found"):
        load_quality_model(tmp_path / "none.pkl")
    model = train_quality_model(_dataset(subjects=(1, 2), per_class=2), FAST)
    track = PoseTrack(np.zeros((5, 13, 2)), np.ones((5, 13)), np.arange(5) / 30, "penn13")
    with pytest.raises(InputError, match="3-D Kinect"):
        apply_quality_model(model, track)
    with pytest.raises(InputError, match="no movement"):
        apply_quality_model(model, s, movement=4)
    angles = AngleTable(np.arange(3) / 30, ("left_knee",), np.zeros((3, 1)), np.zeros((3, 1)), np.zeros((3, 1)))
    with pytest.raises(InputError, match="joint positions"):
        apply_quality_model(model, angles)
    pd.DataFrame({"clip": ["a"], "label": ["correct"], "subject": ["x"]}).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(InputError, match="movement"):
        load_labelled_recordings(tmp_path)
    pd.DataFrame({"clip": ["a"], "label": ["great"], "subject": ["x"], "movement": ["m"]}).to_csv(
        tmp_path / "labels.csv", index=False)
    with pytest.raises(InputError, match="great"):
        load_labelled_recordings(tmp_path)
    with pytest.raises(ValueError):
        QualitySettings(model="svm")


# ----------------------------------------------------------------------------- real data
@pytest.mark.slow
def test_real_ui_prmd_two_movements_beat_the_baseline():
    from sportlens.data.ui_prmd import load_ui_prmd

    samples, _ = load_ui_prmd(shared_path("data/ui_prmd"), movements=(2, 4))
    settings = QualitySettings(n_trees=100)
    learned = evaluate_loso(samples, quality_classifier(settings), quality_featurize(settings))
    base = evaluate_loso(samples)
    assert learned.mean_accuracy > base.mean_accuracy + 0.1 and learned.mean_auc > base.mean_auc + 0.1
    assert learned.mean_accuracy > 0.8 and learned.mean_auc > 0.9
