"""The assessment step of analyze (sportlens.assess.pipeline) and its report section, on exact synthetic squats."""
from __future__ import annotations

import numpy as np
import pytest

from sportlens.api import analyze_video
from sportlens.assess.pipeline import assess_performance, main_movement
from sportlens.config import AnalyzeSettings, AssessSettings
from sportlens.errors import InputError
from sportlens.kinematics import compute_angles
from sportlens.report.assessment import assessment_section
from sportlens.types import ActionSegment, ActionTimeline, PoseTrack

from _media import gradient_frames, make_video
from test_reference_compare import FPS, _ref, squat_track


def squats(n: int, rest_s: float = 0.6) -> PoseTrack:
    """n 2-second squats separated by standing still (the first frame of a squat is standing)."""
    pieces, t0 = [], 0.0
    for _ in range(n):
        rest = squat_track(rest_s, t0=t0)
        rest.keypoints[:] = rest.keypoints[0]  # hold the standing pose
        sq = squat_track(2.0, t0=t0 + rest_s)
        pieces += [rest, sq]
        t0 += rest_s + 2.0
    kp = np.concatenate([p.keypoints for p in pieces])
    times = np.arange(len(kp)) / FPS
    return PoseTrack(keypoints=kp, scores=np.ones(kp.shape[:2]), times=times, skeleton="blazepose33")


def _timeline(label: str, end: float) -> ActionTimeline:
    seg = ActionSegment(start=0.0, end=end, label=label, confidence=0.9, top3=[(label, 0.9)])
    return ActionTimeline(model="test", segments=[seg], times=np.array([0.0, end]), probs=np.zeros((2, 1)),
                          classes=(label,))


def test_counts_squats_and_puts_rep_events_on_the_timeline():
    track = squats(4)
    a = assess_performance(track, compute_angles(track), _timeline("squat", float(track.times[-1])))
    assert a.movement == "squat"
    assert a.reps["count"] == 4 and a.reps["reason"] is None
    bottoms = [e for e in a.events if e["name"] == "bottom"]
    assert len(bottoms) == 4
    # each bottom is the middle of a 2 s squat that starts after 0.6 s of standing
    expected = [0.6 + 1.0 + k * 2.6 for k in range(4)]
    assert [e["time_s"] for e in bottoms] == pytest.approx(expected, abs=0.1)
    assert a.comparison is None and a.quality is None
    assert a.feedback == []  # four identical squats: nothing to say


def test_reference_comparison_feeds_feedback_with_the_knee_difference():
    ref = _ref(squat_track(2.0))
    athlete = squat_track(2.0, knee_extra=20.0)
    a = assess_performance(athlete, compute_angles(athlete), None, reference=ref)
    assert a.comparison is not None and a.comparison["score"] < 100
    knee_rows = [f for f in a.feedback if "knee" in f["text"]]
    assert knee_rows, a.feedback
    assert "20" in knee_rows[0]["text"] or "19" in knee_rows[0]["text"] or "21" in knee_rows[0]["text"]
    html = assessment_section(a.to_dict(), overlay=True)
    assert "overlay.mp4#t=" in html and "squat-ref" in html


def test_refused_comparison_gives_the_reason_not_a_score():
    ref = _ref(squat_track(2.0), view="front")  # the athlete is filmed side-on
    athlete = squat_track(2.0)
    a = assess_performance(athlete, compute_angles(athlete), None, reference=ref)
    assert a.comparison["score"] is None and "view" in a.comparison["refused"]
    assert any("no comparison" in n for n in a.notes)
    assert "no score" in assessment_section(a.to_dict(), overlay=False)


def test_main_movement_ignores_unknown_and_prefers_the_longest():
    segs = [ActionSegment(0, 1, "unknown", 0.3, []), ActionSegment(1, 2, "squat", 0.8, []),
            ActionSegment(2, 5, "pushup", 0.7, [])]
    tl = ActionTimeline(model="m", segments=segs, times=np.zeros(1), probs=np.zeros((1, 1)), classes=("x",))
    assert main_movement(tl) == "pushup" and main_movement(None) is None


def test_section_without_reps_says_why():
    html = assessment_section({"reps": {"count": 0, "reason": "not periodic"}, "events": [], "feedback": []},
                              overlay=False)
    assert "not periodic" in html and "Nothing stood out" in html
    assert assessment_section(None, overlay=True) == ""


def test_unknown_reference_or_quality_model_fails_before_any_pose_work(tmp_path, monkeypatch):
    monkeypatch.setenv("SPORTLENS_HOME", str(tmp_path / "home"))
    video = make_video(tmp_path / "v.mp4", gradient_frames(10))
    bad_ref = AnalyzeSettings(assess=AssessSettings(reference="nope"))
    with pytest.raises(InputError, match="unknown reference 'nope'"):
        analyze_video(video, tmp_path / "out", bad_ref)
    bad_model = AnalyzeSettings(assess=AssessSettings(quality_model=str(tmp_path / "missing.pt")))
    with pytest.raises(InputError, match="quality model not found"):
        analyze_video(video, tmp_path / "out2", bad_model)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_quality_model_scores_the_track_or_says_why(tmp_path):
    from sportlens.assess.quality import load_labelled_recordings, save_quality_model, train_quality_model
    from test_quality import FAST, _write_folder

    (tmp_path / "rec").mkdir()
    model = train_quality_model(load_labelled_recordings(_write_folder(tmp_path / "rec")), FAST)
    path = save_quality_model(model, tmp_path / "q.pkl")
    athlete = squat_track(2.0)  # BlazePose-33: converted to the model's Penn-13 layout
    a = assess_performance(athlete, compute_angles(athlete), None, quality_model=str(path))
    assert a.quality is not None and a.quality["score"] is not None and 0 <= a.quality["score"] <= 100
    assert a.quality["movement"] == "squat"
    assert "Quality model:" in assessment_section(a.to_dict(), overlay=False)


def test_phase_strip_places_ticks_on_the_timeline_axis():
    from sportlens.report.assessment import phase_strip

    a = {"events": [{"name": "start", "time_s": 1.0, "rep": 1, "source": "reps"},
                    {"name": "bottom", "time_s": 2.0, "rep": 1, "source": "reps"},
                    {"name": "impact", "time_s": 9.0, "source": "swing"}]}  # outside 0..4 s: left out
    html = phase_strip(a, 0.0, 4.0)
    assert html.count('class="tick"') == 1 and html.count('class="tick key"') == 1
    assert 'left:25.00%' in html and 'left:50.00%' in html and "bottom (rep 1) 2.00 s" in html
    assert phase_strip({"events": []}, 0.0, 4.0) == "" and phase_strip(None, 0.0, 4.0) == ""
