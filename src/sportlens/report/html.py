"""The HTML report: one self-contained page (inline CSS, images as base64, no scripts, no links out).

Written for a coach first: what was filmed, the key numbers, the curves, the range-of-motion table,
key frames with the skeleton drawn, and how to read it all; the technical details come last.

``analysis.metrics`` is read defensively; the keys used are::

    metrics["detection"]     = {"frames": int, "frames_with_person": int, "rate": float (0-1)}
    metrics["rom"]           = {angle: {"min", "max", "rom", "p05", "p95": float | None}}
    metrics["peak_velocity"] = {angle: float | None}           # deg/s, largest |velocity|
    metrics["symmetry"]      = {"knee_flexion": float | None}  # % (0 = identical left/right)

Any missing key is computed from ``analysis.angles`` / the tracks instead, or shown as "–".
"""
from __future__ import annotations

import base64
import html as _html
import math
from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any, Callable

import cv2
import numpy as np

from sportlens import __version__
from sportlens.report.assessment import assessment_section, phase_strip
from sportlens.report.draw import render_overlay_frame
from sportlens.report.plots import (
    JOINT_GROUPS,
    plot_angle_curves,
    plot_com_trajectory,
    plot_detection_timeline,
    plot_forecast_angles,
    plot_rom_bars,
)
from sportlens.types import RISK_DISCLAIMER, Analysis

NO_PERSON_MESSAGE = "No person was detected in this video"
DASH = "–"
ASYMMETRY_FLAG_PCT = 10.0  # a left/right difference above this is highlighted
KEY_FRAME_MAX_SIDE = 960

_STAT_KEYS = ("min", "max", "rom", "p05", "p95")


def esc(value: Any) -> str:
    return _html.escape(str(value), quote=True)


def _f(v: Any) -> float:
    """A float, NaN for None / non-numbers."""
    if v is None or isinstance(v, bool):
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def fmt_deg(v: Any, digits: int = 1) -> str:
    v = _f(v)
    return f"{v:.{digits}f}°" if math.isfinite(v) else DASH


def fmt_num(v: Any, digits: int = 1, unit: str = "") -> str:
    v = _f(v)
    return f"{v:.{digits}f}{unit}" if math.isfinite(v) else DASH


def pretty_angle(name: str) -> str:
    """``left_knee_flexion`` -> ``Left knee flexion``."""
    return name.replace("_", " ").strip().capitalize()


def _video_name(analysis: Analysis) -> str:
    p = str(analysis.video.path or "")
    return PurePath(p.replace("\\", "/")).name or p or "video"


# ----------------------------------------------------------------------------------------- stats
def angle_stats(analysis: Analysis) -> dict[str, dict[str, float]]:
    """Per angle: min, max, rom, p05, p95 (deg) and peak_velocity (deg/s).

    Taken from ``analysis.metrics`` where present, else computed from ``analysis.angles``.
    Angles in the table come first, in table order, then any others named in the metrics.
    """
    metrics = analysis.metrics or {}
    rom_m = metrics.get("rom") or {}
    vel_m = metrics.get("peak_velocity") or {}
    table = analysis.angles
    names = list(table.names) + [n for n in rom_m if n not in table.names]
    out: dict[str, dict[str, float]] = {}
    for name in names:
        stats: dict[str, float] = {}
        given = rom_m.get(name)
        col = table.values[:, table.names.index(name)] if name in table.names and table.values.size else None
        fin = col[np.isfinite(col)] if col is not None else np.empty(0)
        if isinstance(given, Mapping):
            stats = {k: _f(given.get(k)) for k in _STAT_KEYS}
        elif fin.size:
            lo, hi = float(fin.min()), float(fin.max())
            p05, p95 = (float(x) for x in np.percentile(fin, [5, 95]))
            stats = {"min": lo, "max": hi, "rom": hi - lo, "p05": p05, "p95": p95}
        else:
            stats = {k: math.nan for k in _STAT_KEYS}
        if name in vel_m:
            stats["peak_velocity"] = _f(vel_m.get(name))
        elif name in table.names and table.velocity.size:
            v = table.velocity[:, table.names.index(name)]
            v = np.abs(v[np.isfinite(v)])
            stats["peak_velocity"] = float(v.max()) if v.size else math.nan
        else:
            stats["peak_velocity"] = math.nan
        out[name] = stats
    return out


def symmetry_index(left: float, right: float) -> float:
    """100 * |L - R| / mean(L, R) in %, NaN when undefined."""
    left, right = _f(left), _f(right)
    if not (math.isfinite(left) and math.isfinite(right)) or (left + right) <= 0:
        return math.nan
    return 100.0 * abs(left - right) / ((left + right) / 2.0)


def bilateral_pairs(names: Sequence[str]) -> list[str]:
    """Base names having a ``left_`` and/or ``right_`` angle, known joints first (``knee_flexion``...)."""
    bases: list[str] = []
    for n in names:
        for pre in ("left_", "right_"):
            if n.startswith(pre) and n[len(pre):] not in bases:
                bases.append(n[len(pre):])
    order = {b: i for i, (_, b) in enumerate(JOINT_GROUPS)}
    return sorted(bases, key=lambda b: (order.get(b, len(order)), bases.index(b)))


