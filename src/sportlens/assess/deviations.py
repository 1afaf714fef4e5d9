"""The one record every assessment step hands to feedback: a measured value, what it was compared with, when.

Reference comparison (``assess.compare``), repetition analysis (``assess.reps``) and the learned quality
models all describe what they found as ``Deviation`` rows; ``assess.feedback`` turns them into ranked
sentences. Keeping the record here (and nothing else) lets those modules grow without importing each other.

Units: angles in degrees, times in seconds from the start of the analysed video, ``severity`` is the
absolute difference divided by the tolerance that matters for that quantity (1.0 = at the tolerance), so
rows of different kinds can be ranked together.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Trunk lean signed forward-positive (degrees, 0 = upright). Producers that know which side the athlete
# faces emit it instead of the picture-signed ``trunk_lean`` angle, so feedback can say forward/backward.
FORWARD_LEAN = "trunk_forward_lean"


@dataclass(frozen=True)
class Deviation:
    quantity: str          # e.g. "left_knee flexion" (angle names from sportlens.kinematics), "tempo", "rom"
    kind: str              # "angle_at_event" | "rom" | "timing" | "tempo" | "depth" | "count" | "quality"
    value: float           # the athlete's measured value
    reference: float       # what it was compared with (reference performance, rule or model target)
    unit: str              # "deg" | "s" | "%" | ""
    time_s: float          # moment in the video the row is about (links to the overlay)
    severity: float        # |value - reference| / tolerance; >= 1 means worth telling the athlete
    rep: int | None = None     # 1-based repetition index, when the row is about one repetition
    phase: str | None = None   # "start" | "bottom" | "end" | "top" | "impact" | ...
    source: str = ""           # which step produced it: "reference:<name>", "reps", "quality-model"

    @property
    def difference(self) -> float:
        return self.value - self.reference

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
