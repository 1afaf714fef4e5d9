"""MediaPipe BlazePose *full* (33 landmarks), through the legacy ``mediapipe.solutions.pose``.

Only ``model_complexity=1`` works offline: the *full* landmark model is the one bundled in the
mediapipe 0.10.14 wheel (lite/heavy are downloaded on first use, which fails without network).
MediaPipe's own landmark smoothing is switched off: it is a causal filter that adds lag, and
sportlens cleans and filters keypoints itself (``pose.cleaning``) with documented settings.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings

import numpy as np

from sportlens.pose.base import PoseEstimator, register_backend

# protobuf's deprecation warning fires inside mediapipe on every new graph: not actionable by anyone.
warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")
# Quieten glog/TFLite start-up chatter ("Created TensorFlow Lite XNNPACK delegate...").
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence what MediaPipe's C++ (TFLite, absl) prints to fd 2 while a graph starts.

    Why at the fd level: those lines come from native code that bypasses Python's sys.stderr and
    logging, and absl offers no switch before its own initialisation. Only graph start-up and the
    first frame are wrapped (a few tens of ms), under a lock so threads restore fd 2 correctly.
    """
    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable fd 2 (embedded interpreter): nothing to silence
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


@register_backend("blazepose")
class BlazePoseEstimator(PoseEstimator):
    skeleton = "blazepose33"

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5,
                 static_image_mode: bool = False):
        with warnings.catch_warnings():  # protobuf deprecation noise inside mediapipe
            warnings.simplefilter("ignore")
            from mediapipe.python.solutions import pose as mp_pose
        self._make = lambda: mp_pose.Pose(
            static_image_mode=static_image_mode, model_complexity=1, smooth_landmarks=False,
            enable_segmentation=False, min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence)
        self._fresh = True
        with _quiet_native_stderr():
            self._pose = self._make()

    def estimate(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        if self._fresh:  # the graph's calculators start (and log) on the first frame
            with _quiet_native_stderr():
                result = self._pose.process(image)
            self._fresh = False
        else:
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
        with _quiet_native_stderr():
            self._pose = self._make()
        self._fresh = True

    def close(self) -> None:
        self._pose.close()
