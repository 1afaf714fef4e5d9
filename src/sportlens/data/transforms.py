"""Pure numpy transforms for skeleton clips: segment sampling, pose encoding, augmentations.

Shapes: T frames, V joints. ``keypoints`` (T, V, 2) pixels with NaN where a joint is not visible,
``visibility`` (T, V) bool, ``bbox`` (T, 4) = (x1, y1, x2, y2) pixels or None. Every random
function takes an explicit ``rng: np.random.Generator``; none mutates its inputs.

Spec: SportNet (shared/seeds/000), sec 2.2 (segment sampling) and sec 2.4 (pose encoding).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from sportlens.skeletons import get_skeleton

EPS = 1e-6  # the epsilon of sec 2.4: x~ = (x - x1) / (w + eps)
BOX_MARGIN = 0.1  # margin (fraction of the larger side) around a box derived from visible joints
MIN_BOX_PX = 1.0  # a box narrower/lower than this is degenerate (one visible joint): not usable


@dataclass(frozen=True)
class AugmentSettings:
    """Training-time augmentation; the one place these defaults live. 0 / None switches one off."""

    flip_p: float = 0.5  # probability of a horizontal flip (mirrors x and swaps left/right joints)
    scale: tuple[float, float] = (0.9, 1.1)  # pose scale about its centre; the box is kept (see random_scale)
    rotation_deg: float = 10.0  # uniform rotation in [-deg, deg] about the pose centre
    joint_dropout: float = 0.05  # probability that a visible joint is hidden
    noise_sigma: float = 0.0  # estimator-like jitter, fraction of body size (0 = off)
    noise_outlier_p: float = 0.0  # per joint outlier / per frame limb-swap probability (0 = off)
    crop: tuple[float, float] | None = (0.8, 1.0)  # random temporal crop, fraction of the clip length


# ---------------------------------------------------------------- sec 2.2: segment sampling
def segment_bounds(L: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    """1-based (a_i, b_i), i = 1..T: a_i = floor((i-1)L/T) + 1, b_i = floor(iL/T). Both (T,) int."""
    i = np.arange(1, T + 1)
    return (i - 1) * L // T + 1, i * L // T


def segment_indices(L: int, T: int, *, train: bool, rng: np.random.Generator | None = None) -> np.ndarray:
    """(T,) 0-based frame indices into a clip of L frames, exactly SportNet sec 2.2.

    Training: tau_i ~ U{a_i..b_i}; inference: tau_i = floor((a_i + b_i) / 2).
    When L < T some segments are empty (a_i > b_i); they take frame a_i (always <= L), so short clips
    are stretched by repeating frames in order (L=3, T=8 -> 0,0,0,1,1,1,2,2) and no index leaves [0, L).
    """
    if L < 1 or T < 1:
        raise ValueError(f"segment_indices needs L >= 1 and T >= 1, got L={L}, T={T}")
    a, b = segment_bounds(L, T)
    b = np.maximum(a, b)  # empty segment -> the single frame a_i
    if train:
        if rng is None:
            raise ValueError("segment_indices(train=True) needs an rng")
        tau = rng.integers(a, b + 1)  # inclusive U{a..b}
    else:
        tau = (a + b) // 2
    return (tau - 1).astype(np.int64)


def random_crop(L: int, frac: tuple[float, float], rng: np.random.Generator) -> slice:
    """A random window of round(U(frac) * L) frames (at least 1) at a random start: temporal jitter."""
    n = int(np.clip(round(rng.uniform(*frac) * L), 1, L))
    start = int(rng.integers(0, L - n + 1))
    return slice(start, start + n)


# ---------------------------------------------------------------- boxes
def _visible(keypoints: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """(T, V) bool: flagged visible AND finite (a NaN position is never used)."""
    return np.asarray(visibility, bool) & np.isfinite(keypoints).all(axis=-1)


def joint_boxes(keypoints: np.ndarray, visibility: np.ndarray, margin: float = BOX_MARGIN) -> np.ndarray:
    """(T, 4) box around the visible joints of each frame plus ``margin`` x its larger side; NaN rows
    for frames without a visible joint."""
    vis = _visible(keypoints, visibility)
    pts = np.where(vis[..., None], keypoints, np.nan)  # (T, V, 2)
    with warnings.catch_warnings():  # frames without a visible joint: "All-NaN slice" is expected
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanmin(pts, axis=1), np.nanmax(pts, axis=1)  # (T, 2)
    pad = margin * np.max(hi - lo, axis=1, keepdims=True)  # (T, 1)
    return np.concatenate([lo - pad, hi + pad], axis=1)


def box_ok(bbox: np.ndarray) -> np.ndarray:
    """(T,) bool: finite and at least MIN_BOX_PX wide and high."""
    with np.errstate(invalid="ignore"):
        return (np.isfinite(bbox).all(axis=1) & (bbox[:, 2] - bbox[:, 0] >= MIN_BOX_PX)
                & (bbox[:, 3] - bbox[:, 1] >= MIN_BOX_PX))


def person_boxes(keypoints: np.ndarray, visibility: np.ndarray, bbox: np.ndarray | None = None) -> np.ndarray:
    """(T, 4) usable person box per frame.

    Rows of ``bbox`` that are missing or degenerate (Penn Action has zero-size boxes around a single
    visible joint) take the box of the visible joints; frames where neither works take the nearest
    usable frame's box (forward, then backward). A clip with no usable frame gets one box around
    all its joints, or the unit box when it has none (its encoding is all zeros anyway).
    """
    T = keypoints.shape[0]
    box = joint_boxes(keypoints, visibility) if bbox is None else np.array(bbox, dtype=np.float64)
    if bbox is not None:
        bad = ~box_ok(box)
        box[bad] = joint_boxes(keypoints, visibility)[bad]
    ok = box_ok(box)
    if not ok.any():
        flat = keypoints.reshape(1, -1, 2)
        whole = joint_boxes(flat, _visible(keypoints, visibility).reshape(1, -1))[0]
        c = (whole[:2] + whole[2:]) / 2 if np.isfinite(whole).all() else np.array([0.5, 0.5])
        half = np.maximum((whole[2:] - whole[:2]) / 2, MIN_BOX_PX / 2) if np.isfinite(whole).all() else 0.5
        return np.tile(np.concatenate([c - half, c + half]), (T, 1))
    return box[_nearest_ok(ok)]


def _nearest_ok(ok: np.ndarray) -> np.ndarray:
    """(T,) index of the last ok frame at or before t, else the first ok frame after it."""
    idx = np.where(ok, np.arange(len(ok)), -1)
    fwd = np.maximum.accumulate(idx)  # forward fill
    return np.where(fwd >= 0, fwd, np.flatnonzero(ok)[0])


# ---------------------------------------------------------------- sec 2.4: pose encoding
def encode_pose(keypoints: np.ndarray, visibility: np.ndarray, bbox: np.ndarray | None = None) -> np.ndarray:
    """(T, V, 5) float32 per-frame code [x~, y~, dx~, dy~, m], exactly SportNet sec 2.4.

    x~ = (x - x1) / (w + eps), y~ = (y - y1) / (h + eps) with the frame's person box (x1, y1, x2, y2),
    w = x2 - x1, h = y2 - y1; dx~_t = x~_t - x~_{t-1} (0 at t = 0); m = visibility.
    Invisible joints encode as 0 (m says they are missing) and their dx~, dy~ are 0 whenever either
    frame is invisible. ``bbox`` None or unusable rows: see ``person_boxes``.
    """
    vis = _visible(keypoints, visibility)  # (T, V)
    return _pose_code(keypoints, vis, person_boxes(keypoints, vis, bbox))


def _pose_code(keypoints: np.ndarray, vis: np.ndarray, box: np.ndarray) -> np.ndarray:
    """``encode_pose`` given the (T, V) visible mask and the (T, 4) usable person boxes."""
    wh = (box[:, 2:] - box[:, :2])[:, None, :]  # (T, 1, 2)
    pos = (keypoints - box[:, None, :2]) / (wh + EPS)  # (T, V, 2)
    pos = np.where(vis[..., None], pos, 0.0)
    vel = np.zeros_like(pos)  # (T, V, 2)
    both = vis[1:] & vis[:-1]  # (T-1, V)
    vel[1:] = np.where(both[..., None], pos[1:] - pos[:-1], 0.0)
    return np.concatenate([pos, vel, vis[..., None].astype(np.float64)], axis=-1).astype(np.float32)


def _clip_frame(box: np.ndarray) -> tuple[np.ndarray, float]:
    """The clip-level frame of ``encode_global`` from the (T, 4) usable person boxes: ONE centre (2,)
    = mean of the boxes' centres and ONE scale = median of their larger side (+ eps), same for x and y."""
    centre = ((box[:, :2] + box[:, 2:]) / 2).mean(axis=0)  # (2,)
    return centre, float(np.median((box[:, 2:] - box[:, :2]).max(axis=1))) + EPS


