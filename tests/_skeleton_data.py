"""Generated Penn-13 skeleton clips of two movements, for training tests without real data."""
from __future__ import annotations

import numpy as np

from sportlens.data import SkeletonClip
from sportlens.skeletons import PENN13

# A standing pose, pixels (x right, y down), person ~200 px tall.
_STAND = {"head": (100, 20), "left_shoulder": (115, 50), "right_shoulder": (85, 50), "left_elbow": (120, 85),
          "right_elbow": (80, 85), "left_wrist": (122, 118), "right_wrist": (78, 118), "left_hip": (110, 120),
          "right_hip": (90, 120), "left_knee": (111, 165), "right_knee": (89, 165), "left_ankle": (112, 210),
          "right_ankle": (88, 210)}


def _base() -> np.ndarray:
    return np.array([_STAND[j] for j in PENN13.joints], dtype=float)  # (13, 2)


def movement(kind: str, T: int, rng: np.random.Generator, phase: float = 0.0) -> np.ndarray:
    """(T, 13, 2): 'raise' lifts both arms overhead and back; 'squat' bends the knees and lowers the hips."""
    t = np.arange(T) / 30.0
    s = 0.5 - 0.5 * np.cos(2 * np.pi * (t / 1.2) + phase)  # (T,) 0..1..0, 1.2 s period
    kp = np.repeat(_base()[None], T, axis=0)
    idx = PENN13.index
    if kind == "raise":
        for side, sign in (("left", 1), ("right", -1)):
            sh = kp[:, idx(f"{side}_shoulder")]
            for j, r in ((f"{side}_elbow", 35.0), (f"{side}_wrist", 68.0)):
                ang = np.pi / 2 - s * np.pi * 0.95  # from down (pi/2) to up
                kp[:, idx(j), 0] = sh[:, 0] + sign * r * np.cos(ang) * 0.3
                kp[:, idx(j), 1] = sh[:, 1] + r * np.sin(ang)
    else:  # squat: hips and everything above drop, knees move forward
        drop = 45.0 * s
        for j in PENN13.joints:
            if "knee" in j:
                kp[:, idx(j), 0] += 20.0 * s  # (T,)
            elif "ankle" not in j:
                kp[:, idx(j), 1] += drop  # (T,)
    kp += rng.normal(0, 1.0, kp.shape)
    return kp * rng.uniform(0.8, 1.2) + rng.uniform(0, 300, 2)


def make_clips(n_per_class: int = 20, seed: int = 0) -> list[SkeletonClip]:
    rng = np.random.default_rng(seed)
    clips = []
    for kind in ("raise", "squat"):
        for i in range(n_per_class):
            T = int(rng.integers(40, 80))
            kp = movement(kind, T, rng, phase=rng.uniform(0, 0.5))
            split = "test" if i % 4 == 0 else "train"
            clips.append(SkeletonClip(name=f"{kind}{i:03d}", keypoints=kp, visibility=np.ones(kp.shape[:2], bool),
                                      label=kind, split=split, skeleton="penn13", fps=30.0))
    return clips
