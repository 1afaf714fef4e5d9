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


@dataclass(frozen=True)
class AnalyzeSettings:
    start: float | None = None  # seconds
    end: float | None = None  # seconds
    pose: PoseSettings = field(default_factory=PoseSettings)
    cleaning: CleaningSettings = field(default_factory=CleaningSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    recognition: RecognitionSettings = field(default_factory=RecognitionSettings)


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
