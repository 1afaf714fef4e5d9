"""UI-PRMD (Vakanski et al., Data 2018) Kinect data from its OFFICIAL layout.

Layout read (``root`` is the folder holding ``Segmented Movements`` and ``Incorrect Segmented Movements``;
the dataset's own top folder ``ui_prmd`` or its ``data`` child are both accepted)::

    Segmented Movements/Kinect/Positions/mXX_sYY_eZZ_positions.txt.gz        (correct)
    Segmented Movements/Kinect/Angles/mXX_sYY_eZZ_angles.txt.gz
    Incorrect Segmented Movements/Kinect/Positions/mXX_sYY_eZZ_positions_inc.txt.gz
    Incorrect Segmented Movements/Kinect/Angles/mXX_sYY_eZZ_angles_inc.txt.gz

Plain ``.txt`` files (the original download is not gzipped) are read as well. Each file is a
comma-separated (T, 66) table: 22 joints x 3 values per frame.

Kinect-22 skeleton (``KINECT22_JOINTS`` / ``KINECT22_PARENTS``; this layout should move to
``sportlens/skeletons.py`` when the assessment code needs it outside this loader)::

     0 waist (root, absolute position)        14 left upper leg  <- 0
     1 spine <- 0                              15 left lower leg  <- 14
     2 chest <- 1                              16 left foot       <- 15
     3 neck <- 2                               17 left toes       <- 16  (end site)
     4 head <- 3                               18 right upper leg <- 0
     5 head tip <- 4 (end site)                19 right lower leg <- 18
     6 left collar <- 2                        20 right foot      <- 19
     7 left upper arm <- 6                     21 right toes      <- 20  (end site)
     8 left forearm <- 7
     9 left hand <- 8
    10 right collar <- 2,  11 right upper arm <- 10,  12 right forearm <- 11,  13 right hand <- 12

The names and order follow the dataset paper's joint list (a BVH-style hierarchy; "upper arm" is the
shoulder joint, "forearm" the elbow, "hand" the wrist, "upper leg" the hip, "lower leg" the knee, "foot"
the ankle). Verified on the real files: each joint's stored offset is a pure bone vector along one
local axis (spine/neck/head along +y, left arm +x, right arm -x, legs -y, toes +z), the end sites
(5, 17, 21) and the neck (3) carry all-zero angles, and the offsets' lengths are anatomically sized
(spine 28 cm, upper arm 25 cm, thigh 36 cm, shank 40 cm).

Positions: joint 0 is absolute (cm, Kinect camera frame: y up, subject at z of about -235); every
other joint is its offset from the parent **expressed in the parent's local frame**. Angles: Euler
angles in degrees, columns = rotation about the local x, y, z axes, composed as
``R_local = Rz(z) @ Rx(x) @ Ry(y)`` (the BVH "Zrotation Xrotation Yrotation" channel order). Forward
kinematics (``forward_kinematics``)::

    G_0 = R_local(0);   p_j = p_parent + G_parent @ offset_j;   G_j = G_parent @ R_local(j)

How the convention was chosen: all 12 Euler orders (intrinsic/extrinsic), the inverse rotations and
pre- vs post-multiplication were tried on 7 sequences (deep squats of 4 subjects and 3 other
movements); the one above gives the most stationary feet (mean std of ankle and toe positions over
time 7.6 cm against 14-35 cm for every other choice; in a deep squat the ankles move about 3 cm) and
an upright skeleton (head above chest above waist, ankles about 12 cm above the floor level implied
by the toes). Bone lengths after forward kinematics equal the stored offsets' norms exactly (rotations
keep lengths); Kinect itself does not hold them constant: they vary by a few percent over a sequence
(``bone_lengths``; the real-data test bounds that variation).
"""
from __future__ import annotations

import gzip
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sportlens.errors import InputError

KINECT22_JOINTS: tuple[str, ...] = (
    "waist", "spine", "chest", "neck", "head", "head_tip",
    "left_collar", "left_upper_arm", "left_forearm", "left_hand",
    "right_collar", "right_upper_arm", "right_forearm", "right_hand",
    "left_upper_leg", "left_lower_leg", "left_foot", "left_toes",
    "right_upper_leg", "right_lower_leg", "right_foot", "right_toes",
)
KINECT22_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 4, 2, 6, 7, 8, 2, 10, 11, 12, 0, 14, 15, 16, 0, 18, 19, 20)
N_JOINTS = 22

CORRECT_DIR = "Segmented Movements"
INCORRECT_DIR = "Incorrect Segmented Movements"
_NAME = re.compile(r"^m(\d+)_s(\d+)_e(\d+)_(positions|angles)(_inc)?\.txt(\.gz)?$")


