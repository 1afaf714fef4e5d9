"""Interpretability of the video models (layer 5: reads ``sportlens.models``, no engine, no I/O).

- :func:`grad_cam` (``gradcam.py``): Grad-CAM maps (B, T, S, S) in [0, 1] on the frames of a clip, for
  per-frame 2D CNNs and 3D CNNs, at a default or chosen layer (:func:`default_target_layer`);
- :func:`temporal_attention` / :func:`read_attention` (``attention.py``): the weights over time
  (B, T), summing to 1, of ``cnn_lstm``, ``two_stream`` (MHSSA), ``psta`` and ``hicnn_psta``;
  :func:`recording_attention` switches on PSTA's recording for a forward pass;
- :func:`choose_frames`: the frames worth showing (highest attention, else evenly spaced).

Rendering these arrays as images is ``sportlens.report.explain_plots``; applying a trained checkpoint
to an analysed video is ``sportlens.recognize.video_model``.
"""
from __future__ import annotations

import numpy as np

from .attention import has_temporal_attention, read_attention, recording_attention, temporal_attention
from .gradcam import GradCAMResult, default_target_layer, grad_cam


def choose_frames(num_frames: int, attention: np.ndarray | None = None, n: int = 4) -> np.ndarray:
    """Indices (ascending) of up to ``n`` of ``num_frames`` frames: the ``n`` with the highest attention
    (ties: the earlier frame) when ``attention`` (T,) is given, else evenly spaced over the clip."""
    n = max(1, min(int(n), int(num_frames)))
    if attention is not None:
        order = np.argsort(-np.asarray(attention, dtype=np.float64), kind="stable")
        return np.sort(order[:n])
    return np.unique(np.round(np.linspace(0, num_frames - 1, n)).astype(np.int64))


__all__ = ["GradCAMResult", "choose_frames", "default_target_layer", "grad_cam", "has_temporal_attention",
           "read_attention", "recording_attention", "temporal_attention"]
