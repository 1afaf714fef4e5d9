"""Several people on real video: multi-person pose + tracking + selection, and `analyze --person` (slow)."""
from __future__ import annotations

import json
import subprocess
import sys

from dataclasses import replace

import numpy as np
import pytest

from sportlens.config import MultiPoseSettings, PeopleSettings, SmallPeopleSettings
from sportlens.pose.people import estimate_athletes

from conftest import shared_path

pytestmark = pytest.mark.slow


def centre_x(track) -> np.ndarray:
    """(T,) mean x of the visible joints, NaN where the person is absent."""
    x = track.keypoints[:, :, 0]
    n = np.isfinite(x).sum(axis=1)
    return np.where(n > 0, np.nansum(x, axis=1) / np.maximum(n, 1), np.nan)


SMALL = PeopleSettings(multipose=MultiPoseSettings(small_people=SmallPeopleSettings(enabled=True)))


@pytest.fixture(scope="module")
def demo_people(demo_video):
    return estimate_athletes(demo_video, PeopleSettings(person="most-active"))


@pytest.fixture(scope="module")
def demo_people_small(demo_video):
    """The same with the small-person search on (``--small-people``)."""
    return estimate_athletes(demo_video, replace(SMALL, person="most-active"))


@pytest.fixture(params=["default", "small-people"])
def any_demo_people(request):
    """The checks that must hold with and without the small-person search."""
    return request.getfixturevalue("demo_people" if request.param == "default" else "demo_people_small")


def runs(frames: np.ndarray, max_gap: int = 5) -> list[np.ndarray]:
    """Frame numbers split where the person is missing for more than ``max_gap`` frames."""
    return np.split(frames, np.nonzero(np.diff(frames) > max_gap)[0] + 1)


def test_walker_and_jumper_keep_separate_ids(any_demo_people):
    """sports2d_demo.mp4: a person does jumping jacks on a box (x ~ 550-850 px), somersaults off it at
    frame ~168, is not detected in the air and lands ~28 frames later at x ~ 1150, then walks out at the
    right; another person walks right to left in front of the box (x 1550 -> 0, frames ~57-200).
    The jumper keeps one ID for his whole time on screen (box AND landing), the walker another one,
    and neither track ever holds the other person."""
    demo_people = any_demo_people
    tracks = demo_people.tracking.tracks
    xs = {t.person_id: centre_x(t) for t in tracks}
    jumper = demo_people.selection.tracks[0].person_id
    j_frames = np.nonzero(np.isfinite(xs[jumper]))[0]
    on_box = j_frames[j_frames < 165]
    assert len(on_box) >= 120 and np.all((xs[jumper][on_box] > 450) & (xs[jumper][on_box] < 1000))
    landed = j_frames[j_frames > 200]
    assert len(landed) >= 15 and np.all(xs[jumper][landed] > 1000), "the jumper got another ID after landing"
    for run in runs(j_frames):  # while seen continuously the track moves smoothly: no switch to the walker
        assert np.all(np.abs(np.diff(xs[jumper][run])) < 60), "the jumper's track jumps: an identity switch"
    others = [i for i in xs if i != jumper]
    walker = max(others, key=lambda i: np.isfinite(xs[i]).sum())
    w = xs[walker][np.isfinite(xs[walker])]
    assert len(w) >= 100 and w[0] - w[-1] > 1000  # on screen for ~4 s, crossing the picture: tracked
    assert np.all(np.diff(w) < 40), "the walker's track jumps back: an identity switch"
    ys = {t.person_id: t.keypoints[:, :, 1] for t in tracks}
    heights = {i: np.max(np.where(np.isfinite(y), y, -np.inf), axis=1) - np.min(np.where(np.isfinite(y), y, np.inf),
                                                                              axis=1)
               for i, y in ys.items()}  # (T,) joint span, -inf where absent
    for i in others:  # nobody else holds the landed jumper (a 2nd ID for him; ~370 px tall, unlike the
        x, hgt = xs[i][200:], heights[i][200:]  # ~35 px background person at x ~1480 that --small-people finds)
        assert not np.any((x > 1000) & (hgt > 150)), f"ID {i} holds the jumper after landing"


