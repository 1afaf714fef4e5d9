"""Sliding forecasts over a track (sportlens.forecast.online) on exact synthetic tracks."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sportlens.config import ForecastSettings
from sportlens.errors import InputError
from sportlens.forecast.baselines import constant_velocity, zero_velocity
from sportlens.forecast.online import (Forecaster, horizon_steps, load_forecaster, online_forecast,
                                       sample_track)
from sportlens.skeletons import BLAZEPOSE33, PENN13, convert
from sportlens.types import PoseTrack

# Penn-13 standing pose, 160 px tall (head, shoulders, elbows, wrists, hips, knees, ankles; left then right)
BASE = np.array([[0, 0], [-10, 20], [10, 20], [-15, 45], [15, 45], [-15, 70], [15, 70], [-8, 80], [8, 80],
                 [-8, 120], [8, 120], [-8, 160], [8, 160]], float) + [300.0, 200.0]
VEL = np.array([90.0, -30.0])  # px/s
CONSTVEL = Forecaster("constvel", constant_velocity, 30.0, 10)
ZERO = Forecaster("zero", zero_velocity, 30.0, 10)
S = ForecastSettings(enabled=True, horizon_s=0.5)


def moving(times: np.ndarray, skeleton: str = "penn13") -> PoseTrack:
    """The base pose translating at VEL: exact constant-velocity motion at the given timestamps."""
    kp = BASE[None] + VEL[None, None] * times[:, None, None]  # (T, 13, 2)
    if skeleton == "blazepose33":  # same joints in the 33-landmark layout (head -> nose)
        full = np.full((len(times), BLAZEPOSE33.num_joints, 2), np.nan)
        for v, name in enumerate(PENN13.joints):
            full[:, BLAZEPOSE33.index("nose" if name == "head" else name)] = kp[:, v]
        kp = full
    return PoseTrack(kp, np.isfinite(kp).all(-1).astype(float), times, skeleton)


def test_horizon_conversion():
    assert horizon_steps(0.5, 30.0) == 15 and horizon_steps(0.5, 25.0) == 12 and horizon_steps(0.01, 30.0) == 1
    with pytest.raises(ValueError):
        horizon_steps(0.0, 30.0)


def test_constant_velocity_motion_is_forecast_exactly():
    tr = moving(np.arange(90) / 30.0, "blazepose33")  # converted to Penn-13 inside
    fc = online_forecast(tr, S, CONSTVEL)
    assert fc.steps == 15 and fc.horizon_s == pytest.approx(0.5) and fc.skeleton == "penn13"
    assert fc.skipped == {"short_history": 9, "gap": 0, "invisible": 0}
    assert len(fc.origin_index) == 81 and fc.origin_index[0] == 9
    np.testing.assert_allclose(fc.target_times, fc.origin_times + 0.5)
    assert fc.metrics["evaluated"] == 81 - 15 and fc.metrics["future_unknown"] == 15
    assert fc.metrics["pck"] == 1.0 and fc.metrics["mean_error_px"] < 1e-9
    assert max(fc.metrics["angle_error_deg"].values()) < 1e-6
    # the poses are in image coordinates: where the body will be, half a second on
    np.testing.assert_allclose(fc.poses[0], BASE + VEL * (9 / 30 + 0.5), atol=1e-9)
    # zero velocity on the same windows is off by the distance travelled in 0.5 s
    zero = online_forecast(tr, S, ZERO)
    assert zero.metrics["mean_error_px"] == pytest.approx(np.hypot(*VEL) * 0.5)
    assert fc.metrics["zero_velocity_error_ref"] == pytest.approx(zero.metrics["mean_error_ref"])
    assert zero.metrics["pck"] == 0.0  # 47 px off with a body box of 160 + travel: outside 5 %


def test_other_frame_rates_are_resampled_to_the_model_rate():
    fast = online_forecast(moving(np.arange(180) / 60.0), S, CONSTVEL)  # 60 fps video, 30 fps model
    assert fast.steps == 15 and fast.skipped["short_history"] == 18  # 9 model steps = 18 video frames
    assert fast.metrics["pck"] == 1.0 and fast.metrics["mean_error_px"] < 1e-9
    rng = np.random.default_rng(0)
    vfr = np.cumsum(rng.uniform(0.02, 0.045, 120))  # variable frame rate
    fc = online_forecast(moving(vfr), S, CONSTVEL)
    assert fc.metrics["evaluated"] > 50 and fc.metrics["mean_error_px"] < 1e-9
    np.testing.assert_allclose(fc.target_times - fc.origin_times, 0.5)


def test_every_kth_frame():
    fc = online_forecast(moving(np.arange(60) / 30.0), replace(S, every=4), CONSTVEL)
    assert (fc.origin_index % 4 == 0).all() and fc.origin_index[0] == 12
    assert fc.skipped["short_history"] == 3  # origins 0, 4, 8


def test_short_tracks_gaps_and_invisible_windows_are_counted_not_fatal():
    short = online_forecast(moving(np.arange(5) / 30.0), S, CONSTVEL)
    assert len(short.origin_index) == 0 and short.skipped["short_history"] == 5
    assert short.metrics["evaluated"] == 0 and np.isnan(short.metrics["pck"])

    tr = moving(np.arange(60) / 30.0)
    tr.keypoints[30:40] = np.nan  # the person is lost for 10 frames
    fc = online_forecast(tr, S, CONSTVEL)
    # origins 30-39 see nobody; 40-48 look back into the lost frames
    assert fc.skipped == {"short_history": 9, "invisible": 10, "gap": 9}
    assert len(fc.origin_index) == 60 - 28
    # forecasts whose future falls in the lost frames have no known future and are not scored
    assert fc.metrics["pck"] == 1.0

    keep = np.r_[0:30, 45:60]  # 0.5 s without frames (a cut in the video)
    cut = moving(np.arange(60) / 30.0).slice(0, 60)
    cut = PoseTrack(cut.keypoints[keep], cut.scores[keep], cut.times[keep], "penn13")
    fc = online_forecast(cut, S, CONSTVEL)
    assert fc.skipped["gap"] == 9  # the first 9 frames after the cut look back across it

    person = moving(np.arange(60) / 30.0)
    person.segment[30:] = 1  # the estimator jumped to another person at frame 30
    assert online_forecast(person, S, CONSTVEL).skipped["gap"] == 9

    few = moving(np.arange(30) / 30.0)
    few.keypoints[:, 4:] = np.nan  # 4 of 13 joints present: below min_joints
    assert online_forecast(few, S, CONSTVEL).skipped["invisible"] == 30 - 9


def test_sample_track_interpolates_within_segments_and_gaps():
    times = np.array([0.0, 0.1, 0.2, 0.6])
    kp = np.arange(4, dtype=float)[:, None, None] * np.ones((1, 1, 2))
    seg = np.zeros(4, int)
    out, ok, _ = sample_track(kp, times, seg, np.array([0.05, 0.2, 0.4, 0.7, -0.1]), max_gap_s=0.15)
    assert ok.tolist() == [True, True, False, False, False]
    assert out[0, 0, 0] == pytest.approx(0.5) and out[1, 0, 0] == 2.0 and np.isnan(out[2:]).all()


def test_load_forecaster_falls_back_to_a_baseline_and_rejects_a_missing_checkpoint(tmp_path):
    f, note = load_forecaster(S)
    if note is not None:  # no trained model installed yet
        assert f.predict is constant_velocity and "constant velocity" in note
        assert load_forecaster(replace(S, fallback="zero"))[0].predict is zero_velocity
    with pytest.raises(InputError):
        load_forecaster(replace(S, checkpoint=str(tmp_path / "missing.pt")))


def test_penn_conversion_used_is_the_shared_one():
    tr = moving(np.arange(12) / 30.0, "blazepose33")
    kp, _ = convert(tr.keypoints, tr.scores, "blazepose33", "penn13")
    np.testing.assert_allclose(kp[0], BASE)


def test_a_msgcn_checkpoint_plugs_in(tmp_path):
    """Wiring for the trained model to come: any msgcn checkpoint loads and forecasts in pixels. The weights
    here are untrained, so only shapes, finiteness and the bookkeeping are checked, not accuracy."""
    import torch

    from sportlens.engine.checkpoint import save_checkpoint
    from sportlens.models import create_model

    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "msgcn.pt", model_name="msgcn", model_kwargs={"hidden": 16},
                           model=create_model("msgcn", hidden=16), classes=[],
                           data_spec={"observe": 10, "horizon": 16, "skeleton": "penn13"}, epoch=0, metrics={},
                           config={})
    f, note = load_forecaster(replace(S, checkpoint=str(path)))
    assert note is None and f.name == "msgcn (msgcn.pt)" and f.observe == 10
    fc = online_forecast(moving(np.arange(40) / 30.0), S, f)
    assert fc.poses.shape == (31, 13, 2) and np.isfinite(fc.poses).all() and fc.steps == 15
    # near the body, in pixels (the normalisation is undone): within a few body heights of the last pose
    assert np.abs(fc.poses - BASE.mean(0)).max() < 5 * 160 + np.hypot(*VEL) * 2


def test_ghost_and_forecast_plot_render_from_a_forecast():
    """The report's pieces on a synthetic forecast: the ghost is blended (not opaque) around the forecast
    pose only, and the forecast-vs-actual figure is a PNG (also with a gap in the forecasts)."""
    from sportlens.report.draw import draw_ghost
    from sportlens.report.plots import plot_forecast_angles

    fc = online_forecast(moving(np.arange(60) / 30.0), S, CONSTVEL)
    frame = np.full((720, 1280, 3), 40, np.uint8)
    out = draw_ghost(frame.copy(), fc.poses[0], fc.skeleton)
    changed = (out != frame).any(-1)
    ys, xs = np.nonzero(changed)
    lo, hi = fc.poses[0].min(0), fc.poses[0].max(0)
    assert changed.any() and xs.min() >= lo[0] - 60 and xs.max() <= hi[0] + 60 and ys.min() >= lo[1] - 60
    assert 40 < out[changed].max() < 255  # semi-transparent white over grey, never pure white
    assert (draw_ghost(frame.copy(), fc.poses[0], fc.skeleton, label="+0.5s") == 255).any()  # the label is solid
    assert draw_ghost(frame.copy(), np.full((13, 2), np.nan), "penn13").tobytes() == frame.tobytes()
    assert plot_forecast_angles(fc)[:4] == b"\x89PNG"
    gappy = moving(np.arange(60) / 30.0)
    gappy.keypoints[30:40] = np.nan
    assert plot_forecast_angles(online_forecast(gappy, S, CONSTVEL))[:4] == b"\x89PNG"
    assert plot_forecast_angles(online_forecast(moving(np.arange(5) / 30.0), S, CONSTVEL))[:4] == b"\x89PNG"