@dataclass
class QualitySample:
    """One repetition with a quality label. UI-PRMD: ``positions`` (T, 22, 3) absolute cm (camera
    frame), ``angles`` (T, 22, 3) local Euler degrees (x, y, z), both in ``KINECT22_JOINTS`` order.

    The same record carries a user's own labelled recordings (``sportlens.assess.quality``):
    ``positions`` (T, V, 2) in the layout ``skeleton`` names, ``angles`` None, ``movement`` and
    ``subject`` strings, and ``score`` a continuous label where the recordings have one (then
    ``correct`` is ``score >= 0.5`` of the score range, only informative)."""

    movement: int | str  # UI-PRMD: 1..10
    subject: int | str  # UI-PRMD: 1..10
    episode: int  # repetition 1..10
    correct: bool
    positions: np.ndarray  # (T, V, C)
    angles: np.ndarray | None  # (T, V, 3) or None
    source: str = ""  # the positions file
    skeleton: str = "kinect22"  # "kinect22" or a layout of sportlens.skeletons
    fps: float = 30.0  # UI-PRMD's Kinect v2 rate
    score: float | None = None  # continuous label (regression) when the data has one

    @property
    def label(self) -> int:
        return int(self.correct)


@dataclass
class UIPRMDReport:
    """What ``load_ui_prmd`` read."""

    root: str
    samples: int = 0
    per_movement: dict[int, dict[str, int]] = field(default_factory=dict)  # movement -> {correct, incorrect}
    per_subject: dict[int, dict[str, int]] = field(default_factory=dict)
    per_label: dict[str, int] = field(default_factory=dict)
    frames_min: int = 0
    frames_max: int = 0
    unpaired: list[str] = field(default_factory=list)  # a positions file without angles or the reverse

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        mv = ", ".join(f"m{m:02d} {d.get('correct', 0)}/{d.get('incorrect', 0)}"
                       for m, d in sorted(self.per_movement.items()))
        return (
            f"UI-PRMD at {self.root}: {self.samples} repetitions ({self.per_label.get('correct', 0)} correct, "
            f"{self.per_label.get('incorrect', 0)} incorrect), {len(self.per_movement)} movements, "
            f"{len(self.per_subject)} subjects, {self.frames_min}-{self.frames_max} frames; per movement "
            f"correct/incorrect: {mv}; {len(self.unpaired)} unpaired file(s)"
            + (": " + ", ".join(self.unpaired[:10]) if self.unpaired else "") + "."
        )


def euler_to_matrix(angles_deg: np.ndarray) -> np.ndarray:
    """(..., 3) Euler degrees about x, y, z -> (..., 3, 3) = Rz @ Rx @ Ry (UI-PRMD's convention)."""
    a = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    cx, cy, cz = np.cos(a[..., 0]), np.cos(a[..., 1]), np.cos(a[..., 2])
    sx, sy, sz = np.sin(a[..., 0]), np.sin(a[..., 1]), np.sin(a[..., 2])
    one, zero = np.ones_like(cx), np.zeros_like(cx)

    def mat(rows):
        return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)

    rx = mat([[one, zero, zero], [zero, cx, -sx], [zero, sx, cx]])
    ry = mat([[cy, zero, sy], [zero, one, zero], [-sy, zero, cy]])
    rz = mat([[cz, -sz, zero], [sz, cz, zero], [zero, zero, one]])
    return rz @ rx @ ry


def forward_kinematics(relative: np.ndarray, angles: np.ndarray,
                       parents: tuple[int, ...] = KINECT22_PARENTS) -> np.ndarray:
    """Absolute joint positions (T, V, 3) from parent-relative offsets in the parent's local frame
    (joint with parent -1 absolute) and local Euler angles (T, V, 3), see the module docstring.
    Parents must come before their children."""
    rel = np.asarray(relative, dtype=np.float64)
    rot = euler_to_matrix(angles)
    out = np.empty_like(rel)
    glob: list[np.ndarray | None] = [None] * len(parents)
    for j, p in enumerate(parents):
        if p < 0:
            out[:, j] = rel[:, j]
            glob[j] = rot[:, j]
        else:
            if p >= j:
                raise ValueError(f"joint {j}: parent {p} must come first")
            out[:, j] = out[:, p] + np.einsum("tij,tj->ti", glob[p], rel[:, j])
            glob[j] = glob[p] @ rot[:, j]
    return out


