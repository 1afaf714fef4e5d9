"""Tests of sportlens.report.tracks: the multi-person overlay video and the contact sheet (fast:
a 2 s 320x240 synthetic video and hand-made tracks)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sportlens.report.tracks import (
    GAP,
    HEADER_HEIGHT,
    TILE_WIDTH,
    contact_sheet,
    id_colour,
    render_tracks_video,
    representative_row,
    sheet_size,
)
from sportlens.skeletons import get_skeleton
from sportlens.types import PoseTrack
from sportlens.video import VideoReader, VideoWriter

W, H, FPS, T = 320, 240, 15.0, 30
TIMES = np.arange(T) / FPS


def _frames() -> list[np.ndarray]:
    """Grey gradient with a dark green and a grey rectangle moving: no colour near the ID colours."""
    base = np.linspace(30, 90, W, dtype=np.uint8)[None, :, None].repeat(H, 0).repeat(3, 2)
    out = []
    for k in range(T):
        img = base.copy()
        x = (k * 7) % (W - 40)
        img[10:40, x:x + 40] = (0, 80, 0)
        img[200:230, W - 40 - x:W - x] = (128, 128, 128)
        out.append(img)
    return out


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tracks_video") / "clip.mp4"
    with VideoWriter(path, W, H, FPS) as w:
        for img in _frames():
            w.write(img)
    return path


def _figure(box: np.ndarray) -> np.ndarray:
    """coco17 keypoints of a standing figure filling ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    cx, w, h = (x0 + x1) / 2, x1 - x0, y1 - y0
    rel = {  # (dx in box widths from centre, dy in box heights from top)
        "nose": (0, 0.08), "left_eye": (0.05, 0.06), "right_eye": (-0.05, 0.06),
        "left_ear": (0.1, 0.07), "right_ear": (-0.1, 0.07),
        "left_shoulder": (0.25, 0.22), "right_shoulder": (-0.25, 0.22),
        "left_elbow": (0.35, 0.4), "right_elbow": (-0.35, 0.4),
        "left_wrist": (0.4, 0.55), "right_wrist": (-0.4, 0.55),
        "left_hip": (0.15, 0.55), "right_hip": (-0.15, 0.55),
        "left_knee": (0.17, 0.75), "right_knee": (-0.17, 0.75),
        "left_ankle": (0.18, 0.95), "right_ankle": (-0.18, 0.95),
    }
    skel = get_skeleton("coco17")
    return np.array([[cx + rel[j][0] * w, y0 + rel[j][1] * h] for j in skel.joints])


def _track(pid: int, boxes: np.ndarray) -> PoseTrack:
    kp = np.full((T, 17, 2), np.nan)
    sc = np.zeros((T, 17))
    for k in range(T):
        if np.isfinite(boxes[k]).all():
            kp[k] = _figure(boxes[k])
            sc[k] = 0.9
    return PoseTrack(kp, sc, TIMES.copy(), "coco17", person_id=pid, frame_index=np.arange(T))


@pytest.fixture(scope="module")
def people() -> tuple[list[PoseTrack], dict[int, np.ndarray]]:
    """ID 1 walks right over all frames; ID 2 stands right in frames 10-19; ID 3 is never seen."""
    b1 = np.array([[20 + 3 * k, 50, 100 + 3 * k, 220] for k in range(T)], dtype=np.float64)
    b2 = np.full((T, 4), np.nan)
    b2[10:20] = (220, 60, 300, 220)
    b3 = np.full((T, 4), np.nan)
    boxes = {1: b1, 2: b2, 3: b3}
    tracks = [_track(pid, b) for pid, b in boxes.items()]
    tracks[0].keypoints[12, 5:] = np.nan  # fewer joints in frame 12: not the representative one
    return tracks, boxes


