"""Small-person search (sportlens.pose.small_people): tiling, batching, verification and the search loop
on generated data with fake detector / landmark models (the real-video check is in test_people_e2e.py)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sportlens.config import MultiPoseSettings, SmallPeopleSettings
from sportlens.pose.small_people import (UPPER_BODY, SmallPeopleSearch, agreement, base_roi, covered_fraction,
                                         merge_candidates, roi_hypotheses, search_tiles, tiles_to_input, unbatch)

S = SmallPeopleSettings(enabled=True)


# ---------------------------------------------------------------------------------------------
# geometry
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("w, h, tile, overlap", [(1768, 994, 80, 0.5), (960, 540, 64, 0.25), (100, 60, 80, 0.5),
                                                 (80, 200, 80, 0.0)])
def test_search_tiles_cover_the_frame_with_the_overlap_asked(w, h, tile, overlap):
    t = search_tiles(w, h, tile, overlap)  # (N, 3)
    assert t.shape[1] == 3 and np.all(t[:, 2] == tile)
    xs, ys = np.unique(t[:, 0]), np.unique(t[:, 1])
    assert len(t) == len(xs) * len(ys)  # a grid, row-major
    np.testing.assert_array_equal(t[: len(xs), 1], ys[0])
    for cs, extent in ((xs, w), (ys, h)):
        if extent <= tile:
            np.testing.assert_allclose(cs, [extent / 2])  # one tile centred on a short side
            continue
        np.testing.assert_allclose([cs[0] - tile / 2, cs[-1] + tile / 2], [0, extent])  # edges touch the frame's
        assert np.all(np.diff(cs) <= tile * (1 - overlap) + 1e-9)  # at least the overlap asked
        assert len(cs) == int(np.ceil((extent - tile) / (tile * (1 - overlap)))) + 1  # no more tiles than needed
    # every pixel of the frame is in a tile
    px = np.stack(np.meshgrid(np.arange(0, w, 7) + 0.5, np.arange(0, h, 7) + 0.5), -1).reshape(-1, 2)
    inside = (np.abs(px[:, None, :] - t[None, :, :2]) <= tile / 2).all(-1).any(1)
    assert inside.all()
    with pytest.raises(ValueError):
        search_tiles(w, h, tile, 1.0)


def test_covered_fraction():
    tiles = np.array([[50.0, 50.0, 100.0], [250.0, 50.0, 100.0], [150.0, 50.0, 100.0]])
    boxes = np.array([[0.0, 0.0, 100.0, 100.0], [150.0, 0.0, 175.0, 100.0]])
    np.testing.assert_allclose(covered_fraction(tiles, boxes), [1.0, 0.0, 0.25])
    np.testing.assert_allclose(covered_fraction(tiles, np.zeros((0, 4))), [0, 0, 0])


def test_unbatch_undoes_the_grid_by_grid_order_of_a_batched_call():
    groups, batch = (4, 2, 3), 3
    per_input = [np.arange(9) + 100 * i for i in range(batch)]  # what each input alone would give (A = 9)
    flat, off = [], 0
    for g in groups:  # the batched model: grid by grid, within a grid input by input
        for i in range(batch):
            flat.append(per_input[i][off:off + g])
        off += g
    out = unbatch(np.concatenate(flat), batch, groups)
    np.testing.assert_array_equal(out, np.stack(per_input))
    with pytest.raises(ValueError):
        unbatch(np.zeros(10), batch, groups)


def test_tiles_to_input_samples_each_tile():
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, 100:] = 255
    x = tiles_to_input(img, np.array([[50.0, 50.0, 40.0], [150.0, 50.0, 40.0]]), batch=3)
    assert x.shape == (3, 224, 224, 3) and x.dtype == np.float32
    assert x[0].max() == pytest.approx(-1.0) and x[1].min() == pytest.approx(1.0)
    assert np.all(x[2] == 0)  # unused slot


def test_base_roi_and_hypotheses():
    roi = base_roi(np.array([90.0, 40.0, 110.0, 60.0]), tile=80.0, drop=0.15, side=0.7)
    assert roi == pytest.approx((100.0, 50.0 + 12.0, 56.0))
    hyp = roi_hypotheses(roi)
    assert len(hyp) == 5 and hyp[0] == roi
    for cx, cy, side in hyp[1:]:  # small shifts and scalings of the first
        assert abs(cx - roi[0]) <= 0.1 * roi[2] + 1e-9 and abs(cy - roi[1]) <= 0.1 * roi[2] + 1e-9
        assert 0.85 * roi[2] <= side <= 1.2 * roi[2]


def test_merge_candidates_keeps_the_best_of_overlapping_faces():
    boxes = np.array([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0], [50.0, 50.0, 60.0, 60.0]])
    assert merge_candidates(boxes, np.array([0.3, 0.5, 0.4])) == [1, 2]


# ---------------------------------------------------------------------------------------------
# verification (agreement) on hand-made landmark passes
# ---------------------------------------------------------------------------------------------

def _skeleton(nose, shoulder_half=10.0) -> np.ndarray:
    """(39, 2) a small upright person (image px): nose, shoulders below it, hips, aux 33/34."""
    xy = np.full((39, 2), np.nan)
    n = np.asarray(nose, dtype=np.float64)
    xy[:33] = n + [0.0, 15.0]
    xy[0] = n
    xy[11], xy[12] = n + [shoulder_half, 6.0], n + [-shoulder_half, 6.0]
    xy[23], xy[24] = n + [6.0, 20.0], n + [-6.0, 20.0]
    xy[33], xy[34] = n + [0.0, 20.0], n + [0.0, 0.0]  # body ROI side 2.5 x 20 = 50 px
    return xy


ROIS = roi_hypotheses((100.0, 110.0, 56.0))
FACE = np.array([100.0, 95.0])


def test_agreement_accepts_a_person_anchored_in_the_image():
    results = [(_skeleton([100, 98]), f) for f in (0.95, 0.6, 0.1, 0.2, 0.8)]
    assert agreement(results, ROIS, FACE, 80.0, S) == 0


@pytest.mark.parametrize("case", ["low flag", "one good roi", "moves with the crop", "narrow shoulders", "nose far",
                                  "wrong size"])
def test_agreement_rejects(case):
    flags, xys = [0.95, 0.6, 0.1, 0.2, 0.8], [_skeleton([100, 98]) for _ in ROIS]
    if case == "low flag":
        flags = [0.65, 0.6, 0.6, 0.6, 0.6]
    elif case == "one good roi":  # a texture the model believes in from one crop only
        flags = [0.95, 0.1, 0.1, 0.2, 0.3]
    elif case == "moves with the crop":  # a skeleton hallucinated at the same crop place: shifts with the ROI
        xys = [_skeleton([cx, cy - 12]) for cx, cy, _ in ROIS]
    elif case == "narrow shoulders":
        xys = [_skeleton([100, 98], shoulder_half=2.0) for _ in ROIS]
    elif case == "nose far":  # the landmark model's head is not where the detector saw a face
        xys = [_skeleton([100, 60]) for _ in ROIS]
    elif case == "wrong size":
        for xy in xys:
            xy[34] = xy[33] + [0.0, -100.0]  # body ROI 250 px for a 56 px crop
    assert agreement(list(zip(xys, flags)), ROIS, FACE, 80.0, S) is None


# ---------------------------------------------------------------------------------------------
# the search loop with fake models
# ---------------------------------------------------------------------------------------------

class FakeWorld:
    """A 400x300 frame with small people (true ROI centres), fake detector and landmark model.

    Detector: in every tile, the best "face" is a person in its central half (placed so that
    ``base_roi`` lands on the person) or else a false detection at the tile's centre, score 0.5.
    Landmark model: a person when the ROI centre is within 6 px of one and the side within 25 % of 56;
    otherwise flag 0 (so false candidates cost one pass, the pre-check)."""

    def __init__(self, people, settings=S):
        self.people = [np.asarray(p, dtype=np.float64) for p in people]
        self.s = settings
        self.detector_tiles = 0
        self.landmark_runs = 0

    def detect_tiles(self, image, tiles):
        out = []
        for cx, cy, side in tiles:
            self.detector_tiles += 1
            face = np.array([cx, cy])
            for p in self.people:
                if np.all(np.abs(p - [cx, cy]) <= side / 4):
                    face = p - [0.0, self.s.drop * side]
            out.append((np.array([[face[0] - 8, face[1] - 8, face[0] + 8, face[1] + 8]]), np.array([0.5])))
        return out

    def landmarks(self, image, roi):
        self.landmark_runs += 1
        cx, cy, side = roi
        for p in self.people:
            if np.hypot(cx - p[0], cy - p[1]) <= 6 and abs(side / 56 - 1) <= 0.25:
                return _skeleton(p - [0.0, 12.0]), 0.9
        return _skeleton([cx, cy]), 0.0


def _search(world, **kw):
    s = replace(S, tiles=(80.0,), every=kw.pop("every", 10), **kw)
    world.s = s
    return SmallPeopleSearch(s, world.detect_tiles, world.landmarks)


def test_rolling_scan_finds_each_person_within_one_full_scan_and_no_false_ones():
    people = [(70.0, 70.0), (300.0, 200.0)]
    world = FakeWorld(people)
    search = _search(world, every=10, max_candidates=100)
    img = np.zeros((300, 400, 3), np.uint8)
    n_tiles = len(search.tiles_for(400, 300))
    found = []
    for frame in range(10):  # people found are tracked from then on (as MultiPoseEstimator does)
        tracked = [np.array([r[0] - r[2] / 2, r[1] - r[2] / 2, r[0] + r[2] / 2, r[1] + r[2] / 2]) for _, r in found]
        for v in search.step(img, tracked=tracked):
            found.append((frame, v.roi))
    assert search.per_frame(400, 300) == int(np.ceil(n_tiles / 10))  # a share of the tiles on each frame
    assert n_tiles <= world.detector_tiles <= 10 * search.per_frame(400, 300)  # one full scan over 10 frames
    centres = np.array([r[:2] for f, r in found])
    assert len(found) == 2
    for p in people:  # both found, nothing else
        assert np.min(np.linalg.norm(centres - p, axis=1)) <= 6
    for c in centres:
        assert min(np.linalg.norm(c - np.array(p)) for p in people) <= 6
    # false candidates (one per tile) cost one landmark pass each, the people five
    assert world.landmark_runs <= world.detector_tiles + 5 * len(found)


def test_candidates_per_frame_are_bounded_and_tracked_people_skipped():
    world = FakeWorld([(70.0, 70.0)])
    search = _search(world, every=1, max_candidates=3)
    img = np.zeros((300, 400, 3), np.uint8)
    search.step(img, tracked=[])
    assert search.stats["candidates"] <= 3
    world2 = FakeWorld([(70.0, 70.0)])
    search2 = _search(world2, every=1, max_candidates=1000)
    out = search2.step(img, tracked=[np.array([30.0, 30.0, 110.0, 110.0])])  # the person is tracked already
    assert out == [] and search2.stats["tiles"] < len(search2.tiles_for(400, 300))


def test_a_verified_place_is_rechecked_while_nobody_is_tracked_there():
    world = FakeWorld([(70.0, 70.0)])
    search = _search(world, every=1000, remember=5)  # the scan itself will not come round again
    img = np.zeros((300, 400, 3), np.uint8)
    first = []
    while not first:
        first = search.step(img, tracked=[])
    again = search.step(img, tracked=[])  # not tracked (lost): found again at the remembered place
    assert len(again) == 1 and again[0].candidate is None
    assert np.hypot(again[0].roi[0] - 70, again[0].roi[1] - 70) <= 6
    box = np.array([50.0, 50.0, 90.0, 90.0])
    rechecks = search.stats["rechecks"]
    assert search.step(img, tracked=[box]) == [] and search.stats["rechecks"] == rechecks  # tracked: not re-checked
    world.people = []  # the person left: the place is forgotten after `remember` frames
    for _ in range(8):
        assert search.step(img, tracked=[]) == []
    assert search._spots == []


# ---------------------------------------------------------------------------------------------
# in the estimator: no ID explosion
# ---------------------------------------------------------------------------------------------

class _NoDetector:
    def detect(self, image):
        return np.zeros((0, 4)), np.zeros(0)


class _BlobModel:
    """Landmark model stand-in: a person (flag 0.9, skeleton around the brightest crop pixel, in crop
    pixels so it maps back to the same image place from any ROI) when a bright blob is within 40 crop px of
    the crop's centre; flag 0 otherwise."""

    output_shapes = {"lm": (1, 195), "flag": (1, 1)}

    def run(self, x):
        img = x[0].mean(-1)
        v, u = np.unravel_index(np.argmax(img), img.shape)
        flag = 0.9 if img[v, u] > 0.2 and np.hypot(u - 128, v - 128) < 40 else 0.0
        lm = np.zeros((39, 5), np.float32)
        lm[:33, :2] = u, v
        lm[0, :2] = u, v - 20
        lm[11, :2], lm[12, :2] = (u + 40, v), (u - 40, v)
        lm[33, :2], lm[34, :2] = (u, v), (u, v - 100)
        lm[:, 3] = 5.0
        return {"lm": lm.reshape(1, 195), "flag": np.array([[flag]], np.float32)}


