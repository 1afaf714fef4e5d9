"""Keypoint cleaning on synthetic signals with a known truth."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from sportlens.config import CleaningSettings
from sportlens.pose.cleaning import (
    FILTERS,
    OneEuroFilter,
    apply_threshold,
    butterworth,
    butterworth_cutoff,
    clean_track,
    hampel,
    interpolate_gaps,
    lr_chains,
    one_euro,
    repair_lr_swaps,
)
from sportlens.skeletons import get_skeleton
from sportlens.types import PoseTrack

# ------------------------------------------------------------------------------ synthetic data


def walker(n_frames: int = 120, fps: float = 30.0, skeleton: str = "blazepose33"):
    """A 3/4-view walker (gait at 1 Hz, legs and arms in anti-phase): ((T, V, 2) pixels, (T,) s)."""
    t = np.arange(n_frames) / fps
    cx, cy = 100 + 80 * t, 300 + 4 * np.sin(4 * np.pi * t)
    pos: dict[str, np.ndarray] = {}

    def put(name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        pos[name] = np.stack([x, y], axis=-1)
        return pos[name]

    def seg(start: np.ndarray, length: float, angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return start[:, 0] + length * np.sin(angle), start[:, 1] + length * np.cos(angle)  # y down

    for side, sign, phase in (("left", 1.0, 0.0), ("right", -1.0, np.pi)):
        swing = np.sin(2 * np.pi * t + phase)
        hip = put(f"{side}_hip", cx + 8 * sign, cy)
        thigh = 0.45 * swing
        knee = put(f"{side}_knee", *seg(hip, 90, thigh))
        ankle = put(f"{side}_ankle", *seg(knee, 85, thigh - 0.35 * (1 + np.cos(2 * np.pi * t + phase))))
        put(f"{side}_heel", ankle[:, 0] - 8, ankle[:, 1] + 6)
        put(f"{side}_foot_index", ankle[:, 0] + 22, ankle[:, 1] + 8)
        shoulder = put(f"{side}_shoulder", cx + 12 * sign, cy - 120)
        elbow = put(f"{side}_elbow", *seg(shoulder, 55, -0.35 * swing))
        wrist = put(f"{side}_wrist", *seg(elbow, 50, -0.35 * swing + 0.4))
        for k, (dx, dy) in enumerate(((3, 8), (6, 7), (5, 2))):
            put(f"{side}_{('pinky', 'index', 'thumb')[k]}", wrist[:, 0] + dx, wrist[:, 1] + dy)
        put(f"{side}_ear", cx - 2 + 4 * sign, cy - 165)
        for part, dx in (("eye_inner", 10), ("eye", 8), ("eye_outer", 6)):
            put(f"{side}_{part}", cx + dx + 2 * sign, cy - 172)
    put("nose", cx + 14, cy - 166)
    put("mouth_left", cx + 11, cy - 158)
    put("mouth_right", cx + 9, cy - 158)
    put("head", cx + 14, cy - 166)
    skel = get_skeleton(skeleton)
    return np.stack([pos[j] for j in skel.joints], axis=1), t


def lag_samples(y: np.ndarray, ref: np.ndarray, max_lag: int = 10) -> int:
    """Lag (samples) maximising the cross-correlation of ``y`` with ``ref``; > 0: ``y`` is late."""
    core = slice(max_lag, len(ref) - max_lag)
    corr = [np.dot(y[max_lag + k : len(y) - max_lag + k], ref[core]) for k in range(-max_lag, max_lag + 1)]
    return int(np.argmax(corr)) - max_lag


# --------------------------------------------------------------------------------- Butterworth


FPS = 60.0
T_SIG = np.arange(int(10 * FPS)) / FPS
SLOW = np.sin(2 * np.pi * 1.0 * T_SIG)  # 1 Hz, amplitude 1
FAST = 0.5 * np.sin(2 * np.pi * 20.0 * T_SIG)  # 20 Hz
INNER = slice(int(FPS), -int(FPS))  # away from the edges


def test_butterworth_keeps_1hz_removes_20hz_zero_phase():
    y = butterworth(SLOW + FAST, FPS, 6.0, 4)
    amp_slow = np.dot(y[INNER], SLOW[INNER]) / np.dot(SLOW[INNER], SLOW[INNER])  # projection on 1 Hz
    sin20, cos20 = np.sin(2 * np.pi * 20 * T_SIG[INNER]), np.cos(2 * np.pi * 20 * T_SIG[INNER])
    amp_fast = 2 / len(sin20) * np.hypot(np.dot(y[INNER], sin20), np.dot(y[INNER], cos20))
    assert abs(amp_slow - 1.0) < 0.02
    assert amp_fast < 0.05 * 0.5
    assert lag_samples(y, SLOW) == 0
    # zero phase: the output sits on the 1 Hz component itself, peaks at the same samples
    assert np.max(np.abs(y[INNER] - SLOW[INNER])) < 0.02
    peaks = lambda s: np.flatnonzero((s[1:-1] > s[:-2]) & (s[1:-1] >= s[2:]))  # noqa: E731
    np.testing.assert_array_equal(peaks(y[INNER]), peaks(SLOW[INNER]))


def test_lag_check_detects_a_causal_filter():
    # control: the same filter run causally is late, so the zero-phase assertions can fail
    sos = butter(4, 6.0, fs=FPS, output="sos")
    assert lag_samples(sosfilt(sos, SLOW + FAST), SLOW) >= 2


def test_butterworth_keeps_nan_runs_and_filters_each_run():
    x = np.stack([SLOW + FAST, 2 * SLOW], axis=1)  # (T, 2)
    x[100:130, 0] = np.nan
    x[:5, 1] = np.nan
    y = butterworth(x, FPS, 6.0, 4)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(x))
    assert np.abs(y[200:400, 0] - SLOW[200:400]).max() < 0.02  # the run after the gap is filtered


def test_butterworth_short_runs_do_not_crash():
    x = np.full(40, np.nan)
    x[0:1], x[2:4], x[5:8] = 1.0, [1.0, 2.0], [1.0, 1.5, 2.0]  # runs of 1, 2, 3 samples
    x[9:14], x[15:25] = np.arange(5.0), np.arange(10.0)
    y = butterworth(x, 30.0, 6.0, 4)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(x))
    np.testing.assert_array_equal(y[0:4], x[0:4])  # 1- and 2-sample runs untouched
    assert np.abs(y[15:25] - x[15:25]).max() < 0.5  # a short ramp stays a ramp


def test_butterworth_cutoff_is_clipped_below_nyquist():
    assert butterworth_cutoff(10.0, 6.0) == pytest.approx(4.5)
    assert butterworth_cutoff(60.0, 6.0) == 6.0
    y = butterworth(np.sin(np.arange(50) * 0.3), 10.0, 6.0, 4)
    assert np.isfinite(y).all()


# ------------------------------------------------------------------------------------ One-Euro


def test_one_euro_is_causal():
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.02, 0.04, 100))
    x = rng.normal(size=(100, 3))
    x2 = x.copy()
    x2[60:] += 50.0
    a, b = one_euro(x, t, 1.0, 0.5, 1.0), one_euro(x2, t, 1.0, 0.5, 1.0)
    np.testing.assert_array_equal(a[:60], b[:60])
    assert not np.allclose(a[60:], b[60:])


def test_one_euro_reduces_jitter_on_a_constant():
    rng = np.random.default_rng(1)
    t = np.arange(300) / 30.0
    x = 50.0 + rng.normal(scale=2.0, size=300)
    y = one_euro(x, t, 1.0, 0.05, 1.0)
    assert np.std(y[30:]) < 0.5 * np.std(x[30:])
    assert abs(np.mean(y[30:]) - 50.0) < 1.0


def test_one_euro_follows_a_ramp_with_small_lag_when_beta_positive():
    t = np.arange(120) / 60.0
    x = 100.0 * t  # 100 px/s
    err_beta0 = np.abs(one_euro(x, t, 1.0, 0.0, 1.0) - x)[60:].max()
    err_beta = np.abs(one_euro(x, t, 1.0, 0.1, 1.0) - x)[60:].max()
    assert err_beta < 3.0
    assert err_beta < 0.3 * err_beta0


def test_one_euro_restarts_after_nan():
    f = OneEuroFilter(1.0, 0.0, 1.0)
    assert f(0.0, 0.0) == 0.0
    assert 0.0 < f(10.0, 0.1) < 10.0
    assert np.isnan(f(np.nan, 0.2))
    assert f(7.0, 0.3) == 7.0  # state forgotten across the NaN
    with pytest.raises(ValueError):
        f(8.0, 0.3)  # time did not advance


# -------------------------------------------------------------------------------------- Hampel


def test_hampel_flags_a_single_spike_only():
    x = np.sin(2 * np.pi * T_SIG)
    x_spiky = x.copy()
    x_spiky[200] += 5.0
    clean, mask = hampel(x_spiky, 7, 3.0)
    np.testing.assert_array_equal(np.flatnonzero(mask), [200])
    assert abs(clean[200] - x[200]) < 0.05
    _, mask_clean = hampel(np.stack([x, 3 * x], axis=1), 7, 3.0)
    assert not mask_clean.any()


def test_hampel_ignores_nans():
    x = np.sin(2 * np.pi * T_SIG)
    x[50:53] = np.nan
    x[54] += 4.0
    clean, mask = hampel(x, 7, 3.0)
    np.testing.assert_array_equal(np.flatnonzero(mask), [54])
    np.testing.assert_array_equal(np.isnan(clean), np.isnan(x))


# ------------------------------------------------------------------------ gaps and threshold


def test_interpolate_gaps_fills_short_gap_exactly_and_keeps_long_and_edge_gaps():
    t = np.arange(60) / 30.0
    truth = np.stack([3.0 * t + 1.0, -2.0 * t], axis=1)  # (T, 2) linear
    x = truth.copy()
    x[10:13] = np.nan  # 3 frames: 4/30 s between valid samples
    x[30:40] = np.nan  # 11/30 s > 0.25 s
    x[:2] = np.nan
    x[-2:] = np.nan
    y = interpolate_gaps(x, t, 0.25)
    np.testing.assert_allclose(y[10:13], truth[10:13], atol=1e-9)
    assert np.isnan(y[30:40]).all() and np.isnan(y[:2]).all() and np.isnan(y[-2:]).all()
    np.testing.assert_array_equal(y[np.isfinite(x)], x[np.isfinite(x)])


def test_interpolate_gaps_uses_real_times():
    rng = np.random.default_rng(2)
    t = np.cumsum(rng.uniform(0.01, 0.06, 80))  # variable frame rate
    truth = 5.0 * t - 2.0
    x = truth.copy()
    x[20:23] = np.nan
    x[50:51] = np.nan
    y = interpolate_gaps(x, t, 0.5)
    np.testing.assert_allclose(y, truth, atol=1e-9)
    assert np.isnan(interpolate_gaps(x, t, 0.01)[20:23]).all()  # too long at this limit


def test_interpolate_gaps_smooth_signal_is_close():
    t = np.arange(90) / 30.0
    truth = np.sin(2 * np.pi * t)
    x = truth.copy()
    x[40:44] = np.nan
    assert np.abs(interpolate_gaps(x, t, 0.25)[40:44] - truth[40:44]).max() < 0.02


def test_apply_threshold():
    kp = np.arange(12.0).reshape(2, 3, 2)
    scores = np.array([[0.9, 0.4, 0.5], [0.1, np.nan, 1.0]])
    out = apply_threshold(kp, scores, 0.5)
    np.testing.assert_array_equal(np.isnan(out[..., 0]), [[False, True, False], [True, True, False]])
    np.testing.assert_array_equal(out[0, 0], kp[0, 0])
    assert np.isfinite(kp).all()  # input untouched


# --------------------------------------------------------------------------------- swap repair


def swap_chain(kp: np.ndarray, frames, chain: str, skeleton: str) -> np.ndarray:
    out = kp.copy()
    left, right = (list(s) for s in zip(*lr_chains(skeleton)[chain]))
    for f in frames:
        out[f, left], out[f, right] = kp[f, right], kp[f, left]
    return out


@pytest.mark.parametrize("skeleton", ["blazepose33", "coco17", "penn13"])
def test_repair_lr_swaps_restores_swapped_legs_and_arms(skeleton):
    truth, _ = walker(skeleton=skeleton)
    leg_frames, arm_frames = [12, 40, 41, 42, 100], [70, 71]
    bad = swap_chain(swap_chain(truth, leg_frames, "leg", skeleton), arm_frames, "arm", skeleton)
    fixed, swapped = repair_lr_swaps(bad, skeleton)
    np.testing.assert_array_equal(np.flatnonzero(swapped), sorted(leg_frames + arm_frames))
    np.testing.assert_array_equal(fixed, truth)


def test_repair_lr_swaps_handles_a_swap_at_the_start_and_missing_frames():
    truth, _ = walker()
    bad = swap_chain(truth, [0, 1, 2], "leg", "blazepose33")
    bad[50:55] = np.nan  # pose lost for a while
    fixed, swapped = repair_lr_swaps(bad, "blazepose33")
    np.testing.assert_array_equal(np.flatnonzero(swapped), [0, 1, 2])
    np.testing.assert_array_equal(fixed[:3], truth[:3])


def test_repair_lr_swaps_no_false_swaps_on_clean_or_noisy_tracks():
    truth, _ = walker(n_frames=300)
    noisy = truth + np.random.default_rng(3).normal(scale=2.0, size=truth.shape)
    for kp in (truth, noisy):
        fixed, swapped = repair_lr_swaps(kp, "blazepose33")
        assert not swapped.any()
        np.testing.assert_array_equal(fixed, kp)


def test_lr_chains_ignore_the_face():
    chains = lr_chains("blazepose33")
    skel = get_skeleton("blazepose33")
    names = {skel.joints[i] for pairs in chains.values() for pair in pairs for i in pair}
    assert len(chains["leg"]) == 5 and len(chains["arm"]) == 6
    assert not any("eye" in n or "ear" in n for n in names)
    assert len(lr_chains("coco17")["leg"]) == 3


# ------------------------------------------------------------------------------- orchestrator


def noisy_track(seed: int = 4) -> tuple[PoseTrack, np.ndarray, list[tuple[int, int]]]:
    """Walker + 2 px noise, spikes, low-score garbage joints, a short gap and a swapped leg."""
    rng = np.random.default_rng(seed)
    truth, t = walker(n_frames=150)
    t = t + rng.uniform(-0.002, 0.002, t.shape)  # VFR jitter
    kp = truth + rng.normal(scale=2.0, size=truth.shape)
    scores = np.full(kp.shape[:2], 0.9)
    spikes = [(30, 25), (77, 14), (110, 27)]
    for f, j in spikes:
        kp[f, j] += [120.0, -90.0]  # a pose glitch: the joint jumps 150 px for one frame
    kp[60:63, 26] = rng.uniform(0, 500, (3, 2))  # garbage with low scores: removed, then filled
    scores[60:63, 26] = 0.1
    kp[90:93, 13] = np.nan  # short gap (missing: score 0)
    scores[90:93, 13] = 0.0
    kp[140:150, 15] = np.nan  # trailing gap: stays missing
    scores[140:150, 15] = 0.0
    kp = swap_chain(kp, [45], "leg", "blazepose33")
    return PoseTrack(kp, scores, t, "blazepose33"), truth, spikes


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)
    return float(np.sqrt(np.mean(np.sum((a[ok] - b[ok]) ** 2, axis=-1))))


@pytest.mark.parametrize("filt", ["butterworth", "oneeuro"])
def test_clean_track_end_to_end(filt):
    track, truth, spikes = noisy_track()
    clean, report = clean_track(track, CleaningSettings(filter=filt))
    assert rmse(clean.keypoints, truth) < 0.8 * rmse(track.keypoints, truth)
    assert np.nanmax(np.linalg.norm(clean.keypoints - truth, axis=-1)) < 15.0  # spikes gone
    assert report.swaps_repaired == 1
    assert report.thresholded == 3 and report.interpolated == 6
    assert report.outliers >= len(spikes)
    assert np.isfinite(clean.keypoints[60:63, 26]).all() and np.isfinite(clean.keypoints[90:93, 13]).all()
    assert np.isnan(clean.keypoints[140:, 15]).all() and (clean.scores[140:, 15] == 0).all()
    assert report.remaining_missing == 10
    assert report.filter == filt
    d = report.to_dict()
    json.dumps(d)
    if filt == "butterworth":
        assert d["cutoff_hz"] == 6.0 and d["fps"] == pytest.approx(30.0, rel=0.01)


def test_clean_track_butterworth_beats_no_filter():
    track, truth, _ = noisy_track()
    smooth, _ = clean_track(track, CleaningSettings())
    rough, report = clean_track(track, CleaningSettings(filter="none"))
    assert report.filter == "none" and report.cutoff_hz is None
    assert rmse(smooth.keypoints, truth) < 0.8 * rmse(rough.keypoints, truth)


def test_clean_track_swaps_scores_with_joints():
    truth, t = walker(n_frames=60)
    scores = np.tile(np.linspace(0.6, 0.99, truth.shape[1]), (60, 1))
    kp = swap_chain(truth, [20], "leg", "blazepose33")
    sc = swap_chain(scores[..., None], [20], "leg", "blazepose33")[..., 0]
    clean, report = clean_track(PoseTrack(kp, sc, t, "blazepose33"), CleaningSettings(filter="none"))
    assert report.swaps_repaired == 1
    np.testing.assert_array_equal(clean.scores, scores)
    np.testing.assert_allclose(clean.keypoints, truth)


def test_clean_track_rejects_unknown_filter_and_handles_tiny_tracks():
    track, _, _ = noisy_track()
    with pytest.raises(ValueError, match="butterworth, oneeuro, none"):
        clean_track(track, CleaningSettings(filter="kalman"))
    assert FILTERS == ("butterworth", "oneeuro", "none")
    for n in (0, 1, 2):
        clean, report = clean_track(track.slice(0, n), CleaningSettings())
        assert clean.num_frames == n and report.frames == n


def test_hampel_points_replaces_both_coordinates():
    t = np.arange(60) / 30.0
    x = np.stack([100.0 * t, np.full_like(t, 50.0) + 0.1 * np.sin(7 * t)], axis=1)[:, None, :]  # (T, 1, 2)
    x_bad = x.copy()
    x_bad[30, 0] += [2.0, 40.0]  # the y jump is obvious, the x one is not
    clean, mask = hampel(x_bad, 7, 3.0, points=True)
    assert mask[30, 0].all() and mask.sum() == 2
    np.testing.assert_allclose(clean[30, 0], np.median(x_bad[27:34, 0], axis=0))  # both: window medians
    assert abs(clean[30, 0, 1] - x[30, 0, 1]) < 0.5
    _, mask_cols = hampel(x_bad, 7, 3.0)
    np.testing.assert_array_equal(mask_cols[30, 0], [False, True])


def test_repair_lr_swaps_no_false_swap_when_legs_cross_fast():
    # 3 strides per second at 30 fps: the feet pass each other faster than their separation per
    # frame, so comparing with the previous position alone would see a swap at every crossing
    truth, _ = walker(n_frames=300, fps=10.0)
    _, swapped = repair_lr_swaps(truth, "blazepose33")
    assert not swapped.any()
    bad = swap_chain(truth, [100, 101], "leg", "blazepose33")
    fixed, swapped = repair_lr_swaps(bad, "blazepose33")
    np.testing.assert_array_equal(np.flatnonzero(swapped), [100, 101])
    np.testing.assert_array_equal(fixed, truth)


# ------------------------------------------------------------------ identity jumps (estimator switched person)
def _stick(center, size, T=1):
    """(T, 13, 2) penn13-like pose: joints spread over a box of ``size`` around ``center``."""
    offs = np.random.default_rng(0).uniform(-0.35, 0.35, (13, 2)) * size
    return np.repeat((np.asarray(center) + offs)[None], T, axis=0)


def test_identity_breaks_finds_a_jump_to_another_person_only():
    from sportlens.pose.cleaning import identity_breaks

    a = _stick((100, 300), 200, 10)
    a += np.linspace(0, 90, 10)[:, None, None]  # fast but real movement: 10 px/frame
    b = _stick((1200, 300), 200, 10)
    kp = np.concatenate([a, b])
    kp[12] = np.nan  # an empty frame just after the switch does not hide it
    breaks = identity_breaks(kp)
    assert np.flatnonzero(breaks).tolist() == [10]
    small = _stick((100, 300), 60, 5)  # a much smaller person at the same place: also a switch
    assert np.flatnonzero(identity_breaks(np.concatenate([a[:5], small]))).tolist() == [5]


def test_clean_track_never_smooths_across_people():
    a = _stick((100, 300), 200, 30)
    b = _stick((1200, 300), 200, 30)
    kp = np.concatenate([a, b])
    track = PoseTrack(kp, np.ones(kp.shape[:2]), np.arange(60) / 30, "penn13")
    clean, report = clean_track(track, CleaningSettings())
    assert report.identity_segments == 2 and clean.segment.tolist() == [0] * 30 + [1] * 30
    assert np.allclose(clean.keypoints, kp, atol=1e-6)  # constant segments stay exactly as they were

    from sportlens.kinematics import compute_angles

    table = compute_angles(clean)
    assert np.nanmax(np.abs(table.velocity)) < 1e-6  # no spike at the switch
