"""Small-person search (opt-in): find people too small for the whole-frame detector and start tracks.

BlazePose's detector sees the frame at 224x224: a person under ~100 px in a 960 px frame is a few
pixels there and is never found, so ``pose.multiperson`` never starts a track on them, although the
landmark model follows such a person once it is given a ROI of the right size and place. This module
finds them with a cascade, switched on by ``MultiPoseSettings.small_people.enabled``
(``sportlens analyze/tracks --small-people``; settings ``sportlens.config.SmallPeopleSettings``):

1. **Rolling tile scan** (cheap stage, the detector). The frame is covered by square tiles of side
   ``tiles`` = 80 px overlapping by half (``search_tiles``); each is sampled up to the detector's
   224x224 input, so a person ~0.3-0.5 x the tile tall looks like the whole-frame people the detector
   was trained on. One full scan is spread over ``every`` = 90 frames (3 s at 30 fps): a fixed share of
   the tiles on each frame, in ONE batched detector call (``BatchedDetector``: 6.2 ms per tile instead
   of 14.5 ms for single calls), so the cost per frame is constant. Tiles half covered by a tracked
   person are skipped.
2. **Candidates.** The best detection of each tile scoring >= ``min_score`` = 0.25, merged across
   overlapping tiles, best first, at most ``max_candidates`` = 12 per frame, none on a tracked person.
   BlazePose's detector is face-anchored; on a small person its face box is well placed (within ~3 px
   of the head of sports2d_demo.mp4's background person at native resolution; it lands on the neck) but
   its size is ~0.2 x the tile whatever the person, and its alignment keypoints give ROIs of median
   208 px where the body needs ~56: neither can size the landmark ROI. Scores are low: that person
   scores 0.27-0.46 and ranks 6th-18th among the 15-28 candidates of its frame (textures, foliage), so
   ranking by score alone misses him, hence the low threshold and the generous cap.
3. **Verification** (expensive stage, the landmark model). The landmark model answers only on a ROI
   centred within ~6 px and sized within ~25 % of the body (measured on that person: pose flag
   0.8-0.98 on the right ROI, < 0.05 with the centre 12 px off or the side doubled; refining from an
   off-centre ROI with the model's own output does not converge). The ROI is placed from the tile and
   the face box (``base_roi``: centre ``drop`` = 0.15 tile below the face centre, side ``side`` = 0.7
   tile). Pre-check: one landmark pass; below a flag of ``precheck_score`` = 0.3 the candidate is
   dropped (most of them: ~1 pass per candidate). Otherwise 4 perturbations (+-0.1 side shifts, x0.9-1.15
   scales, ``roi_hypotheses``) are run too and ``agreement`` decides. Why so many tests: on
   sports2d_demo.mp4 the flag alone (>= 0.7 on one ROI) accepted a roof, tree bark, a hedge and a
   building wall again and again. Those fail at least one of: flag >= 0.5 on >= 2 of the 5 ROIs (bark,
   roof: one ROI only), nose/shoulders/hips at the same IMAGE place across the ROIs (hallucinated
   skeletons move with the crop), shoulders >= 0.13 x side apart (hedge, wall: 0.03-0.1; the person
   0.14-0.17), nose within 0.25 tile of the detector's face. The person passes on 10 of 10 frames tried.
   Limitation: a small person seen side-on (narrow shoulders) is rejected.
4. **Tracking.** A verified ROI starts a track in ``pose.multiperson``. Its ROI stays upright, moves
   with the hip centre and keeps 80 % of its size from frame to frame (``SMALL_SIDE_KEEP``): rebuilt
   from the auxiliary landmarks like other people's it lost the person after 1-2 frames every time.
   Verified places are remembered for ``remember`` = 90 frames and re-checked (pre-check + agreement)
   on every frame where nobody is tracked there (the flag of a ~30 px person swings from 0.1 to 0.98
   from frame to frame), so a lost small person comes back at once instead of a scan later.
   ``pose.tracking`` joins the pieces into one ID.

Resolution: with the search on, ``estimate_people_video`` decodes frames at up to ``max_side`` = 1920 px
(native for HD video) instead of ``MultiPoseSettings.max_side`` (960). The detector needs the detail: on
sports2d_demo.mp4 (1768x994) the background person's face is found with score 0.46-0.56 and placed
within 3 px on native 80 px tiles, but only at <= 0.3 and ~20 px off (on the tree beside him) on
960 px frames. The landmark model's cost does not depend on the frame size (it sees a 256x256 crop).

Measured on sports2d_demo.mp4 (1768x994, 230 frames; 2026-11-28, 2 shared cores, load ~7.5):
per frame the search ran the detector on 10.1 tiles (1056 tiles per full scan; skipped where people
are tracked), pre-checked 4.6 candidates and made 5.6 landmark passes in all (verification and
re-checks). The background person was verified at frame 147 (the first scan, frames 0-89, missed him:
his score on the only tile that sees him is 0.21-0.46) and had a pose on 69 of the 83 frames from
there (29 verifications, 38 re-checks of his place; ``pose.tracking`` makes one ID of them, 63 frames
with a pose in the test); no other place was verified. arm_wrestling.mp4 (340x256) and golf_swing.mp4
(354x492): no small track (3 and 1 tracks, none under 80 px tall).

Cost: the multi-person pipeline ran at 6.5 frames/s with the search instead of 38.5 without (154 vs
26 ms/frame, same run on a quiet machine, ``benchmarks/results/bench_multiperson.md``; an earlier run
under a load of ~7.5: 2.8 vs 17.3): the second decoder at native size, ~10 batched detector tiles,
~6 landmark passes per frame. On small videos the scan is short (arm_wrestling.mp4: 29.8 vs 34.7
frames/s). ``every`` trades speed against how soon a person
is found (a full scan every ``every`` frames); the default pipeline (search off) does not change:
same code path but one test per frame, same output and speed (A/B against the previous version: 20.1
vs 18.7 frames/s, best of 3).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from sportlens.config import SmallPeopleSettings
from sportlens.pose.boxes import box_iou

DET_SIZE = 224  # the detector's input side (sportlens.pose.multiperson.DET_SIZE)


# ----------------------------------------------------------------------------------------------
# Pure geometry (tested on hand-made inputs)
# ----------------------------------------------------------------------------------------------

def search_tiles(width: int, height: int, tile: float, overlap: float = 0.5) -> np.ndarray:
    """(N, 3) tiles ``(cx, cy, side)`` of side ``tile`` covering a ``width`` x ``height`` frame.

    Neighbouring tiles overlap by ``overlap`` x ``tile`` (stride ``(1 - overlap) x tile``); the first
    and last tiles of a row/column touch the frame's edges (spacing evened out), so every pixel is in
    a tile and every point farther than ``tile / 2`` from the edges is at most ``stride / 2`` from a
    tile centre. A frame side shorter than ``tile`` gets one tile centred on it. Row-major order.
    """
    if tile <= 0 or not 0 <= overlap < 1:
        raise ValueError("tile must be > 0 and overlap in [0, 1)")
    stride = tile * (1.0 - overlap)

    def centres(extent: float) -> np.ndarray:
        if extent <= tile:
            return np.array([extent / 2.0])
        n = int(math.ceil((extent - tile) / stride - 1e-9)) + 1
        return np.linspace(tile / 2.0, extent - tile / 2.0, n)

    xs, ys = centres(float(width)), centres(float(height))
    cy, cx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([cx.ravel(), cy.ravel(), np.full(cx.size, float(tile))], axis=1)


def covered_fraction(tiles: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N,) share of each tile ``(cx, cy, side)`` covered by the box of ``boxes`` (M, 4) xyxy that covers
    it most (0 without boxes)."""
    tiles = np.asarray(tiles, dtype=np.float64).reshape(-1, 3)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(tiles) == 0 or len(boxes) == 0:
        return np.zeros(len(tiles))
    h = tiles[:, 2:3] / 2
    t = np.concatenate([tiles[:, :2] - h, tiles[:, :2] + h], axis=1)  # (N, 4)
    iw = np.clip(np.minimum(t[:, None, 2], boxes[None, :, 2]) - np.maximum(t[:, None, 0], boxes[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(t[:, None, 3], boxes[None, :, 3]) - np.maximum(t[:, None, 1], boxes[None, :, 1]), 0, None)
    return (iw * ih / (tiles[:, None, 2] ** 2)).max(axis=1)


# ROI perturbations of the verification, (dx, dy) in units of the ROI side and a scale factor: about
# +-6 px and +-10-15 % on the ~56 px ROI of sports2d_demo.mp4's background person.
PERTURBATIONS = ((0.0, -0.1, 1.15), (0.0, 0.1, 1.0), (-0.09, 0.0, 0.9), (0.09, 0.0, 1.1))
UPPER_BODY = (0, 11, 12, 23, 24)  # nose, shoulders, hips: the landmarks compared across the ROIs


def base_roi(face_box: np.ndarray, tile: float, drop: float, side: float) -> tuple[float, float, float]:
    """The ROI ``(cx, cy, side)`` placed from a candidate: centre = face-box centre + ``drop`` x ``tile``
    downwards, side = ``side`` x ``tile`` (upright)."""
    fx, fy = (face_box[0] + face_box[2]) / 2.0, (face_box[1] + face_box[3]) / 2.0
    return float(fx), float(fy + drop * tile), float(side * tile)


def roi_hypotheses(roi: tuple[float, float, float]) -> list[tuple[float, float, float]]:
    """``roi`` first, then its ``PERTURBATIONS`` (shifted by a tenth of the side, scaled by 0.9-1.15)."""
    cx, cy, side = roi
    return [roi] + [(cx + dx * side, cy + dy * side, side * k) for dx, dy, k in PERTURBATIONS]


def agreement(results: list[tuple[np.ndarray, float]], rois: list[tuple[float, float, float]],
              face_centre: np.ndarray | None, tile: float, s: SmallPeopleSettings) -> int | None:
    """Index of the ROI to track from, or None when the landmark passes ``results`` ((xy (>= 35, 2) px,
    pose flag) per ROI of ``rois``) do not show a person. A person (rather than a texture the model
    half-believes in) gives: a best pose flag >= ``verify_score``; flags >= ``agree_score`` on at least
    ``min_agree`` of the ROIs; on those, nose, shoulders and hips at the same IMAGE place (mean distance
    to their median <= ``max_spread`` x side: the landmarks are anchored to the picture, not to the
    crop); the best pass's shoulders >= ``min_shoulder`` x side apart; its nose within
    ``nose_tolerance`` x ``tile`` of the detector's face centre (when there is one); its own body ROI
    (landmarks 33/34) within a factor ``max_scale_ratio`` of the tried side."""
    flags = np.array([f for _, f in results])
    best = int(np.argmax(flags))
    if flags[best] < s.verify_score:
        return None
    good = [i for i in range(len(results)) if flags[i] >= s.agree_score]
    if len(good) < s.min_agree:
        return None
    side = rois[best][2]
    pts = np.array([np.asarray(results[i][0], dtype=np.float64)[list(UPPER_BODY)] for i in good])  # (G, 5, 2)
    if not np.isfinite(pts).all():
        return None
    spread = np.linalg.norm(pts - np.median(pts, axis=0), axis=2).mean()
    if spread > s.max_spread * side:
        return None
    xy = np.asarray(results[best][0], dtype=np.float64)
    if np.linalg.norm(xy[11] - xy[12]) < s.min_shoulder * side:
        return None
    if face_centre is not None and np.linalg.norm(xy[0] - face_centre) > s.nose_tolerance * tile:
        return None
    return best if _scale_ok(xy, side, s.max_scale_ratio) else None


def merge_candidates(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.3) -> list[int]:
    """Indices of the candidates kept, best score first: a face box overlapping a better one by IoU >
    ``iou`` (the same face seen in overlapping tiles) is dropped."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    kept: list[int] = []
    for i in order:
        if not kept or box_iou(boxes[i], boxes[kept]).max() <= iou:
            kept.append(int(i))
    return kept


# ----------------------------------------------------------------------------------------------
# The search
# ----------------------------------------------------------------------------------------------

# Anchors per SSD grid of the detector (28x28 x 2, 14x14 x 2, 7x7 x 6: pose.multiperson.ssd_anchors).
ANCHOR_GROUPS = (1568, 392, 294)


def unbatch(flat: np.ndarray, batch: int, groups: tuple[int, ...] = ANCHOR_GROUPS) -> np.ndarray:
    """(batch * A, ...) raw detector output of a batched call -> (batch, A, ...) per input.

    With a batch the model's final reshape + concatenation puts the anchors grid by grid, and within a
    grid input by input: ``[grid 0 of input 0, ..., grid 0 of input B-1, grid 1 of input 0, ...]``
    (checked against single calls: identical outputs).
    """
    flat = np.asarray(flat)
    per: list[list[np.ndarray]] = [[] for _ in range(batch)]
    off = 0
    for g in groups:
        block = flat[off:off + batch * g].reshape(batch, g, *flat.shape[1:])
        off += batch * g
        for i in range(batch):
            per[i].append(block[i])
    if off != len(flat):
        raise ValueError(f"expected {off} rows for a batch of {batch}, got {len(flat)}")
    return np.stack([np.concatenate(p) for p in per])


class BatchedDetector:
    """The bundled BlazePose detector with a batch of ``batch`` 224x224 inputs per call (XNNPACK runs
    a batch ~2.3x faster per tile than single calls: 6.2 vs 14.5 ms measured)."""

    def __init__(self, path: str, batch: int, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        from sportlens.pose.tflite import LOAD_LOCK

        with LOAD_LOCK:
            self._it = Interpreter(model_path=str(path), num_threads=max(1, int(num_threads)))
            inp = self._it.get_input_details()[0]
            self._it.resize_tensor_input(inp["index"], [int(batch), DET_SIZE, DET_SIZE, 3])
            self._it.allocate_tensors()
        self.batch = int(batch)
        self._in = inp["index"]
        self._outs = self._it.get_output_details()

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x (batch, 224, 224, 3) float32 in [-1, 1] -> raw boxes (batch, A, 12), raw scores (batch, A)."""
        self._it.set_tensor(self._in, np.ascontiguousarray(x, dtype=np.float32))
        self._it.invoke()
        out = [self._it.get_tensor(d["index"]) for d in self._outs]
        boxes = next(v for v in out if v.shape[-1] == 12).reshape(-1, 12)
        scores = next(v for v in out if v.shape[-1] == 1).reshape(-1)
        return unbatch(boxes, self.batch), unbatch(scores, self.batch)


@dataclass
class Candidate:
    face_box: np.ndarray  # (4,) xyxy image pixels (the detector's face box)
    score: float  # detector score
    tile: float  # side of the tile it was found in (px): the scale of the person


@dataclass
class Verified:
    roi: tuple[float, float, float]  # (cx, cy, side) px, upright: the ROI to start tracking from
    flag: float  # the landmark model's pose flag on it
    candidate: Candidate | None  # None: a remembered place re-checked
    face: np.ndarray | None = None  # (2,) the detector's face centre it was checked against


class SmallPeopleSearch:
    """Rolling tile scan + verification (module doc). State: the scan position and the remembered places
    (``MultiPoseEstimator.reset`` starts a new search).

    ``detect_tiles(image, tiles)`` -> list of (face boxes (N, 4) px, scores (N,)) per tile, and
    ``landmarks(image, (cx, cy, side))`` -> (xy (39, 2) px, flag) are injected, so the logic is testable
    without the models (``MultiPoseEstimator`` passes its own).
    """

    def __init__(self, settings: SmallPeopleSettings, detect_tiles, landmarks):
        self.s = settings
        self.detect_tiles = detect_tiles
        self.landmarks = landmarks
        self._tiles: np.ndarray | None = None
        self._size: tuple[int, int] | None = None
        self._pos = 0
        self._frame = 0
        self._spots: list[tuple[tuple[float, float, float], np.ndarray, int]] = []  # (ROI, face, last frame)
        self.stats = {"tiles": 0, "candidates": 0, "landmark_runs": 0, "verified": 0, "rechecks": 0}

    def forget(self) -> None:
        """Forget the remembered places (their pixels no longer apply)."""
        self._spots = []

    def tiles_for(self, width: int, height: int) -> np.ndarray:
        if self._size != (width, height):
            self._tiles = np.concatenate([search_tiles(width, height, t, self.s.overlap) for t in self.s.tiles])
            self._size = (width, height)
            self._pos = 0
        return self._tiles  # type: ignore[return-value]

    def per_frame(self, width: int, height: int) -> int:
        """Tiles scanned per frame: a full scan every ``every`` frames."""
        return int(math.ceil(len(self.tiles_for(width, height)) / max(1, self.s.every)))

    def step(self, image: np.ndarray, tracked: list[np.ndarray]) -> list[Verified]:
        """This frame's share of the search; returns the verified new people (ROIs to track).

        ``tracked``: (4,) xyxy boxes of the people tracked now (their tiles are skipped, candidates and
        remembered places on them are not tried). First the remembered places of people verified
        earlier and not tracked now are re-checked (one landmark pass each), then this frame's tiles
        are scanned and their candidates verified."""
        h, w = image.shape[:2]
        self._frame += 1
        boxes = np.array(tracked, dtype=np.float64).reshape(-1, 4)
        taken = list(boxes)
        out = self._recheck(image, taken)
        tiles = self.tiles_for(w, h)
        n = self.per_frame(w, h)
        idx = (self._pos + np.arange(n)) % len(tiles)
        self._pos = int((self._pos + n) % len(tiles))
        chosen = tiles[idx]
        if len(boxes):
            chosen = chosen[covered_fraction(chosen, boxes) < self.s.skip_covered]
        if len(chosen) == 0:
            return out
        self.stats["tiles"] += len(chosen)
        found = self.detect_tiles(image, chosen)
        cands: list[Candidate] = []
        for (fb, sc), t in zip(found, chosen):
            for b, s in zip(np.asarray(fb).reshape(-1, 4), np.asarray(sc).reshape(-1)):
                if s >= self.s.min_score:
                    cands.append(Candidate(b.astype(np.float64), float(s), float(t[2])))
        if not cands:
            return out
        keep = merge_candidates(np.array([c.face_box for c in cands]), np.array([c.score for c in cands]))
        tried = 0
        for i in keep:
            if tried >= self.s.max_candidates or len(out) >= self.s.max_new:
                break
            c = cands[i]
            centre = (c.face_box[:2] + c.face_box[2:]) / 2
            if taken and _inside_any(centre, np.array(taken)):
                continue  # on a tracked (or just verified) person
            tried += 1
            self.stats["candidates"] += 1
            v = self.verify(image, c)
            if v is not None:
                out.append(v)
                taken.append(_roi_box(v.roi))
                self._remember(base_roi(c.face_box, c.tile, self.s.drop, self.s.side), v.face)
        self.stats["verified"] += len(out)
        return out

    def _remember(self, roi: tuple[float, float, float], face: np.ndarray) -> None:
        """Keep a verified ROI for ``remember`` frames (replacing a remembered one at the same place)."""
        self._spots = [sp for sp in self._spots
                       if math.hypot(sp[0][0] - roi[0], sp[0][1] - roi[1]) > roi[2] / 2]
        self._spots.append((roi, face, self._frame + self.s.remember))

    def _recheck(self, image: np.ndarray, taken: list[np.ndarray]) -> list[Verified]:
        """Re-check the remembered places not tracked now (verified as in ``verify``): a person seen there
        starts a track again. Why: the landmark tracking of a ~30 px person is fragile (its pose flag
        swings between 0.1 and 0.98 from frame to frame on sports2d_demo.mp4) and the scan comes round
        only every ``every`` frames."""
        self._spots = [sp for sp in self._spots if sp[2] >= self._frame]
        out: list[Verified] = []
        for roi, face, _ in list(self._spots):
            if taken and _inside_any(np.array(roi[:2]), np.array(taken)):
                self._remember(roi, face)  # still tracked there: keep the place
                continue
            self.stats["rechecks"] += 1
            v = self._verify_rois(image, roi, face, roi[2] / self.s.side, None)
            if v is not None:
                out.append(v)
                taken.append(_roi_box(v.roi))
                self._remember(roi, face)
        return out

    def verify(self, image: np.ndarray, c: Candidate) -> Verified | None:
        """The candidate's ROI (``base_roi``) and its perturbations through the landmark model, judged by
        ``agreement``. The first pass is a pre-check: below ``precheck_score`` the candidate is dropped
        after one landmark pass (most false detections: the model sees no person at all)."""
        face = (c.face_box[:2] + c.face_box[2:]) / 2
        return self._verify_rois(image, base_roi(c.face_box, c.tile, self.s.drop, self.s.side), face, c.tile, c)

    def _verify_rois(self, image: np.ndarray, roi: tuple[float, float, float], face: np.ndarray, tile: float,
                     c: Candidate | None) -> Verified | None:
        rois = roi_hypotheses(roi)
        results = []
        for k, r in enumerate(rois):
            results.append(self.landmarks(image, r))
            self.stats["landmark_runs"] += 1
            if k == 0 and results[0][1] < self.s.precheck_score:
                return None
        best = agreement(results, rois, face, tile, self.s)
        return None if best is None else Verified(rois[best], float(results[best][1]), c, face)


def _roi_box(roi: tuple[float, float, float]) -> np.ndarray:
    cx, cy, side = roi
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def _scale_ok(xy: np.ndarray, tried_side: float, max_scale_ratio: float) -> bool:
    """The body ROI of the auxiliary landmarks (33, 34) within a factor ``max_scale_ratio`` of the tried side."""
    xy = np.asarray(xy, dtype=np.float64)
    if xy.shape[0] < 35 or not np.isfinite(xy[[33, 34]]).all():
        return False
    side = 2.5 * float(np.linalg.norm(xy[34] - xy[33]))
    return side > 0 and max(side / tried_side, tried_side / side) <= max_scale_ratio


def _inside_any(point: np.ndarray, boxes: np.ndarray) -> bool:
    """Whether ``point`` (2,) lies inside one of ``boxes`` (M, 4) xyxy."""
    b = boxes.reshape(-1, 4)
    return bool(((point[0] >= b[:, 0]) & (point[0] <= b[:, 2]) & (point[1] >= b[:, 1]) & (point[1] <= b[:, 3])).any())


def tiles_to_input(image: np.ndarray, tiles: np.ndarray, batch: int) -> np.ndarray:
    """(batch, 224, 224, 3) float32 in [-1, 1]: each tile ``(cx, cy, side)`` sampled to 224x224
    (bilinear, zero border); unused slots are zeros."""
    x = np.zeros((batch, DET_SIZE, DET_SIZE, 3), np.float32)
    for i, (cx, cy, side) in enumerate(tiles[:batch]):
        k = side / DET_SIZE
        m = np.array([[k, 0.0, cx - side / 2], [0.0, k, cy - side / 2]])
        crop = cv2.warpAffine(image, m, (DET_SIZE, DET_SIZE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        x[i] = crop.astype(np.float32) * (2.0 / 255.0) - 1.0
    return x
