"""Multi-person tracking and athlete selection on generated scenes with a known truth."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from sportlens.errors import InputError
from sportlens.pose.selection import AUTO_MIN_PRESENCE, select_athlete
from sportlens.pose.tracking import (
    BoxKalman,
    TrackerSettings,
    Fragment,
    box_iou,
    join_fragments,
    track_people,
    visible_box,
    xyxy_to_xyah,
)
from sportlens.types import PoseTrack

FPS = 30.0

# A standing person, COCO-17 order, in body heights around the box centre (x right, y down).
TEMPLATE = np.array([
    [0.00, -0.45], [-0.02, -0.47], [0.02, -0.47], [-0.05, -0.46], [0.05, -0.46],  # face
    [-0.12, -0.32], [0.12, -0.32], [-0.16, -0.12], [0.16, -0.12], [-0.17, 0.05], [0.17, 0.05],  # arms
    [-0.08, 0.02], [0.08, 0.02], [-0.09, 0.25], [0.09, 0.25], [-0.09, 0.48], [0.09, 0.48],  # legs
])


@dataclass
class Det:
    """Same shape as the multi-person estimator's PersonDetection."""

    box: np.ndarray  # (4,)
    score: float
    keypoints: np.ndarray  # (V, 2)
    kp_scores: np.ndarray  # (V,)
    skeleton: str = "coco17"


def person(cx: float, cy: float, h: float, rng: np.random.Generator, score: float = 0.9,
           noise: float = 1.0, width: float | None = None) -> Det:
    """A detection of the template at (cx, cy), height h px; keypoints outside [0, width) are cut."""
    kp = TEMPLATE * h + (cx, cy) + rng.normal(0, noise, TEMPLATE.shape)  # (V, 2)
    if width is not None:
        kp[(kp[:, 0] < 0) | (kp[:, 0] >= width)] = np.nan
    lo, hi = np.nanmin(kp, axis=0), np.nanmax(kp, axis=0)
    box = np.concatenate([lo, hi]) + np.array([-1, -1, 1, 1]) * 0.05 * h
    if width is not None:
        box[[0, 2]] = np.clip(box[[0, 2]], 0, width)
    ks = np.where(np.isfinite(kp[:, 0]), 0.9, 0.0)
    return Det(box=box, score=score, keypoints=kp, kp_scores=ks)


Path = Callable[[int], "tuple[float, float, float] | None"]  # frame -> (cx, cy, h) or absent


