"""A rendered video dataset for proofs and tests: articulated stick figures doing sports-like movements.

Nothing here is real data. Every clip is a deterministic function of ``(spec.seed, class, clip)``:
the same spec always renders the same pixels, so a test or a proof run can be repeated bit for bit.

One clip:
- a person in the PENN13 joint layout (``sportlens.skeletons.PENN13``), built by forward kinematics
  from joint-angle trajectories over time (``_MOVES``: one function per class, frontal or side view),
  drawn with thick anti-aliased ``cv2`` lines and joint discs, the far limbs of a side view darker and
  drawn first; body proportions, limb thickness and colours vary per clip;
- per-clip variation of the movement: speed (repetitions per clip or swing duration), amplitude,
  phase / start time, a smooth time warp, and the facing direction (a mirrored clip is a real mirror
  image: x mirrored AND left/right joints swapped, so labels stay anatomical);
- optional equipment (``spec.equipment``): a club for the golf swing, a racket for the tennis swing, a
  rope for rope skipping;
- a background (gradient sky/ground, low-frequency noise, court-like stripes, or clutter shapes),
  rendered larger than the frame and panned by a slow camera drift plus jitter (the person moves with
  the world), a slow zoom, and per-frame pixel noise.

Outputs per clip (``VideoSample`` from ``sportlens.data.video_datasets``): frames (L, H, W, 3) uint8
RGB, keypoints (L, 13, 2) float pixels (true positions, also for joints outside the frame),
visibility (L, 13) bool (False only where a joint is outside the frame: the figure has no
self-occlusion model), bbox (L, 4) person box (x1, y1, x2, y2) pixels (may reach outside the frame),
label (class name). ``make_synthetic_dataset`` renders lazily: each sample holds a picklable callable
that draws its frames on demand, so thousands of clips need not sit in memory.
"""
from __future__ import annotations

import csv
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from sportlens.data.video_datasets import VideoSample
from sportlens.skeletons import PENN13

__all__ = ["SYNTHETIC_CLASSES", "SyntheticVideoSpec", "make_synthetic_dataset", "render_clip",
           "render_frames", "write_synthetic_videos"]

SYNTHETIC_CLASSES: tuple[str, ...] = (
    "squat", "jumping_jacks", "pushup", "arm_raise", "golf_swing", "tennis_swing", "lunge", "jump_rope")

# PENN13 indices
HEAD, LSH, RSH, LEL, REL, LWR, RWR, LHIP, RHIP, LKN, RKN, LAN, RAN = range(13)
_FLIP = PENN13.flip_index
_BONES = PENN13.edge_index  # (E, 2)
_SHIFT = 4  # cv2 fractional bits: sub-pixel drawing
_SCALE = float(1 << _SHIFT)


@dataclass(frozen=True)
class SyntheticVideoSpec:
    """What to render. ``frames``: (min, max) clip length L, inclusive; ``size``: (H, W)."""

    num_classes: int = 6  # the first n of SYNTHETIC_CLASSES (at most 8)
    clips_per_class: int = 20
    frames: tuple[int, int] = (24, 40)
    size: tuple[int, int] = (128, 128)  # (H, W)
    seed: int = 0
    fps: float = 30.0
    person_scale: tuple[float, float] = (0.5, 0.8)  # body height / frame height
    camera_jitter: float = 0.6  # px, per-frame camera shake (std)
    camera_drift: float = 0.05  # max pan over a clip, fraction of the frame side
    zoom: float = 0.05  # max relative slow zoom over a clip
    noise: float = 6.0  # max std of the per-frame pixel noise (grey levels)
    equipment: bool = True  # club / racket / rope
    mirror: bool = True  # half the clips face the other way (mirror image, left/right swapped)

    def __post_init__(self) -> None:
        if not 1 <= self.num_classes <= len(SYNTHETIC_CLASSES):
            raise ValueError(f"num_classes must be 1..{len(SYNTHETIC_CLASSES)}, got {self.num_classes}")
        if self.clips_per_class < 1:
            raise ValueError(f"clips_per_class must be >= 1, got {self.clips_per_class}")
        lo, hi = self.frames
        if not 1 <= lo <= hi:
            raise ValueError(f"frames must be (min, max) with 1 <= min <= max, got {self.frames}")
        if min(self.size) < 16:
            raise ValueError(f"size must be (H, W) with both >= 16, got {self.size}")

    @property
    def classes(self) -> tuple[str, ...]:
        return SYNTHETIC_CLASSES[: self.num_classes]


