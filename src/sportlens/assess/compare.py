"""Compare an athlete's performance with a reference (issue 7, reference-based assessment).

Steps (``compare_tracks``):

1. **Checks** (``ComparisonRefused`` says why, no score is made): the athlete's movement / camera view, when
   given, must be the reference's; the measured view (shoulder width / trunk length, ``reference.measured_view``)
   must not contradict it; each joint that matters must be measurable in at least ``MIN_MEASURABLE`` of the
   athlete's frames with no gap longer than ``MAX_GAP_S``; at least ``MIN_FRAMES`` frames.
2. **Normalisation**: position (the median mid-hip is moved to the origin), scale (divided by the median trunk
   length, mid-hip to mid-shoulder) and facing side: when the athlete faces the other side of the picture than
   the reference (``reference.facing``: nose ahead of the ears, toes ahead of the heels), the athlete is
   mirrored (x -> -x). Left/right stay the athlete's own sides (a mirrored left knee is still the left knee).
   Joint flexion angles do not change under any of these; trunk lean and segment angles change sign when
   mirrored, which is why mirroring is needed. Angles are then recomputed (``sportlens.kinematics``).
3. **Alignment in time**: dynamic time warping (DTW) on the joint-angle trajectories of the joints that matter
   (degrees, one vector per frame, Euclidean frame distance; short NaN gaps interpolated linearly), each
   angle minus its mean over the performance: the alignment follows the shape of the movement, so a joint
   held 20 deg more bent throughout shows as a 20 deg deviation instead of being warped away. The
   classic symmetric step pattern without a window, endpoints aligned. Implemented here in numpy (``dtw``):
   the maintained libraries (dtaidistance, tslearn) are not among this project's pinned dependencies, and the
   recurrence vectorises well: each row is a running minimum (``numpy.minimum.accumulate``) over prefix sums.
4. **Measures**, on the athlete's curve warped onto the reference's time (for every reference frame, the mean
   of the athlete frames aligned to it):

   - per joint: mean absolute deviation (deg) over the reference frames, signed mean, range of motion
     (95th - 5th percentile, as ``kinematics.metrics``) of athlete and reference and their difference, and a
     timing offset: seconds (athlete clock) between the moment the athlete's joint reaches its extreme and
     the moment aligned with the reference's extreme (positive = later).
   - per phase: events on the reference, ``start``, the extreme of the *primary* joint (the joint that
     matters with the largest reference ROM; the event is called ``bottom`` for knee/hip/ankle, ``top``
     otherwise) and ``end``; phases between consecutive events. Per phase and joint: mean absolute and signed
     deviation; per phase: athlete and reference durations (tempo).

5. **Score** (0-100), per joint then overall::

       error_j = max(mean |deviation_j|, |ROM_athlete_j - ROM_reference_j|)          (degrees)
       score_j = 100 * clip(1 - error_j / ZERO_SCORE_DEG, 0, 1)                      (ZERO_SCORE_DEG = 40)
       score   = sum_j w_j * score_j / sum_j w_j,   w_j = max(ROM_reference_j, MIN_WEIGHT_ROM_DEG = 10)

   so 0 deg -> 100, 10 deg -> 75, 20 deg -> 50, 40 deg or more -> 0; joints that move more in the reference
   weigh more, still ones still count. Tempo does not enter the score (a slower squat of the same shape is
   not a worse one): it is reported as ``tempo`` deviations.

The alignment pins both ends together (start with start, end with end): the two pieces should begin and end
at the same phase of the movement (whole repetitions); a warning says so when their first or last poses differ
by more than ``PHASE_MISMATCH_DEG``.

Findings are ``sportlens.assess.deviations.Deviation`` rows (``source = "reference:<name>"``): angle at the
primary joint's extreme (``angle_at_event``, tolerance ``ANGLE_TOL_DEG``; start/end values are in the
breakdown; with no inner extreme, at start and end), range of motion (``rom``, ``ROM_TOL_DEG``), per-joint
timing offset (``timing``, ``TIMING_TOL_S``), phase durations (``tempo``, relative tolerance ``TEMPO_TOL``).
Only rows with severity >= ``MIN_SEVERITY`` are listed; every number is in the per-joint breakdown anyway.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sportlens.assess.deviations import FORWARD_LEAN, Deviation
from sportlens.assess.reference import (
    Reference, expand_joints, facing, measured_view, trunk_length,
)
from sportlens.errors import InputError
from sportlens.kinematics import compute_angles, joint_xy
from sportlens.types import AngleTable, PoseTrack

ZERO_SCORE_DEG = 40.0
MIN_WEIGHT_ROM_DEG = 10.0
ANGLE_TOL_DEG = 10.0
ROM_TOL_DEG = 10.0
TIMING_TOL_S = 0.2
TEMPO_TOL = 0.25
MIN_SEVERITY = 0.5
MIN_MEASURABLE = 0.8
MAX_GAP_S = 0.5
MIN_FRAMES = 10
MAX_CELLS = 25_000_000  # DTW cost-matrix cells (frames x frames) before asking for a shorter piece
# "Not the same movement": the joints moving >= BIG_ROM_DEG in the reference move less than
# SMALL_ROM_FRACTION of that in the athlete (most of them), or the aligned curves differ by more than
# NOT_SAME_DEG on average over the joints that matter.
BIG_ROM_DEG = 30.0
SMALL_ROM_FRACTION = 0.25
NOT_SAME_DEG = 45.0
PHASE_MISMATCH_DEG = 20.0  # mean |deviation| at the start or end above this: a warning (pieces cut differently)


class ComparisonRefused(InputError):
    """The athlete's data cannot support a score against this reference; the message says why."""