def _near(img: np.ndarray, colour, box, tol: float = 60.0) -> int:
    """Pixels of ``img`` within ``box`` (x0, y0, x1, y1) whose RGB is within ``tol`` of ``colour``."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    roi = img[max(0, y0):y1, max(0, x0):x1].astype(np.float64)
    return int((np.linalg.norm(roi - np.array(colour, dtype=np.float64), axis=-1) < tol).sum())


def _no_leftovers(folder: Path) -> None:
    left = [p.name for p in folder.iterdir() if p.name.startswith(".") or p.name.endswith((".tmp", ".part.mp4"))]
    assert not left, left


def test_id_colour_stable_and_distinct():
    cols = [id_colour(i) for i in range(1, 31)]
    assert cols == [id_colour(i) for i in range(1, 31)]
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in cols)
    first = np.array(cols[:12], dtype=np.float64)
    d = np.linalg.norm(first[:, None] - first[None], axis=-1) + np.eye(12) * 1e9
    assert d.min() > 40  # the palette's colours are told apart at a glance
    assert len(set(cols)) == 30


@pytest.mark.parametrize("workers, chunk_seconds, max_side", [(1, 20.0, 960), (2, 1.0, 160)])
def test_tracks_video_frames_and_colours(video, people, tmp_path, workers, chunk_seconds, max_side):
    tracks, boxes = people
    out = tmp_path / "tracks.mp4"
    ticks = []
    res = render_tracks_video(video, tracks, boxes, out, max_side=max_side, progress=ticks.append,
                              workers=workers, chunk_seconds=chunk_seconds)
    assert res == out and out.exists()
    frames = [f for f in VideoReader(out)]
    assert len(frames) == T and sum(ticks) == T
    s = frames[0].image.shape[1] / W  # overlay may be downscaled
    assert frames[0].image.shape[:2] == (round(H * s), round(W * s))
    blue, orange = id_colour(2), id_colour(1)
    for f in frames:
        k = int(round(f.time * FPS))
        assert _near(f.image, orange, boxes[1][k] * s) > 40 * s, k  # ID 1 everywhere, in its colour
        inside2 = _near(f.image, blue, np.array([220, 60, 300, 220]) * s)
        if 10 <= k < 20:
            assert inside2 > 40 * s, k
        else:
            assert inside2 < 5, k  # no ID 2 drawn where it is absent: frames are in sync
    _no_leftovers(tmp_path)


def test_tracks_video_range(video, people, tmp_path):
    tracks, boxes = people
    out = tmp_path / "sub" / "range.mp4"
    render_tracks_video(video, tracks, boxes, out, start=0.4, end=1.4, workers=1)
    frames = list(VideoReader(out))
    # output timestamps restart at 0: frame j of the output is source frame 6 + j
    assert len(frames) == 15
    for j, f in enumerate(frames):
        k = 6 + j
        inside2 = _near(f.image, id_colour(2), (220, 60, 300, 220))
        assert (inside2 > 40) == (10 <= k < 20), (j, k, inside2)
    _no_leftovers(out.parent)


def test_representative_row(people):
    tracks, boxes = people
    r1 = representative_row(tracks[0], boxes)
    assert r1 in (14, 15)  # the middle of 0..29, all joints there
    assert representative_row(tracks[0], boxes, start=0.0, end=13 / FPS) == 6
    assert representative_row(tracks[1], boxes) in (14, 15)
    assert representative_row(tracks[2], boxes) is None
    # frame 12 lacks joints: never chosen even when it is the middle of the range
    assert representative_row(tracks[0], boxes, start=10 / FPS, end=15 / FPS) != 12


def _png(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def test_contact_sheet_tiles(video, people, tmp_path):
    tracks, boxes = people
    stats = {1: {"present": "100 %", "activity": 12.34, "height px": 170.0},
             2: {"present": "33 %", "activity": 3.0, "height px": 160.0}}
    out = tmp_path / "sheet.png"
    assert contact_sheet(video, tracks, boxes, out, stats=stats) == out
    img = _png(out)
    w, h, cols = sheet_size(3, 3)
    assert (img.shape[1], img.shape[0]) == (w, h) and cols == 3
    assert w == 3 * TILE_WIDTH + 4 * GAP  # three tiles in a row, the absent ID 3 included (marked)
    for n, pid in enumerate((1, 2, 3)):
        x0 = GAP + n * (TILE_WIDTH + GAP)
        header = img[GAP + 2:GAP + 8, x0 + 2:x0 + 8].reshape(-1, 3).astype(int)
        assert (np.abs(header - np.array(id_colour(pid))) <= 2).all(), pid  # the ID's colour band
    # the crops show the person drawn in their colour; the absent one is a plain grey panel
    crop_h = h - 2 * GAP - HEADER_HEIGHT - 3 * 24 - GAP
    for n, pid in enumerate((1, 2)):
        x0 = GAP + n * (TILE_WIDTH + GAP)
        crop = img[GAP + HEADER_HEIGHT:GAP + HEADER_HEIGHT + crop_h, x0:x0 + TILE_WIDTH]
        assert _near(crop, id_colour(pid), (0, 0, TILE_WIDTH, crop_h), tol=40) > 200, pid
    x0 = GAP + 2 * (TILE_WIDTH + GAP)
    absent = img[GAP + HEADER_HEIGHT:GAP + HEADER_HEIGHT + crop_h, x0:x0 + TILE_WIDTH]
    assert (absent == 60).all(axis=-1).mean() > 0.9
    # stats lines are written (light text under the crop of tile 1, none under the absent one)
    text1 = img[GAP + HEADER_HEIGHT + crop_h:GAP + h, GAP:GAP + TILE_WIDTH]
    text3 = img[GAP + HEADER_HEIGHT + crop_h:h - GAP, x0:x0 + TILE_WIDTH]
    assert (text1.min(axis=-1) > 200).sum() > 50
    assert (text3.min(axis=-1) > 200).sum() == 0
    _no_leftovers(tmp_path)


def test_contact_sheet_skip_absent_and_range(video, people, tmp_path):
    tracks, boxes = people
    out = tmp_path / "sheet2.png"
    contact_sheet(video, tracks, boxes, out, skip_absent=True)
    img = _png(out)
    w, h, _ = sheet_size(2, 0)
    assert (img.shape[1], img.shape[0]) == (w, h)
    # a range where ID 2 is absent: with skip_absent only ID 1 remains
    contact_sheet(video, tracks, boxes, out, start=0.0, end=0.5, skip_absent=True)
    img = _png(out)
    assert (img.shape[1], img.shape[0]) == sheet_size(1, 0)[:2]
    contact_sheet(video, [], {}, out)  # nobody: still a readable (small) sheet
    assert _png(out).shape[1] == sheet_size(1, 0)[0]
    _no_leftovers(tmp_path)
