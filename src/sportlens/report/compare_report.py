"""The comparison report of ``sportlens compare``: one self-contained HTML page (images embedded as PNG).

Sections: the score and its per-joint breakdown (table + bars), both skeletons side by side at time-aligned
moments (reference on top, athlete below, the same normalised scale: trunk lengths, athlete mirrored when it
faced the other way), the angle curves of the joints that matter overlaid after alignment (the athlete's
curve warped onto the reference's time), the phases with their durations, the deviation rows
(``assess.deviations.Deviation``) and how the score is computed. ``write_compare_report`` writes
``compare_report.html`` and ``comparison.json`` atomically (``fsutil.StagedDir``).
"""
from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import cv2
import numpy as np
from matplotlib.figure import Figure

from sportlens import __version__
from sportlens.assess.compare import (
    ANGLE_TOL_DEG, MIN_SEVERITY, MIN_WEIGHT_ROM_DEG, ROM_TOL_DEG, TEMPO_TOL, TIMING_TOL_S, ZERO_SCORE_DEG, Comparison,
)
from sportlens.fsutil import StagedDir, write_json
from sportlens.jsonable import to_jsonable
from sportlens.report.draw import draw_skeleton
from sportlens.report.html import CSS, esc, fmt_deg, fmt_num, pretty_angle
from sportlens.report.plots import BAD, CENTER, LEFT, MUTED, RIGHT

HTML_NAME = "compare_report.html"
JSON_NAME = "comparison.json"
STRIP_FRAMES = 6
CELL = 220  # px, one skeleton cell
_DPI = 110

EXTRA_CSS = """
.score{font-size:46px;font-weight:800;margin:0}.score small{font-size:18px;color:var(--muted);font-weight:600}
td.sev{font-weight:700}td.bad{background:var(--warn-bg);color:var(--warn);font-weight:700}
td.txt,th.txt{text-align:left}
"""


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _img(png: bytes, alt: str) -> str:
    return f'<img class="plot" src="{_uri(png)}" alt="{esc(alt)}">'


# ------------------------------------------------------------------------------------------- figures


def strip_frames(cmp: Comparison, n: int = STRIP_FRAMES) -> list[int]:
    """Reference frames shown in the skeleton strip: the events plus evenly spaced ones, in order."""
    m = cmp.reference_track.num_frames
    picks = set(cmp.events.values()) | {int(round(x)) for x in np.linspace(0, m - 1, n)}
    picks = sorted(picks)
    while len(picks) > n + 1:  # drop the non-event frame closest to a neighbour
        keep = set(cmp.events.values())
        gaps = [(picks[k + 1] - picks[k - 1], k) for k in range(1, len(picks) - 1) if picks[k] not in keep]
        if not gaps:
            break
        picks.pop(min(gaps)[1])
    return picks


def _seen(track, k: int) -> int:
    """``k``, or the nearest frame where the person was detected (a cleaned track keeps gaps NaN)."""
    found = np.flatnonzero(track.detected_frames())
    return int(found[np.argmin(np.abs(found - k))]) if found.size else k


def skeleton_strip(cmp: Comparison) -> bytes:
    """PNG: reference skeletons (top row) and the aligned athlete skeletons (bottom row)."""
    ref_frames = [_seen(cmp.reference_track, j) for j in strip_frames(cmp)]
    ath_frames = [_seen(cmp.athlete, cmp.athlete_frame_for(j)) for j in ref_frames]
    r_kp = cmp.reference_track.keypoints[ref_frames]
    a_kp = cmp.athlete.keypoints[ath_frames]
    both = np.concatenate([r_kp.reshape(-1, 2), a_kp.reshape(-1, 2)])
    both = both[np.isfinite(both).all(axis=1)]
    if both.size == 0:
        lo, hi = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    else:
        lo, hi = both.min(axis=0), both.max(axis=0)
    span = float(max(hi[0] - lo[0], hi[1] - lo[1], 1e-6))
    pad, label_h = 14, 22
    scale = (CELL - 2 * pad - label_h) / span
    centre = (lo + hi) / 2

    def cell(kp: np.ndarray, scores: np.ndarray, skeleton: str, text: str) -> np.ndarray:
        img = np.full((CELL, CELL, 3), 255, dtype=np.uint8)
        pix = (kp - centre) * scale + np.array([CELL / 2, (CELL + label_h) / 2])
        img = draw_skeleton(img, pix, scores, skeleton)
        cv2.putText(img, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1, cv2.LINE_AA)
        cv2.rectangle(img, (0, 0), (CELL - 1, CELL - 1), (225, 228, 232), 1)
        return img

    rows = []
    for who, track, frames in (("ref", cmp.reference_track, ref_frames), ("athlete", cmp.athlete, ath_frames)):
        t0 = track.times[0]
        cells = [cell(track.keypoints[f], track.scores[f], track.skeleton,
                      f"{who} {track.times[f] - t0:.2f}s"
                      + (f" {next(k for k, v in cmp.events.items() if v == rf)}"
                         if who == "ref" and rf in cmp.events.values() else ""))
                 for f, rf in zip(frames, ref_frames)]
        rows.append(np.concatenate(cells, axis=1))
    img = np.concatenate(rows, axis=0)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - cv2 encodes any uint8 RGB image
        raise ValueError("could not encode the skeleton strip")
    return buf.tobytes()


