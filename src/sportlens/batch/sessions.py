"""``sessions.parquet``: one row per video of the batch, the numbers a coach compares across a season."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from sportlens.fsutil import atomic_path

SESSIONS = "sessions.parquet"
UNKNOWN = "unknown"
# The joint angles clubs compare across sessions (sportlens.kinematics names); segment angles stay
# in each video's summary.json.
MAIN_ANGLES = ("left_shoulder_flexion", "right_shoulder_flexion", "left_elbow_flexion", "right_elbow_flexion",
               "left_hip_flexion", "right_hip_flexion", "left_knee_flexion", "right_knee_flexion", "trunk_lean")
COLUMNS = ["name", "file", "status", "error", "resumed", "duration_s", "analysed_s", "fps", "frames",
           "detection_rate", "top_action", "top_action_share", *(f"rom_{a}" for a in MAIN_ANGLES), "seconds",
           "attempts", "out_dir"]


def top_action(actions: dict | None) -> tuple[str | None, float | None]:
    """The recognised movement covering most of the analysed time (``unknown`` stretches do not count)
    and the share of time it covers; (None, None) without recognition."""
    if not actions:
        return None, None
    total, per_label = 0.0, {}
    for seg in actions.get("segments", []):
        length = max(0.0, seg["end"] - seg["start"])
        total += length
        if seg["label"] != UNKNOWN:
            per_label[seg["label"]] = per_label.get(seg["label"], 0.0) + length
    if not per_label:
        return UNKNOWN, None
    label = max(per_label, key=per_label.get)
    return label, per_label[label] / total if total else None


def session_row(name: str, file: str, out_dir: Path, summary: dict[str, Any] | None, *, status: str,
                error: str = "", resumed: bool = False, seconds: float = 0.0, attempts: int = 1) -> dict[str, Any]:
    """The row of one video from its summary.json (None for a failed video: numbers are empty)."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(name=name, file=file, status=status, error=error, resumed=resumed, seconds=float(seconds),
               attempts=int(attempts), out_dir=str(out_dir))
    if summary is None:
        return row
    video, metrics = summary.get("video", {}), summary.get("metrics", {})
    det, rom = metrics.get("detection", {}), metrics.get("rom", {})
    label, share = top_action(summary.get("actions"))
    row.update(duration_s=video.get("duration"), fps=video.get("fps"), analysed_s=metrics.get("duration_s"),
               frames=det.get("frames"), detection_rate=det.get("rate"), top_action=label, top_action_share=share,
               **{f"rom_{a}": (rom.get(a) or {}).get("rom") for a in MAIN_ANGLES})
    return row


def write_sessions(rows: list[dict[str, Any]], path: str | Path) -> pd.DataFrame:
    """Write the table atomically (a reader never sees half a file) with stable column types."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    floats = ["duration_s", "analysed_s", "fps", "detection_rate", "top_action_share", "seconds",
              *(f"rom_{a}" for a in MAIN_ANGLES)]
    df[floats] = df[floats].astype("float64")  # None -> NaN, also when every video failed
    df["frames"] = df["frames"].astype("Int64")  # nullable: a failed video has no frame count
    df["resumed"] = df["resumed"].astype(bool)
    df["attempts"] = df["attempts"].astype("int64")
    for col in ("name", "file", "status", "error", "top_action", "out_dir"):
        df[col] = df[col].astype("string")
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return df