def pair_symmetry(analysis: Analysis, stats: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """``{base: symmetry %}`` from ``metrics["symmetry"]``, else from the left/right ROM."""
    given = (analysis.metrics or {}).get("symmetry") or {}
    out = {}
    for base in bilateral_pairs(list(stats)):
        if base in given:
            out[base] = _f(given.get(base))
        else:
            out[base] = symmetry_index(stats.get(f"left_{base}", {}).get("rom"),
                                       stats.get(f"right_{base}", {}).get("rom"))
    return out


def detection_info(analysis: Analysis) -> dict[str, float]:
    """frames, frames_with_person, rate (0-1): from ``metrics["detection"]``, else from the raw track."""
    det = (analysis.metrics or {}).get("detection") or {}
    track = analysis.raw
    frames = det.get("frames")
    with_person = det.get("frames_with_person")
    if frames is None:
        frames = track.num_frames
    if with_person is None:
        with_person = int(track.detected_frames().sum()) if track.num_frames else 0
    rate = det.get("rate")
    if rate is None:
        rate = (with_person / frames) if frames else 0.0
    return {"frames": int(_f(frames)) if math.isfinite(_f(frames)) else 0,
            "frames_with_person": int(_f(with_person)) if math.isfinite(_f(with_person)) else 0,
            "rate": _f(rate)}


def has_person(analysis: Analysis) -> bool:
    det = (analysis.metrics or {}).get("detection") or {}
    if det.get("frames_with_person") == 0:
        return False
    return bool(np.isfinite(analysis.raw.keypoints).any() or np.isfinite(analysis.clean.keypoints).any())


# ------------------------------------------------------------------------------------ key frames
def key_frame_times(analysis: Analysis, n: int = 4) -> list[float]:
    """Times (s) worth showing as key frames: the extremes of the most-moving joint angle, then evenly
    spaced frames with a person, sorted. With nobody detected: evenly spaced over the video."""
    if n <= 0:
        return []
    times = np.asarray(analysis.clean.times, dtype=np.float64)
    if times.size == 0:
        dur = analysis.video.duration or 0.0
        return [dur * (i + 0.5) / n for i in range(n)] if dur > 0 else []
    picks: list[int] = []
    table = analysis.angles
    if len(table.times) == len(times) and table.values.size:
        best, best_rom = None, 0.0
        for i, name in enumerate(table.names):
            if not name.endswith("_flexion"):
                continue
            col = table.values[:, i]
            if np.isfinite(col).sum() >= 2:
                rom = float(np.nanmax(col) - np.nanmin(col))
                if rom > best_rom:
                    best, best_rom = i, rom
        if best is not None:
            col = table.values[:, best]
            picks += [int(np.nanargmax(col)), int(np.nanargmin(col))]
    candidates = np.flatnonzero(analysis.clean.detected_frames())
    if candidates.size == 0:
        candidates = np.arange(len(times))
    for m in (n, 2 * n, 4 * n):  # evenly spaced fillers, coarse to fine
        for q in np.linspace(0, 1, m + 2)[1:-1]:
            picks.append(int(candidates[int(round(q * (candidates.size - 1)))]))
    # In order of priority, skip frames closer than 1/(2n) of the clip to one already chosen.
    span = float(times[-1] - times[0]) if times.size > 1 else 0.0
    chosen: list[int] = []
    for p in picks:
        if p not in chosen and all(abs(times[p] - times[c]) >= span / (2 * n) for c in chosen):
            chosen.append(p)
        if len(chosen) >= n:
            break
    return sorted(float(times[c]) for c in chosen)


def _nearest_index(times: np.ndarray, t: float) -> int | None:
    if times.size == 0:
        return None
    k = int(np.searchsorted(times, t))
    if k >= times.size or (k > 0 and abs(times[k - 1] - t) <= abs(times[k] - t)):
        k -= 1
    return max(0, k)


def _resize_max_side(frame: np.ndarray, max_side: int) -> np.ndarray:
    h, w = frame.shape[:2]
    s = max(h, w)
    if s <= max_side:
        return np.ascontiguousarray(frame, dtype=np.uint8).copy()
    f = max_side / s
    return cv2.resize(np.ascontiguousarray(frame), (max(1, round(w * f)), max(1, round(h * f))),
                      interpolation=cv2.INTER_AREA)


def _jpeg_data_uri(rgb: np.ndarray, quality: int = 85) -> str:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode a key frame as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _png_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def prepare_key_frame(analysis: Analysis, t: float, frame: np.ndarray, *, draw: bool = True) -> np.ndarray:
    """A copy of ``frame`` (RGB) at most KEY_FRAME_MAX_SIDE px, with the skeleton nearest ``t`` drawn."""
    img = _resize_max_side(np.asarray(frame), KEY_FRAME_MAX_SIDE)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if draw:
        k = _nearest_index(np.asarray(analysis.clean.times, dtype=np.float64), float(t))
        if k is not None:
            img = render_overlay_frame(img, k, analysis, strip_angles=())
    return img


# --------------------------------------------------------------------------------------- sections
def _img(uri: str, alt: str, cls: str = "plot") -> str:
    return f'<img class="{cls}" src="{uri}" alt="{esc(alt)}">'


def _header(analysis: Analysis, det: Mapping[str, float]) -> str:
    v = analysis.video
    times = analysis.raw.times
    duration = v.duration if v.duration else (float(times[-1] - times[0]) if len(times) > 1 else 0.0)
    facts = [
        ("Duration", fmt_num(duration, 1, " s")),
        ("Frame rate", fmt_num(v.fps, 1, " fps")),
        ("Resolution", f"{v.width} × {v.height}" if v.width and v.height else DASH),
        ("Frames analysed", str(det["frames"])),
        ("Person detected in", f"{fmt_num(100 * det['rate'], 0, ' %')} of frames"
                                f" ({det['frames_with_person']}/{det['frames']})"),
    ]
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(val)}</dd></div>" for k, val in facts)
    return (f'<header><p class="kicker">Movement analysis report</p><h1>{esc(_video_name(analysis))}</h1>'
            f'<dl class="facts">{items}</dl></header>')


