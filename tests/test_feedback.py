"""Coach feedback sentences (sportlens.assess.feedback): content, numbers, units, times, ranking, rep rows."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sportlens.assess.deviations import FORWARD_LEAN, Deviation
from sportlens.assess.feedback import (
    CUES,
    TEMPLATES,
    FeedbackSettings,
    angle_words,
    coach,
    feedback,
    fmt,
    rep_deviations,
    sentence,
)
from sportlens.assess.reps import PROFILES, count_reps
from sportlens.kinematics import ANGLE_NAMES
from tests.test_reps import LO, synthetic


def dev(quantity="left_knee_flexion", kind="angle_at_event", value=72.0, reference=95.0, unit="deg", time_s=12.4,
        severity=2.0, rep=3, phase="bottom", source="reference:squat_good") -> Deviation:
    return Deviation(quantity, kind, value, reference, unit, time_s, severity, rep, phase, source)


def test_angle_at_event_sentence_names_joint_numbers_reference_and_cue():
    assert sentence(dev()) == ("Rep 3: left knee flexion at the bottom was 72°, the reference (squat_good) "
                               "reaches 95° — go deeper")
    too_deep = sentence(dev(value=120.0))
    assert "was 120°" in too_deep and "reaches 95°" in too_deep and "go deeper" not in too_deep


def test_forward_lean_says_forward_or_backward():
    s = sentence(dev(FORWARD_LEAN, value=18.0, reference=8.0, rep=None))
    assert s == "Trunk leans 18° forward at the bottom (reference 8° forward) — keep your chest up"
    back = sentence(dev(FORWARD_LEAN, value=-5.0, reference=8.0, rep=2))
    assert back == "Rep 2: trunk leans 5° backward at the bottom (reference 8° forward) — let the trunk lean forward a little more"
    assert "upright" not in back and "0° forward" not in sentence(dev(FORWARD_LEAN, value=0.2, reference=8.0))


def test_trunk_lean_reads_as_distance_from_upright():
    s = sentence(dev("trunk_lean", value=-18.0, reference=8.0, rep=None))
    assert s == "Trunk leans 18° at the bottom (reference 8°) — keep your chest up"
    assert "lean a little more" in sentence(dev("trunk_lean", value=3.0, reference=-12.0, rep=None))


def test_rep_rows_compare_with_the_athletes_other_reps():
    rom = sentence(dev(kind="rom", value=64.0, reference=90.0, rep=2, source="reps"))
    assert rom == "Rep 2: left knee flexion moved through 64°, 26° less than your other reps (90°) — go deeper"
    tempo = sentence(dev("eccentric time", "tempo", 2.4, 1.5, "s", 7.1, 2.0, 4, "eccentric", "reps"))
    assert tempo == "Rep 4: the lowering (eccentric) phase took 2.4 s, your other reps 1.5 s — keep a steady tempo"


def test_units_and_names_are_written_one_way():
    assert fmt(72.4, "deg") == "72°" and fmt(1.44, "s") == "1.4 s" and fmt(12.0, "%") == "12 %"
    assert fmt(float("nan"), "deg") == "not measured"
    assert angle_words("left_knee_flexion") == angle_words("left_knee flexion") == "left knee flexion"
    # every cue is keyed by an angle suffix that exists, or by a rep-level quantity
    for (key, direction), _ in CUES.items():
        base = key.split("@")[0]
        assert direction in ("less", "more")
        assert base in ("rom", "eccentric", "concentric", FORWARD_LEAN) or any(n.endswith(base) for n in ANGLE_NAMES), key
    assert {"angle_at_event", "rom", "tempo", "timing", "count", "quality"} <= set(TEMPLATES)


def test_no_cue_is_invented_for_an_unknown_quantity():
    s = sentence(dev("left_thigh_angle", value=-60.0, reference=-80.0))
    assert s == "Rep 3: left thigh angle at the bottom was -60°, the reference (squat_good) reaches -80°"


def test_ranked_by_severity_then_time_and_filtered():
    rows = [dev(severity=1.2, time_s=5.0, rep=1), dev("trunk_lean", severity=3.0, time_s=9.0, value=30, reference=10,
                                                      rep=None),
            dev("right_elbow_flexion", severity=0.5, time_s=1.0, rep=1, phase="top"),  # within tolerance: not said
            dev("left_hip_flexion", severity=1.2, time_s=2.0, rep=1, value=60, reference=80)]
    items = feedback(rows)
    assert [i.quantity for i in items] == ["trunk_lean", "left_hip_flexion", "left_knee_flexion"]
    assert [i.time_s for i in items] == [9.0, 2.0, 5.0]
    assert all(i.text and i.severity >= 1.0 for i in items)
    assert len(feedback(rows, FeedbackSettings(max_items=1))) == 1
    assert len(feedback(rows, FeedbackSettings(min_severity=0.0))) == 4


def test_the_same_fault_in_several_reps_is_said_once():
    rows = [dev(rep=r, severity=s, time_s=float(r)) for r, s in ((2, 1.5), (5, 2.5), (6, 1.1))]
    items = feedback(rows)
    assert len(items) == 1
    assert items[0].rep == 5 and items[0].time_s == 5.0 and items[0].also_reps == (2, 6)
    assert items[0].text.endswith("— go deeper (also reps 2 and 6)")
    assert len(feedback(rows, FeedbackSettings(merge=False))) == 3
    # opposite directions are different advice
    assert len(feedback([dev(rep=1), dev(rep=2, value=130.0)])) == 2


def test_non_finite_rows_are_not_said():
    assert feedback([dev(value=float("nan")), dev(severity=float("inf"))]) == []


def test_rep_deviations_flag_the_shallow_rep_and_the_slow_one():
    t, x, truth = synthetic(6, out_s=0.8, back_s=1.2)
    x = x.copy()
    s3, _, e3 = truth[2]
    m = (t >= s3) & (t < e3)
    x[m] = LO + (x[m] - LO) * 0.6  # rep 3 only 60 % as deep
    res = count_reps({"left_knee_flexion": x}, t)
    assert res.count == 6
    rows = rep_deviations(res)
    assert {d.kind for d in rows} == {"rom", "tempo"} and all(d.source == "reps" for d in rows)
    rom3 = next(d for d in rows if d.kind == "rom" and d.rep == 3)
    assert rom3.value == pytest.approx(54.0, abs=1.5) and rom3.reference == pytest.approx(90.0, abs=1.0)
    assert rom3.severity == pytest.approx(36.0 / 13.5, rel=0.05)  # tolerance 15 % of 90 deg
    assert rom3.time_s == pytest.approx(res.reps[2].extreme) and rom3.phase == "bottom"
    items = feedback(rows)
    assert items[0].rep == 3 and items[0].text.startswith("Rep 3: left knee flexion moved through 54°, 36° less")
    assert items[0].text.endswith("go deeper")


def test_rep_deviations_tempo_uses_the_profile_phase_names():
    rng = np.random.default_rng(0)
    t, x, truth = synthetic(5, out_s=0.6, back_s=1.2)
    # rebuild rep 4 with a 3 s lowering phase (curl: lowering is "back", extreme -> end)
    t2, x2, _ = synthetic(1, out_s=0.6, back_s=3.0)
    parts = [x[: int(round(truth[3][0] * 30))], x2[30:], x[int(round(truth[3][2] * 30)):]]
    x = np.concatenate(parts) + rng.normal(0, 0.2, sum(len(p) for p in parts))
    t = np.arange(len(x)) / 30
    res = count_reps({"left_elbow_flexion": x}, t, PROFILES["curl"])
    assert res.count == 5
    ecc = [d for d in rep_deviations(res) if d.phase == "eccentric"]
    slow = max(ecc, key=lambda d: d.severity)
    assert slow.rep == 4 and slow.value == pytest.approx(3.0, abs=0.15) and slow.severity > 3
    assert slow.time_s == pytest.approx(res.reps[3].extreme)  # a curl lowers from the top
    text = feedback(rep_deviations(res))[0].text
    assert text.startswith(f"Rep 4: the lowering (eccentric) phase took {fmt(slow.value, 's')}, your other reps 1.2 s")


def test_too_few_reps_give_no_rows():
    t, x, _ = synthetic(2)
    assert rep_deviations(count_reps({"left_knee_flexion": x}, t)) == []


def test_coach_bundles_rows_and_sentences_as_json():
    t, x, _ = synthetic(4)
    c = coach([dev()], count_reps({"left_knee_flexion": x}, t))
    d = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    assert d["feedback"][0]["text"].startswith("Rep 3: left knee flexion") and d["feedback"][0]["time_s"] == 12.4
    assert len(d["deviations"]) == 1 + 4 * 3  # the given row + rom, eccentric, concentric per rep
