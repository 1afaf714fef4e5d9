"""Approximate 2D whole-body centre of mass (COM) from the pose, in image pixels.

Segment masses (% of body mass) and segment COM positions (% of the segment length from its
first endpoint) are those of de Leva P. (1996), "Adjustments to Zatsiorsky-Seluyanov's segment
inertia parameters", J Biomech 29(9):1223-1230, Table 4. By default the mean of the male and
female values is used (``sex="male"`` or ``"female"`` picks one column).

Video keypoints are not the anatomical landmarks of the table, so each segment is mapped to the
nearest keypoints (an approximation of a few centimetres, fine for tracking the COM's path):

- head: mass placed at the mid-point of the ears (near the head's COM), else the Penn ``head``
  joint, else the nose; de Leva's vertex / gonion landmarks are not tracked;
- trunk: mid-shoulder (standing in for the suprasternale) -> mid-hip (hip joint centres);
- upper arm shoulder->elbow, forearm elbow->wrist, thigh hip->knee, shank knee->ankle (lateral
  malleolus);
- hand: wrist -> mean of the index and pinky knuckles (3rd metacarpal head), BlazePose only;
- foot: heel -> toe tip (``foot_index``), BlazePose only.

In each frame the COM is the mass-weighted mean of the segment COMs that can be placed, with the
mass fractions renormalised over those segments (a layout without feet, or a hidden forearm,
shares that mass out over the rest). Without the trunk (both shoulders and both hips) the frame
is NaN: the trunk carries ~43 % of the mass, so any estimate without it would be a guess.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sportlens.kinematics.angles import joint_xy
from sportlens.types import PoseTrack


@dataclass(frozen=True)
class Segment:
    name: str
    proximal: str  # joint or virtual point the COM fraction is measured from
    distal: str
    mass: tuple[float, float]  # % of body mass (male, female)
    com: tuple[float, float]  # % of proximal->distal length (male, female)


def _both(name: str, prox: str, dist: str, mass: tuple[float, float],
          com: tuple[float, float]) -> tuple[Segment, ...]:
    return tuple(Segment(f"{s}_{name}", f"{s}_{prox}", f"{s}_{dist}", mass, com) for s in ("left", "right"))


# de Leva 1996, Table 4 (male, female)
SEGMENTS: tuple[Segment, ...] = (
    Segment("head", "head_centre", "head_centre", (6.94, 6.68), (0.0, 0.0)),
    Segment("trunk", "mid_shoulder", "mid_hip", (43.46, 42.57), (44.86, 41.51)),
    *_both("upper_arm", "shoulder", "elbow", (2.71, 2.55), (57.72, 57.54)),
    *_both("forearm", "elbow", "wrist", (1.62, 1.38), (45.74, 45.59)),
    *_both("hand", "wrist", "hand_centre", (0.61, 0.56), (79.00, 74.74)),
    *_both("thigh", "hip", "knee", (14.16, 14.78), (40.95, 36.12)),
    *_both("shank", "knee", "ankle", (4.33, 4.81), (44.59, 44.16)),
    *_both("foot", "heel", "foot_index", (1.37, 1.29), (44.15, 40.14)),
)

_SEX_WEIGHTS = {"male": (1.0, 0.0), "female": (0.0, 1.0), "average": (0.5, 0.5)}


def segment_parameters(sex: str = "average") -> dict[str, tuple[float, float]]:
    """segment name -> (mass fraction of the body, COM fraction along the segment), both in [0, 1]."""
    try:
        wm, wf = _SEX_WEIGHTS[sex]
    except KeyError:
        raise ValueError(f"sex must be one of {', '.join(_SEX_WEIGHTS)}, got {sex!r}") from None
    return {s.name: ((wm * s.mass[0] + wf * s.mass[1]) / 100.0, (wm * s.com[0] + wf * s.com[1]) / 100.0)
            for s in SEGMENTS}


def center_of_mass(track: PoseTrack, sex: str = "average") -> np.ndarray:
    """(T, 2) approximate whole-body COM in pixels; NaN in frames without the trunk."""
    params = segment_parameters(sex)
    T = track.num_frames
    weighted = np.zeros((T, 2))  # (T, 2) sum of mass * segment COM
    total = np.zeros(T)  # (T,) mass of the segments placed in each frame
    for seg in SEGMENTS:
        mass, frac = params[seg.name]
        p, d = joint_xy(track, seg.proximal), joint_xy(track, seg.distal)  # (T, 2) each
        c = p + frac * (d - p)  # (T, 2)
        ok = np.isfinite(c).all(axis=1)
        weighted[ok] += mass * c[ok]
        total[ok] += mass
    trunk = np.isfinite(joint_xy(track, "mid_shoulder") + joint_xy(track, "mid_hip")).all(axis=1)  # (T,)
    out = np.full((T, 2), np.nan)
    out[trunk] = weighted[trunk] / total[trunk, None]
    return out