def _warnings(analysis: Analysis) -> str:
    warns = [w for w in (analysis.warnings or []) if str(w).strip()]
    if not warns:
        return ""
    lis = "".join(f"<li>{esc(w)}</li>" for w in warns)
    return (f'<section class="warnings" role="alert"><h2>Please note</h2>'
            f'<p>These points may affect how far the numbers below can be trusted:</p><ul>{lis}</ul></section>')


_ACTION_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442", "#8C6D31",
                   "#6B6ECF", "#B5CF6B", "#E7969C", "#7B4173", "#3182BD", "#31A354", "#756BB1")


def _actions(analysis: Analysis) -> str:
    """Action timeline: a bar of coloured segments over the clip, then a table with the top-3 per segment."""
    tl = analysis.actions
    if tl is None or not tl.segments:
        return ""
    t0, t1 = tl.segments[0].start, tl.segments[-1].end
    span = max(t1 - t0, 1e-6)
    colour = {c: _ACTION_COLOURS[i % len(_ACTION_COLOURS)] for i, c in enumerate(tl.classes)}
    blocks, rows = [], []
    for seg in tl.segments:
        width = 100.0 * (seg.end - seg.start) / span
        bg = colour.get(seg.label, "#c9ced6")
        label = seg.label.replace("_", " ")
        blocks.append(f'<div class="act" style="width:{width:.3f}%;background:{bg}" '
                      f'title="{esc(label)} {seg.start:.1f}-{seg.end:.1f} s">{esc(label) if width > 8 else ""}</div>')
        alts = ", ".join(f"{esc(n.replace('_', ' '))} {p:.0%}" for n, p in seg.top3)
        rows.append(f"<tr><td>{seg.start:.2f}–{seg.end:.2f} s</td><td><b>{esc(label)}</b></td>"
                    f"<td>{seg.confidence:.0%}</td><td>{alts}</td></tr>")
    return ('<section><h2>Recognised movements</h2><p class="hint">Sliding windows classified by '
            f'{esc(tl.model)}; "unknown" where no trained movement is confident enough (it knows 15 Penn Action '
            'sports movements, nothing else).</p>'
            f'<div class="timeline">{"".join(blocks)}</div>{phase_strip(analysis.assessment, t0, span)}'
            '<table class="rom"><thead><tr><th>time</th><th>movement</th><th>confidence</th><th>top 3</th></tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></section>')


def _video_model(analysis: Analysis) -> str:
    """The video (RGB) model's verdict and its explanation images ("What the model looked at")."""
    pred = getattr(analysis, "video_prediction", None)
    if pred is None:
        return ""
    alts = ", ".join(f"{esc(n.replace('_', ' '))} {p:.0%}" for n, p in pred.top(3))
    verdict = (f'<p>{esc(pred.model)} says <b>{esc(pred.label.replace("_", " "))}</b> '
               f"({pred.confidence:.0%}; top 3: {alts}), from {len(pred.frame_times)} frames sampled over the "
               "analysed clip, cropped around the person.</p>")
    hints = {"explain_gradcam.png": "Top row: the frames as the model saw them. Bottom row: Grad-CAM of the "
                                    "predicted class: bright regions raised the score most (scaled over the "
                                    "clip, so frames compare). Frames: those the model weighted most where it "
                                    "has temporal attention, else evenly spaced.",
             "explain_attention.png": "How much weight the model gave each sampled frame (the bars sum to 1; "
                                      "the dashed line is an even spread). Highlighted: the frames shown above."}
    figs = []
    for name in sorted(pred.figures, key=lambda n: (n != "explain_gradcam.png", n)):
        figs.append(f'<figure>{_img(_png_data_uri(pred.figures[name]), name)}'
                    f'<figcaption class="hint">{esc(hints.get(name, ""))} ({esc(name)})</figcaption></figure>')
    return ('<section class="figure"><h2>What the model looked at</h2>'
            '<p class="hint">A video model trained on RGB frames classified the whole analysed part; the maps '
            'show where its evidence came from. They explain the model, not the movement: a model that '
            'looks at the background has learnt a shortcut.</p>' + verdict + "".join(figs) + "</section>")


