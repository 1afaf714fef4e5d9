"""Person detectors for the multi-person pipeline: ``detect(image_rgb) -> (boxes (N, 4) xyxy px, scores (N,))``."""
from __future__ import annotations

from sportlens.detect.yolo import YoloPersonDetector

__all__ = ["YoloPersonDetector"]
