"""Sliding pose forecasts over a cleaned track (``analyze --forecast SECONDS``) and their error on it.

Data flow: PoseTrack (any layout, real timestamps) -> Penn-13 (``skeletons.convert``; the layout of the
forecasting models) -> for every ``every``-th frame (the *origin*), ``observe`` poses sampled at the
model's rate up to the origin -> predictor -> the pose ``steps = round(horizon_s * model_fps)`` steps
ahead, in image pixels -> compared with what the track did at that time.

Decisions
---------
- Resampling: the observed window is sampled at ``1 / model_fps`` spacing ending exactly at the origin
  frame, by linear interpolation between the two track frames around each sample time. A video at 60 fps
  or with a variable frame rate is thereby fed to the model at the rate it was trained on (30 fps, Penn
  Action); at 30 fps the samples are the frames themselves. The effective horizon is ``steps / model_fps``.
- Skipped origins, counted by reason in ``Forecast.skipped``, never an error:
  ``short_history`` the window would start before the track (a track shorter than the window skips all);
  ``invisible`` fewer than ``min_joints`` joints in the last observed pose (all-invisible windows too);
  ``gap``       a sample falls between two frames more than ``max_gap_s`` apart, across a change of
                person (``PoseTrack.segment``), or on a frame with no joint at all (the person was lost).
- Measured error (``Forecast.metrics``), at the horizon, on the forecasts whose target time lies inside
  the track (``evaluated``; the others have no known future, ``future_unknown``). As in protocol B of the
  benchmark (``forecast/protocols.py``), a joint counts where it is present in the actual target pose and
  in the last observed pose, and a NaN prediction at a counted joint is a miss:
  ``pck`` = correct / counted joints, pooled over forecasts, correct = distance <= ``pck_threshold`` x ref;
  ``mean_error_px`` and ``mean_error_ref`` (distance / ref) over counted joints with a finite prediction;
  ``ref`` = max(w, h) of the box around all present joints of the observed window and the target pose:
  Penn's reference is the box of a 1-3 s clip; on a long video the person travels across the picture, so
  a box over the whole track would grow with the distance covered. The same numbers for the zero-velocity
  baseline on the same windows (``zero_velocity_pck``, ``zero_velocity_error_ref``) say whether the model
  does better than standing still. ``angle_error_deg``: mean |forecast - actual| per joint angle at the
  horizon, where both are defined.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from sportlens.config import ForecastSettings
from sportlens.errors import InputError
from sportlens.forecast.baselines import constant_velocity, zero_velocity
from sportlens.kinematics import compute_angles
from sportlens.skeletons import convert
from sportlens.types import AngleTable, Forecast, PoseTrack

FORECAST_SKELETON = "penn13"
SHIPPED = Path(__file__).resolve().parent.parent / "assets" / "forecast_msgcn_penn13.pt"
Predictor = Callable[[np.ndarray, int], np.ndarray]  # observed (N, T_obs, V, 2) px, steps -> (N, steps, V, 2)
BASELINES: dict[str, Predictor] = {"constvel": constant_velocity, "zero": zero_velocity}
_EPS_T = 1e-6  # seconds: a sample this close to a frame time is that frame


@dataclass(frozen=True)
class Forecaster:
    """Any predictor plus what sliding forecasting needs to know about it."""

    name: str
    predict: Predictor
    fps: float  # rate of its input and output steps
    observe: int  # observed poses per forecast


def load_forecaster(s: ForecastSettings) -> tuple[Forecaster, str | None]:
    """The trained model (``s.checkpoint``, else the shipped one when installed), else the ``s.fallback``
    baseline with a note saying so. A checkpoint the user named must load: an error otherwise."""
    path = Path(s.checkpoint) if s.checkpoint else SHIPPED
    if s.checkpoint and not path.is_file():
        raise InputError(f"forecast checkpoint {path} not found")
    if path.is_file():
        from sportlens.engine.checkpoint import load_checkpoint
        from sportlens.forecast.training import MsgcnForecaster

        observe = int(load_checkpoint(path).get("data_spec", {}).get("observe", s.observe))
        return Forecaster(f"msgcn ({path.name})", MsgcnForecaster(path), s.model_fps, observe), None
    if s.fallback not in BASELINES:
        raise InputError(f"forecast fallback {s.fallback!r}: use {', '.join(BASELINES)}")
    label = {"constvel": "constant velocity", "zero": "zero velocity"}[s.fallback]
    note = (f"No trained forecasting model is installed ({SHIPPED.name}): the forecast is the {label} baseline "
            "(mean velocity of the last 3 observed poses)." if s.fallback == "constvel" else
            f"No trained forecasting model is installed ({SHIPPED.name}): the forecast is the {label} baseline.")
    return Forecaster(f"{s.fallback} baseline", BASELINES[s.fallback], s.model_fps, s.observe), note


def horizon_steps(horizon_s: float, fps: float) -> int:
    """Model steps for a horizon in seconds (at least one): 0.5 s at 30 fps -> 15."""
    if not horizon_s > 0 or not fps > 0:
        raise ValueError(f"horizon ({horizon_s} s) and model rate ({fps} fps) must be positive")
    return max(1, int(round(horizon_s * fps)))


def sample_track(kp: np.ndarray, times: np.ndarray, segment: np.ndarray, at: np.ndarray,
                 max_gap_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poses of a (T, V, 2) track at times ``at`` (M,), linearly interpolated between the frames around
    each time: -> (poses (M, V, 2), bridged (M,) bool, seg (M,) segment of the frame at or after).

    A time on a frame (within 1 us) is that frame. ``bridged`` is False where ``at`` lies outside the
    track or between two frames more than ``max_gap_s`` apart or of different segments; poses are NaN
    there, and per joint where a frame around the time lacks the joint.
    """
    T = len(times)
    at = np.asarray(at, dtype=np.float64)
    out = np.full((len(at), kp.shape[1], 2), np.nan)  # (M, V, 2)
    if T == 0:
        return out, np.zeros(len(at), bool), np.full(len(at), -1)
    j = np.clip(np.searchsorted(times, at - _EPS_T), 0, T - 1)  # (M,) first frame at or after (within eps)
    exact = np.abs(times[j] - at) <= _EPS_T
    i = np.clip(j - 1, 0, T - 1)  # frame before, for non-exact samples
    inside = (at > times[0]) & (at < times[-1])
    bridged = exact | (inside & (times[j] - times[i] <= max_gap_s + _EPS_T) & (segment[i] == segment[j]))
    a = np.where(exact[:, None, None], kp[j], kp[i])
    b = kp[j]
    with np.errstate(invalid="ignore", divide="ignore"):  # outside/at-the-edge samples: masked below
        w = np.where(exact, 0.0, (at - times[i]) / (times[j] - times[i]))[:, None, None]  # (M, 1, 1)
        interp = a + w * (b - a)
    out[bridged] = interp[bridged]
    return out, bridged, segment[j]