DOOR = np.array([1484.0, 620.0])  # sports2d_demo.mp4: the background person at the shop door (native px)


def frames_at_door(track) -> int:
    """Frames where ``track`` holds a small pose at the shop door (centre within 80 px of ``DOOR``,
    joints spanning under 150 px in height: the jumper and the walker are ~370 px tall)."""
    kp = track.keypoints  # (T, 33, 2)
    seen = np.isfinite(kp[:, :, 0]).any(axis=1)
    if not seen.any():
        return 0
    centre = np.nanmean(kp[seen], axis=1)  # (S, 2)
    height = np.nanmax(kp[seen][:, :, 1], axis=1) - np.nanmin(kp[seen][:, :, 1], axis=1)  # (S,)
    return int(((np.linalg.norm(centre - DOOR, axis=1) < 80) & (height < 150)).sum())


def test_small_background_person_is_detected_part_of_the_time(demo_people_small):
    """Issue 5's check: "the small background person is detected at least part of the time".

    A person stands at a shop door behind a blue fence (centre ~ (1484, 620) px of 1768x994, only the
    upper body visible, ~35 px tall) for the whole clip. Passing: with the small-person search on
    (``--small-people``, ``sportlens.pose.small_people``), a track that is neither the jumper nor the
    walker holds a pose there (centre within 80 px, joints spanning under 150 px) on at least 10 frames
    (a third of a second: not a one-frame blip). Measured 2026-11-28: one track with a pose there on 63
    frames, 4 tracks in all (frames ~147-229: the rolling scan, one full pass every 3 s, first verified
    him at frame 147; 69 of the 83 frames from there have his pose before tracking), no other small track.

    Without the search nobody is ever tracked there: the bundled detector at 224x224 (whole frame)
    cannot see a ~35 px upper body, and on 960 px frames even zoomed tiles score him <= 0.3 and place
    the face ~20 px off (see the module doc of ``sportlens.pose.small_people``).
    """
    tracks = demo_people_small.tracking.tracks
    jumper = demo_people_small.selection.tracks[0].person_id
    others = [t for t in tracks if t.person_id != jumper]
    walker = max(others, key=lambda t: np.isfinite(centre_x(t)).sum()).person_id if others else None
    door = [frames_at_door(t) for t in tracks if t.person_id not in (jumper, walker)]
    assert max(door, default=0) >= 10, f"the background person has a pose on {max(door, default=0)} frames"
    assert sum(d > 0 for d in door) == 1, "the background person is split over several IDs"
    assert demo_people_small.tracking.num_tracks <= 5  # no ID explosion (measured: 4; 2 without the search)


def test_small_people_search_is_off_by_default_and_finds_nobody_at_the_door(demo_people):
    assert max((frames_at_door(t) for t in demo_people.tracking.tracks), default=0) == 0


@pytest.mark.parametrize("name, most", [("arm_wrestling.mp4", 6), ("golf_swing.mp4", 1)])
def test_small_people_search_adds_no_false_small_tracks(name, most):
    """Videos without small people (arm_wrestling 340x256, two arm wrestlers and a referee cut by the
    border; golf_swing 354x492, one golfer): with the search on no track of a small body (median joint
    span under 80 px: the search's people are ~0.5 tile = ~40 px) appears. Measured 2026-11-28 (tracks,
    median heights): arm_wrestling 3 tracks (214, 136, 342 px; 4 without the search), golf_swing 1 (296 px;
    the same without). Since the identity-drift check (``pose.multiperson``, a pose sliding onto the other
    wrestler ends its ID) arm_wrestling has 6 tracks with and without the search (143, 235, 314, 95, 134,
    216 px with it): the bound follows, the small-body check is unchanged."""
    res = estimate_athletes(shared_path(f"videos/{name}"), replace(SMALL, person="all"))
    heights = []
    for t in res.tracking.tracks:
        seen = np.isfinite(t.keypoints[:, :, 1]).any(axis=1)
        y = t.keypoints[seen][:, :, 1]
        heights.append(float(np.median(np.nanmax(y, axis=1) - np.nanmin(y, axis=1))))
    assert 1 <= res.tracking.num_tracks <= most, heights
    assert min(heights) >= 80, f"a small (false) track: median heights {heights}"


