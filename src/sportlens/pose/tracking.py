"""Multi-person tracking: stable person IDs over a clip, from per-frame pose detections.

Pure algorithms on arrays (no video I/O). ``track_people`` takes, per frame, the detections of a
multi-person pose estimator (anything with the attributes of ``DetectionLike``: ``box`` (4,) xyxy
pixels, ``score``, ``keypoints`` (V, 2) pixels NaN where missing, ``kp_scores`` (V,), ``skeleton``)
and returns one ``PoseTrack`` per person.

How (ByteTrack, Zhang et al., ECCV 2022, with a pose term):

1. every track's box is predicted by a constant-velocity Kalman filter on (cx, cy, aspect, h)
   (the SORT/ByteTrack state); lost tracks keep being predicted for up to ``max_age`` frames. The
   box the tracker follows is that of the detection's *visible* joints (score >= ``kp_min_score``,
   padded; ``visible_box``), not the estimator's box of all landmarks: for people cut by the frame
   border the latter includes hips and legs guessed far outside the picture and jumps 2-3x in size
   from frame to frame (close-ups such as arm_wrestling.mp4); the reported boxes stay the given ones;
2. detections are split by score: *high* ones are matched first against all confirmed tracks
   (tracked and lost), the most recently seen tracks first (DeepSORT's matching cascade: a track
   lost for 1 frame gets its person back before one lost for 20 frames at the same place, so two
   tracks that ended up on one person do not take turns), then *low* ones against the tracked ones
   still unmatched; low-score detections are often the occluded persons, so they extend tracks but
   never start one;
3. the cost is 1 - similarity, similarity = max(IoU, (1 - w) IoU + w OKS): IoU of the detection's
   box with the predicted box, and an OKS-like keypoint similarity (COCO object keypoint similarity
   with one constant for all joints, scale = sqrt(area of the predicted box)) between the
   detection's keypoints and the track's last keypoints moved by the predicted motion. The
   keypoints tell two overlapping people apart when their boxes are alike (crossings: the right
   pair gets the OKS bonus); they never veto a box overlap (``oks_bonus_only``), since pose
   estimators regularly put a different, misplaced skeleton on the same person (blur, cut bodies).
   A *lost* track is compared both with its predicted box and with the box where it was last seen
   (``lost_standing``), the better counts: velocities measured on a few noisy boxes before the
   person vanished send the prediction far away, while hidden people mostly reappear about where
   they were (the "moved or stood still" rule of ``_join_cost``). Hungarian assignment is
   ``scipy.optimize.linear_sum_assignment``;
4. remaining high detections are matched to tentative tracks; a tentative track is confirmed after
   ``min_hits`` consecutive hits and dies at its first miss, so flickering false detections do not
   make IDs; unmatched detections above ``new_track_score`` start tentative tracks, unless they lie
   mostly inside a detection already matched in the frame (``duplicate_overlap``): the same person
   reported twice (a whole-body fit and a partial one on an arm) must not become a second ID;
5. afterwards, fragments are joined: a track that ended and one that started up to
   ``join_max_gap`` frames later, near where the first was heading (or where it stood) and of a
   similar size, become one ID, only when that pairing is clearly the best for both (see
   ``join_fragments``). Two tracks present in the same frame are never joined;
6. appearance (the re-identification step of DeepSORT / BoT-SORT, without a learned model), used
   only when the detections carry an optional ``appearance`` attribute (``PersonDetection.appearance``
   from ``estimate_people_video``; absent or None: geometry only, exactly as above). The descriptor
   (``multiperson.appearance_descriptor``) is an HSV colour histogram (8 hue x 3 saturation x 3 value
   bins; value tells a white shirt from a black one) of the torso (box of shoulders and hips) and of
   the upper legs (box of hips and knees), each L1-normalised, the box centre standing in when the
   joints are unsure. Two descriptors are compared by the Bhattacharyya coefficient sum(sqrt(p q))
   averaged over the regions seen in both (``appearance_similarity``, 1 = same colours). Each track
   keeps the per-region mean over all its detections, and fragment joining compares these means:
   robust to the few frames where someone passes in front. (An exponential moving average, DeepSORT's
   choice, i.e. the ending fragment's latest look, was measured too: on the jumper below it gives 0.51
   against 0.54 for the walker, still the wrong order, and no gain on arm_wrestling.mp4.) Two rules:
   a join whose similarity is below ``appearance_veto`` (0.3: clearly other colours) is never made,
   even when the geometry is clear (someone else appearing where the first person went); and a pair
   beyond ``join_max_gap`` / ``join_max_distance`` but within ``appearance_join_max_gap`` (150) /
   ``appearance_join_max_distance`` (5 box heights) is joined when its similarity is at least
   ``appearance_join_sim`` (0.8) and exceeds every rival pairing of either fragment within that window
   by ``appearance_join_margin`` (0.15; a rival of unknown appearance counts as a perfect match, so
   no join). Why these numbers: plain colour histograms are weak evidence on real video. Measured on
   sports2d_demo.mp4, the jumper backlit on his box against the same jumper front-lit after jumping
   down scores only 0.42, and the walker against the jumper 0.66 (both look dark grey against the
   sky); on arm_wrestling.mp4 (close-ups, torso out of the picture: the box centre, i.e. the clasped
   hands, stands in) fragments of the same person score 0.5-0.98 and of the two people 0.3-0.8. So
   the veto is set low (it must never split one person: only clear disagreement counts), and the
   long-range join high and with a margin (a wrong join mixes two athletes' numbers). Neither real
   video changes with these settings; the rules act where colours differ clearly (tests on
   generated data). Appearance is not used in the frame-to-frame association;
7. re-identification of a person who vanished INSIDE the picture (``reidentify``, needs
   ``frame_size``): people enter and leave through the frame's border; a track that ends away from
   the border (a detector miss: a somersault, motion blur, an occlusion) and a track that starts away
   from it later are the same person when each is the other's only candidate. The pair is joined
   when: the first ended and the second started at least ``reid_border`` of the frame side away from
   every edge; the gap is at most ``appearance_join_max_gap`` frames; the straight-line speed it
   implies is at most ``reid_max_speed`` body heights per second (body height = the larger median box
   height of the two fragments: a tucked or crouched box understates it); their body heights differ
   by at most ``reid_max_scale``; the colours do not veto it (``appearance_veto``); both fragments
   have at least ``reid_min_frames`` detections; and no other fragment could continue the first or
   precede the second under the same gates (wherever it starts or ends: a rival at the border counts
   too). Why: on sports2d_demo.mp4 the jumper somersaults off his box, is not detected for 28 frames
   and lands 580 px (3 box heights of the tucked body, 1.6 of his standing height) away, in other
   light: the colours score only 0.43 against the track before the jump, too little for the
   appearance join, while nobody else vanished or appeared inside the picture then (the walker
   is tracked meanwhile and leaves at the left border). What it cannot do: two people vanishing
   together and reappearing (two candidates each way: left apart), someone hidden behind scenery
   who leaves by a door while another person steps out (joined if the colours do not differ).

Identity drift of the multi-person estimator's landmark tracking is checked before tracking, on torso
colours (``LookModel``, used by ``sportlens.pose.multiperson``; decision and measurements there): a
person whose ROI slid onto someone else is dropped there and re-detected. Here the same looks
(``PersonDetection.look``, optional) gate only such re-detections: a detection coming from another
estimator track (``track_id``) than the one an ID last had, whose torso is less than ``LOOK_SWITCH_SIM``
(0.4) similar to the ID's running model, is not matched to that ID (on arm_wrestling.mp4 white against
black shirts score 0.09-0.38; without the gate the white wrestler, re-detected where the black one's
drifting pose had ended, went on under the black one's ID for 10 frames). Not on every frame and not at
0.6: that split the walker of sports2d_demo.mp4 (his torso 0.46-0.52 similar to itself as he walks
through light and shade) and so lost the jumper's re-identification; fragment joins ignore the looks
(the jumper backlit against front-lit: 0.29).

Output contract: every returned ``PoseTrack`` spans the WHOLE time axis given (same ``T``,
``times`` and ``frame_index`` for all tracks): keypoints are NaN and scores 0 in the frames where
that person was not detected (before entering, after leaving, while occluded). Frames where a
track was only predicted by the Kalman filter are NaN too: predictions are not measurements.
Smoothing and gap filling are left to ``sportlens.pose.cleaning.clean_track``, which interpolates
short gaps and never crosses long ones; tracking does not smooth keypoints itself.

Feeding it the multi-person estimator: ``r = estimate_people_video(...)`` then
``track_people(r.people, r.times, r.frame_index)``. Its ``PersonDetection.track_id`` (the estimator's
own ROI tracking) only tells re-detections apart (the looks gate above); it never associates. Note
that the estimator drops people below its
``min_landmark_score`` (0.5 by default): the low-score stage 2 only helps when it lets such people
through (e.g. ``min_landmark_score=0.1``). A person whose score stays below ``high_score`` is
never confirmed (as in ByteTrack): low-score detections extend tracks, they never start one.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from sportlens.config import TrackerSettings
from sportlens.pose.boxes import box_iou
from sportlens.skeletons import convert, get_skeleton
from sportlens.types import PoseTrack


class DetectionLike(Protocol):
    """One person in one frame, as the multi-person estimator gives it (``PersonDetection``)."""

    box: np.ndarray  # (4,) x1, y1, x2, y2 pixels
    score: float  # person confidence in [0, 1]
    keypoints: np.ndarray  # (V, 2) pixels, NaN where missing
    kp_scores: np.ndarray  # (V,) in [0, 1]
    skeleton: str  # layout name in sportlens.skeletons


# ----------------------------------------------------------------------------- Kalman filter
# Hand-written: filterpy is not installed (not a dependency), and the filter is ~40 lines of numpy.
# State (8,): cx, cy, a (width / height), h and their velocities per frame step; noise scales with
# the box height h as in SORT/DeepSORT/ByteTrack, so small (far) and large (near) people behave alike.

STD_POSITION = 1.0 / 20  # process/measurement noise of positions, fraction of h
STD_VELOCITY = 1.0 / 160  # process noise of velocities, fraction of h


class BoxKalman:
    """Constant-velocity Kalman filter on (cx, cy, aspect, h); ``dt`` is in frame steps."""

    def __init__(self, measurement: np.ndarray) -> None:
        z = np.asarray(measurement, dtype=np.float64)  # (4,)
        h = z[3]
        self.mean = np.concatenate([z, np.zeros(4)])  # (8,)
        std = [2 * STD_POSITION * h, 2 * STD_POSITION * h, 1e-2, 2 * STD_POSITION * h,
               10 * STD_VELOCITY * h, 10 * STD_VELOCITY * h, 1e-5, 10 * STD_VELOCITY * h]
        self.cov = np.diag(np.square(std))  # (8, 8)

    def predict(self, dt: float = 1.0, freeze_height: bool = False) -> np.ndarray:
        """Advance by ``dt`` steps; returns the predicted (4,) measurement. ``freeze_height`` stops a
        lost track's box from growing or shrinking without evidence (ByteTrack does the same)."""
        if freeze_height:
            self.mean[7] = 0.0
        F = np.eye(8)
        F[:4, 4:] = dt * np.eye(4)
        h = self.mean[3]
        q = [STD_POSITION * h, STD_POSITION * h, 1e-2, STD_POSITION * h,
             STD_VELOCITY * h, STD_VELOCITY * h, 1e-5, STD_VELOCITY * h]
        self.mean = F @ self.mean
        self.cov = F @ self.cov @ F.T + np.diag(np.square(q)) * max(dt, 1e-3)
        return self.mean[:4].copy()

    def update(self, measurement: np.ndarray) -> None:
        z = np.asarray(measurement, dtype=np.float64)  # (4,)
        h = self.mean[3]
        R = np.diag(np.square([STD_POSITION * h, STD_POSITION * h, 1e-1, STD_POSITION * h]))
        P_HT = self.cov[:, :4]  # (8, 4): P H^T with H = [I 0]
        S = self.cov[:4, :4] + R  # (4, 4)
        K = np.linalg.solve(S, P_HT.T).T  # (8, 4), S symmetric
        self.mean = self.mean + K @ (z - self.mean[:4])
        self.cov = self.cov - K @ S @ K.T