# ---------------------------------------------------------------- kinematics
def _dir(theta: np.ndarray) -> np.ndarray:
    """(..., 2) unit vector; theta 0 = down (+y), pi/2 = right (+x), pi = up."""
    return np.stack([np.sin(theta), np.cos(theta)], axis=-1)


def _ik(root: np.ndarray, target: np.ndarray, l1: float, l2: float, bend: float) -> tuple[np.ndarray, np.ndarray]:
    """Two-bone IK: (middle joint, end joint) reaching from ``root`` towards ``target`` (both (L, 2));
    ``bend`` +1/-1 picks the side the middle joint bends to. Out of reach: the limb points straight at it."""
    d = target - root
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    u = d / np.maximum(dist, 1e-9)
    r = np.clip(dist, abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6)
    a = (l1 ** 2 - l2 ** 2 + r ** 2) / (2 * r)  # along u from the root
    h = np.sqrt(np.maximum(l1 ** 2 - a ** 2, 0.0))
    perp = np.stack([-u[:, 1], u[:, 0]], axis=-1) * bend
    mid = root + u * a + perp * h
    return mid, root + u * r


@dataclass
class _Body:
    """Proportions in body-height units (standing figure ~1 tall)."""

    torso: float
    neck: float
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    shoulder: float  # half width
    hip: float  # half width
    head_r: float
    limb: float  # limb thickness


def _fk(b: _Body, a: dict[str, np.ndarray]) -> np.ndarray:
    """(L, 13, 2) joints from absolute segment angles (see ``_dir``), pelvis at the origin.

    keys: torso (pelvis -> neck), l_ua/r_ua, l_fa/r_fa (upper arm, forearm), l_th/r_th, l_sh/r_sh
    (thigh, shin), width (shoulder/hip half-width factor: 1 frontal, ~0.25 side view).
    """
    L = len(a["torso"])
    J = np.zeros((L, 13, 2))
    up = _dir(a["torso"])
    neck = up * b.torso
    perp = _dir(a["torso"] - np.pi / 2)  # towards the person's left (image +x in a frontal view)
    w = a["width"][:, None]
    J[:, HEAD] = neck + up * b.neck
    J[:, LSH], J[:, RSH] = neck + perp * b.shoulder * w, neck - perp * b.shoulder * w
    J[:, LHIP], J[:, RHIP] = perp * b.hip * w, -perp * b.hip * w
    for s, sh, el, wr, hp, kn, an in (("l", LSH, LEL, LWR, LHIP, LKN, LAN), ("r", RSH, REL, RWR, RHIP, RKN, RAN)):
        J[:, el] = J[:, sh] + _dir(a[f"{s}_ua"]) * b.upper_arm
        J[:, wr] = J[:, el] + _dir(a[f"{s}_fa"]) * b.forearm
        J[:, kn] = J[:, hp] + _dir(a[f"{s}_th"]) * b.thigh
        J[:, an] = J[:, kn] + _dir(a[f"{s}_sh"]) * b.shin
    return J


def _angles(L: int, **kw: np.ndarray | float) -> dict[str, np.ndarray]:
    base = dict(torso=np.pi, l_ua=0.12, r_ua=-0.12, l_fa=0.1, r_fa=-0.1, l_th=0.05, r_th=-0.05,
                l_sh=0.03, r_sh=-0.03, width=1.0)
    base.update(kw)
    return {k: np.broadcast_to(np.asarray(v, dtype=np.float64), (L,)).copy() for k, v in base.items()}


@dataclass
class _Motion:
    """A class movement over normalised time: joints (L,13,2) body units (pelvis origin), whether the
    figure rests on the ground (lowest ankle/hand snapped to the floor), the side-view flag, the extra
    vertical lift (jumps, body units, negative = up), and equipment polylines in body units."""

    joints: np.ndarray
    grounded: bool = True
    side: bool = False
    lift: np.ndarray | None = None
    equipment: list[tuple[np.ndarray, tuple[int, int, int], float]] | None = None  # (pts (L,P,2), rgb, width)


def _cycle(t: np.ndarray, p: dict) -> tuple[np.ndarray, np.ndarray]:
    """Periodic phase: (a in [0, 1], raw phase angle) for ``p['reps']`` repetitions per clip."""
    ph = 2 * np.pi * (p["reps"] * t + p["phase"])
    return (1 - np.cos(ph)) / 2, ph


