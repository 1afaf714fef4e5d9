"""Repetition counting and per-repetition analysis from joint-angle signals (issue 7).

Works on any set of named angle signals over time: an ``AngleTable`` from ``sportlens.kinematics``
(2D video) or a mapping ``name -> (T,) degrees`` with its ``times`` (e.g. 3D angles of a Kinect
skeleton). Decisions, in the order the algorithm makes them:

1. **Usable channels.** An angle is a candidate when it is measured on at least ``min_coverage`` of
   the frames and has no gap longer than ``max_gap_s`` (shorter gaps are bridged linearly: a rep
   cannot be counted across a stretch where the joint was not seen). Candidates are resampled to a
   uniform grid at the median frame rate (timestamps may be irregular; peak finding needs samples).
2. **Band limit.** A zero-phase 4th-order Butterworth low-pass at ``lowpass_hz`` (3 Hz keeps the
   fundamental and the first harmonics of any rep slower than ``min_period_s``) removes pose jitter
   without shifting event times.
3. **Driving angle.** Each candidate that moves at least ``min_rom_deg`` gets
   ``score = range * periodicity * smoothness * clarity``: ``range`` is the robust span p99 - p1 of
   the filtered signal (degrees); ``periodicity`` the highest local maximum of the unbiased
   autocorrelation at a lag between ``min_period_s`` and ``max_period_s`` (1 = perfectly
   repetitive; a drifting signal has no local maximum); ``smoothness = 1 / (1 + jitter /
   (JITTER_REF * range))`` with ``jitter`` the RMS of what the low-pass removed, so a joint the
   tracker loses now and then (spikes of tens of degrees) does not win by its inflated range;
   ``clarity`` the share of rep-sized peaks (step 5) among peaks of at least half that prominence,
   so the count of the chosen angle does not hinge on where the threshold sits. Angles with two or
   more rep-sized peaks come first. ``RepSettings.angles`` restricts the choice (movement profiles
   in ``PROFILES``, ``settings_for``). Measured on the UI-PRMD tuning subjects
   (benchmarks/bench_reps.py, prominence 0.4 then): range * periodicity alone picked a shoulder the
   Kinect kept losing in lunges (MAE 0.084), + smoothness 0.050, + clarity 0.036.
4. **Polarity.** A repetition is an excursion away from a rest level and back. The rest side is the
   side of the mid-range where the recording starts and ends (a set starts and ends at rest), or,
   when the ends disagree, the side the signal spends more time on (standing still between squats);
   the signal is oriented so that excursions point up.
5. **Peaks.** ``scipy.signal.find_peaks`` on the oriented signal with prominence at least
   ``prominence_frac * range`` (relative, so it works for a 30-degree curl and a 120-degree squat
   alike) and peaks at least ``min_period_s`` apart. A peak whose prominence is below
   ``min_rom_deg`` is never a rep.
6. **Segmentation.** From each extreme the rep extends on both sides down to 10 % of its excursion
   above the lowest point between it and its neighbour, then further while the signal keeps moving
   (speed above ``onset_speed_frac`` of that rep's peak speed, level above twice the filtered
   jitter): start and end are where the movement starts and stops, not a threshold crossing, so
   the tempo of a rep with idle time around it is the time actually spent moving.
7. **Honesty checks.** Fewer than two reps, a driving range below ``min_rom_deg``, a signal whose
   periodicity is below ``min_periodicity`` or reps that do not come back to a common rest level
   (start/end levels spread over more than ``max_rest_spread`` of the median rep range: a drifting,
   wandering joint, not a set) give ``count = 0`` (or 1 for a single clear excursion)
   with ``reason`` saying why; no count is invented from poor data.

Per rep: start / extreme / end times, ROM (max - min of the driving angle over the rep, filtered),
the value of every candidate angle at the extreme (``angles_at_extreme``) and its range over the rep
(``rom_by_angle``), time out (start -> extreme) and back (extreme -> end); ``eccentric_s`` /
``concentric_s`` name them by ``RepSettings.eccentric`` ("out" when going to the extreme is the
lowering phase, as in squats and push-ups; "back" for curls and raises, which lift first).

Per-rep score (consistency with the athlete's own median rep; needs ``score_min_reps`` reps, else
None): each rep's driving signal is resampled to ``TEMPLATE_LEN`` points from start to end; the
template is their point-wise median; with ``shape = RMS(rep - template) / ROM_med``,
``depth = |ROM / ROM_med - 1|`` and ``tempo = |duration / duration_med - 1|``::

    score = 100 * exp(-(shape / 0.10 + depth / 0.15 + tempo / 0.25) / 3)

so a rep 10 % off the median shape, or 15 % shallower, or 25 % slower (each alone) scores
100 * e^(-1/3) = 72; a rep identical to the median scores 100.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from scipy.signal import butter, correlate, filtfilt, find_peaks

from sportlens.errors import InputError
from sportlens.types import AngleTable

TEMPLATE_LEN = 50
JITTER_REF = 0.05  # jitter, as a fraction of the range, that halves a channel's selection score
SCORE_TOLERANCES = {"shape": 0.10, "depth": 0.15, "tempo": 0.25}  # see the module docstring


@dataclass(frozen=True)
class RepSettings:
    """Knobs of the counter (module docstring says what each decides). Defaults tuned on UI-PRMD
    subjects 1-5 (benchmarks/bench_reps.py)."""

    min_period_s: float = 0.8  # two extremes closer than this are one rep
    max_period_s: float = 12.0  # longest lag searched for periodicity
    lowpass_hz: float = 3.0
    prominence_frac: float = 0.25  # of the driving angle's robust range
    min_rom_deg: float = 15.0  # smaller excursions are not repetitions
    min_periodicity: float = 0.2
    max_rest_spread: float = 0.5  # reps start/end within this share of their median range
    min_coverage: float = 0.8  # fraction of frames an angle must be measured on
    max_gap_s: float = 0.5  # longer holes in an angle are not bridged
    onset_speed_frac: float = 0.05  # start/end: speed below this fraction of the rep's peak speed
    score_min_reps: int = 3
    eccentric: str = "out"  # "out": start->extreme is eccentric (squat); "back": curls, raises
    angles: tuple[str, ...] | None = None  # restrict the driving-angle choice to these names


# Movement profiles, keyed by the recognition labels (Penn Action names) where one exists: which
# angles may drive the count and which phase is eccentric ("back" where the move lifts first:
# curls, pull-ups, sit-ups, raises).
PROFILES: dict[str, RepSettings] = {
    "squat": RepSettings(angles=("left_knee_flexion", "right_knee_flexion", "left_hip_flexion",
                                 "right_hip_flexion")),
    "pushup": RepSettings(angles=("left_elbow_flexion", "right_elbow_flexion")),
    "curl": RepSettings(angles=("left_elbow_flexion", "right_elbow_flexion"), eccentric="back"),
    "jumping_jacks": RepSettings(angles=("left_shoulder_flexion", "right_shoulder_flexion"),
                                 eccentric="back", min_period_s=0.5),
    "bench_press": RepSettings(angles=("left_elbow_flexion", "right_elbow_flexion")),
    "pullup": RepSettings(angles=("left_elbow_flexion", "right_elbow_flexion"), eccentric="back"),
    "situp": RepSettings(angles=("left_hip_flexion", "right_hip_flexion"), eccentric="back"),
}


def settings_for(movement: str | None) -> RepSettings:
    """The profile for a movement label (e.g. the recognised action), or the automatic defaults."""
    return PROFILES.get((movement or "").strip().lower().replace("-", "_").replace(" ", "_"), RepSettings())


@dataclass
class Rep:
    """One repetition; times in seconds, angles in degrees, ``index`` 1-based."""

    index: int
    start: float
    extreme: float
    end: float
    value_start: float
    value_extreme: float
    value_end: float
    rom: float
    out_s: float  # start -> extreme
    back_s: float  # extreme -> end
    eccentric_s: float
    concentric_s: float
    angles_at_extreme: dict[str, float] = field(default_factory=dict)
    rom_by_angle: dict[str, float] = field(default_factory=dict)
    score: float | None = None
    score_parts: dict[str, float] = field(default_factory=dict)  # shape, depth, tempo (fractions)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["duration"] = self.duration
        return _rounded(d)


@dataclass
class RepResult:
    """What the counter found. ``reason`` is None when two or more reps were counted, otherwise it says
    why the count is 0 or 1; ``note`` says why per-rep scores are missing when they are."""

    count: int
    reps: list[Rep]
    angle: str | None  # the driving angle
    polarity: int  # +1: excursions increase the angle, -1: they decrease it
    reason: str | None = None
    period_s: float | None = None  # median time between consecutive extremes
    periodicity: float | None = None
    candidates: dict[str, float] = field(default_factory=dict)  # angle -> selection score
    settings: RepSettings = field(default_factory=RepSettings)
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.count >= 2 and self.reason is None

    def to_dict(self) -> dict[str, Any]:
        return _rounded({"count": self.count, "angle": self.angle, "polarity": self.polarity,
                         "reason": self.reason, "note": self.note, "period_s": self.period_s,
                         "periodicity": self.periodicity, "reps": [r.to_dict() for r in self.reps],
                         "candidates": self.candidates})


def _rounded(x: Any) -> Any:
    if isinstance(x, float):
        return None if not math.isfinite(x) else round(x, 3)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_rounded(v) for v in x]
    return x


# ----------------------------------------------------------------------------------------- input
def _as_signals(angles: AngleTable | Mapping[str, np.ndarray],
                times: np.ndarray | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if isinstance(angles, AngleTable):
        t = angles.times if times is None else times
        sig = {n: angles.values[:, i] for i, n in enumerate(angles.names)}
    else:
        if times is None:
            raise InputError("count_reps: angle arrays need their times (seconds)")
        t, sig = times, dict(angles)
    t = np.asarray(t, dtype=np.float64)
    sig = {n: np.asarray(v, dtype=np.float64) for n, v in sig.items()}
    if t.ndim != 1 or not np.isfinite(t).all():
        raise InputError("count_reps: times must be a 1-D array of finite seconds")
    if len(t) > 1 and np.any(np.diff(t) <= 0):
        raise InputError("count_reps: times must be strictly increasing")
    for n, v in sig.items():
        if v.shape != t.shape:
            raise InputError(f"count_reps: angle {n!r} has shape {v.shape}, times have {t.shape}")
    return t, sig


def _longest_gap(t: np.ndarray, finite: np.ndarray) -> tuple[float, float]:
    """(length in seconds, start time) of the longest stretch between measured samples."""
    idx = np.flatnonzero(finite)
    if len(idx) < 2:
        return (float(t[-1] - t[0]) if len(t) else 0.0), float(t[0]) if len(t) else 0.0
    pts = np.concatenate(([t[0]], t[idx], [t[-1]]))
    gaps = np.diff(pts)
    k = int(np.argmax(gaps))
    return float(gaps[k]), float(pts[k])


def _lowpass(x: np.ndarray, fs: float, cutoff: float) -> np.ndarray:
    if cutoff >= 0.45 * fs or len(x) < 16:  # nothing to remove, or too short for filtfilt's padding
        return x.copy()
    b, a = butter(4, cutoff / (0.5 * fs))
    return filtfilt(b, a, x, padlen=min(len(x) - 1, 3 * max(len(a), len(b))))


def periodicity(x: np.ndarray, fs: float, min_period_s: float, max_period_s: float) -> float:
    """Highest local maximum of the unbiased autocorrelation of ``x`` at a lag between the two periods
    (0 if there is none): 1 = perfectly repetitive.

    Only local maxima count: a drifting signal (a random walk) correlates with itself at every lag
    but has no preferred one. Lags beyond 0.6 of the signal are left out: their overlap is too
    short to mean anything (two reps with idle time around them still fit)."""
    x = x - x.mean()
    n = len(x)
    energy = float(np.dot(x, x))
    lo, hi = int(round(min_period_s * fs)), min(int(round(max_period_s * fs)), int(0.6 * n))
    if energy <= 0 or hi <= lo + 2:
        return 0.0
    full = correlate(x, x, mode="full", method="auto")[n - 1:]  # (n,) sums over overlaps; FFT when long
    lags = np.arange(lo, hi + 1)
    acf = full[lags] / (n - lags) / (energy / n)
    peaks, _ = find_peaks(acf)
    return float(np.clip(acf[peaks].max(), -1.0, 1.0)) if len(peaks) else 0.0


@dataclass
class _Channel:
    name: str
    values: np.ndarray  # on the uniform grid, filtered
    span: float
    periodicity: float
    jitter: float  # RMS of what the low-pass removed, degrees
    clarity: float = 1.0  # share of rep-sized peaks among rep-sized and half-sized ones
    clear: int = 0  # number of rep-sized peaks

    @property
    def smoothness(self) -> float:
        """1 for a clean signal, 0.5 when the jitter is ``JITTER_REF`` of the range (tracking noise)."""
        return 1.0 / (1.0 + self.jitter / max(JITTER_REF * self.span, 1e-9))

    @property
    def score(self) -> float:
        return self.span * max(self.periodicity, 0.0) * self.smoothness * self.clarity


def _prepare(t: np.ndarray, sig: dict[str, np.ndarray], s: RepSettings) -> tuple[np.ndarray, dict[str, _Channel],
                                                                                   list[str]]:
    """Uniform grid, candidate channels (filtered) and the reasons others were dropped."""
    dt = float(np.median(np.diff(t)))
    grid = np.arange(t[0], t[-1] + 0.5 * dt, dt)
    fs = 1.0 / dt
    chans, dropped = {}, []
    for name, v in sig.items():
        fin = np.isfinite(v)
        if fin.mean() < s.min_coverage:
            dropped.append(f"{name} measured on {100 * fin.mean():.0f} % of frames")
            continue
        gap, at = _longest_gap(t, fin)
        if gap > s.max_gap_s:
            dropped.append(f"{name} unseen for {gap:.2f} s from t={at:.2f} s")
            continue
        raw = np.interp(grid, t[fin], v[fin])
        x = _lowpass(raw, fs, s.lowpass_hz)
        lo, hi = np.percentile(x, [1.0, 99.0])
        span = float(hi - lo)
        chans[name] = _Channel(name, x, span, periodicity(x, fs, s.min_period_s, s.max_period_s),
                               float(np.sqrt(np.mean((raw - x) ** 2))), *_clarity(x, span, fs, s))
    return grid, chans, dropped


def _peaks(y: np.ndarray, span: float, fs: float, s: RepSettings, frac: float | None = None) -> np.ndarray:
    frac = s.prominence_frac if frac is None else frac
    peaks, _ = find_peaks(y, prominence=max(frac * span, s.min_rom_deg),
                          distance=max(1, int(round(s.min_period_s * fs))))
    return peaks


def _clarity(x: np.ndarray, span: float, fs: float, s: RepSettings) -> tuple[float, int]:
    """(n_clear / (n_clear + n_ambiguous), n_clear): peaks of rep size vs peaks of half that size or more.

    A good driving angle separates reps from wobble by a wide margin, so its count does not depend
    on where the prominence threshold sits; a joint the tracker loses makes bumps of every size."""
    y = _orient(x, fs) * x
    prom = find_peaks(y, prominence=0.5 * s.prominence_frac * span,
                      distance=max(1, int(round(s.min_period_s * fs))))[1]["prominences"]
    clear = int(np.sum(prom >= s.prominence_frac * span))
    return (clear / len(prom) if clear else 0.0), clear


# ------------------------------------------------------------------------------- segmentation
def _orient(x: np.ndarray, fs: float) -> int:
    """+1 if excursions go up (rest is on the low side), else -1.

    Rest is the side of mid-range where the recording both starts and ends (people start and
    finish a set at rest, and a sit-to-stand spends longer seated than standing, so time spent is
    the weaker clue); when the two ends disagree, the side the signal spends more time on."""
    lo, hi = np.percentile(x, [1.0, 99.0])
    mid = 0.5 * (lo + hi)
    k = max(1, int(round(0.3 * fs)))
    first, last = float(np.median(x[:k])) < mid, float(np.median(x[-k:])) < mid
    if first == last:
        return 1 if first else -1
    return 1 if np.mean(x > mid) <= 0.5 else -1


def _edge(y: np.ndarray, speed: np.ndarray, peak: int, limit: int, step: int, frac: float, floor: float) -> int:
    """Walk from ``peak`` towards ``limit`` (by ``step`` = -1/+1) to where the rep starts/ends: past the
    10 % level, then on while the signal keeps falling fast and stays above the noise ``floor``."""
    seg = y[min(peak, limit):max(peak, limit) + 1]
    base = float(seg.min())
    thr = base + 0.1 * (y[peak] - base)
    i = peak
    while i != limit and y[i] > thr:
        i += step
    vmax = float(speed[min(peak, i):max(peak, i) + 1].max())
    while i != limit and y[i + step] < y[i] and speed[i] > frac * vmax and y[i] - base > floor:
        i += step
    return i


def _segment(y: np.ndarray, peaks: np.ndarray, fs: float, frac: float,
             floor: float) -> list[tuple[int, int, int]]:
    speed = np.abs(np.gradient(y) * fs)
    out: list[tuple[int, int, int]] = []
    for k, p in enumerate(peaks):
        # the neighbours' extremes bound the search; a rep never starts before the previous one ended
        left = out[-1][2] if out else 0
        right = int(peaks[k + 1]) if k + 1 < len(peaks) else len(y) - 1
        lo_right = right if k + 1 == len(peaks) else p + int(np.argmin(y[p:right + 1]))
        out.append((_edge(y, speed, p, left, -1, frac, floor), int(p),
                    _edge(y, speed, p, lo_right, +1, frac, floor)))
    return out


def _rep(index: int, grid: np.ndarray, bounds: tuple[int, int, int], drive: _Channel,
         chans: dict[str, _Channel], s: RepSettings) -> Rep:
    a, p, b = bounds
    x = drive.values
    out_s, back_s = float(grid[p] - grid[a]), float(grid[b] - grid[p])
    ecc, con = (out_s, back_s) if s.eccentric == "out" else (back_s, out_s)
    return Rep(index=index, start=float(grid[a]), extreme=float(grid[p]), end=float(grid[b]),
               value_start=float(x[a]), value_extreme=float(x[p]), value_end=float(x[b]),
               rom=float(np.ptp(x[a:b + 1])), out_s=out_s, back_s=back_s, eccentric_s=ecc, concentric_s=con,
               angles_at_extreme={n: float(c.values[p]) for n, c in chans.items()},
               rom_by_angle={n: float(np.ptp(c.values[a:b + 1])) for n, c in chans.items()})


# ------------------------------------------------------------------------------------ scoring
def _resample(x: np.ndarray, n: int = TEMPLATE_LEN) -> np.ndarray:
    return np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x)


def score_reps(reps: list[Rep], curves: list[np.ndarray], min_reps: int = 3) -> list[Rep]:
    """Consistency score of each rep against the median rep (formula in the module docstring).
    Fewer than ``min_reps`` reps: returned unscored (a median of two is no norm)."""
    if len(reps) < max(min_reps, 2):
        return reps
    shapes = np.stack([_resample(c) for c in curves])  # (n, TEMPLATE_LEN)
    template = np.median(shapes, axis=0)
    rom_med = float(np.median([r.rom for r in reps]))
    dur_med = float(np.median([r.duration for r in reps]))
    out = []
    for r, sh in zip(reps, shapes):
        parts = {"shape": float(np.sqrt(np.mean((sh - template) ** 2)) / max(rom_med, 1e-9)),
                 "depth": abs(r.rom / max(rom_med, 1e-9) - 1.0),
                 "tempo": abs(r.duration / max(dur_med, 1e-9) - 1.0)}
        z = sum(parts[k] / SCORE_TOLERANCES[k] for k in parts) / len(parts)
        out.append(replace(r, score=float(100.0 * math.exp(-z)), score_parts=parts))
    return out


# --------------------------------------------------------------------------------------- main
def count_reps(angles: AngleTable | Mapping[str, np.ndarray], times: Sequence[float] | np.ndarray | None = None,
               settings: RepSettings = RepSettings()) -> RepResult:
    """Count and analyse repetitions (module docstring). Raises ``InputError`` for malformed input;
    data that cannot support a count gives a result with ``count`` 0 and a ``reason``."""
    s = settings
    if s.eccentric not in ("out", "back"):
        raise InputError(f"RepSettings.eccentric must be 'out' or 'back', got {s.eccentric!r}")
    t, sig = _as_signals(angles, None if times is None else np.asarray(times, dtype=np.float64))
    if s.angles is not None:
        missing = [n for n in s.angles if n not in sig]
        if len(missing) == len(s.angles):
            raise InputError(f"count_reps: none of the angles {list(s.angles)} is in the input "
                             f"(has {sorted(sig)[:8]}...)")
    none = RepResult(0, [], None, 1, settings=s)
    if len(t) < 3 or t[-1] - t[0] < s.min_period_s:
        return replace(none, reason=f"no repetitions: {t[-1] - t[0] if len(t) else 0:.2f} s of data is shorter "
                                    f"than one repetition ({s.min_period_s:.2f} s)")
    grid, chans, dropped = _prepare(t, sig, s)
    if not chans:
        return replace(none, reason="no repetitions: no angle is measured well enough ("
                                    + "; ".join(dropped[:4]) + ")")
    allowed = [c for n, c in chans.items() if s.angles is None or n in s.angles]
    if not allowed:
        return replace(none, reason="no repetitions: the movement's angles are not measured well enough ("
                                    + "; ".join(d for d in dropped if d.split()[0] in s.angles) + ")")
    moving = [c for c in allowed if c.span >= s.min_rom_deg]
    if not moving:
        big = max(allowed, key=lambda c: c.span)
        return replace(none, angle=big.name, reason=f"no repetitions: no angle moves more than "
                                                    f"{s.min_rom_deg:.0f} deg (largest range {big.name} "
                                                    f"{big.span:.1f} deg)")
    # an angle with two or more clear reps beats one with a single excursion (which counts nothing)
    drive = max(moving, key=lambda c: (c.clear >= 2, c.score, c.span))
    return _count(grid, drive, chans, s)


def _count(grid: np.ndarray, drive: _Channel, chans: dict[str, _Channel], s: RepSettings) -> RepResult:
    fs = 1.0 / float(grid[1] - grid[0])
    cands = {n: round(c.score, 3) for n, c in sorted(chans.items(), key=lambda kv: -kv[1].score)}
    base = RepResult(0, [], drive.name, 1, periodicity=drive.periodicity, candidates=cands, settings=s)
    pol = _orient(drive.values, fs)
    y = pol * drive.values
    peaks = _peaks(y, drive.span, fs, s)
    base = replace(base, polarity=pol)
    # white jitter of RMS j leaves about j * sqrt(cutoff / Nyquist) after the low-pass; twice that
    # is where rest ends and movement begins
    floor = 2.0 * drive.jitter * math.sqrt(min(1.0, s.lowpass_hz / (0.5 * fs)))
    bounds = _segment(y, peaks, fs, s.onset_speed_frac, floor)
    reps = [_rep(i + 1, grid, b, drive, chans, s) for i, b in enumerate(bounds)]
    if len(reps) == 0:
        return replace(base, reason=f"no repetitions: {drive.name} never leaves its rest level and comes back "
                                    f"(range {drive.span:.1f} deg)")
    if len(reps) == 1:
        r = reps[0]
        return replace(base, count=1, reps=reps,
                       reason=f"one repetition ({r.start:.2f}-{r.end:.2f} s): too few to check periodicity "
                              f"or score consistency")
    if drive.periodicity < s.min_periodicity:
        return replace(base, reason=f"no repetitions: {drive.name} is not periodic (autocorrelation "
                                    f"{drive.periodicity:.2f} < {s.min_periodicity:.2f}); {len(reps)} "
                                    f"excursions of unequal size or timing are not counted")
    rest = np.array([[r.value_start, r.value_end] for r in reps])
    spread = float(np.ptp(rest)) / max(float(np.median([r.rom for r in reps])), 1e-9)
    if spread > s.max_rest_spread:
        return replace(base, reason=f"no repetitions: the {len(reps)} excursions of {drive.name} do not return "
                                    f"to a common rest level (start/end levels spread over "
                                    f"{100 * spread:.0f} % of the median range, limit "
                                    f"{100 * s.max_rest_spread:.0f} %)")
    curves = [y[a:b + 1] * pol for a, _, b in bounds]
    reps = score_reps(reps, curves, s.score_min_reps)
    period = float(np.median(np.diff([r.extreme for r in reps])))
    note = None if len(reps) >= s.score_min_reps else (
        f"{len(reps)} repetitions: per-rep scores need at least {s.score_min_reps}")
    return replace(base, count=len(reps), reps=reps, period_s=period, note=note)