# ------------------------------------------------------------------------------------------- DTW


def accumulated_cost(cost: np.ndarray) -> np.ndarray:
    """DTW accumulated cost ``D`` (..., N + 1, M + 1) of local costs (..., N, M) >= 0.

    ``D[i, j] = cost[i-1, j-1] + min(D[i-1, j-1], D[i-1, j], D[i, j-1])``, ``D[0, 0] = 0``, other borders inf.
    One row at a time: with ``m_j = min(D[i-1, j-1], D[i-1, j])`` and prefix sums ``S_j`` of the row's costs,
    ``D[i, j] = S_j + min_{k <= j}(m_k - S_{k-1})``, a running minimum, so each row is a few numpy calls.
    Leading dimensions are a batch (one query against many padded references).
    """
    c = np.asarray(cost, dtype=np.float64)
    *lead, n, m = c.shape
    d = np.full((*lead, n + 1, m + 1), np.inf)
    d[..., 0, 0] = 0.0
    for i in range(1, n + 1):
        prev = d[..., i - 1, :]
        mk = np.minimum(prev[..., 1:], prev[..., :-1])  # (..., M)
        s = np.cumsum(c[..., i - 1, :], axis=-1)  # (..., M)
        s_before = s - c[..., i - 1, :]
        with np.errstate(invalid="ignore"):
            d[..., i, 1:] = s + np.minimum.accumulate(mk - s_before, axis=-1)
    return d


