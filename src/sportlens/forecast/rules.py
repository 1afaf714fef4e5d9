"""Risk flags: documented rules over observed and forecast 2D poses (issue 6).

**These are screening cues from 2D video, not diagnoses** (``sportlens.types.RISK_DISCLAIMER``): every
angle is measured in the picture plane, so it is only meaningful in the camera view the rule asks for, and
pose-estimation errors of a few degrees are common.

Rules (thresholds in ``sportlens.config.RiskRules``; a rule runs only if named in ``RiskRules.enabled``;
a flag is raised where the measure reaches the threshold):

=====================  =============================================  ==========  =====================================
rule                   measure (per side where sided)                 default     source of the threshold
=====================  =============================================  ==========  =====================================
``knee_valgus``        frontal-plane projection angle (FPPA): 180 -   >= 13 deg   Herrington L, Munro A. Drop jump
                       hip-knee-ankle angle, positive when the knee               landing knee valgus angle; normative
                       lies on the midline side of the hip-ankle                  data in a physically active
                       line (towards the other hip). Face-on only.                population. Phys Ther Sport 2010;
                                                                                  11(2):56-59, doi:10.1016/j.ptsp.
                                                                                  2009.11.004 (upper end of the
                                                                                  FEMALE normal range, see below).
``knee_hyperextension`` hip-knee-ankle angle signed so that > 180 is  >= 185 deg  Loudon JK, Goist HL, Loudon KL.
                       bending the "wrong" way (past straight).       (5 deg      Genu recurvatum syndrome. J Orthop
                       Side-on only.                                  past        Sports Phys Ther 1998;27(5):361-367,
                                                                      straight)   doi:10.2519/jospt.1998.27.5.361
                                                                                  (recurvatum: extension > 5 deg).
``trunk_flexion``      trunk (mid-hip -> mid-shoulder) angle from     >= 60 deg   Hignett S, McAtamney L. Rapid Entire
                       vertical. Side-on only.                                    Body Assessment (REBA). Appl Ergon
                                                                                  2000;31(2):201-205 (top trunk band,
                                                                                  > 60 deg flexion).
``stiff_landing``      knee flexion (0 = straight) at the initial     <= 20 deg   PROJECT CHOICE, informed by: Boden BP,
                       contact of a landing: the first frame the                  Dean GS, Feagin JA, Garrett WE.
                       ankle stops after falling (faster than                     Mechanisms of anterior cruciate
                       ``landing_fall_speed`` leg lengths/s within                ligament injury. Orthopedics 2000;
                       ``landing_lookback_s``, with the hips falling              23(6):573-578; Koga H et al.
                       too: no heel strike of walking). Any view.                 Mechanisms for noncontact ACL
                                                                                  injuries. Am J Sports Med 2010,
                                                                                  doi:10.1177/0363546510373570.
=====================  =============================================  ==========  =====================================

What the sources say (checked 2026-11-28 against their abstracts; the first version of this table was written
from memory):
- Herrington & Munro 2010 (100 active adults, 50 women, 2D video of drop-jump and step landings): a "normal"
  drop-jump knee valgus (FPPA) is 7-13 deg for women and 3-8 deg for men (step landing: 5-12 and 1-9 deg).
  13 deg is the upper end of the WOMEN's drop-jump range: it flags only values beyond both sexes' normal
  ranges (for men the normal range ends at 8 deg; no sex is known here). Normative data, not an injury
  threshold.
- Loudon et al. 1998 (a literature review): genu recurvatum is "operationally defined as knee extension greater
  than 5 degrees". A clinical (static) definition; applying it to 2D angles during movement is this project's
  use of it.
- Hignett & McAtamney 2000: REBA scores trunk posture upright 1, 0-20 deg flexion 2, 20-60 deg 3, > 60 deg 4
  (the top band). An occupational (work posture) assessment tool, not a sports-injury threshold.
- stiff_landing: NO source gives 20 deg. Boden et al. 2000 (videos and interviews of ACL injuries): most
  non-contact injuries happened at foot strike with the knee "close to full extension", with no number. Koga
  et al. 2010 (model-based image matching of 10 ACL injury videos): knee flexion at initial contact 23 deg on
  average (range 11-30 deg). 20 deg is therefore a project choice, below the injured athletes' mean; it is
  not a validated cut-off.

Decisions
---------
- View, per frame: shoulder width / trunk length; face-on where >= ``frontal_min``, side-on where <=
  ``sagittal_max``, neither in between (the rules for one view stay silent there).
- Which way a knee flexes (needed to sign hyperextension; 2D angles are unsigned): per frame from the
  foot (heel -> toe tip points forward; a flexing knee moves forward) where the layout has feet and they
  are present, else the direction the knee bends in most frames flexed more than ``bend_min_flexion_deg``
  (the track's majority). Without either the rule stays silent for that knee. Forecasts (Penn-13 has no
  feet) use the bend direction of the observed frame they were made from.
- Episodes: consecutive frames reaching a threshold (``min_frames`` at least) make ONE flag at the worst
  frame, with the episode's start and end. A value AT the threshold flags (compared within
  ``TOLERANCE_DEG``, so exact geometry at 185 deg is not lost to rounding): ">= 5 deg past straight".
- Plausibility: an FPPA above ``knee_valgus_max_deg`` or a knee more than ``knee_hyperextension_max_deg``
  past straight is taken for a pose/forecast error (or a bent knee seen obliquely) and ignored.
- A forecast flag's time is the predicted time; ``predicted_at`` says when the forecast was made.
- Forecast flags are withheld (with a note) where the forecast did worse on this video than repeating the
  last pose (``forecast_needs_skill``): e.g. the constant-velocity fallback at 0.5 s on the demo videos.
"""
from __future__ import annotations