def _swing(t: np.ndarray, p: dict) -> np.ndarray:
    """One swing over the clip, s in [0, 1]: rest, slow backswing to s=0.45, fast down/through to 1, hold."""
    u = np.clip((t - p["t0"]) / p["dur"], 0, 1)
    back = 0.55  # fraction of the swing time spent in the backswing
    return np.where(u < back, 0.45 * np.sin(np.pi / 2 * u / back) ** 2,
                    0.45 + 0.55 * np.sin(np.pi / 2 * (u - back) / (1 - back)))


def _squat(t, p, b):
    a, _ = _cycle(t, p)
    d = p["amp"] * a
    return _Motion(_fk(b, _angles(len(t), torso=np.pi - 0.7 * d, l_ua=1.5 * d + 0.1, r_ua=1.5 * d + 0.05,
                                  l_fa=1.5 * d + 0.1, r_fa=1.5 * d + 0.1, l_th=1.45 * d + 0.04,
                                  r_th=1.45 * d - 0.02, l_sh=-0.6 * d + 0.02, r_sh=-0.6 * d - 0.02,
                                  width=0.25)), side=True)


def _jumping_jacks(t, p, b):
    a, ph = _cycle(t, p)
    arm, leg = 0.2 + 2.6 * p["amp"] * a, 0.05 + 0.3 * p["amp"] * a
    J = _fk(b, _angles(len(t), l_ua=arm, r_ua=-arm, l_fa=arm + 0.15, r_fa=-arm - 0.15, l_th=leg, r_th=-leg,
                       l_sh=leg, r_sh=-leg))
    return _Motion(J, lift=-0.07 * p["amp"] * np.abs(np.sin(ph)))


def _pushup(t, p, b):
    a, _ = _cycle(t, p)
    beta = 0.18 + 0.3 * (1 - a) * p["amp"]  # body angle above the horizontal
    leg = -(np.pi / 2 - beta)
    ang = _angles(len(t), torso=np.pi / 2 + beta, l_th=leg, r_th=leg - 0.03, l_sh=leg, r_sh=leg - 0.03,
                  width=0.25)
    J = _fk(b, ang)
    floor = J[:, [LAN, RAN], 1].max(axis=1)
    for sh, el, wr, dx in ((LSH, LEL, LWR, 0.03), (RSH, REL, RWR, -0.03)):
        target = np.stack([J[:, sh, 0] + dx, floor], axis=-1)
        J[:, el], J[:, wr] = _ik(J[:, sh], target, b.upper_arm, b.forearm, bend=1.0)
    return _Motion(J, side=True)


def _arm_raise(t, p, b):
    a, ph = _cycle(t, p)
    arm = 0.15 + 2.7 * p["amp"] * a
    sway = 0.03 * np.sin(ph / 2)
    return _Motion(_fk(b, _angles(len(t), torso=np.pi + sway, l_ua=arm, r_ua=-arm, l_fa=arm - 0.25 * a,
                                  r_fa=-arm + 0.25 * a, l_th=0.08, r_th=-0.08, l_sh=0.08, r_sh=-0.08)))


def _golf(t, p, b, equipment: bool):
    s = _swing(t, p)  # 0 address, 0.45 top of backswing, 1 finish
    th = np.where(s < 0.45, -2.3 * p["amp"] * s / 0.45, -2.3 * p["amp"] + (2.3 * p["amp"] + 2.5) * (s - 0.45) / 0.55)
    ang = _angles(len(t), torso=np.pi + 0.1 * np.sin(th / 2), width=0.75 + 0.25 * np.cos(th / 2),
                  l_th=0.12, r_th=-0.12, l_sh=-0.02, r_sh=0.02)
    J = _fk(b, ang)
    mid = (J[:, LSH] + J[:, RSH]) / 2
    hands = mid + _dir(th) * 0.8 * (b.upper_arm + b.forearm)
    J[:, LEL], J[:, LWR] = _ik(J[:, LSH], hands + [0.01, 0], b.upper_arm, b.forearm, bend=1.0)
    J[:, REL], J[:, RWR] = _ik(J[:, RSH], hands - [0.01, 0], b.upper_arm, b.forearm, bend=-1.0)
    eq = None
    if equipment:
        grip = (J[:, LWR] + J[:, RWR]) / 2
        lag = 0.35 * np.sin(np.pi * s)  # the club head trails the hands in the downswing
        club = np.stack([grip, grip + _dir(th - lag) * 0.42], axis=1)  # (L, 2, 2)
        eq = [(club, (200, 200, 205), 0.012)]
    return _Motion(J, equipment=eq)