def dtw(a: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray]:
    """(total cost, path (K, 2) of (index in a, index in b)) of two (N, F), (M, F) finite sequences."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim == 1:
        a, b = a[:, None], b[:, None]
    cost = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))  # (N, M)
    d = accumulated_cost(cost)
    i, j = len(a), len(b)
    path = [(i - 1, j - 1)]
    while i > 1 or j > 1:
        cands = ((d[i - 1, j - 1], i - 1, j - 1), (d[i - 1, j], i - 1, j), (d[i, j - 1], i, j - 1))
        _, i, j = min(cands, key=lambda x: x[0])  # ties: the diagonal (listed first) wins
        path.append((i - 1, j - 1))
    return float(d[-1, -1]), np.array(path[::-1], dtype=np.int64)


def dtw_distances(query: np.ndarray, refs: list[np.ndarray]) -> np.ndarray:
    """Length-normalised DTW distance (total cost / (N + M)) of one (N, F) query to each (M_k, F) reference.

    The references are padded to one length and aligned in one batch: cells past a reference's end never
    feed ``D[M_k, N]``, so padding does not change any result.
    """
    q = np.asarray(query, dtype=np.float64)
    lens = np.array([len(r) for r in refs])
    flat = np.concatenate([np.asarray(r, dtype=np.float64) for r in refs])  # (S, F) all references
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    idx = np.minimum(starts[:, None] + np.arange(lens.max())[None, :], len(flat) - 1)  # (B, M); padding: any
    # |q - r|^2 = |q|^2 + |r|^2 - 2 q.r, one matrix product for all references (no (B, N, M, F) temporary)
    sq = (flat ** 2).sum(-1)[:, None] + (q ** 2).sum(-1)[None, :] - 2.0 * (flat @ q.T)  # (S, N)
    # DTW is symmetric: rows = reference frames, so each reference's end is a row (D[b, M_b, N]) and the
    # gathered cost array is contiguous
    cost = np.sqrt(np.maximum(sq, 0.0))[idx]  # (B, M, N)
    d = accumulated_cost(cost)
    return d[np.arange(len(refs)), lens, len(q)] / (len(q) + lens)


# ------------------------------------------------------------------------------------------- results


@dataclass
class JointComparison:
    name: str
    weight: float
    mean_abs_deviation: float  # deg, over reference frames after alignment
    mean_deviation: float  # deg, signed (athlete - reference)
    rom_athlete: float
    rom_reference: float
    rom_difference: float  # athlete - reference
    timing_offset_s: float  # athlete clock; positive = the athlete's extreme comes later
    score: float
    phases: dict[str, dict[str, float]] = field(default_factory=dict)  # phase -> mean_abs_deviation, mean_deviation
    events: dict[str, dict[str, float]] = field(default_factory=dict)  # event -> athlete, reference, time_s


@dataclass
class Phase:
    name: str  # e.g. "start-bottom"
    reference_start_s: float
    reference_end_s: float
    athlete_start_s: float
    athlete_end_s: float

    @property
    def reference_duration_s(self) -> float:
        return self.reference_end_s - self.reference_start_s

    @property
    def athlete_duration_s(self) -> float:
        return self.athlete_end_s - self.athlete_start_s


@dataclass
class Comparison:
    reference: str
    movement: str
    view: str
    score: float
    joints: list[JointComparison]
    phases: list[Phase]
    events: dict[str, int]  # event -> reference frame index
    deviations: list[Deviation]
    mirrored: bool
    athlete_facing: int
    reference_facing: int
    primary_joint: str
    path: np.ndarray  # (K, 2) athlete frame, reference frame
    athlete: PoseTrack  # normalised (and mirrored) tracks, as compared
    reference_track: PoseTrack
    athlete_angles: AngleTable
    reference_angles: AngleTable
    warped: np.ndarray  # (M, J) athlete angles of ``joint_names`` on the reference's frames
    joint_names: tuple[str, ...]
    warnings: list[str] = field(default_factory=list)

    @property
    def duration_ratio(self) -> float:
        ra = self.athlete.times[-1] - self.athlete.times[0]
        rr = self.reference_track.times[-1] - self.reference_track.times[0]
        return float(ra / rr) if rr > 0 else math.nan

    def athlete_frame_for(self, ref_frame: int) -> int:
        """The athlete frame aligned with a reference frame (median of the aligned ones)."""
        sel = self.path[self.path[:, 1] == ref_frame, 0]
        return int(np.median(sel)) if sel.size else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference, "movement": self.movement, "view": self.view,
            "score": self.score, "primary_joint": self.primary_joint, "mirrored": self.mirrored,
            "athlete_facing": self.athlete_facing, "reference_facing": self.reference_facing,
            "duration_ratio": self.duration_ratio,
            "events": {k: {"reference_frame": v, "reference_time_s": float(self.reference_track.times[v]),
                           "athlete_time_s": float(self.athlete.times[self.athlete_frame_for(v)])}
                       for k, v in self.events.items()},
            "joints": [asdict(j) for j in self.joints],
            "phases": [{**asdict(p), "reference_duration_s": p.reference_duration_s,
                        "athlete_duration_s": p.athlete_duration_s} for p in self.phases],
            "deviations": [d.to_dict() for d in self.deviations],
            "warnings": list(self.warnings),
            "score_formula": "score_j = 100*clip(1 - max(mean|dev_j|, |dROM_j|)/40, 0, 1); "
                             "score = sum w_j score_j / sum w_j, w_j = max(ROM_ref_j, 10)",
        }


# ------------------------------------------------------------------------------------------- steps


def normalise(track: PoseTrack, mirror: bool = False) -> PoseTrack:
    """Median mid-hip to the origin, lengths in trunk lengths, x mirrored when asked (module docstring)."""
    hip = joint_xy(track, "mid_hip")
    centre = np.nanmedian(hip, axis=0) if np.isfinite(hip).any() else np.nanmedian(track.keypoints, axis=(0, 1))
    scale = trunk_length(track)
    if not np.isfinite(scale) or scale <= 0:
        raise ComparisonRefused("cannot measure the trunk (hips and shoulders never both seen): no body scale")
    kp = (track.keypoints - centre) / scale
    if mirror:
        kp = kp * np.array([-1.0, 1.0])
    return track.with_data(kp)


def _gap_stats(x: np.ndarray, times: np.ndarray) -> tuple[float, float]:
    """(fraction of frames measurable, longest run of missing frames in seconds)."""
    ok = np.isfinite(x)
    if ok.all():
        return 1.0, 0.0
    longest, run_start = 0.0, None
    dt = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    for k, good in enumerate(ok):
        if not good and run_start is None:
            run_start = k
        if (good or k == len(ok) - 1) and run_start is not None:
            stop = k if good else k + 1
            t0 = times[run_start - 1] if run_start > 0 else times[run_start] - dt
            t1 = times[stop] if stop < len(times) else times[-1] + dt
            longest = max(longest, float(t1 - t0 - dt))
            run_start = None
    return float(ok.mean()), longest


def _fill(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN (edges: nearest value)."""
    ok = np.isfinite(x)
    if ok.all():
        return x
    idx = np.arange(len(x))
    return np.interp(idx, idx[ok], x[ok])


