"""Core types shared by every layer: plain dataclasses over numpy arrays.

This module imports nothing of ours, so anything may import it. Conventions:

- image coordinates are pixels, x to the right, y *down*, origin at the top-left corner of the
  (rotation-corrected) frame;
- a missing joint is NaN in ``keypoints`` (never 0, which is a valid pixel) and its score is 0;
- times are seconds from the start of the video, taken from presentation timestamps, so a
  variable-frame-rate video keeps its real timing.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class VideoInfo:
    """Facts about a video file, after rotation metadata is applied to ``width``/``height``."""

    path: str
    width: int
    height: int
    fps: float  # average frame rate reported by the container (informative; use real times)
    frame_count: int  # container's estimate; 0 when unknown
    duration: float  # seconds; 0.0 when unknown
    rotation: int = 0  # degrees clockwise the decoded frames are turned to display upright
    codec: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class PoseTrack:
    """One person's 2D pose over time.

    keypoints: (T, V, 2) float pixels, NaN where the joint is missing.
    scores:    (T, V) float in [0, 1] (visibility/confidence), 0 where missing.
    times:     (T,) float seconds.
    frame_index: (T,) int, index of the frame in the decoded (possibly trimmed) stream.
    segment: (T,) int, identity segment: it changes where the estimator jumped to another person
        (single-person backends do that in crowded scenes). Interpolation, filters and time
        derivatives never cross a segment boundary.
    """

    keypoints: np.ndarray  # (T, V, 2)
    scores: np.ndarray  # (T, V)
    times: np.ndarray  # (T,)
    skeleton: str  # a layout name from sportlens.skeletons
    person_id: int = 0
    frame_index: np.ndarray | None = None  # (T,)
    segment: np.ndarray | None = None  # (T,)

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float64)
        self.scores = np.asarray(self.scores, dtype=np.float64)
        self.times = np.asarray(self.times, dtype=np.float64)
        if self.frame_index is None:
            self.frame_index = np.arange(len(self.times))
        if self.segment is None:
            self.segment = np.zeros(len(self.times), dtype=np.int64)
        T = len(self.times)
        if self.keypoints.ndim != 3 or self.keypoints.shape[0] != T or self.keypoints.shape[2] != 2:
            raise ValueError(f"keypoints must be (T, V, 2) with T={T}, got {self.keypoints.shape}")
        if self.scores.shape != self.keypoints.shape[:2]:
            raise ValueError(f"scores must be (T, V)={self.keypoints.shape[:2]}, got {self.scores.shape}")

    @property
    def num_frames(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.keypoints.shape[1])

    def present(self) -> np.ndarray:
        """(T, V) bool: joint has a finite position."""
        return np.isfinite(self.keypoints).all(axis=-1)

    def detected_frames(self) -> np.ndarray:
        """(T,) bool: at least one joint present in the frame."""
        return self.present().any(axis=1)

    def with_data(self, keypoints: np.ndarray, scores: np.ndarray | None = None) -> "PoseTrack":
        return replace(self, keypoints=keypoints, scores=self.scores if scores is None else scores)

    def slice(self, start: int, stop: int) -> "PoseTrack":
        return replace(
            self,
            keypoints=self.keypoints[start:stop],
            scores=self.scores[start:stop],
            times=self.times[start:stop],
            frame_index=self.frame_index[start:stop],
            segment=self.segment[start:stop],
        )

    def segment_slices(self) -> list[slice]:
        """Contiguous frame ranges of constant ``segment``, in order."""
        if self.num_frames == 0:
            return []
        cuts = np.flatnonzero(np.diff(self.segment) != 0) + 1
        edges = [0, *cuts.tolist(), self.num_frames]
        return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


@dataclass
class AngleTable:
    """Per-frame angles in degrees, with angular velocity (deg/s) and acceleration (deg/s^2).

    values, velocity, acceleration: (T, A), NaN where an angle cannot be computed.
    names: (A,) angle names, defined in ``sportlens.kinematics.angles``.
    """

    times: np.ndarray  # (T,)
    names: tuple[str, ...]
    values: np.ndarray  # (T, A)
    velocity: np.ndarray  # (T, A)
    acceleration: np.ndarray  # (T, A)

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]

    def to_frame(self):
        """A pandas DataFrame: ``time``, then ``<angle>``, ``<angle>_vel``, ``<angle>_acc`` per angle."""
        import pandas as pd

        cols: dict[str, np.ndarray] = {"time": self.times}
        for i, n in enumerate(self.names):
            cols[n] = self.values[:, i]
            cols[f"{n}_vel"] = self.velocity[:, i]
            cols[f"{n}_acc"] = self.acceleration[:, i]
        return pd.DataFrame(cols)


@dataclass
class ActionSegment:
    """A stretch of video recognised as one action ("unknown" when no class is confident)."""

    start: float  # seconds
    end: float  # seconds
    label: str
    confidence: float  # mean probability of ``label`` over the segment (of the best class if unknown)
    top3: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "label": self.label,
                "confidence": round(float(self.confidence), 4),
                "top3": [[n, round(float(p), 4)] for n, p in self.top3]}


@dataclass
class ActionTimeline:
    """Recognised actions over time. ``probs`` (T, K) are per-frame class probabilities."""

    classes: tuple[str, ...]
    times: np.ndarray  # (T,)
    probs: np.ndarray  # (T, K), NaN where no window covered the frame
    segments: list[ActionSegment]
    model: str = ""  # what produced it (model name + checkpoint)

    def top(self) -> ActionSegment | None:
        """The longest recognised (not unknown) segment, else the longest one."""
        known = [s for s in self.segments if s.label != "unknown"] or self.segments
        return max(known, key=lambda s: s.end - s.start) if known else None


@dataclass
class VideoPrediction:
    """What a trained video (RGB) model said about a clip, and what it looked at.

    The model saw T frames sampled over the analysed clip (``frame_times``); ``probs`` (K,) are its
    class probabilities for the clip. ``attention`` (T,) is its weight per sampled frame (sums to 1)
    when it has temporal attention. ``explained`` indexes the sampled frames shown with Grad-CAM;
    ``crops`` (n, S, S, 3) uint8 and ``cams`` (n, S, S) in [0, 1] are those frames as the model saw
    them and their maps. ``figures``: output file name -> PNG bytes of the rendered images.
    """

    model: str  # model name (checkpoint file name)
    classes: tuple[str, ...]
    probs: np.ndarray  # (K,)
    frame_times: np.ndarray  # (T,) seconds
    explained: np.ndarray  # (n,) indices into the T sampled frames
    crops: np.ndarray  # (n, S, S, 3) uint8
    cams: np.ndarray  # (n, S, S) float in [0, 1]
    attention: np.ndarray | None = None  # (T,)
    gradcam_layer: str = ""
    figures: dict[str, bytes] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.classes[int(np.argmax(self.probs))]

    @property
    def confidence(self) -> float:
        return float(np.max(self.probs))

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        return [(self.classes[i], float(self.probs[i])) for i in np.argsort(-self.probs)[:k]]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "label": self.label, "confidence": round(self.confidence, 4),
                "top3": [[n, round(p, 4)] for n, p in self.top(3)],
                "probs": {c: round(float(p), 4) for c, p in zip(self.classes, self.probs)},
                "frame_times": [round(float(t), 3) for t in self.frame_times],
                "attention": None if self.attention is None else [round(float(a), 4) for a in self.attention],
                "explained_frame_times": [round(float(self.frame_times[i]), 3) for i in self.explained],
                "gradcam_layer": self.gradcam_layer, "images": sorted(self.figures)}


# ---- forecasting and risk flags (issue 6): built by sportlens.forecast.online / rules -----------------
RISK_DISCLAIMER = ("Risk flags are screening cues from 2D video, not diagnoses: angles measured in the picture "
                   "plane depend on the camera view and on pose-estimation errors. Use them to decide what to look "
                   "at again, with a qualified professional where it matters.")


@dataclass
class Forecast:
    """Sliding pose forecasts over one track: from each origin frame, the pose ``horizon_s`` ahead.

    Poses are in the ``skeleton`` layout (the model's, Penn-13) in image pixels, NaN where missing.
    origin_index: (N,) index into the cleaned track of the last observed frame of each forecast.
    origin_times, target_times: (N,) seconds; target = origin + steps * step_s.
    poses: (N, V, 2) forecast at the horizon; actual: (N, V, 2) the track at the target time (NaN
        where the future is not known: past the end of the track, in a gap, joint missing).
    angles, actual_angles: joint angles of ``poses`` / ``actual`` at ``target_times``.
    metrics: measured error on this video (keys documented in forecast/online.py); skipped: reason ->
        number of origin frames that gave no forecast.
    """

    model: str
    skeleton: str
    horizon_s: float  # effective horizon: steps * step_s
    steps: int
    step_s: float
    origin_index: np.ndarray  # (N,)
    origin_times: np.ndarray  # (N,)
    target_times: np.ndarray  # (N,)
    poses: np.ndarray  # (N, V, 2)
    actual: np.ndarray  # (N, V, 2)
    angles: AngleTable
    actual_angles: AngleTable
    metrics: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    every: int = 1  # forecasts were made every this many frames

    def at_frame(self, t_index: int) -> int | None:
        """Row of the latest forecast made at or before frame ``t_index`` of the track (None: none yet)."""
        k = int(np.searchsorted(self.origin_index, t_index, side="right")) - 1
        return k if k >= 0 else None

    def summary(self) -> dict[str, Any]:
        return {"model": self.model, "skeleton": self.skeleton, "horizon_s": round(self.horizon_s, 4),
                "steps": self.steps, "step_s": round(self.step_s, 5), "every": self.every,
                "forecasts": int(len(self.origin_times)),
                "skipped": dict(self.skipped), "metrics": self.metrics, "notes": list(self.notes)}


@dataclass
class RiskFlag:
    """One risk cue: a rule's value crossed its threshold (an episode, reported at its worst frame)."""

    rule: str  # a rule name of sportlens.forecast.rules
    joint: str  # e.g. "left_knee", "trunk"
    time: float  # seconds, the worst frame of the episode (for a forecast: the predicted time)
    start: float
    end: float
    value: float  # the rule's measure at ``time`` (unit below)
    threshold: float
    basis: str  # "observed" or "forecast"
    source: str  # citation of the rule's threshold
    unit: str = "deg"
    predicted_at: float | None = None  # forecast flags: when the forecast was made

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "joint": self.joint, "time": round(self.time, 3), "start": round(self.start, 3),
                "end": round(self.end, 3), "value": round(float(self.value), 2), "threshold": self.threshold,
                "unit": self.unit, "basis": self.basis, "source": self.source,
                "predicted_at": None if self.predicted_at is None else round(self.predicted_at, 3)}


