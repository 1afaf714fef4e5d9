"""The ``PoseEstimator`` interface every pose backend implements, and the backend registry.

A backend estimates ONE person per frame (the most prominent; multi-person comes with the
detector/tracker). It is stateful: video backends track the person from frame to frame, so a
new, unrelated sequence of frames needs ``reset()`` or a new instance. Instances are not shared
between threads: the runner creates one per worker.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import numpy as np


class PoseEstimator(ABC):
    skeleton: str  # layout name in sportlens.skeletons of the returned keypoints

    @abstractmethod
    def estimate(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """image (H, W, 3) uint8 RGB -> keypoints (V, 2) pixels of *this image*, NaN when no
        person; scores (V,) in [0, 1], 0 when no person."""

    def reset(self) -> None:
        """Forget temporal state (the next frame starts a new sequence)."""

    def close(self) -> None:
        """Release native resources."""

    def __enter__(self) -> "PoseEstimator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_BACKENDS: dict[str, Callable[..., PoseEstimator]] = {}


def register_backend(name: str):
    """Class decorator: make a PoseEstimator available as ``create_estimator(name)``."""
    def deco(cls):
        _BACKENDS[name] = cls
        return cls
    return deco


def create_estimator(name: str, **kwargs) -> PoseEstimator:
    if name not in _BACKENDS:
        raise ValueError(f"unknown pose backend {name!r}; available: {', '.join(sorted(_BACKENDS))}")
    return _BACKENDS[name](**kwargs)


def list_backends() -> list[str]:
    return sorted(_BACKENDS)