def _rom(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.percentile(x, 95) - np.percentile(x, 5)) if x.size else math.nan


def _check_quality(track: PoseTrack, angles: AngleTable, joints: list[str], who: str) -> None:
    if track.num_frames < MIN_FRAMES:
        raise ComparisonRefused(f"{who}: only {track.num_frames} frames; at least {MIN_FRAMES} are needed to score")
    for j in joints:
        frac, gap = _gap_stats(angles.column(j), track.times)
        if frac < MIN_MEASURABLE:
            raise ComparisonRefused(f"{who}: {j} is measurable in only {frac:.0%} of the frames (at least "
                                    f"{MIN_MEASURABLE:.0%} needed): too little data to score; film the whole body")
        if gap > MAX_GAP_S:
            raise ComparisonRefused(f"{who}: {j} is missing for {gap:.2f} s in a row (more than {MAX_GAP_S} s): "
                                    "a gap that long would be invented by interpolation; trim or re-film")


def _event_name(joint: str) -> str:
    return "bottom" if any(k in joint for k in ("knee", "hip", "ankle")) else "top"


def _same(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def compare_tracks(athlete: PoseTrack, reference: Reference, *, movement: str = "", view: str = "",
                   joints=None) -> Comparison:
    """Compare a cleaned athlete track with a reference (module docstring); raises ``ComparisonRefused``."""
    card = reference.card
    warnings: list[str] = []
    if movement and card.movement and not _same(movement, card.movement):
        raise ComparisonRefused(f"the athlete's movement is {movement!r} but reference {card.name!r} is a "
                                f"{card.movement!r}: choose a reference of the same movement")
    if view and card.view and not _same(view, card.view):
        raise ComparisonRefused(f"the athlete is filmed from the {view} but reference {card.name!r} from the "
                                f"{card.view}: angles in the picture plane are not comparable across views")
    athlete_view = measured_view(athlete)
    ref_view = card.view if card.view in ("side", "front") else measured_view(reference.track)
    if card.view == "back":
        ref_view = "front"  # the same picture geometry as a frontal view
    if athlete_view and ref_view in ("side", "front") and athlete_view != ref_view:
        raise ComparisonRefused(f"the athlete looks filmed from the {athlete_view} (shoulder width vs trunk length) "
                                f"but reference {card.name!r} is a {ref_view} view: film from the same side")
    names = expand_joints(joints) or list(card.joints)
    if not names:
        raise ComparisonRefused(f"reference {card.name!r} names no joint to compare")
    f_ath, f_ref = facing(athlete), facing(reference.track)
    if card.facing and f_ref == 0:
        f_ref = card.facing
    mirror = bool(f_ath and f_ref and f_ath != f_ref)
    ath = normalise(athlete, mirror)
    ref = normalise(reference.track)
    a_ang, r_ang = compute_angles(ath), compute_angles(ref)
    _check_quality(ref, r_ang, names, f"reference {card.name!r}")
    _check_quality(ath, a_ang, names, "athlete")
    if ath.num_frames * ref.num_frames > MAX_CELLS:
        raise ComparisonRefused(f"{ath.num_frames} x {ref.num_frames} frames is too long to align; compare a "
                                "shorter piece (--start/--end)")
    a = np.stack([_fill(a_ang.column(n)) for n in names], axis=1)  # (N, J)
    r = np.stack([_fill(r_ang.column(n)) for n in names], axis=1)  # (M, J)
    rom_a = np.array([_rom(a_ang.column(n)) for n in names])
    rom_r = np.array([_rom(r_ang.column(n)) for n in names])
    big = rom_r >= BIG_ROM_DEG
    if big.any() and (rom_a[big] < SMALL_ROM_FRACTION * rom_r[big]).mean() > 0.5:
        moving = ", ".join(n for n, b in zip(names, big) if b)
        raise ComparisonRefused(f"not the same movement as reference {card.name!r} ({card.movement}): the joints "
                                f"that move in it ({moving}) hardly move in the athlete's performance")
    # Align on shape: each angle's mean over its performance removed, so a joint held more bent all along
    # (an offset) cannot pull the alignment; deviations are then measured on the raw angles.
    _, path = dtw(a - a.mean(axis=0), r - r.mean(axis=0))
    M = len(r)
    warped = np.zeros_like(r)
    counts = np.bincount(path[:, 1], minlength=M).astype(np.float64)
    for k in range(len(names)):
        warped[:, k] = np.bincount(path[:, 1], weights=a[path[:, 0], k], minlength=M) / counts
    dev = warped - r  # (M, J)
    mad = np.abs(dev).mean(axis=0)
    if float(mad.mean()) > NOT_SAME_DEG:
        raise ComparisonRefused(f"not the same movement as reference {card.name!r}: after alignment the joint "
                                f"angles still differ by {mad.mean():.0f} deg on average (limit {NOT_SAME_DEG:.0f})")

    # events and phases on the reference
    primary = int(np.nanargmax(rom_r))
    ev_name = _event_name(names[primary])
    j_peak = int(np.argmax(r[:, primary]))
    events = {"start": 0}
    if 0 < j_peak < M - 1:
        events[ev_name] = j_peak
    events["end"] = M - 1
    ev_items = list(events.items())
    cmp = Comparison(reference=card.name, movement=card.movement, view=card.view, score=0.0, joints=[], phases=[],
                     events=events, deviations=[], mirrored=mirror, athlete_facing=f_ath, reference_facing=f_ref,
                     primary_joint=names[primary], path=path, athlete=ath, reference_track=ref, athlete_angles=a_ang,
                     reference_angles=r_ang, warped=warped, joint_names=tuple(names), warnings=warnings)
    t_a, t_r = ath.times, ref.times
    for (n0, j0), (n1, j1) in zip(ev_items[:-1], ev_items[1:]):
        cmp.phases.append(Phase(f"{n0}-{n1}", float(t_r[j0]), float(t_r[j1]),
                                float(t_a[cmp.athlete_frame_for(j0)]), float(t_a[cmp.athlete_frame_for(j1)])))

    # per joint
    source = f"reference:{card.name}"
    w = np.maximum(np.nan_to_num(rom_r), MIN_WEIGHT_ROM_DEG)
    window = max(1, M // 4)
    for k, n in enumerate(names):
        err = max(float(mad[k]), abs(float(rom_a[k] - rom_r[k])) if np.isfinite(rom_a[k] - rom_r[k]) else 0.0)
        score = 100.0 * float(np.clip(1.0 - err / ZERO_SCORE_DEG, 0.0, 1.0))
        # timing: the athlete's own extreme near the moment aligned with the reference's extreme
        jr = int(np.argmax(np.abs(r[:, k] - np.median(r[:, k]))))
        near = path[(path[:, 1] >= jr - window) & (path[:, 1] <= jr + window), 0]
        ia = int(near[np.argmax(np.abs(a[near, k] - np.median(r[:, k])))]) if near.size else cmp.athlete_frame_for(jr)
        offset = float(t_a[ia] - t_a[cmp.athlete_frame_for(jr)])
        jc = JointComparison(name=n, weight=float(w[k]), mean_abs_deviation=float(mad[k]),
                             mean_deviation=float(dev[:, k].mean()), rom_athlete=float(rom_a[k]),
                             rom_reference=float(rom_r[k]), rom_difference=float(rom_a[k] - rom_r[k]),
                             timing_offset_s=offset, score=score)
        for (n0, j0), (n1, j1) in zip(ev_items[:-1], ev_items[1:]):
            seg = dev[j0: j1 + 1, k]
            jc.phases[f"{n0}-{n1}"] = {"mean_abs_deviation": float(np.abs(seg).mean()),
                                       "mean_deviation": float(seg.mean())}
        for ev, j in events.items():
            ia_ev = cmp.athlete_frame_for(j)
            jc.events[ev] = {"athlete": float(warped[j, k]), "reference": float(r[j, k]), "time_s": float(t_a[ia_ev])}
            if ev in ("start", "end") and len(events) > 2:
                continue  # rows at the extreme only: where a cut piece starts is not the athlete's doing
            # trunk lean is signed by the picture (shoulders right of the hips = positive); with a known facing
            # side (the athlete is mirrored to the reference's) it becomes forward-positive, so feedback can
            # say "forward" or "backward" instead of only how far from upright
            sign, q = (float(cmp.reference_facing), FORWARD_LEAN) if n == "trunk_lean" and cmp.reference_facing \
                else (1.0, n)
            cmp.deviations.append(Deviation(
                quantity=q, kind="angle_at_event", value=sign * float(warped[j, k]), reference=sign * float(r[j, k]),
                unit="deg", time_s=float(t_a[ia_ev]), severity=abs(float(warped[j, k] - r[j, k])) / ANGLE_TOL_DEG,
                phase=ev, source=source))
        if np.isfinite(rom_a[k]) and np.isfinite(rom_r[k]):
            cmp.deviations.append(Deviation(
                quantity=n, kind="rom", value=float(rom_a[k]), reference=float(rom_r[k]), unit="deg",
                time_s=float(t_a[ia]), severity=abs(float(rom_a[k] - rom_r[k])) / ROM_TOL_DEG, source=source))
        cmp.deviations.append(Deviation(
            quantity=n, kind="timing", value=offset, reference=0.0, unit="s", time_s=float(t_a[ia]),
            severity=abs(offset) / TIMING_TOL_S, phase=ev_name if ev_name in events else None, source=source))
        cmp.joints.append(jc)
    for p in cmp.phases:
        if p.reference_duration_s > 0:
            cmp.deviations.append(Deviation(
                quantity=f"{p.name} duration", kind="tempo", value=p.athlete_duration_s,
                reference=p.reference_duration_s, unit="s", time_s=p.athlete_start_s,
                severity=abs(p.athlete_duration_s / p.reference_duration_s - 1.0) / TEMPO_TOL,
                phase=p.name.split("-")[-1], source=source))
    cmp.deviations = sorted((d for d in cmp.deviations if d.severity >= MIN_SEVERITY),
                            key=lambda d: -d.severity)
    start_gap = float(np.mean([abs(j.events["start"]["athlete"] - j.events["start"]["reference"]) for j in cmp.joints]))
    end_gap = float(np.mean([abs(j.events["end"]["athlete"] - j.events["end"]["reference"]) for j in cmp.joints]))
    if max(start_gap, end_gap) > PHASE_MISMATCH_DEG:
        warnings.append(f"The athlete's piece {'starts' if start_gap >= end_gap else 'ends'} in another pose than "
                        f"the reference ({max(start_gap, end_gap):.0f} deg apart on average): trim both to whole "
                        "repetitions (--start/--end) for a fair alignment.")
    scores = np.array([j.score for j in cmp.joints])
    cmp.score = float(round((w * scores).sum() / w.sum(), 1))
    return cmp


def compare(athlete, reference, *, movement: str = "", view: str = "", joints=None, library=None,
            start: float | None = None, end: float | None = None, settings=None) -> Comparison:
    """``sportlens compare``: ATHLETE (analyze folder, keypoints.parquet, video or a PoseTrack) against
    REFERENCE (library name, reference folder, a path, or a ``Reference``)."""
    from sportlens.assess.reference import load_source, resolve_reference

    ref = reference if isinstance(reference, Reference) else resolve_reference(reference, library, settings=settings)
    track = athlete if isinstance(athlete, PoseTrack) else load_source(athlete, start=start, end=end,
                                                                         settings=settings)[0]
    return compare_tracks(track, ref, movement=movement, view=view, joints=joints)


__all__ = ["ComparisonRefused", "Comparison", "JointComparison", "Phase", "accumulated_cost", "dtw",
           "dtw_distances", "normalise", "compare_tracks", "compare"]