def _people(analysis: Analysis) -> str:
    """Who was tracked and who this report is about (``analyze --person``)."""
    people = getattr(analysis, "people", None)
    if not people:
        return ""
    primary, selected = people.get("primary"), set(people.get("selected") or [])
    rows = []
    for pid, m in sorted((people.get("per_person") or {}).items(), key=lambda kv: int(kv[0])):
        rom = ((m.get("metrics") or {}).get("rom") or {})
        knees = [_f((rom.get(k) or {}).get("rom")) for k in ("left_knee_flexion", "right_knee_flexion")]
        knee = fmt_deg(max(knees)) if any(math.isfinite(k) for k in knees) else DASH
        tag = " (this report)" if int(pid) == primary else (" (selected)" if int(pid) in selected else "")
        rows.append(f"<tr><td>ID {esc(pid)}{esc(tag)}</td><td>{_f(m.get('presence')):.0%}</td>"
                    f"<td>{fmt_num(m.get('height_px'), 0, ' px')}</td><td>{fmt_num(m.get('activity'), 1)}</td>"
                    f"<td>{knee}</td></tr>")
    table = ("<table><thead><tr><th>person</th><th>on screen</th><th>body height</th><th>activity</th>"
             "<th>knee ROM</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>") if rows else ""
    return (f'<section><h2>People in the video</h2><p>{esc(people.get("num_tracks", 0))} people were tracked; '
            f'{esc(people.get("reason", ""))}</p>{table}<p class="hint">Activity = joint motion in body heights '
            "over the clip. Pick another person with <code>--person ID</code>; <code>sportlens tracks VIDEO</code> "
            "shows every ID on the video and on a contact sheet. Knee ROM is filled in with "
            "<code>--person all</code>.</p></section>")


# ---- forecast and risk flags (issue 6) ----------------------------------------------------------------
_RULE_TEXT = {"knee_valgus": "knee valgus (frontal-plane projection angle, face-on)",
              "knee_hyperextension": "knee hyperextension (hip-knee-ankle angle, side-on; 180 = straight)",
              "trunk_flexion": "trunk flexion (trunk from vertical, side-on)",
              "stiff_landing": "landing with the knee near full extension (knee flexion at contact)"}


def _pct(v: Any) -> str:
    return f"{_f(v):.0%}" if math.isfinite(_f(v)) else DASH


def _forecast(analysis: Analysis) -> str:
    """Forecast vs actual angles and the error measured on this video (``analyze --forecast``)."""
    fc = getattr(analysis, "forecast", None)
    if fc is None:
        return ""
    m = fc.metrics
    skipped = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in fc.skipped.items() if n) or "none"
    notes = "".join(f'<p class="hint">{esc(n)}</p>' for n in fc.notes)
    cards = "".join([
        _card(f"PCK@{_f(m.get('pck_threshold')):.2f} at +{fc.horizon_s:.2f} s", _pct(m.get("pck")),
              f"zero velocity {_pct(m.get('zero_velocity_pck'))}"),
        _card("Mean joint error", fmt_num(m.get("mean_error_px"), 1, " px"),
              f"{_pct(m.get('mean_error_ref'))} of body size"),
        _card("Forecasts scored", esc(m.get("evaluated", 0)),
              f"of {len(fc.origin_times)}; {esc(m.get('future_unknown', 0))} without a known future")])
    return ('<section class="figure"><h2>Forecast: where the movement is heading</h2>'
            f'<p class="hint">From every frame, {esc(fc.model)} forecast the pose {fc.horizon_s:.2f} s ahead from '
            'the poses seen up to that frame; the overlay video shows it as a white ghost skeleton. '
            'Measured against what the athlete then did on this video: PCK = share of joints forecast within 5 % '
            'of the body size (the box around the joints), compared with simply repeating the last pose '
            f'(zero velocity). Frames without a forecast: {esc(skipped)}.</p>{notes}'
            f'<div class="cards">{cards}</div>'
            f'{_img(_png_data_uri(plot_forecast_angles(fc)), "forecast vs actual angles")}'
            '<p class="hint">Solid: the angle measured; dotted: the angle forecast for that moment '
            f'{fc.horizon_s:.2f} s earlier.</p></section>')