import numpy as np

from sportlens.config import RiskRules
from sportlens.kinematics import angle_between, joint_xy, lean, time_derivative
from sportlens.types import Forecast, PoseTrack, RiskFlag

SOURCES: dict[str, str] = {
    "knee_valgus": "Herrington & Munro 2010, Phys Ther Sport 11:56-59 (drop-jump FPPA normal range: women 7-13 deg, "
                   "men 3-8 deg; 13 deg = the women's upper limit)",
    "knee_hyperextension": "Loudon et al. 1998, J Orthop Sports Phys Ther 27:361-367 (genu recurvatum: knee "
                           "extension > 5 deg)",
    "trunk_flexion": "Hignett & McAtamney 2000, Appl Ergon 31:201-205 (REBA top trunk band: flexion > 60 deg)",
    "stiff_landing": "project choice (20 deg); informed by Boden et al. 2000, Orthopedics 23:573-578 (ACL injuries at "
                     "foot strike, knee close to full extension) and Koga et al. 2010, Am J Sports Med (10 ACL injury "
                     "videos: knee flexion 23 deg, 11-30, at initial contact)",
}
SIDES = ("left", "right")
TOLERANCE_DEG = 1e-6


def _xy(track: PoseTrack, name: str) -> np.ndarray:
    return joint_xy(track, name)  # (T, 2), NaN where missing or not in the layout


def view_ratio(track: PoseTrack) -> np.ndarray:
    """(T,) shoulder width / trunk length (mid-hip to mid-shoulder); NaN where unknown."""
    width = np.linalg.norm(_xy(track, "left_shoulder") - _xy(track, "right_shoulder"), axis=1)
    trunk = np.linalg.norm(_xy(track, "mid_shoulder") - _xy(track, "mid_hip"), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(trunk > 0, width / trunk, np.nan)


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]