def _with_velocity(pos: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """(T, V, 2) positions -> (T, V, 4) [pos, d pos]: d_t = pos_t - pos_{t-1} where ``ok`` (T, V) holds at
    both t and t-1, else 0 (and 0 at t = 0)."""
    vel = np.zeros_like(pos)
    both = ok[1:] & ok[:-1]  # (T-1, V)
    vel[1:] = np.where(both[..., None], pos[1:] - pos[:-1], 0.0)
    return np.concatenate([pos, vel], axis=-1)


def encode_global(keypoints: np.ndarray, visibility: np.ndarray, bbox: np.ndarray | None = None) -> np.ndarray:
    """(T, V, 4) float32 clip-level code [xg, yg, dxg, dyg] (our addition, not SportNet).

    SportNet's x~, y~ divide by each frame's own box, per axis: a person lying down (bench press) and
    one hanging (pull-up) look alike, and whole-body motion (a jump, the body rising in a pull-up)
    vanishes. Here every frame uses ONE centre (the mean of the clip's box centres) and ONE scale
    (the median of the boxes' larger side), the same for x and y, so posture and body travel survive.
    """
    vis = _visible(keypoints, visibility)  # (T, V)
    return _global_code(keypoints, vis, person_boxes(keypoints, vis, bbox))


def _global_code(keypoints: np.ndarray, vis: np.ndarray, box: np.ndarray) -> np.ndarray:
    centre, scale = _clip_frame(box)
    pos = np.where(vis[..., None], (keypoints - centre) / scale, 0.0)  # (T, V, 2)
    return _with_velocity(pos, vis).astype(np.float32)


_LAYOUT_BY_JOINTS = {get_skeleton(n).num_joints: n for n in ("penn13", "coco17", "blazepose33")}


@lru_cache(maxsize=None)
def bone_parents(skeleton: str) -> np.ndarray:
    """(V,) parent joint of every joint in the bone tree of ``skeleton``, -1 for none.

    The tree is the breadth-first spanning tree of the layout's edges (``skeletons.py``) from joint 0
    (Penn-13: head -> shoulders -> elbows -> wrists, shoulders -> hips -> knees -> ankles); a part of
    the graph not connected to joint 0 gets its own tree from its lowest joint. Roots have no parent.
    Penn-13's tree is left/right symmetric (tested), so a flip maps the bone of joint j onto the
    mirrored bone of its twin.
    """
    sk = get_skeleton(skeleton)
    nbrs: list[list[int]] = [[] for _ in range(sk.num_joints)]
    for a, b in sk.edge_index:
        nbrs[a].append(int(b))
        nbrs[b].append(int(a))
    parent = np.full(sk.num_joints, -1, dtype=np.int64)
    seen: set[int] = set()
    for root in range(sk.num_joints):  # one tree per connected part (COCO's face is not linked to its body)
        if root in seen:
            continue
        seen.add(root)
        queue = [root]
        for j in queue:  # the queue grows while we walk it: breadth-first
            for k in nbrs[j]:
                if k not in seen:
                    seen.add(k)
                    parent[k] = j
                    queue.append(k)
    parent.flags.writeable = False
    return parent


def _layout(keypoints: np.ndarray, skeleton: str | None) -> str:
    if skeleton is not None:
        return skeleton
    V = keypoints.shape[1]
    if V not in _LAYOUT_BY_JOINTS:
        raise ValueError(f"no skeleton layout has {V} joints; pass skeleton=")
    return _LAYOUT_BY_JOINTS[V]


def _bones(keypoints: np.ndarray, vis: np.ndarray, box: np.ndarray, skeleton: str | None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, V, 2) bone vectors (child - parent, / clip scale; 0 where missing), (T, V) bool bone seen
    (both ends visible and the joint has a parent), (V,) parent per joint (the root: itself), given
    the (T, V) visible mask and the (T, 4) usable person boxes."""
    par = bone_parents(_layout(keypoints, skeleton))
    if len(par) != keypoints.shape[1]:
        raise ValueError(f"skeleton {skeleton!r} has {len(par)} joints, the clip {keypoints.shape[1]}")
    _, scale = _clip_frame(box)
    p = np.where(par >= 0, par, np.arange(len(par)))  # root -> itself (masked below)
    ok = vis & vis[:, p] & (par >= 0)  # (T, V)
    bone = np.where(ok[..., None], (keypoints - keypoints[:, p]) / scale, 0.0)  # (T, V, 2)
    return bone, ok, p


def encode_bone(keypoints: np.ndarray, visibility: np.ndarray, bbox: np.ndarray | None = None,
                skeleton: str | None = None) -> np.ndarray:
    """(T, V, 5) float32 bone code [bx, by, dbx, dby, mb] (our addition; the "bone" stream of 2s-AGCN).

    For joint j with parent p (``bone_parents``): b = (x_j - x_p) / s with the clip-level scale s of
    ``encode_global`` (one per clip, same for x and y); db_t = b_t - b_{t-1} (bone motion); mb = 1 when
    both ends are visible. The root (head) and bones with a hidden end encode as 0, mb = 0.
    ``skeleton`` None: the layout with V joints.
    """
    vis = _visible(keypoints, visibility)
    bone, ok, _ = _bones(keypoints, vis, person_boxes(keypoints, vis, bbox), skeleton)
    return _bone_code(bone, ok)


def _bone_code(bone: np.ndarray, ok: np.ndarray) -> np.ndarray:
    return np.concatenate([_with_velocity(bone, ok), ok[..., None]], axis=-1).astype(np.float32)


def encode_angle(keypoints: np.ndarray, visibility: np.ndarray, bbox: np.ndarray | None = None,
                 skeleton: str | None = None) -> np.ndarray:
    """(T, V, 5) float32 angle code [cos a, sin a, cos q, sin q, mb] (our addition).

    a = direction of the bone parent -> j in the picture (x right, y down; cos a = bx / |b|); q = the
    joint angle at the parent, from the parent's own bone to this one (cos q = u_p . u_j,
    sin q = u_p x u_j): rotation- and scale-free posture. Zero where the bone (a) or either bone (q) is
    missing or shorter than 1e-6 clip scales; mb as in ``encode_bone``.
    """
    vis = _visible(keypoints, visibility)
    return _angle_code(*_bones(keypoints, vis, person_boxes(keypoints, vis, bbox), skeleton))


def _angle_code(bone: np.ndarray, mb: np.ndarray, p: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(bone, axis=-1)  # (T, V)
    ok = mb & (norm > EPS)
    u = np.where(ok[..., None], bone / np.maximum(norm, EPS)[..., None], 0.0)  # (T, V, 2) unit vectors
    up, okq = u[:, p], ok & ok[:, p] & (p != np.arange(len(p)))  # the parent's bone
    cos_q = np.where(okq, (up * u).sum(-1), 0.0)
    sin_q = np.where(okq, up[..., 0] * u[..., 1] - up[..., 1] * u[..., 0], 0.0)
    return np.concatenate([u, cos_q[..., None], sin_q[..., None], mb[..., None]], axis=-1).astype(np.float32)


# name -> channels. "sportnet" is sec 2.4 exactly; "sportnet_global" appends encode_global;
# "bone" / "angle" are encode_bone / encode_angle alone; "multistream" is every view, for the
# multi-stream ensembles (models/ensemble.py MULTISTREAM_GROUPS):
#   0-4 [x~, y~, dx~, dy~, m] (sec 2.4)   5-8 [xg, yg, dxg, dyg] (clip-level)
#   9-13 [bx, by, dbx, dby, mb] (bones)   14-18 [cos a, sin a, cos q, sin q, mb] (angles)
ENCODINGS = {"sportnet": 5, "sportnet_global": 9, "bone": 5, "angle": 5, "multistream": 19}


def encode(keypoints: np.ndarray, visibility: np.ndarray, bbox: np.ndarray | None = None,
           encoding: str = "sportnet", skeleton: str | None = None) -> np.ndarray:
    """(T, V, C) code of a clip under a named encoding (C = ``ENCODINGS[encoding]``). ``skeleton``
    (bone and angle codes only): None = the layout with V joints."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown pose encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
    vis = _visible(keypoints, visibility)  # (T, V)
    box = person_boxes(keypoints, vis, bbox)  # (T, 4), computed once for every view
    parts = []
    if encoding in ("sportnet", "sportnet_global", "multistream"):
        parts.append(_pose_code(keypoints, vis, box))  # (T, V, 5)
    if encoding in ("sportnet_global", "multistream"):
        parts.append(_global_code(keypoints, vis, box))  # (T, V, 4)
    if encoding in ("bone", "angle", "multistream"):
        bone, mb, p = _bones(keypoints, vis, box, skeleton)
        if encoding != "angle":
            parts.append(_bone_code(bone, mb))  # (T, V, 5)
        if encoding != "bone":
            parts.append(_angle_code(bone, mb, p))  # (T, V, 5)
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)