def _tennis(t, p, b, equipment: bool):
    s = _swing(t, p)
    top = -0.4 - 1.6 * p["amp"]  # backswing: the racket arm back on the person's right side, raised
    th = np.where(s < 0.45, -0.4 + (top + 0.4) * np.sin(np.pi / 2 * np.clip(s / 0.45, 0, 1)),
                  top + (2.3 - top) * (s - 0.45) / 0.55)  # forward swing across the body
    rot = np.sin(np.clip(th, -2, 2) / 2)
    ang = _angles(len(t), torso=np.pi - 0.08 * rot, width=0.7 + 0.3 * np.cos(np.clip(th, -2.5, 2.5) / 2),
                  r_ua=th, r_fa=th + 0.45, l_ua=0.9 - 0.6 * rot, l_fa=1.3 - 0.6 * rot,
                  l_th=0.22, r_th=-0.22, l_sh=0.12, r_sh=-0.12)
    J = _fk(b, ang)
    eq = None
    if equipment:
        hand = J[:, RWR]
        d = _dir(ang["r_fa"] + 0.5)
        neck = hand + d * 0.17
        n = _dir(ang["r_fa"] + 0.5 + np.pi / 2)
        k = np.linspace(0, 2 * np.pi, 13)
        head = neck[:, None] + d[:, None] * (0.08 * (1 - np.cos(k)))[None, :, None] + \
            n[:, None] * (0.055 * np.sin(k))[None, :, None]  # (L, 13, 2) ellipse
        eq = [(np.stack([hand, neck], axis=1), (40, 40, 40), 0.014), (head, (240, 240, 240), 0.012)]
    return _Motion(J, equipment=eq)


def _lunge(t, p, b):
    a, _ = _cycle(t, p)
    d = p["amp"] * a
    return _Motion(_fk(b, _angles(len(t), torso=np.pi - 0.05 * d, l_ua=0.15 - 0.1 * d, r_ua=-0.05 + 0.1 * d,
                                  l_fa=0.15, r_fa=0.05, l_th=0.05 + 1.3 * d, l_sh=0.02 + 0.1 * d,
                                  r_th=-0.05 - 0.6 * d, r_sh=-0.05 - 1.45 * d, width=0.25)), side=True)


def _jump_rope(t, p, b, equipment: bool):
    reps = p["reps"] * 2.5  # fast hops
    ph = 2 * np.pi * (reps * t + p["phase"])
    turn = 0.4 + 0.1 * np.sin(ph)
    J = _fk(b, _angles(len(t), l_ua=0.35, r_ua=-0.35, l_fa=turn + 0.9, r_fa=-turn - 0.9,
                       l_th=0.04, r_th=-0.04, l_sh=0.02 - 0.08 * np.abs(np.sin(ph)),
                       r_sh=-0.02 + 0.08 * np.abs(np.sin(ph))))
    eq = None
    if equipment:
        lw, rw = J[:, LWR], J[:, RWR]
        k = np.linspace(0, 1, 15)[None, :, None]
        # the rope's lowest/highest point turns around the body: its sag goes from +0.75 (under the
        # feet) to -0.5 (over the head)
        sag = (0.12 + 0.63 * np.cos(ph))[:, None, None]
        pts = rw[:, None] + (lw - rw)[:, None] * k
        pts = pts + np.concatenate([np.zeros_like(sag), sag], axis=-1) * np.sin(np.pi * k)
        eq = [(pts, (30, 30, 30), 0.008)]
    return _Motion(J, lift=-0.05 * p["amp"] * np.abs(np.sin(ph)), equipment=eq)


def _move(name: str, t: np.ndarray, p: dict, b: _Body, equipment: bool) -> _Motion:
    if name in ("golf_swing", "tennis_swing", "jump_rope"):
        return {"golf_swing": _golf, "tennis_swing": _tennis, "jump_rope": _jump_rope}[name](t, p, b, equipment)
    return {"squat": _squat, "jumping_jacks": _jumping_jacks, "pushup": _pushup, "arm_raise": _arm_raise,
            "lunge": _lunge}[name](t, p, b)


# per class: range of repetitions per clip (periodic ones)
_REPS = {"squat": (1.0, 2.2), "jumping_jacks": (1.5, 3.0), "pushup": (1.0, 2.2), "arm_raise": (0.8, 1.8),
         "lunge": (0.8, 1.6), "jump_rope": (1.0, 1.6), "golf_swing": (1, 1), "tennis_swing": (1, 1)}


