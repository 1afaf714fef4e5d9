"""Multi-person pose (sportlens.pose.multiperson): decoding and geometry on hand-made inputs, then
slow checks on real frames against the legacy single-person mediapipe pipeline."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from sportlens.config import MultiPoseSettings
from sportlens.pose import multiperson as mpp
from sportlens.pose.multiperson import (MultiPoseEstimator, PersonDetection, Roi, box_iou, decode_detections,
                                        refine_from_heatmap, roi_from_box, roi_from_keypoints, ssd_anchors,
                                        weighted_nms)

from conftest import shared_path


# ---------------------------------------------------------------------------------------------
# anchors and SSD decoding
# ---------------------------------------------------------------------------------------------

def test_anchor_count_and_values():
    a = ssd_anchors()  # (2254, 2)
    assert a.shape == (2254, 2)
    # 28x28 grid (stride 8), 2 anchors per cell, row-major, the anchors of a cell consecutive
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [1.5 / 28, 0.5 / 28])  # next column
    np.testing.assert_allclose(a[2 * 28], [0.5 / 28, 1.5 / 28])  # next row
    # 14x14 grid (stride 16) starts after 784 * 2 anchors
    np.testing.assert_allclose(a[1568], [0.5 / 14, 0.5 / 14])
    # the three stride-32 layers share one 7x7 grid with 6 anchors per cell
    np.testing.assert_allclose(a[1568 + 392], [0.5 / 7, 0.5 / 7])
    np.testing.assert_allclose(a[1568 + 392 + 5], [0.5 / 7, 0.5 / 7])
    np.testing.assert_allclose(a[1568 + 392 + 6], [1.5 / 7, 0.5 / 7])
    np.testing.assert_allclose(a[-1], [6.5 / 7, 6.5 / 7])


def test_decode_hand_made_outputs():
    anchors = ssd_anchors()
    raw = np.zeros((2254, 12), np.float32)
    logits = np.full((2254, 1), -10.0, np.float32)
    k = 1568 + 5 * 2 * 14 + 3 * 2  # 14x14 grid, row 5, column 3 -> centre (3.5/14, 5.5/14)
    ax, ay = 3.5 / 14, 5.5 / 14
    np.testing.assert_allclose(anchors[k], [ax, ay])
    # box: centre offset (+22.4, -11.2) px of 224, size 44.8 x 67.2 px; keypoints at offsets
    raw[k] = [22.4, -11.2, 44.8, 67.2, 0, 0, 0, -44.8, 11.2, 0, 0, 22.4]
    logits[k] = 2.0
    logits[0] = 500.0  # clipped to 100 before the sigmoid: score 1, not an overflow
    boxes, kps, scores = decode_detections(raw, logits, anchors, min_score=0.5)
    assert len(scores) == 2
    i = int(np.argmin(np.abs(scores - 1 / (1 + math.exp(-2.0)))))
    cx, cy = ax + 0.1, ay - 0.05
    np.testing.assert_allclose(boxes[i], [cx - 0.1, cy - 0.15, cx + 0.1, cy + 0.15], atol=1e-6)
    np.testing.assert_allclose(kps[i], [[ax, ay], [ax, ay - 0.2], [ax + 0.05, ay], [ax, ay + 0.1]], atol=1e-6)
    assert scores[1 - i] == pytest.approx(1.0)


def test_weighted_nms_merges_overlaps_and_keeps_others():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [5.0, 5.0, 6.0, 6.0]])
    kps = np.array([[[0.0, 0.0]], [[1.0, 1.0]], [[5.0, 5.0]]])  # (3, 1, 2)
    scores = np.array([0.9, 0.3, 0.6])
    b, k, s = weighted_nms(boxes, kps, scores, iou_threshold=0.3)
    assert s.tolist() == [0.9, 0.6]  # the group keeps its best score
    np.testing.assert_allclose(b[0], (0.9 * boxes[0] + 0.3 * boxes[1]) / 1.2)  # score-weighted mean
    np.testing.assert_allclose(k[0, 0], [0.25, 0.25])
    np.testing.assert_allclose(b[1], boxes[2])
    assert weighted_nms(np.zeros((0, 4)), np.zeros((0, 4, 2)), np.zeros(0))[2].shape == (0,)


def test_box_iou():
    iou = box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 0, 3, 2], [5, 5, 6, 6], [0, 0, 2, 2]]))
    np.testing.assert_allclose(iou, [[1 / 3, 0.0, 1.0]])


# ---------------------------------------------------------------------------------------------
# ROI geometry
# ---------------------------------------------------------------------------------------------

def test_roi_from_keypoints_upright_and_lying():
    up = roi_from_keypoints(np.array([100.0, 200.0]), np.array([100.0, 120.0]))  # scale point above the hip
    assert (up.cx, up.cy) == (100.0, 200.0)
    assert up.side == pytest.approx(2 * 80 * 1.25)
    assert up.rotation == pytest.approx(0.0)
    lying = roi_from_keypoints(np.array([100.0, 200.0]), np.array([180.0, 200.0]))  # head to the right
    assert lying.rotation == pytest.approx(math.pi / 2)
    # the crop's "up" (top centre) maps to the side of the scale point: the body is upright in the crop
    top = lying.to_image(np.array([128.0, 0.0]))
    np.testing.assert_allclose(top, [100 + lying.side / 2, 200.0], atol=1e-9)


def test_detection_squares():
    (one,) = mpp.detection_squares(400, 300, 1.0)  # mediapipe's letterbox square
    assert (one.cx, one.cy, one.side) == (200.0, 150.0, 400.0)
    (big,) = mpp.detection_squares(400, 300, 2.0)
    assert big.side == 800.0
    tiles = mpp.detection_squares(400, 300, 0.5)  # side 200, overlapping by half, covering the frame
    assert sorted({t.cx for t in tiles}) == [100.0, 200.0, 300.0]
    assert sorted({t.cy for t in tiles}) == [100.0, 200.0]
    assert all(t.side == 200.0 for t in tiles)


def test_roi_from_box():
    r = roi_from_box(np.array([10.0, 20.0, 110.0, 220.0]))
    assert (r.cx, r.cy, r.rotation) == (60.0, 120.0, 0.0)
    assert r.side == pytest.approx(200 * 1.25)


@pytest.mark.parametrize("rotation", [0.0, 0.4, -2.0, math.pi])
def test_roi_round_trip(rotation):
    roi = Roi(321.5, 150.25, 180.0, rotation)
    uv = np.random.default_rng(0).uniform(-20, 280, size=(39, 2))  # (39, 2) crop pixels, some outside
    np.testing.assert_allclose(roi.to_crop(roi.to_image(uv)), uv, atol=1e-9)
    np.testing.assert_allclose(roi.to_image(np.array([128.0, 128.0])), [roi.cx, roi.cy], atol=1e-9)
    # crop corners are the rotated square's corners: distance side/sqrt(2) from the centre
    corners = roi.to_image(np.array([[0.0, 0.0], [256.0, 0.0], [256.0, 256.0], [0.0, 256.0]]))
    np.testing.assert_allclose(np.linalg.norm(corners - [roi.cx, roi.cy], axis=1), roi.side / math.sqrt(2))


class _DotLandmarkModel:
    """Stands in for the landmark model: landmark 0 and the hip centre (33) on the brightest pixel
    of the crop, the other body landmarks on a 100 x 200 crop-pixel rectangle around it, the scale
    point (34) 100 crop px above, flag 0.9. Checks the crop -> landmarks -> image path on exact geometry."""

    output_shapes = {"lm": (1, 195), "flag": (1, 1)}

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        img = x[0].mean(-1)  # (256, 256)
        v, u = np.unravel_index(np.argmax(img), img.shape)
        lm = np.zeros((39, 5), np.float32)
        corners = np.array([[-50, -100], [50, -100], [50, 100], [-50, 100]], np.float32)
        lm[1:33, :2] = np.array([u, v], np.float32) + corners[np.arange(32) % 4]
        lm[[0, 33], 0], lm[[0, 33], 1] = u, v
        lm[34, :2] = u, v - 100
        lm[:, 3] = 5.0  # visibility logit
        return {"lm": lm.reshape(1, 195), "flag": np.array([[0.9]], np.float32)}


class _BoxDetector:
    def __init__(self, boxes):
        self.boxes = np.asarray(boxes, np.float64)
        self.calls = 0

    def detect(self, image):
        self.calls += 1
        return self.boxes, np.full(len(self.boxes), 0.9)


def _with_dot_model(**kwargs) -> MultiPoseEstimator:
    est = MultiPoseEstimator(**kwargs)
    est._lm, est._lm_names = _DotLandmarkModel(), {"landmarks": "lm", "flag": "flag"}
    return est


@pytest.mark.parametrize("rotation", [0.0, 0.7, -1.9])
def test_crop_landmarks_back_to_image(rotation):
    est = _with_dot_model(detector=_BoxDetector([]))
    img = np.zeros((300, 400, 3), np.uint8)
    dot = np.array([233.0, 121.0])
    img[int(dot[1]), int(dot[0])] = 255
    img = cv2.GaussianBlur(img, (5, 5), 1.0)  # a blob: its brightest crop pixel is the dot's image
    roi = Roi(200.0, 150.0, 256.0, rotation)  # 1 crop px = 1 image px
    lm = est.landmarks(img, roi)
    np.testing.assert_allclose(lm.xy[0], dot, atol=1.0)
    assert lm.flag == pytest.approx(0.9)
    assert lm.visibility[0] == pytest.approx(1 / (1 + math.exp(-5)))


def test_refine_from_heatmap():
    hm = np.full((64, 64, 2), -20.0, np.float32)  # sigmoid ~ 0 everywhere
    hm[10, 20, 0] = 20.0  # one confident cell (row 10, column 20) for landmark 0
    hm[11, 20, 0] = 20.0  # and its neighbour below: weighted mean row 10.5
    uv = np.array([[21 * 4.0, 10 * 4.0], [100.0, 100.0]])  # crop px; 4 crop px per heatmap cell
    out = refine_from_heatmap(uv, hm)
    np.testing.assert_allclose(out[0], [20 * 4.0, 10.5 * 4.0], atol=1e-3)
    np.testing.assert_allclose(out[1], uv[1])  # not confident: unchanged


def test_external_detector_roi_from_box_and_no_duplicates():
    det = _BoxDetector([[150.0, 60.0, 250.0, 260.0]])
    est = _with_dot_model(detector=det, detect_every=1)
    rois = est.detect(np.zeros((300, 400, 3), np.uint8))
    assert len(rois) == 1 and rois[0][0].side == pytest.approx(250.0) and rois[0][0].cx == 200.0
    img = np.zeros((300, 400, 3), np.uint8)
    img[170, 200] = 255
    img = cv2.GaussianBlur(img, (7, 7), 1.5)  # a blob whose brightest point is (200, 170) at any crop scale
    for _ in range(4):  # the detector fires every frame and always sees the same, already tracked person
        people = est.estimate_people(img)
        assert len(people) == 1
        assert isinstance(people[0], PersonDetection) and people[0].keypoints.shape == (33, 2)
        np.testing.assert_allclose(people[0].keypoints[0], [200, 170], atol=1.5)
    assert det.calls == 1 + 4 and people[0].track_id == 0  # one direct call, then one per frame


class _BlankAwareDotModel(_DotLandmarkModel):
    """The dot model, with a pose flag of 0 on a crop with nothing in it (the person is gone)."""

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        out = super().run(x)
        out["flag"] = np.array([[0.9 if x.max() > 0.05 else 0.0]], np.float32)
        return out


def _blobs(*xs: float) -> np.ndarray:
    img = np.zeros((300, 400, 3), np.uint8)
    for x in xs:
        img[150, int(x)] = 255
    return cv2.GaussianBlur(img, (7, 7), 1.5)


@pytest.mark.parametrize("redetect_frames, counts, calls", [(3, [2, 2, 1, 2, 2, 2], 2), (0, [2, 2, 1, 1, 1, 1], 1)])
def test_a_lost_person_is_searched_for_on_the_next_frames(redetect_frames, counts, calls):
    """Two people, the right one unseen for one frame (frame 2): with re-detection the detector runs on
    frame 3 and finds them again at once (then stops: everyone is back), without it only at frame 10."""
    det = _BoxDetector([[50.0, 50.0, 150.0, 250.0], [250.0, 50.0, 350.0, 250.0]])
    est = MultiPoseEstimator(detector=det, detect_every=10, redetect_frames=redetect_frames)
    est._lm, est._lm_names = _BlankAwareDotModel(), {"landmarks": "lm", "flag": "flag"}
    frames = [_blobs(100, 300), _blobs(100, 300), _blobs(100), _blobs(100, 300), _blobs(100, 300), _blobs(100, 300)]
    assert [len(est.estimate_people(f)) for f in frames] == counts
    assert det.calls == calls


def test_redetection_backs_off_and_stops_after_redetect_frames():
    det = _BoxDetector([[50.0, 50.0, 150.0, 250.0], [250.0, 50.0, 350.0, 250.0]])
    est = MultiPoseEstimator(detector=det, detect_every=100, redetect_frames=8)
    est._lm, est._lm_names = _BlankAwareDotModel(), {"landmarks": "lm", "flag": "flag"}
    for f in [_blobs(100, 300)] + [_blobs(100)] * 20:  # the right person leaves for good at frame 1
        est.estimate_people(f)
    assert det.calls == 1 + 4  # frame 0, then 1, 2, 4 and 8 frames after the loss (frames 2, 3, 5, 9)


def test_settings_defaults_are_the_constructor_defaults():
    s = MultiPoseSettings()
    assert mpp._DEFAULTS == s
    with pytest.raises(ValueError):
        MultiPoseEstimator(max_people=0)


# ---------------------------------------------------------------------------------------------
# real models, real frames (slow)
# ---------------------------------------------------------------------------------------------

def _frames(path, n, max_side=960):
    from sportlens.video import VideoReader

    return [f.image for f, _ in zip(VideoReader(path, max_side=max_side), range(n))]


@pytest.mark.slow
def test_same_person_as_legacy_pipeline(demo_video):
    """Threshold: on frames where both see the person, the median (over frames) of the median joint
    distance is < 2 % of the person's height, and 90 % of the frames are < 5 %; the multi-person
    result contains the legacy person on >= 90 % of the legacy's frames."""
    from sportlens.pose.blazepose import BlazePoseEstimator

    frames = _frames(demo_video, 120)
    legacy = BlazePoseEstimator()
    est = MultiPoseEstimator()
    rel, legacy_frames = [], 0
    for img in frames:
        kp, _ = legacy.estimate(img)  # (33, 2)
        people = est.estimate_people(img)
        if not np.isfinite(kp).all():
            continue
        legacy_frames += 1
        if not people:
            continue
        height = np.ptp(kp[:, 1])
        d = min(np.median(np.linalg.norm(p.keypoints - kp, axis=1)) for p in people)
        rel.append(d / height)
    legacy.close()
    rel = np.array(rel)
    assert legacy_frames > 90
    assert np.mean(rel < 0.05) * len(rel) >= 0.9 * legacy_frames
    assert np.median(rel) < 0.02, np.median(rel)
    assert np.percentile(rel, 90) < 0.05


