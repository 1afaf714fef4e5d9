"""Joint and segment angles from a 2D pose track, with angular velocity and acceleration.

ANGLE CONVENTIONS
=================

Coordinates are those of the video picture: x to the right, y DOWN (pixels). All angles are in
degrees, angular velocities in deg/s and accelerations in deg/s^2. "Left"/"right" are the
athlete's own sides, not the sides of the picture. Every angle is measured in the picture plane
(2D): it is exact only for movement parallel to the camera's image plane, so film side-on for
sagittal movements (running, squats, jumps) and face-on for frontal ones.

Joint angles (one column per side, e.g. ``left_knee_flexion``, ``right_knee_flexion``). They are
unsigned: 2D video cannot tell flexion from hyperextension, so both read as positive.

- ``elbow_flexion`` = 180 - the angle shoulder-elbow-wrist. 0 = straight arm, 90 = right angle.
- ``knee_flexion`` = 180 - the angle hip-knee-ankle. 0 = straight leg, 90 = right angle.
- ``hip_flexion`` = 180 - the angle shoulder-hip-knee (same-side shoulder). 0 = trunk and thigh
  in line (standing), 90 = thigh at right angle to the trunk (sitting).
- ``shoulder_flexion`` = the angle between the trunk (shoulder->hip) and the upper arm
  (shoulder->elbow). 0 = arm hanging along the trunk, 90 = arm at right angle to the trunk,
  180 = arm straight overhead. Filmed side-on this is flexion/extension, face-on it is abduction.
- ``ankle_dorsiflexion`` = 90 - the angle between the shank (ankle->knee) and the sole of the
  foot (heel->toe tip, ``heel``->``foot_index``). 0 = foot at right angle to the shank (standing),
  positive = dorsiflexion (toes pulled towards the shin), negative = plantarflexion (pointed toes).
  Needs foot landmarks, which only the ``blazepose33`` layout has: the column exists for every
  layout but is empty (NaN) for ``coco17`` and ``penn13``.

Segment angles (signed, ``trunk_lean`` and ``*_angle``):

- ``trunk_lean`` = the angle of the trunk line (mid-hip -> mid-shoulder) from the picture's
  vertical. 0 = upright, positive = shoulders to the RIGHT of the hips in the picture, negative =
  to the left.
- ``trunk_angle``, ``left/right_upper_arm_angle`` (shoulder->elbow), ``left/right_forearm_angle``
  (elbow->wrist), ``left/right_thigh_angle`` (hip->knee), ``left/right_shank_angle``
  (knee->ankle): the direction of the segment, from its first joint to its second, measured from
  the picture's horizontal pointing RIGHT, ANTICLOCKWISE as seen on screen (like a maths
  protractor: 90 = pointing up, -90 = pointing down, 180 = pointing left). Upright trunk = 90,
  standing thigh = -90.

Segment angles and ``trunk_lean`` are UNWRAPPED over time: the first value lies in (-180, 180],
later values continue without jumping from +180 to -180, so a full turn (a somersault, a swing
round a bar) reads as a steady climb to 360, 720, ... Across a gap where the segment is not seen
the angle resumes at the full-turn multiple closest to the last value before the gap (the
smallest rotation that explains the gap).

Velocity and acceleration use the real frame timestamps (variable frame rate is fine):
second-order finite differences over each unbroken run of frames (``numpy.gradient`` with the
times), so a missing frame never yields a made-up value. They are NaN for frames in runs too
short to differentiate (velocity: 1 frame, acceleration: fewer than 3 frames).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sportlens.skeletons import get_skeleton
from sportlens.types import AngleTable, PoseTrack

# Points that are not joints of any layout, each a list of recipes tried in order per frame: a
# recipe is the mean of its joints, so it is NaN unless all of them are present (averaging only
# the visible hip would move the mid-hip by half the pelvis width).
VIRTUAL_POINTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "mid_hip": (("left_hip", "right_hip"),),
    "mid_shoulder": (("left_shoulder", "right_shoulder"),),
    "head_centre": (("left_ear", "right_ear"), ("head",), ("nose",)),
    # BlazePose index/pinky are knuckles: their mean is near the 3rd metacarpal head
    "left_hand_centre": (("left_index", "left_pinky"),),
    "right_hand_centre": (("right_index", "right_pinky"),),
}


@dataclass(frozen=True)
class AngleSpec:
    """How one angle column is computed. ``points`` are joint or ``VIRTUAL_POINTS`` names."""

    name: str
    kind: str  # interior | flexion | dorsiflexion | lean | segment
    points: tuple[str, ...]


# (suffix, kind, joints without side prefix)
_JOINT_TEMPLATES = (
    ("shoulder_flexion", "interior", ("hip", "shoulder", "elbow")),
    ("elbow_flexion", "flexion", ("shoulder", "elbow", "wrist")),
    ("hip_flexion", "flexion", ("shoulder", "hip", "knee")),
    ("knee_flexion", "flexion", ("hip", "knee", "ankle")),
    ("ankle_dorsiflexion", "dorsiflexion", ("knee", "ankle", "heel", "foot_index")),
)
_SEGMENT_TEMPLATES = (
    ("upper_arm_angle", ("shoulder", "elbow")),
    ("forearm_angle", ("elbow", "wrist")),
    ("thigh_angle", ("hip", "knee")),
    ("shank_angle", ("knee", "ankle")),
)
_SIDES = ("left", "right")


def _sided(suffix: str, kind: str, joints: tuple[str, ...]) -> tuple[AngleSpec, ...]:
    return tuple(AngleSpec(f"{s}_{suffix}", kind, tuple(f"{s}_{j}" for j in joints)) for s in _SIDES)


ANGLE_SPECS: tuple[AngleSpec, ...] = (
    *(spec for n, k, js in _JOINT_TEMPLATES for spec in _sided(n, k, js)),
    AngleSpec("trunk_lean", "lean", ("mid_hip", "mid_shoulder")),
    AngleSpec("trunk_angle", "segment", ("mid_hip", "mid_shoulder")),
    *(spec for n, js in _SEGMENT_TEMPLATES for spec in _sided(n, "segment", js)),
)
# The one place the angle column names come from.
ANGLE_NAMES: tuple[str, ...] = tuple(s.name for s in ANGLE_SPECS)


def joint_xy(track: PoseTrack, name: str) -> np.ndarray:
    """(T, 2) position of a joint or virtual point; NaN where missing or not in the layout."""
    skel = get_skeleton(track.skeleton)
    out = np.full((track.num_frames, 2), np.nan)  # (T, 2)
    for recipe in VIRTUAL_POINTS.get(name, ((name,),)):
        if not all(skel.has(j) for j in recipe):
            continue
        pos = track.keypoints[:, [skel.index(j) for j in recipe]].mean(axis=1)  # (T, 2)
        fill = np.isnan(out).any(axis=1) & np.isfinite(pos).all(axis=1)
        out[fill] = pos[fill]
    return out


def angle_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(T,) unsigned angle in [0, 180] between (T, 2) vectors; NaN if either has zero length."""
    cross = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
    dot = (u * v).sum(axis=1)
    # arctan2 stays accurate near 0 and 180, where arccos(dot / norms) loses digits
    ang = np.degrees(np.arctan2(np.abs(cross), dot))
    return _nan_if_zero(_nan_if_zero(ang, u), v)


