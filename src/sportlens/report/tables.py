"""Tabular outputs: keypoints (long format) and angles, as DataFrames and files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sportlens.fsutil import atomic_write
from sportlens.skeletons import get_skeleton
from sportlens.types import AngleTable, PoseTrack


def keypoints_frame(raw: PoseTrack, clean: PoseTrack) -> pd.DataFrame:
    """One row per (frame, joint): cleaned ``x, y, score`` and the estimator's ``x_raw, y_raw, score_raw``.

    Pixels of the upright original video; NaN where a joint is missing.
    """
    T, V = clean.keypoints.shape[:2]
    joints = np.array(get_skeleton(clean.skeleton).joints)
    return pd.DataFrame({
        "frame": np.repeat(clean.frame_index, V),
        "time": np.repeat(clean.times, V),
        "joint": pd.Categorical(np.tile(joints, T), categories=list(joints)),
        "x": clean.keypoints[..., 0].ravel(),
        "y": clean.keypoints[..., 1].ravel(),
        "score": clean.scores.ravel(),
        "x_raw": raw.keypoints[..., 0].ravel(),
        "y_raw": raw.keypoints[..., 1].ravel(),
        "score_raw": raw.scores.ravel(),
    })


def angles_frame(angles: AngleTable, frame_index: np.ndarray) -> pd.DataFrame:
    df = angles.to_frame()
    df.insert(0, "frame", frame_index)
    return df


def write_tables(raw: PoseTrack, clean: PoseTrack, angles: AngleTable, out: Path) -> dict[str, Path]:
    """Write keypoints.parquet, keypoints.csv and angles.csv into folder ``out``."""
    kp = keypoints_frame(raw, clean)
    files = {"keypoints.parquet": out / "keypoints.parquet", "keypoints.csv": out / "keypoints.csv",
             "angles.csv": out / "angles.csv"}
    atomic_write(files["keypoints.parquet"], lambda p: kp.to_parquet(p, index=False))
    atomic_write(files["keypoints.csv"], lambda p: kp.to_csv(p, index=False, float_format="%.3f"))
    ang = angles_frame(angles, clean.frame_index)
    atomic_write(files["angles.csv"], lambda p: ang.to_csv(p, index=False, float_format="%.3f"))
    return files
