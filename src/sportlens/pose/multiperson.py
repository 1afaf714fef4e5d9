"""Offline multi-person pose: the BlazePose detector and landmark models run directly (TFLite).

The legacy ``mediapipe.solutions.pose`` graph follows ONE person. Here the same two models (bundled
in the mediapipe wheel) are driven from Python so that every person in the frame gets a region of
interest (ROI), a crop and its own landmark pass:

    frame ──(every ``detect_every`` frames)── SSD person detector ──▶ ROIs of new people
       │                                                               │ (not duplicating tracked ones)
       └── for each tracked ROI: rotated square crop 256x256 ── landmark model ──▶ 39 landmarks
                                                                    │
                        ROI for the next frame  ◀── aux landmarks 33/34 ┘ (tracking, as BlazePose does)

Decoding (the spec is mediapipe's graphs ``pose_detection_cpu.pbtxt``, ``pose_landmark_by_roi_cpu.pbtxt``,
``pose_detection_to_roi.pbtxt``, ``pose_landmarks_to_roi.pbtxt`` and their calculators; the numbers
below are the options those graphs set):

1. **Detector input.** The frame is letterboxed into a square of side ``S = max(W, H)`` centred on the
   frame (zero border) and sampled to 224x224 (bilinear, like ``ImageToTensorCalculator`` with
   ``keep_aspect_ratio``), values scaled to [-1, 1]. Output coordinate ``u`` in [0, 1] of the square
   maps back to the frame as ``x = W/2 + (u - 0.5) * S`` (same for y with H): this is
   ``DetectionLetterboxRemovalCalculator`` and the scaling to pixels in one step. Not in mediapipe:
   ``detect_zoom`` runs the detector on more squares (``detection_squares``): zoom > 1 a larger square
   (the frame shrunk in its middle), because the detector, trained on whole bodies, misses people who
   fill the frame or are cut by its border (close-ups); zoom < 1 overlapping tiles, for people too
   small to be seen at 224x224 (crowds). Detections of one person in several squares are merged
   (best score).
2. **SSD anchors** (``SsdAnchorsCalculator``): 224x224 input, ``strides = [8, 16, 32, 32, 32]``,
   ``fixed_anchor_size`` (every anchor has w = h = 1), anchor offset 0.5, aspect ratio 1 plus the
   interpolated-scale anchor = 2 anchors per layer and cell. Consecutive layers with the same stride
   share one grid, so the grids are 28x28 (2 anchors/cell), 14x14 (2) and 7x7 (3 layers x 2 = 6):
   784*2 + 196*2 + 49*6 = 2254 anchors, centre ``((col + 0.5) / grid, (row + 0.5) / grid)``, in
   row-major order, the anchors of one cell consecutive.
3. **Boxes and keypoints** (``TensorsToDetectionsCalculator``, ``reverse_output_order``, scales 224):
   raw (2254, 12) = ``[dx, dy, w, h, kx0, ky0, ..., kx3, ky3]`` in input pixels relative to the
   anchor: ``cx = dx / 224 + ax``, ``w = w / 224`` (anchor size 1), ``kx = kx / 224 + ax``.
   Keypoint 0 is the hip centre, 1 a point beyond the head that sets the full body's size and
   direction, 2/3 the shoulder centre and the upper body's size/direction point. The box itself is
   the head region (BlazePose's detector is face-anchored), not a person box. Score = ``sigmoid(clip(raw, -100, 100))``, kept when
   ``>= min_detection_score``.
4. **Weighted NMS** (``NonMaxSuppressionCalculator``, IoU, threshold 0.3, ``WEIGHTED``): in order of
   score, each kept detection absorbs the remaining ones overlapping it by IoU > 0.3; its box and
   keypoints become the score-weighted mean of the group, its score stays the group's best.
5. **ROI from a detection** (``AlignmentPointsRectsCalculator`` + ``RectTransformationCalculator``):
   centre = keypoint 0 (hip centre) in pixels; side = ``2 * |kp1 - kp0|`` (pixels) x 1.25, square;
   rotation = ``90 deg - atan2(-(y1 - y0), x1 - x0)`` so that hip->head points up in the crop.
6. **ROI from a box only** (an external ``detector``): centre = box centre, side = 1.25 x the box's
   longer side, rotation 0. A person box encloses the body, BlazePose's circle (hip centre, radius to
   the scale point) also encloses it, so the crops are alike though less tight/centred; after the
   first landmark pass the person is tracked by landmarks (9.), which realigns the ROI.
7. **Landmark crop and mapping back.** The crop is the ROI rotated by ``theta`` and sampled to 256x256
   (``ImageToTensorCalculator``: the ROI corners map to the output corners, bilinear, border
   replicated), RGB in [0, 1]. With ``R = [[cos, -sin], [sin, cos]]``, crop point ``(u, v)`` in
   crop pixels comes from image point ``c + R @ ((u, v) / 256 - 0.5) * side`` (the affine matrix fed to
   ``cv2.warpAffine`` with ``WARP_INVERSE_MAP``), and a landmark given by the model in crop pixels
   is mapped back to the image with the same formula (``LandmarkProjectionCalculator``).
8. **Landmarks** (``TensorsToLandmarksCalculator``): output (195,) = 39 x ``[x, y, z, visibility,
   presence]``, x/y in crop pixels; visibility and presence go through a sigmoid. The 39 are the 33
   body landmarks + 2 auxiliary ones (33 = hip centre, 34 = scale point, as in 5.) + 4 unused. x/y of
   the landmarks are then refined from the 64x64x39 heatmap (``RefineLandmarksFromHeatmapCalculator``,
   kernel 7: sigmoid-weighted mean of the cell indices in a 7x7 window around the landmark, used when
   the window's best value is >= 0.5). The pose flag (1,) is already a probability (sigmoid inside
   the model) that a person is in the crop; below ``min_landmark_score`` the person is dropped (lost).
9. **Tracking ROI**: the ROI for the next frame is built from landmarks 33/34 in image pixels exactly
   like 5. (``pose_landmarks_to_roi``). The legacy graph additionally smooths these two auxiliary
   landmarks with a One-Euro filter; this implementation does not. Measured against the legacy
   pipeline on the 230 frames of sports2d_demo.mp4 (scaled to 960 px): on each of the 219 frames where
   the legacy pipeline saw a person, people were found here too; the median joint distance of the
   closest one is, over those frames, 0.7 % of the person's height at the median, 1.5 % at the 90th
   percentile, below 5 % on 98 % of the frames; visibilities differ by 0.002 (median).
   Single frames from a *detection* ROI (before tracking) differ more from the legacy pipeline in
   static mode (0-25 %): the landmark model is very sensitive to a poorly aligned crop (moving the
   crop by half a pixel changed results by several %), in both implementations.

Small people (opt-in, ``MultiPoseSettings.small_people``): people too small for the detector at
224x224 (a ~35 px spectator in a 1768 px frame) are found by a rolling scan of zoomed tiles with the
same detector, each candidate verified by the landmark model on a few small ROIs; verified people start
tracks here (upright ROIs that keep their size, ``SMALL_SIDE_KEEP``). Decisions and measurements in
``sportlens.pose.small_people``. Off by default: the default pipeline does not change.

Identity drift: between detections a person is followed by the ROI its own landmarks give (9.), and
nothing in that loop knows who the person is. When two people touch (arm wrestling: hands locked in the
middle of the picture, both bodies cut by the border) the landmark model fits a skeleton to the locked
arms and the ROI slides, over ~5-15 frames, from one person onto the other: measured on
arm_wrestling.mp4 (white shirt on the left, black on the right), estimator tracks went from the white
torso (torso patch grey level ~170) to the black one or to the arms (~40-90) in frames 75-87, 113-120,
134-142, 152-170, and ``pose.tracking`` carried the ID along (its track 3: right wrestler in frames
19-65, left one in 108-171; torso brightness consistent on 52 % / 64 % of the labelled frames of the two
main IDs). So each tracked person keeps a running model of its torso colours (``_Track.look``, a
``pose.tracking.LookModel``): the look of a frame is the HSV histogram of the torso patch inside the
picture (``torso_look``: the box of shoulders and hips shrunk like ``appearance_descriptor``'s torso,
clipped to the image, the same ``_region_hist``; unlike that descriptor it needs no joint inside the
picture, so people cut by the border are judged by their own shirt, not by the box centre, which on
close-ups is the locked hands). The model is the mean of the first 3 looks (``LOOK_INIT_FRAMES``), then
moves by 5 % (``LOOK_ALPHA``) towards looks at least 0.8 similar (``LOOK_UPDATE_SIM``, Bhattacharyya
coefficient, ``pose.tracking.appearance_similarity``) and ignores the others, so a slow slide is still
measured against the person the track started on. When 2 looks in a row (``LOOK_DRIFT_FRAMES``) are
less than 0.6 similar to the model (``LOOK_DRIFT_SIM``) the person is dropped in that frame, as when the
pose flag drops (so re-detection runs), and the detector runs again at once in the same frame: it is
anchored on faces, so it puts fresh ROIs on the people who are not tracked any more, and a new ID
starts for whoever is found there. Why these numbers (arm_wrestling.mp4): looks of the white torso
against the black one 0.09-0.38, a skeleton on the locked arms against the white torso 0.14-0.50, the
same torso from frame to frame against its model mostly 0.8-1.0 with dips to 0.55-0.65 for one frame
(motion blur, the corrupt frames ~230-260). ``pose.tracking`` uses the looks only to gate re-detections
(``LOOK_SWITCH_SIM``, 0.4, there). After the change (same video): the two main IDs are posed on 64 %
(black shirt, 99 % of its labelled frames) and 57 % (white shirt, 96 %) of frames, 6 IDs (4 before).
The numbers are tuned on this one video and the outcome is sensitive to them: with 0.65, 0.55 or 3
frames one main ID was consistent on only 61-80 % of its labelled frames. Cost (estimate_people_video,
1 thread, two runs each): arm_wrestling.mp4 31-32 frames/s against 34 before (the torso looks and the
extra detector runs after a drift), sports2d_demo.mp4 38 against 38-39, golf_swing.mp4 73-75 against
72-74. A slide spread over many more frames, every look still >= 0.8 similar to the model, is followed
by it (by design: lighting changes slowly too).

Deduplication: a new detection whose ROI overlaps a tracked person's ROI (IoU of their axis-aligned
bounding squares > ``dedup_iou``, as mediapipe's own multi-pose tracking associates rects) is not
added; with an external detector, neither is a box overlapping a tracked person's landmark box by
IoU > ``dedup_iou``; two tracked people whose landmark boxes come to
overlap by more than ``dedup_iou`` are merged (the lower pose flag is dropped).
Detection runs on frame 0, then every ``detect_every`` frames, on every frame while nobody is
tracked (so a person entering an empty scene is found at once), and 1, 2, 4, 8, ... frames after a
tracked person was lost (landmark flag below ``min_landmark_score``, or merged into another track),
up to ``redetect_frames`` frames after, until as many people are tracked again (``_wants_detection``).
Why: landmark tracking loses people for a frame or two at a time in hard footage (motion blur,
close-ups cut by the border, one person in front of the other), and waiting for the next scheduled
detection (up to ``detect_every - 1`` frames) left them without a pose meanwhile. Measured on
arm_wrestling.mp4 (two people across a table, 280 frames, the landmark flag drops below 0.5 ~80 times),
the two main IDs of ``pose.tracking`` had a pose on 52 % / 49 % of frames with detection every 5
frames only (69 detector runs), 70 % / 61 % with detection on every frame (280), 72 % / 61 % searching
on every frame for 15 frames after a loss (249 runs), and 66 % / 65 % with the 1-2-4-8 search
(``redetect_frames`` 15). On sports2d_demo.mp4 the every-frame search cost 135 detector runs
instead of 50 (a duplicate ROI of one person, merged, counts as a loss), the 1-2-4-8 search 68.
"""
from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np

