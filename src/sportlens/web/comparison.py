"""The comparison page's numbers: one session against another session or a reference, aligned by DTW.

``compare_view(store, athlete, other, name=..., movement=...)`` builds a ``sportlens.assess.reference.Reference``
from the other side's stored ``keypoints.parquet`` (a stored reference's own keypoints file when it has one,
else its analysis' file) and runs ``sportlens.assess.compare.compare_tracks``; the result is turned into what
the template shows: the score, a per-joint table, the feedback sentences, warnings and the aligned angle
curves as inline SVG (one small chart per joint: the reference's curve and the athlete's curve warped onto the
reference's time, ``Comparison.warped``), plus a thinned time map (``Comparison.path``) so the page's script
can seek both videos to aligned moments.

Decisions:
- The left side (``a``) is the athlete, the right side (``b`` or the reference) is the model movement:
  deviations read "athlete minus reference", as in ``sportlens compare``.
- The reference's joints are the ones that move in it (``default_joints``, as ``sportlens reference add``
  chooses them); its view and facing are measured from its track. The recognised movement labels are not
  passed to ``compare_tracks``: a label is a model's guess and a wrong guess would refuse a fair comparison;
  the data checks (view, gaps, "not the same movement" from the joint ranges) still refuse unlike pieces.
- A refusal (``ComparisonRefused`` and any other ``InputError``: no keypoints, unreadable file) is a result,
  not an error: the page shows the reason instead of a score.
- Cached per pair (``lru_cache``) by the two keypoints artifact keys plus the reference's name and movement:
  artifacts are content-addressed and immutable, so the same keys always give the same comparison. The cache
  holds the small view dict only, not the tracks.
- ``MAX_CELLS``: the web page aligns at most 1500 x 1500 frames (50 s against 50 s at 30 fps), far below the
  library's limit, so a request stays within a second or two and a few hundred MB; longer pieces are refused
  with a hint to analyse a shorter part (``start``/``end`` at upload).
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np

from sportlens.errors import InputError

MAX_CELLS = 1500 * 1500
MAX_SVG_POINTS = 300  # per curve: a small chart is ~400 px wide
MAX_MAP_POINTS = 400  # reference-time -> athlete-time pairs sent to the page for seeking
SVG_W, SVG_H = 420, 170
PAD = {"left": 40, "right": 10, "top": 10, "bottom": 28}


def compare_view(store, athlete_key: str | None, reference_key: str | None, *, name: str,
                 movement: str = "") -> dict:
    """{"ok": True, score, joints, feedback, warnings, charts, time_map, ...} or {"ok": False, "reason"}."""
    if not athlete_key:
        return _refused("the left session has no stored keypoints (no person was tracked): nothing to compare")
    if not reference_key:
        return _refused("the right session has no stored keypoints (no person was tracked): nothing to compare")
    paths = store.artifacts.path(athlete_key), store.artifacts.path(reference_key)
    if not all(p.is_file() for p in paths):  # not cached: a restored file must count at once
        return _refused("a stored keypoints file is missing from the data folder (see `sportlens store verify`)")
    return _cached(*paths, name, movement)


def clear_cache() -> None:
    _cached.cache_clear()


@lru_cache(maxsize=32)
def _cached(athlete_path: Path, reference_path: Path, name: str, movement: str) -> dict:
    from sportlens.assess.compare import compare_tracks
    from sportlens.assess.feedback import feedback

    try:
        athlete, reference = _load(athlete_path, reference_path, name, movement)
        if athlete.num_frames * reference.track.num_frames > MAX_CELLS:
            return _refused(f"{athlete.num_frames} x {reference.track.num_frames} frames is too long to align "
                            "here; analyse a shorter part of the videos (start/end at upload)")
        cmp = compare_tracks(athlete, reference)
    except InputError as e:  # ComparisonRefused is one; so are unreadable or empty keypoint files
        return _refused(str(e))
    return {"ok": True, "score": cmp.score, "reference": cmp.reference, "primary_joint": cmp.primary_joint,
            "mirrored": cmp.mirrored, "duration_ratio": _round(cmp.duration_ratio, 2),
            "joints": [_joint_row(j) for j in cmp.joints],
            "feedback": [item.text for item in feedback(cmp.deviations)],
            "warnings": list(cmp.warnings), "charts": _charts(cmp), "time_map": _time_map(cmp)}


def _refused(reason: str) -> dict:
    from sportlens.web.presenters import one_line

    return {"ok": False, "reason": one_line(reason) or "comparison refused"}  # one line, no server path


def _load(athlete_path: Path, reference_path: Path, name: str, movement: str):
    """(athlete PoseTrack, Reference) from two keypoints.parquet files."""
    from sportlens.assess.reference import (
        Reference, ReferenceCard, default_joints, facing, measured_view, read_keypoints,
    )

    athlete = read_keypoints(athlete_path)
    track = read_keypoints(reference_path)
    fps = (track.num_frames - 1) / float(track.times[-1] - track.times[0]) if track.num_frames > 1 else 0.0
    card = ReferenceCard(name=name, movement=movement, view="", joints=default_joints(track), fps=fps,
                         frames=track.num_frames, duration_s=float(track.times[-1] - track.times[0]),
                         skeleton=track.skeleton, source="web", source_kind="keypoints", created="",
                         facing=facing(track), view_measured=measured_view(track))
    return athlete, Reference(card, track)


def _round(x: float, digits: int = 1) -> float | None:
    return round(float(x), digits) + 0.0 if x is not None and math.isfinite(x) else None  # + 0.0: no "-0.0"


def _joint_row(j) -> dict:
    return {"name": j.name.replace("_", " "), "score": _round(j.score), "mean_abs": _round(j.mean_abs_deviation),
            "mean": _round(j.mean_deviation), "rom_athlete": _round(j.rom_athlete),
            "rom_reference": _round(j.rom_reference), "rom_difference": _round(j.rom_difference),
            "timing": _round(j.timing_offset_s, 2)}


def _time_map(cmp) -> list[list[float]]:
    """[[reference time, athlete time], ...] from each clip's first frame (the overlay videos start there)."""
    t_r = cmp.reference_track.times - cmp.reference_track.times[0]
    t_a = cmp.athlete.times - cmp.athlete.times[0]
    m = len(t_r)
    frames = np.unique(np.linspace(0, m - 1, min(m, MAX_MAP_POINTS)).round().astype(int))
    return [[round(float(t_r[j]), 3), round(float(t_a[cmp.athlete_frame_for(int(j))]), 3)] for j in frames]