def xyxy_to_xyah(box: np.ndarray) -> np.ndarray:
    """(..., 4) x1 y1 x2 y2 -> (..., 4) cx cy aspect h."""
    b = np.asarray(box, dtype=np.float64)
    w, h = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
    return np.stack([(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2, w / h, h], axis=-1)


def xyah_to_xyxy(s: np.ndarray) -> np.ndarray:
    """(..., 4) cx cy aspect h -> (..., 4) x1 y1 x2 y2."""
    s = np.asarray(s, dtype=np.float64)
    w = s[..., 2] * s[..., 3]
    return np.stack([s[..., 0] - w / 2, s[..., 1] - s[..., 3] / 2,
                     s[..., 0] + w / 2, s[..., 1] + s[..., 3] / 2], axis=-1)


# ---------------------------------------------------------------------------- similarities


def keypoint_similarity(
    track_kp: np.ndarray, det_kp: np.ndarray, scale: np.ndarray, kappa: float
) -> tuple[np.ndarray, np.ndarray]:
    """OKS-like similarity of (M, V, 2) track keypoints with (N, V, 2) detection keypoints.

    scale (M,): sqrt of the track's predicted box area. Returns (M, N) similarity in [0, 1] (mean
    of exp(-d^2 / (2 s^2 k^2)) over joints present in both) and (M, N) bool: any joint in common.
    """
    d2 = np.square(track_kp[:, None] - det_kp[None]).sum(axis=-1)  # (M, N, V), NaN if either missing
    both = np.isfinite(d2)
    e = np.exp(-np.where(both, d2, 0.0) / (2 * np.square(scale * kappa)[:, None, None]))
    n = both.sum(axis=-1)  # (M, N)
    sim = np.where(n > 0, (e * both).sum(axis=-1) / np.maximum(n, 1), 0.0)
    return sim, n > 0


APPEARANCE_REGIONS = 2  # regions in PersonDetection.appearance (torso, upper legs; see multiperson)


def _as_appearance(a: Any) -> np.ndarray | None:
    """(R, n) non-negative histograms from a flat descriptor, or None when absent or unusable."""
    if a is None:
        return None
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    if a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0) or a.sum() <= 0:
        return None
    r = APPEARANCE_REGIONS if a.size % APPEARANCE_REGIONS == 0 else 1
    return a.reshape(r, -1)


