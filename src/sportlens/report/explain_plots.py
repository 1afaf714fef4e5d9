"""Images of what a video model looked at: Grad-CAM overlays on chosen frames and attention over time.

Renders plain numpy arrays (computed by ``sportlens.explain``; this module imports no model code).
Each function returns PNG bytes (the report embeds them) and, given ``path``, also writes the file.

- :func:`plot_gradcam`: two rows over the chosen frames, the person-centred crop the model saw and
  the same crop with the Grad-CAM map over it (colour = how much that region raised the predicted
  class; maps are scaled per clip, so frames compare);
- :func:`plot_attention`: the model's temporal attention as bars over the sampled frames (time on
  the x axis), the frames shown with Grad-CAM highlighted, the uniform level 1/T dashed.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from sportlens.report.plots import BAD, MUTED, _png, _style

CAM_CMAP = "inferno"  # perceptually uniform, readable in grey print, no false "red = danger" of jet
CAM_ALPHA = 0.55  # weight of the heat map where it is at full strength


def overlay_cam(crop: np.ndarray, cam: np.ndarray, alpha: float = CAM_ALPHA) -> np.ndarray:
    """(S, S, 3) uint8 crop with ``cam`` (S, S) in [0, 1] blended over it: the map's colour weighted by
    alpha x its value, so regions without evidence keep the picture as it is."""
    crop = np.asarray(crop, dtype=np.float32) / 255.0  # (S, S, 3)
    cam = np.clip(np.nan_to_num(np.asarray(cam, dtype=np.float32)), 0.0, 1.0)  # (S, S)
    if crop.shape[:2] != cam.shape:
        raise ValueError(f"crop {crop.shape[:2]} and map {cam.shape} differ in size")
    heat = colormaps[CAM_CMAP](cam)[..., :3].astype(np.float32)  # (S, S, 3)
    w = alpha * cam[..., None]  # (S, S, 1)
    return np.round(255.0 * ((1.0 - w) * crop + w * heat)).astype(np.uint8)


def _save(png: bytes, path: str | Path | None) -> bytes:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(png)
    return png


def plot_gradcam(crops: np.ndarray, cams: np.ndarray, titles: Sequence[str] | None = None,
                 path: str | Path | None = None, *, suptitle: str = "") -> bytes:
    """Row 1: the n crops (n, S, S, 3) uint8; row 2: the crops with their Grad-CAM maps (n, S, S) in [0, 1]."""
    crops, cams = np.asarray(crops), np.asarray(cams)
    if crops.ndim != 4 or cams.ndim != 3 or len(crops) != len(cams) or len(crops) == 0:
        raise ValueError(f"need crops (n, S, S, 3) and maps (n, S, S) with n >= 1, got {crops.shape}, {cams.shape}")
    n = len(crops)
    titles = list(titles) if titles is not None else [f"frame {i + 1}" for i in range(n)]
    fig = Figure(figsize=(2.3 * n + 0.6, 5.0))
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        axes[0, i].imshow(crops[i])
        axes[0, i].set_title(titles[i], fontsize=9)
        axes[1, i].imshow(overlay_cam(crops[i], cams[i]))
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("model input", fontsize=9)
    axes[1, 0].set_ylabel("Grad-CAM", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return _save(_png(fig), path)


def plot_attention(times: np.ndarray, weights: np.ndarray, highlight: Sequence[int] = (),
                   path: str | Path | None = None, *, title: str = "Attention over time") -> bytes:
    """Bars of ``weights`` (T,) (summing to 1) at the sampled frames' ``times`` (T,) seconds;
    ``highlight``: indices drawn in the accent colour (the frames shown with Grad-CAM)."""
    t = np.asarray(times, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if t.shape != w.shape or t.ndim != 1 or len(t) == 0:
        raise ValueError(f"need times and weights of the same (T,) shape, got {t.shape}, {w.shape}")
    fig = Figure(figsize=(8.0, 2.6))
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 * (float(np.median(np.diff(t))) if len(t) > 1 and np.ptp(t) > 0 else 1.0)
    colours = [BAD if i in set(int(h) for h in highlight) else MUTED for i in range(len(t))]
    ax.bar(t, w, width=width, color=colours)
    ax.axhline(1.0 / len(t), color="#555555", linestyle="--", linewidth=1, label="uniform (1/T)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("weight")
    ax.set_title(title, fontsize=11)
    ax.legend(loc="lower left", bbox_to_anchor=(1.0, 0.0), fontsize=8, frameon=False)
    _style(ax)
    return _save(_png(fig), path)