def _leg(track: PoseTrack, side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _xy(track, f"{side}_hip"), _xy(track, f"{side}_knee"), _xy(track, f"{side}_ankle")


def knee_flexion(track: PoseTrack, side: str) -> np.ndarray:
    """(T,) unsigned knee flexion, 0 = straight (as ``kinematics``' ``*_knee_flexion``)."""
    hip, knee, ankle = _leg(track, side)
    return 180.0 - angle_between(hip - knee, ankle - knee)


def bend_sign(track: PoseTrack, side: str, rules: RiskRules) -> np.ndarray:
    """(T,) sign of cross(hip - knee, ankle - knee) when this knee flexes; 0 where unknown (module doc).

    Facing +x (toes to the right of the heel, image y down) a flexing knee moves to +x, which gives a
    negative cross product: sign = -facing.
    """
    hip, knee, ankle = _leg(track, side)
    cross = _cross(hip - knee, ankle - knee)  # (T,)
    bent = (knee_flexion(track, side) > rules.bend_min_flexion_deg) & np.isfinite(cross)
    majority = int(np.sign(np.sign(cross[bent]).sum())) if bent.any() else 0
    foot = _xy(track, f"{side}_foot_index")[:, 0] - _xy(track, f"{side}_heel")[:, 0]  # (T,)
    facing = np.where(np.isfinite(foot), np.sign(foot), 0.0)
    return np.where(facing != 0, -facing, majority).astype(np.int64)


def signed_knee_angle(track: PoseTrack, side: str, sign: np.ndarray) -> np.ndarray:
    """(T,) hip-knee-ankle angle, 180 = straight, > 180 = bent against its flexion direction ``sign``
    (hyperextension); NaN where ``sign`` is 0 or a joint is missing."""
    hip, knee, ankle = _leg(track, side)
    u, v = hip - knee, ankle - knee
    inner = angle_between(u, v)  # (T,) in [0, 180]
    against = np.sign(_cross(u, v)) == -sign
    out = np.where(against, 360.0 - inner, inner)
    return np.where(sign != 0, out, np.nan)


def fppa(track: PoseTrack, side: str) -> np.ndarray:
    """(T,) frontal-plane projection angle: 180 - hip-knee-ankle angle, positive when the knee lies
    towards the body midline (the other hip) of the hip-ankle line (valgus), negative for varus."""
    hip, knee, ankle = _leg(track, side)
    other = _xy(track, f"{'right' if side == 'left' else 'left'}_hip")
    axis = ankle - hip  # (T, 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        along = ((knee - hip) * axis).sum(1, keepdims=True) / (axis * axis).sum(1, keepdims=True)
    offset = knee - (hip + along * axis)  # (T, 2) knee off the hip-ankle line
    medial = np.sign((offset * (other - hip)).sum(1))  # (T,) +1 towards the other hip
    dev = 180.0 - angle_between(hip - knee, ankle - knee)
    return np.where(medial < 0, -dev, dev)


def trunk_flexion(track: PoseTrack) -> np.ndarray:
    """(T,) unsigned trunk angle from vertical (forward or backward: 2D cannot tell without a facing)."""
    return np.abs(lean(_xy(track, "mid_shoulder") - _xy(track, "mid_hip")))


def _fall_speed(track: PoseTrack, y: np.ndarray, leg: np.ndarray) -> np.ndarray:
    """(T,) downward speed of image heights ``y`` (T,) in leg lengths/s, per segment (never across people)."""
    v = np.full(track.num_frames, np.nan)
    for sl in track.segment_slices():
        if sl.stop - sl.start >= 2:
            v[sl] = time_derivative(y[sl], track.times[sl]) / leg[sl]
    return v


def _leg_length(track: PoseTrack, side: str) -> np.ndarray:
    """(T,) thigh + shank length, the median of the person's segment (so one bad frame does not matter)."""
    hip, knee, ankle = _leg(track, side)
    per_frame = np.linalg.norm(hip - knee, axis=1) + np.linalg.norm(knee - ankle, axis=1)  # (T,)
    out = np.full(track.num_frames, np.nan)
    for sl in track.segment_slices():
        ok = np.isfinite(per_frame[sl])
        if ok.any():
            out[sl] = np.median(per_frame[sl][ok])
    return np.where(out > 0, out, np.nan)


def landing_contacts(track: PoseTrack, side: str, rules: RiskRules) -> np.ndarray:
    """Frame indices where this ankle stops after a fall of the body (initial contact of a landing).

    A landing needs the ankle AND the mid-hip to have fallen faster than ``landing_fall_speed`` within
    ``landing_lookback_s``: in walking the swing foot comes down onto a straight knee too, but the pelvis
    hardly falls, so a heel strike is no landing.
    """
    if track.num_frames < 3:
        return np.zeros(0, np.int64)
    leg = _leg_length(track, side)
    ankle_v = _fall_speed(track, _xy(track, f"{side}_ankle")[:, 1], leg)  # (T,) + = down
    hip_v = _fall_speed(track, _xy(track, "mid_hip")[:, 1], leg)
    stopped = ankle_v <= rules.landing_stop_speed
    hits = []
    for i in np.flatnonzero(stopped[1:] & ~stopped[:-1] & np.isfinite(ankle_v[:-1])) + 1:  # first stopped frame
        before = (track.times >= track.times[i] - rules.landing_lookback_s) & (np.arange(track.num_frames) < i)
        fell = [np.max(np.where(before & np.isfinite(v), v, -np.inf)) >= rules.landing_fall_speed
                for v in (ankle_v, hip_v)]
        if all(fell):
            hits.append(i)
    return np.array(hits, dtype=np.int64)


def _episodes(over: np.ndarray, min_frames: int) -> list[tuple[int, int]]:
    """[start, stop) runs of True at least ``min_frames`` long."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], over.astype(np.int8), [0]))))
    return [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a >= max(1, min_frames)]


def _flags_over(rule: str, joint: str, values: np.ndarray, threshold: float, times: np.ndarray, basis: str,
                min_frames: int, origin_times: np.ndarray | None, above: bool = True) -> list[RiskFlag]:
    """One flag per episode of ``values`` reaching ``threshold`` (from above, or below when ``above`` is False)."""
    with np.errstate(invalid="ignore"):  # NaN never flags
        over = values >= threshold - TOLERANCE_DEG if above else values <= threshold + TOLERANCE_DEG
    flags = []
    for a, b in _episodes(over, min_frames):
        seg = values[a:b]
        k = a + int(np.argmax(seg) if above else np.argmin(seg))
        flags.append(RiskFlag(rule=rule, joint=joint, time=float(times[k]), start=float(times[a]),
                              end=float(times[b - 1]), value=float(values[k]), threshold=float(threshold),
                              basis=basis, source=SOURCES[rule],
                              predicted_at=None if origin_times is None else float(origin_times[k])))
    return flags


def evaluate_rules(track: PoseTrack, rules: RiskRules, basis: str = "observed", *,
                   bend: dict[str, np.ndarray] | None = None,
                   origin_times: np.ndarray | None = None) -> list[RiskFlag]:
    """Every enabled rule over ``track`` (any layout with hips, knees, ankles and shoulders).

    bend: side -> (T,) flexion sign per frame (``bend_sign``); None: from ``track`` itself.
    origin_times: (T,) when each pose was forecast (forecast tracks), reported as ``predicted_at``.
    """
    on, t, flags = set(rules.enabled), track.times, []
    ratio = view_ratio(track)
    frontal, sagittal = ratio >= rules.frontal_min, ratio <= rules.sagittal_max  # NaN: neither
    common = dict(times=t, basis=basis, min_frames=rules.min_frames, origin_times=origin_times)
    for side in SIDES:
        joint = f"{side}_knee"
        if "knee_valgus" in on:
            v = fppa(track, side)
            v = np.where(frontal & (v <= rules.knee_valgus_max_deg), v, np.nan)
            flags += _flags_over("knee_valgus", joint, v, rules.knee_valgus_deg, **common)
        if "knee_hyperextension" in on:
            sign = bend[side] if bend is not None else bend_sign(track, side, rules)
            v = signed_knee_angle(track, side, sign)
            v = np.where(sagittal & (v <= 180.0 + rules.knee_hyperextension_max_deg), v, np.nan)
            flags += _flags_over("knee_hyperextension", joint, v, 180.0 + rules.knee_hyperextension_deg, **common)
        if "stiff_landing" in on:
            flex = knee_flexion(track, side)
            v = np.full(track.num_frames, np.nan)
            idx = landing_contacts(track, side, rules)
            v[idx] = flex[idx]
            flags += _flags_over("stiff_landing", joint, v, rules.landing_knee_flexion_deg, above=False,
                                 **{**common, "min_frames": 1})  # a contact is one frame
    if "trunk_flexion" in on:
        v = np.where(sagittal, trunk_flexion(track), np.nan)
        flags += _flags_over("trunk_flexion", "trunk", v, rules.trunk_flexion_deg, **common)
    return sorted(flags, key=lambda f: (f.time, f.rule, f.joint))


def forecast_track(fc: Forecast) -> PoseTrack:
    """The forecast horizon poses as a track at their predicted times (layout ``fc.skeleton``)."""
    return PoseTrack(fc.poses, np.isfinite(fc.poses).all(-1).astype(float), fc.target_times, fc.skeleton)


def forecast_skill(fc: Forecast) -> str | None:
    """None when the forecast was at least as accurate as zero velocity on this video, else why not."""
    m = fc.metrics
    pck, still = float(m.get("pck", np.nan)), float(m.get("zero_velocity_pck", np.nan))
    if not m.get("counted_joints"):
        return "no forecast could be checked against what happened on this video"
    if pck < still:
        return (f"on this video the forecast was less accurate than repeating the last pose (PCK {pck:.1%} vs "
                f"{still:.1%} at +{fc.horizon_s:.2f} s)")
    return None


def risk_flags(clean: PoseTrack, forecast: Forecast | None, rules: RiskRules) -> tuple[list[RiskFlag], list[str]]:
    """Flags on the observed (cleaned) track and, when given, on the forecast poses, by time; and notes
    (why forecast flags were withheld: ``RiskRules.forecast_needs_skill``)."""
    flags, notes = evaluate_rules(clean, rules, "observed"), []
    if forecast is not None and len(forecast.origin_index):
        why = forecast_skill(forecast) if rules.forecast_needs_skill else None
        if why:
            notes.append(f"Forecast risk flags withheld: {why}.")
        else:
            bend = {s: bend_sign(clean, s, rules)[forecast.origin_index] for s in SIDES}
            flags += evaluate_rules(forecast_track(forecast), rules, "forecast", bend=bend,
                                    origin_times=forecast.origin_times)
    return sorted(flags, key=lambda f: (f.time, f.basis, f.rule, f.joint)), notes