def bone_lengths(positions: np.ndarray, parents: tuple[int, ...] = KINECT22_PARENTS) -> np.ndarray:
    """(T, V) distance of each joint to its parent (0 for the root)."""
    pos = np.asarray(positions)
    par = np.array([max(p, 0) for p in parents])
    return np.linalg.norm(pos - pos[:, par], axis=-1)


def _read_table(path: Path) -> np.ndarray:
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as fh:
            arr = np.loadtxt(fh, delimiter=",", ndmin=2, dtype=np.float64)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: not a readable UI-PRMD table ({exc}); expected comma-separated numbers, "
                         f"{N_JOINTS * 3} per row") from None
    if arr.shape[1] != N_JOINTS * 3 or arr.shape[0] < 2:
        raise InputError(f"{path}: shape {arr.shape}, expected (T >= 2, {N_JOINTS * 3}) = 22 Kinect joints x 3")
    if not np.isfinite(arr).all():
        raise InputError(f"{path}: holds non-finite values")
    return arr.reshape(-1, N_JOINTS, 3)


def _resolve_root(root: Path) -> Path:
    for cand in (root, root / "data", root / "ui_prmd" / "data"):
        if (cand / CORRECT_DIR).is_dir() or (cand / INCORRECT_DIR).is_dir():
            return cand
    raise InputError(f"{root}: no '{CORRECT_DIR}' or '{INCORRECT_DIR}' folder; point to the UI-PRMD data folder "
                     f"(official layout: <root>/{CORRECT_DIR}/Kinect/{{Positions,Angles}}/...)")


def _index(folder: Path, kind: str, inc: bool) -> dict[tuple[int, int, int], Path]:
    if not folder.is_dir():
        raise InputError(f"{folder}: missing; the official UI-PRMD layout has Kinect/Positions and Kinect/Angles "
                         f"in both '{CORRECT_DIR}' and '{INCORRECT_DIR}'")
    out = {}
    for f in sorted(folder.iterdir()):
        m = _NAME.match(f.name)
        if m is None or m.group(4) != kind or bool(m.group(5)) != inc:
            continue
        out[(int(m.group(1)), int(m.group(2)), int(m.group(3)))] = f
    return out


def load_ui_prmd(root: str | Path, movements: tuple[int, ...] | None = None,
                 absolute: bool = True) -> tuple[list[QualitySample], UIPRMDReport]:
    """Read UI-PRMD's Kinect repetitions, correct and incorrect. ``movements`` keeps only those ids;
    ``absolute=False`` keeps the stored parent-relative positions (no forward kinematics).
    Raises ``InputError`` for a missing folder, a malformed file (named) or positions/angles of
    different lengths; a positions file without its angles (or the reverse) is listed in the report."""
    base = _resolve_root(Path(root))
    report = UIPRMDReport(root=str(base))
    samples: list[QualitySample] = []
    lengths = []
    for top, correct in ((CORRECT_DIR, True), (INCORRECT_DIR, False)):
        kin = base / top / "Kinect"
        pos_files = _index(kin / "Positions", "positions", not correct)
        ang_files = _index(kin / "Angles", "angles", not correct)
        for key in sorted(set(pos_files) ^ set(ang_files)):
            report.unpaired.append(str(pos_files.get(key) or ang_files.get(key)))
        for key in sorted(set(pos_files) & set(ang_files)):
            mv, subj, ep = key
            if movements is not None and mv not in movements:
                continue
            rel, ang = _read_table(pos_files[key]), _read_table(ang_files[key])
            if len(rel) != len(ang):
                raise InputError(f"{pos_files[key]}: {len(rel)} frames but {ang_files[key].name} has {len(ang)}; "
                                 f"positions and angles must have the same length")
            pos = forward_kinematics(rel, ang) if absolute else rel
            samples.append(QualitySample(mv, subj, ep, correct, pos.astype(np.float32), ang.astype(np.float32),
                                         str(pos_files[key])))
            lengths.append(len(rel))
            lab = "correct" if correct else "incorrect"
            report.per_movement.setdefault(mv, {}).setdefault(lab, 0)
            report.per_movement[mv][lab] += 1
            report.per_subject.setdefault(subj, {}).setdefault(lab, 0)
            report.per_subject[subj][lab] += 1
    if not samples:
        raise InputError(f"{base}: no UI-PRMD repetition found (files named mXX_sYY_eZZ_positions[_inc].txt[.gz])")
    report.samples = len(samples)
    report.per_label = dict(Counter("correct" if s.correct else "incorrect" for s in samples))
    report.frames_min, report.frames_max = int(min(lengths)), int(max(lengths))
    return samples, report