def _nan_if_zero(ang: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A zero-length (T, 2) vector (two joints on one pixel) has no direction: NaN, not 0."""
    return np.where(np.hypot(u[:, 0], u[:, 1]) == 0, np.nan, ang)


def direction(u: np.ndarray) -> np.ndarray:
    """(T,) direction of (T, 2) image vectors in (-180, 180], anticlockwise on screen from +x."""
    # -y: image y points down; + 0.0 turns -0.0 into 0.0 so a leftward segment reads 180, not -180
    return _nan_if_zero(np.degrees(np.arctan2(-u[:, 1] + 0.0, u[:, 0])), u)


def lean(u: np.ndarray) -> np.ndarray:
    """(T,) angle of (T, 2) image vectors from the upward vertical, positive towards image right."""
    return _nan_if_zero(np.degrees(np.arctan2(u[:, 0] + 0.0, -u[:, 1])), u)  # + 0.0: as in direction


def unwrap_degrees(x: np.ndarray) -> np.ndarray:
    """(T,) angles unwrapped over time; NaN gaps kept, bridged by the nearest full-turn multiple.

    Unwrapping the finite values as one sequence does both at once: inside a run and across a
    gap, each value is moved by the multiple of 360 that brings it closest to the one before.
    """
    out = np.array(x, dtype=np.float64)
    finite = np.isfinite(out)
    out[finite] = np.unwrap(out[finite], period=360.0)
    return out


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    """x[i + k] along axis 0 of a (T, ...) array, NaN where i + k falls outside."""
    out = np.full_like(x, np.nan)
    if k >= 0:
        out[: len(x) - k] = x[k:]
    else:
        out[-k:] = x[: len(x) + k]
    return out


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """(T, A) length of the run of True each element belongs to (0 where False)."""
    out = np.zeros(mask.shape, dtype=np.int64)
    for a in range(mask.shape[1]):
        m = mask[:, a]  # (T,)
        run_id = np.cumsum(m & ~np.concatenate(([False], m[:-1])))  # (T,) 1-based run number
        out[m, a] = np.bincount(run_id[m])[run_id[m]]
    return out


def time_derivative(values: np.ndarray, times: np.ndarray, min_run: int = 2) -> np.ndarray:
    """d values / d times for (T,) or (T, A) values, over each unbroken run of finite values.

    The formulas of ``numpy.gradient(values, times, edge_order=2)`` applied per run: centred
    three-point differences inside a run, one-sided three-point ones at its ends (exact for
    quadratics, whatever the spacing), a plain slope for 2-frame runs. Frames that are missing or
    in runs shorter than ``min_run`` are NaN. Vectorised: a long raw track has thousands of runs.
    """
    vals = np.asarray(values, dtype=np.float64)
    f = vals[:, None] if vals.ndim == 1 else vals  # (T, A)
    t = np.asarray(times, dtype=np.float64)[:, None]  # (T, 1)
    fm, fp, fm2, fp2 = _shift(f, -1), _shift(f, 1), _shift(f, -2), _shift(f, 2)  # (T, A) neighbours
    h1, h2 = t - _shift(t, -1), _shift(t, 1) - t  # (T, 1) steps to the previous / next frame
    hm2, hp2 = _shift(h1, -1), _shift(h2, 1)  # (T, 1) the step before the previous / after the next
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN neighbours give NaN, masked below
        central = (-h2 / (h1 * (h1 + h2)) * fm + (h2 - h1) / (h1 * h2) * f + h1 / (h2 * (h1 + h2)) * fp)
        forward = (-(2 * h2 + hp2) / (h2 * (h2 + hp2)) * f + (h2 + hp2) / (h2 * hp2) * fp
                   - h2 / (hp2 * (h2 + hp2)) * fp2)
        backward = (h1 / (hm2 * (hm2 + h1)) * fm2 - (h1 + hm2) / (hm2 * h1) * fm
                    + (2 * h1 + hm2) / (h1 * (hm2 + h1)) * f)
        slope_next, slope_prev = (fp - f) / h2, (f - fm) / h1
    out = central
    start, end = np.isnan(fm), np.isnan(fp)  # (T, A) first / last frame of a run
    for fallback, where in ((forward, start), (backward, end), (slope_next, start), (slope_prev, end)):
        out = np.where(np.isnan(out) & where, fallback, out)
    finite = np.isfinite(f)
    out = np.where(finite & (_run_lengths(finite) >= max(min_run, 2)), out, np.nan)
    return out[:, 0] if vals.ndim == 1 else out


def _angle(track: PoseTrack, spec: AngleSpec) -> np.ndarray:
    """(T,) values of one angle column."""
    p = [joint_xy(track, n) for n in spec.points]  # each (T, 2)
    if spec.kind == "interior":
        return angle_between(p[0] - p[1], p[2] - p[1])
    if spec.kind == "flexion":
        return 180.0 - angle_between(p[0] - p[1], p[2] - p[1])
    if spec.kind == "dorsiflexion":
        return 90.0 - angle_between(p[0] - p[1], p[3] - p[2])
    d = p[1] - p[0]  # (T, 2) segment vector
    if spec.kind == "lean":
        return unwrap_degrees(lean(d))
    if spec.kind == "segment":
        return unwrap_degrees(direction(d))
    raise ValueError(f"unknown angle kind {spec.kind!r}")


def compute_angles(track: PoseTrack) -> AngleTable:
    """All ``ANGLE_NAMES`` columns for a track of any layout, with velocity and acceleration."""
    times = np.asarray(track.times, dtype=np.float64)
    if np.any(np.diff(times) <= 0):
        # a derivative over a zero or negative time step is meaningless
        raise ValueError("track times must be strictly increasing to compute angular velocity")
    values = np.stack([_angle(track, s) for s in ANGLE_SPECS], axis=1)  # (T, A)
    velocity, acceleration = np.full_like(values, np.nan), np.full_like(values, np.nan)
    for sl in track.segment_slices():  # never differentiate across a jump to another person
        velocity[sl] = time_derivative(values[sl], times[sl], min_run=2)  # (t, A)
        acceleration[sl] = time_derivative(velocity[sl], times[sl], min_run=3)
    return AngleTable(times=times.copy(), names=ANGLE_NAMES, values=values,
                      velocity=velocity, acceleration=acceleration)
