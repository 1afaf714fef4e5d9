"""Build a skeleton dataset from a folder of labelled videos (``sportlens dataset from-videos``).

Each listed video goes through the same ``analyze_video`` pipeline as a single analysis (pose,
cleaning), without report or overlay; the cleaned BlazePose-33 track becomes one clip. A video that
cannot be read is skipped and reported with its reason: nothing is dropped silently.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from sportlens.api import analyze_video
from sportlens.config import AnalyzeSettings
from sportlens.data import SkeletonClip, save_skeleton_dataset
from sportlens.errors import InputError, SportlensError

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")


def read_labels(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: labels file not found")
    df = pd.read_csv(path, dtype=str)
    missing = {"clip", "label", "split"} - set(df.columns)
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(sorted(missing))}; need clip,label,split[,subject]")
    bad = sorted(set(df["split"]) - {"train", "val", "test"})
    if bad:
        raise InputError(f"{path}: unknown split value(s) {bad}; use train, val or test")
    return df.fillna("")


def find_video(folder: Path, clip: str) -> Path | None:
    return next((folder / f"{clip}{s}" for s in VIDEO_SUFFIXES if (folder / f"{clip}{s}").is_file()), None)


def build_from_videos(videos: Path, labels: Path, out: Path, progress=None) -> dict:
    """Analyse every video listed in ``labels`` and save the dataset. Returns counts and skipped items."""
    if not videos.is_dir():
        raise InputError(f"{videos}: not a folder of videos")
    df = read_labels(labels)
    settings = AnalyzeSettings()
    settings = replace(settings, recognition=replace(settings.recognition, enabled=False))
    clips, skipped = [], []
    for row in df.itertuples():
        video = find_video(videos, row.clip)
        if video is None:
            skipped.append((row.clip, f"no video named {row.clip}.* in {videos}"))
            continue
        try:
            track = analyze_video(video, None, settings).clean
        except SportlensError as e:
            skipped.append((row.clip, str(e)))
            continue
        if not track.detected_frames().any():
            skipped.append((row.clip, "no person detected"))
            continue
        if progress is not None:
            progress.print(f"{row.clip}: {track.num_frames} frames", highlight=False)
        fps = 1.0 / float(np.median(np.diff(track.times))) if track.num_frames > 1 else 30.0
        clips.append(SkeletonClip(name=row.clip, keypoints=track.keypoints, visibility=track.present(),
                                  label=row.label, split=row.split, skeleton=track.skeleton, fps=fps,
                                  subject=getattr(row, "subject", "") or ""))
    if not clips:
        raise InputError(f"{labels}: none of the listed videos gave a pose track ({len(skipped)} skipped)")
    save_skeleton_dataset(clips, out)
    return {"written": len(clips), "skipped": skipped}
