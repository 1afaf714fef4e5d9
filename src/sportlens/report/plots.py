"""Report figures (matplotlib, Agg, no pyplot state), each returned as PNG bytes.

Every function accepts all-NaN input (no person found, an angle never measurable) and then draws
empty axes with a short note instead of failing. Colours: the person's left side orange (solid
line), right side sky blue (dashed line), so the plots read in grey print and for colour-blind
readers too.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sportlens.types import AngleTable, Forecast, PoseTrack

# Okabe-Ito, as hex for matplotlib (same palette as draw.py).
LEFT = "#E69F00"
RIGHT = "#56B4E9"
CENTER = "#009E73"
MUTED = "#999999"
BAD = "#D55E00"

# (label, angle base name) of the joint subplots, in body order.
JOINT_GROUPS: tuple[tuple[str, str], ...] = (
    ("Shoulder flexion", "shoulder_flexion"),
    ("Elbow flexion", "elbow_flexion"),
    ("Hip flexion", "hip_flexion"),
    ("Knee flexion", "knee_flexion"),
    ("Ankle flexion", "ankle_flexion"),
)
SINGLE_ANGLES: tuple[tuple[str, str], ...] = (("Trunk lean", "trunk_lean"),)

_DPI = 110


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # tight_layout + a tight bbox: constrained layout looked the same and cost ~0.8 s per report
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=10, color="#555555",
            wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_color("#dddddd")


def _style(ax) -> None:
    ax.grid(True, color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)


def _finite(a: Any) -> bool:
    return a is not None and bool(np.isfinite(np.asarray(a, dtype=np.float64)).any())


def empty_figure(text: str, size: tuple[float, float] = (8.0, 2.2)) -> bytes:
    """A blank figure with a centred note (used for 'no data' placeholders)."""
    fig = Figure(figsize=size)
    _note(fig.add_subplot(1, 1, 1), text)
    return _png(fig)


def angle_groups(names: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Subplot groups present in ``names``: ``[(title, [angle names]), ...]``, left before right."""
    names = list(names)
    groups: list[tuple[str, list[str]]] = []
    for title, base in JOINT_GROUPS:
        members = [f"{side}_{base}" for side in ("left", "right") if f"{side}_{base}" in names]
        if members:
            groups.append((title, members))
    for title, name in SINGLE_ANGLES:
        if name in names:
            groups.append((title, [name]))
    return groups


def _color_style(name: str) -> tuple[str, str]:
    if name.startswith("left_"):
        return LEFT, "-"
    if name.startswith("right_"):
        return RIGHT, "--"
    return CENTER, "-"


