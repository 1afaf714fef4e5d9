"""Athlete selection: which tracked person(s) to analyse (``--person auto|largest|most-active|ID|all``).

Measures, per track, over the frames where the person is present:

- ``presence``: share of the clip's frames with at least one joint;
- ``height_px``: median over frames of the keypoint extent height (max y - min y of the present
  joints). Keypoints rather than detector boxes because a ``PoseTrack`` carries no box; for a
  person cut at the frame border both shrink alike;
- ``activity``: total normalised joint motion, in body heights: for each pair of consecutive frames
  where the person is present, the mean over joints present in both of the joint's displacement,
  divided by ``height_px``, summed over the clip. Each joint trajectory is first median-filtered over
  ``MEDIAN_WINDOW`` frames, so detector jitter and single-frame spikes add little. A person standing
  still scores near 0; walking, jumping or swinging all count.

Modes: ``largest`` = highest ``height_px``; ``most-active`` = highest ``activity``; ``auto`` = highest
``activity`` among the tracks present in at least ``AUTO_MIN_PRESENCE`` of the clip (a passer-by
crossing the picture moves a lot in little time but is not the athlete; if nobody is present that
long, every track competes and the reason says so); an integer (or its string) = that person ID;
``all`` = every track. With no tracks at all every mode but an ID returns an empty selection whose
reason says nobody was tracked.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sportlens.errors import InputError
from sportlens.types import PoseTrack

MODES = ("auto", "largest", "most-active", "all")
AUTO_MIN_PRESENCE = 0.3  # auto: a track must be present in >= 30 % of the clip's frames to compete
MEDIAN_WINDOW = 5  # frames; odd; removes jitter and 1-2 frame spikes before measuring motion
CLOSE_CALL = 1.1  # a winner less than 10 % ahead is flagged as a close call in the reason
MIN_JOINT_SCORE = 0.3  # joints with a lower score are treated as missing when measuring


@dataclass
class Selection:
    """The chosen tracks, a one-sentence reason for the report, and the measures of every track.

    scores: person_id -> {"presence": 0-1, "height_px": px, "activity": body heights}.
    """

    tracks: list[PoseTrack]
    reason: str
    scores: dict[int, dict[str, float]] = field(default_factory=dict)
    mode: str = "auto"

    @property
    def track(self) -> PoseTrack | None:
        """The first (for single modes: the only) chosen track, or None when nobody was tracked."""
        return self.tracks[0] if self.tracks else None


def _valid(track: PoseTrack) -> np.ndarray:
    """(T, V, 2) keypoints with low-score joints set to NaN."""
    ok = np.isfinite(track.keypoints).all(axis=-1) & (track.scores >= MIN_JOINT_SCORE)  # (T, V)
    return np.where(ok[..., None], track.keypoints, np.nan)


def body_height(track: PoseTrack) -> float:
    """Median keypoint extent height in pixels over frames with >= 2 joints; 0 when never seen."""
    kp = _valid(track)  # (T, V, 2)
    seen = np.isfinite(kp[..., 1]).sum(axis=1) >= 2  # (T,)
    if not seen.any():
        return 0.0
    y = kp[seen, :, 1]  # (n, V)
    return float(np.median(np.nanmax(y, axis=1) - np.nanmin(y, axis=1)))


def median_filter_nan(x: np.ndarray, window: int = MEDIAN_WINDOW) -> np.ndarray:
    """(T, ...) median over ``window`` frames (edges padded), ignoring NaN; NaN stays NaN."""
    if x.shape[0] < 2 or window < 2:
        return x.copy()
    half = window // 2
    pad = np.pad(x, [(half, half)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    win = sliding_window_view(pad, window, axis=0)  # (T, ..., window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        med = np.nanmedian(win, axis=-1)
    return np.where(np.isfinite(x), med, np.nan)


def activity(track: PoseTrack, height: float | None = None) -> float:
    """Total normalised joint motion (body heights) over the frames where the track is present."""
    h = body_height(track) if height is None else height
    if h <= 0 or track.num_frames < 2:
        return 0.0
    kp = median_filter_nan(_valid(track))  # (T, V, 2)
    step = np.linalg.norm(np.diff(kp, axis=0), axis=-1)  # (T-1, V), NaN unless present in both
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frame pairs without a common joint
        per_frame = np.nanmean(step, axis=1)  # (T-1,)
    return float(np.nansum(per_frame) / h)


def measure(track: PoseTrack) -> dict[str, float]:
    h = body_height(track)
    presence = float(track.detected_frames().mean()) if track.num_frames else 0.0
    return {"presence": presence, "height_px": h, "activity": activity(track, h)}


def _best(ids: list[int], scores: dict[int, dict[str, float]], key: str) -> tuple[int, int | None]:
    """The ID with the highest ``key`` and the runner-up (None when alone); ties go to the lower ID."""
    order = sorted(ids, key=lambda i: (-scores[i][key], i))
    return order[0], (order[1] if len(order) > 1 else None)


def _pick(tracks: dict[int, PoseTrack], scores, key: str, ids: list[int], what: str, unit: str,
          mode: str, prefix: str = "") -> Selection:
    best, second = _best(ids, scores, key)
    b = scores[best][key]
    reason = f"{prefix}person {best} has the {what} ({b:.1f} {unit})"
    if second is None:
        reason += f"; no other person {'competed' if prefix else 'was tracked'}"
    else:
        r = scores[second][key]
        more = f", {100 * (b - r) / r:.1f} % more" if r > 0 else ""
        reason += f"; runner-up person {second} ({r:.1f} {unit}; margin {b - r:.2f}{more})"
        if r > 0 and b < CLOSE_CALL * r:
            reason += f"; a close call: choose with --person {second} if that is the athlete"
    return Selection([tracks[best]], reason + ".", scores, mode)


def _parse_id(mode: str | int) -> int | None:
    if isinstance(mode, (int, np.integer)) and not isinstance(mode, bool):
        return int(mode)
    text = str(mode).strip()
    return int(text) if text.lstrip("+-").isdigit() else None


def select_athlete(tracks: Sequence[PoseTrack], mode: str | int = "auto") -> Selection:
    """Choose the athlete(s) among ``tracks`` (see the module doc for the modes and measures).

    Raises ``InputError`` for an unknown mode or a person ID that was not tracked (listing the IDs).
    """
    by_id = {int(t.person_id): t for t in tracks}
    scores = {pid: measure(t) for pid, t in by_id.items()}
    pid = _parse_id(mode)
    if pid is not None:
        if pid not in by_id:
            known = ", ".join(str(i) for i in sorted(by_id)) or "none (nobody was tracked)"
            raise InputError(f"--person {pid}: no person with that ID was tracked; available IDs: {known}")
        return Selection([by_id[pid]], f"person {pid} was chosen by ID.", scores, str(pid))
    mode = str(mode).strip().lower()
    if mode not in MODES:
        raise InputError(f"--person {mode!r} is not valid; use one of {', '.join(MODES)} or a person ID")
    if not by_id:
        return Selection([], "no person was tracked in the clip.", scores, mode)
    ids = sorted(by_id)
    if mode == "all":
        return Selection([by_id[i] for i in ids], f"all {len(ids)} tracked people were kept.", scores, mode)
    if mode == "largest":
        return _pick(by_id, scores, "height_px", ids, "largest median body height", "px", mode)
    if mode == "most-active":
        return _pick(by_id, scores, "activity", ids, "most movement", "body heights of joint motion", mode)
    return _auto(by_id, scores)


def _auto(by_id: dict[int, PoseTrack], scores: dict[int, dict[str, float]]) -> Selection:
    ids = sorted(by_id)
    pct = f"{AUTO_MIN_PRESENCE:.0%}"
    cand = [i for i in ids if scores[i]["presence"] >= AUTO_MIN_PRESENCE]
    if cand:
        prefix = f"auto: among the {len(cand)} of {len(ids)} people present in at least {pct} of the clip, "
    else:
        cand = ids
        prefix = f"auto: nobody was present in {pct} of the clip, so among all {len(ids)} people, "
    return _pick(by_id, scores, "activity", cand, "most movement", "body heights of joint motion",
                 "auto", prefix)
