"""The generic on-disk skeleton dataset users train on.

A folder with ``labels.csv`` (columns ``clip,label,split,subject``; split is train/val/test) and one
file per listed clip, either

- ``<clip>.npz``: ``keypoints`` (T, V, 2) float (NaN = missing), ``visibility`` (T, V) bool OR
  ``scores`` (T, V) float (visible = score >= CleaningSettings.min_score), optional ``bbox`` (T, 4)
  (x1, y1, x2, y2), optional ``times`` (T,) seconds, ``skeleton`` (a layout name; inferred from V
  when absent and unambiguous); or
- ``<clip>.parquet``: the long table ``sportlens analyze`` writes (``frame, time, joint, x, y, ...``):
  the layout is detected from the joint names, the cleaned ``x, y`` are used, visible = finite.

Every clip is converted to one requested layout (``skeletons.convert``). Bad items raise
``InputError`` naming the item (``strict=True``) or are skipped AND listed with their reason in the
report (``strict=False``): training never drops data silently.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sportlens.config import CleaningSettings
from sportlens.data.clips import SkeletonClip
from sportlens.fsutil import atomic_write
from sportlens.errors import InputError, OutputError
from sportlens.skeletons import LAYOUTS, convert, get_skeleton

SPLITS = ("train", "val", "test")
COLUMNS = ("clip", "label", "split", "subject")
DEFAULT_FPS = 30.0  # when a clip has no usable times


@dataclass
class DatasetReport:
    folder: str
    listed: int = 0  # rows of labels.csv
    loaded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (clip, reason)
    split_counts: dict[str, int] = field(default_factory=dict)
    class_counts: dict[str, int] = field(default_factory=dict)
    source_skeletons: dict[str, int] = field(default_factory=dict)  # layout on disk -> clips
    skeleton: str = ""  # layout every clip was converted to

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        skipped = "; ".join(f"{c}: {r}" for c, r in self.skipped)
        return (f"Skeleton dataset {self.folder}: {self.loaded} of {self.listed} listed clips loaded as "
                f"{self.skeleton} (splits {self.split_counts}, {len(self.class_counts)} classes, from "
                f"layouts {self.source_skeletons}); {len(self.skipped)} skipped"
                + (f": {skipped}." if skipped else "."))


def _read_labels(folder: Path) -> pd.DataFrame:
    path = folder / "labels.csv"
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder (expected a skeleton dataset with labels.csv)")
    if not path.is_file():
        raise InputError(f"{path}: missing; a skeleton dataset needs labels.csv with columns {','.join(COLUMNS)}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as e:
        raise InputError(f"{path}: unreadable CSV ({e})") from None
    missing = [c for c in COLUMNS[:3] if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; need {','.join(COLUMNS)}")
    dup = df["clip"][df["clip"].duplicated()].tolist()
    if dup:
        raise InputError(f"{path}: clip(s) listed twice: {', '.join(dup[:5])}")
    return df


def _infer_layout(V: int, where: str) -> str:
    names = [n for n, s in LAYOUTS.items() if s.num_joints == V]
    if len(names) != 1:
        raise InputError(f"{where}: no 'skeleton' array and {V} joints match no single layout "
                         f"({', '.join(f'{n}={s.num_joints}' for n, s in LAYOUTS.items())})")
    return names[0]


def _check_layout(name: str, V: int, where: str) -> None:
    if name not in LAYOUTS:
        raise InputError(f"{where}: unknown skeleton {name!r}; known: {', '.join(LAYOUTS)}")
    if LAYOUTS[name].num_joints != V:
        raise InputError(f"{where}: skeleton {name!r} has {LAYOUTS[name].num_joints} joints, the arrays have {V}")


def _read_npz(path: Path) -> dict[str, Any]:
    """-> keypoints (T,V,2), visibility (T,V), bbox (T,4)|None, times (T,)|None, skeleton."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrs = {k: z[k] for k in z.files}
    except Exception as e:  # BadZipFile, ValueError, OSError, EOFError...
        raise InputError(f"{path}: corrupt or not an .npz file ({type(e).__name__}: {e})") from None
    if "keypoints" not in arrs or not ({"visibility", "scores"} & arrs.keys()):
        raise InputError(f"{path}: needs arrays 'keypoints' and 'visibility' or 'scores', has {sorted(arrs)}")
    kp = np.asarray(arrs["keypoints"], dtype=np.float64)
    if kp.ndim != 3 or kp.shape[2] != 2:
        raise InputError(f"{path}: keypoints must be (T, V, 2), got {kp.shape}")
    T, V = kp.shape[:2]
    if "visibility" in arrs:
        vis = np.asarray(arrs["visibility"]).astype(bool)
    else:
        vis = np.asarray(arrs["scores"], dtype=np.float64) >= CleaningSettings().min_score
    if vis.shape != (T, V):
        raise InputError(f"{path}: visibility/scores must be (T, V)={(T, V)}, got {vis.shape}")
    bbox = arrs.get("bbox")
    if bbox is not None and np.shape(bbox) != (T, 4):
        raise InputError(f"{path}: bbox must be (T, 4)={(T, 4)}, got {np.shape(bbox)}")
    times = arrs.get("times")
    if times is not None and np.shape(times) != (T,):
        raise InputError(f"{path}: times must be (T,)={(T,)}, got {np.shape(times)}")
    skel = str(arrs["skeleton"]) if "skeleton" in arrs else _infer_layout(V, str(path))
    _check_layout(skel, V, str(path))
    return {"keypoints": kp, "visibility": vis, "bbox": None if bbox is None else np.asarray(bbox, float),
            "times": times, "skeleton": skel}


