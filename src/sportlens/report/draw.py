"""Fast frame drawing with OpenCV on RGB ``uint8`` frames ``(H, W, 3)``.

Everything here runs once per frame of the overlay video, so it uses ``cv2`` primitives only
(no matplotlib). Functions draw *in place* and return the frame; a frame that OpenCV cannot draw
into directly (not C-contiguous, not ``uint8``) is copied first and the copy is returned, so always
use the return value.

Colours come from the Okabe-Ito palette (safe for the common colour-vision deficiencies): the
person's left side is orange, the right side sky blue, the centre line yellow. Every line and every
label has a dark outline under it so it stays readable on light and dark backgrounds alike.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from sportlens.skeletons import get_skeleton

if TYPE_CHECKING:  # pragma: no cover
    from sportlens.types import Analysis

# Okabe-Ito palette, RGB.
ORANGE = (230, 159, 0)
SKY_BLUE = (86, 180, 233)
BLUISH_GREEN = (0, 158, 115)
YELLOW = (240, 228, 66)
BLUE = (0, 114, 178)
VERMILLION = (213, 94, 0)
REDDISH_PURPLE = (204, 121, 167)

LEFT_COLOR = ORANGE
RIGHT_COLOR = SKY_BLUE
CENTER_COLOR = YELLOW
OUTLINE_COLOR = (20, 20, 20)
TEXT_COLOR = (250, 250, 250)

# Curves of the angle strip, in order (bright ones first: the strip's background is dark).
STRIP_COLORS = (ORANGE, SKY_BLUE, BLUISH_GREEN, YELLOW, REDDISH_PURPLE, VERMILLION)

DEFAULT_STRIP_ANGLES = ("left_knee_flexion", "right_knee_flexion", "left_hip_flexion", "right_hip_flexion")

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_ANGLE_SUFFIXES = ("_flexion", "_extension", "_abduction", "_adduction", "_rotation", "_angle")


def side_of(name: str) -> str:
    """'left', 'right' or 'center' for a joint or angle name (the person's side)."""
    n = name.lower()
    if n.startswith("left_") or n.endswith("_left"):
        return "left"
    if n.startswith("right_") or n.endswith("_right"):
        return "right"
    return "center"


def side_color(name: str) -> tuple[int, int, int]:
    return {"left": LEFT_COLOR, "right": RIGHT_COLOR}.get(side_of(name), CENTER_COLOR)


def _drawable(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8 or not frame.flags.c_contiguous or not frame.flags.writeable:
        frame = np.ascontiguousarray(frame, dtype=np.uint8).copy()
    return frame


def _scale_xy(scale: float | Sequence[float]) -> tuple[float, float]:
    if np.ndim(scale) == 0:
        return float(scale), float(scale)  # type: ignore[arg-type]
    sx, sy = scale  # type: ignore[misc]
    return float(sx), float(sy)


def line_thickness(frame: np.ndarray) -> int:
    """Bone thickness for a frame: ~3 px at 720p, at least 1."""
    return max(1, int(round(min(frame.shape[:2]) / 240)))


def _font_scale(frame: np.ndarray) -> float:
    return max(0.35, min(frame.shape[:2]) / 1300)


def _points(keypoints: np.ndarray, scores: np.ndarray | None, min_score: float,
            scale: float | Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(V, 2) float pixel positions in the frame and a (V,) bool 'drawable' mask."""
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    sx, sy = _scale_xy(scale)
    pts = kp * np.array([sx, sy])
    ok = np.isfinite(pts).all(axis=1)
    if scores is not None and min_score > 0:
        sc = np.asarray(scores, dtype=np.float64).reshape(-1)
        ok &= np.nan_to_num(sc, nan=0.0) >= min_score
    # Far outside the frame: OpenCV's int conversion would overflow; treat as missing.
    ok &= (np.abs(np.where(ok[:, None], pts, 0.0)) < 1e6).all(axis=1)
    return pts, ok


def draw_skeleton(
    frame: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray | None,
    skeleton_name: str,
    *,
    min_score: float = 0.0,
    scale: float | Sequence[float] = 1.0,
) -> np.ndarray:
    """Draw the bones and joints of one pose on ``frame`` (in place) and return it.

    keypoints: (V, 2) pixels in the layout ``skeleton_name``, NaN for a missing joint.
    scores: (V,) visibilities; a joint below ``min_score`` is not drawn (None: all drawn).
    scale: factor(s) applied to the keypoints first, a float or ``(sx, sy)``: use it when the frame
        was resized from the size the keypoints are in (``frame_width / video_width``).
    """
    frame = _drawable(frame)
    skel = get_skeleton(skeleton_name)
    pts, ok = _points(keypoints, scores, min_score, scale)
    if len(pts) != skel.num_joints:
        raise ValueError(f"keypoints have {len(pts)} joints, skeleton {skeleton_name!r} has {skel.num_joints}")
    th = line_thickness(frame)
    ipts = np.zeros((len(pts), 2), dtype=np.int32)
    ipts[ok] = np.round(pts[ok]).astype(np.int32)
    edges = [(i, j, skel.edges[k]) for k, (i, j) in enumerate(skel.edge_index) if ok[i] and ok[j]]
    # Outline pass first, then colour pass, so the dark outline never covers another bone's colour.
    for i, j, _ in edges:
        cv2.line(frame, tuple(map(int, ipts[i])), tuple(map(int, ipts[j])), OUTLINE_COLOR, th + 2, cv2.LINE_AA)
    for i, j, (a, b) in edges:
        sa, sb = side_of(a), side_of(b)
        color = side_color(a) if sa == sb else CENTER_COLOR
        cv2.line(frame, tuple(map(int, ipts[i])), tuple(map(int, ipts[j])), color, th, cv2.LINE_AA)
    r = max(2, th + 1)
    for v in np.flatnonzero(ok):
        c = tuple(map(int, ipts[v]))
        cv2.circle(frame, c, r + 1, OUTLINE_COLOR, -1, cv2.LINE_AA)
        cv2.circle(frame, c, r, side_color(skel.joints[v]), -1, cv2.LINE_AA)
    return frame


def angle_joint(angle_name: str) -> str | None:
    """The joint an angle is measured at: ``left_knee_flexion`` -> ``left_knee``; None for e.g. trunk."""
    for suf in _ANGLE_SUFFIXES:
        if angle_name.endswith(suf):
            return angle_name[: -len(suf)]
    return None


def _mean_of(pts: np.ndarray, ok: np.ndarray, idx: list[int]) -> np.ndarray | None:
    idx = [i for i in idx if ok[i]]
    if not idx:
        return None
    return pts[idx].mean(axis=0)


def _label_anchor(name: str, skel, pts: np.ndarray, ok: np.ndarray) -> np.ndarray | None:
    joint = angle_joint(name)
    if joint is not None and skel.has(joint):
        i = skel.index(joint)
        return pts[i] if ok[i] else None
    if name.startswith("trunk"):
        sh = [skel.index(j) for j in ("left_shoulder", "right_shoulder") if skel.has(j)]
        hp = [skel.index(j) for j in ("left_hip", "right_hip") if skel.has(j)]
        a, b = _mean_of(pts, ok, sh), _mean_of(pts, ok, hp)
        if a is None or b is None:
            return None
        return (a + b) / 2
    return None


def put_text(frame: np.ndarray, text: str, org: tuple[int, int], *, font_scale: float,
             color: tuple[int, int, int] = TEXT_COLOR, thickness: int = 1, degree: bool = False) -> None:
    """Outlined text at ``org`` (bottom-left of the text); ``degree`` adds a small drawn degree sign."""
    x, y = int(org[0]), int(org[1])
    cv2.putText(frame, text, (x, y), _FONT, font_scale, OUTLINE_COLOR, thickness + 2, cv2.LINE_AA)
    cv2.putText(frame, text, (x, y), _FONT, font_scale, color, thickness, cv2.LINE_AA)
    if degree:
        (w, h), _ = cv2.getTextSize(text, _FONT, font_scale, thickness)
        rad = _degree_radius(h)
        c = (x + w + rad + 1, y - h + rad)
        ring = max(1, thickness - 1) if rad < 4 else thickness
        if rad >= 4:  # a halo on a tiny ring would fill its hole and read as a dot
            cv2.circle(frame, c, rad, OUTLINE_COLOR, ring + 1, cv2.LINE_AA)
        cv2.circle(frame, c, rad, color, ring, cv2.LINE_AA)


def _degree_radius(text_h: int) -> int:
    return max(2, int(round(text_h * 0.25)))


def _text_width(text: str, font_scale: float, thickness: int, degree: bool) -> tuple[int, int]:
    (w, h), _ = cv2.getTextSize(text, _FONT, font_scale, thickness)
    if degree:
        w += 2 * _degree_radius(h) + 3
    return w, h


def _label_direction(name: str, skel, pts: np.ndarray, ok: np.ndarray, anchor: np.ndarray, cx: float) -> int:
    """-1: write the label left of its anchor, +1: right. Left/right twins go to opposite sides."""
    joint = angle_joint(name)
    side = side_of(name)
    if joint is not None and side in ("left", "right"):
        twin = ("right_" + joint[5:]) if side == "left" else ("left_" + joint[6:])
        if skel.has(twin) and ok[skel.index(twin)]:
            dx = anchor[0] - pts[skel.index(twin)][0]
            if abs(dx) >= 1.0:
                return 1 if dx > 0 else -1
            return -1 if side == "left" else 1
    if side == "center":
        return 1
    return 1 if anchor[0] >= cx else -1


def _overlaps(box: tuple[float, float, float, float], boxes: list[tuple[float, float, float, float]]) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in boxes)


def draw_angle_labels(
    frame: np.ndarray,
    keypoints: np.ndarray,
    skeleton_name: str,
    angles: Mapping[str, float],
    *,
    scale: float | Sequence[float] = 1.0,
) -> np.ndarray:
    """Write each angle's value (e.g. ``92°``, the degree sign drawn as a small circle) next to its joint.

    angles: ``{angle_name: degrees}``; ``left_knee_flexion`` is written at ``left_knee``,
    ``trunk_lean`` at the middle of the trunk. Names with no joint in the layout, and NaN values,
    are skipped. A left joint's label and its right twin's go on opposite sides, and labels are
    nudged down so they do not overlap each other.
    """
    frame = _drawable(frame)
    skel = get_skeleton(skeleton_name)
    pts, ok = _points(keypoints, None, 0.0, scale)
    if not ok.any():
        return frame
    cx = float(np.median(pts[ok, 0]))
    fs = _font_scale(frame) * 1.2
    th = max(1, int(round(fs * 2.6)))
    off = int(round(8 * fs / 0.55))
    H, W = frame.shape[:2]
    placed: list[tuple[float, float, float, float]] = []
    for name, value in angles.items():
        if value is None or not np.isfinite(value):
            continue
        anchor = _label_anchor(name, skel, pts, ok)
        if anchor is None:
            continue
        text = f"{value:.0f}"
        w, h = _text_width(text, fs, th, True)
        direction = _label_direction(name, skel, pts, ok, anchor, cx)
        x = anchor[0] + off if direction > 0 else anchor[0] - off - w
        y = anchor[1] + h / 2
        x = min(max(x, 2), W - w - 2)
        for _ in range(6):  # nudge down until free
            y = min(max(y, h + 2), H - 2)
            box = (x - 2, y - h - 3, x + w + 2, y + 3)
            if not _overlaps(box, placed):
                break
            y += h + 6
        placed.append((x - 2, y - h - 3, x + w + 2, y + 3))
        put_text(frame, text, (int(x), int(y)), font_scale=fs, color=side_color(name), thickness=th, degree=True)
    return frame


def _window(times: np.ndarray, t_now: float, window_s: float) -> tuple[float, float]:
    """[t0, t1] of the strip: the cursor sits at 3/4 of the width, except near the ends of the video."""
    finite = times[np.isfinite(times)]
    if finite.size == 0:
        return t_now - window_s * 0.75, t_now + window_s * 0.25
    first, last = float(finite[0]), float(finite[-1])
    window_s = min(window_s, max(last - first, 1e-3))
    t0 = t_now - 0.75 * window_s
    t0 = min(t0, last - window_s)
    t0 = max(t0, first)
    return t0, t0 + window_s


def draw_angle_strip(
    frame: np.ndarray,
    times: np.ndarray,
    series: Mapping[str, np.ndarray],
    t_now: float,
    window_s: float = 4.0,
    *,
    y_range: tuple[float, float] | None = None,
    height_frac: float = 0.2,
    colors: Sequence[tuple[int, int, int]] | None = None,
) -> np.ndarray:
    """A translucent panel at the bottom of ``frame`` plotting a few seconds of angle curves.

    times: (T,) seconds, increasing; series: ``{name: (T,) degrees}`` (NaN gaps break the curve).
    The window is ``window_s`` seconds long; a vertical cursor marks ``t_now`` and a legend gives
    each curve's current value. The y range is fixed over the whole video (``y_range`` or the
    data's min/max) so the curves do not jump from frame to frame. cv2 only: ~1 ms per call.
    """
    frame = _drawable(frame)
    H, W = frame.shape[:2]
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0 or not series:
        return frame
    colors = tuple(colors) if colors else STRIP_COLORS
    ph = max(40, int(H * height_frac))
    margin = max(4, W // 100)
    x0, x1 = margin, W - margin
    y0, y1 = H - margin - ph, H - margin
    if x1 - x0 < 20 or y0 < 0:
        return frame
    roi = frame[y0:y1, x0:x1]
    # Darken (in cv2: faster than a float numpy blend): what is behind stays faintly visible.
    cv2.addWeighted(roi, 0.4, roi, 0.0, 6.0, dst=roi)

    fs = _font_scale(frame) * 0.8
    th = 1
    _, text_h = _text_width("0", fs, th, False)
    pad = max(3, text_h // 2)
    label_w = _text_width("180", fs, th, True)[0] + 2 * pad
    px0, px1 = x0 + label_w, x1 - pad
    py0, py1 = y0 + text_h + 2 * pad, y1 - pad  # legend row on top
    if px1 - px0 < 10 or py1 - py0 < 10:
        return frame

    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in series.items()}
    if y_range is None:
        lo, hi = np.inf, -np.inf
        for a in arrays.values():
            f = a[np.isfinite(a)]
            if f.size:
                lo, hi = min(lo, float(f.min())), max(hi, float(f.max()))
        if not np.isfinite(lo):
            lo, hi = 0.0, 180.0
    else:
        lo, hi = float(y_range[0]), float(y_range[1])
    if hi - lo < 10:
        mid = (hi + lo) / 2
        lo, hi = mid - 5, mid + 5
    t0, t1 = _window(times, t_now, window_s)

    # Grid: lines at lo, middle and hi, labelled on the left.
    grid = (60, 60, 60)
    for v in (lo, (lo + hi) / 2, hi):
        yy = int(round(py1 - (v - lo) / (hi - lo) * (py1 - py0)))
        cv2.line(frame, (px0, yy), (px1, yy), grid, 1)
        put_text(frame, f"{v:.0f}", (x0 + pad, yy + text_h // 2), font_scale=fs, color=(200, 200, 200),
                 thickness=th, degree=True)

    i0 = max(0, int(np.searchsorted(times, t0, side="left")) - 1)
    i1 = min(len(times), int(np.searchsorted(times, t1, side="right")) + 1)
    tw = times[i0:i1]
    xs = px0 + (tw - t0) / (t1 - t0) * (px1 - px0)
    k_now = int(np.clip(np.searchsorted(times, t_now, side="right") - 1, 0, len(times) - 1))
    lw = max(1, line_thickness(frame) // 2 + 1)

    legend_x = px0
    legend_y = y0 + pad + text_h
    for n, (name, arr) in enumerate(arrays.items()):
        color = colors[n % len(colors)]
        if arr.shape[0] == len(times):
            vals = arr[i0:i1]
            ys = py1 - (vals - lo) / (hi - lo) * (py1 - py0)
            good = np.isfinite(ys) & np.isfinite(xs)
            if good.any():
                pts = np.stack([xs, np.clip(ys, py0, py1)], axis=1)
                # Split at gaps so a missing stretch is not bridged by a straight line.
                idx = np.flatnonzero(good)
                breaks = np.flatnonzero(np.diff(idx) > 1) + 1
                runs = [r for r in np.split(idx, breaks) if r.size >= 2]
                if runs:
                    # Fixed-point coordinates (shift=2) keep the curve smooth at sub-pixel level.
                    polys = [np.round(pts[r] * 4).astype(np.int32).reshape(-1, 1, 2) for r in runs]
                    cv2.polylines(frame, polys, False, color, lw, cv2.LINE_AA, shift=2)
            current = arr[k_now]
        else:
            current = np.nan
        label = _short_name(name)
        value = f" {current:.0f}" if np.isfinite(current) else " -"
        text = label + value
        put_text(frame, text, (legend_x, legend_y), font_scale=fs, color=color, thickness=th,
                 degree=bool(np.isfinite(current)))
        legend_x += _text_width(text, fs, th, True)[0] + 3 * pad
        if legend_x > px1:
            break

    # Cursor.
    if t0 <= t_now <= t1:
        cx = int(round(px0 + (t_now - t0) / (t1 - t0) * (px1 - px0)))
        cv2.line(frame, (cx, py0), (cx, py1), (255, 255, 255), 1, cv2.LINE_AA)
    return frame


def _short_name(name: str) -> str:
    """``left_knee_flexion`` -> ``L knee``; ``trunk_lean`` -> ``trunk lean``."""
    side = side_of(name)
    base = name
    for pre in ("left_", "right_"):
        if base.startswith(pre):
            base = base[len(pre):]
    if base.endswith("_flexion"):
        base = base[: -len("_flexion")]
    base = base.replace("_", " ")
    return {"left": "L ", "right": "R "}.get(side, "") + base


def _angle_row(analysis: "Analysis", t_index: int) -> int | None:
    """Row of ``analysis.angles`` for frame ``t_index`` of ``analysis.clean``."""
    n = len(analysis.angles.times)
    if n == 0:
        return None
    if n == analysis.clean.num_frames:
        return t_index
    t = analysis.clean.times[t_index]
    k = int(np.searchsorted(analysis.angles.times, t))
    if k >= n or (k > 0 and abs(analysis.angles.times[k - 1] - t) <= abs(analysis.angles.times[k] - t)):
        k -= 1
    return max(0, min(k, n - 1))


def default_label_angles(names: Sequence[str]) -> tuple[str, ...]:
    """Angles written next to the joints in the overlay: the joint flexions and the trunk lean."""
    return tuple(n for n in names if n.endswith("_flexion") or n == "trunk_lean")


# ---- forecast ghost (issue 6) -------------------------------------------------------------------------
GHOST_COLOR = (255, 255, 255)  # white: reads as "not measured" beside the coloured, measured skeleton
GHOST_ALPHA = 0.5


def draw_ghost(frame: np.ndarray, keypoints: np.ndarray, skeleton_name: str, *, label: str = "",
               scale: float | Sequence[float] = 1.0, alpha: float = GHOST_ALPHA,
               color: tuple[int, int, int] = GHOST_COLOR) -> np.ndarray:
    """A semi-transparent one-colour skeleton (a forecast pose (V, 2) px, NaN missing) with ``label``
    above its top joint; blended only inside its bounding box, so a frame costs little."""
    frame = _drawable(frame)
    skel = get_skeleton(skeleton_name)
    pts, ok = _points(keypoints, None, 0.0, scale)
    if len(pts) != skel.num_joints or ok.sum() < 2:
        return frame
    H, W = frame.shape[:2]
    th = line_thickness(frame)
    pad = 4 * th + 30  # room for joints and the label
    x0, y0 = np.clip(np.floor(pts[ok].min(0)).astype(int) - pad, 0, [W, H])
    x1, y1 = np.clip(np.ceil(pts[ok].max(0)).astype(int) + pad, 0, [W, H])
    if x1 <= x0 or y1 <= y0:
        return frame
    roi = frame[y0:y1, x0:x1]
    layer = roi.copy()
    p = np.round(pts - [x0, y0]).astype(np.int64)
    for i, j in skel.edge_index:
        if ok[i] and ok[j]:
            cv2.line(layer, (int(p[i, 0]), int(p[i, 1])), (int(p[j, 0]), int(p[j, 1])), color, th, cv2.LINE_AA)
    for v in np.flatnonzero(ok):
        cv2.circle(layer, (int(p[v, 0]), int(p[v, 1])), max(2, th), color, -1, cv2.LINE_AA)
    cv2.addWeighted(layer, alpha, roi, 1.0 - alpha, 0.0, dst=roi)
    if label:
        top = int(np.argmin(np.where(ok, pts[:, 1], np.inf)))
        put_text(frame, label, (int(pts[top, 0]) + 2 * th, int(pts[top, 1]) - 2 * th),
                 font_scale=_font_scale(frame) * 0.8, color=color)
    return frame


def _ghost(frame: np.ndarray, t_index: int, analysis: "Analysis", scale: tuple[float, float]) -> None:
    """The forecast made at this frame (or the latest within its stride), at its horizon."""
    fc = getattr(analysis, "forecast", None)
    k = fc.at_frame(t_index) if fc is not None else None
    if k is None or t_index - int(fc.origin_index[k]) >= max(1, fc.every):
        return
    draw_ghost(frame, fc.poses[k], fc.skeleton, label=f"+{fc.horizon_s:.1f}s", scale=scale)


def render_overlay_frame(
    frame: np.ndarray,
    t_index: int,
    analysis: "Analysis",
    *,
    strip_angles: Sequence[str] = DEFAULT_STRIP_ANGLES,
    label_angles: Sequence[str] | None = None,
    window_s: float = 4.0,
    min_score: float = 0.0,
) -> np.ndarray:
    """Skeleton + angle labels + angle strip for frame ``t_index`` of ``analysis.clean`` (in place).

    The keypoints are in the original video's pixels (``analysis.video.width/height``); ``frame``
    may be smaller (downscaled overlay) and coordinates are scaled to it. ``label_angles`` None:
    every ``*_flexion`` angle and ``trunk_lean``. Angle names absent from the table are ignored.
    """
    frame = _drawable(frame)
    track = analysis.clean
    if not 0 <= t_index < track.num_frames:
        return frame
    H, W = frame.shape[:2]
    vw, vh = analysis.video.width, analysis.video.height
    scale = (W / vw if vw else 1.0, H / vh if vh else 1.0)
    kp = track.keypoints[t_index]
    table = analysis.angles
    names = tuple(table.names)
    row = _angle_row(analysis, t_index)
    # The strip first: the skeleton and its labels stay visible where they cross the panel.
    if row is not None and names:
        strip = {n: table.values[:, names.index(n)] for n in strip_angles if n in names}
        if strip and any(np.isfinite(v).any() for v in strip.values()):
            draw_angle_strip(frame, table.times, strip, float(table.times[row]), window_s)
    _ghost(frame, t_index, analysis, scale)  # under the measured skeleton: the measurement stays on top
    draw_skeleton(frame, kp, track.scores[t_index], track.skeleton, min_score=min_score, scale=scale)
    if row is not None and names:
        labels = default_label_angles(names) if label_angles is None else tuple(label_angles)
        values = {n: float(table.values[row, names.index(n)]) for n in labels if n in names}
        draw_angle_labels(frame, kp, track.skeleton, values, scale=scale)
    return frame