@pytest.mark.slow
def test_two_people_arm_wrestling():
    path = shared_path("videos/arm_wrestling.mp4")
    frames = _frames(path, 10_000, max_side=0)
    est = MultiPoseEstimator.from_settings(MultiPoseSettings(min_detection_score=0.3, detect_every=5))
    counts = np.array([len(est.estimate_people(f)) for f in frames])
    assert len(frames) > 200
    assert np.mean(counts >= 2) > 0.5, np.bincount(counts)


@pytest.mark.slow
def test_bad_inputs_do_not_crash(demo_video):
    frames = _frames(demo_video, 60)
    est = MultiPoseEstimator(max_people=5, detect_every=1)
    # blank frames: nobody
    assert est.estimate_people(np.zeros((540, 960, 3), np.uint8)) == []
    assert est.estimate_people(np.full((540, 960, 3), 255, np.uint8)) == []
    # find the person once, then tile 5 x 5 = 25 small copies of the region around them
    people = [p for f in frames for p in est.estimate_people(f)]
    assert people
    x0, y0, x1, y1 = people[-1].box.astype(int)
    img = frames[-1]
    pad = 30
    patch = img[max(0, y0 - pad):y1 + pad, max(0, x0 - pad):x1 + pad]  # (h, w, 3)
    crowd = np.concatenate([np.concatenate([patch] * 5, axis=1)] * 5, axis=0)  # 25 people
    # At 224x224 the copies are too small for the detector (it finds none, measured); tiles of 0.4 x
    # the frame's longer side make them big enough (16 of the 25 found with room for 30, measured).
    for max_people, least in ((5, 3), (30, 10)):
        est = MultiPoseEstimator(max_people=max_people, detect_every=1, detect_zoom=(1.0, 0.4))
        for _ in range(2):
            found = est.estimate_people(crowd)
            assert least <= len(found) <= max_people
            for p in found:
                assert p.keypoints.shape == (33, 2) and p.kp_scores.shape == (33,)
                assert np.all((p.kp_scores >= 0) & (p.kp_scores <= 1))
        est.close()
    est = MultiPoseEstimator(max_people=5, detect_every=1)
    # a person cut by the frame border (left half of the frame only), and a very small frame
    est.reset()
    cut = np.ascontiguousarray(img[:, : (x0 + x1) // 2])
    for _ in range(3):
        est.estimate_people(cut)
    tiny = cv2.resize(img, (48, 27), interpolation=cv2.INTER_AREA)
    for _ in range(3):
        est.estimate_people(tiny)
    assert est.estimate_people(np.zeros((2, 2, 3), np.uint8)) == []


@pytest.mark.slow
def test_video_function(demo_video):
    calls = []
    res = mpp.estimate_people_video(demo_video, MultiPoseSettings(), start=2.0, end=3.0, progress=calls.append)
    assert len(res.people) == len(res.times) == len(res.frame_index) == sum(calls) > 20
    assert np.all(np.diff(res.times) > 0)
    assert res.counts.max() >= 1
    p = next(p for ppl in res.people for p in ppl)
    # pixels of the ORIGINAL 1768 x 994 frame (the reader scaled to 960)
    assert np.nanmax(p.keypoints[:, 0]) > 960 * 0.3 and p.keypoints.shape == (33, 2)
    assert all(q.appearance is not None and q.appearance.shape == (mpp.APPEARANCE_DIM,)
               for ppl in res.people for q in ppl)


# ---------------------------------------------------------------------------------------------
# appearance descriptor
# ---------------------------------------------------------------------------------------------

def painted_person(image: np.ndarray, x: float, y: float, h: float, top: tuple, legs: tuple):
    """Paint a person (torso colour ``top``, upper legs ``legs``, RGB) of height h with the hips at
    (x, y); returns BlazePose (33, 2) keypoints, (33,) scores and the box."""
    kp = np.full((33, 2), np.nan)
    sc = np.zeros(33)
    kp[11], kp[12] = (x - 0.12 * h, y - 0.3 * h), (x + 0.12 * h, y - 0.3 * h)  # shoulders
    kp[23], kp[24] = (x - 0.08 * h, y), (x + 0.08 * h, y)  # hips
    kp[25], kp[26] = (x - 0.09 * h, y + 0.25 * h), (x + 0.09 * h, y + 0.25 * h)  # knees
    sc[[11, 12, 23, 24, 25, 26]] = 0.9
    image[int(y - 0.32 * h):int(y + 0.02 * h), int(x - 0.14 * h):int(x + 0.14 * h)] = top
    image[int(y):int(y + 0.27 * h), int(x - 0.11 * h):int(x + 0.11 * h)] = legs
    box = np.array([x - 0.2 * h, y - 0.5 * h, x + 0.2 * h, y + 0.5 * h])
    return kp, sc, box


def test_appearance_descriptor_tells_colours_apart():
    from sportlens.pose.tracking import _as_appearance, appearance_similarity

    img = np.full((480, 640, 3), 90, np.uint8)
    red = painted_person(img, 150, 240, 300, (200, 30, 30), (20, 20, 20))  # red shirt, dark shorts
    small_red = painted_person(img, 400, 200, 150, (210, 40, 35), (25, 25, 25))  # the same colours, smaller
    white = painted_person(img, 550, 240, 300, (240, 240, 240), (40, 60, 160))  # white shirt, blue trousers
    d = {k: mpp.appearance_descriptor(img, *v) for k, v in [("red", red), ("small", small_red), ("white", white)]}
    n = int(np.prod(mpp.APPEARANCE_BINS))
    for v in d.values():
        assert v.shape == (mpp.APPEARANCE_DIM,) and np.allclose([v[:n].sum(), v[n:].sum()], 1.0)
    a = {k: _as_appearance(v) for k, v in d.items()}
    assert appearance_similarity(a["red"], a["small"]) > 0.9
    assert appearance_similarity(a["red"], a["white"]) < 0.3


def test_appearance_descriptor_fallbacks():
    img = np.full((200, 200, 3), 90, np.uint8)
    kp, sc, box = painted_person(img, 100, 100, 150, (200, 30, 30), (20, 20, 20))
    n = int(np.prod(mpp.APPEARANCE_BINS))
    sc_no_knees = sc.copy()
    sc_no_knees[[25, 26]] = 0.1  # knees unsure: torso only
    v = mpp.appearance_descriptor(img, kp, sc_no_knees, box)
    assert np.isclose(v[:n].sum(), 1.0) and v[n:].sum() == 0
    v = mpp.appearance_descriptor(img, kp, np.zeros(33), box)  # no sure joint: the box centre stands in
    assert np.isclose(v[:n].sum(), 1.0) and v[n:].sum() == 0
    outside = mpp.appearance_descriptor(img, kp + 1000, sc, box + 1000)  # nothing inside the picture
    assert outside.shape == (mpp.APPEARANCE_DIM,) and outside.sum() == 0
    det = PersonDetection(box=box, score=0.9, keypoints=kp, kp_scores=sc)
    assert det.appearance is None  # optional: the tracker then uses geometry only


# ----------------------------------------------------------------------------- identity drift


def test_torso_look_uses_the_torso_inside_the_picture():
    from sportlens.pose.tracking import _as_appearance, appearance_similarity

    img = np.full((200, 300, 3), 90, np.uint8)
    img[:, :100] = (240, 240, 240)  # a white shirt at the left border
    img[:, 200:] = (15, 15, 15)  # a black one at the right border
    kp = np.full((33, 2), np.nan)

    def at(x):  # a torso 80 px wide centred at x (half of it outside the picture at the borders)
        kp[[11, 12, 23, 24]] = [[x - 40, 40], [x + 40, 40], [x - 35, 160], [x + 35, 160]]
        return mpp.torso_look(img, kp)

    white, black, white2 = at(10), at(290), at(50)
    assert white is not None and np.isclose(white.sum(), 1.0)
    assert appearance_similarity(_as_appearance(white), _as_appearance(white2)) > 0.95
    assert appearance_similarity(_as_appearance(white), _as_appearance(black)) < 0.1
    assert at(-300) is None  # not in the picture
    kp[11] = np.nan
    assert mpp.torso_look(img, kp) is None  # a torso joint missing


def _sliding_landmarks(est, centre_x):
    """A stand-in for the landmark model: one upright person whose torso is centred at
    ``centre_x(frame)``, wherever the ROI is (a ROI that follows the pose onto someone else)."""
    def landmarks(image, roi, model=None):
        cx = centre_x(est._frame - 1)
        xy = np.tile([cx, 165.0], (39, 1))
        xy[[11, 12, 23, 24]] = [[cx - 30, 110], [cx + 30, 110], [cx - 25, 220], [cx + 25, 220]]
        xy[33], xy[34] = (cx, 175), (cx, 75)  # hip centre and scale point: the next ROI
        return mpp._Landmarks(xy, np.full(39, 0.9), 0.9)
    return landmarks


@pytest.mark.parametrize("two_colours", [True, False])
def test_a_pose_sliding_onto_another_person_ends_its_track(two_colours):
    """A red person on the left, a blue one on the right; the tracked pose slides from the red torso
    (x = 100) onto the blue one (x = 300) in frames 5-12. The track it started on ends once the torso
    looks unlike its own (LookModel: two looks in a row below LOOK_DRIFT_SIM), and a detection in the
    same frame starts a new ID, so the ID of the red person never holds the blue one. With one colour
    everywhere nothing tells them apart: one ID, as before."""
    img = np.full((300, 400, 3), (200, 30, 30) if not two_colours else (128, 128, 128), np.uint8)
    if two_colours:
        img[40:290, 40:160] = (200, 30, 30)
        img[40:290, 240:360] = (30, 40, 200)
    det = _BoxDetector([[50.0, 40.0, 150.0, 290.0]])  # the detector finds the red person
    est = MultiPoseEstimator(detector=det, detect_every=1000, workers=1)
    est.landmarks = _sliding_landmarks(est, lambda f: float(np.clip(100 + 25 * (f - 4), 100, 300)))
    seen = []  # (frame, track_id, torso centre x)
    for f in range(18):
        for p in est.estimate_people(img):
            seen.append((f, p.track_id, float(p.keypoints[[11, 12], 0].mean())))
    assert [f for f, _, _ in seen] == list(range(18))  # someone in every frame (re-detected at once)
    first = [x for _, tid, x in seen if tid == seen[0][1]]
    if two_colours:
        assert max(first) <= 175  # at most one look off the red torso (half grey) before the track ends
        assert seen[-1][1] != seen[0][1] and seen[-1][2] == 300
    else:
        assert len({tid for _, tid, _ in seen}) == 1 and len(first) == 18