def _risk_flags(analysis: Analysis) -> str:
    """The risk-flag table with its disclaimer (``analyze --forecast``)."""
    flags = getattr(analysis, "risk_flags", None)
    if flags is None:
        return ""
    rows = []
    for f in flags:
        when = f"{f.time:.2f} s" + (f" (forecast at {f.predicted_at:.2f} s)" if f.predicted_at is not None else "")
        rows.append(f"<tr><td>{esc(when)}</td><td>{esc(_RULE_TEXT.get(f.rule, f.rule))}</td>"
                    f"<td>{esc(f.joint.replace('_', ' '))}</td><td>{f.value:.1f}°</td><td>{f.threshold:g}°</td>"
                    f"<td>{esc(f.basis)}</td><td class=\"hint\">{esc(f.source)}</td></tr>")
    table = ('<table class="rom"><thead><tr><th>time</th><th>cue</th><th>joint</th><th>value</th><th>threshold</th>'
             f'<th>from</th><th>threshold source</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
             if rows else "<p>No rule reached its threshold, in the observed poses or in the forecast.</p>")
    fc = getattr(analysis, "forecast", None)
    withheld = "".join(f"<p>{esc(n)}</p>" for n in (fc.notes if fc is not None else []) if "withheld" in n)
    return (f'<section><h2>Risk flags</h2><p><b>{esc(RISK_DISCLAIMER)}</b></p>{withheld}{table}'
            '<p class="hint">"forecast" rows are positions the forecast expects, not ones seen. Thresholds and '
            "rules: sportlens.forecast.rules (configurable).</p></section>")


def _card(title: str, value: str, sub: str = "", cls: str = "") -> str:
    sub_html = f'<div class="sub">{sub}</div>' if sub else ""
    return f'<div class="card {cls}"><div class="label">{esc(title)}</div><div class="value">{value}</div>{sub_html}</div>'


def _lr(left: str, right: str) -> str:
    return f'<span class="l">L {esc(left)}</span> <span class="sep">/</span> <span class="r">R {esc(right)}</span>'


def _key_numbers(stats: Mapping[str, Mapping[str, float]], sym: Mapping[str, float]) -> str:
    cards = []

    def pair(base: str, key: str, title: str, sub: str) -> None:
        lft, rgt = stats.get(f"left_{base}"), stats.get(f"right_{base}")
        if lft is None and rgt is None:
            return
        lv, rv = (lft or {}).get(key), (rgt or {}).get(key)
        if not (math.isfinite(_f(lv)) or math.isfinite(_f(rv))):
            return
        cards.append(_card(title, _lr(fmt_deg(lv, 0), fmt_deg(rv, 0)), esc(sub)))

    pair("knee_flexion", "max", "Peak knee flexion", "deepest knee bend (0° = straight leg)")
    pair("hip_flexion", "max", "Peak hip flexion", "0° = standing straight")
    pair("knee_flexion", "rom", "Knee range of motion", "5th to 95th percentile over the clip")
    pair("elbow_flexion", "rom", "Elbow range of motion", "5th to 95th percentile over the clip")
    pair("shoulder_flexion", "rom", "Shoulder range of motion", "5th to 95th percentile over the clip")
    trunk = stats.get("trunk_lean")
    if trunk and math.isfinite(_f(trunk.get("min"))):
        cards.append(_card("Trunk lean", esc(f"{fmt_deg(trunk.get('min'), 0)} to {fmt_deg(trunk.get('max'), 0)}"),
                           esc(f"range {fmt_deg(trunk.get('rom'), 0)} (0° = upright)")))
    finite_sym = {b: s for b, s in sym.items() if math.isfinite(_f(s))}
    if finite_sym:
        worst = max(finite_sym, key=lambda b: finite_sym[b])
        s = finite_sym[worst]
        cls = "flag" if s > ASYMMETRY_FLAG_PCT else "ok"
        cards.append(_card("Largest left/right difference", esc(fmt_num(s, 0, " %")),
                           esc(f"{pretty_angle(worst)} (symmetry index, 0 % = identical)"), cls))
    if not cards:
        return ""
    return f'<section><h2>Key numbers</h2><div class="cards">{"".join(cards)}</div></section>'


def _rom_tables(stats: Mapping[str, Mapping[str, float]], sym: Mapping[str, float]) -> str:
    bases = bilateral_pairs(list(stats))
    parts = ['<section><h2>Range of motion</h2>'
             '<p class="hint">Per angle over the whole clip. ROM = 95th − 5th percentile (a single bad frame cannot '
             'inflate it); min/max are the extremes; peak velocity = fastest change of the angle. Symmetry index: left/right ROM difference as a % of their mean.</p>']
    if bases:
        head = ("<thead><tr><th rowspan=\"2\">Angle</th><th colspan=\"4\" class=\"l\">Left</th>"
                "<th colspan=\"4\" class=\"r\">Right</th><th rowspan=\"2\">Symmetry<br>index</th></tr><tr>"
                + "<th>min</th><th>max</th><th>ROM</th><th>peak vel.</th>" * 2 + "</tr></thead>")
        rows = []
        for base in bases:
            cells = [f"<th scope=\"row\">{esc(pretty_angle(base))}</th>"]
            for side in ("left", "right"):
                s = stats.get(f"{side}_{base}") or {}
                cells += [f"<td>{esc(fmt_deg(s.get('min')))}</td>", f"<td>{esc(fmt_deg(s.get('max')))}</td>",
                          f"<td class=\"rom\">{esc(fmt_deg(s.get('rom')))}</td>",
                          f"<td>{esc(fmt_num(s.get('peak_velocity'), 0, '°/s'))}</td>"]
            si = _f(sym.get(base))
            cls = " class=\"flag\"" if math.isfinite(si) and si > ASYMMETRY_FLAG_PCT else ""
            cells.append(f"<td{cls}>{esc(fmt_num(si, 1, ' %'))}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        parts.append(f'<div class="table-wrap"><table class="rom-table">{head}<tbody>{"".join(rows)}</tbody>'
                     "</table></div>")
    singles = [n for n in stats if not (n.startswith("left_") or n.startswith("right_"))]
    if singles:
        rows = []
        for n in singles:
            s = stats[n]
            rows.append(f"<tr><th scope=\"row\">{esc(pretty_angle(n))}</th><td>{esc(fmt_deg(s.get('min')))}</td>"
                        f"<td>{esc(fmt_deg(s.get('max')))}</td><td class=\"rom\">{esc(fmt_deg(s.get('rom')))}</td>"
                        f"<td>{esc(fmt_deg(s.get('p05')))}</td><td>{esc(fmt_deg(s.get('p95')))}</td>"
                        f"<td>{esc(fmt_num(s.get('peak_velocity'), 0, '°/s'))}</td></tr>")
        parts.append('<div class="table-wrap"><table class="rom-table single"><thead><tr><th>Angle</th><th>min</th>'
                     "<th>max</th><th>ROM</th><th>5th pct</th><th>95th pct</th><th>peak vel.</th></tr></thead>"
                     f'<tbody>{"".join(rows)}</tbody></table></div>')
    if not bases and not singles:
        return ""
    parts.append("</section>")
    return "".join(parts)


