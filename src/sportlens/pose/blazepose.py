"""MediaPipe BlazePose *full* (33 landmarks), through the legacy ``mediapipe.solutions.pose``.

Only ``model_complexity=1`` works offline: the *full* landmark model is the one bundled in the
mediapipe 0.10.14 wheel (lite/heavy are downloaded on first use, which fails without network).
MediaPipe's own landmark smoothing is switched off: it is a causal filter that adds lag, and
sportlens cleans and filters keypoints itself (``pose.cleaning``) with documented settings.
"""
from __future__ import annotations

import os

import numpy as np

from sportlens.pose.base import PoseEstimator, register_backend

# Quieten glog/TFLite start-up chatter ("Created TensorFlow Lite XNNPACK delegate...").
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@register_backend("blazepose")
class BlazePoseEstimator(PoseEstimator):
    skeleton = "blazepose33"

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5,
                 static_image_mode: bool = False):
        import warnings

        with warnings.catch_warnings():  # protobuf deprecation noise inside mediapipe
            warnings.simplefilter("ignore")
            from mediapipe.python.solutions import pose as mp_pose
        self._make = lambda: mp_pose.Pose(
            static_image_mode=static_image_mode, model_complexity=1, smooth_landmarks=False,
            enable_segmentation=False, min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence)
        self._pose = self._make()

    def estimate(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        result = self._pose.process(image)
        if result.pose_landmarks is None:
            return np.full((33, 2), np.nan), np.zeros(33)
        lm = result.pose_landmarks.landmark
        xy = np.array([(p.x * w, p.y * h) for p in lm], dtype=np.float64)  # (33, 2) pixels
        vis = np.array([p.visibility for p in lm], dtype=np.float64)  # (33,)
        return xy, np.clip(vis, 0.0, 1.0)

    def reset(self) -> None:
        # A fresh graph is cheaper than Pose.reset() here (measured ~15 ms vs ~130 ms).
        self._pose.close()
        self._pose = self._make()

    def close(self) -> None:
        self._pose.close()