class _HallucinatingModel(_BlobModel):
    """Sees a person in every crop, always at the crop's centre (a texture the real model believes in)."""

    def run(self, x):
        out = super().run(np.zeros_like(x) + 0.0)
        lm = out["lm"].reshape(39, 5)
        lm[:, :2] -= lm[33, :2] - np.array([128.0, 128.0])
        return {"lm": lm.reshape(1, 195), "flag": np.array([[0.95]], np.float32)}


def _blob_image(points) -> np.ndarray:
    import cv2

    img = np.zeros((300, 400, 3), np.uint8)
    for x, y in points:
        cv2.circle(img, (int(x), int(y)), 3, (255, 255, 255), -1)
    return cv2.GaussianBlur(img, (9, 9), 2.0)


@pytest.mark.parametrize("model, max_tracks, scale",
                         [(_BlobModel, 4, 1), (_BlobModel, 4, 2), (_HallucinatingModel, 0, 1)])
def test_estimator_starts_bounded_tracks_from_the_search(model, max_tracks, scale):
    """Six people, max_people 4: never more than 4 tracks, no churn of IDs; a model that sees a person
    in every crop (always at its centre) starts none. scale 2: the search runs on a frame twice as large
    (``search_image``) and the people come back in pixels of the frame given."""
    import cv2

    from sportlens.pose.multiperson import MultiPoseEstimator

    people = [(60.0, 60.0), (200.0, 60.0), (340.0, 60.0), (60.0, 220.0), (200.0, 220.0), (340.0, 220.0)]
    sp = replace(S, tiles=(80.0,), every=2, max_candidates=100, max_new=10)
    est = MultiPoseEstimator.from_settings(replace(MultiPoseSettings(), max_people=4, small_people=sp),
                                           detector=_NoDetector())
    est._lm, est._lm_names = model(), {"landmarks": "lm", "flag": "flag"}
    world = FakeWorld([(x * scale, y * scale) for x, y in people], sp)
    est._small.detect_tiles = world.detect_tiles  # faces where base_roi lands on each blob
    img = _blob_image(people)
    big = None if scale == 1 else cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    ids, counts = set(), []
    for _ in range(12):
        found = est.estimate_people(img, big)
        counts.append(len(found))
        ids |= {p.track_id for p in found}
    assert max(counts) <= 4 and len(ids) <= max_tracks  # never more than max_people, no churn of new IDs
    if max_tracks:
        assert counts[-1] == 4
        for p in found:  # each on a blob
            assert min(np.hypot(*(p.keypoints[23] - [x, y])) for x, y in people) < 3


