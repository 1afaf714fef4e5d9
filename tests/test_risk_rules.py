"""Risk rules (sportlens.forecast.rules) on exact geometry: each rule fires where its measure reaches the
threshold, stays silent below it or in the wrong camera view, and every threshold is configurable."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sportlens.config import RiskRules
from sportlens.forecast.rules import bend_sign, evaluate_rules, fppa, risk_flags, signed_knee_angle
from sportlens.skeletons import BLAZEPOSE33, PENN13
from sportlens.types import RiskFlag, PoseTrack

FPS = 30.0


def _knee_off(deg: float, half_leg: float = 40.0) -> float:
    """Sideways knee offset from the hip-ankle line that bends a 2*half_leg leg by ``deg``."""
    return half_leg * np.tan(np.radians(deg / 2))


def side_pose(knee_dx: float = 0.0, trunk_deg: float = 0.0, y: float = 0.0) -> dict[str, tuple[float, float]]:
    """Side-on (facing +x) joints: both sides on top of each other. knee_dx > 0 moves the knees forward
    (flexion), < 0 backward (hyperextension); the trunk leans ``trunk_deg`` forward of vertical."""
    hip = np.array([300.0, 300.0 + y])
    sh = hip + 60.0 * np.array([np.sin(np.radians(trunk_deg)), -np.cos(np.radians(trunk_deg))])
    pts = {"head": tuple(sh + [0, -20])}
    for s in ("left", "right"):
        pts |= {f"{s}_shoulder": tuple(sh), f"{s}_elbow": tuple(sh + [0, 30]), f"{s}_wrist": tuple(sh + [0, 55]),
                f"{s}_hip": tuple(hip), f"{s}_knee": tuple(hip + [knee_dx, 40]), f"{s}_ankle": tuple(hip + [0, 80])}
    return pts


def front_pose(left_knee_dx: float = 0.0) -> dict[str, tuple[float, float]]:
    """Face-on: the person's left on the picture's right. left_knee_dx < 0 moves the left knee towards the
    midline (valgus)."""
    pts = {"head": (300.0, 220.0)}
    for s, x in (("left", 320.0), ("right", 280.0)):
        pts |= {f"{s}_shoulder": (x + (x - 300) * 0.5, 240.0), f"{s}_elbow": (x + 35 * np.sign(x - 300), 270.0),
                f"{s}_wrist": (x + 40 * np.sign(x - 300), 300.0), f"{s}_hip": (x, 300.0),
                f"{s}_knee": (x + (left_knee_dx if s == "left" else 0.0), 340.0), f"{s}_ankle": (x, 380.0)}
    return pts


def track(poses: list[dict], skeleton=PENN13, feet_forward: float | None = None) -> PoseTrack:
    kp = np.full((len(poses), skeleton.num_joints, 2), np.nan)
    for t, p in enumerate(poses):
        for name, xy in p.items():
            kp[t, skeleton.index("nose" if name == "head" and not skeleton.has(name) else name)] = xy
        if feet_forward is not None:  # blazepose feet: heel behind, toes ahead of the ankle
            for s in ("left", "right"):
                ax, ay = p[f"{s}_ankle"]
                kp[t, skeleton.index(f"{s}_heel")] = (ax - 5 * feet_forward, ay + 5)
                kp[t, skeleton.index(f"{s}_foot_index")] = (ax + 15 * feet_forward, ay + 5)
    return PoseTrack(kp, np.isfinite(kp).all(-1).astype(float), np.arange(len(poses)) / FPS, skeleton.name)


def _rules(flags: list[RiskFlag], rule: str) -> list[RiskFlag]:
    return [f for f in flags if f.rule == rule]


def test_knee_at_185_deg_flags_hyperextension_when_bend_direction_is_known_from_flexed_frames():
    poses = [side_pose(_knee_off(40))] * 5 + [side_pose(-_knee_off(5))] * 4  # squat, then 5 deg past straight
    tr = track(poses)
    assert bend_sign(tr, "left", RiskRules())[0] == -1  # facing +x: a flexing knee gives cross < 0
    angle = signed_knee_angle(tr, "left", bend_sign(tr, "left", RiskRules()))
    assert angle[-1] == pytest.approx(185.0, abs=1e-9) and angle[0] == pytest.approx(140.0)
    hyper = _rules(evaluate_rules(tr, RiskRules()), "knee_hyperextension")
    assert {f.joint for f in hyper} == {"left_knee", "right_knee"}
    f = hyper[0]
    assert f.value == pytest.approx(185.0) and f.threshold == 185.0 and f.basis == "observed"
    assert f.start == pytest.approx(5 / FPS) and f.end == pytest.approx(8 / FPS) and "Loudon" in f.source
    # configurable: 8 deg past straight is needed -> no flag
    assert not _rules(evaluate_rules(tr, RiskRules(knee_hyperextension_deg=8.0)), "knee_hyperextension")


def test_hyperextension_sign_from_the_feet_and_silent_without_a_bend_direction():
    straightish = [side_pose(-_knee_off(7))] * 4
    with_feet = track(straightish, BLAZEPOSE33, feet_forward=1.0)
    assert (bend_sign(with_feet, "right", RiskRules()) == -1).all()
    assert _rules(evaluate_rules(with_feet, RiskRules()), "knee_hyperextension")
    # feet pointing the other way: the same knee now bends forward (flexion), no flag
    assert not _rules(evaluate_rules(track(straightish, BLAZEPOSE33, feet_forward=-1.0), RiskRules()),
                      "knee_hyperextension")
    # 40 deg past straight is no knee: pose error (knee_hyperextension_max_deg = 30)
    assert not _rules(evaluate_rules(track([side_pose(-_knee_off(40))] * 4, BLAZEPOSE33, feet_forward=1.0),
                                     RiskRules()), "knee_hyperextension")
    # penn13, never flexed: which way is "past straight" is unknown -> silent, not a guess
    assert not _rules(evaluate_rules(track(straightish), RiskRules()), "knee_hyperextension")
    # a single frame is pose noise (min_frames = 2)
    one = track([side_pose(_knee_off(40))] * 3 + [side_pose(-_knee_off(7)), side_pose()])
    assert not _rules(evaluate_rules(one, RiskRules()), "knee_hyperextension")


def test_knee_valgus_frontal_projection_angle():
    tr = track([front_pose(-_knee_off(20))] * 3)
    assert fppa(tr, "left")[0] == pytest.approx(20.0) and fppa(tr, "right")[0] == pytest.approx(0.0, abs=1e-9)
    flags = _rules(evaluate_rules(tr, RiskRules()), "knee_valgus")
    assert [(f.joint, round(f.value, 6), f.threshold) for f in flags] == [("left_knee", 20.0, 13.0)]
    assert not _rules(evaluate_rules(tr, RiskRules(knee_valgus_deg=25.0)), "knee_valgus")
    varus = track([front_pose(+_knee_off(20))] * 3)
    assert fppa(varus, "left")[0] == pytest.approx(-20.0)
    assert not _rules(evaluate_rules(varus, RiskRules()), "knee_valgus")
    # 50 deg of "valgus" in 2D is a pose error or a bent knee seen obliquely (knee_valgus_max_deg = 45)
    assert not _rules(evaluate_rules(track([front_pose(-_knee_off(50))] * 3), RiskRules()), "knee_valgus")
    assert _rules(evaluate_rules(track([front_pose(-_knee_off(50))] * 3), RiskRules(knee_valgus_max_deg=60)),
                  "knee_valgus")
    # the same knee seen side-on is no valgus measure: the rule is face-on only
    side = track([side_pose(_knee_off(20))] * 3)
    assert not _rules(evaluate_rules(side, RiskRules()), "knee_valgus")


def test_trunk_flexion_side_on():
    tr = track([side_pose(trunk_deg=70.0)] * 3)
    flags = _rules(evaluate_rules(tr, RiskRules()), "trunk_flexion")
    assert [(f.joint, round(f.value, 6)) for f in flags] == [("trunk", 70.0)]
    assert not _rules(evaluate_rules(track([side_pose(trunk_deg=50.0)] * 3), RiskRules()), "trunk_flexion")
    assert not _rules(evaluate_rules(tr, RiskRules(trunk_flexion_deg=75.0)), "trunk_flexion")
    assert not _rules(evaluate_rules(tr, RiskRules(enabled=("knee_valgus",))), "trunk_flexion")


def _landing(knee_dx: float) -> PoseTrack:
    """Falling at 2 leg lengths/s (leg 80 px -> 160 px/s) for 10 frames, then standing still."""
    ys = [min(k, 10) * 160.0 / FPS for k in range(20)]
    return track([side_pose(knee_dx, y=y) for y in ys])


def test_a_heel_strike_of_walking_is_no_landing():
    """Only the foot comes down (the hips stay level): a straight knee at contact is normal gait."""
    poses = []
    for k in range(20):
        p = side_pose(_knee_off(10))
        drop = (min(k, 10) - 10) * 160.0 / FPS  # the ankle descends 10 frames to its resting place
        for s in ("left", "right"):
            p[f"{s}_ankle"] = (p[f"{s}_ankle"][0], p[f"{s}_ankle"][1] + drop)
        poses.append(p)
    assert not _rules(evaluate_rules(track(poses), RiskRules()), "stiff_landing")


def test_stiff_landing_at_initial_contact():
    stiff = _rules(evaluate_rules(_landing(_knee_off(10)), RiskRules()), "stiff_landing")
    assert len(stiff) == 2 and {f.joint for f in stiff} == {"left_knee", "right_knee"}
    assert stiff[0].value == pytest.approx(10.0) and stiff[0].threshold == 20.0
    assert stiff[0].time == pytest.approx(11 / FPS)  # first frame whose ankle speed is ~0
    assert not _rules(evaluate_rules(_landing(_knee_off(40)), RiskRules()), "stiff_landing")
    assert _rules(evaluate_rules(_landing(_knee_off(40)), RiskRules(landing_knee_flexion_deg=45.0)),
                  "stiff_landing")
    # too slow a fall is no landing
    assert not _rules(evaluate_rules(_landing(_knee_off(10)), RiskRules(landing_fall_speed=3.0)), "stiff_landing")


def test_forecast_flags_carry_predicted_time_and_origin():
    from sportlens.config import ForecastSettings
    from sportlens.forecast.online import Forecaster, online_forecast

    # a squat (bend direction known), then the knees go 8 deg past straight and stay there
    poses = [side_pose(_knee_off(40))] * 12 + [side_pose(-_knee_off(8))] * 30
    tr = track(poses)
    zero = Forecaster("zero", lambda obs, h: np.repeat(obs[:, -1:], h, axis=1), FPS, 10)
    fc = online_forecast(tr, replace(ForecastSettings(), horizon_s=0.2), zero)
    flags, notes = risk_flags(tr, fc, RiskRules())
    assert notes == []  # zero velocity is as good as itself: its flags are shown
    fore = [f for f in flags if f.basis == "forecast" and f.rule == "knee_hyperextension"]
    assert fore and all(f.predicted_at == pytest.approx(f.time - 0.2) for f in fore)
    assert fore[0].value == pytest.approx(188.0)
    assert any(f.basis == "observed" and f.rule == "knee_hyperextension" for f in flags)


def test_forecast_flags_are_withheld_when_the_forecast_is_worse_than_standing_still():
    from sportlens.config import ForecastSettings
    from sportlens.forecast.online import Forecaster, online_forecast

    poses = [side_pose(_knee_off(40))] * 12 + [side_pose(-_knee_off(8))] * 30
    tr = track(poses)
    # a forecaster that drifts 30 px/step sideways: worse than repeating the last pose
    drift = Forecaster("drift", lambda obs, h: obs[:, -1:] + 30.0 * np.arange(1, h + 1)[None, :, None, None],
                       FPS, 10)
    fc = online_forecast(tr, replace(ForecastSettings(), horizon_s=0.2), drift)
    flags, notes = risk_flags(tr, fc, RiskRules())
    assert not [f for f in flags if f.basis == "forecast"] and "less accurate than repeating" in notes[0]
    assert [f for f in flags if f.basis == "observed"]  # the observation still speaks
    flags, notes = risk_flags(tr, fc, RiskRules(forecast_needs_skill=False))
    assert notes == [] and [f for f in flags if f.basis == "forecast"]
