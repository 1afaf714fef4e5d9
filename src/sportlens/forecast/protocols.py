"""Evaluation windows and metrics of the pose-forecasting benchmark (issue 6), in plain numpy.

Two protocols on Penn Action-like clips (``keypoints (T, V, 2)`` pixels, NaN where invisible, and
``visibility (T, V)`` bool), implemented literally from issue 6:

**Protocol A** (comparable with TP-RNN, WACV 2019): a window starts at EVERY frame ``s`` of every clip
(``s = 0 .. T-1``); one observed pose (frame ``s``); 16 future steps ``k = 1..16`` at frames
``s + k * stride`` with ``stride = max(1, (T - 1) // 17)``; a frame past the end of the clip is the last
frame (``min(s + k * stride, T - 1)``). A joint counts where it is visible in both the last observed frame
and the target frame.

**Protocol B** (practical): observe 10 frames ``s-9 .. s``, predict the next 16 frames ``s+1 .. s+16`` at
the native frame rate; start frames ``s = 9 .. T-17`` (both ends included, so the last target is frame
``T-1``); a joint counts where it is visible in the target, the last observed frame ``s`` and the frame 3
before it ``s-3`` (the frames constant velocity uses). Clips shorter than 26 frames give no window and are
counted in ``ForecastWindows.skipped``.

Both: PCK@0.05 with the reference length ``max(w, h)`` of the box around ALL visible joints of the whole
clip (one length per clip); a joint is correct where ``distance <= 0.05 * reference``.

Choices where the issue is silent (each checked against the issue's measured numbers, see
``tests/test_forecast_protocols.py``):
- PCK per step is POOLED: correct counted joints / counted joints over all windows of all clips (the
  mean of per-window PCKs gives 77.5 instead of 78.0 at step 1 of protocol A). Windows without any
  counted joint are kept (they add nothing to the pooled sums) and counted in ``n_empty_windows``.
- ``<=`` vs ``<`` at the threshold: ``<=``; both give the same numbers on Penn Action to one decimal.
- A prediction that is NaN at a counted joint is a miss for PCK, left out of the errors and counted in
  ``n_missing_pred``.
- Mean per-joint error: the mean over counted joints of ``distance / reference`` (pooled like PCK).
- Joint-angle error: the unsigned joint angles of ``sportlens.kinematics.angles`` that exist in the
  penn13 layout (shoulder, elbow, hip and knee flexion, both sides: 8 angles; ankle dorsiflexion needs
  foot points Penn lacks). An angle counts where its three joints all count (mask) and the prediction is
  finite; error = ``|predicted angle - true angle|`` in degrees, pooled over angles and windows. The
  reported times 80/160/320/533 ms are mapped to the NEAREST step at the clip rate (30 fps: steps 2, 5,
  10, 16 = 67, 167, 333, 533 ms); the dict says which step and time each one used. Only for protocol B
  (protocol A's steps have a per-clip stride, so they have no common time).
- Left/right: ``load_penn_action`` swaps Penn's sides; that permutes joints and angles and changes none
  of these numbers.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from sportlens.kinematics.angles import angle_between
from sportlens.skeletons import PENN13, Skeleton

HORIZON = 16  # future steps of both protocols
OBSERVE_B = 10  # observed frames of protocol B
PCK_THRESHOLD = 0.05
ANGLE_TIMES_MS = (80.0, 160.0, 320.0, 533.0)  # reported angle-error times of protocol B


class ClipLike(Protocol):
    """What the builders read from a clip (``sportlens.data.clips.SkeletonClip`` fits)."""

    name: str
    keypoints: np.ndarray  # (T, V, 2)
    visibility: np.ndarray  # (T, V) bool
    fps: float


@dataclass
class ForecastWindows:
    """Evaluation windows of one protocol, stacked over all clips.

    observed: (N, T_obs, V, 2) float pixels, NaN where not visible (T_obs = 1 in A, 10 in B).
    observed_visible: (N, T_obs, V) bool.
    targets: (N, H, V, 2) float pixels of the true future poses, NaN where not visible.
    target_visible: (N, H, V) bool.
    mask: (N, H, V) bool, the joints that count (protocol rule, see the module docstring).
    ref: (N,) reference length (pixels) of each window's clip.
    clip: (N,) int index into ``clip_names``; start: (N,) int last observed frame ``s``;
    target_frames: (N, H) int frame index of each target in its clip.
    step_frames: (N,) int frames between two future steps (stride in A, 1 in B).
    fps: (N,) frame rate of each window's clip.
    skipped: clip name -> why it gave no window (too short, no visible joint).
    """

    protocol: str
    observed: np.ndarray
    observed_visible: np.ndarray
    targets: np.ndarray
    target_visible: np.ndarray
    mask: np.ndarray
    ref: np.ndarray
    clip: np.ndarray
    start: np.ndarray
    target_frames: np.ndarray
    step_frames: np.ndarray
    fps: np.ndarray
    clip_names: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    skeleton: Skeleton = PENN13

    def __len__(self) -> int:
        return int(self.observed.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.targets.shape[1])


def reference_length(keypoints: np.ndarray, visibility: np.ndarray) -> float:
    """max(w, h) of the box around all visible joints of a clip ((T, V, 2), (T, V)); NaN if none."""
    pts = keypoints[np.asarray(visibility, bool) & np.isfinite(keypoints).all(-1)]  # (M, 2)
    if len(pts) == 0:
        return float("nan")
    return float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1])))


def _clean(clip: ClipLike) -> tuple[np.ndarray, np.ndarray]:
    kp = np.asarray(clip.keypoints, dtype=np.float64)  # (T, V, 2)
    vis = np.asarray(clip.visibility, bool) & np.isfinite(kp).all(-1)  # (T, V)
    kp = np.where(vis[..., None], kp, np.nan)
    return kp, vis


def _stack(protocol: str, parts: list[dict[str, np.ndarray]], names: list[str], skipped: dict[str, str],
           obs_len: int, horizon: int, V: int, skeleton: Skeleton) -> ForecastWindows:
    def cat(key: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        if not parts:
            return np.zeros((0, *shape), dtype=dtype)
        return np.concatenate([p[key] for p in parts]).astype(dtype, copy=False)

    return ForecastWindows(
        protocol=protocol,
        observed=cat("observed", (obs_len, V, 2), np.float64),
        observed_visible=cat("observed_visible", (obs_len, V), bool),
        targets=cat("targets", (horizon, V, 2), np.float64),
        target_visible=cat("target_visible", (horizon, V), bool),
        mask=cat("mask", (horizon, V), bool),
        ref=cat("ref", (), np.float64),
        clip=cat("clip", (), np.int64),
        start=cat("start", (), np.int64),
        target_frames=cat("target_frames", (horizon,), np.int64),
        step_frames=cat("step_frames", (), np.int64),
        fps=cat("fps", (), np.float64),
        clip_names=names, skipped=skipped, skeleton=skeleton)


def _window_part(kp: np.ndarray, vis: np.ndarray, obs_idx: np.ndarray, tgt_idx: np.ndarray, mask: np.ndarray,
                 ref: float, ci: int, step: int, fps: float) -> dict[str, np.ndarray]:
    n = len(obs_idx)
    return {"observed": kp[obs_idx], "observed_visible": vis[obs_idx], "targets": kp[tgt_idx],
            "target_visible": vis[tgt_idx], "mask": mask, "ref": np.full(n, ref),
            "clip": np.full(n, ci), "start": obs_idx[:, -1], "target_frames": tgt_idx,
            "step_frames": np.full(n, step), "fps": np.full(n, fps)}


def protocol_a_windows(clips: Sequence[ClipLike], horizon: int = HORIZON,
                       skeleton: Skeleton = PENN13) -> ForecastWindows:
    """Protocol A windows: every frame of every clip, one observed pose, strided future (module doc).

    observed (N, 1, V, 2), targets (N, horizon, V, 2); N = the total number of frames of the clips that
    have a visible joint (Penn Action test split: 76298 windows from 1068 clips).
    """
    parts, names, skipped = [], [], {}
    k = np.arange(1, horizon + 1)  # (H,)
    for clip in clips:
        kp, vis = _clean(clip)
        T = len(kp)
        ref = reference_length(kp, vis)
        if T == 0 or not np.isfinite(ref):
            skipped[clip.name] = "no visible joint"
            continue
        stride = max(1, (T - 1) // 17)
        s = np.arange(T)  # (n,)
        tgt = np.minimum(s[:, None] + stride * k[None], T - 1)  # (n, H)
        mask = vis[tgt] & vis[s][:, None]  # (n, H, V)
        parts.append(_window_part(kp, vis, s[:, None], tgt, mask, ref, len(names), stride,
                                  float(getattr(clip, "fps", 30.0))))
        names.append(clip.name)
    return _stack("A", parts, names, skipped, 1, horizon, skeleton.num_joints, skeleton)


def protocol_b_windows(clips: Sequence[ClipLike], observe: int = OBSERVE_B, horizon: int = HORIZON,
                       skeleton: Skeleton = PENN13) -> ForecastWindows:
    """Protocol B windows: observe ``observe`` frames, predict the next ``horizon`` at the native rate.

    Start (last observed) frames ``s = observe-1 .. T-horizon-1``; observed (N, observe, V, 2) = frames
    ``s-observe+1 .. s``, targets (N, horizon, V, 2) = frames ``s+1 .. s+horizon``; a joint counts where
    visible at the target, at ``s`` and at ``s-3`` (Penn Action test split: 49653 windows).
    """
    if observe < 4:
        raise ValueError(f"protocol B needs at least 4 observed frames (the mask uses frame s-3), got {observe}")
    parts, names, skipped = [], [], {}
    for clip in clips:
        kp, vis = _clean(clip)
        T = len(kp)
        ref = reference_length(kp, vis)
        if not np.isfinite(ref):
            skipped[clip.name] = "no visible joint"
            continue
        s = np.arange(observe - 1, T - horizon)  # (n,)
        if len(s) == 0:
            skipped[clip.name] = f"{T} frames < {observe + horizon} (observed + future)"
            continue
        obs = s[:, None] + np.arange(-observe + 1, 1)[None]  # (n, observe)
        tgt = s[:, None] + np.arange(1, horizon + 1)[None]  # (n, H)
        mask = vis[tgt] & (vis[s] & vis[s - 3])[:, None]  # (n, H, V)
        parts.append(_window_part(kp, vis, obs, tgt, mask, ref, len(names), 1,
                                  float(getattr(clip, "fps", 30.0))))
        names.append(clip.name)
    return _stack("B", parts, names, skipped, observe, horizon, skeleton.num_joints, skeleton)


def resample_clip(frames: np.ndarray, speed: float) -> np.ndarray:
    """(T, V, 2) pixels (NaN = invisible) played at ``speed`` -> (T', V, 2), T' = floor((T-1)/speed) + 1,
    frame i at source time ``i * speed``: linear interpolation where both bracketing frames see the joint,
    else the nearest frame's value; a joint is visible where it is visible in the nearest frame."""
    T = len(frames)
    t = np.arange(int(np.floor((T - 1) / speed + 1e-9)) + 1) * speed  # (T',) source times
    i0 = np.minimum(np.floor(t + 1e-9).astype(np.int64), T - 1)
    i1 = np.minimum(i0 + 1, T - 1)
    a = (t - i0)[:, None, None]  # (T', 1, 1)
    lin = (1.0 - a) * frames[i0] + a * frames[i1]  # (T', V, 2), NaN where either is NaN
    near = frames[np.minimum(np.rint(t).astype(np.int64), T - 1)]  # (T', V, 2)
    out = np.where(np.isfinite(lin) & np.isfinite(near), lin, near)
    return out.astype(frames.dtype)


@dataclass
class TempoClip:
    """A clip played at another speed (:func:`tempo_copies`): the ``ClipLike`` fields only."""

    name: str
    keypoints: np.ndarray  # (T', V, 2), NaN where invisible
    visibility: np.ndarray  # (T', V) bool
    fps: float


def tempo_copies(clips: Sequence[ClipLike], speeds: Sequence[float]) -> list[TempoClip]:
    """Every clip played at every speed but 1 (:func:`resample_clip`), named ``<name>@<speed>``; the frame
    rate is kept, so a copy at 1.25 is the same motion done 1.25 times faster. Training data only (the kNN
    index and the learned forecasters use them to see more tempos); never evaluation windows."""
    out = []
    for sp in (float(v) for v in speeds if float(v) != 1.0):
        for clip in clips:
            kp, _ = _clean(clip)
            if len(kp) == 0:
                continue
            r = resample_clip(kp, sp)  # (T', V, 2)
            fps = float(getattr(clip, "fps", 30.0))
            out.append(TempoClip(f"{clip.name}@{sp:g}", r, np.isfinite(r).all(-1), fps))
    return out


def joint_angle_triplets(skeleton: Skeleton = PENN13) -> dict[str, tuple[int, int, int]]:
    """Joint angles of ``kinematics.angles`` that ``skeleton`` has: name -> (a, vertex, b) joint indices."""
    from sportlens.kinematics.angles import ANGLE_SPECS

    out = {}
    for spec in ANGLE_SPECS:
        if spec.kind in ("interior", "flexion") and all(skeleton.has(j) for j in spec.points):
            out[spec.name] = tuple(skeleton.index(j) for j in spec.points)
    return out


def _angles(pose: np.ndarray, triplets: dict[str, tuple[int, int, int]]) -> np.ndarray:
    """(..., A) unsigned angle a-vertex-b in degrees of (..., V, 2) poses (flexion = 180 - it has the
    same absolute error, so the interior angle serves both kinds)."""
    shape = pose.shape[:-2]
    flat = pose.reshape(-1, *pose.shape[-2:])  # (M, V, 2)
    cols = [angle_between(flat[:, a] - flat[:, v], flat[:, b] - flat[:, v]) for a, v, b in triplets.values()]
    return np.stack(cols, axis=-1).reshape(*shape, len(triplets))


def evaluate(pred: np.ndarray, windows: ForecastWindows, threshold: float = PCK_THRESHOLD,
             angle_times_ms: Sequence[float] = ANGLE_TIMES_MS) -> dict[str, Any]:
    """Score predicted poses ``pred`` (N, H, V, 2) pixels against ``windows``.

    Returns a dict (lists, JSON-ready), per step k = 1..H unless said otherwise:
    ``pck`` PCK@threshold in [0, 1]; ``mpjpe_ref`` mean per-joint error / reference length;
    ``angle_error_deg`` mean joint-angle error (degrees); ``n_joints`` counted joints;
    ``n_angles`` counted angles; ``angle_error_at_ms`` (protocol B: uniform native-rate steps) a list of
    {"ms", "step", "step_ms", "deg"} for the nearest step to each of ``angle_times_ms``;
    ``n_windows``, ``n_empty_windows`` (no counted joint at any step), ``n_missing_pred`` (NaN
    predictions at counted joints: PCK misses), ``skipped`` (clips without a window), ``threshold``.
    """
    pred = np.asarray(pred, dtype=np.float64)
    if pred.shape != windows.targets.shape:
        raise ValueError(f"pred must have the targets' shape {windows.targets.shape}, got {pred.shape}")
    mask = windows.mask  # (N, H, V)
    ref = windows.ref[:, None, None]  # (N, 1, 1)
    dist = np.linalg.norm(pred - windows.targets, axis=-1)  # (N, H, V); NaN where either is NaN
    finite = np.isfinite(dist)
    with np.errstate(invalid="ignore"):
        correct = mask & finite & (dist <= threshold * ref)  # (N, H, V)
    n_joints = mask.sum(axis=(0, 2))  # (H,)
    scored = mask & finite
    rel = np.where(scored, dist / ref, 0.0)  # (N, H, V)
    with np.errstate(invalid="ignore", divide="ignore"):
        pck = correct.sum(axis=(0, 2)) / n_joints
        mpjpe = rel.sum(axis=(0, 2)) / scored.sum(axis=(0, 2))

    triplets = joint_angle_triplets(windows.skeleton)
    idx = np.array(list(triplets.values()))  # (A, 3)
    ang_ok = mask[..., idx].all(-1)  # (N, H, A)
    ang_true = _angles(windows.targets, triplets)  # (N, H, A)
    ang_pred = _angles(pred, triplets)  # (N, H, A)
    ang_err = np.abs(ang_pred - ang_true)
    ang_ok &= np.isfinite(ang_err)
    n_ang = ang_ok.sum(axis=(0, 2))  # (H,)
    with np.errstate(invalid="ignore", divide="ignore"):
        ang_mean = np.where(ang_ok, ang_err, 0.0).sum(axis=(0, 2)) / n_ang

    out: dict[str, Any] = {
        "protocol": windows.protocol, "threshold": threshold, "n_windows": len(windows),
        "n_empty_windows": int((~mask.any(axis=(1, 2))).sum()),
        "n_missing_pred": int((mask & ~finite).sum()),
        "pck": pck.tolist(), "mpjpe_ref": mpjpe.tolist(), "angle_error_deg": ang_mean.tolist(),
        "n_joints": n_joints.tolist(), "n_angles": n_ang.tolist(), "angles": list(triplets),
        "skipped": dict(windows.skipped),
    }
    uniform = len(windows) and np.all(windows.step_frames == 1) and np.ptp(windows.fps) == 0
    if uniform:
        fps = float(windows.fps[0])
        at = []
        for ms in angle_times_ms:
            step = int(np.clip(round(ms * fps / 1000.0), 1, windows.horizon))
            at.append({"ms": ms, "step": step, "step_ms": 1000.0 * step / fps, "deg": float(ang_mean[step - 1])})
        out["angle_error_at_ms"] = at
    return out
