"""The report's "How well it was performed" section: feedback, repetitions, phases, reference score, quality.

Reads only ``Analysis.assessment`` (the plain dict of ``assess.pipeline``). Every feedback sentence and
event links to its moment in the overlay video with a media fragment (``overlay.mp4#t=SECONDS``), which
browsers open at that time; without an overlay video the time is shown as text.
"""
from __future__ import annotations

import html
import math
from typing import Any, Mapping

DASH = "–"


def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _num(v: Any, digits: int = 1, unit: str = "") -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return DASH
    return f"{x:.{digits}f}{unit}" if math.isfinite(x) else DASH


def _at(t: Any, overlay: bool) -> str:
    """A time that opens the overlay video there (when there is one)."""
    label = _num(t, 2, " s")
    if not overlay or label == DASH:
        return _esc(label)
    return f'<a href="overlay.mp4#t={float(t):.2f}" title="open the overlay video at this moment">▶ {_esc(label)}</a>'


def _feedback(items: list[Mapping[str, Any]], overlay: bool) -> str:
    if not items:
        return "<p>Nothing stood out enough to mention: no measured deviation reached its tolerance.</p>"
    lis = "".join(f"<li>{_esc(i['text'])} <span class=\"hint\">{_at(i.get('time_s'), overlay)}</span></li>"
                  for i in items)
    return f'<ol class="feedback">{lis}</ol>'


def _reps(reps: Mapping[str, Any], overlay: bool) -> str:
    rows = reps.get("reps") or []
    if not rows or reps.get("reason"):
        why = reps.get("reason") or "no repetition found"
        return f"<p><b>Repetitions:</b> {_esc(reps.get('count', 0))} ({_esc(why)}).</p>"
    body = "".join(
        f"<tr><td>{r['index']}</td><td>{_at(r['start'], overlay)}</td><td>{_num(r['duration'], 2, ' s')}</td>"
        f"<td>{_num(r['rom'], 0, '°')}</td><td>{_num(r['value_extreme'], 0, '°')}</td>"
        f"<td>{_num(r['eccentric_s'], 2, ' s')}</td><td>{_num(r['concentric_s'], 2, ' s')}</td>"
        f"<td>{_num(r.get('score'), 0)}</td></tr>" for r in rows)
    angle = (reps.get("angle") or "").replace("_", " ")
    return (f"<p><b>{_esc(reps.get('count'))} repetitions</b>, counted on the {_esc(angle)} "
            f"(one every {_num(reps.get('period_s'), 1, ' s')}).</p>"
            '<div class="table-wrap"><table class="rom"><thead><tr><th>rep</th><th>start</th><th>duration</th>'
            "<th>range</th><th>at the extreme</th><th>eccentric</th><th>concentric</th><th>score</th></tr></thead>"
            f"<tbody>{body}</tbody></table></div>"
            + (f'<p class="hint">{_esc(reps["note"])}</p>' if reps.get("note") else
               '<p class="hint">Score: how closely each rep matches your own median rep (shape, depth, tempo), '
               "0-100.</p>"))


def _events(events: list[Mapping[str, Any]], overlay: bool) -> str:
    key = [e for e in events if e.get("source") == "swing" or e.get("name") not in ("start", "end")]
    if not key:
        return ""
    items = "".join(f"<li>{_esc(e['name'])}{' (rep ' + str(e['rep']) + ')' if e.get('rep') else ''}: "
                    f"{_at(e['time_s'], overlay)}</li>" for e in key[:40])
    return f'<p><b>Key moments</b></p><ul class="events">{items}</ul>'


def _comparison(cmp: Mapping[str, Any] | None) -> str:
    if not cmp:
        return ""
    if cmp.get("score") is None:
        return (f"<p><b>Reference {_esc(cmp.get('reference'))}:</b> no score — "
                f"{_esc(cmp.get('refused', 'the comparison was refused'))}</p>")
    rows = "".join(f"<tr><td>{_esc(j['name'].replace('_', ' '))}</td><td>{_num(j.get('score'), 0)}</td>"
                   f"<td>{_num(j.get('mean_abs_deviation'), 1, '°')}</td>"
                   f"<td>{_num(j.get('rom_difference'), 1, '°')}</td>"
                   f"<td>{_num(j.get('timing_offset_s'), 2, ' s')}</td></tr>" for j in cmp.get("joints", []))
    return (f"<p><b>Reference {_esc(cmp['reference'])}: {float(cmp['score']):.0f} / 100</b> "
            f'<span class="hint">({_esc(cmp.get("score_formula", ""))})</span></p>'
            '<div class="table-wrap"><table class="rom"><thead><tr><th>joint</th><th>score</th><th>mean deviation</th>'
            f"<th>range difference</th><th>timing</th></tr></thead><tbody>{rows}</tbody></table></div>")


def _quality(q: Mapping[str, Any] | None) -> str:
    if not q:
        return ""
    if q.get("score") is None:
        return f"<p><b>Quality model:</b> no score — {_esc(q.get('refused', 'the model could not read this track'))}</p>"
    what = "P(correct) x 100" if q.get("task") != "regression" else "predicted score"
    return (f"<p><b>Quality model: {float(q['score']):.0f}</b> <span class=\"hint\">({what}; "
            f"{_esc(q.get('model', ''))}, movement {_esc(q.get('movement', ''))})</span></p>")


def phase_strip(assessment: Mapping[str, Any] | None, t0: float, span: float) -> str:
    """Ticks under the action timeline at each key moment (rep start/end thin, extremes and swing events
    bold), on the same time axis; hover shows the event, a click opens the overlay there."""
    events = (assessment or {}).get("events") or []
    if not events or span <= 0:
        return ""
    ticks = []
    for e in events:
        x = 100.0 * (float(e["time_s"]) - t0) / span
        if not 0.0 <= x <= 100.0:
            continue
        key = e.get("source") == "swing" or e.get("name") not in ("start", "end")
        label = f"{e['name']}{' (rep ' + str(e['rep']) + ')' if e.get('rep') else ''} {float(e['time_s']):.2f} s"
        ticks.append(f'<a class="tick{" key" if key else ""}" style="left:{x:.2f}%" title="{_esc(label)}" '
                     f'href="overlay.mp4#t={float(e["time_s"]):.2f}"></a>')
    if not ticks:
        return ""
    return (f'<div class="phases" aria-label="key moments">{"".join(ticks)}</div>'
            '<p class="hint">Below the movements: the key moments of each repetition (bold: the deepest or highest '
            "point; swings: address, top, impact, finish). Hover for the time, click to open the overlay there.</p>")


def assessment_section(assessment: Mapping[str, Any] | None, *, overlay: bool) -> str:
    """The section's HTML, or "" when assessment did not run."""
    if not assessment:
        return ""
    parts = ["<section><h2>How well it was performed</h2>",
             _feedback(assessment.get("feedback") or [], overlay),
             _comparison(assessment.get("comparison")), _quality(assessment.get("quality")),
             _reps(assessment.get("reps") or {}, overlay), _events(assessment.get("events") or [], overlay)]
    swing = assessment.get("swing")
    if swing and swing.get("tempo"):
        t = swing["tempo"]
        parts.append(f"<p>Swing tempo: backswing {_num(t.get('backswing_s'), 2, ' s')}, downswing "
                     f"{_num(t.get('downswing_s'), 2, ' s')} (ratio {_num(t.get('ratio'), 1)}).</p>")
    elif swing and swing.get("reason"):
        parts.append(f'<p class="hint">Swing phases: {_esc(swing["reason"])}</p>')
    parts.append("</section>")
    return "".join(parts)