from sportlens.config import MultiPoseSettings, SmallPeopleSettings
from sportlens.pose.boxes import box_iou
from sportlens.pose.tflite import TFLiteModel, bundled_model
from sportlens.pose.tracking import LookModel
from sportlens.types import VideoInfo
from sportlens.video import VideoReader, probe

NUM_BODY = 33  # BlazePose body landmarks returned to callers
DET_SIZE = 224  # detector input side
LM_SIZE = 256  # landmark model input side
ROI_SCALE = 1.25  # RectTransformationCalculator scale_x/scale_y in the pose graphs
NMS_IOU = 0.3  # NonMaxSuppressionCalculator min_suppression_threshold
HEATMAP_KERNEL = 7  # RefineLandmarksFromHeatmapCalculator kernel_size
HEATMAP_MIN_CONF = 0.5  # ... min_confidence_to_refine
# A track started by the small-person search keeps an upright ROI that moves as its hip centre moves
# (keeping its offset from it) and this share of its side from frame to frame (the rest from the
# landmarks). Rebuilding the ROI from the auxiliary landmarks as for other people lost
# sports2d_demo.mp4's ~30 px background person after 1-2 frames every time (the landmark model answers
# only within ~6 px of the verified centre).
SMALL_SIDE_KEEP = 0.8
_DEFAULTS = MultiPoseSettings()  # the defaults live in sportlens.config only