# ---------------------------------------------------------------- augmentations (train only)
def hflip(keypoints: np.ndarray, visibility: np.ndarray, bbox: np.ndarray | None, width: float,
          skeleton: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Mirror the picture: x -> width - x, AND swap every left joint with its right twin, so the
    person's left stays in the ``left_*`` slot (a mirrored right-handed swing is a left-handed one)."""
    perm = get_skeleton(skeleton).flip_index  # (V,)
    kp = keypoints[:, perm].copy()  # (T, V, 2)
    kp[..., 0] = width - kp[..., 0]
    box = None if bbox is None else np.stack(
        [width - bbox[:, 2], bbox[:, 1], width - bbox[:, 0], bbox[:, 3]], axis=1)  # (T, 4)
    return kp, np.asarray(visibility)[:, perm].copy(), box


def pose_centre(keypoints: np.ndarray, visibility: np.ndarray) -> np.ndarray | None:
    """(2,) mean of all visible joints of the clip (one centre, so the motion is not distorted)."""
    vis = _visible(keypoints, visibility)
    return keypoints[vis].mean(axis=0) if vis.any() else None


def random_scale(keypoints: np.ndarray, visibility: np.ndarray, scale: tuple[float, float],
                 rng: np.random.Generator) -> np.ndarray:
    """(T, V, 2) pose scaled by s ~ U(scale) about its centre. The person box is deliberately NOT
    scaled: x~ divides by the box size, so scaling both would change nothing; scaling the pose
    inside a fixed box imitates a looser/tighter detector box."""
    c = pose_centre(keypoints, visibility)
    s = rng.uniform(*scale)
    return keypoints.copy() if c is None else c + (keypoints - c) * s


def random_rotation(keypoints: np.ndarray, visibility: np.ndarray, bbox: np.ndarray | None, max_deg: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """Rotate the pose by U(-max_deg, max_deg) degrees about its centre; the box becomes the box
    enclosing its rotated corners (the person stays inside it)."""
    c = pose_centre(keypoints, visibility)
    if c is None or max_deg <= 0:
        return keypoints.copy(), None if bbox is None else bbox.copy()
    th = np.deg2rad(rng.uniform(-max_deg, max_deg))
    R = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])  # (2, 2)
    kp = (keypoints - c) @ R.T + c  # (T, V, 2)
    if bbox is None:
        return kp, None
    corners = bbox[:, [[0, 1], [2, 1], [0, 3], [2, 3]]]  # (T, 4 corners, 2)
    rc = (corners - c) @ R.T + c
    return kp, np.concatenate([rc.min(axis=1), rc.max(axis=1)], axis=1)