def appearance_similarity(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Bhattacharyya coefficient sum(sqrt(p q)) of the L1-normalised histograms, averaged over the
    regions seen in both (1 = same colours, 0 = no colour in common); NaN when nothing to compare."""
    if a is None or b is None or a.shape != b.shape:
        return float("nan")
    sa, sb = a.sum(axis=1), b.sum(axis=1)  # (R,)
    both = (sa > 0) & (sb > 0)
    if not both.any():
        return float("nan")
    p, q = a[both] / sa[both, None], b[both] / sb[both, None]
    return float(np.sqrt(p * q).sum(axis=1).mean())


# Identity drift: a running model of one person's torso colours, used by the multi-person estimator
# to end a landmark-tracked person whose ROI slid onto someone else (decision and measurements in
# ``sportlens.pose.multiperson``, "Identity drift").
LOOK_INIT_FRAMES = 3  # the model is the mean of a track's first looks, then checked and updated
LOOK_DRIFT_SIM = 0.6  # a look less similar than this to the model (Bhattacharyya) departs from it ...
LOOK_DRIFT_FRAMES = 2  # ... on this many consecutive looks: the pose is on someone else (drift)
LOOK_UPDATE_SIM = 0.8  # only looks at least this similar update the model (it must not follow a drift)
LOOK_SWITCH_SIM = 0.4  # the tracker: a re-detected person less similar than this is someone else
LOOK_ALPHA = 0.05  # exponential update weight of such a look (slow: lighting changes, not identities)


def _as_look(a: Any) -> np.ndarray | None:
    """(1, n) normalised histogram from a torso look (``multiperson.torso_look``), or None."""
    a = _as_appearance(a)
    return None if a is None else a.reshape(1, -1) / a.sum()


class LookModel:
    """Running model of one tracked person's torso colours (HSV histogram of the torso patch inside the
    picture, ``multiperson.torso_look``), compared with ``appearance_similarity``.

    ``observe(look)`` returns True when the person's pose has drifted onto someone else: after
    ``LOOK_INIT_FRAMES`` looks (their mean is the model), ``LOOK_DRIFT_FRAMES`` consecutive looks
    less similar than ``LOOK_DRIFT_SIM``. Looks at least ``LOOK_UPDATE_SIM`` similar move the model
    by ``LOOK_ALPHA``; the others do not, so a pose sliding slowly onto another person is measured
    against the person it started on. None (no torso in the picture) changes nothing."""

    def __init__(self) -> None:
        self.model: np.ndarray | None = None  # (1, n)
        self.n = 0  # looks in the model
        self.bad = 0  # consecutive departing looks

    def similarity(self, look: Any) -> float:
        """Similarity of a look with the model (NaN while the model is not ready or without a look)."""
        a = _as_look(look)
        if a is None or self.model is None or self.n < LOOK_INIT_FRAMES:
            return float("nan")
        return appearance_similarity(self.model, a)

    def observe(self, look: Any) -> bool:
        """Add this frame's look (None: nothing seen); True when the person has drifted (see the class)."""
        a = _as_look(look)
        if a is None:
            return False
        if self.model is None or self.model.shape != a.shape:
            self.model, self.n, self.bad = a.copy(), 1, 0
            return False
        if self.n < LOOK_INIT_FRAMES:
            self.model = (self.model * self.n + a) / (self.n + 1)
            self.n += 1
            return False
        sim = appearance_similarity(self.model, a)
        self.bad = self.bad + 1 if sim < LOOK_DRIFT_SIM else 0
        if self.bad >= LOOK_DRIFT_FRAMES:
            return True
        if sim >= LOOK_UPDATE_SIM:
            self.model = (1 - LOOK_ALPHA) * self.model + LOOK_ALPHA * a
            self.n += 1
        return False


