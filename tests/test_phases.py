"""Key events: per-rep start/bottom/end and golf swing address/top/impact/finish (sportlens.assess.phases)."""
from __future__ import annotations

import numpy as np
import pytest

from sportlens.assess.phases import PhaseEvent, SwingSettings, rep_events, swing_phases
from sportlens.assess.reps import PROFILES, count_reps
from sportlens.errors import InputError
from sportlens.skeletons import get_skeleton
from sportlens.types import PoseTrack
from tests.test_reps import synthetic

FS = 30.0
SKEL = get_skeleton("coco17")


def test_rep_events_are_ordered_and_match_the_reps():
    t, x, truth = synthetic(4)
    res = count_reps({"left_knee_flexion": x}, t)
    ev = rep_events(res)
    assert [e.name for e in ev[:3]] == ["start", "bottom", "end"] and len(ev) == 12
    for k, (start, extreme, end) in enumerate(truth):
        s, b, e = ev[3 * k: 3 * k + 3]
        assert s.rep == b.rep == e.rep == k + 1
        assert s.time_s < b.time_s < e.time_s
        assert b.time_s == pytest.approx(extreme, abs=1.5 / FS) and b.value == pytest.approx(100, abs=1)
    assert rep_events(count_reps({"left_knee_flexion": np.full_like(x, 20.0)}, t)) == []
    curl = rep_events(count_reps({"left_elbow_flexion": x}, t, PROFILES["curl"]))
    assert [e.name for e in curl[:3]] == ["start", "top", "end"]
    assert ev[1].to_dict()["time_s"] == round(ev[1].time_s, 3)


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3 - 2 * u)


def golf_track(address=1.0, top=2.0, impact=2.3, finish=2.9, end=4.0, drop: slice | None = None) -> PoseTrack:
    """A face-on swing: hips and shoulders fixed, both hands move together along the swing path.
    Hands low (y 300) until ``address``, up and to the side to the top (y 120) by ``top``, down fast to
    y 300 at ``impact``, up to the finish (y 100) by ``finish``, then still. Left arm straight, right
    arm bent at the top (a right-handed golfer)."""
    t = np.arange(int(end * FS)) / FS
    up = _smoothstep((t - address) / (top - address))
    down = _smoothstep((t - top) / (impact - top))
    thru = _smoothstep((t - impact) / (finish - impact))
    y = 300 - 180 * up + 180 * down - 200 * thru
    x = 200 - 60 * up + 60 * down + 60 * thru
    kp = np.full((len(t), SKEL.num_joints, 2), np.nan)

    def put(name, xy):
        kp[:, SKEL.index(name)] = xy

    put("left_hip", [190, 300]), put("right_hip", [210, 300])
    put("left_shoulder", [185, 150]), put("right_shoulder", [215, 150])
    hands = np.stack([x, y], axis=1)
    put("left_wrist", hands), put("right_wrist", hands + [2, 0])
    # left elbow on the shoulder-wrist line (straight), right elbow off it by an amount peaking at the top
    put("left_elbow", 0.5 * (kp[:, SKEL.index("left_shoulder")] + hands))
    bend = (up - down)[:, None] * np.array([60.0, 0.0])
    put("right_elbow", 0.5 * (kp[:, SKEL.index("right_shoulder")] + hands) + bend)
    if drop is not None:
        kp[drop, SKEL.index("left_wrist")] = np.nan
        kp[drop, SKEL.index("right_wrist")] = np.nan
    scores = np.isfinite(kp).all(-1).astype(float)
    return PoseTrack(kp, scores, t, "coco17")


def test_swing_events_match_the_constructed_swing():
    p = swing_phases(golf_track())
    assert p.ok, p.reason
    assert [e.name for e in p.events] == ["address", "top", "impact", "finish"]
    assert p.time("address") == pytest.approx(1.0, abs=0.15)
    assert p.time("top") == pytest.approx(2.0, abs=0.1)
    assert p.time("impact") == pytest.approx(2.3, abs=0.07)
    assert p.time("finish") == pytest.approx(2.9, abs=0.2)
    assert p.lead_side == "left"
    top = next(e for e in p.events if e.name == "top")
    assert top.detail == "left_elbow_flexion" and top.value == pytest.approx(0.0, abs=3.0)
    assert p.tempo["ratio"] == pytest.approx(1.0 / 0.3, rel=0.2)


def test_swing_survives_hands_lost_near_impact():
    p = swing_phases(golf_track(drop=slice(int(2.35 * FS), int(2.55 * FS))))  # 0.2 s blur after impact
    assert p.ok and p.time("impact") == pytest.approx(2.3, abs=0.07)


def test_a_swing_played_backwards_is_implausible():
    # slow "downswing", fast "backswing": the fastest movement is not preceded by a slower rise
    tr = golf_track()
    rev = PoseTrack(tr.keypoints[::-1].copy(), tr.scores[::-1].copy(), tr.times, "coco17")
    p = swing_phases(rev)
    assert not p.ok and "implausible" in p.reason and p.tempo == {}


def test_no_hands_gives_a_reason_and_short_tracks_raise():
    tr = golf_track()
    kp = tr.keypoints.copy()
    kp[:, [SKEL.index("left_wrist"), SKEL.index("right_wrist")]] = np.nan
    p = swing_phases(PoseTrack(kp, tr.scores, tr.times, "coco17"))
    assert p.events == [] and "hands seen on 0 %" in p.reason
    with pytest.raises(InputError, match="at least 10 frames"):
        swing_phases(tr.slice(0, 5))


def test_settings_and_serialisation():
    p = swing_phases(golf_track(), SwingSettings(max_backswing_s=0.5))  # the 1 s backswing is too long now
    assert not p.ok and "backswing" in p.reason
    d = swing_phases(golf_track()).to_dict()
    assert [e["name"] for e in d["events"]] == ["address", "top", "impact", "finish"] and d["lead_side"] == "left"
    assert isinstance(PhaseEvent("top", 1.0).to_dict()["time_s"], float)


@pytest.mark.slow
def test_golf_video_phases_in_plausible_order_and_times(golf_video):
    """Times checked by eye on the decoded frames: club behind the ball at 2.5 s, at the top at ~3.9-4.1 s,
    at the ball at ~4.8 s, finish held from ~6 s."""
    from sportlens.api import analyze_video
    from sportlens.config import AnalyzeSettings, RecognitionSettings

    analysis = analyze_video(golf_video, settings=AnalyzeSettings(recognition=RecognitionSettings(enabled=False)))
    p = swing_phases(analysis.clean)
    assert p.ok, p.reason
    assert 2.0 <= p.time("address") <= 3.0
    assert 3.6 <= p.time("top") <= 4.3
    assert 4.5 <= p.time("impact") <= 5.0
    assert 5.5 <= p.time("finish") <= 6.6
    assert p.lead_side == "left"  # a right-handed golfer