def _detect_layout(joints: set[str], where: str) -> str:
    """The layout whose joints are exactly ``joints``, else the smallest one containing them all."""
    exact = [n for n, s in LAYOUTS.items() if set(s.joints) == joints]
    cover = sorted((s.num_joints, n) for n, s in LAYOUTS.items() if joints <= set(s.joints))
    if exact or cover:
        return exact[0] if exact else cover[0][1]
    raise InputError(f"{where}: joint names {sorted(joints)[:5]}... match no skeleton layout ({', '.join(LAYOUTS)})")


def _read_parquet(path: Path) -> dict[str, Any]:
    """The ``sportlens analyze`` long table -> the same dict as ``_read_npz`` (cleaned x, y)."""
    try:
        df = pd.read_parquet(path, columns=None)
    except Exception as e:
        raise InputError(f"{path}: corrupt or not a parquet file ({type(e).__name__}: {e})") from None
    missing = [c for c in ("frame", "joint", "x", "y") if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} of the analyze keypoints table")
    joints = set(df["joint"].astype(str))
    skel = get_skeleton(_detect_layout(joints, str(path)))
    frames = np.sort(df["frame"].unique())  # (T,)
    t_idx = np.searchsorted(frames, df["frame"].to_numpy())
    v_idx = np.array([skel.index(j) for j in df["joint"].astype(str)], dtype=np.int64)
    kp = np.full((len(frames), skel.num_joints, 2), np.nan)  # (T, V, 2)
    kp[t_idx, v_idx] = df[["x", "y"]].to_numpy(dtype=np.float64)
    times = None
    if "time" in df.columns:
        times = np.full(len(frames), np.nan)
        times[t_idx] = df["time"].to_numpy(dtype=np.float64)
    return {"keypoints": kp, "visibility": np.isfinite(kp).all(axis=-1), "bbox": None, "times": times,
            "skeleton": skel.name}


def _fps(times: np.ndarray | None) -> float:
    if times is None or len(times) < 2:
        return DEFAULT_FPS
    dt = np.diff(np.asarray(times, dtype=np.float64))
    dt = dt[np.isfinite(dt) & (dt > 0)]
    return float(1.0 / np.median(dt)) if dt.size else DEFAULT_FPS