# ------------------------------------------------------------------------------ the tracker


@dataclass
class _Det:
    box: np.ndarray  # (4,) xyxy, as given (reported in ``TrackingResult.boxes``)
    score: float
    kp: np.ndarray  # (V, 2), NaN where missing
    kp_scores: np.ndarray  # (V,)
    tbox: np.ndarray | None = None  # (4,) xyxy the tracker uses: the box of the visible joints
    app: np.ndarray | None = None  # (R, n) appearance histograms per region (zeros: region unseen)
    look: np.ndarray | None = None  # (1, n) torso look (multiperson.torso_look), None when unknown
    source: int = -1  # the estimator's own track id (PersonDetection.track_id), -1 unknown

    def __post_init__(self) -> None:
        if self.tbox is None:
            self.tbox = self.box


def visible_box(box: np.ndarray, kp: np.ndarray, kp_scores: np.ndarray, min_score: float,
                min_joints: int) -> np.ndarray:
    """(4,) xyxy box of the joints scored >= ``min_score``, padded by 10 % of its longer side and kept
    inside ``box``; ``box`` itself when fewer than ``min_joints`` joints are that sure.

    A pose estimator's box is often the box of ALL its landmarks, guessed ones included: for a person
    cut by the frame border (close-ups), the hips and legs are extrapolated far outside the picture
    and jump from frame to frame, so the box's size and centre jump too (x2-x3 in height between
    consecutive frames on arm_wrestling.mp4), which breaks IoU matching and the Kalman velocity. The
    joints the estimator is sure of are the part of the person actually seen: a steadier box.
    """
    ok = (kp_scores >= min_score) & np.isfinite(kp).all(axis=-1)
    if min_joints <= 0 or ok.sum() < min_joints:
        return box
    lo, hi = kp[ok].min(axis=0), kp[ok].max(axis=0)
    pad = 0.1 * max(float((hi - lo).max()), 1.0)
    vb = np.concatenate([lo - pad, hi + pad])
    inner = np.concatenate([np.maximum(vb[:2], box[:2]), np.minimum(vb[2:], box[2:])])
    return inner if np.all(inner[2:] > inner[:2]) else vb


@dataclass
class _Track:
    tid: int
    kf: BoxKalman
    kp: np.ndarray  # (V, 2) keypoints at the last match (for the pose similarity)
    box: np.ndarray  # (4,) box at the last match
    hits: int = 1
    confirmed: bool = False
    last_frame: int = 0
    frames: list[int] = field(default_factory=list)
    dets: list[_Det] = field(default_factory=list)
    end_state: np.ndarray | None = None  # (8,) Kalman mean right after the last match
    app_sum: np.ndarray | None = None  # (R, n) sum of the appearances, per region (for the mean)
    look: LookModel = field(default_factory=LookModel)  # torso colours (the re-detection gate in ``_cost``)

    def mean_appearance(self) -> np.ndarray | None:
        """(R, n) per-region mean appearance over the whole track (None without appearance)."""
        if self.app_sum is None:
            return None
        n = self.app_sum.sum(axis=1, keepdims=True)
        return np.where(n > 0, self.app_sum / np.maximum(n, 1e-12), 0.0)

    def predicted_box(self) -> np.ndarray:
        return xyah_to_xyxy(self.kf.mean[:4])