def test_a_small_person_inside_a_tracked_body_is_dropped():
    from sportlens.pose.multiperson import MultiPoseEstimator, PersonDetection, Roi, _Track

    est = MultiPoseEstimator(detector=_NoDetector())

    def person(tid, x0, y0, x1, y1):
        kp = np.array([[x0, y0], [x1, y1]] * 16 + [[x0, y0]], np.float64)  # (33, 2) spanning the box
        return PersonDetection(np.array([x0, y0, x1, y1], float), 0.9, kp, np.ones(33), track_id=tid)

    people = [person(0, 100, 100, 200, 400), person(1, 130, 110, 160, 140), person(2, 300, 100, 330, 130)]
    tracks = [_Track(0, Roi(150, 250, 300)), _Track(1, Roi(145, 125, 30), small=True),
              _Track(2, Roi(315, 115, 30), small=True)]
    kept_people, kept_tracks = est._drop_small_parts(people, tracks)
    assert [p.track_id for p in kept_people] == [0, 2] and [t.track_id for t in kept_tracks] == [0, 2]


def test_off_by_default_and_the_default_estimator_has_no_search():
    from sportlens.pose.multiperson import MultiPoseEstimator

    assert MultiPoseSettings().small_people.enabled is False
    est = MultiPoseEstimator.from_settings(MultiPoseSettings(), detector=_NoDetector())
    assert est._small is None and est.small_people is None
    assert set(UPPER_BODY) == {0, 11, 12, 23, 24}
