"""Joint heatmap targets for pose estimation heads (seed 001 eq. 6-7, HICNN-PSTA).

A joint at (x, y) (heatmap pixels, x = column, y = row, pixel centres at integer coordinates) becomes
the unnormalised Gaussian ``exp(-((i - x)^2 + (j - y)^2) / (2 sigma^2))``, peak 1 at the joint, the
usual target of heatmap regression (Tompson et al. 2014; Newell et al. 2016). Invisible or missing
(non-finite) joints get an all-zero map; the loss masks them out anyway (``heatmap_mask``).
``sportlens.engine.metrics.heatmap_argmax`` reads the coordinates back.
"""
from __future__ import annotations

import numpy as np


def gaussian_heatmaps(keypoints: np.ndarray, visible: np.ndarray | None = None, size: int = 32,
                      sigma: float = 1.5) -> np.ndarray:
    """(..., V, 2) keypoints in heatmap pixels (+ (..., V) bool ``visible``; None = all finite ones)
    -> (..., V, size, size) float32 Gaussian maps, peak 1, zero for invisible joints."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim < 2 or kp.shape[-1] != 2:
        raise ValueError(f"keypoints must be (..., V, 2), got {kp.shape}")
    if size < 1 or sigma <= 0:
        raise ValueError(f"need size >= 1 and sigma > 0, got {size}, {sigma}")
    vis = np.isfinite(kp).all(axis=-1)  # (..., V)
    if visible is not None:
        visible = np.asarray(visible, dtype=bool)
        if visible.shape != kp.shape[:-1]:
            raise ValueError(f"visible must be {kp.shape[:-1]}, got {visible.shape}")
        vis &= visible
    kp = np.where(vis[..., None], kp, 0.0)  # keep NaN out of the arithmetic
    grid = np.arange(size, dtype=np.float64)  # (size,)
    gx = np.exp(-(grid - kp[..., 0:1]) ** 2 / (2 * sigma ** 2))  # (..., V, size): separable in x
    gy = np.exp(-(grid - kp[..., 1:2]) ** 2 / (2 * sigma ** 2))  # (..., V, size): and in y
    maps = gy[..., :, None] * gx[..., None, :]  # (..., V, size(y rows), size(x cols))
    return (maps * vis[..., None, None]).astype(np.float32)