def joint_dropout(keypoints: np.ndarray, visibility: np.ndarray, p: float,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Hide each joint of each frame with probability p (visibility False, position NaN)."""
    drop = rng.random(visibility.shape) < p  # (T, V)
    kp = np.where(drop[..., None], np.nan, keypoints)
    return kp, np.asarray(visibility, bool) & ~drop


_LIMBS = ({"elbow", "wrist", "pinky", "index", "thumb"}, {"knee", "ankle", "heel", "foot_index"})


def limb_pairs(skeleton: str) -> list[list[tuple[int, int]]]:
    """Per limb (lower arm, lower leg), the (left, right) joint index pairs of ``skeleton``."""
    sk = get_skeleton(skeleton)
    return [[(i, j) for i, j in sk.lr_pairs if sk.joints[i][5:] in limb] for limb in _LIMBS]


def body_size(keypoints: np.ndarray, visibility: np.ndarray) -> float:
    """Median over frames of the larger side of the visible-joint box, pixels (1.0 if unknown)."""
    jb = joint_boxes(keypoints, visibility, margin=0.0)
    side = np.max(jb[:, 2:] - jb[:, :2], axis=1)
    side = side[np.isfinite(side) & (side > 0)]
    return float(np.median(side)) if side.size else 1.0


def estimator_noise(keypoints: np.ndarray, visibility: np.ndarray, skeleton: str, sigma_frac: float,
                    outlier_p: float, rng: np.random.Generator, *, outlier_frac: float = 0.3) -> np.ndarray:
    """(T, V, 2) keypoints with the errors a pose estimator makes, to train on ground truth yet
    survive estimated poses: Gaussian jitter of sigma_frac x body size on every joint; with
    probability outlier_p a joint is thrown ~outlier_frac x body size away in a random direction;
    with probability outlier_p a frame has the left/right joints of one lower limb swapped.
    Invisible joints stay NaN."""
    size = body_size(keypoints, visibility)
    kp = keypoints + rng.normal(0.0, sigma_frac * size, keypoints.shape)
    out = rng.random(visibility.shape) < outlier_p  # (T, V)
    ang = rng.uniform(0, 2 * np.pi, visibility.shape)
    kick = outlier_frac * size * np.stack([np.cos(ang), np.sin(ang)], axis=-1)  # (T, V, 2)
    kp = np.where(out[..., None], kp + kick, kp)
    limbs = [lp for lp in limb_pairs(skeleton) if lp]
    for t in np.flatnonzero(rng.random(len(kp)) < outlier_p) if limbs else []:
        for i, j in limbs[rng.integers(len(limbs))]:
            if np.isfinite(kp[t, [i, j]]).all():  # swap only seen joints: visibility stays valid
                kp[t, [i, j]] = kp[t, [j, i]]
    return kp


def augment(keypoints: np.ndarray, visibility: np.ndarray, bbox: np.ndarray | None, *, skeleton: str,
            width: float, settings: AugmentSettings, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Apply the spatial augmentations of ``settings`` in a fixed order (flip, scale, rotation,
    estimator noise, joint dropout). Temporal crop/sampling is the caller's (it changes T)."""
    kp, vis, box = keypoints, np.asarray(visibility, bool), bbox
    if settings.flip_p > 0 and rng.random() < settings.flip_p:
        kp, vis, box = hflip(kp, vis, box, width, skeleton)
    if settings.scale is not None and settings.scale != (1.0, 1.0):
        kp = random_scale(kp, vis, settings.scale, rng)
    if settings.rotation_deg > 0:
        kp, box = random_rotation(kp, vis, box, settings.rotation_deg, rng)
    if settings.noise_sigma > 0 or settings.noise_outlier_p > 0:
        kp = estimator_noise(kp, vis, skeleton, settings.noise_sigma, settings.noise_outlier_p, rng)
    if settings.joint_dropout > 0:
        kp, vis = joint_dropout(kp, vis, settings.joint_dropout, rng)
    return kp, vis, box