def plot_angle_curves(angles: AngleTable, *, groups: Sequence[tuple[str, Sequence[str]]] | None = None,
                      ncols: int = 2) -> bytes:
    """Angle curves over time: one subplot per joint (left vs right on the same axes) + trunk lean.

    groups: ``[(title, [angle names])]``; default: the joint flexions present in ``angles`` and
    ``trunk_lean`` (see ``angle_groups``).
    """
    groups = angle_groups(angles.names) if groups is None else [(t, list(m)) for t, m in groups]
    groups = [(t, [m for m in ms if m in angles.names]) for t, ms in groups]
    groups = [(t, ms) for t, ms in groups if ms]
    times = np.asarray(angles.times, dtype=np.float64)
    if not groups or times.size == 0 or not np.isfinite(angles.values).any():
        return empty_figure("No angle data: no person was detected, or no joint angle could be measured.")
    ncols = max(1, min(ncols, len(groups)))
    nrows = int(np.ceil(len(groups) / ncols))
    fig = Figure(figsize=(5.2 * ncols, 2.5 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    for k, (title, members) in enumerate(groups):
        ax = axes[k // ncols][k % ncols]
        drawn = False
        for m in members:
            y = angles.column(m)
            if not _finite(y):
                continue
            color, ls = _color_style(m)
            label = {"left_": "left", "right_": "right"}.get(m[: m.find("_") + 1], m.replace("_", " "))
            ax.plot(times, y, color=color, linestyle=ls, linewidth=1.8, label=label)
            drawn = True
        ax.set_title(title, fontsize=10, loc="left", fontweight="bold")
        if not drawn:
            _note(ax, "not measured (joints not visible)")
            continue
        _style(ax)
        ax.set_ylabel("degrees", fontsize=8)
        ax.tick_params(labelsize=8)
        if len(members) > 1:
            ax.legend(fontsize=8, loc="best", frameon=False)
        lo, hi = ax.get_ylim()
        if hi - lo < 10:  # a nearly constant angle: do not blow up noise to full height
            mid = (hi + lo) / 2
            ax.set_ylim(mid - 5, mid + 5)
        if times.size:
            ax.set_xlim(float(np.nanmin(times)), float(np.nanmax(times)))
    for k in range(len(groups), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)", fontsize=8)
    # sharex hides tick labels on upper rows; an upper-row axis above a hidden one needs its own.
    for k in range(len(groups)):
        r, c = divmod(k, ncols)
        if r < nrows - 1 and (r + 1) * ncols + c >= len(groups):
            axes[r][c].tick_params(labelbottom=True)
            axes[r][c].set_xlabel("time (s)", fontsize=8)
    return _png(fig)


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return f


def plot_rom_bars(rom: Mapping[str, Mapping[str, Any]]) -> bytes:
    """Range of motion per joint, left vs right bars side by side (+ single angles such as trunk lean).

    rom: ``{angle_name: {"rom": degrees, ...}}`` (``metrics["rom"]``); None/NaN values show "n/a".
    """
    rom = rom or {}
    rows: list[tuple[str, list[tuple[float, str, str]]]] = []  # (label, [(value, colour, hatch)])
    for title, base in JOINT_GROUPS:
        left, right = rom.get(f"left_{base}"), rom.get(f"right_{base}")
        if left is None and right is None:
            continue
        rows.append((title.replace(" flexion", ""), [(_num((left or {}).get("rom")), LEFT, ""),
                                                      (_num((right or {}).get("rom")), RIGHT, "//")]))
    for title, name in SINGLE_ANGLES:
        if name in rom:
            rows.append((title, [(_num((rom.get(name) or {}).get("rom")), CENTER, "")]))
    values = [v for _, bars in rows for v, _, _ in bars if np.isfinite(v)]
    if not values:
        return empty_figure("No range of motion to show: no joint angle could be measured.", (7.0, 2.0))
    top = max(max(values), 1.0)
    fig = Figure(figsize=(max(5.0, 1.3 * len(rows) + 2), 3.2))
    ax = fig.add_subplot(1, 1, 1)
    w = 0.38
    for i, (_, bars) in enumerate(rows):
        offsets = [0.0] if len(bars) == 1 else [-w / 2, w / 2]
        for (val, color, hatch), dx in zip(bars, offsets):
            if not np.isfinite(val):
                ax.text(i + dx, top * 0.02, "n/a", ha="center", va="bottom", fontsize=7, color=MUTED)
                continue
            ax.bar(i + dx, val, w, color=color, hatch=hatch, edgecolor="#333333", linewidth=0.6)
            ax.text(i + dx, val + top * 0.015, f"{val:.0f}°", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(np.arange(len(rows)), [r[0] for r in rows], fontsize=9)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_ylabel("range of motion (degrees)", fontsize=9)
    ax.set_ylim(0, top * 1.15)
    _style(ax)
    ax.grid(axis="x", visible=False)
    if any(len(bars) == 2 for _, bars in rows):
        from matplotlib.patches import Patch

        ax.legend([Patch(facecolor=LEFT, edgecolor="#333333"), Patch(facecolor=RIGHT, hatch="//", edgecolor="#333333")],
                  ["left", "right"], fontsize=8, frameon=False, loc="upper right")
    return _png(fig)


def plot_detection_timeline(track: PoseTrack, *, min_score: float = 0.0) -> bytes:
    """Fraction of the skeleton's joints visible per frame, and the mean score of the visible ones.

    A joint is visible when its position is finite and its score is at least ``min_score``.
    Frames where no joint was found are shaded.
    """
    times = np.asarray(track.times, dtype=np.float64)
    if times.size == 0:
        return empty_figure("The video has no frames to show.", (8.0, 1.8))
    present = np.isfinite(track.keypoints).all(axis=-1)
    scores = np.nan_to_num(track.scores, nan=0.0)
    visible = present & (scores >= min_score)
    frac = visible.mean(axis=1) if track.num_joints else np.zeros(len(times))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_score = np.where(visible.any(axis=1), (scores * visible).sum(axis=1) / visible.sum(axis=1), np.nan)
    fig = Figure(figsize=(9.0, 2.4))
    ax = fig.add_subplot(1, 1, 1)
    none = ~present.any(axis=1)
    if none.any():
        # Shade runs of frames with nobody found.
        dt = float(np.nanmedian(np.diff(times))) if times.size > 1 else 1.0
        idx = np.flatnonzero(none)
        for run in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
            ax.axvspan(times[run[0]] - dt / 2, times[run[-1]] + dt / 2, color=BAD, alpha=0.12, linewidth=0)
    ax.fill_between(times, 0, frac, step="mid", color=CENTER, alpha=0.25, linewidth=0,
                    label="joints visible (fraction)")
    ax.plot(times, frac, drawstyle="steps-mid", color=CENTER, linewidth=1.0)
    if np.isfinite(mean_score).any():
        ax.plot(times, mean_score, color="#0072B2", linewidth=1.2, label="mean score of visible joints")
    ax.set_ylim(0, 1.05)
    ax.set_xlim(float(times.min()), float(times.max()) if times.size > 1 else float(times.min()) + 1)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.tick_params(labelsize=8)
    _style(ax)
    if none.all():
        ax.text(0.5, 0.55, "No person detected in any frame", transform=ax.transAxes, ha="center",
                va="center", fontsize=10, color=BAD)
    handles, labels = ax.get_legend_handles_labels()
    if none.any() and not none.all():
        from matplotlib.patches import Patch

        handles.append(Patch(color=BAD, alpha=0.12))
        labels.append("no person found")
    ax.legend(handles, labels, fontsize=8, frameon=False, loc="lower left", ncols=3)
    return _png(fig)


def plot_com_trajectory(com: np.ndarray | None, times: np.ndarray, *, width: int | None = None,
                        height: int | None = None) -> bytes:
    """Approximate centre-of-mass path in the image (left) and its displacement over time (right).

    com: (T, 2) pixels (y down), NaN where unknown; the left panel zooms on the path (``width``/
    ``height``, the video size, only set the smallest zoom). The right panel shows displacement from the first known position,
    with *up* positive.
    """
    times = np.asarray(times, dtype=np.float64)
    if com is None or not np.isfinite(np.asarray(com, dtype=np.float64)).all(axis=-1).any():
        return empty_figure("No centre-of-mass trajectory: no person was detected.", (8.0, 2.0))
    com = np.asarray(com, dtype=np.float64)
    ok = np.isfinite(com).all(axis=1)
    n = min(len(times), len(com))
    com, times, ok = com[:n], times[:n], ok[:n]
    fig = Figure(figsize=(10.0, 3.4))
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.5]})
    x, y = com[:, 0], com[:, 1]
    ax1.plot(x, y, color="#bbbbbb", linewidth=1.0, zorder=1)
    sc = ax1.scatter(x[ok], y[ok], c=times[ok], cmap="viridis", s=10, zorder=2)
    cb = fig.colorbar(sc, ax=ax1, shrink=0.85)
    cb.set_label("time (s)", fontsize=8)
    cb.ax.tick_params(labelsize=7)
    # Zoom on the path (a padded square box, equal scales), clipped to the frame when its size is known.
    xs, ys = x[ok], y[ok]
    half = max(float(np.ptp(xs)), float(np.ptp(ys)), 0.05 * max(width or 0, height or 0, 100)) * 0.6
    cx, cy = float(xs.min() + xs.max()) / 2, float(ys.min() + ys.max()) / 2
    ax1.set_xlim(cx - half, cx + half)
    ax1.set_ylim(cy + half, cy - half)  # y down, as in the image
    ax1.set_aspect("equal", adjustable="box")
    ax1.set_title("Path in the image", fontsize=10, loc="left", fontweight="bold")
    ax1.set_xlabel("x (px)", fontsize=8)
    ax1.set_ylabel("y (px)", fontsize=8)
    ax1.tick_params(labelsize=7)
    first = int(np.flatnonzero(ok)[0])
    ax2.plot(times, x - x[first], color="#0072B2", linewidth=1.5, label="horizontal (right = +)")
    ax2.plot(times, -(y - y[first]), color=BAD, linewidth=1.5, linestyle="--", label="vertical (up = +)")
    ax2.axhline(0, color="#999999", linewidth=0.8)
    ax2.set_title("Displacement from start", fontsize=10, loc="left", fontweight="bold")
    ax2.set_xlabel("time (s)", fontsize=8)
    ax2.set_ylabel("pixels", fontsize=8)
    ax2.tick_params(labelsize=7)
    ax2.legend(fontsize=8, frameon=False)
    _style(ax2)
    return _png(fig)


# ---- forecast vs actual (issue 6) ----------------------------------------------------------------------
FORECAST_GROUPS: tuple[tuple[str, str], ...] = (("Knee flexion", "knee_flexion"), ("Hip flexion", "hip_flexion"),
                                                ("Elbow flexion", "elbow_flexion"),
                                                ("Shoulder flexion", "shoulder_flexion"))


def _break_gaps(times: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """(times with NaN inserted where consecutive times are over 1.5 steps apart, index map) so that a
    line is not drawn across frames without a forecast."""
    cut = np.flatnonzero(np.diff(times) > 1.5 * step) + 1
    idx = np.insert(np.arange(len(times)).astype(float), cut, np.nan)
    return np.insert(times, cut, np.nan), idx


def plot_forecast_angles(forecast: Forecast, *, ncols: int = 2) -> bytes:
    """Per joint, the actual angle (solid) and the angle forecast ``horizon_s`` earlier for that time
    (dotted), left and right; each subplot titled with the mean |forecast - actual| of both sides."""
    times = np.asarray(forecast.target_times, dtype=np.float64)
    fa, aa = forecast.angles, forecast.actual_angles
    groups = [(t, [f"{s}_{b}" for s in ("left", "right") if f"{s}_{b}" in fa.names]) for t, b in FORECAST_GROUPS]
    groups = [(t, ms) for t, ms in groups if any(_finite(aa.column(m)) for m in ms)]
    if times.size == 0 or not groups:
        return empty_figure("No forecast could be compared with what happened (too short a track, or the "
                            "future of every forecast is unknown).")
    nrows = int(np.ceil(len(groups) / ncols))
    fig = Figure(figsize=(5.2 * ncols, 2.5 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    errors = forecast.metrics.get("angle_error_deg", {})
    x, idx = _break_gaps(times, forecast.step_s * max(1, forecast.every))
    ok = np.isfinite(idx)

    def at(y: np.ndarray) -> np.ndarray:  # values on the gap-broken time axis
        out = np.full(len(idx), np.nan)
        out[ok] = y[idx[ok].astype(int)]
        return out

    for k, (title, members) in enumerate(groups):
        ax = axes[k // ncols][k % ncols]
        for m in members:
            color, _ = _color_style(m)
            side = m.split("_", 1)[0]
            ax.plot(x, at(aa.column(m)), color=color, linewidth=1.8, label=f"{side} actual")
            ax.plot(x, at(fa.column(m)), color=color, linewidth=1.6, linestyle=":", label=f"{side} forecast")
        err = [errors[m] for m in members if m in errors]
        ax.set_title(f"{title}: error {np.mean(err):.1f} deg" if err else title, fontsize=10, loc="left",
                     fontweight="bold")
        _style(ax)
        ax.set_ylabel("degrees", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, loc="best", frameon=False, ncol=2)
        ax.set_xlim(float(times.min()), float(times.max()) if times.max() > times.min() else float(times.min()) + 1)
    for k in range(len(groups), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("time the forecast is for (s)", fontsize=8)
    return _png(fig)