@dataclass
class PersonDetection:
    """One person in one frame.

    box: (4,) float xyxy pixels: the bounding box of the 33 landmarks (the BlazePose detector's own
        box is a FACE box, not a person box, so it is not reported).
    score: the landmark model's pose flag (probability that a person is in the crop), in [0, 1].
    keypoints: (33, 2) float pixels of the image given, NaN where missing.
    kp_scores: (33,) float in [0, 1] (landmark visibility), 0 where missing.
    track_id: stable id of the tracked person within one sequence (until ``reset()``).
    appearance: colour descriptor of the torso and upper legs (``appearance_descriptor``), set by
        ``estimate_people_video``; None when not computed (the tracker then uses geometry only).
    look: HSV histogram of the torso patch inside the picture (``torso_look``), set by the estimator;
        what the estimator's identity-drift check compared (``pose.tracking`` gates re-detections on
        it); None when the torso is not in the picture (or a small person: not checked).
    """

    box: np.ndarray  # (4,)
    score: float
    keypoints: np.ndarray  # (33, 2)
    kp_scores: np.ndarray  # (33,)
    skeleton: str = "blazepose33"
    track_id: int = -1
    appearance: np.ndarray | None = None  # (APPEARANCE_DIM,) colour descriptor (appearance_descriptor)
    look: np.ndarray | None = None  # (n,) torso colours inside the picture (torso_look), None if unseen


# Appearance (re-identification without a learned model): HSV colour histograms of the torso
# (shoulders..hips) and of the upper legs (hips..knees), each L1-normalised, concatenated.
APPEARANCE_BINS = (8, 3, 3)  # hue x saturation x value bins per region (value tells white from black)
APPEARANCE_REGIONS = 2  # torso, upper legs
APPEARANCE_DIM = APPEARANCE_REGIONS * int(np.prod(APPEARANCE_BINS))
_TORSO = (11, 12, 23, 24)  # BlazePose shoulders and hips
_THIGHS = (23, 24, 25, 26)  # hips and knees