def scene(paths: list[Path], T: int, seed: int = 0, **kw) -> tuple[list[list[Det]], np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(T):
        frames.append([person(*p, rng, **kw) for p in (f(k) for f in paths) if p is not None])
    return frames, np.arange(T) / FPS


def walker(x0: float, vx: float, y: float = 300.0, h: float = 200.0, hidden: range = range(0)) -> Path:
    return lambda k: None if k in hidden else (x0 + vx * k, y, h)


def centre_x(track: PoseTrack) -> np.ndarray:
    """(T,) mean x of the present joints, NaN where absent."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames without the person
        return np.nanmean(track.keypoints[..., 0], axis=1)


def assert_one_direction(track: PoseTrack, sign: int) -> None:
    """The track's person moves in one direction only: no ID swap with someone going the other way."""
    x = centre_x(track)
    x = x[np.isfinite(x)]
    assert np.all(np.sign(np.diff(x)) == sign), "the track switched to another person"


# --------------------------------------------------------------------------------- Kalman


def test_kalman_constant_velocity_is_predicted_exactly():
    kf = BoxKalman(np.array([100.0, 50.0, 0.5, 80.0]))
    for k in range(1, 30):
        kf.predict()
        kf.update(np.array([100.0 + 3 * k, 50.0 - 2 * k, 0.5, 80.0]))
    pred = kf.predict()
    np.testing.assert_allclose(pred[:2], [100.0 + 90, 50.0 - 60], atol=0.3)
    np.testing.assert_allclose(kf.mean[4:6], [3.0, -2.0], atol=0.05)
    np.testing.assert_allclose(pred[2:], [0.5, 80.0], atol=0.05)
    assert np.all(np.linalg.eigvalsh(kf.cov) > 0)  # stays a covariance


def test_kalman_uses_real_time_steps():
    kf = BoxKalman(np.array([0.0, 0.0, 0.5, 100.0]))
    for k in range(1, 20):
        kf.predict()
        kf.update(np.array([5.0 * k, 0.0, 0.5, 100.0]))
    assert kf.predict(dt=2.0)[0] == pytest.approx(5.0 * 21, abs=0.5)


def test_box_iou():
    a = np.array([[0.0, 0, 10, 10]])
    b = np.array([[0.0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 1 / 3, 0.0]])
    np.testing.assert_allclose(xyxy_to_xyah(a[0]), [5, 5, 1, 10])


# ------------------------------------------------------------------------------- tracking


def test_single_walker_one_track_spanning_the_clip():
    frames, times = scene([walker(100, 4)], 60)
    res = track_people(frames, times)
    assert res.num_tracks == 1 and res.raw_tracks == 1 and res.joined == 0
    tr = res.tracks[0]
    assert tr.person_id == 1 and tr.skeleton == "coco17" and tr.keypoints.shape == (60, 17, 2)
    np.testing.assert_array_equal(tr.times, times)
    assert res.frames_present == {1: 60}
    np.testing.assert_allclose(tr.keypoints, np.stack([f[0].keypoints for f in frames]))
    assert res.boxes[1].shape == (60, 4)


@pytest.mark.parametrize("hidden", [range(0), range(47, 52)])
def test_two_people_crossing_keep_their_ids(hidden):
    # Boxes (~70 px wide) overlap while the centres are < 70 px apart: ~6 frames around frame 50;
    # in the second case the one behind is not detected at all for 5 frames of it.
    frames, times = scene([walker(100, 6, h=200), walker(700, -6, y=310, h=185, hidden=hidden)], 100)
    overlapping = sum(box_iou(f[0].box[None], f[1].box[None])[0, 0] > 0 for f in frames if len(f) == 2)
    assert overlapping >= 5
    res = track_people(frames, times)
    assert res.num_tracks == 2, res.to_dict()
    right, left = sorted(res.tracks, key=lambda t: centre_x(t)[0])
    assert_one_direction(right, +1)
    assert_one_direction(left, -1)
    assert res.frames_present[left.person_id] == 100 - len(hidden)


def test_occlusion_within_max_age_keeps_the_id():
    frames, times = scene([walker(100, 3, hidden=range(30, 50))], 100)
    res = track_people(frames, times)
    assert res.num_tracks == 1 and res.confirmed == 1 and res.joined == 0
    assert np.isnan(res.tracks[0].keypoints[30:50]).all()  # not detected: NaN, no made-up poses
    assert res.frames_present[1] == 80


def test_long_occlusion_is_rejoined_as_one_fragment_join():
    s = TrackerSettings(max_age=10)
    frames, times = scene([walker(100, 3, hidden=range(30, 70))], 120)
    res = track_people(frames, times, settings=s)
    assert res.confirmed == 2 and res.joined == 1 and res.num_tracks == 1
    assert res.fragments[1] == [0, 1]


def test_no_join_when_the_new_person_appears_elsewhere():
    far = lambda k: None if k < 60 else (900.0, 300.0, 200.0)  # noqa: E731
    frames, times = scene([walker(100, 3, hidden=range(40, 120)), far], 120)
    res = track_people(frames, times, settings=TrackerSettings(max_age=10))
    assert res.num_tracks == 2 and res.joined == 0


def test_no_join_when_two_candidates_are_ambiguous():
    # Two alike people vanish together and two reappear between them: which is which is unknown.
    a = walker(300, 0, hidden=range(30, 200))
    b = walker(420, 0, hidden=range(30, 200))
    c = lambda k: None if k < 60 else (360.0, 300.0, 200.0)  # noqa: E731
    frames, times = scene([a, b, c], 90)
    res = track_people(frames, times, settings=TrackerSettings(max_age=10))
    assert res.num_tracks == 3 and res.joined == 0


def test_people_entering_and_leaving():
    leaving = lambda k: (200.0 + 2 * k, 300.0, 200.0) if k < 50 else None  # noqa: E731
    entering = lambda k: (800.0 - 2 * k, 300.0, 190.0) if k >= 40 else None  # noqa: E731
    frames, times = scene([leaving, entering], 100)
    res = track_people(frames, times)
    assert res.num_tracks == 2 and res.max_simultaneous == 2
    first, second = res.tracks
    assert res.frames_present == {1: 50, 2: 60}
    assert np.isnan(first.keypoints[50:]).all() and np.isnan(second.keypoints[:40]).all()
    assert first.num_frames == second.num_frames == 100


def test_twenty_five_people_no_id_explosion():
    paths = [walker(60 + 120 * (i % 5), 0.5 * (-1) ** i, y=150 + 200 * (i // 5), h=150) for i in range(25)]
    frames, times = scene(paths, 60, noise=2.0)
    res = track_people(frames, times)
    assert res.num_tracks == 25 and res.max_simultaneous == 25 and res.raw_tracks == 25
    assert set(res.frames_present.values()) == {60}


def test_very_small_people_are_tracked():
    frames, times = scene([walker(50, 1.0, y=40, h=14), walker(300, -1.0, y=60, h=12)], 80, noise=0.3)
    res = track_people(frames, times)
    assert res.num_tracks == 2


def test_empty_input_and_empty_frames():
    assert track_people([], []).num_tracks == 0
    res = track_people([[] for _ in range(20)], np.arange(20) / FPS)
    assert res.num_tracks == 0 and res.to_dict()["tracks"] == 0
    frames, times = scene([walker(100, 2, hidden=range(20, 24))], 50)
    assert track_people(frames, times).num_tracks == 1


def test_person_cut_at_the_frame_border():
    # Walks out of a 640-px-wide picture: more and more joints are NaN, the box is clipped.
    frames, times = scene([walker(560, 3)], 36, width=640.0)  # out of the picture after ~38
    assert np.isnan(frames[-1][0].keypoints).any()
    res = track_people(frames, times)
    assert res.num_tracks == 1
    tr = res.tracks[0]
    assert np.isnan(tr.keypoints[-1]).any() and (tr.scores[-1][np.isnan(tr.keypoints[-1, :, 0])] == 0).all()


def test_low_score_and_flickering_noise_make_no_tracks():
    rng = np.random.default_rng(1)
    frames = []
    for _ in range(60):
        noise = [person(*rng.uniform(50, 900, 2), 100, rng, score=0.3) for _ in range(3)]
        flicker = person(*rng.uniform(50, 900, 2), 100, rng, score=0.95)  # a new place each frame
        frames.append([*noise, flicker])
    res = track_people(frames, np.arange(60) / FPS)
    assert res.num_tracks == 0 and res.confirmed == 0 and res.raw_tracks > 0


def test_low_score_detections_extend_a_track():
    frames, times = scene([walker(100, 3)], 60)
    for f in frames[20:35]:
        f[0].score = 0.3  # partly occluded: the detector is unsure
    res = track_people(frames, times)
    assert res.num_tracks == 1 and res.frames_present[1] == 60


def test_fragments_present_at_the_same_time_are_never_joined():
    state = np.array([100.0, 300, 0.4, 200, 0, 0, 0, 0])
    box = np.array([60.0, 200, 140, 400])
    overlapping = [Fragment(0, 50, state, box), Fragment(40, 90, state, box)]
    assert join_fragments(overlapping, np.arange(100.0), TrackerSettings()) == [-1, -1]
    after = [Fragment(0, 50, state, box), Fragment(60, 90, state, box)]
    assert join_fragments(after, np.arange(100.0), TrackerSettings()) == [-1, 0]


def test_other_layouts_are_converted_and_bad_input_rejected():
    frames, times = scene([walker(100, 3)], 10)
    bp = np.full((33, 2), np.nan)
    bp[[0, 11, 12, 23, 24]] = frames[5][0].keypoints[[0, 5, 6, 11, 12]]  # nose, shoulders, hips
    frames[5][0] = Det(frames[5][0].box, 0.9, bp, np.where(np.isfinite(bp[:, 0]), 0.9, 0.0), "blazepose33")
    res = track_people(frames, times, frame_index=np.arange(100, 110))
    assert res.num_tracks == 1 and res.tracks[0].skeleton == "coco17"
    np.testing.assert_allclose(res.tracks[0].keypoints[5, 5], frames[5][0].keypoints[11])
    np.testing.assert_array_equal(res.tracks[0].frame_index, np.arange(100, 110))
    with pytest.raises(ValueError, match="increasing"):
        track_people(frames, np.zeros(10))
    with pytest.raises(ValueError, match="one entry per frame"):
        track_people(frames, np.arange(9))
    frames[0][0] = Det(frames[0][0].box, 0.9, np.zeros((5, 2)), np.ones(5))
    with pytest.raises(ValueError, match="keypoints"):
        track_people(frames, times)


# ------------------------------------------------------------------------------ selection


def make_track(pid: int, kp: np.ndarray) -> PoseTrack:
    T = kp.shape[0]
    scores = np.where(np.isfinite(kp[..., 0]), 0.9, 0.0)
    return PoseTrack(keypoints=kp, scores=scores, times=np.arange(T) / FPS, skeleton="coco17", person_id=pid)


def standing(T: int, cx: float, h: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return TEMPLATE * h + (cx, 300.0) + rng.normal(0, 1.0, (T, 17, 2))  # (T, V, 2), jitter only


def jumping(T: int, cx: float, h: float, seed: int) -> np.ndarray:
    kp = standing(T, cx, h, seed)
    kp[..., 1] -= (0.3 * h * np.abs(np.sin(np.arange(T) * np.pi / 20)))[:, None]
    return kp


@pytest.fixture()
def crowd() -> list[PoseTrack]:
    T = 90
    passer = np.full((T, 17, 2), np.nan)
    passer[:15] = TEMPLATE * 150 + np.stack([np.linspace(0, 900, 15), np.full(15, 300.0)], 1)[:, None]
    return [make_track(1, standing(T, 200, 300, 0)),  # big, standing still
            make_track(2, jumping(T, 500, 150, 1)),  # the athlete
            make_track(4, passer)]  # crosses the picture fast, in 15 frames


def test_selection_largest_and_most_active(crowd):
    largest = select_athlete(crowd, "largest")
    assert largest.track.person_id == 1 and "person 1" in largest.reason
    active = select_athlete(crowd, "most-active")
    assert active.scores[2]["activity"] > 10 * active.scores[1]["activity"]  # jitter is filtered out
    assert active.track.person_id in (2, 4)


def test_selection_auto_ignores_the_passer_by_and_explains(crowd):
    sel = select_athlete(crowd, "auto")
    assert sel.track.person_id == 2
    assert sel.scores[4]["presence"] < AUTO_MIN_PRESENCE
    assert "runner-up person 1" in sel.reason and "margin" in sel.reason


def test_selection_by_id_all_and_errors(crowd):
    assert select_athlete(crowd, 4).track.person_id == 4
    assert select_athlete(crowd, "2").track.person_id == 2
    assert [t.person_id for t in select_athlete(crowd, "all").tracks] == [1, 2, 4]
    with pytest.raises(InputError, match="available IDs: 1, 2, 4"):
        select_athlete(crowd, 3)
    with pytest.raises(InputError, match="most-active"):
        select_athlete(crowd, "busiest")


def test_selection_without_people():
    sel = select_athlete([], "auto")
    assert sel.tracks == [] and sel.track is None and "no person" in sel.reason
    with pytest.raises(InputError, match="none"):
        select_athlete([], 1)


def test_tracking_then_selection_end_to_end():
    jumper = lambda k: (500.0, 300.0 - 40 * abs(np.sin(k * np.pi / 15)), 150.0)  # noqa: E731
    frames, times = scene([walker(200, 0, h=300), jumper], 90)
    res = track_people(frames, times)
    sel = select_athlete(res.tracks, "auto")
    assert res.num_tracks == 2
    assert np.nanmean(sel.track.keypoints[..., 0]) == pytest.approx(500, abs=10)


# ------------------------------------------- noisy pose estimators (duplicates, guessed joints)


def with_guessed_legs(d: Det, rng: np.random.Generator, reach: float) -> Det:
    """The estimator's box of ALL landmarks: add knees/ankles guessed up to ``reach`` px below the
    picture with a low score (a person cut by the frame border), the box follows them."""
    kp, ks = d.keypoints.copy(), d.kp_scores.copy()
    kp[13:] = kp[13:] + [0.0, 1.0] * rng.uniform(0, reach, (4, 1))
    ks[13:] = 0.05
    box = np.concatenate([kp.min(axis=0), kp.max(axis=0)])
    return Det(box=box, score=d.score, keypoints=kp, kp_scores=ks)


def test_visible_box_ignores_guessed_joints():
    rng = np.random.default_rng(0)
    d = person(300, 300, 200, rng)
    g = with_guessed_legs(d, rng, 600)
    vb = visible_box(g.box, g.keypoints, g.kp_scores, 0.3, 4)
    assert vb[3] < 300 + 0.4 * 200 and g.box[3] > vb[3]  # the guessed legs are left out
    assert np.all(vb[:2] >= g.box[:2]) and np.all(vb[2:] <= g.box[2:])  # within the given box
    few = np.where(np.arange(17) < 3, 0.9, 0.0)
    np.testing.assert_array_equal(visible_box(g.box, g.keypoints, few, 0.3, 4), g.box)  # fallback


def test_guessed_joints_do_not_fragment_a_track():
    # A person cut by the border whose box of all landmarks jumps by up to 3 body heights per frame.
    frames, times = scene([walker(200, 3, h=150)], 80)
    rng = np.random.default_rng(3)
    frames = [[with_guessed_legs(d, rng, 450) for d in f] for f in frames]
    res = track_people(frames, times)
    assert res.num_tracks == 1 and res.raw_tracks == 1 and res.frames_present[1] == 80
    np.testing.assert_allclose(res.boxes[1], np.stack([f[0].box for f in frames]))  # boxes as given


def test_lost_track_is_found_where_it_stopped():
    # Moves fast, then stops while hidden for 15 frames: the prediction runs ~100 px on, the person
    # is where it stood. The lost track takes it back directly (no new track, no join needed).
    path = lambda k: None if 30 <= k < 45 else (100.0 + 7 * min(k, 30), 300.0, 120.0)  # noqa: E731
    frames, times = scene([path], 80)
    res = track_people(frames, times)
    assert res.num_tracks == 1 and res.raw_tracks == 1 and res.joined == 0
    off = track_people(frames, times, settings=TrackerSettings(lost_standing=False))
    assert off.raw_tracks == 2


def test_a_disagreeing_pose_does_not_veto_a_box_match():
    # Every 4th frame the estimator fits a wrong skeleton (upside down) in a box that is shifted
    # by 40 % of its width: the box overlap alone must keep the person.
    frames, times = scene([walker(300, 0, h=200)], 60)
    for f in frames[2::4]:
        d = f[0]
        c = (d.box[:2] + d.box[2:]) / 2
        kp = (d.keypoints - c) * [1, -1] + c + [30, 0]
        f[0] = Det(d.box + [30, 0, 30, 0], d.score, kp, d.kp_scores)
    res = track_people(frames, times)
    assert res.num_tracks == 1 and res.raw_tracks == 1
    off = track_people(frames, times, settings=TrackerSettings(oks_bonus_only=False))
    assert off.raw_tracks > 1


def test_partial_duplicate_of_a_person_starts_no_track():
    # The estimator also reports a second, partial skeleton on the person's arm in every frame.
    frames, times = scene([walker(300, 2, h=200)], 60)
    rng = np.random.default_rng(5)
    for f in frames:
        d = f[0]
        arm = person(d.box[0] + 45, d.box[1] + 70, 50, rng)
        f.append(arm)
    res = track_people(frames, times)
    assert res.num_tracks == 1 and res.raw_tracks == 1
    off = track_people(frames, times, settings=TrackerSettings(duplicate_overlap=1.0))
    assert off.num_tracks == 2


def test_recently_seen_track_gets_its_person_back_first():
    # A is seen until frame 19 at x=300; B at x=380 (frames 24-40, then hidden 41-45); at frame 46 a
    # person reappears at x=336, a bit nearer to where A stood: it is B, seen 5 frames ago, not A,
    # gone for 27 frames.
    a = lambda k: (300.0, 300.0, 200.0) if k < 20 else None  # noqa: E731
    def b(k: int) -> tuple[float, float, float] | None:
        return (380.0, 300.0, 200.0) if 24 <= k <= 40 else ((336.0, 300.0, 200.0) if k >= 46 else None)

    frames, times = scene([a, b], 60)

    def owner_of_frame_50(res):
        ids = {pid: set(np.nonzero(np.isfinite(bx[:, 0]))[0]) for pid, bx in res.boxes.items()}
        return next(f for f in ids.values() if 50 in f)

    s = TrackerSettings(join_max_gap=0)
    res = track_people(frames, times, settings=s)
    assert res.raw_tracks == 2 and 30 in owner_of_frame_50(res) and 10 not in owner_of_frame_50(res)
    off = track_people(frames, times, settings=TrackerSettings(join_max_gap=0, cascade=False))
    assert 10 in owner_of_frame_50(off)  # without the cascade the lower cost wins: A


# ----------------------------------------------------------------------------- appearance


@dataclass
class AppDet(Det):
    appearance: np.ndarray | None = None  # (2 * 72,) like PersonDetection.appearance


def colours(main: int, rng: np.random.Generator, n: int = 72) -> np.ndarray:
    """A made-up (2 * n,) descriptor: torso and upper-leg histograms, each mostly in bin ``main``."""
    out = []
    for region in range(2):
        h = rng.uniform(0, 0.002, n)
        h[(main + 7 * region) % n] += 1.0
        out.append(h / h.sum())
    return np.concatenate(out)


def scene_app(paths: list[Path], looks: list[int], T: int, seed: int = 0) -> tuple[list[list[AppDet]], np.ndarray]:
    """Like ``scene``, every person with the colours ``looks[i]`` (None: no appearance)."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(T):
        frame = []
        for f, look in zip(paths, looks):
            p = f(k)
            if p is not None:
                d = person(*p, rng)
                frame.append(AppDet(d.box, d.score, d.keypoints, d.kp_scores,
                                    appearance=None if look is None else colours(look, rng)))
        frames.append(frame)
    return frames, np.arange(T) / FPS


def test_appearance_similarity():
    from sportlens.pose.tracking import _as_appearance, appearance_similarity

    rng = np.random.default_rng(0)
    a, b = _as_appearance(colours(3, rng)), _as_appearance(colours(3, rng))
    c = _as_appearance(colours(40, rng))
    assert appearance_similarity(a, b) > 0.9 and appearance_similarity(a, c) < 0.3
    legs_only = a.copy()
    legs_only[0] = 0  # torso not seen: only the legs are compared
    assert appearance_similarity(legs_only, b) > 0.9
    assert np.isnan(appearance_similarity(a, None)) and _as_appearance(np.zeros(144)) is None
    assert _as_appearance([np.nan, 1.0]) is None and _as_appearance(None) is None


def test_reappearing_far_away_is_joined_by_appearance():
    """One person (red) vanishes at x ~ 220 and comes back 3.4 box heights away 20 frames later (e.g.
    after jumping off a box): geometry alone makes two IDs, matching colours one."""
    far = lambda k: None if k < 60 else (900.0, 300.0, 200.0)  # noqa: E731
    frames, times = scene_app([walker(100, 3, hidden=range(40, 120)), far], [5, 5], 120)
    s = TrackerSettings(max_age=10)
    res = track_people(frames, times, settings=s)
    assert res.num_tracks == 1 and res.joined == 1
    for f in frames:
        for d in f:
            d.appearance = None
    assert track_people(frames, times, settings=s).num_tracks == 2  # without appearance: as before


def test_someone_else_reappearing_far_away_is_not_joined():
    far = lambda k: None if k < 60 else (900.0, 300.0, 200.0)  # noqa: E731
    frames, times = scene_app([walker(100, 3, hidden=range(40, 120)), far], [5, 40], 120)
    res = track_people(frames, times, settings=TrackerSettings(max_age=10))
    assert res.num_tracks == 2 and res.joined == 0
    # too long a gap even for an appearance join
    late = lambda k: None if k < 40 + 200 else (900.0, 300.0, 200.0)  # noqa: E731
    frames, times = scene_app([walker(100, 3, hidden=range(40, 400)), late], [5, 5], 300)
    assert track_people(frames, times, settings=TrackerSettings(max_age=10)).joined == 0


def test_appearance_vetoes_a_geometric_join():
    """A person leaves, another one with clearly other colours appears where the first was going: the
    geometry alone joins them (one ID for two people), the colours keep them apart."""
    other = lambda k: None if k < 70 else (100 + 3 * k, 300.0, 200.0)  # noqa: E731
    first = walker(100, 3, hidden=range(30, 400))
    s = TrackerSettings(max_age=10)
    frames, times = scene_app([first, other], [5, 40], 120)
    assert track_people(frames, times, settings=s).num_tracks == 2
    frames, times = scene_app([first, other], [None, None], 120)
    assert track_people(frames, times, settings=s).num_tracks == 1


def test_two_people_swapping_sides_while_hidden_get_their_ids_by_appearance():
    """Red on the left and blue on the right vanish (behind something) and come back far away with sides
    swapped: each is joined to the fragment of its own colours; the walker in between keeps its own ID."""
    red_a = lambda k: (200.0, 300.0, 200.0) if k < 30 else None  # noqa: E731
    blue_a = lambda k: (500.0, 300.0, 200.0) if k < 30 else None  # noqa: E731
    red_b = lambda k: (1100.0, 300.0, 200.0) if k >= 70 else None  # noqa: E731
    blue_b = lambda k: (800.0, 300.0, 200.0) if k >= 70 else None  # noqa: E731
    passer = lambda k: (2000.0 - 15 * k, 700.0, 200.0)  # noqa: E731  (present all along: never joined)
    frames, times = scene_app([red_a, blue_a, red_b, blue_b, passer], [5, 40, 5, 40, 20], 120)
    res = track_people(frames, times, settings=TrackerSettings(max_age=10))
    assert res.num_tracks == 3 and res.joined == 2
    by_first_x = {}
    for t in res.tracks:
        x = centre_x(t)
        by_first_x[round(float(x[np.isfinite(x)][0]), -2)] = np.nanmax(x[70:]) if np.isfinite(x[70:]).any() else None
    assert abs(by_first_x[200.0] - 1100) < 20 and abs(by_first_x[500.0] - 800) < 20


def test_alike_colours_far_away_stay_separate():
    """Two people dressed alike vanish and two come back far away: appearance cannot tell who is who."""
    a = lambda k: (200.0, 300.0, 200.0) if k < 30 else None  # noqa: E731
    b = lambda k: (500.0, 300.0, 200.0) if k < 30 else None  # noqa: E731
    c = lambda k: (1100.0, 300.0, 200.0) if k >= 70 else None  # noqa: E731
    d = lambda k: (800.0, 300.0, 200.0) if k >= 70 else None  # noqa: E731
    frames, times = scene_app([a, b, c, d], [5, 5, 5, 5], 120)
    res = track_people(frames, times, settings=TrackerSettings(max_age=10))
    assert res.num_tracks == 4 and res.joined == 0


# ------------------------------------------------------- re-identification inside the picture

FRAME = (1920, 1080)  # (width, height) of the made-up frames below


def test_vanishing_inside_the_picture_is_reidentified_when_colours_do_not_differ():
    """One person (h 200 px) vanishes mid-frame and comes back 6 box heights away 2 s later (beyond the
    appearance join's 5 heights; 3 heights/s): the only candidate both ways, so one ID. A walker on
    another row is tracked all along and plays no part. Without the frame size: two IDs, as before."""
    first = lambda k: (400.0 + 2 * k, 500.0, 200.0) if k < 40 else None  # noqa: E731
    again = lambda k: (480.0 + 1200, 500.0, 200.0) if k >= 100 else None  # noqa: E731
    passer = lambda k: (1850.0 - 10 * k, 850.0, 200.0)  # noqa: E731
    frames, times = scene_app([first, again, passer], [5, 5, 20], 160)
    s = TrackerSettings(max_age=10)
    res = track_people(frames, times, settings=s, frame_size=FRAME)
    assert res.num_tracks == 2 and res.joined == 1
    assert sorted(len(f) for f in res.fragments.values()) == [1, 2]
    assert track_people(frames, times, settings=s).num_tracks == 3
    frames, times = scene_app([first, again, passer], [5, 40, 20], 160)  # other colours: another person
    assert track_people(frames, times, settings=s, frame_size=FRAME).num_tracks == 3


def test_reidentification_needs_a_plausible_speed_and_size():
    first = lambda k: (300.0, 500.0, 200.0) if k < 40 else None  # noqa: E731
    s = TrackerSettings(max_age=10)
    fast = lambda k: (1600.0, 500.0, 200.0) if k >= 55 else None  # noqa: E731  (6.5 heights in 0.5 s)
    frames, times = scene_app([first, fast], [5, 5], 120)
    assert track_people(frames, times, settings=s, frame_size=FRAME).num_tracks == 2
    small = lambda k: (1500.0, 500.0, 80.0) if k >= 100 else None  # noqa: E731  (2.5x smaller)
    frames, times = scene_app([first, small], [5, 5], 160)
    assert track_people(frames, times, settings=s, frame_size=FRAME).num_tracks == 2


def test_leaving_and_entering_at_the_border_are_not_reidentified():
    """Someone walks out at the left edge; 4 s later someone dressed alike walks in at the right edge:
    people come and go through the border, so two IDs."""
    rng = np.random.default_rng(0)
    frames = []
    for k in range(300):
        frame = []
        if k < 36:
            frame.append(person(150.0 - 5 * k, 500.0, 200.0, rng, width=FRAME[0]))
        if k >= 160:
            frame.append(person(FRAME[0] + 20 - 5 * (k - 160), 500.0, 200.0, rng, width=FRAME[0]))
        frames.append([AppDet(d.box, d.score, d.keypoints, d.kp_scores, appearance=colours(5, rng))
                       for d in frame])
    res = track_people(frames, np.arange(300) / FPS, settings=TrackerSettings(max_age=10), frame_size=FRAME)
    assert res.num_tracks == 2 and res.joined == 0


def test_two_candidates_are_not_reidentified():
    """Two people vanish inside the picture and two reappear far away: no one is the only candidate."""
    a = lambda k: (400.0, 400.0, 200.0) if k < 30 else None  # noqa: E731
    b = lambda k: (400.0, 800.0, 200.0) if k < 30 else None  # noqa: E731
    c = lambda k: (1600.0, 400.0, 200.0) if k >= 110 else None  # noqa: E731
    d = lambda k: (1600.0, 800.0, 200.0) if k >= 110 else None  # noqa: E731
    frames, times = scene_app([a, b, c, d], [5, 5, 5, 5], 160)
    res = track_people(frames, times, settings=TrackerSettings(max_age=10), frame_size=FRAME)
    assert res.num_tracks == 4 and res.joined == 0


def test_look_model_flags_a_drift_not_a_single_odd_look():
    from sportlens.pose.tracking import LOOK_DRIFT_FRAMES, LOOK_INIT_FRAMES, LookModel

    rng = np.random.default_rng(0)
    red, blue = (lambda: colours(3, rng)[:72]), (lambda: colours(40, rng)[:72])
    m = LookModel()
    assert not any(m.observe(red()) for _ in range(LOOK_INIT_FRAMES + 5))
    assert m.similarity(red()) > 0.9 and m.similarity(blue()) < 0.3
    assert not m.observe(blue())  # one odd look (someone passing in front): no drift
    assert not m.observe(red()) and not m.observe(None)  # unseen torso: no evidence either way
    assert [m.observe(blue()) for _ in range(LOOK_DRIFT_FRAMES)][-1]  # the pose stays on someone else
    # A pose sliding onto the other person over 10 frames, then staying there: flagged at the latest on
    # its second look at the other person, although every look on the way was only a little different
    # (the model is not moved by looks under LOOK_UPDATE_SIM).
    slow = LookModel()
    looks = [red() for _ in range(5)] + [(1 - w) * red() + w * blue() for w in np.linspace(0.1, 0.9, 10)] \
        + [blue() for _ in range(LOOK_DRIFT_FRAMES)]
    assert [slow.observe(a) for a in looks][-1]


@dataclass
class LookDet(AppDet):
    look: np.ndarray | None = None  # (72,) torso colours, like PersonDetection.look
    track_id: int = -1  # the estimator's own track


def test_a_redetected_other_person_does_not_take_the_id():
    """The estimator followed a red person (its track 0) until its pose slid onto a blue person and it
    was dropped; the blue person, re-detected (track 1), is where the red one's pose was last seen. By
    geometry the tracker would carry the red person's ID on; the torso looks (a re-detection less than
    LOOK_SWITCH_SIM like the ID's person) start a new ID, and the colours keep the two apart. Looks
    changing within one estimator track are left to the estimator (its own drift check)."""
    rng = np.random.default_rng(0)

    def frames_(source_after: int, looks: bool = True):
        frames = []
        for k in range(60):
            d = person(200 + k, 300, 200, rng)
            c = 3 if k < 30 else 40
            frames.append([LookDet(d.box, d.score, d.keypoints, d.kp_scores, appearance=colours(c, rng),
                                   look=colours(c, rng)[:72] if looks else None,
                                   track_id=0 if k < 30 else source_after)])
        return frames, np.arange(60) / FPS

    res = track_people(*frames_(1))
    assert res.num_tracks == 2
    first = res.tracks[0]
    assert np.isfinite(first.keypoints[:30, 0, 0]).all() and np.isnan(first.keypoints[30:, 0, 0]).all()
    assert track_people(*frames_(1, looks=False)).num_tracks == 1  # geometry alone: one ID for both
    assert track_people(*frames_(0)).num_tracks == 1  # the same estimator track: not gated here