class _ByteTracker:
    """Frame-by-frame ByteTrack association; keeps every track it ever made in ``all_tracks``."""

    def __init__(self, settings: TrackerSettings) -> None:
        self.s = settings
        self.active: list[_Track] = []  # tentative, tracked and lost
        self.all_tracks: list[_Track] = []

    def step(self, k: int, dets: list[_Det], dt: float) -> None:
        for t in self.active:
            t.kf.predict(dt, freeze_height=t.last_frame < k - 1)
        s = self.s
        high = [d for d in dets if d.score >= s.high_score]
        low = [d for d in dets if d.score < s.high_score]
        confirmed = [t for t in self.active if t.confirmed]
        tentative = [t for t in self.active if not t.confirmed]
        if s.cascade:
            left_t, left_high = [], high
            for age in sorted({k - t.last_frame for t in confirmed}):
                group = [t for t in confirmed if k - t.last_frame == age]
                rest, left_high = self._associate(group, left_high, s.match_cost_high, k)
                left_t += rest
        else:
            left_t, left_high = self._associate(confirmed, high, s.match_cost_high, k)
        tracked = [t for t in left_t if t.last_frame == k - 1]  # low ones only extend live tracks
        self._associate(tracked, low, s.match_cost_low, k)
        dead_tentative, left_high = self._associate(tentative, left_high, s.match_cost_tentative, k)
        taken = [d for d in dets if any(t.last_frame == k and t.dets[-1] is d for t in self.active)]
        # the surest and largest first, so that of two new detections of one person the whole one starts
        for d in sorted(left_high, key=lambda d: (-d.score, -np.prod(d.tbox[2:] - d.tbox[:2]))):
            if d.score >= s.new_track_score and not self._duplicate(d, taken):
                self._start(d, k)
                taken.append(d)
        dead = {id(t) for t in dead_tentative}
        self.active = [t for t in self.active
                       if id(t) not in dead and k - t.last_frame <= s.max_age]

    def _duplicate(self, d: _Det, matched: list[_Det]) -> bool:
        """Whether ``d`` and a detection already given to a track in this frame (matched, or
        starting a track) are one person: the smaller of the two boxes lies inside the other for at
        least ``duplicate_overlap`` of its area (intersection over the smaller box). Pose estimators
        that follow people with their own regions of interest report one person twice (a whole-body
        fit and a second, misplaced skeleton on the arm of a person cut by the frame border): such a
        leftover starts no new track. The price: a person who appears while mostly in front of or
        behind someone already tracked is only started once the two separate a little.
        """
        if self.s.duplicate_overlap >= 1.0 or not matched:
            return False
        a = d.tbox[None]
        b = np.stack([m.tbox for m in matched])
        lt, rb = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
        inter = np.clip(rb - lt, 0, None).prod(axis=-1)
        own = np.prod(np.clip(a[0, 2:] - a[0, :2], 1e-9, None))
        other = np.prod(np.clip(b[:, 2:] - b[:, :2], 1e-9, None), axis=-1)
        return bool(np.any(inter / np.minimum(own, other) >= self.s.duplicate_overlap))

    def _associate(self, tracks: list[_Track], dets: list[_Det], max_cost: float, k: int):
        """Match, update the matched tracks; return (unmatched tracks, unmatched detections)."""
        if not tracks or not dets:
            return list(tracks), list(dets)
        cost = self._cost(tracks, dets, k)  # (M, N)
        rows, cols = linear_sum_assignment(np.where(cost <= max_cost, cost, 1e6))
        ok = cost[rows, cols] <= max_cost
        for r, c in zip(rows[ok], cols[ok]):
            self._update(tracks[r], dets[c], k)
        used_t, used_d = set(rows[ok].tolist()), set(cols[ok].tolist())
        return ([t for i, t in enumerate(tracks) if i not in used_t],
                [d for j, d in enumerate(dets) if j not in used_d])

    def _cost(self, tracks: list[_Track], dets: list[_Det], k: int = -1) -> np.ndarray:
        """(M, N) association cost. A lost track (missed the previous frame) is compared both with
        its predicted box and with the box where it was last seen, and the better of the two counts:
        its velocity was measured on a few noisy boxes before it vanished, and carried over many
        frames it sends the prediction far away, while people hidden for a while (occluded, behind
        a motion blur, not found by the detector) most often reappear about where they were
        (the same "moved or stood still" rule as ``_join_cost``)."""
        boxes = np.stack([d.tbox for d in dets])  # (N, 4)
        dkp = np.stack([np.where((d.kp_scores >= self.s.kp_min_score)[:, None], d.kp, np.nan)
                        for d in dets])  # (N, V, 2)
        pred = np.stack([t.predicted_box() for t in tracks])  # (M, 4)
        cost = self._pair_cost(tracks, pred, boxes, dkp)
        lost = np.array([t.last_frame < k - 1 for t in tracks])
        if self.s.lost_standing and lost.any():
            last = np.stack([t.box for t in tracks])
            cost = np.where(lost[:, None], np.minimum(cost, self._pair_cost(tracks, last, boxes, dkp)), cost)
        # A detection from ANOTHER estimator track (someone re-detected) whose torso looks unlike the
        # track's person is not that person, wherever it is (see "Identity drift" in pose.multiperson).
        for i, t in enumerate(tracks):
            src = t.dets[-1].source if t.dets else -1
            for j, d in enumerate(dets):
                if d.source != src and d.look is not None and t.look.similarity(d.look) < LOOK_SWITCH_SIM:
                    cost[i, j] = np.inf
        return cost

    def _pair_cost(self, tracks: list[_Track], pred: np.ndarray, boxes: np.ndarray,
                   dkp: np.ndarray) -> np.ndarray:
        """1 - similarity of tracks placed at ``pred`` (M, 4) with detections at ``boxes`` (N, 4)."""
        iou = box_iou(pred, boxes)
        if self.s.oks_weight <= 0:
            return 1.0 - iou
        # The track's last keypoints, moved by the motion of its box centre.
        shift = (pred[:, :2] + pred[:, 2:]) / 2 - np.stack([(t.box[:2] + t.box[2:]) / 2 for t in tracks])
        tkp = np.stack([t.kp for t in tracks]) + shift[:, None, :]  # (M, V, 2)
        area = np.prod(np.clip(pred[:, 2:] - pred[:, :2], 1.0, None), axis=1)  # (M,)
        oks, common = keypoint_similarity(tkp, dkp, np.sqrt(area), self.s.oks_kappa)
        w = self.s.oks_weight
        sim = np.where(common, (1 - w) * iou + w * oks, iou)
        if self.s.oks_bonus_only:
            sim = np.maximum(sim, iou)
        return 1.0 - sim

    def _update(self, t: _Track, d: _Det, k: int) -> None:
        t.kf.update(xyxy_to_xyah(d.tbox))
        t.hits = t.hits + 1 if t.last_frame == k - 1 else 1  # confirmation needs consecutive hits
        t.confirmed = t.confirmed or t.hits >= self.s.min_hits
        self._record(t, d, k)

    def _start(self, d: _Det, k: int) -> None:
        t = _Track(tid=len(self.all_tracks), kf=BoxKalman(xyxy_to_xyah(d.tbox)), kp=d.kp, box=d.tbox)
        t.confirmed = self.s.min_hits <= 1
        self._record(t, d, k)
        self.active.append(t)
        self.all_tracks.append(t)

    def _record(self, t: _Track, d: _Det, k: int) -> None:
        """Keep the detection as the track's measurement of frame ``k``."""
        t.last_frame, t.box, t.end_state = k, d.tbox, t.kf.mean.copy()
        t.kp = np.where((d.kp_scores >= self.s.kp_min_score)[:, None], d.kp, np.nan)  # (V, 2)
        t.frames.append(k)
        t.dets.append(d)
        t.look.observe(d.look)
        if d.app is not None:
            a = d.app / np.maximum(d.app.sum(axis=1, keepdims=True), 1e-12)  # regions unseen stay 0
            t.app_sum = a.copy() if t.app_sum is None or t.app_sum.shape != a.shape else t.app_sum + a