def _load_item(folder: Path, row: dict[str, str], skeleton: str) -> SkeletonClip:
    name = row["clip"]
    if row["split"] not in SPLITS:
        raise InputError(f"{folder / 'labels.csv'}: clip {name!r} has split {row['split']!r}; "
                         f"use one of {', '.join(SPLITS)}")
    if not row["label"]:
        raise InputError(f"{folder / 'labels.csv'}: clip {name!r} has an empty label")
    npz, pq = folder / f"{name}.npz", folder / f"{name}.parquet"
    if npz.is_file():
        d = _read_npz(npz)
    elif pq.is_file():
        d = _read_parquet(pq)
    else:
        raise InputError(f"{npz}: clip {name!r} is listed in labels.csv but neither {npz.name} "
                         f"nor {pq.name} exists")
    if d["keypoints"].shape[0] == 0:
        raise InputError(f"{npz if npz.is_file() else pq}: clip {name!r} has 0 frames")
    vis = d["visibility"] & np.isfinite(d["keypoints"]).all(axis=-1)
    kp = np.where(vis[..., None], d["keypoints"], np.nan)
    kp, sc = convert(kp, vis.astype(np.float64), d["skeleton"], skeleton)
    return SkeletonClip(name=name, keypoints=kp, visibility=(sc > 0) & np.isfinite(kp).all(axis=-1),
                        label=row["label"], split=row["split"], skeleton=skeleton, bbox=d["bbox"],
                        fps=_fps(d["times"]), subject=row.get("subject", ""),
                        meta={"source_skeleton": d["skeleton"], "times": d["times"]})


def load_skeleton_dataset(folder: str | Path, *, skeleton: str = "penn13",
                          strict: bool = True) -> tuple[list[SkeletonClip], DatasetReport]:
    """Load every clip listed in ``<folder>/labels.csv`` in the ``skeleton`` layout, in CSV order."""
    folder = Path(folder)
    get_skeleton(skeleton)  # fail early on an unknown target layout
    df = _read_labels(folder)
    report = DatasetReport(folder=str(folder), listed=len(df), skeleton=skeleton)
    clips: list[SkeletonClip] = []
    for row in df.to_dict("records"):
        try:
            clips.append(_load_item(folder, row, skeleton))
        except InputError as e:
            if strict:
                raise
            report.skipped.append((row["clip"], str(e)))
    report.loaded = len(clips)
    report.split_counts = dict(Counter(c.split for c in clips))
    report.class_counts = dict(sorted(Counter(c.label for c in clips).items()))
    report.source_skeletons = dict(Counter(c.meta["source_skeleton"] for c in clips))
    return clips, report


def _save_npz(clip: SkeletonClip, path: Path) -> None:
    arrays = {"keypoints": np.asarray(clip.keypoints, np.float32),
              "visibility": np.asarray(clip.visibility, bool),
              "times": np.arange(clip.num_frames) / clip.fps,
              "skeleton": np.array(clip.skeleton)}
    if clip.bbox is not None:
        arrays["bbox"] = np.asarray(clip.bbox, np.float32)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a str path
            np.savez_compressed(f, **arrays)

    atomic_write(path, write)


def save_skeleton_dataset(clips: list[SkeletonClip], folder: str | Path) -> Path:
    """Write ``<name>.npz`` per clip and ``labels.csv`` (last, so a listed clip always has its file)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{folder}: cannot create the dataset folder ({e.strerror})") from None
    names = [c.name for c in clips]
    bad = [n for n in names if not n or Path(n).name != n or n.startswith(".")]
    if bad or len(set(names)) != len(names):
        raise ValueError(f"clip names must be unique plain file names, got {bad or 'duplicates'}")
    for c in clips:
        if c.split not in SPLITS:
            raise ValueError(f"clip {c.name!r}: split {c.split!r} is not one of {SPLITS}")
        _save_npz(c, folder / f"{c.name}.npz")
    table = pd.DataFrame([{"clip": c.name, "label": c.label, "split": c.split, "subject": c.subject}
                          for c in clips], columns=list(COLUMNS))
    atomic_write(folder / "labels.csv", lambda p: table.to_csv(p, index=False))
    return folder