def _window_times(origin_times: np.ndarray, observe: int, step_s: float) -> np.ndarray:
    """(N, observe) sample times ending at each origin."""
    return origin_times[:, None] + step_s * np.arange(-observe + 1, 1)[None]


def _box_ref(observed: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """(N,) max(w, h) of the box around all present joints of each window's observed poses and target."""
    n, t, v, _ = observed.shape
    pts = np.concatenate([observed, actual[:, None]], axis=1).reshape(n, (t + 1) * v, 2)  # (N, P, 2)
    ok = np.isfinite(pts).all(-1)  # (N, P)
    lo = np.where(ok[..., None], pts, np.inf).min(1)  # (N, 2)
    hi = np.where(ok[..., None], pts, -np.inf).max(1)
    with np.errstate(invalid="ignore"):
        ext = (hi - lo).max(1)
    return np.where(np.isfinite(ext) & (ext > 0), ext, np.nan)


def _pck_error(pred: np.ndarray, actual: np.ndarray, last: np.ndarray, ref: np.ndarray,
               threshold: float) -> dict[str, float]:
    """Pooled PCK and mean error at the horizon: pred/actual/last (N, V, 2), ref (N,)."""
    counted = np.isfinite(actual).all(-1) & np.isfinite(last).all(-1) & np.isfinite(ref)[:, None]  # (N, V)
    dist = np.linalg.norm(pred - actual, axis=-1)  # (N, V)
    scored = counted & np.isfinite(dist)
    n = int(counted.sum())
    if n == 0:
        return {"pck": float("nan"), "mean_error_px": float("nan"), "mean_error_ref": float("nan"), "joints": 0}
    with np.errstate(invalid="ignore"):
        correct = scored & (dist <= threshold * ref[:, None])
        rel = dist / ref[:, None]
    nan = float("nan")
    return {"pck": float(correct.sum() / n), "mean_error_px": float(dist[scored].mean()) if scored.any() else nan,
            "mean_error_ref": float(rel[scored].mean()) if scored.any() else nan, "joints": n}


def _angles(poses: np.ndarray, times: np.ndarray) -> AngleTable:
    track = PoseTrack(poses, np.isfinite(poses).all(-1).astype(float), times, FORECAST_SKELETON)
    return compute_angles(track)


def _angle_errors(pred: AngleTable, actual: AngleTable) -> dict[str, float]:
    """Mean |forecast - actual| per joint (flexion) angle where both are defined."""
    out = {}
    for k, name in enumerate(pred.names):
        if not name.endswith("_flexion"):
            continue
        err = np.abs(pred.values[:, k] - actual.values[:, k])
        ok = np.isfinite(err)
        if ok.any():
            out[name] = float(err[ok].mean())
    return out


def _valid_origins(track: PoseTrack, kp: np.ndarray, s: ForecastSettings, f: Forecaster,
                   step_s: float) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Origin frames that give a forecast, their observed windows (N, observe, V, 2), skip counts."""
    origins = np.arange(0, track.num_frames, s.every)  # (M,)
    skipped = {"short_history": 0, "gap": 0, "invisible": 0}
    if len(origins) == 0:
        return origins, np.zeros((0, f.observe, kp.shape[1], 2)), skipped
    wt = _window_times(track.times[origins], f.observe, step_s)  # (M, observe)
    obs, bridged, seg = sample_track(kp, track.times, track.segment, wt.ravel(), s.max_gap_s)
    obs = obs.reshape(len(origins), f.observe, kp.shape[1], 2)  # (M, observe, V, 2)
    # a window reaching into another person's frames (segment change) is a gap too
    bridged = bridged.reshape(len(origins), f.observe) & (seg.reshape(len(origins), f.observe)
                                                          == track.segment[origins][:, None])  # (M, observe)
    early = wt[:, 0] < track.times[0] - _EPS_T  # (M,)
    few = ~early & (np.isfinite(obs[:, -1]).all(-1).sum(-1) < s.min_joints)  # origin frame (all) invisible
    empty = ~np.isfinite(obs).all(-1).any(-1)  # (M, observe): a sample without any joint
    gap = ~early & ~few & (~bridged | empty).any(1)
    skipped.update(short_history=int(early.sum()), gap=int(gap.sum()), invisible=int(few.sum()))
    keep = ~(early | gap | few)
    return origins[keep], obs[keep], skipped


def online_forecast(track: PoseTrack, s: ForecastSettings, forecaster: Forecaster) -> Forecast:
    """Sliding forecasts ``s.horizon_s`` ahead from every ``s.every``-th frame of ``track`` (module doc)."""
    if s.every < 1:
        raise ValueError(f"forecast every must be >= 1 frame, got {s.every}")
    steps = horizon_steps(s.horizon_s, forecaster.fps)
    step_s = 1.0 / forecaster.fps
    kp, _ = convert(track.keypoints, track.scores, track.skeleton, FORECAST_SKELETON)  # (T, 13, 2)
    origins, observed, skipped = _valid_origins(track, kp, s, forecaster, step_s)
    t0 = track.times[origins]  # (N,)
    target_t = t0 + steps * step_s  # (N,)
    if len(origins):
        path = np.asarray(forecaster.predict(observed, steps), dtype=np.float64)  # (N, steps, V, 2)
        poses = path[:, -1]  # (N, V, 2)
    else:
        poses = np.zeros((0, kp.shape[1], 2))
    actual, known, seg = sample_track(kp, track.times, track.segment, target_t, s.max_gap_s)  # (N, V, 2), (N,)
    known &= seg == track.segment[origins]  # another person's future is no measure of this forecast
    actual[~known] = np.nan
    ref = _box_ref(observed, actual)
    last = observed[:, -1]
    model_err = _pck_error(poses, actual, last, ref, s.pck_threshold)
    still = _pck_error(last, actual, last, ref, s.pck_threshold)  # zero velocity on the same windows
    angles, actual_angles = _angles(poses, target_t), _angles(actual, target_t)
    metrics = {"pck": model_err["pck"], "pck_threshold": s.pck_threshold,
               "mean_error_px": model_err["mean_error_px"], "mean_error_ref": model_err["mean_error_ref"],
               "zero_velocity_pck": still["pck"], "zero_velocity_error_ref": still["mean_error_ref"],
               "counted_joints": model_err["joints"],
               "evaluated": int((known & np.isfinite(actual).all(-1).any(-1)).sum()),
               "future_unknown": int((~known).sum()), "angle_error_deg": _angle_errors(angles, actual_angles)}
    return Forecast(model=forecaster.name, skeleton=FORECAST_SKELETON, horizon_s=steps * step_s, steps=steps,
                    step_s=step_s, origin_index=origins, origin_times=t0, target_times=target_t, poses=poses,
                    actual=actual, angles=angles, actual_angles=actual_angles, metrics=metrics, skipped=skipped,
                    every=s.every)