# ---------------------------------------------------------------------------- input handling


def _frame_steps(times: np.ndarray) -> np.ndarray:
    """(T,) time since the previous frame in median-frame units (1.0 at constant frame rate), so
    the constant-velocity model stays right on variable-frame-rate video. First entry 1."""
    dt = np.diff(times)
    if dt.size == 0:
        return np.ones(len(times))
    return np.concatenate([[1.0], np.clip(dt / np.median(dt), 0.1, 10.0)])


def _as_det(d: Any, layout: str, s: TrackerSettings) -> _Det | None:
    """A clean internal detection in ``layout``, or None when the detection is unusable."""
    box = np.asarray(d.box, dtype=np.float64).reshape(-1)
    score = float(d.score)
    if box.shape != (4,) or not np.all(np.isfinite(box)) or not np.isfinite(score):
        return None
    if box[2] - box[0] < s.min_box_size or box[3] - box[1] < s.min_box_size or score < s.low_score:
        return None
    kp = np.asarray(d.keypoints, dtype=np.float64)  # (V, 2)
    ks = np.nan_to_num(np.asarray(d.kp_scores, dtype=np.float64), nan=0.0)  # (V,)
    src = getattr(d, "skeleton", layout)
    V = get_skeleton(src).num_joints
    if kp.shape != (V, 2) or ks.shape != (V,):
        raise ValueError(f"a {src} detection needs keypoints ({V}, 2) and kp_scores ({V},), "
                         f"got {kp.shape} and {ks.shape}")
    if src != layout:
        kp, ks = convert(kp, ks, src, layout)
    kp = np.where(np.isfinite(kp).all(axis=-1, keepdims=True), kp, np.nan)
    ks = np.where(np.isfinite(kp[:, 0]), ks, 0.0)
    tbox = visible_box(box, kp, ks, s.kp_min_score, s.box_min_joints)
    return _Det(box=box, score=score, kp=kp, kp_scores=ks, tbox=tbox,
                app=_as_appearance(getattr(d, "appearance", None)), look=_as_look(getattr(d, "look", None)),
                source=int(getattr(d, "track_id", -1)))


def _layout(detections_per_frame: Sequence[Sequence[Any]]) -> str | None:
    """The skeleton of the first detection (all others are converted to it)."""
    for frame in detections_per_frame:
        for d in frame:
            return str(d.skeleton)
    return None


def _check_times(times: Any, n: int) -> np.ndarray:
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    if t.shape != (n,):
        raise ValueError(f"times must have one entry per frame ({n}), got {t.shape[0]}")
    if n > 1 and not np.all(np.diff(t) > 0):
        raise ValueError("times must be finite and strictly increasing")
    return t


# --------------------------------------------------------------------------- fragment joining


@dataclass
class Fragment:
    first: int  # frame of the first detection
    last: int  # frame of the last detection
    end_state: np.ndarray  # (8,) Kalman mean after the last detection
    start_box: np.ndarray  # (4,) xyxy of the first detection
    appearance: np.ndarray | None = None  # (R, n) mean appearance over the fragment, None if unknown
    height: float = 0.0  # median box height over the fragment (body size; 0 = unknown)
    detections: int = 0  # frames with a detection
    starts_inside: bool | None = None  # first box away from the frame border (None: frame size unknown)
    ends_inside: bool | None = None  # last box away from the frame border


def _join_cost(a: Fragment, b: Fragment, clock: np.ndarray, s: TrackerSettings) -> float:
    """Distance in box heights between where ``a`` should be when ``b`` starts and ``b``'s start;
    inf when the pair may not be joined (overlap, gap too long, size too different)."""
    gap = b.first - a.last
    if gap <= 0 or gap > s.join_max_gap:
        return np.inf
    cx, cy, _, h, vx, vy = a.end_state[:6]
    hb = b.start_box[3] - b.start_box[1]
    if max(h, hb) / max(min(h, hb), 1e-9) > s.join_max_scale:
        return np.inf
    c_b = (b.start_box[:2] + b.start_box[2:]) / 2
    elapsed = clock[b.first] - clock[a.last]
    moving = np.hypot(*(c_b - (cx + vx * elapsed, cy + vy * elapsed)))
    standing = np.hypot(*(c_b - (cx, cy)))  # the person may have stopped while hidden
    cost = min(moving, standing) / max(h, 1e-9)
    return float(cost) if cost <= s.join_max_distance else np.inf