# ------------------------------------------------------------------------------------------- SVG


def _charts(cmp) -> list[dict]:
    """One chart per compared joint: {"joint", "svg"} with the reference and the warped athlete curve."""
    t = cmp.reference_track.times - cmp.reference_track.times[0]
    out = []
    for k, joint in enumerate(cmp.joint_names):
        ref = cmp.reference_angles.column(joint)
        out.append({"joint": joint.replace("_", " "),
                    "svg": _svg(t, [("reference", ref), ("athlete", cmp.warped[:, k])], joint)})
    return out


def _svg(t: np.ndarray, series: list[tuple[str, np.ndarray]], title: str) -> str:
    """A small line chart as SVG text. Numbers only reach it (no user text), so no escaping is needed;
    presentation attributes, not style attributes: the pages' CSP forbids inline styles."""
    step = max(1, -(-len(t) // MAX_SVG_POINTS))
    t = t[::step]
    values = [np.asarray(v, dtype=float)[::step] for _, v in series]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if hi - lo < 1.0:
        lo, hi = lo - 1.0, hi + 1.0
    x0, x1 = PAD["left"], SVG_W - PAD["right"]
    y0, y1 = SVG_H - PAD["bottom"], PAD["top"]
    span = float(t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 1.0

    def sx(v: float) -> float:
        return x0 + (v - t[0]) / span * (x1 - x0)

    def sy(v: float) -> float:
        return y0 + (v - lo) / (hi - lo) * (y1 - y0)

    parts = [f'<svg class="line-chart aligned" viewBox="0 0 {SVG_W} {SVG_H}" role="img" '
             f'aria-label="{title.replace("_", " ")}: reference and athlete, aligned" '
             f'data-t0="{float(t[0]):.3f}" data-t1="{float(t[-1]):.3f}" data-x0="{x0}" data-x1="{x1}">',
             f'<rect class="plot-area" x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}"/>']
    for value in (lo, hi):
        parts.append(f'<text x="{x0 - 4}" y="{sy(value) + 4:.1f}" text-anchor="end">{value:.0f}°</text>')
    parts.append(f'<text x="{x0}" y="{SVG_H - 8}">0 s</text>')
    parts.append(f'<text x="{x1}" y="{SVG_H - 8}" text-anchor="end">{span:.1f} s (reference time)</text>')
    colors = ("#66707c", "#1f77b4")
    for (label, _), v, color in zip(series, values, colors):
        d = _path(t, v, sx, sy)
        dash = ' stroke-dasharray="5 3"' if label == "reference" else ""
        parts.append(f'<path class="series {label}" d="{d}" stroke="{color}"{dash}/>')
    parts.append(f'<line class="cursor" x1="{x0}" x2="{x0}" y1="{y1}" y2="{y0}" visibility="hidden"/>')
    parts.append("</svg>")
    return "".join(parts)


def _path(t: np.ndarray, v: np.ndarray, sx, sy) -> str:
    """SVG path data; a NaN (joint not seen) starts a new sub-path, so gaps stay gaps."""
    out, pen_down = [], False
    for ti, vi in zip(t, v):
        if not math.isfinite(vi):
            pen_down = False
            continue
        out.append(f"{'L' if pen_down else 'M'}{sx(float(ti)):.1f},{sy(float(vi)):.1f}")
        pen_down = True
    return " ".join(out)