def _plots(analysis: Analysis, stats: Mapping[str, Mapping[str, float]], min_score: float) -> str:
    figs = []
    figs.append(("Joint angles over time", "Left side: orange solid line; right side: blue dashed line.",
                 plot_angle_curves(analysis.angles)))
    rom_input = {n: {"rom": s.get("rom")} for n, s in stats.items()}
    figs.append(("Range of motion, left vs right", "", plot_rom_bars(rom_input)))
    if analysis.com is not None and np.isfinite(np.asarray(analysis.com, dtype=np.float64)).any():
        figs.append(("Centre of mass (approximate)",
                     "Estimated from the joint positions; useful for balance, weight shift and jump height "
                     "trends, not absolute values.",
                     plot_com_trajectory(analysis.com, analysis.clean.times, width=analysis.video.width,
                                         height=analysis.video.height)))
    figs.append(("Tracking quality",
                 "Share of the skeleton's joints found in each frame. Dips mean the person was partly hidden, "
                 "out of frame or blurred: numbers from those moments are less reliable.",
                 plot_detection_timeline(analysis.raw, min_score=min_score)))
    out = []
    for title, hint, png in figs:
        hint_html = f'<p class="hint">{esc(hint)}</p>' if hint else ""
        out.append(f"<section class=\"figure\"><h2>{esc(title)}</h2>{hint_html}{_img(_png_data_uri(png), title)}"
                   "</section>")
    return "".join(out)


def _key_frames(analysis: Analysis, key_frames: Sequence[tuple[float, np.ndarray]], draw: bool) -> str:
    if not key_frames:
        return ""
    items = []
    for t, frame in key_frames:
        try:
            img = prepare_key_frame(analysis, t, frame, draw=draw)
            uri = _jpeg_data_uri(img)
        except Exception as exc:  # one bad frame must not lose the whole report
            items.append(f"<figure><figcaption>t = {esc(fmt_num(t, 2, ' s'))}: frame could not be drawn "
                         f"({esc(type(exc).__name__)})</figcaption></figure>")
            continue
        items.append(f"<figure>{_img(uri, f'Frame at {_f(t):.2f} s', 'frame')}"
                     f"<figcaption>t = {esc(fmt_num(t, 2, ' s'))}</figcaption></figure>")
    legend = ('<p class="hint">Skeleton colours: <span class="l">■ left side</span>, <span class="r">■ right side'
              '</span>, <span class="c">■ centre</span>. Numbers next to joints are the angles at that moment.</p>'
              if draw and has_person(analysis) else "")
    return f'<section><h2>Key frames</h2>{legend}<div class="frames">{"".join(items)}</div></section>'


def _cleaning_text(settings: Mapping[str, Any]) -> list[str]:
    c = settings.get("cleaning") if isinstance(settings, Mapping) else None
    if not isinstance(c, Mapping):
        return ["The raw joint positions were cleaned (gap filling, outlier removal and smoothing) before the "
                "angles were measured."]
    out = []
    if c.get("min_score") is not None:
        out.append(f"Joint positions with a detector confidence below {c['min_score']} were treated as missing.")
    if c.get("max_gap_s") is not None:
        out.append(f"Gaps of up to {c['max_gap_s']} s were filled by interpolation; longer gaps stay empty "
                   "(no numbers are invented for them).")
    if c.get("hampel_window") is not None:
        out.append(f"Isolated jumps (outliers) were removed with a Hampel filter ({c['hampel_window']}-frame window, "
                   f"{c.get('hampel_sigmas', '?')} robust standard deviations).")
    if c.get("repair_swaps"):
        out.append("Frames where the detector confused the left and right limbs were detected and corrected.")
    flt = str(c.get("filter", "")).lower()
    if flt == "butterworth":
        out.append(f"Positions were smoothed with a zero-lag low-pass Butterworth filter "
                   f"(order {c.get('order', '?')}, cut-off {c.get('cutoff_hz', '?')} Hz).")
    elif flt == "oneeuro":
        out.append(f"Positions were smoothed with a One-Euro filter (min. cut-off {c.get('oneeuro_min_cutoff', '?')} "
                   f"Hz, beta {c.get('oneeuro_beta', '?')}).")
    elif flt == "none":
        out.append("No smoothing filter was applied.")
    elif flt:
        out.append(f"Positions were smoothed with the '{flt}' filter.")
    return out


