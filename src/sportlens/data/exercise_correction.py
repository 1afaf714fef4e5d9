"""The exercise-correction MediaPipe set (``shared/data/exercise_correction_mediapipe``, MIT): single
frames of BlazePose-33 landmarks with a per-frame form label.

Files (``FILES``): one CSV per exercise and task, column ``label`` then ``<joint>_{x,y,z,v}`` for a
subset of the 33 BlazePose joints (x, y normalised image coordinates, z MediaPipe's relative depth, v
visibility). Form-error tasks: ``bicep`` (C correct / L leaning back), ``plank`` (C / H high hips /
L low hips), ``lunge_err`` (C / L knee over toe); stage tasks (not form errors, read for completeness):
``squat_stage`` test and train (up / down), ``lunge_stage`` (I init / M mid / D down).

The files carry no video or subject id, but their rows are consecutive video frames in blocks: a label
holds for a run of rows, and a new recording shows as a jump of the whole pose. ``segments`` numbers
those blocks: a new segment starts where the label changes or where the mean absolute change of the
x, y coordinates between two rows exceeds ``SegmentSettings.jump`` (0.05 image widths; within a block
the median change is 0.0003-0.002). Evaluations split by these segments (``GroupKFold``), never by
random frames: neighbouring frames are near-duplicates, and a random split would score memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sportlens.errors import InputError

# task -> (file name, kind, label meanings)
FILES: dict[str, tuple[str, str, dict[str, str]]] = {
    "bicep": ("bicep_test.csv", "form", {"C": "correct", "L": "leaning back"}),
    "plank": ("plank_test.csv", "form", {"C": "correct", "H": "hips too high", "L": "hips too low"}),
    "lunge_err": ("lunge_err.test.csv", "form", {"C": "correct", "L": "knee over toe"}),
    "squat_stage": ("squat_test.csv", "stage", {"up": "up", "down": "down"}),
    "squat_stage_train": ("squat_train.csv", "stage", {"up": "up", "down": "down"}),
    "lunge_stage": ("lunge_stage.test.csv", "stage", {"I": "init", "M": "mid", "D": "down"}),
}
FORM_TASKS = ("bicep", "plank", "lunge_err")


@dataclass(frozen=True)
class SegmentSettings:
    jump: float = 0.05  # mean |dx, dy| between rows that starts a new segment (a new recording)


@dataclass
class FormFrames:
    """One task's frames. ``landmarks`` (N, V, 4) = x, y, z, visibility in ``joints`` order."""

    task: str
    source: str
    joints: tuple[str, ...]
    landmarks: np.ndarray  # (N, V, 4)
    labels: np.ndarray  # (N,) str
    segments: np.ndarray  # (N,) int, 0..S-1

    @property
    def counts(self) -> dict[str, int]:
        vals, n = np.unique(self.labels, return_counts=True)
        return {str(v): int(k) for v, k in zip(vals, n)}


def segment_rows(xy: np.ndarray, labels: np.ndarray, settings: SegmentSettings = SegmentSettings()) -> np.ndarray:
    """(N, K) coordinates and (N,) labels -> (N,) segment ids (module docstring)."""
    if len(labels) == 0:
        return np.zeros(0, dtype=np.int64)
    jump = np.abs(np.diff(xy, axis=0)).mean(axis=1) > settings.jump  # (N-1,)
    new = jump | (labels[1:] != labels[:-1])
    return np.concatenate([[0], np.cumsum(new)]).astype(np.int64)


def _joints(columns: list[str], path: Path) -> tuple[str, ...]:
    if not columns or columns[0] != "label":
        raise InputError(f"{path}: first column must be 'label', got {columns[:1]}")
    joints = tuple(dict.fromkeys(c.rsplit("_", 1)[0] for c in columns[1:]))
    want = [f"{j}_{a}" for j in joints for a in "xyzv"]
    if want != columns[1:]:
        raise InputError(f"{path}: columns must be label then <joint>_x,_y,_z,_v per joint")
    return joints


def load_task(root: str | Path, task: str, settings: SegmentSettings = SegmentSettings()) -> FormFrames:
    """Read one task's CSV (``FILES``); unknown labels or non-numeric cells raise ``InputError``."""
    import pandas as pd

    if task not in FILES:
        raise InputError(f"unknown exercise-correction task {task!r}; known: {', '.join(FILES)}")
    name, _, meanings = FILES[task]
    path = Path(root) / name
    if not path.is_file():
        raise InputError(f"{path}: missing; point to the exercise_correction_mediapipe folder")
    try:
        df = pd.read_csv(path)
    except Exception as e:  # noqa: BLE001 - any parser error means the same to the user
        raise InputError(f"{path}: unreadable CSV ({type(e).__name__}: {e})") from None
    joints = _joints(list(df.columns), path)
    labels = df["label"].astype(str).str.strip().to_numpy()
    unknown = sorted(set(labels) - set(meanings))
    if unknown:
        raise InputError(f"{path}: unknown label(s) {unknown[:5]}; expected {sorted(meanings)}")
    try:
        values = df.iloc[:, 1:].to_numpy(dtype=np.float64).reshape(len(df), len(joints), 4)  # (N, V, 4)
    except ValueError as e:
        raise InputError(f"{path}: non-numeric landmark value ({e})") from None
    if not np.isfinite(values).all():
        raise InputError(f"{path}: holds empty or non-finite landmark values")
    seg = segment_rows(values[..., :2].reshape(len(df), -1), labels, settings)
    return FormFrames(task, str(path), joints, values, labels, seg)


def frame_features(frames: FormFrames) -> np.ndarray:
    """(N, V*3 + 1) per-frame features: x, y, z centred on the mid-hip and divided by the torso length
    (mid-shoulder to mid-hip in x, y), then the torso's lean from the image vertical (radians)."""
    j = {n: i for i, n in enumerate(frames.joints)}
    need = ("left_hip", "right_hip", "left_shoulder", "right_shoulder")
    if any(n not in j for n in need):
        raise InputError(f"{frames.source}: needs {', '.join(need)} columns for body-centred features")
    p = frames.landmarks[..., :3]  # (N, V, 3)
    hip = (p[:, j["left_hip"]] + p[:, j["right_hip"]]) / 2  # (N, 3)
    sho = (p[:, j["left_shoulder"]] + p[:, j["right_shoulder"]]) / 2
    torso = np.linalg.norm((sho - hip)[:, :2], axis=1)  # (N,)
    rel = (p - hip[:, None]) / np.maximum(torso, 1e-6)[:, None, None]
    lean = np.arctan2(np.abs((sho - hip)[:, 0]), np.abs((sho - hip)[:, 1]))
    return np.concatenate([rel.reshape(len(p), -1), lean[:, None]], axis=1)