# ---------------------------------------------------------------- clip parameters
def _clip_rng(spec: SyntheticVideoSpec, class_index: int, clip_index: int) -> np.random.Generator:
    return np.random.default_rng([spec.seed, class_index, clip_index, 0x5EED])


def _colour_far(rng: np.random.Generator, ref: np.ndarray, min_dist: float = 160.0) -> np.ndarray:
    for _ in range(100):
        c = rng.integers(0, 256, 3).astype(np.float64)
        if np.linalg.norm(c - ref) >= min_dist:
            return c
    return 255.0 - ref  # the opposite colour is always far enough


@dataclass
class _Clip:
    """Everything needed to render one clip (drawn once from the clip's rng)."""

    name: str
    label: str
    L: int
    keypoints: np.ndarray  # (L, 13, 2) px
    visibility: np.ndarray  # (L, 13)
    bbox: np.ndarray  # (L, 4)
    joints_draw: np.ndarray  # (L, 13, 2) px, in the drawing order's convention (before label swap)
    equipment: list  # (pts (L,P,2) px, rgb, width px)
    side: bool
    thickness: float  # px
    head_r: np.ndarray  # (L,) px
    colours: dict
    background: np.ndarray  # (H + 2m, W + 2m, 3) uint8
    offsets: np.ndarray  # (L, 2) int camera window offsets into the background
    noise: np.ndarray | None  # (H + 16, W + 16, 3) int16
    noise_offsets: np.ndarray  # (L, 2) int


