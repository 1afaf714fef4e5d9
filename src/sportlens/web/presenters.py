"""Rows of the store turned into what templates and charts show. Pure functions: no request, no session.

Why here and not in the store: these are display choices (which numbers, rounded how, which angles a
chart shows first); the store keeps results whole.
"""
from __future__ import annotations

import math
import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

DEFAULT_ANGLES = ("left_knee_flexion", "right_knee_flexion", "left_hip_flexion", "right_hip_flexion")
# Files offered for download, in this order; anything else the run wrote follows.
DOWNLOAD_ORDER = ("report.html", "overlay.mp4", "angles.csv", "keypoints.parquet", "keypoints.csv", "summary.json")


def when(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M") if dt else "—"


def clip(settings: dict | None, duration: float | None) -> str:
    """The analysed part of the video, e.g. "0.0–2.0 s of 7.7 s"."""
    settings = settings or {}
    start, end = settings.get("start"), settings.get("end")
    total = f" of {duration:.1f} s" if duration else ""
    if start is None and end is None:
        return f"whole video{total}"
    return f"{start or 0:.1f}–{end:.1f} s{total}" if end is not None else f"from {start:.1f} s{total}"


_ABS_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:'\"]+/)+([^\s/:'\"]+)")


def one_line(error: str | None) -> str | None:
    """An error as one line: whatever a worker recorded, no traceback reaches a page or a response, and
    server paths (a worker's folder) are cut to the file name."""
    if not error or not error.strip():
        return None
    return _ABS_PATH.sub(r"\1", error.strip().splitlines()[0])[:500]


def number(value: Any, digits: int = 1) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "—" if value is None or isinstance(value, float) else str(value)
    return f"{value:.{digits}f}"


def movement(actions: dict | None) -> str:
    """The most frequent recognised label (by duration), "unknown" stretches ignored."""
    totals: dict[str, float] = {}
    for s in (actions or {}).get("segments", []):
        if s.get("label") and s["label"] != "unknown":
            totals[s["label"]] = totals.get(s["label"], 0.0) + float(s["end"]) - float(s["start"])
    return max(totals, key=totals.get) if totals else ""


def pretty(name: str) -> str:
    return name.replace("_", " ")


def scores_table(analysis) -> list[tuple[str, str]]:
    """Assessment scores when the run made them, then the key numbers every analysis has."""
    rows = [(pretty(k), number(v, 2) if isinstance(v, (int, float)) else str(v))
            for k, v in _flat(analysis.scores or {}).items()]
    m = analysis.metrics or {}
    det = m.get("detection") or {}
    if det:
        rows.append(("person found in", f"{100 * det.get('rate', 0):.0f}% of {det.get('frames', 0)} frames"))
    if m.get("duration_s") is not None:
        rows.append(("analysed duration", f"{number(m['duration_s'])} s"))
    for joint, value in sorted((m.get("symmetry") or {}).items()):
        rows.append((f"{pretty(joint)} asymmetry", f"{number(value)} %"))
    return rows


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def feedback_items(feedback: Any) -> list[str]:
    """Feedback as sentences: items may be strings or dicts with a message/text field."""
    items = feedback if isinstance(feedback, list) else ([feedback] if feedback else [])
    out = []
    for item in items:
        if isinstance(item, dict):
            out.append(str(item.get("message") or item.get("text") or item.get("feedback") or item))
        else:
            out.append(str(item))
    return out


def risk_flags(summary: dict | None) -> tuple[str, list[dict]]:
    """(disclaimer, rows) of summary.json's ``risk_flags`` (analyses run with forecasting), else ("", [])."""
    block = (summary or {}).get("risk_flags") or {}
    rows = []
    for f in block.get("flags") or []:
        unit = "°" if f.get("unit") == "deg" else f" {f.get('unit', '')}"
        rows.append({"time": f.get("time", 0.0), "rule": pretty(str(f.get("rule", ""))),
                     "joint": pretty(str(f.get("joint", ""))), "basis": f.get("basis", ""),
                     "value": f"{number(f.get('value'))}{unit}", "threshold": f"{number(f.get('threshold'))}{unit}",
                     "source": str(f.get("source", ""))})
    return str(block.get("note", "")), rows


def rom_table(metrics: dict | None) -> list[tuple[str, dict]]:
    rows = []
    for name, r in sorted(((metrics or {}).get("rom") or {}).items()):
        rows.append((pretty(name), {k: number(r.get(k), 0) for k in ("min", "max", "rom")}))
    return rows