def _region_hist(hsv: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray | None:
    """L1-normalised HSV histogram of the pixels in [x0, x1) x [y0, y1), None if under 16 pixels."""
    H, W = hsv.shape[:2]
    a, b = int(np.clip(np.floor(x0), 0, W)), int(np.clip(np.ceil(x1), 0, W))
    c, d = int(np.clip(np.floor(y0), 0, H)), int(np.clip(np.ceil(y1), 0, H))
    if (b - a) * (d - c) < 16:
        return None
    patch = np.ascontiguousarray(hsv[c:d, a:b])
    hist = cv2.calcHist([patch], [0, 1, 2], None, list(APPEARANCE_BINS), [0, 180, 0, 256, 0, 256])
    hist = hist.reshape(-1).astype(np.float64)
    return hist / max(hist.sum(), 1e-9)


def appearance_descriptor(image_rgb: np.ndarray, keypoints: np.ndarray, kp_scores: np.ndarray,
                          box: np.ndarray, min_score: float = 0.5) -> np.ndarray:
    """(APPEARANCE_DIM,) colour descriptor of one person: per region (torso, upper legs) an HSV
    histogram (``APPEARANCE_BINS``) L1-normalised to sum 1, zeros where the region is not seen.

    The torso is the box of the shoulders and hips, the upper legs the box of the hips and knees,
    each shrunk to its central part (x 60 %, y 80 %) so that background and arms weigh less; a
    region needs all four of its joints scored >= ``min_score`` and inside the image. When neither
    region can be placed (a person cut by the frame border, joints unsure), the central part of
    ``box`` (x 25-75 %, y 20-60 %, about the torso) stands in for the torso. Cheap (two small
    histograms per person); compare with ``sportlens.pose.tracking.appearance_similarity``.
    """
    H, W = image_rgb.shape[:2]
    n = int(np.prod(APPEARANCE_BINS))
    out = np.zeros(APPEARANCE_REGIONS * n)
    kp = np.asarray(keypoints, dtype=np.float64)
    ks = np.nan_to_num(np.asarray(kp_scores, dtype=np.float64), nan=0.0)
    rects = []
    for joints in (_TORSO, _THIGHS):
        p = kp[list(joints)]
        ok = (ks[list(joints)] >= min_score).all() and np.isfinite(p).all() \
            and (p[:, 0] >= 0).all() and (p[:, 0] < W).all() and (p[:, 1] >= 0).all() and (p[:, 1] < H).all()
        if not ok:
            rects.append(None)
            continue
        lo, hi = p.min(axis=0), p.max(axis=0)
        c, half = (lo + hi) / 2, (hi - lo) / 2 * np.array([0.6, 0.8])
        half = np.maximum(half, 2.0)
        rects.append((c[0] - half[0], c[1] - half[1], c[0] + half[0], c[1] + half[1]))
    b = np.asarray(box, dtype=np.float64)
    if all(r is None for r in rects) and b.shape == (4,) and np.isfinite(b).all():
        w, h = b[2] - b[0], b[3] - b[1]
        rects[0] = (b[0] + 0.25 * w, b[1] + 0.2 * h, b[0] + 0.75 * w, b[1] + 0.6 * h)
    if all(r is None for r in rects):
        return out
    xs = [v for r in rects if r is not None for v in (r[0], r[2])]
    ys = [v for r in rects if r is not None for v in (r[1], r[3])]
    x0, x1 = int(np.clip(np.floor(min(xs)), 0, W)), int(np.clip(np.ceil(max(xs)), 0, W))
    y0, y1 = int(np.clip(np.floor(min(ys)), 0, H)), int(np.clip(np.ceil(max(ys)), 0, H))
    if x1 <= x0 or y1 <= y0:
        return out
    hsv = cv2.cvtColor(np.ascontiguousarray(image_rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2HSV)  # only the crop
    for i, r in enumerate(rects):
        if r is not None:
            hist = _region_hist(hsv, r[0] - x0, r[1] - y0, r[2] - x0, r[3] - y0)
            if hist is not None:
                out[i * n:(i + 1) * n] = hist
    return out


LOOK_MIN_PIXELS = 64  # a torso patch smaller than this inside the picture gives no look


def torso_look(image_rgb: np.ndarray, keypoints: np.ndarray) -> np.ndarray | None:
    """(n,) HSV histogram (``APPEARANCE_BINS``, L1-normalised) of the part of the torso INSIDE the
    picture, or None: the box of the shoulders and hips (joints 11, 12, 23, 24, whatever their
    scores), shrunk to its central part like ``appearance_descriptor``'s torso, clipped to the image,
    at least ``LOOK_MIN_PIXELS`` pixels. Unlike ``appearance_descriptor`` it needs no joint inside the
    picture, so people cut by the border (close-ups) still get their own shirt, not the box centre:
    used frame to frame by the identity-drift check (``sportlens.pose.tracking.LookModel``)."""
    p = np.asarray(keypoints, dtype=np.float64)[list(_TORSO)]
    if not np.isfinite(p).all():
        return None
    H, W = image_rgb.shape[:2]
    lo, hi = p.min(axis=0), p.max(axis=0)
    c, half = (lo + hi) / 2, np.maximum((hi - lo) / 2 * np.array([0.6, 0.8]), 2.0)
    x0, x1 = int(np.clip(np.floor(c[0] - half[0]), 0, W)), int(np.clip(np.ceil(c[0] + half[0]), 0, W))
    y0, y1 = int(np.clip(np.floor(c[1] - half[1]), 0, H)), int(np.clip(np.ceil(c[1] + half[1]), 0, H))
    if (x1 - x0) * (y1 - y0) < LOOK_MIN_PIXELS:
        return None
    hsv = cv2.cvtColor(np.ascontiguousarray(image_rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2HSV)
    return _region_hist(hsv, 0, 0, x1 - x0, y1 - y0)


class BoxDetector(Protocol):
    """Any person detector: ``detect(image_rgb (H, W, 3) uint8) -> (boxes (N, 4) xyxy px, scores (N,))``."""

    def detect(self, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


# ----------------------------------------------------------------------------------------------
# Pure geometry/decoding functions (tested on hand-made inputs)
# ----------------------------------------------------------------------------------------------

def ssd_anchors(input_size: int = DET_SIZE, strides: tuple[int, ...] = (8, 16, 32, 32, 32),
                anchors_per_layer: int = 2) -> np.ndarray:
    """(A, 2) anchor centres (x, y) in [0, 1] of the pose detector (A = 2254 by default).

    SsdAnchorsCalculator with ``fixed_anchor_size``: layers sharing a stride share a grid, each layer
    adds ``anchors_per_layer`` anchors per cell (aspect ratio 1 + interpolated scale), all with the
    same centre. Order: grid by grid, cells row-major, the anchors of one cell consecutive.
    """
    out = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        grid = math.ceil(input_size / strides[i])
        per_cell = anchors_per_layer * (j - i)
        ys, xs = np.meshgrid((np.arange(grid) + 0.5) / grid, (np.arange(grid) + 0.5) / grid, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)  # (grid*grid, 2)
        out.append(np.repeat(centres, per_cell, axis=0))
        i = j
    return np.concatenate(out).astype(np.float64)


def decode_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray,
                      min_score: float = 0.5, input_size: int = DET_SIZE
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw SSD outputs -> detections in the detector's normalised [0, 1] input square.

    raw_boxes (A, 12), raw_scores (A,) or (A, 1), anchors (A, 2).
    Returns boxes (N, 4) xyxy, keypoints (N, 4, 2), scores (N,), only those >= ``min_score``.
    """
    raw_boxes = np.asarray(raw_boxes, dtype=np.float64).reshape(len(anchors), -1)  # (A, 12)
    logits = np.clip(np.asarray(raw_scores, dtype=np.float64).reshape(-1), -100.0, 100.0)  # (A,)
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = scores >= min_score
    raw, anc, scores = raw_boxes[keep], anchors[keep], scores[keep]
    cx = raw[:, 0] / input_size + anc[:, 0]
    cy = raw[:, 1] / input_size + anc[:, 1]
    w = raw[:, 2] / input_size  # anchor w = h = 1 (fixed_anchor_size)
    h = raw[:, 3] / input_size
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)  # (N, 4)
    kp = raw[:, 4:12].reshape(-1, 4, 2) / input_size + anc[:, None, :]  # (N, 4, 2)
    return boxes, kp, scores


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float = NMS_IOU,
                 max_out: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mediapipe's WEIGHTED non-maximum suppression. boxes (N, 4), keypoints (N, K, 2), scores (N,).

    Each kept detection is the score-weighted mean (box and keypoints) of the detections overlapping
    the best remaining one by IoU > ``iou_threshold`` (itself included); its score is the best one's.
    """
    order = np.argsort(-scores, kind="stable")
    remaining = list(order)
    out_b, out_k, out_s = [], [], []
    while remaining:
        top = remaining[0]
        ious = box_iou(boxes[top], boxes[remaining])[0]  # (R,)
        group = [r for r, o in zip(remaining, ious) if o > iou_threshold]
        group = group or [top]
        w = scores[group][:, None]  # (G, 1)
        out_b.append((boxes[group] * w).sum(0) / w.sum())
        out_k.append((keypoints[group] * w[:, :, None]).sum(0) / w.sum())
        out_s.append(scores[top])
        remaining = [r for r, o in zip(remaining, ious) if not o > iou_threshold and r != top]
        if max_out and len(out_s) >= max_out:
            break
    if not out_s:
        return np.zeros((0, 4)), np.zeros((0,) + keypoints.shape[1:]), np.zeros(0)
    return np.array(out_b), np.array(out_k), np.array(out_s)


@dataclass
class Roi:
    """A rotated square region of the image: centre (pixels), side (pixels), rotation (radians,
    clockwise on screen, i.e. the usual image-coordinates rotation with y down)."""

    cx: float
    cy: float
    side: float
    rotation: float = 0.0

    def crop_matrix(self, size: int = LM_SIZE) -> np.ndarray:
        """(2, 3) affine map crop pixel (u, v) -> image pixel (x, y) (for ``WARP_INVERSE_MAP``)."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        k = self.side / size
        # x = cx + R @ ((u, v) * k - side / 2)
        rk = np.array([[c * k, -s * k], [s * k, c * k]])
        t = np.array([self.cx, self.cy]) - rk @ np.array([size / 2, size / 2])
        return np.concatenate([rk, t[:, None]], axis=1)

    def to_image(self, uv: np.ndarray, size: int = LM_SIZE) -> np.ndarray:
        """(..., 2) crop pixels -> (..., 2) image pixels."""
        m = self.crop_matrix(size)
        return uv @ m[:, :2].T + m[:, 2]

    def to_crop(self, xy: np.ndarray, size: int = LM_SIZE) -> np.ndarray:
        """(..., 2) image pixels -> (..., 2) crop pixels (inverse of ``to_image``)."""
        m = self.crop_matrix(size)
        return (xy - m[:, 2]) @ np.linalg.inv(m[:, :2]).T

    def bounds(self) -> np.ndarray:
        """(4,) xyxy of the axis-aligned square of the same centre and side (used for overlap tests)."""
        h = self.side / 2
        return np.array([self.cx - h, self.cy - h, self.cx + h, self.cy + h])


def roi_from_keypoints(centre: np.ndarray, scale_point: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """ROI from the hip centre and the scale point, both (2,) pixels (steps 5 and 9 of the module doc)."""
    dx, dy = float(scale_point[0] - centre[0]), float(scale_point[1] - centre[1])
    side = 2.0 * math.hypot(dx, dy) * scale
    rotation = math.pi / 2 - math.atan2(-dy, dx)
    rotation = (rotation + math.pi) % (2 * math.pi) - math.pi  # NormalizeRadians
    return Roi(float(centre[0]), float(centre[1]), side, rotation)


def detection_squares(width: int, height: int, zoom: float = 1.0) -> list[Roi]:
    """The axis-aligned squares the detector looks at for one ``zoom`` (step 1 of the module doc).

    zoom >= 1: one square of side ``zoom * max(W, H)`` centred on the frame (1 = mediapipe's
    letterbox; > 1 shrinks the frame inside it: people cut by the border or filling the frame look
    like the whole bodies the detector was trained on). zoom < 1: tiles of side ``zoom * max(W, H)``
    overlapping by half, covering the frame: small people look bigger (crowds, distant athletes).
    """
    side = float(max(width, height)) * zoom
    if zoom >= 1.0:
        return [Roi(width / 2, height / 2, side, 0.0)]

    def centres(extent: float) -> np.ndarray:
        if extent <= side:
            return np.array([extent / 2])
        n = int(math.ceil((extent - side) / (side / 2))) + 1
        return np.linspace(side / 2, extent - side / 2, n)

    return [Roi(float(cx), float(cy), side, 0.0) for cy in centres(height) for cx in centres(width)]


def roi_from_box(box: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """ROI from a person box (4,) xyxy pixels only: centre of the box, 1.25 x its longer side, upright."""
    x0, y0, x1, y1 = (float(v) for v in box)
    return Roi((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * scale, 0.0)


def refine_from_heatmap(uv: np.ndarray, heatmap: np.ndarray, size: int = LM_SIZE,
                        kernel: int = HEATMAP_KERNEL, min_conf: float = HEATMAP_MIN_CONF) -> np.ndarray:
    """RefineLandmarksFromHeatmapCalculator. uv (L, 2) crop pixels, heatmap (h, w, L) logits -> (L, 2)."""
    hm_h, hm_w, _ = heatmap.shape
    out = uv.copy()
    off = (kernel - 1) // 2
    for i in range(min(len(uv), heatmap.shape[2])):
        if not np.isfinite(uv[i]).all():
            continue
        col, row = int(uv[i, 0] / size * hm_w), int(uv[i, 1] / size * hm_h)  # C++ truncation toward 0
        if not (0 <= col < hm_w and 0 <= row < hm_h) or uv[i, 0] < 0 or uv[i, 1] < 0:
            continue
        r0, r1 = max(0, row - off), min(hm_h, row + off + 1)
        c0, c1 = max(0, col - off), min(hm_w, col + off + 1)
        conf = 1.0 / (1.0 + np.exp(-heatmap[r0:r1, c0:c1, i].astype(np.float64)))  # (kh, kw)
        total = conf.sum()
        if conf.max() >= min_conf and total > 0:
            rows, cols = np.mgrid[r0:r1, c0:c1]
            out[i, 0] = (cols * conf).sum() / total / hm_w * size
            out[i, 1] = (rows * conf).sum() / total / hm_h * size
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80, 80)))


# ----------------------------------------------------------------------------------------------
# The estimator
# ----------------------------------------------------------------------------------------------

@dataclass
class _Track:
    track_id: int
    roi: Roi
    box: np.ndarray | None = None  # (4,) xyxy of its 33 landmarks in the last frame it was seen
    small: bool = False  # started by the small-person search: followed with an upright, steady-size ROI
    anchor: np.ndarray | None = None  # (2,) a small track's hip centre (aux landmark 33) in the last frame
    look: LookModel = field(default_factory=LookModel)  # torso colours: the identity-drift check


@dataclass
class _Landmarks:
    xy: np.ndarray  # (39, 2) image pixels
    visibility: np.ndarray  # (39,)
    flag: float


class MultiPoseEstimator:
    """Several people per frame with the BlazePose models bundled in mediapipe (see module doc).

    Stateful like every video pose backend: people are tracked from frame to frame; ``reset()``
    before an unrelated sequence. Not thread-safe (one instance per thread).
    """

    skeleton = "blazepose33"

    def __init__(self, max_people: int = _DEFAULTS.max_people, detect_every: int = _DEFAULTS.detect_every,
                 min_detection_score: float = _DEFAULTS.min_detection_score,
                 min_landmark_score: float = _DEFAULTS.min_landmark_score, detector: BoxDetector | None = None,
                 num_threads: int = _DEFAULTS.num_threads, dedup_iou: float = _DEFAULTS.dedup_iou,
                 max_candidates: int = 0, detect_zoom: tuple[float, ...] = _DEFAULTS.detect_zoom,
                 workers: int = _DEFAULTS.workers, redetect_frames: int = _DEFAULTS.redetect_frames,
                 small_people: SmallPeopleSettings | None = None):
        if max_people < 1 or detect_every < 1:
            raise ValueError("max_people and detect_every must be >= 1")
        self.max_people = int(max_people)
        self.detect_every = int(detect_every)
        self.min_detection_score = float(min_detection_score)
        self.min_landmark_score = float(min_landmark_score)
        self.dedup_iou = float(dedup_iou)
        self.redetect_frames = max(0, int(redetect_frames))
        self.detector = detector
        self.detect_zoom = tuple(float(z) for z in detect_zoom) or (1.0,)
        # Detections considered per detection frame (best first); 0 = 4 x max_people. Bounded so a
        # crowd costs a bounded number of landmark passes.
        self.max_candidates = int(max_candidates) or 4 * self.max_people
        self._det = None if detector is not None else TFLiteModel(bundled_model("pose_detection"), num_threads)
        self._lm = TFLiteModel(bundled_model("pose_landmark_full"), num_threads)
        self._lm_names = self._landmark_output_names()
        # workers > 1: the people of a frame are split over that many threads, each with its own
        # landmark interpreter (TFLite releases the GIL while it runs, so two people use two cores).
        self.workers = max(1, int(workers))
        self._lm_extra = [TFLiteModel(bundled_model("pose_landmark_full"), num_threads)
                          for _ in range(self.workers - 1)]
        self._pool = ThreadPoolExecutor(self.workers - 1) if self.workers > 1 else None
        self._anchors = ssd_anchors()
        # Opt-in search for people too small for the whole-frame detector (sportlens.pose.small_people).
        self.small_people = small_people if small_people is not None and small_people.enabled else None
        self._num_threads = num_threads
        self._small_det = None  # the batched detector of the tile scan, created at the first frame
        self.reset()

    @classmethod
    def from_settings(cls, settings: MultiPoseSettings, detector: BoxDetector | None = None) -> "MultiPoseEstimator":
        return cls(max_people=settings.max_people, detect_every=settings.detect_every,
                   min_detection_score=settings.min_detection_score,
                   min_landmark_score=settings.min_landmark_score, detector=detector,
                   num_threads=settings.num_threads, dedup_iou=settings.dedup_iou,
                   detect_zoom=settings.detect_zoom, workers=settings.workers,
                   redetect_frames=settings.redetect_frames, small_people=settings.small_people)

    def _landmark_output_names(self) -> dict[str, str]:
        """Which output is which, by shape (names like 'Identity_1' are not meaningful)."""
        names = {}
        for n, shp in self._lm.output_shapes.items():
            size = int(np.prod(shp))
            if size == 195:
                names["landmarks"] = n  # 39 x (x, y, z, visibility, presence)
            elif size == 1:
                names["flag"] = n
            elif len(shp) == 4 and shp[-1] == 39:
                names["heatmap"] = n  # (1, 64, 64, 39)
        return names

    def reset(self) -> None:
        """Forget the tracked people (the next frame starts a new sequence)."""
        self._tracks: list[_Track] = []
        self._frame = 0
        self._next_id = 0
        self._wanted = 0  # people tracked before the latest loss (re-detection runs until found again)
        self._lost_frame = -1  # frame of the latest loss
        self._small = None
        self._search_k: float | None = None  # search_image / image size of the latest frame
        if self.small_people is not None:
            from sportlens.pose.small_people import SmallPeopleSearch

            self._small = SmallPeopleSearch(self.small_people, self._detect_tiles,
                                            lambda image, r: self._landmarks_xy(image, r))

    def close(self) -> None:
        if getattr(self, "_pool", None) is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._det = self._lm = None
        self._lm_extra = []

    def __enter__(self) -> "MultiPoseEstimator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- detection -------------------------------------------------------------------------

    def detect(self, image: np.ndarray) -> list[tuple[Roi, np.ndarray, float]]:
        """People in the frame as (ROI, box (4,) xyxy px, score), best first, at most ``max_candidates``."""
        if self.detector is not None:
            boxes, scores = self.detector.detect(image)
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)  # (N, 4)
            scores = np.asarray(scores, dtype=np.float64).reshape(-1)  # (N,)
            order = [i for i in np.argsort(-scores) if scores[i] >= self.min_detection_score]
            return [(roi_from_box(boxes[i]), boxes[i], float(scores[i])) for i in order[: self.max_candidates]]
        h, w = image.shape[:2]
        found: list[tuple[Roi, np.ndarray, float]] = []
        squares = [sq for zoom in self.detect_zoom for sq in detection_squares(w, h, zoom)]
        for square in squares:
            found += self._detect_square(image, square)
        if len(squares) > 1:  # the same person seen in several squares: keep the best score
            found.sort(key=lambda d: -d[2])
            kept: list[tuple[Roi, np.ndarray, float]] = []
            for d in found:
                if not kept or box_iou(d[0].bounds(), np.array([k[0].bounds() for k in kept])).max() <= self.dedup_iou:
                    kept.append(d)
            found = kept
        return found[: self.max_candidates]

    def _detect_square(self, image: np.ndarray, square: Roi) -> list[tuple[Roi, np.ndarray, float]]:
        """Run the SSD on the image letterboxed into ``square`` (axis-aligned) -> (ROI, box px, score)."""
        x = cv2.warpAffine(image, square.crop_matrix(DET_SIZE), (DET_SIZE, DET_SIZE),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0)  # (224, 224, 3) uint8
        x = x.astype(np.float32) * (2.0 / 255.0) - 1.0  # [-1, 1]
        out = self._det.run(x[None])
        raw_boxes = next(v for v in out.values() if v.shape[-1] == 12)[0]  # (2254, 12)
        raw_scores = next(v for v in out.values() if v.shape[-1] == 1)[0]  # (2254, 1)
        boxes, kps, scores = decode_detections(raw_boxes, raw_scores, self._anchors, self.min_detection_score)
        boxes, kps, scores = weighted_nms(boxes, kps, scores, NMS_IOU, self.max_candidates)
        people = []
        for b, k, s in zip(boxes, kps, scores):
            # normalised square -> image pixels: x = cx + (u - 0.5) * side (letterbox removal + scaling)
            b_px = square.to_image(b.reshape(2, 2) * DET_SIZE, DET_SIZE).reshape(4)  # (4,) face box
            k_px = square.to_image(k * DET_SIZE, DET_SIZE)  # (4, 2)
            people.append((roi_from_keypoints(k_px[0], k_px[1]), b_px, float(s)))
        return people

    # -- landmarks -------------------------------------------------------------------------

    def landmarks(self, image: np.ndarray, roi: Roi, model: TFLiteModel | None = None) -> _Landmarks:
        """Run the landmark model on the ROI's crop; landmarks mapped back to image pixels."""
        crop = cv2.warpAffine(image, roi.crop_matrix(LM_SIZE), (LM_SIZE, LM_SIZE),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)  # (256, 256, 3) uint8
        out = (model or self._lm).run((crop.astype(np.float32) * (1.0 / 255.0))[None])
        raw = out[self._lm_names["landmarks"]].reshape(39, 5)  # (39, 5)
        uv = raw[:, :2].astype(np.float64)  # (39, 2) crop pixels
        if "heatmap" in self._lm_names:
            uv = refine_from_heatmap(uv, out[self._lm_names["heatmap"]][0])
        # The pose flag is already a probability (the model ends in a sigmoid: ~0 on a blank crop).
        flag = float(np.clip(np.asarray(out[self._lm_names["flag"]]).reshape(-1)[0], 0.0, 1.0))
        return _Landmarks(roi.to_image(uv), _sigmoid(raw[:, 3].astype(np.float64)), flag)

    # -- per frame -------------------------------------------------------------------------

    def estimate_people(self, image: np.ndarray, search_image: np.ndarray | None = None) -> list[PersonDetection]:
        """image (H, W, 3) uint8 RGB -> the people in it (at most ``max_people``), tracked over calls.

        ``search_image``: the same frame at a higher resolution (same aspect ratio) for the small-person
        search and the landmark passes of the small people it found; None = ``image``. Everything
        returned is in pixels of ``image``."""
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 2:
            raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
        image = np.ascontiguousarray(image)
        h, w = image.shape[:2]
        search = image if search_image is None else np.ascontiguousarray(search_image)
        k = search.shape[1] / w  # search-image pixels per image pixel (small tracks' ROIs are in the former)
        if self._small is not None and self._search_k not in (None, k):  # another resolution: start over
            self._tracks = [t for t in self._tracks if not t.small]
            self._small.forget()
        self._search_k = k
        if self._wants_detection():
            self._add_detections(image)
        if self._small is not None:
            self._add_small_people(search, k)
        # people followed since an earlier frame (a fresh detection failing its first landmark pass is
        # a false detection, not a loss to search for)
        before = sum(t.box is not None for t in self._tracks)
        frame = self._frame
        self._frame += 1

        people: list[PersonDetection] = []
        kept: list[_Track] = []
        drifted = self._follow(self._tracks, self._all_landmarks(image, search), image, k, people, kept)
        if drifted and len(kept) < self.max_people:
            # A person whose ROI slid onto someone else: look for people again in this very frame (the
            # detector is anchored on faces, so it puts a fresh ROI on each person) rather than leave
            # the frame without them; new people only (ROIs overlapping the kept ones are not added).
            self._tracks, n = list(kept), len(kept)
            self._add_detections(image)
            new = self._tracks[n:]
            self._follow(new, [self.landmarks(image, t.roi) for t in new], image, k, people, kept)
        people, kept = self._drop_small_parts(people, kept)
        people, kept = self._merge_duplicates(people, kept)
        self._tracks = kept
        self._note_losses(frame, before, len(kept))
        return people

    def _follow(self, tracks: list[_Track], landmarks: list[_Landmarks], image: np.ndarray, k: float,
                people: list[PersonDetection], kept: list[_Track]) -> bool:
        """One frame of landmark tracking: each person of ``tracks`` still seen (pose flag, no identity
        drift) is appended to ``people`` and, when its next ROI is sound, its track to ``kept``. Returns
        whether a person was dropped for identity drift (``_Track.look``)."""
        h, w = image.shape[:2]
        drifted = False
        for tr, lm in zip(tracks, landmarks):
            if lm.flag < self.min_landmark_score or not np.isfinite(lm.xy).all():
                continue  # lost: this person is no longer tracked
            body = lm.xy[:NUM_BODY] / (k if tr.small else 1.0)  # (33, 2) image px
            look = None if tr.small else torso_look(image, body)
            if tr.look.observe(look):
                drifted = True
                continue  # identity drift: the ROI slid onto someone else; lost (detection runs again)
            box = np.concatenate([body.min(0), body.max(0)])  # (4,)
            tr.box = box
            people.append(PersonDetection(box=box, score=lm.flag,
                                          keypoints=body.copy(), kp_scores=np.clip(lm.visibility[:NUM_BODY], 0, 1),
                                          track_id=tr.track_id, look=look))
            # Next frame's ROI from the auxiliary landmarks 33 (hip centre) and 34 (scale point).
            nxt = roi_from_keypoints(lm.xy[33], lm.xy[34])
            if nxt.side < 2.0 or nxt.side > 8 * max(w, h) * (k if tr.small else 1.0):  # degenerate: detect again
                continue
            if tr.small:  # a ~30 px person: the ROI moves with the landmarks, keeps its offset and size
                move = lm.xy[33] - tr.anchor if tr.anchor is not None else np.zeros(2)
                nxt = Roi(tr.roi.cx + move[0], tr.roi.cy + move[1],
                          SMALL_SIDE_KEEP * tr.roi.side + (1 - SMALL_SIDE_KEEP) * nxt.side, 0.0)
                tr.anchor = lm.xy[33].copy()
            tr.roi = nxt
            kept.append(tr)
        return drifted

    def _wants_detection(self) -> bool:
        """Run the detector in this frame: scheduled, nobody tracked, or searching for someone just lost."""
        if self._frame % self.detect_every == 0 or not self._tracks:
            return True
        since = self._frame - self._lost_frame
        # 1, 2, 4, 8, ... frames after the loss: a person missed for a frame or two is found at once,
        # one who stays unseen (left, hidden) costs a few detector runs, not one per frame
        searching = since <= self.redetect_frames and since & (since - 1) == 0
        return searching and len(self._tracks) < self._wanted

    def _note_losses(self, frame: int, before: int, after: int) -> None:
        """Remember a loss in ``frame`` (``before`` people tracked, ``after`` left) so that the next
        ``redetect_frames`` frames detect."""
        if after < before:
            recent = frame - self._lost_frame <= self.redetect_frames
            self._wanted = max(before, self._wanted) if recent else before
            self._lost_frame = frame

    def _all_landmarks(self, image: np.ndarray, search: np.ndarray | None = None) -> list[_Landmarks]:
        """Landmarks of every tracked person, in track order (split over the worker threads); small people
        (``_Track.small``) on ``search``, in its pixels."""
        rois = [t.roi for t in self._tracks]
        images = [search if t.small and search is not None else image for t in self._tracks]
        if self._pool is None or len(rois) < 2:
            return [self.landmarks(im, r) for im, r in zip(images, rois)]
        models = [self._lm, *self._lm_extra]
        # person i goes to model i % workers; each model runs its people one after the other
        groups = [list(range(k, len(rois), len(models))) for k in range(len(models))]
        run = lambda k: [self.landmarks(images[i], rois[i], models[k]) for i in groups[k]]  # noqa: E731
        futures = [self._pool.submit(run, k) for k in range(1, len(models)) if groups[k]]
        out: list[_Landmarks | None] = [None] * len(rois)
        for i, lm in zip(groups[0], run(0)):  # this thread works too
            out[i] = lm
        for f, k in zip(futures, [k for k in range(1, len(models)) if groups[k]]):
            for i, lm in zip(groups[k], f.result()):
                out[i] = lm
        return out  # type: ignore[return-value]

    def _add_detections(self, image: np.ndarray) -> None:
        """Start tracking the detected people who are not tracked yet (up to ``max_people``).

        "Already tracked" as in mediapipe's multi-pose tracking (AssociationNormRectCalculator): the
        detection's ROI overlaps a tracked ROI by IoU > ``dedup_iou``. A box from an external
        detector is a person box, so it is also compared with each tracked person's landmark box
        (their ROIs are built differently, so ROI overlap alone is a poor test there).
        """
        rois = [t.roi.bounds() for t in self._tracks if not t.small]  # each (4,) (small people's are elsewhere)
        boxes = [t.box for t in self._tracks if t.box is not None]  # each (4,)
        for roi, box, _score in self.detect(image):
            if len(self._tracks) >= self.max_people:
                break
            if roi.side < 2.0:
                continue
            b = roi.bounds()
            if rois and box_iou(b, np.array(rois)).max() > self.dedup_iou:
                continue
            if self.detector is not None and boxes and box_iou(box, np.array(boxes)).max() > self.dedup_iou:
                continue
            self._tracks.append(_Track(self._next_id, roi))
            self._next_id += 1
            rois.append(b)
            if self.detector is not None:
                boxes.append(box)

    def _add_small_people(self, search: np.ndarray, k: float) -> None:
        """This frame's share of the small-person search on ``search`` (``k`` of its pixels per image
        pixel): verified people start tracks (module ``sportlens.pose.small_people``)."""
        if len(self._tracks) >= self.max_people:
            return
        tracked = [t.box * k if t.box is not None else t.roi.bounds() * (1.0 if t.small else k) for t in self._tracks]
        for v in self._small.step(search, tracked):
            if len(self._tracks) >= self.max_people:
                break
            self._tracks.append(_Track(self._next_id, Roi(*v.roi), small=True))
            self._next_id += 1

    def _detect_tiles(self, image: np.ndarray, tiles: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """The bundled detector on tiles ``(cx, cy, side)`` (N, 3) in one batched call -> per tile (face
        boxes (K, 4) xyxy image px, scores (K,)), after weighted NMS, the best one per tile (K <= 1)."""
        from sportlens.pose.small_people import BatchedDetector, tiles_to_input

        h, w = image.shape[:2]
        batch = self._small.per_frame(w, h)
        if self._small_det is None or self._small_det.batch != batch:
            self._small_det = BatchedDetector(str(bundled_model("pose_detection")), batch, self._num_threads)
        out = []
        for k in range(0, len(tiles), batch):
            part = tiles[k:k + batch]
            raw_boxes, raw_scores = self._small_det.run(tiles_to_input(image, part, batch))
            for i, (cx, cy, side) in enumerate(part):
                b, kp, sc = decode_detections(raw_boxes[i], raw_scores[i], self._anchors, self.small_people.min_score)
                b, kp, sc = weighted_nms(b, kp, sc, NMS_IOU, 1)
                px = b * side + np.array([cx - side / 2, cy - side / 2] * 2)  # (K, 4) image px
                out.append((px, sc))
        return out

    def _landmarks_xy(self, image: np.ndarray, roi: tuple[float, float, float]) -> tuple[np.ndarray, float]:
        lm = self.landmarks(image, Roi(*roi))
        return lm.xy, lm.flag

    def _drop_small_parts(self, people: list[PersonDetection], tracks: list[_Track]):
        """A small person (``_Track.small``) whose landmarks' centre lies in a larger tracked person's box
        is a part of that person (a head and shoulders the search verified before the detector found the
        whole body, or that the whole body walked over): dropped."""
        small = {t.track_id for t in tracks if t.small}
        big = np.array([p.box for p in people if p.track_id not in small]).reshape(-1, 4)
        if not small or not len(big):
            return people, tracks
        drop = set()
        for p in people:
            if p.track_id in small:
                c = np.nanmean(p.keypoints, axis=0)
                if ((c[0] >= big[:, 0]) & (c[0] <= big[:, 2]) & (c[1] >= big[:, 1]) & (c[1] <= big[:, 3])).any():
                    drop.add(p.track_id)
        return [p for p in people if p.track_id not in drop], [t for t in tracks if t.track_id not in drop]

    def _merge_duplicates(self, people: list[PersonDetection], tracks: list[_Track]):
        """Two tracks that converged on the same person: keep the one with the higher pose flag."""
        if len(people) < 2:
            return people, tracks
        boxes = np.array([np.concatenate([p.keypoints.min(0), p.keypoints.max(0)]) for p in people])
        iou = box_iou(boxes, boxes)
        order = np.argsort([-p.score for p in people], kind="stable")
        keep: list[int] = []
        for i in order:
            if all(iou[i, j] <= self.dedup_iou for j in keep):
                keep.append(int(i))
        keep.sort(key=lambda i: people[i].track_id)  # stable output order: oldest track first
        keep_ids = {people[i].track_id for i in keep}
        return [people[i] for i in keep], [t for t in tracks if t.track_id in keep_ids]


# ----------------------------------------------------------------------------------------------
# Over a video
# ----------------------------------------------------------------------------------------------

@dataclass
class MultiPoseResult:
    """Per-frame people of a video. ``people[t]`` are the people of frame ``frame_index[t]`` at
    ``times[t]`` seconds, keypoints in pixels of the ORIGINAL (upright) frame size."""

    people: list[list[PersonDetection]]
    times: np.ndarray  # (T,)
    frame_index: np.ndarray  # (T,)
    warnings: list[str] = field(default_factory=list)
    frame_size: tuple[int, int] | None = None  # (width, height) of the original upright frame

    @property
    def counts(self) -> np.ndarray:
        """(T,) number of people per frame."""
        return np.array([len(p) for p in self.people], dtype=np.int64)


def estimate_people_video(path: str | Path, settings: MultiPoseSettings = MultiPoseSettings(), *,
                          start: float | None = None, end: float | None = None,
                          progress: Callable[[int], None] | None = None, info: VideoInfo | None = None,
                          detector: BoxDetector | None = None,
                          stop: threading.Event | None = None) -> MultiPoseResult:
    """Multi-person pose over [start, end) seconds of a video, frame after frame (tracking needs order).

    ``progress(n)`` is called after every n frames (like ``sportlens.pose.runner.estimate_video``).
    Frames are scaled to ``settings.max_side`` before pose; keypoints and boxes are returned in
    pixels of the original upright frame.
    """
    path = Path(path)
    info = info or probe(path)
    reader = VideoReader(path, start=start, end=end, max_side=settings.max_side or None)
    search_reader = None
    if settings.small_people.enabled:  # the tile scan needs the detail: a second decoder at a higher resolution
        sp = settings.small_people.max_side
        search_side = 0 if not (settings.max_side and sp) else max(settings.max_side, sp)
        candidate = VideoReader(path, start=start, end=end, max_side=search_side or None)
        if candidate.output_size != reader.output_size:
            search_reader = candidate
    w, h = reader.output_size
    scale = np.array([info.width / w, info.height / h])  # (2,) back to original pixels
    people, times, index = [], [], []
    searched = iter(search_reader) if search_reader is not None else None
    with MultiPoseEstimator.from_settings(settings, detector) as est:
        for frame in reader:
            if stop is not None and stop.is_set():
                break
            big = next(searched, None) if searched is not None else None
            if big is not None and big.index != frame.index:  # the two decoders disagree: search on this one
                big = None
            found = est.estimate_people(frame.image, None if big is None else big.image)
            for p in found:
                p.appearance = appearance_descriptor(frame.image, p.keypoints, p.kp_scores, p.box)
                p.keypoints = p.keypoints * scale
                p.box = p.box * np.tile(scale, 2)
            people.append(found)
            times.append(frame.time)
            index.append(frame.index)
            if progress is not None:
                progress(1)
    return MultiPoseResult(people, np.array(times, dtype=np.float64), np.array(index, dtype=np.int64),
                           list(reader.warnings), (int(info.width), int(info.height)))
