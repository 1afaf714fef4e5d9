"""Forecasting baselines of issue 6 as plain functions: observed (N, T_obs, V, 2) -> (N, horizon, V, 2).

Poses are pixels with NaN where a joint is missing. Future steps are assumed to be as far apart as the
observed frames (true in protocol B; protocol A observes one pose, so velocity is zero there).
"""
from __future__ import annotations

import numpy as np


def zero_velocity(observed: np.ndarray, horizon: int = 16) -> np.ndarray:
    """Repeat the last observed pose ``horizon`` times: (N, T_obs, V, 2) -> (N, horizon, V, 2).

    A joint missing (NaN) in the last observed frame stays NaN.
    """
    obs = np.asarray(observed, dtype=np.float64)
    last = obs[:, -1:]  # (N, 1, V, 2)
    return np.repeat(last, horizon, axis=1)


def constant_velocity(observed: np.ndarray, horizon: int = 16, frames: int = 3) -> np.ndarray:
    """Extrapolate the mean velocity over the last ``frames`` observed frames.

    ``v = (x[-1] - x[-1-frames]) / frames`` (the mean of the last ``frames`` frame-to-frame
    displacements), prediction at step k = ``x[-1] + k * v``: (N, T_obs, V, 2) -> (N, horizon, V, 2).
    With fewer than ``frames + 1`` observed frames the oldest one is used (one frame: zero velocity).
    Where the velocity is undefined (the older joint is NaN) the joint keeps its last position (zero
    velocity), so the forecast is finite wherever the last pose is.
    """
    obs = np.asarray(observed, dtype=np.float64)
    last = obs[:, -1]  # (N, V, 2)
    n = min(frames, obs.shape[1] - 1)
    if n <= 0:
        return zero_velocity(obs, horizon)
    vel = (last - obs[:, -1 - n]) / n  # (N, V, 2)
    vel = np.where(np.isfinite(vel), vel, 0.0)
    k = np.arange(1, horizon + 1, dtype=np.float64)[None, :, None, None]  # (1, H, 1, 1)
    return last[:, None] + k * vel[:, None]