def join_fragments(fragments: Sequence[Fragment], clock: np.ndarray, s: TrackerSettings,
                   seconds: np.ndarray | None = None) -> list[int]:
    """For each fragment, the index of the fragment it continues, or -1.

    A pair (a ends, then b starts) is joined when its cost passes ``_join_cost`` and is clearly
    the best for both: every rival pairing of a's end or b's start costs more than
    cost / ``join_margin``. Ambiguous cases (two similar people leaving and entering together)
    stay separate IDs: a wrong join would mix two athletes' numbers, a missed one only splits one.
    """
    n = len(fragments)
    cost = np.full((n, n), np.inf)  # (ends, starts)
    far = np.full((n, n), np.inf)  # the same with the appearance join's longer gap and distance
    sim = np.full((n, n), np.nan)  # appearance similarity, NaN when unknown
    s_far = replace(s, join_max_gap=max(s.join_max_gap, s.appearance_join_max_gap),
                    join_max_distance=max(s.join_max_distance, s.appearance_join_max_distance))
    for i, a in enumerate(fragments):
        for j, b in enumerate(fragments):
            if i != j:
                cost[i, j] = _join_cost(a, b, clock, s)
                far[i, j] = _join_cost(a, b, clock, s_far)
                sim[i, j] = appearance_similarity(a.appearance, b.appearance)
    veto = np.isfinite(sim) & (sim < s.appearance_veto)  # clearly two different people
    cost[veto], far[veto] = np.inf, np.inf
    parent = [-1] * n
    for i, j in zip(*np.nonzero(np.isfinite(cost))):
        rivals = np.concatenate([np.delete(cost[i], j), np.delete(cost[:, j], i)])
        if np.all(cost[i, j] < s.join_margin * rivals):
            parent[j] = int(i)
    # Appearance joins: longer gaps and distances, when the colours match well and clearly better
    # than any rival pairing (a rival of unknown appearance counts as a perfect match: no join).
    used = {p for p in parent if p >= 0}
    for i, j in zip(*np.nonzero(np.isfinite(far) & ~np.isfinite(cost))):
        if parent[j] >= 0 or i in used or not sim[i, j] >= s.appearance_join_sim:
            continue
        rows = np.isfinite(np.delete(far[i], j))
        cols = np.isfinite(np.delete(far[:, j], i))
        rivals = np.concatenate([np.delete(sim[i], j)[rows], np.delete(sim[:, j], i)[cols]])
        if np.all(np.nan_to_num(rivals, nan=1.0) <= sim[i, j] - s.appearance_join_margin):
            parent[j] = int(i)
            used.add(int(i))
    if seconds is not None:
        reidentify(fragments, parent, sim, seconds, s)
    return parent


def _reid_possible(a: Fragment, b: Fragment, sim: float, seconds: np.ndarray, s: TrackerSettings) -> bool:
    """Whether ``b`` could be ``a`` again after a gap (time, speed, size and colour gates of step 7,
    not the border test: rivals are counted wherever they start or end)."""
    gap = b.first - a.last
    if gap <= 0 or gap > s.appearance_join_max_gap or (np.isfinite(sim) and sim < s.appearance_veto):
        return False
    if min(a.height, b.height) <= 0 or max(a.height, b.height) / min(a.height, b.height) > s.reid_max_scale:
        return False
    c_b = (b.start_box[:2] + b.start_box[2:]) / 2
    distance = float(np.hypot(*(c_b - a.end_state[:2])))
    elapsed = max(float(seconds[b.first] - seconds[a.last]), 1e-9)
    return distance / max(a.height, b.height) / elapsed <= s.reid_max_speed


def reidentify(fragments: Sequence[Fragment], parent: list[int], sim: np.ndarray, seconds: np.ndarray,
               s: TrackerSettings) -> None:
    """Step 7 of the module doc, in place on ``parent``: join a fragment that ended inside the picture
    to the one fragment that started inside it later, when each is the other's only candidate."""
    n = len(fragments)
    ok = np.zeros((n, n), dtype=bool)  # (ends, starts) possible continuations
    for i, a in enumerate(fragments):
        for j, b in enumerate(fragments):
            ok[i, j] = i != j and _reid_possible(a, b, sim[i, j], seconds, s)
    used = {p for p in parent if p >= 0}
    for i, j in zip(*np.nonzero(ok)):
        a, b = fragments[i], fragments[j]
        if parent[j] >= 0 or i in used or not (a.ends_inside and b.starts_inside):
            continue
        if min(a.detections, b.detections) < s.reid_min_frames:
            continue
        if ok[i].sum() == 1 and ok[:, j].sum() == 1:  # the only candidate, both ways
            parent[j] = int(i)
            used.add(int(i))


# ------------------------------------------------------------------------------- the result