def _color(name: str) -> str:
    return LEFT if name.startswith("left_") else RIGHT if name.startswith("right_") else CENTER


def aligned_curves(cmp: Comparison, ncols: int = 2) -> bytes:
    """PNG: per joint that matters, reference (solid) and athlete after alignment (dashed) on reference time."""
    names = cmp.joint_names
    t = cmp.reference_track.times - cmp.reference_track.times[0]
    ncols = max(1, min(ncols, len(names)))
    nrows = int(math.ceil(len(names) / ncols))
    fig = Figure(figsize=(5.2 * ncols, 2.4 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, n in enumerate(names):
        ax = axes[k // ncols][k % ncols]
        ref = cmp.reference_angles.column(n)
        ax.plot(t, ref, color=MUTED, linewidth=2.2, label="reference")
        ax.plot(t, cmp.warped[:, k], color=_color(n), linewidth=1.8, linestyle="--", label="athlete (aligned)")
        for ev, j in cmp.events.items():
            ax.axvline(t[j], color="#cccccc", linewidth=0.8)
            ax.text(t[j], 1.0, ev, transform=ax.get_xaxis_transform(), fontsize=7, color="#777777",
                    ha="center", va="bottom")
        ax.set_title(pretty_angle(n), fontsize=10, loc="left", fontweight="bold", pad=12)
        ax.grid(True, color="#e5e5e5", linewidth=0.8)
        ax.set_axisbelow(True)
        for s in ("top", "right"):
            ax.spines[s].set_visible(False)
        ax.set_ylabel("degrees", fontsize=8)
        ax.tick_params(labelsize=8)
        if k == 0:
            ax.legend(fontsize=8, frameon=False, loc="best")
        ax.set_xlabel("reference time (s)", fontsize=8)
    for k in range(len(names), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    return _png(fig)


def score_bars(cmp: Comparison) -> bytes:
    """PNG: horizontal bars of the per-joint scores (weights in the labels)."""
    joints = cmp.joints
    fig = Figure(figsize=(7.5, 0.45 * len(joints) + 1.0))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(joints))[::-1]
    colors = [BAD if j.score < 50 else _color(j.name) for j in joints]
    ax.barh(y, [j.score for j in joints], color=colors, height=0.6)
    ax.set_yticks(y, [f"{pretty_angle(j.name)} (w {j.weight:.0f})" for j in joints], fontsize=8)
    ax.set_xlim(0, 100)
    ax.axvline(cmp.score, color="#333333", linewidth=1.2, linestyle=":")
    ax.text(cmp.score, len(joints) - 0.4, f"overall {cmp.score:.0f}", fontsize=8, ha="center")
    for yy, j in zip(y, joints):
        ax.text(min(j.score + 1, 92), yy, f"{j.score:.0f}", va="center", fontsize=8)
    ax.set_xlabel("score (0-100)", fontsize=8)
    ax.tick_params(labelsize=8)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    return _png(fig)


# ------------------------------------------------------------------------------------------- sections


def _header(cmp: Comparison) -> str:
    a, r = cmp.athlete, cmp.reference_track
    facts = [("Reference", cmp.reference), ("Movement", cmp.movement or "-"), ("Camera view", cmp.view or "-"),
             ("Athlete duration", fmt_num(a.times[-1] - a.times[0], 2, " s")),
             ("Reference duration", fmt_num(r.times[-1] - r.times[0], 2, " s")),
             ("Athlete / reference time", fmt_num(cmp.duration_ratio, 2, " ×")),
             ("Facing", "mirrored to the reference's side" if cmp.mirrored else "same side as the reference"
              if cmp.athlete_facing and cmp.reference_facing else "not compared (frontal or unclear)")]
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
    return (f'<header><p class="kicker">Comparison with a reference</p><h1>{esc(cmp.reference)}</h1>'
            f'<p class="score">{cmp.score:.0f}<small> / 100</small></p><dl class="facts">{items}</dl></header>')


def _warnings(cmp: Comparison) -> str:
    if not cmp.warnings:
        return ""
    lis = "".join(f"<li>{esc(w)}</li>" for w in cmp.warnings)
    return f'<section class="warnings" role="alert"><h2>Please note</h2><ul>{lis}</ul></section>'


def _breakdown(cmp: Comparison) -> str:
    phases = [p.name for p in cmp.phases]
    head = ("<tr><th class=txt>Joint</th><th>Weight</th><th>Mean |deviation|</th><th>Mean deviation</th>"
            + "".join(f"<th>|dev| {esc(p)}</th>" for p in phases)
            + "<th>ROM athlete</th><th>ROM reference</th><th>ROM diff.</th><th>Timing offset</th><th>Score</th></tr>")
    rows = []
    for j in cmp.joints:
        bad = "bad" if j.score < 50 else ""
        cells = [f'<th scope="row">{esc(pretty_angle(j.name))}</th>', f"<td>{j.weight:.0f}</td>",
                 f"<td>{fmt_deg(j.mean_abs_deviation)}</td>", f"<td>{fmt_deg(j.mean_deviation)}</td>"]
        cells += [f"<td>{fmt_deg(j.phases.get(p, {}).get('mean_abs_deviation'))}</td>" for p in phases]
        cells += [f"<td>{fmt_deg(j.rom_athlete)}</td>", f"<td>{fmt_deg(j.rom_reference)}</td>",
                  f"<td>{fmt_deg(j.rom_difference)}</td>", f"<td>{fmt_num(j.timing_offset_s, 2, ' s')}</td>",
                  f'<td class="sev {bad}">{j.score:.0f}</td>']
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ('<section><h2>Score breakdown</h2><p class="hint">Per joint that matters: deviation from the reference '
            "after time alignment (athlete minus reference; positive = more bent / more lean), range of motion "
            "(95th - 5th percentile), timing of the joint's extreme (positive = later) and the joint's score. "
            "The overall score is the weighted mean (weights = the reference's range of motion).</p>"
            + _img(score_bars(cmp), "per-joint scores")
            + f'<div class="table-wrap"><table><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'
            "</section>")


def _strip(cmp: Comparison) -> str:
    return ('<section><h2>Side by side, time-aligned</h2><p class="hint">Top: the reference; below: the athlete '
            "at the moment aligned with it (dynamic time warping). Both are scaled to the same trunk length and "
            "centred on the hips" + (", the athlete mirrored to face the reference's way" if cmp.mirrored else "")
            + ". Times are from the start of each performance.</p>"
            + _img(skeleton_strip(cmp), "reference and athlete skeletons at aligned moments") + "</section>")


def _curves(cmp: Comparison) -> str:
    return ('<section><h2>Angle curves after alignment</h2><p class="hint">Grey: the reference. Dashed: the '
            "athlete, warped onto the reference's time, so the curves coincide where the movement matches and a "
            "gap between them is a deviation in degrees.</p>" + _img(aligned_curves(cmp), "aligned angle curves")
            + "</section>")


def _phases(cmp: Comparison) -> str:
    rows = "".join(
        f'<tr><th scope="row">{esc(p.name)}</th><td>{fmt_num(p.reference_duration_s, 2, " s")}</td>'
        f'<td>{fmt_num(p.athlete_duration_s, 2, " s")}</td>'
        f'<td>{fmt_num(p.athlete_start_s, 2, " s")} - {fmt_num(p.athlete_end_s, 2, " s")}</td></tr>'
        for p in cmp.phases)
    return ('<section><h2>Phases</h2><p class="hint">Events on the reference: start, the extreme of '
            f"{esc(pretty_angle(cmp.primary_joint).lower())} and end; athlete times are those aligned with them "
            "(seconds in the athlete's video).</p><div class=\"table-wrap\"><table><thead><tr><th class=txt>Phase"
            "</th><th>Reference</th><th>Athlete</th><th>Athlete from - to</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div></section>")


def _deviations(cmp: Comparison) -> str:
    if not cmp.deviations:
        body = f'<p>No deviation reaches {MIN_SEVERITY:g} of its tolerance: the performance matches the reference.</p>'
    else:
        rows = []
        for d in cmp.deviations:
            unit = "°" if d.unit == "deg" else f" {d.unit}" if d.unit else ""
            digits = 2 if d.unit == "s" else 1
            rows.append(
                f'<tr><td class="txt">{esc(pretty_angle(d.quantity))}</td><td class="txt">{esc(d.kind)}</td>'
                f'<td class="txt">{esc(d.phase or "")}</td><td>{fmt_num(d.value, digits, unit)}</td>'
                f"<td>{fmt_num(d.reference, digits, unit)}</td><td>{fmt_num(d.difference, digits, unit)}</td>"
                f'<td>{fmt_num(d.time_s, 2, " s")}</td>'
                f'<td class="sev {"bad" if d.severity >= 1 else ""}">{d.severity:.1f}</td></tr>')
        body = ('<div class="table-wrap"><table><thead><tr><th class=txt>Quantity</th><th class=txt>Kind</th>'
                "<th class=txt>Phase</th><th>Athlete</th><th>Reference</th><th>Difference</th><th>Athlete time</th>"
                f"<th>Severity</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
    return ('<section><h2>Deviations</h2><p class="hint">Severity = |difference| / tolerance (1 = at the '
            f"tolerance, worth telling): angles {ANGLE_TOL_DEG:g}°, range of motion {ROM_TOL_DEG:g}°, timing "
            f"{TIMING_TOL_S:g} s, phase duration {100 * TEMPO_TOL:g} %. Rows below {MIN_SEVERITY:g} are not listed."
            f"</p>{body}</section>")


def _how(cmp: Comparison) -> str:
    return ('<section class="howto"><h2>How the score is computed</h2><ul>'
            "<li>Both performances are normalised: centred on the median hip position, scaled by the trunk length "
            "(hips to shoulders), and the athlete is mirrored when facing the other side of the picture.</li>"
            "<li>Joint angles of the joints that matter are aligned in time with dynamic time warping on the "
            "shape of their curves (each angle minus its mean).</li>"
            f"<li>Per joint: error = max(mean |deviation| after alignment, |range-of-motion difference|); "
            f"score = 100 × (1 − error / {ZERO_SCORE_DEG:g}°), at least 0 (10° → 75, 20° → 50).</li>"
            f"<li>Overall: mean of the joint scores weighted by the reference's range of motion (at least "
            f"{MIN_WEIGHT_ROM_DEG:g}°). Tempo is reported but not scored.</li>"
            "<li>Angles are measured in the picture plane: compare performances filmed from the same side.</li>"
            "</ul></section>")


def render_compare_html(cmp: Comparison) -> str:
    """The whole comparison report as one self-contained HTML page."""
    body = [_header(cmp), _warnings(cmp), _breakdown(cmp), _strip(cmp), _curves(cmp), _phases(cmp),
            _deviations(cmp), _how(cmp),
            f"<footer>Generated by sportlens {esc(__version__)}. Measurements from video are estimates.</footer>"]
    title = f"sportlens comparison: {cmp.reference}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}{EXTRA_CSS}</style></head><body><main>"
            + "".join(b for b in body if b) + "</main></body></html>\n")


def write_compare_report(cmp: Comparison, out_dir: str | Path) -> dict[str, Path]:
    """Write compare_report.html and comparison.json into ``out_dir`` atomically; name -> path."""
    html = render_compare_html(cmp)
    with StagedDir(Path(out_dir)) as stage:
        stage.path(HTML_NAME).write_text(html, encoding="utf-8")
        write_json(stage.path(JSON_NAME), to_jsonable(cmp.to_dict()))
        return stage.commit(order=[JSON_NAME])
