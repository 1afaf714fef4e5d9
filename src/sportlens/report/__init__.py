"""Rendering of analysis results: overlay frames (cv2), report figures (matplotlib) and the HTML page.

This package only renders what it is given (``sportlens.types.Analysis`` and frames); it never runs
pose estimation or models. Frames are RGB ``uint8`` arrays ``(H, W, 3)``.
"""
from __future__ import annotations

# Figures are built with matplotlib.figure.Figure (rendered by Agg) and never touch pyplot, so
# importing this package changes no global matplotlib state and needs no display.
from sportlens.report.draw import (
    draw_angle_labels,
    draw_angle_strip,
    draw_skeleton,
    render_overlay_frame,
)
from sportlens.report.html import NO_PERSON_MESSAGE, key_frame_times, render_html
from sportlens.report.plots import (
    plot_angle_curves,
    plot_com_trajectory,
    plot_detection_timeline,
    plot_rom_bars,
)

__all__ = [
    "NO_PERSON_MESSAGE",
    "draw_angle_labels",
    "draw_angle_strip",
    "draw_skeleton",
    "key_frame_times",
    "plot_angle_curves",
    "plot_com_trajectory",
    "plot_detection_timeline",
    "plot_rom_bars",
    "render_html",
    "render_overlay_frame",
]