def _background(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(h, w, 3) uint8 background and its base colour; variations stay within ~50 grey levels of it."""
    base = rng.uniform(30, 225, 3)
    kind = int(rng.integers(0, 4))
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    if kind == 0:  # sky / ground gradient with a horizon
        horizon = int(rng.uniform(0.35, 0.65) * h)
        g = np.linspace(-1, 1, h, dtype=np.float32)[:, None, None]
        img += g * rng.uniform(-30, 30, 3).astype(np.float32)
        img[horizon:] += rng.uniform(-35, 35, 3).astype(np.float32)
    elif kind == 1:  # low-frequency noise
        small = rng.uniform(-45, 45, (int(rng.integers(3, 8)), int(rng.integers(3, 8)), 3)).astype(np.float32)
        img += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    elif kind == 2:  # court-like stripes and lines
        period = rng.uniform(0.08, 0.25) * w
        ang = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        wave = np.sign(np.sin((xx * np.cos(ang) + yy * np.sin(ang)) * 2 * np.pi / period))
        img += wave[..., None] * rng.uniform(-25, 25, 3).astype(np.float32)
        for _ in range(int(rng.integers(1, 4))):
            y = int(rng.uniform(0.5, 1.0) * h)
            cv2.line(img, (0, y), (w - 1, int(y + rng.uniform(-0.1, 0.1) * h)),
                     tuple(float(v) for v in np.clip(base + 45, 0, 255)), 2)
    else:  # clutter: rectangles and circles
        for _ in range(int(rng.integers(4, 10))):
            col = tuple(float(v) for v in np.clip(base + rng.uniform(-45, 45, 3), 0, 255))
            x, y = int(rng.uniform(0, w)), int(rng.uniform(0, h))
            r = int(rng.uniform(0.03, 0.15) * min(h, w))
            if rng.random() < 0.5:
                cv2.rectangle(img, (x - r, y - r), (x + r, y + int(r * rng.uniform(0.5, 2))), col, -1)
            else:
                cv2.circle(img, (x, y), r, col, -1)
    img += rng.normal(0, 3, (h, w, 1)).astype(np.float32)  # fixed grain
    return np.clip(img, 0, 255).astype(np.uint8), base


def _clip(spec: SyntheticVideoSpec, class_index: int, clip_index: int) -> _Clip:
    if not 0 <= class_index < spec.num_classes:
        raise ValueError(f"class_index must be in [0, {spec.num_classes}), got {class_index}")
    if clip_index < 0:
        raise ValueError(f"clip_index must be >= 0, got {clip_index}")
    rng = _clip_rng(spec, class_index, clip_index)
    label = spec.classes[class_index]
    H, W = spec.size
    L = int(rng.integers(spec.frames[0], spec.frames[1] + 1))
    # --- body
    j = lambda: rng.uniform(0.92, 1.08)  # noqa: E731
    b = _Body(torso=0.30 * j(), neck=0.12 * j(), upper_arm=0.17 * j(), forearm=0.15 * j(), thigh=0.24 * j(),
              shin=0.23 * j(), shoulder=rng.uniform(0.09, 0.13), hip=rng.uniform(0.06, 0.08),
              head_r=rng.uniform(0.055, 0.07), limb=rng.uniform(0.035, 0.055))
    # --- movement
    lo, hi = _REPS[label]
    p = dict(reps=rng.uniform(lo, hi), phase=rng.uniform(0, 1), amp=rng.uniform(0.75, 1.05),
             t0=rng.uniform(0.0, 0.25), dur=rng.uniform(0.55, 0.85))
    warp = rng.uniform(-0.3, 0.3)
    t = np.linspace(0, 1, L) if L > 1 else np.zeros(1)
    t = t + warp * np.sin(2 * np.pi * t) / (2 * np.pi)  # smooth, monotonic time warp (|warp| < 1)
    m = _move(label, t, p, b, spec.equipment)
    J = m.joints + rng.normal(0, 0.004, m.joints.shape)  # tiny tremor
    mirror = spec.mirror and rng.random() < 0.5
    # --- camera: body units -> pixels
    unit = rng.uniform(*spec.person_scale) * H  # px per body unit
    zoom = 1 + rng.uniform(-spec.zoom, spec.zoom) * np.sin(np.pi * t)  # (L,)
    lowest = np.max(J[..., 1], axis=1) if m.grounded else np.zeros(L)  # feet (or hands) on the floor
    floor_y = rng.uniform(0.86, 0.95) * H
    cx = rng.uniform(0.4, 0.6) * W
    xc = (J[..., 0].min(axis=1) + J[..., 0].max(axis=1)) / 2  # centre the figure's extent ...
    xc = np.full(L, np.median(xc))  # ... once per clip (the movement itself stays visible)
    lift = m.lift if m.lift is not None else np.zeros(L)
    sx = np.where(mirror, -1.0, 1.0)

    def to_px(pts: np.ndarray) -> np.ndarray:  # (L, P, 2) body units -> px (before camera pan)
        z = (unit * zoom)[:, None]
        x = cx + sx * (pts[..., 0] - xc[:, None]) * z
        y = floor_y + (pts[..., 1] - lowest[:, None] + lift[:, None]) * z
        return np.stack([x, y], axis=-1)

    px = to_px(J)  # (L, 13, 2)
    eq = [(to_px(pts), col, wd * unit) for pts, col, wd in (m.equipment or [])]
    # camera pan: the world (background + person) shifts by -offset
    margin = int(round(max(H, W) * max(spec.camera_drift, 0.02))) + 2
    drift = rng.uniform(-1, 1, 2) * spec.camera_drift * max(H, W) / 2
    shake = rng.normal(0, spec.camera_jitter, (L, 2)) if spec.camera_jitter > 0 else np.zeros((L, 2))
    off = np.clip(np.rint(margin + drift[None] * (t[:, None] - 0.5) * 2 + shake), 0, 2 * margin).astype(int)
    shift = (off - margin).astype(np.float64)  # (L, 2) = camera offset, x/y
    px = px - shift[:, None]
    eq = [(pts - shift[:, None], col, wd) for pts, col, wd in eq]
    # --- look
    bg, base = _background(rng, H + 2 * margin, W + 2 * margin)
    colours = {k: _colour_far(rng, base) for k in ("skin", "shirt", "pants")}
    thickness = max(1.5, b.limb * unit)
    head_r = np.maximum(2.0, b.head_r * unit * zoom)
    sigma = rng.uniform(0, spec.noise) if spec.noise > 0 else 0.0
    noise = (rng.normal(0, sigma, (H + 16, W + 16, 3)).astype(np.int16) if sigma >= 0.5 else None)
    noise_off = rng.integers(0, 17, (L, 2))
    # --- labels: a mirrored clip is a mirror image, so the person's left joint is the drawn right one
    kp = px[:, _FLIP] if mirror else px.copy()
    vis = (kp[..., 0] >= 0) & (kp[..., 0] <= W - 1) & (kp[..., 1] >= 0) & (kp[..., 1] <= H - 1)
    pad = thickness / 2 + 1
    allpts = np.concatenate([px] + [e[0] for e in eq], axis=1) if eq else px
    lo_ = allpts.min(axis=1)
    hi_ = allpts.max(axis=1)
    lo_ = np.minimum(lo_, px[:, HEAD] - head_r[:, None]) - pad
    hi_ = np.maximum(hi_, px[:, HEAD] + head_r[:, None]) + pad
    bbox = np.concatenate([lo_, hi_], axis=1)
    return _Clip(name=f"syn{spec.seed}_{label}_{clip_index:05d}", label=label, L=L, keypoints=kp,
                 visibility=vis, bbox=bbox, joints_draw=px, equipment=eq, side=m.side, thickness=thickness, head_r=head_r, colours=colours, background=bg,
                 offsets=off, noise=noise, noise_offsets=noise_off)


# ---------------------------------------------------------------- drawing
def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(p[0] * _SCALE)), int(round(p[1] * _SCALE))


def _col(c: np.ndarray, k: float = 1.0) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(c * k, 0, 255))


_ARM_L, _ARM_R = ((LSH, LEL), (LEL, LWR)), ((RSH, REL), (REL, RWR))
_LEG_L, _LEG_R = ((LHIP, LKN), (LKN, LAN)), ((RHIP, RKN), (RKN, RAN))


def _draw_person(img: np.ndarray, c: _Clip, f: int) -> None:
    J = c.joints_draw[f]
    th = int(round(c.thickness))
    skin, shirt, pants = c.colours["skin"], c.colours["shirt"], c.colours["pants"]
    # Far side first (darker in side views). A side-view figure faces +x before mirroring, so its left
    # side is the far one (camera looking into the screen); mirroring the image keeps the depth order,
    # and the drawing is done before the label swap, so the drawn "l" limbs are always the far ones.
    shade = 0.7 if c.side else 0.92
    limbs_far, limbs_near = (_ARM_L, _LEG_L), (_ARM_R, _LEG_R)

    def limb(bones, col, k):
        for a, b in bones:
            cv2.line(img, _pt(J[a]), _pt(J[b]), _col(col, k), th, cv2.LINE_AA, _SHIFT)
        for _, b in bones:
            cv2.circle(img, _pt(J[b]), int(round(c.thickness / 2 * _SCALE)), _col(col, k), -1, cv2.LINE_AA, _SHIFT)

    arm, leg = limbs_far
    limb(leg, pants, shade)
    limb(arm, shirt, shade)
    # torso: a filled quad shoulders-hips plus thick outline
    quad = np.array([_pt(J[i]) for i in (LSH, RSH, RHIP, LHIP)], np.int32)
    cv2.fillConvexPoly(img, quad, _col(shirt), cv2.LINE_AA, _SHIFT)
    for a, b in ((LSH, RSH), (LHIP, RHIP), (LSH, LHIP), (RSH, RHIP)):
        cv2.line(img, _pt(J[a]), _pt(J[b]), _col(shirt), th, cv2.LINE_AA, _SHIFT)
    for i in (LSH, RSH):
        cv2.circle(img, _pt(J[i]), int(round(c.thickness / 2 * _SCALE)), _col(shirt), -1, cv2.LINE_AA, _SHIFT)
    for i in (LHIP, RHIP):
        cv2.circle(img, _pt(J[i]), int(round(c.thickness / 2 * _SCALE)), _col(pants), -1, cv2.LINE_AA, _SHIFT)
    neck = (J[LSH] + J[RSH]) / 2
    cv2.line(img, _pt(neck), _pt(J[HEAD]), _col(skin), max(1, th - 1), cv2.LINE_AA, _SHIFT)
    cv2.circle(img, _pt(J[HEAD]), int(round(c.head_r[f] * _SCALE)), _col(skin), -1, cv2.LINE_AA, _SHIFT)
    arm, leg = limbs_near
    limb(leg, pants, 1.0)
    limb(arm, shirt, 1.0)
    for i in (LWR, RWR):  # hands
        cv2.circle(img, _pt(J[i]), int(round(c.thickness * 0.6 * _SCALE)), _col(skin), -1, cv2.LINE_AA, _SHIFT)
    for pts, col, wd in c.equipment:
        P = pts[f]
        cv2.polylines(img, [np.array([_pt(q) for q in P], np.int32)], False, col, max(1, int(round(wd))),
                      cv2.LINE_AA, _SHIFT)


def _render(c: _Clip, H: int, W: int, with_figure: bool = True) -> np.ndarray:
    out = np.empty((c.L, H, W, 3), np.uint8)
    for f in range(c.L):
        ox, oy = c.offsets[f]
        img = c.background[oy:oy + H, ox:ox + W].copy()
        if with_figure:
            _draw_person(img, c, f)
        if c.noise is not None:
            nx, ny = c.noise_offsets[f]
            img = np.clip(img.astype(np.int16) + c.noise[ny:ny + H, nx:nx + W], 0, 255).astype(np.uint8)
        out[f] = img
    return out


def render_frames(spec: SyntheticVideoSpec, class_index: int, clip_index: int, with_figure: bool = True) -> np.ndarray:
    """(L, H, W, 3) uint8 RGB frames of one clip (``with_figure=False``: the same clip without the
    person and equipment, pixel for pixel the same background, camera and noise)."""
    H, W = spec.size
    return _render(_clip(spec, class_index, clip_index), H, W, with_figure)


def _sample(spec: SyntheticVideoSpec, c: _Clip, class_index: int, clip_index: int, split: str,
            frames: np.ndarray | Callable[[], np.ndarray]) -> VideoSample:
    return VideoSample(name=c.name, label=c.label, split=split, frames=frames, keypoints=c.keypoints,
                       visibility=c.visibility, bbox=c.bbox, skeleton=PENN13.name, fps=spec.fps,
                       num_frames=c.L, meta={"synthetic": True, "class_index": class_index,
                                             "clip_index": clip_index, "seed": spec.seed,
                                             "width": spec.size[1], "height": spec.size[0]})


def render_clip(spec: SyntheticVideoSpec, class_index: int, clip_index: int, *, split: str = "train",
                with_figure: bool = True) -> VideoSample:
    """One clip, rendered now: ``VideoSample`` with ``frames`` (L, H, W, 3) uint8 and its annotations."""
    H, W = spec.size
    c = _clip(spec, class_index, clip_index)
    return _sample(spec, c, class_index, clip_index, split, _render(c, H, W, with_figure))


def _splits(spec: SyntheticVideoSpec, fractions: tuple[float, ...]) -> list[str]:
    """Split name per clip index, the same for every class (stratified): a seeded shuffle, then the
    first round(f_train n) clips train, the next round(f_val n) val, the rest test."""
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"split_fractions must be 3 non-negative numbers (train, val, test) summing to 1, "
                         f"got {fractions}")
    n = spec.clips_per_class
    n_train = int(round(fractions[0] * n))
    n_val = min(n - n_train, int(round(fractions[1] * n)))
    order = np.random.default_rng([spec.seed, 0x5B1]).permutation(n)
    out = [""] * n
    for rank, i in enumerate(order):
        out[i] = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
    return out


def make_synthetic_dataset(spec: SyntheticVideoSpec, split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                           *, lazy: bool = True) -> list[VideoSample]:
    """All clips of ``spec`` (class-major order). ``lazy``: frames are rendered when asked for
    (``VideoSample.load_frames``) by a picklable callable; annotations are computed now (cheap)."""
    splits = _splits(spec, tuple(split_fractions))
    out = []
    for ci in range(spec.num_classes):
        for k in range(spec.clips_per_class):
            c = _clip(spec, ci, k)
            frames = (functools.partial(render_frames, spec, ci, k) if lazy
                      else _render(c, *spec.size))
            out.append(_sample(spec, c, ci, k, splits[k], frames))
    return out


def write_synthetic_videos(spec: SyntheticVideoSpec, out_dir: str | Path,
                           split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> Path:
    """Write the dataset in the generic video-folder layout ``load_video_folder`` reads:
    ``<out_dir>/videos/<name>.mp4``, ``<out_dir>/labels.csv`` (video,label,split,subject), and the
    annotations ``<out_dir>/annotations/<name>.npz`` (keypoints, visibility, bbox). labels.csv is
    written last and atomically, so a folder with a labels.csv is complete. Returns ``out_dir``."""
    from sportlens.video.writer import VideoWriter

    H, W = spec.size
    if H % 2 or W % 2:
        raise ValueError(f"size must be even for H.264/yuv420p video, got {spec.size}")
    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    rows = []
    for s in make_synthetic_dataset(spec, split_fractions):
        frames = s.load_frames()
        rel = f"videos/{s.name}.mp4"
        with VideoWriter(out / rel, W, H, spec.fps, crf=18) as w:
            for img in frames:
                w.write(img)
        tmp = out / "annotations" / f".{s.name}.tmp.npz"
        np.savez(tmp, keypoints=s.keypoints, visibility=s.visibility, bbox=s.bbox)
        os.replace(tmp, out / "annotations" / f"{s.name}.npz")
        rows.append({"video": rel, "label": s.label, "split": s.split, "subject": s.subject})
    tmp = out / ".labels.csv.tmp"
    with open(tmp, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=["video", "label", "split", "subject"])
        wr.writeheader()
        wr.writerows(rows)
    os.replace(tmp, out / "labels.csv")
    return out

