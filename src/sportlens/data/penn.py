"""Penn Action (Zhang, Zhu, Derpanis, ICCV 2013) from its OFFICIAL layout: ``<root>/labels/NNNN.mat``.

Each .mat holds ``x``, ``y``, ``visibility`` (T, 13) in the PENN13 joint order, ``bbox`` (T, 4) =
(x1, y1, x2, y2), ``action``, ``pose`` (camera view), ``train`` (1 = train, -1 = test: the official
split), ``dimensions`` (H, W, T) and ``nframes``. ``frames/`` (images) is not needed here.

Decisions on the data's quirks (each one counted in ``PennReport``):
- invisible joints: position NaN, visibility False (Penn stores junk coordinates for them);
- a clip with no visible joint at all is dropped (nothing to learn from) and named in the report;
- frames with no visible joint are kept (mask 0 in the encoding; dropping them would distort time);
- a ``bbox`` shorter than ``nframes`` is padded by repeating its last row; degenerate boxes (zero
  size around one visible joint) and missing rows are repaired with ``transforms.person_boxes``;
- frame sizes vary: width/height are kept per clip in ``meta``;
- left/right: Penn Action's "left_*" columns hold, in most clips, the person's RIGHT joints (measured on
  the official files: for people facing the camera the "left" shoulder is on the image's left in
  96.6 % of 612 clips, for people seen from behind on the image's right in 75.5 % of 604). sportlens'
  layouts name the person's own sides (as BlazePose does), so the loader swaps every left/right pair
  (``SWAP_SIDES``). Without it a model trained on Penn sees a mirrored body on real pose-estimator output.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sportlens.data.clips import SkeletonClip
from sportlens.data.transforms import box_ok, person_boxes
from sportlens.errors import InputError
from sportlens.skeletons import PENN13

SWAP_SIDES = True  # see the module docstring: Penn's left/right are the person's right/left

PENN_CLASSES: tuple[str, ...] = tuple(sorted((
    "baseball_pitch", "baseball_swing", "bench_press", "bowl", "clean_and_jerk", "golf_swing",
    "jump_rope", "jumping_jacks", "pullup", "pushup", "situp", "squat", "strum_guitar",
    "tennis_forehand", "tennis_serve")))
PENN_FPS = 30.0  # Penn Action clips are ~30 fps (no per-clip rate in the annotations)
_FIELDS = ("x", "y", "visibility", "bbox", "action", "train")


@dataclass
class PennReport:
    """What ``load_penn_action`` read, kept, dropped and repaired."""

    root: str
    files: int = 0  # .mat files read successfully
    files_per_split: dict[str, int] = field(default_factory=dict)  # before dropping empty clips
    clips: int = 0  # clips returned (after the split filter)
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # returned clips: class -> split -> n
    empty_clips: list[str] = field(default_factory=list)  # no visible joint at all: dropped
    # clips with >= 1 frame without a visible joint
    clips_with_empty_frames: list[str] = field(default_factory=list)
    empty_frames: int = 0  # such frames, in all clips read (the dropped empty clips included)
    short_bbox_clips: list[str] = field(default_factory=list)  # fewer bbox rows than frames: padded
    repaired_bbox_rows: int = 0  # degenerate/missing boxes replaced (joint box or nearest frame)
    frame_sizes: dict[str, int] = field(default_factory=dict)  # "WxH" -> clips
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file, reason), strict=False only

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        splits = ", ".join(f"{n} {s}" for s, n in sorted(self.files_per_split.items()))
        top = max(self.frame_sizes, key=self.frame_sizes.get) if self.frame_sizes else "-"
        return (
            f"Penn Action at {self.root}: read {self.files} annotation files ({splits}) and returned "
            f"{self.clips} clips of {len(self.class_counts)} classes. Dropped {len(self.empty_clips)} clip(s) "
            f"without any visible joint ({', '.join(self.empty_clips) or 'none'}); "
            f"{len(self.clips_with_empty_frames)} clip(s) have {self.empty_frames} frame(s) without a visible "
            f"joint (kept, masked, in the clips not dropped); padded the bbox of "
            f"{len(self.short_bbox_clips)} clip(s) shorter than the clip "
            f"({', '.join(self.short_bbox_clips) or 'none'}); repaired {self.repaired_bbox_rows} degenerate "
            f"box row(s); {len(self.frame_sizes)} distinct frame sizes (most common {top}); "
            f"{len(self.errors)} unreadable file(s)"
            + (": " + "; ".join(f"{f}: {r}" for f, r in self.errors) if self.errors else "") + "."
        )


def _labels_dir(root: Path) -> Path:
    if (root / "labels").is_dir():
        return root / "labels"
    if root.is_dir() and any(root.glob("*.mat")):
        return root  # the labels folder itself was given
    raise InputError(f"{root}: no Penn Action labels/ folder with .mat files here "
                     "(expected the official layout <root>/labels/NNNN.mat)")


def _scalar(v: np.ndarray) -> Any:
    return np.asarray(v).ravel()[0]


def _read_mat(path: Path) -> dict[str, np.ndarray]:
    from scipy.io import loadmat

    try:
        m = loadmat(path)
    except Exception as e:  # scipy raises ValueError/TypeError/OSError/... on bad files
        raise InputError(f"{path}: not a readable MATLAB file ({type(e).__name__}: {e})") from None
    missing = [k for k in _FIELDS if k not in m]
    if missing:
        raise InputError(f"{path}: missing field(s) {', '.join(missing)} of a Penn Action annotation")
    V = PENN13.num_joints
    shapes = {k: np.shape(m[k]) for k in ("x", "y", "visibility")}
    if len(set(shapes.values())) != 1 or len(shapes["x"]) != 2 or shapes["x"][1] != V or shapes["x"][0] == 0:
        raise InputError(f"{path}: x, y, visibility must be (T, {V}) with T >= 1, got {shapes}")
    if np.ndim(m["bbox"]) != 2 or np.shape(m["bbox"])[1] != 4:
        raise InputError(f"{path}: bbox must be (T, 4), got {np.shape(m['bbox'])}")
    return m


def _to_clip(path: Path, m: dict[str, np.ndarray], report: PennReport) -> SkeletonClip | None:
    """One annotation -> a clip (None when it has no visible joint), counting quirks into ``report``."""
    name = path.stem
    vis = np.asarray(m["visibility"]).astype(bool)  # (T, 13); dtype varies (uint8)
    kp = np.stack([m["x"], m["y"]], axis=-1).astype(np.float64)  # (T, 13, 2); dtype varies (f8/u1/u2)
    kp[~vis] = np.nan
    if SWAP_SIDES:  # Penn's "left" is the person's right: turn into sportlens' anatomical convention
        kp, vis = kp[:, PENN13.flip_index], vis[:, PENN13.flip_index]
    T = len(kp)
    action, train = str(_scalar(m["action"])), int(_scalar(m["train"]))
    if action not in PENN_CLASSES:
        raise InputError(f"{path}: unknown action {action!r}; Penn Action has {', '.join(PENN_CLASSES)}")
    if train not in (1, -1):
        raise InputError(f"{path}: train must be 1 (train) or -1 (test), got {train}")
    split = "train" if train == 1 else "test"
    report.files_per_split[split] = report.files_per_split.get(split, 0) + 1
    n_empty = int((~vis.any(axis=1)).sum())
    if n_empty:  # counted before dropping, so an empty clip counts here too (as in shared/NOTES.md)
        report.clips_with_empty_frames.append(name)
        report.empty_frames += n_empty
    if not vis.any():
        report.empty_clips.append(name)
        return None
    bbox = np.asarray(m["bbox"], dtype=np.float64)[:T]  # (<=T, 4)
    if len(bbox) < T:
        report.short_bbox_clips.append(name)
        pad = bbox[-1:] if len(bbox) else np.full((1, 4), np.nan)
        bbox = np.concatenate([bbox, np.repeat(pad, T - len(bbox), axis=0)])
    report.repaired_bbox_rows += int((~box_ok(bbox)).sum())
    bbox = person_boxes(kp, vis, bbox)
    meta: dict[str, Any] = {"view": str(_scalar(m["pose"])) if "pose" in m else "", "file": str(path)}
    if "dimensions" in m and np.size(m["dimensions"]) >= 2:
        h, w = (int(v) for v in np.asarray(m["dimensions"]).ravel()[:2])  # stored as (H, W, T)
        meta.update(width=w, height=h)
        report.frame_sizes[f"{w}x{h}"] = report.frame_sizes.get(f"{w}x{h}", 0) + 1
    return SkeletonClip(name=name, keypoints=kp, visibility=vis, label=action, split=split,
                        skeleton=PENN13.name, bbox=bbox, fps=PENN_FPS, meta=meta)


def _gaps(files: list[Path]) -> list[str]:
    """Names NNNN missing from a numbered sequence 1..max (an incomplete download)."""
    nums = {int(f.stem) for f in files if re.fullmatch(r"\d+", f.stem)}
    width = max((len(f.stem) for f in files), default=4)
    return [f"{n:0{width}d}.mat" for n in range(1, max(nums, default=0) + 1) if n not in nums]


def load_penn_action(root: str | Path, *, split: str | None = None,
                     strict: bool = True) -> tuple[list[SkeletonClip], PennReport]:
    """Load Penn Action annotations as PENN13 ``SkeletonClip``s (official train/test split).

    ``split``: None (all), "train" or "test". ``strict``: raise ``InputError`` naming the file on the
    first unreadable/invalid/missing annotation; with False such files are skipped and listed in
    ``report.errors``. Clips come sorted by name.
    """
    if split not in (None, "train", "test"):
        raise ValueError(f"split must be None, 'train' or 'test', got {split!r}")
    root = Path(root)
    labels = _labels_dir(root)
    files = sorted(labels.glob("*.mat"))
    report = PennReport(root=str(root))
    for gap in _gaps(files):
        msg = "missing from a numbered sequence: the download looks incomplete"
        if strict:
            raise InputError(f"{labels / gap}: {msg} (pass strict=False to load the rest)")
        report.errors.append((gap, msg))
    clips: list[SkeletonClip] = []
    for path in files:
        try:
            clip = _to_clip(path, _read_mat(path), report)
        except InputError as e:
            if strict:
                raise
            report.errors.append((path.name, str(e)))
            continue
        report.files += 1
        if clip is not None and split in (None, clip.split):
            clips.append(clip)
    report.clips = len(clips)
    counts: dict[str, Counter] = {}
    for c in clips:
        counts.setdefault(c.label, Counter())[c.split] += 1
    report.class_counts = {k: dict(sorted(v.items())) for k, v in sorted(counts.items())}
    return clips, report
