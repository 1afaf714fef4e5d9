"""The skeleton layouts of sportlens, in one place (after pyskl's ``graph`` module).

Each layout names its joints, draws its edges (bones), pairs its left/right joints and can be
converted to any other layout by joint name. "left"/"right" are always the *person's* sides.

Layouts:
- ``blazepose33``: MediaPipe BlazePose, 33 landmarks (the default pose backend's output).
- ``coco17``: COCO keypoints, 17 joints (most public 2D pose models and datasets).
- ``penn13``: Penn Action, 13 joints (``x``/``y`` columns of the official ``labels/NNNN.mat``).
- ``kinect22``: UI-PRMD's Kinect v2 skeleton, 22 joints (3-D; ``sportlens.data.ui_prmd.KINECT22_JOINTS``
  order, bones from its parent list); registered so that skeleton models (e.g. the ``tcn`` quality model,
  ``sportlens.assess.quality_seq``) can be built for it. Its joint names are Kinect's (``left_upper_leg``
  is the hip), so conversion from the video layouts finds almost no joint by name.

Conversion (``convert``) builds each target joint from a *recipe* of source joints: the same
joint when both layouts have it, otherwise the mean of a few source joints (e.g. Penn's ``head``
is the nose where present, else the mean of the ears). A target joint whose recipe has no
present source joint is NaN.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    name: str
    joints: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]
    # recipes used when converting *into* this layout from a layout lacking a joint by name
    derived: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        try:
            return self.joints.index(joint)
        except ValueError:
            raise KeyError(f"joint {joint!r} is not in skeleton {self.name!r}") from None

    def has(self, joint: str) -> bool:
        return joint in self.joints

    @property
    def edge_index(self) -> np.ndarray:
        """(E, 2) int joint indices of the bones."""
        return np.array([(self.index(a), self.index(b)) for a, b in self.edges], dtype=np.int64)

    @property
    def flip_index(self) -> np.ndarray:
        """(V,) permutation that swaps every left joint with its right twin (for flips/repair)."""
        perm = np.arange(self.num_joints)
        for i, j in self.lr_pairs:
            perm[i], perm[j] = j, i
        return perm

    @property
    def lr_pairs(self) -> list[tuple[int, int]]:
        """(left index, right index) for every joint named ``left_*`` with a ``right_*`` twin."""
        pairs = []
        for i, n in enumerate(self.joints):
            if n.startswith("left_") and ("right_" + n[5:]) in self.joints:
                pairs.append((i, self.index("right_" + n[5:])))
        return pairs

    def adjacency(self, self_loops: bool = True) -> np.ndarray:
        """(V, V) symmetric 0/1 adjacency of the bone graph (for graph models)."""
        a = np.zeros((self.num_joints, self.num_joints), dtype=np.float32)
        for i, j in self.edge_index:
            a[i, j] = a[j, i] = 1.0
        if self_loops:
            a[np.diag_indices(self.num_joints)] = 1.0
        return a


def _sym(*names: str) -> tuple[str, ...]:
    """Expand 'X' into ('left_X', 'right_X') for the names of a layout."""
    out: list[str] = []
    for n in names:
        out += [f"left_{n}", f"right_{n}"]
    return tuple(out)


def _sym_edges(*pairs: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    out = []
    for a, b in pairs:
        out += [(f"left_{a}", f"left_{b}"), (f"right_{a}", f"right_{b}")]
    return tuple(out)


BLAZEPOSE33 = Skeleton(
    name="blazepose33",
    joints=(
        "nose",
        "left_eye_inner", "left_eye", "left_eye_outer",
        "right_eye_inner", "right_eye", "right_eye_outer",
        "left_ear", "right_ear", "mouth_left", "mouth_right",
        *_sym("shoulder", "elbow", "wrist", "pinky", "index", "thumb", "hip", "knee", "ankle", "heel",
              "foot_index"),
    ),
    edges=(
        ("nose", "left_eye_inner"), ("left_eye_inner", "left_eye"), ("left_eye", "left_eye_outer"),
        ("left_eye_outer", "left_ear"), ("nose", "right_eye_inner"), ("right_eye_inner", "right_eye"),
        ("right_eye", "right_eye_outer"), ("right_eye_outer", "right_ear"), ("mouth_left", "mouth_right"),
        ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
        *_sym_edges(("shoulder", "elbow"), ("elbow", "wrist"), ("wrist", "pinky"), ("wrist", "index"),
                    ("pinky", "index"), ("wrist", "thumb"), ("shoulder", "hip"), ("hip", "knee"),
                    ("knee", "ankle"), ("ankle", "heel"), ("heel", "foot_index"), ("ankle", "foot_index")),
    ),
)

COCO17 = Skeleton(
    name="coco17",
    joints=("nose", "left_eye", "right_eye", "left_ear", "right_ear",
            *_sym("shoulder", "elbow", "wrist", "hip", "knee", "ankle")),
    edges=(
        ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"), ("right_eye", "right_ear"),
        ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
        *_sym_edges(("shoulder", "elbow"), ("elbow", "wrist"), ("shoulder", "hip"), ("hip", "knee"),
                    ("knee", "ankle")),
    ),
    derived={"left_eye": ("left_eye_inner", "left_eye_outer"),
             "right_eye": ("right_eye_inner", "right_eye_outer")},
)

PENN13 = Skeleton(
    name="penn13",
    # Order of the official Penn Action README (columns of x/y/visibility).
    joints=("head", *_sym("shoulder", "elbow", "wrist", "hip", "knee", "ankle")),
    edges=(
        ("head", "left_shoulder"), ("head", "right_shoulder"), ("left_shoulder", "right_shoulder"),
        ("left_hip", "right_hip"),
        *_sym_edges(("shoulder", "elbow"), ("elbow", "wrist"), ("shoulder", "hip"), ("hip", "knee"),
                    ("knee", "ankle")),
    ),
)

KINECT22 = Skeleton(
    name="kinect22",
    joints=("waist", "spine", "chest", "neck", "head", "head_tip",
            "left_collar", "left_upper_arm", "left_forearm", "left_hand",
            "right_collar", "right_upper_arm", "right_forearm", "right_hand",
            "left_upper_leg", "left_lower_leg", "left_foot", "left_toes",
            "right_upper_leg", "right_lower_leg", "right_foot", "right_toes"),
    edges=(("waist", "spine"), ("spine", "chest"), ("chest", "neck"), ("neck", "head"), ("head", "head_tip"),
           ("chest", "left_collar"), ("chest", "right_collar"), ("waist", "left_upper_leg"),
           ("waist", "right_upper_leg"),
           *_sym_edges(("collar", "upper_arm"), ("upper_arm", "forearm"), ("forearm", "hand"),
                       ("upper_leg", "lower_leg"), ("lower_leg", "foot"), ("foot", "toes"))),
)

# Recipes for joints some layouts lack, tried in order: first a single joint, then a mean.
_HEAD_RECIPES: tuple[tuple[str, ...], ...] = (("nose",), ("left_ear", "right_ear"), ("left_eye", "right_eye"))
_NOSE_RECIPES: tuple[tuple[str, ...], ...] = (("head",),)

LAYOUTS: dict[str, Skeleton] = {s.name: s for s in (BLAZEPOSE33, COCO17, PENN13, KINECT22)}


def get_skeleton(name: str) -> Skeleton:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise KeyError(f"unknown skeleton {name!r}; known: {', '.join(LAYOUTS)}") from None


def _recipes(target_joint: str, dst: Skeleton) -> tuple[tuple[str, ...], ...]:
    recipes: list[tuple[str, ...]] = [(target_joint,)]
    if target_joint in dst.derived:
        recipes.append(dst.derived[target_joint])
    if target_joint == "head":
        recipes += _HEAD_RECIPES
    if target_joint == "nose":
        recipes += _NOSE_RECIPES
    return tuple(recipes)


def conversion_plan(src: str, dst: str) -> list[list[tuple[int, ...]]]:
    """For each joint of ``dst``, the list of source-index groups to try in order."""
    s, d = get_skeleton(src), get_skeleton(dst)
    plan = []
    for j in d.joints:
        groups = [tuple(s.index(n) for n in r) for r in _recipes(j, d) if all(s.has(n) for n in r)]
        plan.append(groups)
    return plan


def convert(keypoints: np.ndarray, scores: np.ndarray, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert (..., V_src, C) keypoints and (..., V_src) scores from layout ``src`` to ``dst``.

    Each target joint takes the first recipe whose source joints are all present (finite); a mean
    recipe averages positions and takes the minimum score. Unreachable joints are NaN / score 0.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    sc = np.asarray(scores, dtype=np.float64)
    out_kp = np.full(kp.shape[:-2] + (get_skeleton(dst).num_joints, kp.shape[-1]), np.nan)
    out_sc = np.zeros(sc.shape[:-1] + (get_skeleton(dst).num_joints,))
    for t_idx, groups in enumerate(conversion_plan(src, dst)):
        filled = np.zeros(kp.shape[:-2], dtype=bool)
        for g in groups:
            pos = kp[..., list(g), :].mean(axis=-2)  # (..., C)
            ok = np.isfinite(pos).all(axis=-1) & ~filled
            out_kp[..., t_idx, :][ok] = pos[ok]
            out_sc[..., t_idx][ok] = sc[..., list(g)].min(axis=-1)[ok]
            filled |= ok
    return out_kp, out_sc