def _how_to_read(analysis: Analysis) -> str:
    conv = [
        "<b>Joint angles</b> (shoulder, elbow, hip, knee, ankle) are flexion angles in degrees: "
        "<b>0° means the limb is straight</b> (the two segments in line) and the number grows as the joint bends; "
        "90° at the knee is a right angle.",
        "<b>Hip flexion</b>: 0° when standing straight; it grows as the thigh comes forward or the trunk bends "
        "over. <b>Shoulder flexion</b>: 0° with the arm hanging along the body.",
        "<b>Trunk lean</b>: angle of the trunk (mid-hip to mid-shoulder) from vertical; 0° = upright.",
        "<b>Segment angles</b> (e.g. thigh angle), where shown, give the orientation of one body segment "
        "in the picture rather than the bend of a joint.",
        "<b>Left/right</b> are the athlete's own sides, not the sides of the picture.",
        "<b>Range of motion (ROM)</b> is the spread between the 5th and 95th percentile of the angle over the "
        "clip, so one badly tracked frame cannot inflate it (min and max are shown too); "
        "<b>peak velocity</b> is the fastest change of the angle, in degrees per second, leaving out the two "
        "frames at either end of each tracked stretch.",
        "All angles are measured <b>in the image (2D)</b>: they are accurate when the movement happens roughly "
        "parallel to the camera (e.g. filmed side-on for a squat) and distorted when the limb moves towards "
        "or away from the camera.",
    ]
    cleaning = _cleaning_text(analysis.settings or {})
    return ('<section class="howto"><h2>How to read this report</h2><ul>'
            + "".join(f"<li>{c}</li>" for c in conv)  # static trusted text
            + "</ul><h3>Cleaning applied to the tracked joints</h3><ul>"
            + "".join(f"<li>{esc(c)}</li>" for c in cleaning) + "</ul></section>")