@dataclass
class TrackingResult:
    """Tracks (one per final person ID, each spanning the whole time axis) and what happened.

    tracks: PoseTracks sorted by ``person_id`` (1, 2, ... in order of first appearance).
    boxes: person_id -> (T, 4) xyxy detection boxes, NaN where absent.
    frames_present: person_id -> frames in which the person was detected.
    fragments: person_id -> the raw track numbers joined into it.
    raw_tracks: tracks ever started (tentative ones included); confirmed: those confirmed;
    joined: fragment joins made; dropped_short: confirmed IDs dropped for ``min_frames``;
    max_simultaneous: most people tracked in one frame.
    """

    tracks: list[PoseTrack]
    boxes: dict[int, np.ndarray]
    frames_present: dict[int, int]
    fragments: dict[int, list[int]]
    raw_tracks: int
    confirmed: int
    joined: int
    dropped_short: int
    max_simultaneous: int

    @property
    def num_tracks(self) -> int:
        return len(self.tracks)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready statistics (for summary.json)."""
        return {"tracks": self.num_tracks, "raw_tracks": self.raw_tracks, "confirmed": self.confirmed,
                "joined_fragments": self.joined, "dropped_short": self.dropped_short,
                "max_simultaneous": self.max_simultaneous,
                "frames_present": {str(k): v for k, v in self.frames_present.items()}}


def _groups(confirmed: list[_Track], parent: list[int]) -> list[list[_Track]]:
    """Chains of joined fragments, each in time order, sorted by first frame."""
    children = {p: j for j, p in enumerate(parent) if p >= 0}
    heads = [j for j, p in enumerate(parent) if p < 0]
    chains = []
    for h in heads:
        chain, i = [], h
        while i is not None:
            chain.append(confirmed[i])
            i = children.get(i)
        chains.append(chain)
    return sorted(chains, key=lambda c: c[0].frames[0])


def _assemble(chain: list[_Track], pid: int, times: np.ndarray, frame_index: np.ndarray,
              layout: str, V: int) -> tuple[PoseTrack, np.ndarray]:
    T = len(times)
    kp = np.full((T, V, 2), np.nan)
    sc = np.zeros((T, V))
    boxes = np.full((T, 4), np.nan)
    for t in chain:
        for k, d in zip(t.frames, t.dets):
            kp[k], sc[k], boxes[k] = d.kp, d.kp_scores, d.box
    track = PoseTrack(keypoints=kp, scores=sc, times=times.copy(), skeleton=layout, person_id=pid,
                      frame_index=frame_index.copy())
    return track, boxes


def track_people(
    detections_per_frame: Sequence[Sequence[DetectionLike]],
    times: Sequence[float] | np.ndarray,
    frame_index: Sequence[int] | np.ndarray | None = None,
    settings: TrackerSettings = TrackerSettings(),
    frame_size: tuple[int, int] | None = None,
) -> TrackingResult:
    """Track people over a clip. ``detections_per_frame[k]``: the detections of frame ``k`` (an
    empty list when nobody was found); ``times`` (T,) seconds, strictly increasing; ``frame_index``
    (T,) defaults to 0..T-1; ``frame_size`` (width, height) in the boxes' pixels enables the
    re-identification of people who vanished inside the picture (step 7 of the module doc). Every
    returned track spans all T frames (NaN where absent)."""
    t_arr = _check_times(times, len(detections_per_frame))
    fidx = np.arange(len(t_arr)) if frame_index is None else np.asarray(frame_index, dtype=np.int64)
    if fidx.shape != t_arr.shape:
        raise ValueError(f"frame_index must have one entry per frame ({len(t_arr)}), got {fidx.shape}")
    layout = _layout(detections_per_frame)
    if layout is None:  # nobody in any frame
        return TrackingResult([], {}, {}, {}, 0, 0, 0, 0, 0)
    steps = _frame_steps(t_arr)
    tracker = _ByteTracker(settings)
    for k, frame in enumerate(detections_per_frame):
        dets = [x for x in (_as_det(d, layout, settings) for d in frame) if x is not None]
        tracker.step(k, dets, float(steps[k]))
    confirmed = [t for t in tracker.all_tracks if t.confirmed]
    frags = [_fragment(t, frame_size, settings) for t in confirmed]
    chains = _groups(confirmed, join_fragments(frags, np.cumsum(steps), settings,
                                               t_arr if frame_size is not None else None))
    kept = [c for c in chains if sum(len(t.frames) for t in c) >= settings.min_frames]
    res = _result(kept, t_arr, fidx, layout)
    res.raw_tracks, res.confirmed = len(tracker.all_tracks), len(confirmed)
    res.dropped_short = len(chains) - len(kept)
    return res


def _inside(box: np.ndarray, frame_size: tuple[int, int] | None, margin: float) -> bool | None:
    """Whether the xyxy ``box`` keeps ``margin`` x the frame's side from every edge (None: size unknown).
    The estimator's box of all landmarks is used: for a person cut by the border it reaches past it."""
    if frame_size is None:
        return None
    w, h = frame_size
    return bool(box[0] > margin * w and box[1] > margin * h and box[2] < (1 - margin) * w
                and box[3] < (1 - margin) * h)


def _fragment(t: _Track, frame_size: tuple[int, int] | None, s: TrackerSettings) -> Fragment:
    heights = [d.tbox[3] - d.tbox[1] for d in t.dets]
    return Fragment(t.frames[0], t.frames[-1], t.end_state, t.dets[0].tbox, t.mean_appearance(),
                    height=float(np.median(heights)), detections=len(t.frames),
                    starts_inside=_inside(t.dets[0].box, frame_size, s.reid_border),
                    ends_inside=_inside(t.dets[-1].box, frame_size, s.reid_border))


def _result(chains: list[list[_Track]], times: np.ndarray, fidx: np.ndarray, layout: str) -> TrackingResult:
    """One PoseTrack per chain (IDs 1, 2, ... by first appearance) and the per-ID statistics."""
    V = get_skeleton(layout).num_joints
    tracks, boxes = [], {}
    for pid, chain in enumerate(chains, start=1):
        track, boxes[pid] = _assemble(chain, pid, times, fidx, layout, V)
        tracks.append(track)
    # (P, T) detected = a finite box (a detection may have no usable keypoint, e.g. cut at the border)
    present = np.stack([np.isfinite(b[:, 0]) for b in boxes.values()]) if boxes else np.zeros((0, 0), bool)
    return TrackingResult(
        tracks=tracks, boxes=boxes,
        frames_present={pid: int(p.sum()) for pid, p in zip(boxes, present)},
        fragments={pid: [t.tid for t in c] for pid, c in enumerate(chains, start=1)},
        raw_tracks=0, confirmed=0, joined=sum(len(c) - 1 for c in chains), dropped_short=0,
        max_simultaneous=int(present.sum(axis=0).max()) if present.size else 0,
    )
