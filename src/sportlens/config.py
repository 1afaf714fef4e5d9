"""Typed settings with their defaults, in one place. Nothing else writes a default twice.

Experiment/CLI overrides are applied with ``dataclasses.replace`` (or ``from_overrides`` for flat
dicts such as a YAML file): a flat mapping ``{"cleaning.cutoff_hz": 8}`` overrides one field.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any


@dataclass(frozen=True)
class PoseSettings:
    backend: str = "blazepose"  # a name registered in sportlens.pose
    workers: int = 2  # parallel pose workers (threads, each its own decoder + model) over time chunks
    max_side: int = 960  # frames are scaled so their longer side is at most this before pose (0 = native)
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    # A long video is cut into chunks of about this length. Each chunk starts with a fresh person
    # detection (a chance to pick another person in a crowded scene), so chunks are long.
    chunk_seconds: float = 60.0


@dataclass(frozen=True)
class SmallPeopleSettings:
    """Search for people too small for the whole-frame detector (``sportlens.pose.small_people``; off by
    default, ``--small-people``): a rolling scan of zoomed tiles with the detector, each candidate
    verified by the landmark model on a few small ROIs, verified people tracked like the others.
    Finds sports2d_demo.mp4's ~35 px background person (a pose on 69 of its last 83 frames) at a cost:
    6.5 instead of 38.5 frames/s on that 1768x994 video (quiet machine; details in that module's doc)."""

    enabled: bool = False
    # Frames are decoded at up to this size while searching (0 = native): the detector needs the detail.
    max_side: int = 1920
    tiles: tuple[float, ...] = (80.0,)  # tile sides, px of the decoded frame: people ~0.3-0.5 x tile tall
    overlap: float = 0.5  # neighbouring tiles overlap by this share of the tile
    every: int = 90  # frames for one full scan of the frame (a share of the tiles on every frame)
    min_score: float = 0.25  # detector score of a candidate (the best detection of a zoomed tile)
    max_candidates: int = 12  # candidates verified per frame at most (best score first)
    max_new: int = 2  # people started per frame at most
    # The ROI tried per candidate: centre = face-box centre + drop x tile downwards, side = side x tile
    # (BlazePose's face box lands on the neck of a ~30 px person), plus 4 perturbations of it.
    drop: float = 0.15
    side: float = 0.7
    precheck_score: float = 0.3  # the first ROI's pose flag below which a candidate is dropped at once
    verify_score: float = 0.7  # best landmark pose flag a person needs (tracking then needs min_landmark_score)
    agree_score: float = 0.5  # ... and at least min_agree of the 5 ROIs with a flag this high
    min_agree: int = 2
    max_spread: float = 0.05  # nose/shoulders/hips of those at the same image place (mean px / side)
    min_shoulder: float = 0.13  # shoulders at least this x side apart (textures give ~0.03-0.1)
    nose_tolerance: float = 0.25  # the model's nose within this x tile of the detector's face centre
    max_scale_ratio: float = 2.0  # the model's own body ROI within this factor of the tried side
    skip_covered: float = 0.5  # tiles covered this much by a tracked person's box are not scanned
    # frames a verified place is re-checked (a pre-check pass a frame) while nobody is tracked there
    remember: int = 90


@dataclass(frozen=True)
class MultiPoseSettings:
    """Multi-person pose (``sportlens.pose.multiperson``): BlazePose detector + landmarks per person."""

    max_people: int = 4  # at most this many people per frame (the best-scored detections first)
    detect_every: int = 5  # run the person detector every N frames (and while nobody is tracked); track between
    # After a tracked person is lost, detect on every frame for up to this many frames until as many
    # people are tracked again (0 = only every detect_every frames; see pose.multiperson's doc).
    redetect_frames: int = 15
    min_detection_score: float = 0.3  # detector score to start tracking a person (0.5 misses close-ups: arm_wrestling.mp4)
    min_landmark_score: float = 0.5  # landmark model's pose flag below which a tracked person is lost
    dedup_iou: float = 0.5  # a detection overlapping a tracked person by more is the same person
    # Squares the detector looks at, as multiples of the frame's longer side: 1 = the whole frame
    # (mediapipe); > 1 = the frame shrunk inside a larger square, finds people cut by the border or
    # filling the frame (close-ups, measured on arm_wrestling.mp4); < 1 = overlapping tiles, finds
    # small people (crowds) at the cost of one detector run per tile.
    detect_zoom: tuple[float, ...] = (1.0, 2.0)
    max_side: int = 960  # frames are scaled so their longer side is at most this (0 = native)
    num_threads: int = 1  # TFLite threads per model
    workers: int = 1  # threads sharing the people of a frame (each its own landmark model); 2 = two cores
    small_people: SmallPeopleSettings = field(default_factory=SmallPeopleSettings)


@dataclass(frozen=True)
class TrackerSettings:
    """Tracking thresholds. Defaults follow ByteTrack's published MOT17 settings where one exists."""

    high_score: float = 0.5  # detections at or above: first association (ByteTrack track_thresh)
    low_score: float = 0.1  # detections below are dropped; in between: second association only
    new_track_score: float = 0.6  # an unmatched detection starts a track only from here (track_thresh + 0.1)
    match_cost_high: float = 0.8  # max cost (1 - similarity) of a first-stage match (ByteTrack match_thresh)
    match_cost_low: float = 0.5  # max cost of a second-stage (low-score) match, stricter as in ByteTrack
    match_cost_tentative: float = 0.7  # max cost of a match with a tentative track
    oks_weight: float = 0.5  # weight w of keypoint similarity in the match similarity (0 = boxes only)
    oks_kappa: float = 0.1  # OKS falloff per joint, as a fraction of the scale (COCO 2*sigma ~ 0.05-0.2)
    oks_bonus_only: bool = True  # similarity = max(IoU, mix): a pose that disagrees never lowers a box match
    kp_min_score: float = 0.3  # joints below this score are not used in the keypoint similarity
    # The tracker follows the box of the joints scored >= kp_min_score (padded), not the box of all
    # landmarks (which includes joints guessed outside the picture), when at least this many: 0 = off.
    box_min_joints: int = 4
    lost_standing: bool = True  # a lost track also matches where it was last seen, not only where predicted
    # Two detections of a frame whose smaller box lies this much inside the other are one person:
    # the unmatched one starts no track (intersection over the smaller box; 1 = off).
    duplicate_overlap: float = 0.7
    cascade: bool = True  # match confirmed tracks the most recently seen first (DeepSORT's matching cascade)
    max_age: int = 30  # frames a lost track is kept (predicted) before it is removed (track_buffer)
    min_hits: int = 3  # consecutive matched frames that confirm a tentative track
    min_box_size: float = 2.0  # px; narrower or lower boxes are degenerate and dropped
    min_frames: int = 5  # a final ID detected in fewer frames is dropped (a short-lived false positive)
    join_max_gap: int = 90  # frames between a fragment's end and the next one's start, at most
    join_max_distance: float = 1.0  # box heights between the expected and the found position, at most
    join_max_scale: float = 1.5  # larger / smaller box height, at most
    join_margin: float = 0.5  # a join is safe when its cost is below this x the cost of any rival pairing
    # Appearance (colour histograms of torso and upper legs, PersonDetection.appearance; similarity =
    # Bhattacharyya coefficient in [0, 1]); ignored when detections carry no appearance.
    appearance_veto: float = 0.3  # fragments less similar than this are never joined (clearly another person)
    # A join beyond join_max_gap / join_max_distance (up to the two below) needs this similarity ...
    appearance_join_sim: float = 0.8
    appearance_join_margin: float = 0.15  # ... and this much more than every rival pairing of either fragment
    appearance_join_max_gap: int = 150  # frames, at most, for an appearance join
    appearance_join_max_distance: float = 5.0  # box heights, at most, for an appearance join
    # Re-identification of a person who vanished inside the picture (not at its border) with the one
    # person who appeared inside it later (pose.tracking.join_fragments; needs the frame size). The
    # pair must be the only candidate both ways within appearance_join_max_gap frames and pass:
    reid_border: float = 0.02  # a box this close to an edge (fraction of the frame side) left / came in there
    reid_max_speed: float = 4.0  # body heights per second from end to start (~7 m/s: fast running)
    reid_max_scale: float = 2.0  # larger / smaller body height (median box height of each fragment)
    reid_min_frames: int = 10  # fragments detected on fewer frames (false or duplicate detections) take no part


@dataclass(frozen=True)
class PeopleSettings:
    """Who is analysed when several people are in the video (``analyze --person``)."""

    # single: the fast single-person pipeline (follows the most prominent person, no identities);
    # auto | largest | most-active | <ID> | all: multi-person pose + tracking, then this selection
    # (sportlens.pose.selection); "all" analyses the auto choice in full and every person in summary.
    person: str = "single"
    detector: str = ""  # a trained person detector (sportlens train-detector) instead of the bundled one
    multipose: MultiPoseSettings = field(default_factory=MultiPoseSettings)
    tracker: TrackerSettings = field(default_factory=TrackerSettings)


@dataclass(frozen=True)
class CleaningSettings:
    min_score: float = 0.5  # joints with a lower visibility are treated as missing
    max_gap_s: float = 0.25  # gaps up to this long are interpolated (cubic), longer ones stay NaN
    hampel_window: int = 7  # frames in the Hampel outlier window (odd)
    hampel_sigmas: float = 3.0  # a sample further than this many robust sigmas from the median is an outlier
    filter: str = "butterworth"  # butterworth | oneeuro | none
    cutoff_hz: float = 6.0  # Butterworth low-pass cut-off, scaled to the video's real frame rate
    order: int = 4  # Butterworth order (applied forward-backward: zero phase)
    oneeuro_min_cutoff: float = 1.0  # Hz; One-Euro filter (Casiez et al., CHI 2012), causal, for live use
    oneeuro_beta: float = 0.05
    oneeuro_d_cutoff: float = 1.0
    repair_swaps: bool = True  # detect and undo left/right identity swaps


@dataclass(frozen=True)
class OutputSettings:
    video: bool = True  # write overlay.mp4
    overlay_max_side: int = 960  # overlay frames are scaled so the longer side is at most this
    key_frames: int = 4  # key frames with the skeleton drawn in report.html


@dataclass(frozen=True)
class RecognitionSettings:
    enabled: bool = True  # name the movement with the shipped (or given) recognition model
    checkpoint: str = ""  # a trained checkpoint; "" = the model shipped in the package
    window_s: float = 2.0  # sliding window length (Penn Action clips last ~1-3 s)
    hop_s: float = 0.25  # step between windows
    min_confidence: float = 0.5  # below this a stretch is "unknown" (open-set rejection)
    min_visible: float = 0.5  # windows where fewer joints are visible are not classified
    min_segment_s: float = 0.5  # shorter stretches merge into their neighbours
    # Windows moving less than this are "unknown" without asking the model: every Penn Action class is a
    # movement. Typical joint speed per frame / body size; 95 % of 2-s windows of Penn Action clips move
    # more (measured: 5th percentile 0.0012, median 0.009).
    min_motion: float = 0.0012
    # A trained video-model checkpoint (sportnet, c3d_attn, cnn_lstm, two_stream, hicnn_psta; "" = none). It
    # classifies the whole analysed clip from person-centred RGB crops (+ pose / optical flow when the model
    # takes them) and explains itself (Grad-CAM, attention). Runs besides the skeleton timeline.
    video_checkpoint: str = ""
    video_model: str = ""  # expected model name of video_checkpoint ("" = any); a mismatch is an error
    explain_frames: int = 4  # frames shown with Grad-CAM (highest attention, else evenly spaced)


# ---- forecasting + risk flags (issue 6): sportlens.forecast.online / rules ---------------------------
@dataclass(frozen=True)
class RiskRules:
    """Thresholds of the risk flags (``sportlens.forecast.rules``; sources in its docstring table).

    Screening cues from 2D video, not diagnoses. ``rules.py`` says how each value is measured.
    """

    enabled: tuple[str, ...] = ("knee_valgus", "knee_hyperextension", "trunk_flexion", "stiff_landing")
    # View: shoulder width / trunk length. Face-on >= frontal_min, side-on <= sagittal_max (turning the
    # body shortens the shoulder line by the cosine of the turn; face-on it is ~0.7-0.8 of the trunk).
    frontal_min: float = 0.5
    sagittal_max: float = 0.3
    knee_valgus_deg: float = 13.0  # frontal-plane projection angle; women's upper normal limit in drop jumps, Herrington & Munro 2010
    knee_hyperextension_deg: float = 5.0  # past straight; genu recurvatum > 5 deg, Loudon et al. 1998
    trunk_flexion_deg: float = 60.0  # from vertical; REBA's top trunk band (> 60 deg), Hignett & McAtamney 2000
    landing_knee_flexion_deg: float = 20.0  # at initial contact; project choice (Boden 2000: injuries near extension; Koga 2010: 23 deg mean)
    # Beyond these a 2D value is a pose (or forecast) error, or a bent knee seen obliquely, not valgus or
    # recurvatum (clinical ranges stay well below): such frames are ignored.
    knee_valgus_max_deg: float = 45.0
    knee_hyperextension_max_deg: float = 30.0
    landing_fall_speed: float = 1.5  # leg lengths/s downward ankle speed before a contact (walking stays below)
    landing_stop_speed: float = 0.3  # leg lengths/s: the ankle has stopped (contact)
    landing_lookback_s: float = 0.2  # the fall must happen this soon before the stop
    bend_min_flexion_deg: float = 20.0  # frames bent more than this tell which way a knee flexes
    min_frames: int = 2  # consecutive frames over a threshold for a flag (one-frame spikes are pose noise)
    # Forecast flags only where the forecast proved at least as accurate as repeating the last pose (PCK at
    # the horizon on this same video): a forecast worse than standing still raises noise, not cues.
    forecast_needs_skill: bool = True


@dataclass(frozen=True)
class ForecastSettings:
    """``analyze --forecast SECONDS``: sliding pose forecasts and risk flags (``sportlens.forecast``).

    The forecast is in the Penn-13 layout at the model's rate: the cleaned track is resampled to
    ``model_fps`` (Penn Action's 30 fps, the rate the shipped model and the protocol-B baselines assume),
    ``observe`` poses up to each origin frame are the input, ``round(horizon_s * model_fps)`` steps come out.
    """

    enabled: bool = False
    horizon_s: float = 0.5  # how far ahead (seconds)
    every: int = 1  # forecast from every k-th frame of the cleaned track
    # A trained forecaster (msgcn checkpoint); "" = the shipped one when installed, else ``fallback``.
    checkpoint: str = ""
    fallback: str = "constvel"  # baseline when no trained model is available: constvel | zero
    model_fps: float = 30.0  # rate of the model's input and output steps (Penn Action)
    observe: int = 10  # observed poses per forecast (protocol B)
    max_gap_s: float = 0.1  # an observed window bridging a gap longer than this is skipped
    min_joints: int = 6  # of 13: fewer present in the last observed pose and the window is skipped
    pck_threshold: float = 0.05  # PCK@0.05 of the body box (see forecast/online.py)
    rules: RiskRules = field(default_factory=RiskRules)


@dataclass(frozen=True)
class AssessSettings:
    """How well it was performed (``sportlens.assess.pipeline``): reps, phases and feedback always run;
    a reference comparison and a learned quality model when named."""

    enabled: bool = True
    reference: str = ""  # a reference library name or folder (``sportlens reference add``); "" = none
    library: str = ""  # the reference library folder; "" = $SPORTLENS_HOME/references or the default
    quality_model: str = ""  # a quality model from ``sportlens train-quality``; "" = none


@dataclass(frozen=True)
class AnalyzeSettings:
    start: float | None = None  # seconds
    end: float | None = None  # seconds
    pose: PoseSettings = field(default_factory=PoseSettings)
    cleaning: CleaningSettings = field(default_factory=CleaningSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    recognition: RecognitionSettings = field(default_factory=RecognitionSettings)
    people: PeopleSettings = field(default_factory=PeopleSettings)
    forecast: ForecastSettings = field(default_factory=ForecastSettings)  # issue 6, off by default
    assess: AssessSettings = field(default_factory=AssessSettings)


def to_dict(obj: Any) -> dict[str, Any]:
    out = {}
    for f in fields(obj):
        v = getattr(obj, f.name)
        out[f.name] = to_dict(v) if is_dataclass(v) else v
    return out


def from_overrides(base: Any, overrides: dict[str, Any]) -> Any:
    """Return ``base`` with flat dotted overrides applied, e.g. ``{"cleaning.cutoff_hz": 8.0}``."""
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        names = {f.name for f in fields(base)}
        if head not in names:
            raise KeyError(f"unknown setting {key!r}; known: {', '.join(sorted(names))}")
        current = getattr(base, head)
        base = replace(base, **{head: from_overrides(current, {rest: value}) if rest else value})
    return base