@dataclass
class Analysis:
    """Everything one ``analyze`` run produced. ``summary()`` is what goes to summary.json."""

    video: VideoInfo
    raw: PoseTrack
    clean: PoseTrack
    angles: AngleTable
    metrics: dict[str, Any] = field(default_factory=dict)  # ROM, peaks, symmetry, detection...
    com: np.ndarray | None = None  # (T, 2) approximate centre of mass, pixels
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # artifact name -> path
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds
    actions: ActionTimeline | None = None  # recognised movements, when a recognition model ran
    video_prediction: VideoPrediction | None = None  # a video (RGB) model's verdict, when one was given
    # Several people (analyze --person other than "single"): who was tracked, who was chosen and why,
    # per-person measures (and, for --person all, each person's key metrics). See pose/people.py.
    people: dict[str, Any] | None = None
    forecast: Forecast | None = None  # analyze --forecast: sliding forecasts and their measured error
    risk_flags: list[RiskFlag] | None = None  # analyze --forecast: rule hits (None: rules did not run)
    # How well it was performed: reps, events, reference comparison, quality, feedback sentences
    # (``sportlens.assess.pipeline.Assessment.to_dict``; None when assessment did not run).
    assessment: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "video": self.video.to_dict(),
            "metrics": self.metrics,
            "settings": self.settings,
            "actions": ({"model": self.actions.model, "segments": [s.to_dict() for s in self.actions.segments]}
                        if self.actions is not None else None),
            "video_prediction": self.video_prediction.to_dict() if self.video_prediction is not None else None,
            "people": self.people,
            "forecast": self.forecast.summary() if self.forecast is not None else None,
            "risk_flags": ({"note": RISK_DISCLAIMER, "flags": [f.to_dict() for f in self.risk_flags]}
                           if self.risk_flags is not None else None),
            "assessment": self.assessment,
            "warnings": list(self.warnings),
            "files": {k: str(Path(v).name) for k, v in self.files.items()},
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }
