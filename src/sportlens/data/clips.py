"""``SkeletonClip``: one labelled skeleton sequence, the unit every skeleton dataset yields."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class SkeletonClip:
    """A labelled pose sequence in one skeleton layout.

    keypoints: (T, V, 2) float pixels, NaN where a joint is not visible/annotated.
    visibility: (T, V) bool, True where the joint is visible (finite keypoint).
    bbox: (T, 4) float (x1, y1, x2, y2) pixels of the person box per frame, or None (then derived
        from the visible joints when needed).
    """

    name: str  # unique id within its dataset, e.g. "0001"
    keypoints: np.ndarray  # (T, V, 2)
    visibility: np.ndarray  # (T, V) bool
    label: str  # class name, e.g. "golf_swing"
    split: str  # "train" | "test" | "val"
    skeleton: str = "penn13"
    bbox: np.ndarray | None = None  # (T, 4)
    fps: float = 30.0
    subject: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.keypoints.shape[0])