def test_most_active_is_the_jumping_jacks_person(any_demo_people):
    sel = any_demo_people.selection
    assert sel.mode == "most-active" and len(sel.tracks) == 1
    x = centre_x(sel.tracks[0])
    first = x[np.isfinite(x)][:30]  # the jumping jacks happen first, on the box
    assert 500 < np.median(first) < 800
    assert "most movement" in sel.reason


@pytest.fixture(scope="module")
def arm_people():
    return estimate_athletes(shared_path("videos/arm_wrestling.mp4"), PeopleSettings(person="all"))


def test_arm_wrestling_two_people_with_a_pose_on_most_frames(arm_people):
    res = arm_people
    present = sorted((np.isfinite(t.keypoints[:, :, 0]).any(axis=1).mean() for t in res.tracking.tracks),
                     reverse=True)
    assert len(present) >= 2, f"only {len(present)} person tracked"
    # Close-ups cut by the frame border, motion blur and corrupt frames (~230-260). With detection only
    # every 5 frames the two main IDs had a pose on 52 % / 49 % of frames; searching for a person just
    # lost 1, 2, 4 and 8 frames later (MultiPoseSettings.redetect_frames) gives 66 % / 65 % (measured).
    assert present[0] > 0.5 and present[1] > 0.5, f"the two main IDs have a pose on {present[0]:.0%} / " \
                                                   f"{present[1]:.0%} of frames"
    two_or_more = np.mean([np.sum([np.isfinite(t.keypoints[i, :, 0]).any() for t in res.tracking.tracks]) >= 2
                           for i in range(len(res.primary.times))])
    assert two_or_more >= 0.5, f"two people posed on only {two_or_more:.0%} of frames"
    assert res.tracking.num_tracks <= 8  # no ID explosion (was 14 before duplicate suppression)


def torso_brightness(image_rgb: np.ndarray, kp: np.ndarray) -> float:
    """Mean grey level of the torso patch inside the picture (the central 60 % x 80 % of the box of the
    shoulders and hips, clipped to the image), NaN when under 64 pixels of it are in the picture."""
    p = kp[[11, 12, 23, 24]]
    if not np.isfinite(p).all():
        return float("nan")
    H, W = image_rgb.shape[:2]
    c, half = (p.min(0) + p.max(0)) / 2, np.maximum((p.max(0) - p.min(0)) / 2 * [0.6, 0.8], 2)
    x0, x1 = (int(np.clip(v, 0, W)) for v in (c[0] - half[0], c[0] + half[0]))
    y0, y1 = (int(np.clip(v, 0, H)) for v in (c[1] - half[1], c[1] + half[1]))
    return float(image_rgb[y0:y1, x0:x1].mean()) if (x1 - x0) * (y1 - y0) >= 64 else float("nan")


def test_arm_wrestling_ids_stay_on_one_wrestler(arm_people):
    """arm_wrestling.mp4: a white-shirted wrestler on the left, a black-shirted one on the right, hands
    locked in the middle. Between detections the landmark model's ROI used to follow the locked arms onto
    the other wrestler (track 3 was on the right wrestler in frames 20-65 and on the left one in 108-171;
    torso brightness consistent on 52 % / 64 % of the labelled frames of the two main IDs). Every track
    posed on >= 20 % of frames must now stay on one wrestler: its torso patch is white (grey >= 120) or
    black (<= 70) consistently on >= 90 % of its frames that are either (poses on the locked arms, 70-120,
    count for neither). Measured 2026-11-28: 99 % (black, 180 posed frames), 96 % (white, 159)."""
    import cv2

    cap = cv2.VideoCapture(str(shared_path("videos/arm_wrestling.mp4")))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    main = 0
    for t in arm_people.tracking.tracks:
        posed = np.nonzero(np.isfinite(t.keypoints[:, :, 0]).any(axis=1))[0]
        if len(posed) < 0.2 * len(t.keypoints):
            continue
        main += 1
        v = np.array([torso_brightness(frames[int(t.frame_index[i])], t.keypoints[i]) for i in posed
                      if int(t.frame_index[i]) < len(frames)])
        white, black = int(np.sum(v >= 120)), int(np.sum(v <= 70))
        assert white + black >= 30, f"ID {t.person_id}: too few frames to judge ({white} white, {black} black)"
        share = max(white, black) / (white + black)
        assert share >= 0.9, f"ID {t.person_id} is on both wrestlers: {white} white-shirt and {black} " \
                             f"black-shirt frames ({share:.0%} consistent)"
    assert main >= 2