def _flatten(d: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out += _flatten(v, key + ".")
        else:
            out.append((key, v))
    return out


def _technical(analysis: Analysis) -> str:
    rows = [("video.path", analysis.video.path), ("video.codec", analysis.video.codec),
            ("video.rotation", analysis.video.rotation), ("skeleton", analysis.clean.skeleton)]
    rows += [(f"settings.{k}", v) for k, v in _flatten(analysis.settings or {})]
    rows += [(f"timing.{k} (s)", fmt_num(v, 2)) for k, v in (analysis.timings or {}).items()]
    body = "".join(f"<tr><th scope=\"row\">{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    files = ""
    if analysis.files:
        names = [PurePath(str(p).replace("\\", "/")).name for p in analysis.files.values()]
        files = ("<p>Files written next to this report: "
                 + ", ".join(f"<code>{esc(n)}</code>" for n in names) + ".</p>")
    return (f'<section class="technical"><details><summary>Technical details</summary>{files}'
            f'<div class="table-wrap"><table class="kv"><tbody>{body}</tbody></table></div></details></section>')


def _no_person() -> str:
    return (f'<section class="no-person" role="alert"><h2>{esc(NO_PERSON_MESSAGE)}</h2>'
            "<p>No measurements could be made. Check that the whole body is in the picture, the person is not "
            "too small (at least about a third of the frame height), the light is good and the camera is "
            "steady, then record again.</p></section>")


# -------------------------------------------------------------------------------------------- page
KeyFrames = Sequence[tuple[float, np.ndarray]]


def _resolve(key_frames: KeyFrames | Callable[[], KeyFrames]) -> KeyFrames:
    return key_frames() if callable(key_frames) else key_frames


def render_html(analysis: Analysis, key_frames: KeyFrames | Callable[[], KeyFrames] = (), *,
                draw_key_frames: bool = True) -> str:
    """The whole report as one self-contained HTML page.

    key_frames: ``[(time_s, RGB uint8 frame at the video's size or downscaled)]``, or a callable
    returning them, called only after the plots are drawn (so frames can be decoded meanwhile in
    another thread); the skeleton and
    angle labels nearest each time are drawn on a copy unless ``draw_key_frames`` is False (frames
    already drawn by the caller). ``key_frame_times`` suggests which times to pass.
    """
    det = detection_info(analysis)
    person = has_person(analysis)
    settings = analysis.settings or {}
    cleaning = settings.get("cleaning") if isinstance(settings, Mapping) else None
    min_score = _f((cleaning or {}).get("min_score")) if isinstance(cleaning, Mapping) else math.nan
    body = [_header(analysis, det), _warnings(analysis), _people(analysis), _actions(analysis),
            _video_model(analysis)]
    if not person:
        body.append(_no_person())
        body.append(_key_frames(analysis, _resolve(key_frames), draw=False))
    else:
        stats = angle_stats(analysis)
        sym = pair_symmetry(analysis, stats)
        plots = _plots(analysis, stats, min_score if math.isfinite(min_score) else 0.0)
        overlay = bool(((settings.get("output") or {}) if isinstance(settings, Mapping) else {}).get("video"))
        body += [_key_numbers(stats, sym), assessment_section(analysis.assessment, overlay=overlay), plots,
                 _forecast(analysis), _risk_flags(analysis),
                 _rom_tables(stats, sym), _key_frames(analysis, _resolve(key_frames), draw_key_frames)]
    body += [_how_to_read(analysis), _technical(analysis)]
    body.append(f'<footer>Generated by sportlens {esc(__version__)}. Measurements from video are estimates: '
                "use them to compare sessions and sides, alongside your own eye.</footer>")
    title = f"sportlens report: {_video_name(analysis)}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
            + "".join(b for b in body if b) + "</main></body></html>\n")


CSS = """
.phases{position:relative;height:22px;margin:-8px 0 14px;border-radius:6px;background:#eef0f3}
.phases .tick{position:absolute;top:2px;bottom:2px;width:2px;margin-left:-1px;background:#8a94a3}
.phases .tick.key{width:4px;margin-left:-2px;background:#0072b2}
ol.feedback li{margin:4px 0}ol.feedback a,ul.events a{text-decoration:none}
ul.events{columns:3;font-size:14px}@media (max-width:600px){ul.events{columns:1}}
.timeline{display:flex;height:34px;border-radius:6px;overflow:hidden;margin:8px 0 14px;border:1px solid #e3e6ea}
.timeline .act{display:flex;align-items:center;justify-content:center;color:#111;font-size:12px;
white-space:nowrap;overflow:hidden;border-right:1px solid #fff}
:root{--fg:#1d2430;--muted:#5b6472;--line:#e3e6ea;--bg:#f6f7f9;--card:#fff;--left:#b36b00;--right:#0072b2;
--center:#007a5a;--warn-bg:#fff4e0;--warn:#8a4b00;--bad:#b34400}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px 20px 40px}
header{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 22px;margin-bottom:18px}
.kicker{margin:0;color:var(--muted);font-size:13px;text-transform:uppercase;letter-spacing:.06em}
h1{margin:2px 0 12px;font-size:26px;word-break:break-all}
h2{font-size:19px;margin:0 0 8px}
h3{font-size:15px;margin:14px 0 6px}
.facts{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:8px 18px;margin:0}
.facts dt{color:var(--muted);font-size:12px}.facts dd{margin:0;font-weight:600}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 20px;margin-bottom:18px}
.hint{color:var(--muted);font-size:13px;margin:0 0 10px}
.warnings{background:var(--warn-bg);border:2px solid #e69f00}
.warnings h2{color:var(--warn)}.warnings ul{margin:6px 0 0;padding-left:22px}
.no-person{border:2px solid var(--bad);text-align:center;padding:28px}
.no-person h2{color:var(--bad);font-size:24px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:12px}
.card{border:1px solid var(--line);border-radius:8px;padding:12px 14px;background:#fbfcfd}
.card .label{font-size:13px;color:var(--muted)}
.card .value{font-size:22px;font-weight:700;margin:2px 0}
.card .sub{font-size:12px;color:var(--muted)}
.card.flag{border-color:#e69f00;background:var(--warn-bg)}
.l{color:var(--left)}.r{color:var(--right)}.c{color:var(--center)}.sep{color:#aaa}
img.plot{display:block;max-width:100%;height:auto;margin:0 auto}
.table-wrap{overflow-x:auto;margin-bottom:12px}
table{border-collapse:collapse;width:100%;font-size:14px;font-variant-numeric:tabular-nums}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th[scope=row],.kv th{text-align:left}
thead th{background:#f0f2f5;font-weight:600;text-align:center}
th.l{border-bottom:3px solid #e69f00}th.r{border-bottom:3px solid #56b4e9}
td.rom{font-weight:700}td.flag{background:var(--warn-bg);color:var(--warn);font-weight:700}
.kv td{text-align:left;white-space:normal;word-break:break-all}
.frames{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:12px}
figure{margin:0}figure img.frame{width:100%;height:auto;border-radius:6px;display:block}
figcaption{font-size:13px;color:var(--muted);text-align:center;margin-top:4px}
.howto li{margin-bottom:4px}
details summary{cursor:pointer;font-weight:600}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:10px}
@media (max-width:600px){main{padding:12px 8px}h1{font-size:21px}section,header{padding:12px}}
@media print{body{background:#fff;font-size:12px}main{max-width:none;padding:0}
section,header{border:1px solid #ccc;break-inside:avoid;page-break-inside:avoid}
.figure,figure,.card,tr{break-inside:avoid}.technical{display:none}}
"""