def download_names(names: list[str]) -> list[str]:
    return [n for n in DOWNLOAD_ORDER if n in names] + sorted(n for n in names if n not in DOWNLOAD_ORDER)


MAX_POINTS = 2000  # per series: a plot is at most ~1200 px wide; a 10-min video has 18000 frames


@lru_cache(maxsize=8)
def angle_series(path: Path) -> dict:
    """Angles of an ``angles.csv`` for the charts: {times, offset, angles{name: values}, default, step}.

    Long videos keep every ``step``-th frame (at most ``MAX_POINTS``); the full table is a download.
    Cached by path: artifacts are content-addressed and immutable, so a path always holds the same data.
    NaN (joint not seen) becomes null, which the chart draws as a gap.
    """
    full = pd.read_csv(path)
    offset = float(full["time"].iloc[0]) if len(full) else 0.0  # the overlay video starts at the first frame
    step = max(1, -(-len(full) // MAX_POINTS))
    df = full.iloc[::step]
    names = [c for c in df.columns if c not in ("frame", "time") and not c.endswith(("_vel", "_acc"))]
    times = [round(float(t), 4) for t in df["time"]]
    angles = {n: [None if not math.isfinite(v) else round(float(v), 2) for v in df[n]] for n in names}
    default = [n for n in DEFAULT_ANGLES if n in angles] or names[:2]
    return {"times": times, "offset": offset, "angles": angles, "default": default, "step": step}


def progress_metrics(analyses: list) -> list[tuple[str, str]]:
    """(key, label) of the measures charted over sessions: every angle's range, detection rate, asymmetry."""
    keys: dict[str, str] = {}
    for a in analyses:
        m = a.metrics or {}
        for name in (m.get("rom") or {}):
            keys[f"rom.{name}"] = f"{pretty(name)}: range of motion (°)"
        for joint in (m.get("symmetry") or {}):
            keys[f"symmetry.{joint}"] = f"{pretty(joint)}: asymmetry (%)"
        if m.get("detection"):
            keys["detection.rate"] = "person found (% of frames)"
    preferred = [k for k in ("rom.left_knee_flexion", "rom.right_knee_flexion") if k in keys]
    return [(k, keys[k]) for k in preferred] + sorted((k, v) for k, v in keys.items() if k not in preferred)


def progress_point(analysis, taken: datetime) -> dict:
    m = analysis.metrics or {}
    values: dict[str, float | None] = {}
    for name, r in (m.get("rom") or {}).items():
        values[f"rom.{name}"] = _finite(r.get("rom"))
    for joint, v in (m.get("symmetry") or {}).items():
        values[f"symmetry.{joint}"] = _finite(v)
    if m.get("detection"):
        values["detection.rate"] = _finite(100 * m["detection"].get("rate", 0.0))
    return {"analysis_id": analysis.id, "t": taken.timestamp(), "date": taken.isoformat(), "metrics": values}


def _finite(v: Any) -> float | None:
    return round(float(v), 2) if isinstance(v, (int, float)) and math.isfinite(v) else None


def compare_table(a, b) -> list[dict]:
    """Key numbers of two analyses with their difference (a - b): left minus right, the athlete minus the
    model, the sign the DTW comparison's deviations use on the same page."""
    rows = []
    ma, mb = a.metrics or {}, b.metrics or {}
    for name in sorted(set(ma.get("rom") or {}) & set(mb.get("rom") or {})):
        rows.append(_diff_row(f"{pretty(name)} range (°)", ma["rom"][name].get("rom"), mb["rom"][name].get("rom")))
    for joint in sorted(set(ma.get("symmetry") or {}) & set(mb.get("symmetry") or {})):
        rows.append(_diff_row(f"{pretty(joint)} asymmetry (%)", ma["symmetry"][joint], mb["symmetry"][joint]))
    ra, rb = (ma.get("detection") or {}).get("rate"), (mb.get("detection") or {}).get("rate")
    if ra is not None and rb is not None:
        rows.append(_diff_row("person found (%)", 100 * ra, 100 * rb))
    return rows


def _diff_row(name: str, a: Any, b: Any) -> dict:
    fa, fb = _finite(a), _finite(b)
    diff = fa - fb if fa is not None and fb is not None else None
    return {"name": name, "a": number(fa), "b": number(fb),
            "diff": ("+" if diff and diff > 0 else "") + number(diff) if diff is not None else "—",
            "cls": "" if diff is None or abs(diff) < 1e-9 else ("up" if diff > 0 else "down")}
