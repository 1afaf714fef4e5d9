"""Key events of a movement, as times the report's timeline can show (issue 7).

Two sources:

- **Repetitions** (``rep_events``): start, bottom (or top) and end of every rep found by
  ``sportlens.assess.reps.count_reps``.
- **Swings** (``swing_phases``, golf and other two-handed swings filmed face-on or down the line):
  address / top / impact / finish from the hands' path. Both hands hold the club, so the hand point
  is the mean of the two wrists (either one where the other is not seen); its height is measured
  above the mid-hip in torso lengths (mid-hip to mid-shoulder, median over the clip), which cancels
  camera distance and a drifting frame. Decisions:

  * **impact**: the downswing is the fastest hand movement of a swing, and the hands pass their
    lowest point at the ball. Impact = the lowest hand point within ``impact_window_s`` of the
    peak hand speed.
  * **top**: the highest hand point in the ``max_backswing_s`` before impact (the end of the
    backswing, where the hands turn).
  * **address**: the set-up before the takeaway: going back from the top, the last moment the
    hands were still (speed below ``still_frac`` of the peak) and low (in the lower quarter between
    impact and top heights). With no still moment, the first frame if the hands are low there (the
    set-up was not filmed); otherwise the swing is implausible (a clip starting mid-swing).
  * **finish**: the first moment after impact when the hands are high (within 15 % of their highest
    point after impact, in the span impact -> highest) and still; if they never settle, the highest
    point after impact.
  * **lead arm**: the straighter arm at the top (smaller elbow flexion): the left arm of a
    right-handed golfer. Its elbow flexion at top and impact is attached to those events.

  The order address < top < impact <= finish is checked and so are the durations: backswing
  ``min_backswing_s``-``max_backswing_s`` and a downswing shorter than the backswing (every swing
  accelerates down; absolute limits would reject slow-motion video, which is common for golf). A
  swing that fails gets its events and a ``reason``, and no tempo. Tempo = backswing / downswing
  (address -> top over top -> impact; about 3 for tour players).

Events carry seconds from the start of the analysed video (``PoseTrack.times``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.signal import butter, filtfilt

from sportlens.assess.reps import RepResult
from sportlens.errors import InputError
from sportlens.kinematics.angles import joint_xy
from sportlens.types import PoseTrack


@dataclass(frozen=True)
class PhaseEvent:
    """One key moment. ``value`` (with ``unit``) is what was measured there, when it says something."""

    name: str  # start | bottom | top | end (reps); address | top | impact | finish (swings)
    time_s: float
    rep: int | None = None  # 1-based rep index for rep events
    source: str = "reps"  # "reps" | "swing"
    value: float | None = None
    unit: str = ""
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["time_s"] = round(self.time_s, 3)
        if self.value is not None:
            d["value"] = round(self.value, 2)
        return d


def rep_events(result: RepResult) -> list[PhaseEvent]:
    """start / bottom-or-top / end of every counted rep (empty when nothing was counted)."""
    extreme = "bottom" if result.settings.eccentric == "out" else "top"
    out = []
    for r in result.reps:
        out += [PhaseEvent("start", r.start, r.index, value=r.value_start, unit="deg", detail=result.angle or ""),
                PhaseEvent(extreme, r.extreme, r.index, value=r.value_extreme, unit="deg", detail=result.angle or ""),
                PhaseEvent("end", r.end, r.index, value=r.value_end, unit="deg", detail=result.angle or "")]
    return out


@dataclass(frozen=True)
class SwingSettings:
    lowpass_hz: float = 6.0  # a downswing takes ~0.3 s: keep what is faster than pose jitter is not
    max_gap_s: float = 0.4  # hand gaps bridged linearly (fast hands blur and drop out near impact)
    impact_window_s: float = 0.3
    still_frac: float = 0.1
    min_backswing_s: float = 0.3
    max_backswing_s: float = 4.0  # also how far before impact the top is searched (slow motion included)
    min_coverage: float = 0.5  # share of frames with a hand point


@dataclass
class SwingPhases:
    events: list[PhaseEvent]
    lead_side: str | None = None  # "left" | "right"
    tempo: dict[str, float] = field(default_factory=dict)  # backswing_s, downswing_s, ratio
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None and len(self.events) == 4

    def time(self, name: str) -> float | None:
        return next((e.time_s for e in self.events if e.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"events": [e.to_dict() for e in self.events], "lead_side": self.lead_side,
                "tempo": {k: round(v, 3) for k, v in self.tempo.items()}, "reason": self.reason}


def _fill(t: np.ndarray, x: np.ndarray, max_gap: float) -> np.ndarray:
    """Linear interpolation over NaN runs no longer than ``max_gap`` seconds; longer ones stay NaN."""
    out = x.copy()
    fin = np.isfinite(x)
    if fin.sum() < 2:
        return out
    idx = np.flatnonzero(fin)
    for a, b in zip(idx[:-1], idx[1:]):
        if b - a > 1 and t[b] - t[a] <= max_gap:
            out[a + 1:b] = np.interp(t[a + 1:b], [t[a], t[b]], [x[a], x[b]])
    return out


def _smooth(x: np.ndarray, fs: float, cutoff: float) -> np.ndarray:
    """Zero-phase low-pass over each finite run (runs too short for the filter are kept as they are)."""
    out = x.copy()
    if cutoff >= 0.45 * fs:
        return out
    b, a = butter(2, cutoff / (0.5 * fs))
    fin = np.isfinite(x)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], fin.astype(int), [0]))))
    for s, e in zip(edges[::2], edges[1::2]):
        if e - s > 9:
            out[s:e] = filtfilt(b, a, x[s:e], padlen=min(e - s - 1, 9))
    return out


def _hands(track: PoseTrack) -> np.ndarray:
    """(T, 2) hand point: mean of the wrists, or the one that is seen."""
    lw, rw = joint_xy(track, "left_wrist"), joint_xy(track, "right_wrist")
    both = np.where(np.isfinite(lw) & np.isfinite(rw), 0.5 * (lw + rw), np.where(np.isfinite(lw), lw, rw))
    return both


def _elbow_flexion(track: PoseTrack, side: str) -> np.ndarray:
    s, e, w = (joint_xy(track, f"{side}_{j}") for j in ("shoulder", "elbow", "wrist"))
    u, v = s - e, w - e
    cos = (u * v).sum(1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))
    return 180.0 - np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def swing_phases(track: PoseTrack, settings: SwingSettings = SwingSettings()) -> SwingPhases:
    """Address / top / impact / finish of the main swing in ``track`` (module docstring)."""
    s = settings
    t = track.times
    if track.num_frames < 10:
        raise InputError(f"swing phases need a pose track of at least 10 frames, got {track.num_frames}")
    hands = _hands(track)
    torso = np.linalg.norm(joint_xy(track, "mid_shoulder") - joint_xy(track, "mid_hip"), axis=1)
    if np.isfinite(hands).all(1).mean() < s.min_coverage or not np.isfinite(torso).any():
        return SwingPhases([], reason=f"no swing phases: hands seen on {100 * np.isfinite(hands).all(1).mean():.0f} % "
                                      f"of frames (need {100 * s.min_coverage:.0f} %) or no torso")
    scale = float(np.nanmedian(torso))
    hip_y = _fill(t, joint_xy(track, "mid_hip")[:, 1], np.inf)  # the hips barely move; bridge them fully
    fs = 1.0 / float(np.median(np.diff(t)))
    x = _smooth(_fill(t, hands[:, 0], s.max_gap_s), fs, s.lowpass_hz) / scale
    y = _smooth(_fill(t, hands[:, 1], s.max_gap_s), fs, s.lowpass_hz)
    h = (hip_y - y) / scale  # (T,) hand height above the hips, torso lengths, up positive
    speed = np.hypot(np.gradient(x, t), np.gradient(h, t))  # (T,) torso lengths / s, NaN near gaps
    if not np.isfinite(speed).any():
        return SwingPhases([], reason="no swing phases: the hands are never seen long enough to move")
    return _events(t, h, speed, track, s)


def _events(t: np.ndarray, h: np.ndarray, speed: np.ndarray, track: PoseTrack, s: SwingSettings) -> SwingPhases:
    peak = int(np.nanargmax(speed))
    win = (t >= t[peak] - s.impact_window_s) & (t <= t[peak] + s.impact_window_s) & np.isfinite(h)
    impact = int(np.flatnonzero(win)[np.argmin(h[win])])
    back = (t >= t[impact] - s.max_backswing_s) & (t < t[impact]) & np.isfinite(h)
    if not back.any():
        return SwingPhases([], reason="no swing phases: no hand data before the fastest movement (no backswing)")
    top = int(np.flatnonzero(back)[np.argmax(h[back])])
    still = s.still_frac * float(speed[peak])
    low = h[impact] + 0.25 * (h[top] - h[impact])
    cand = np.flatnonzero((np.arange(len(t)) < top) & (speed < still) & (h < low))
    address = int(cand[-1]) if len(cand) else int(np.flatnonzero(np.isfinite(h))[0])
    after = np.flatnonzero((np.arange(len(t)) > impact) & np.isfinite(h))
    if len(after) == 0:
        finish = impact
    else:
        high = int(after[np.argmax(h[after])])
        near = h >= h[high] - 0.15 * (h[high] - h[impact])
        settled = np.flatnonzero((np.arange(len(t)) > impact) & near & (speed < still))
        finish = int(settled[0]) if len(settled) else high
    lead, flex = _lead_arm(track, top)
    events = [PhaseEvent("address", float(t[address]), source="swing", value=float(h[address]), unit="torso",
                         detail="hand height above the hips"),
              PhaseEvent("top", float(t[top]), source="swing", value=_at(flex, top), unit="deg",
                         detail=f"{lead}_elbow_flexion" if lead else ""),
              PhaseEvent("impact", float(t[impact]), source="swing", value=_at(flex, impact), unit="deg",
                         detail=f"{lead}_elbow_flexion" if lead else ""),
              PhaseEvent("finish", float(t[finish]), source="swing", value=float(h[finish]), unit="torso",
                         detail="hand height above the hips")]
    phases = SwingPhases(events, lead_side=lead)
    if h[address] >= low:  # no set-up: the clip starts mid-swing, or this is not a swing
        phases.reason = (f"implausible swing: the hands are never low and still before the top "
                         f"(first seen {h[address]:.2f} torso lengths above the hips, top {h[top]:.2f})")
        return phases
    return _checked(phases, s)


def _at(x: np.ndarray | None, i: int) -> float | None:
    if x is None:
        return None
    v = x[max(0, i - 2):i + 3]  # the nearest measured value within 2 frames
    v = v[np.isfinite(v)]
    return float(np.median(v)) if len(v) else None


def _lead_arm(track: PoseTrack, top: int) -> tuple[str | None, np.ndarray | None]:
    """The straighter arm at the top and its elbow flexion over time."""
    with np.errstate(invalid="ignore"):
        flex = {side: _elbow_flexion(track, side) for side in ("left", "right")}
    at = {side: _at(f, top) for side, f in flex.items()}
    known = {side: v for side, v in at.items() if v is not None}
    if not known:
        return None, None
    lead = min(known, key=known.get)
    return lead, flex[lead]


def _checked(p: SwingPhases, s: SwingSettings) -> SwingPhases:
    a, top, imp, fin = (p.time(n) for n in ("address", "top", "impact", "finish"))
    if not a < top < imp <= fin:
        p.reason = f"implausible swing: events out of order (address {a:.2f}, top {top:.2f}, impact {imp:.2f}, " \
                   f"finish {fin:.2f} s)"
        return p
    back, down = top - a, imp - top
    if not (s.min_backswing_s <= back <= s.max_backswing_s) or down >= back:
        p.reason = (f"implausible swing: backswing {back:.2f} s (expected {s.min_backswing_s}-{s.max_backswing_s}), "
                    f"downswing {down:.2f} s (must be shorter than the backswing)")
        return p
    p.tempo = {"backswing_s": back, "downswing_s": down, "ratio": back / down if down > 0 else float("nan")}
    return p