def test_analyze_person_cli(demo_video, tmp_path):
    out = tmp_path / "all"
    done = subprocess.run([sys.executable, "-m", "sportlens", "analyze", str(demo_video), "--person", "all",
                           "--no-video", "--end", "3", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    people = json.loads((out / "summary.json").read_text())["people"]
    assert people["mode"] == "all" and people["num_tracks"] >= 1
    assert people["primary"] in people["selected"]
    assert all("metrics" in people["per_person"][str(i)] for i in people["selected"])
    assert "People in the video" in (out / "report.html").read_text()
    bad = subprocess.run([sys.executable, "-m", "sportlens", "analyze", str(demo_video), "--person", "99",
                          "--end", "1", "--no-video", "--out", str(tmp_path / "bad")], capture_output=True,
                         text=True, timeout=600)
    assert bad.returncode != 0 and "available IDs" in " ".join(bad.stderr.split())
    assert "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())  # nothing half-written
    for args, message in [(["--person", "tallest"], "is not valid"), (["--small-people"], "needs --person"),
                          (["--detector", str(tmp_path / "none.pt"), "--person", "auto"], "none.pt")]:
        bad = subprocess.run([sys.executable, "-m", "sportlens", "analyze", str(demo_video), *args, "--out",
                              str(tmp_path / "bad2")], capture_output=True, text=True, timeout=120)
        assert bad.returncode != 0 and message in " ".join(bad.stderr.split()), bad.stderr
        assert "Traceback" not in bad.stderr


def test_tracks_command_writes_video_sheet_and_json(demo_video, tmp_path):
    out = tmp_path / "tracks"
    done = subprocess.run([sys.executable, "-m", "sportlens", "tracks", str(demo_video), "--end", "3", "--out",
                           str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "people tracked" in done.stdout and "contact sheet:" in done.stdout
    info = json.loads((out / "tracks.json").read_text())
    assert info["num_tracks"] >= 1 and info["mode"] == "auto" and info["reason"]
    assert (out / "tracks.mp4").stat().st_size > 10_000 and (out / "contact_sheet.png").stat().st_size > 10_000
    from sportlens.video import probe

    assert 85 <= probe(out / "tracks.mp4").frame_count <= 92  # 3 s at 30 fps


def test_analyze_with_a_trained_detector_file(demo_video, tmp_path):
    """--detector PATH swaps the bundled person detector (an untrained one here: the pipeline must run and
    report, whatever it finds)."""
    import torch

    from sportlens.engine.checkpoint import save_checkpoint
    from sportlens.models import create_model

    kw = {"num_classes": 1, "image_size": 160, "width": 0.125, "depth": 0.33}
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "det.pt", model_name="yolov5s_cbam", model_kwargs=kw,
                           model=create_model("yolov5s_cbam", **kw), classes=["person"], data_spec={}, epoch=0,
                           metrics={}, config={})
    out = tmp_path / "det"
    done = subprocess.run([sys.executable, "-m", "sportlens", "analyze", str(demo_video), "--person", "auto",
                           "--detector", str(ckpt), "--end", "1", "--no-video", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    people = json.loads((out / "summary.json").read_text())["people"]
    assert people["mode"] == "auto" and "detector" in json.loads((out / "summary.json").read_text())["settings"][
        "people"]
