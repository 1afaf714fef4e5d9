"""Coach feedback: measured deviations -> short, specific sentences, ranked, each with a number and a time.

Every template lives in this module (``TEMPLATES``, ``CUES``), so wording, units and joint names stay
consistent wherever feedback is shown. Input is ``sportlens.assess.deviations.Deviation`` rows, from
the reference comparison, the quality models or the repetition analysis (``rep_deviations``).

Decisions:

- **Names**: an angle column name (``left_knee_flexion``, from ``sportlens.kinematics.angles``) is
  written with spaces ("left knee flexion"); "Trunk lean" is the only segment angle with its own
  phrasing: "Trunk leans 18° forward at the bottom (reference 8° forward)" when the producer knew the
  facing side (``FORWARD_LEAN`` rows, forward-positive), else how far from upright ("Trunk leans 18°"). Units: degrees as "°" (whole degrees), seconds with one decimal ("1.4 s"), percent as
  "%"; a quantity that Deviation writes as ``"left_knee flexion"`` reads the same.
- **What is said**: rows with ``severity >= min_severity`` (1.0 = at the tolerance the producer
  chose), most severe first; ties go to the earlier moment. Rows about the same thing (same kind,
  quantity, phase and direction) are merged into the most severe one, which names the other reps
  ("also reps 4 and 6"): a coach says it once.
- **Comparison wording**: rows from the repetition analysis (``source == "reps"``) are compared
  with "your other reps", rows from a reference with "the reference" (its name when the source is
  ``reference:<name>``), rows from a model with "the model".
- **Cues** ("go deeper") come from ``CUES`` by angle and direction; a quantity without a cue gets the
  numbers only, never a made-up instruction.
- Every item carries ``time_s`` (seconds in the analysed video) so the report can link the sentence
  to that moment of the overlay video.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sportlens.assess.deviations import FORWARD_LEAN, Deviation
from sportlens.assess.reps import RepResult

MIN_SEVERITY = 1.0
MAX_ITEMS = 6
# Tolerances of rep_deviations (what "different from your other reps" means)
ROM_TOL_FRAC, ROM_TOL_MIN_DEG = 0.15, 8.0  # 15 % of the median rep's range, at least 8 degrees
TEMPO_TOL_FRAC, TEMPO_TOL_MIN_S = 0.30, 0.3  # 30 % of the median phase time, at least 0.3 s

# (angle name suffix, direction) -> what to do; direction is "less" or "more" than the comparison.
# Suffix matching lets one entry cover both sides; phase-specific entries ("suffix@phase") win.
CUES: dict[tuple[str, str], str] = {
    ("knee_flexion@bottom", "less"): "go deeper",
    ("knee_flexion@bottom", "more"): "you can stop a little higher",
    ("hip_flexion@bottom", "less"): "sit back further",
    ("hip_flexion@bottom", "more"): "keep your chest up",
    ("knee_flexion", "less"): "bend the knee more",
    ("knee_flexion", "more"): "bend the knee less",
    ("hip_flexion", "less"): "bend more at the hip",
    ("hip_flexion", "more"): "bend less at the hip",
    ("elbow_flexion@bottom", "less"): "lower your chest further",
    ("elbow_flexion", "less"): "bend the elbow more",
    ("elbow_flexion", "more"): "keep the arm straighter",
    ("shoulder_flexion", "less"): "raise the arm higher",
    ("shoulder_flexion", "more"): "do not raise the arm as far",
    ("ankle_dorsiflexion", "less"): "let the knee travel further over the toes",
    ("trunk_lean", "more"): "keep your chest up",
    ("trunk_lean", "less"): "let the trunk lean a little more",
    (FORWARD_LEAN, "more"): "keep your chest up",
    (FORWARD_LEAN, "less"): "let the trunk lean forward a little more",
    ("rom", "less"): "use the full range, like your other reps",
    ("eccentric", "more"): "keep a steady tempo",
    ("eccentric", "less"): "control the way down",
    ("concentric", "more"): "drive up with the same speed as the other reps",
    ("concentric", "less"): "keep a steady tempo",
}

# kind -> sentence template. Fields: who ("Rep 3: " or ""), what (the quantity in words), v / ref
# (formatted numbers with units), d (formatted |difference|), dir ("more"/"less"), cmp ("the
# reference", "your other reps"...), at (" at the bottom"), cue (" — go deeper" or "").
TEMPLATES: dict[str, str] = {
    "angle_at_event": "{who}{what}{at} was {v}, {cmp} reaches {ref}{cue}",
    "lean": "{who}{What} {v}{at} ({cmp} {ref}){cue}",
    "rom": "{who}{what} moved through {v}, {d} {dir} than {cmp} ({ref}){cue}",
    "depth": "{who}{what}{at} reached {v}, {cmp} {ref}{cue}",
    "tempo": "{who}the {what} took {v}, {cmp} {ref}{cue}",
    "timing": "{who}the {what}{at} came {d} {when} than {cmp}{cue}",
    "count": "{v} repetitions counted, {cmp} {ref}",
    "quality": "{who}{what} was {v}, {cmp} expects {ref}{cue}",
}


@dataclass(frozen=True)
class FeedbackItem:
    """One sentence with the measurement behind it; ``time_s`` links it to the overlay video."""

    text: str
    time_s: float
    severity: float
    kind: str
    quantity: str
    rep: int | None = None
    phase: str | None = None
    also_reps: tuple[int, ...] = ()
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["time_s"], d["severity"] = round(self.time_s, 3), round(self.severity, 2)
        d["also_reps"] = list(self.also_reps)
        return d


@dataclass(frozen=True)
class FeedbackSettings:
    min_severity: float = MIN_SEVERITY
    max_items: int = MAX_ITEMS
    merge: bool = True


# ------------------------------------------------------------------------------- formatting
def angle_words(quantity: str) -> str:
    """'left_knee_flexion' / 'left_knee flexion' -> 'left knee flexion'."""
    return quantity.replace("_", " ").strip()


def fmt(value: float, unit: str) -> str:
    """A number with its unit, as every sentence writes it."""
    if not math.isfinite(value):
        return "not measured"
    if unit == "deg":
        return f"{value:.0f}°"
    if unit == "s":
        return f"{value:.1f} s"
    if unit == "%":
        return f"{value:.0f} %"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.0f}"


def _comparison(d: Deviation) -> str:
    if d.source == "reps":
        return "your other reps"
    if d.source.startswith("reference:") and d.source.split(":", 1)[1]:
        return f"the reference ({d.source.split(':', 1)[1]})"
    if d.source.startswith("quality"):
        return "the model"
    return "the reference"


def _is_lean(d: Deviation) -> bool:
    return d.quantity.replace(" ", "_") in ("trunk_lean", FORWARD_LEAN) and d.kind == "angle_at_event"


def _direction(d: Deviation) -> str:
    if _is_lean(d) and d.quantity != FORWARD_LEAN:  # picture-signed: what matters is how far from upright
        return "more" if abs(d.value) > abs(d.reference) else "less"
    return "more" if d.value > d.reference else "less"


def _lean_words(x: float, forward_positive: bool, unit: str) -> str:
    """'18°' for a picture-signed lean; '18° forward' / '5° backward' when the sign means forward."""
    if not forward_positive or round(x) == 0:
        return fmt(abs(x), unit)
    return f"{fmt(abs(x), unit)} {'forward' if x > 0 else 'backward'}"


def cue(d: Deviation) -> str:
    """The instruction for this row, or '' when none is known (see ``CUES``)."""
    name = d.quantity.replace(" ", "_")
    if d.kind == "tempo":
        keys = [d.phase or ""]
    else:
        keys = ([f"{name}@{d.phase}"] if d.phase else []) + (["rom"] if d.kind == "rom" else [name])
    direction = _direction(d)
    for key in keys:
        for (k, dirn), text in CUES.items():
            if dirn == direction and (key == k or key.endswith("_" + k)):
                return text
    return ""


def sentence(d: Deviation, also: Iterable[int] = ()) -> str:
    """The sentence for one deviation row (module docstring; templates in ``TEMPLATES``)."""
    lean = _is_lean(d)
    kind = "lean" if lean else d.kind
    template = TEMPLATES.get(kind, "{who}{what}{at} was {v}, {cmp} {ref}{cue}")
    what = angle_words(d.quantity)
    if kind == "tempo":
        what = {"eccentric": "lowering (eccentric) phase", "concentric": "lifting (concentric) phase"}.get(
            d.phase or "", what)
    c = cue(d)
    fwd = d.quantity == FORWARD_LEAN
    v, ref = ((_lean_words(d.value, fwd, d.unit), _lean_words(d.reference, fwd, d.unit)) if lean
              else (fmt(d.value, d.unit), fmt(d.reference, d.unit)))
    text = template.format(
        who=f"Rep {d.rep}: " if d.rep else "", what=what, What="trunk leans", v=v,
        ref=ref, d=fmt(abs(d.difference), d.unit), dir=_direction(d),
        cmp="reference" if lean and d.source != "reps" else _comparison(d),
        at=f" at the {d.phase}" if d.phase and kind != "tempo" and d.phase != d.quantity else "",
        cue=f" — {c}" if c else "", when="later" if d.difference > 0 else "earlier")
    text = text[:1].upper() + text[1:]
    also = sorted(set(also))
    if also:
        text += f" (also rep{'s' if len(also) > 1 else ''} {_and(also)})"
    return text


def _and(xs: list[int]) -> str:
    s = [str(x) for x in xs]
    return s[0] if len(s) == 1 else ", ".join(s[:-1]) + " and " + s[-1]


# ---------------------------------------------------------------------------------- ranking
def feedback(deviations: Iterable[Deviation], settings: FeedbackSettings = FeedbackSettings()) -> list[FeedbackItem]:
    """Ranked sentences for the rows worth telling (module docstring)."""
    rows = [d for d in deviations if math.isfinite(d.severity) and d.severity >= settings.min_severity
            and math.isfinite(d.value) and math.isfinite(d.reference)]
    rows.sort(key=lambda d: (-d.severity, d.time_s))
    groups: dict[tuple, list[Deviation]] = {}
    for d in rows:
        key = (d.kind, d.quantity, d.phase, _direction(d), d.source) if settings.merge else (id(d),)
        groups.setdefault(key, []).append(d)
    items = []
    for members in groups.values():
        top = members[0]
        also = tuple(sorted({m.rep for m in members[1:] if m.rep is not None and m.rep != top.rep}))
        items.append(FeedbackItem(sentence(top, also), top.time_s, top.severity, top.kind, top.quantity,
                                  top.rep, top.phase, also, top.source))
    items.sort(key=lambda i: (-i.severity, i.time_s))
    return items[: settings.max_items]


# --------------------------------------------------------------------------- rep deviations
def rep_deviations(reps: RepResult) -> list[Deviation]:
    """Deviation rows for reps that differ from the athlete's own median rep.

    - ``rom``: the driving angle's range over the rep vs the median range; tolerance
      max(``ROM_TOL_FRAC`` x median, ``ROM_TOL_MIN_DEG``); time = the rep's extreme.
    - ``tempo``: eccentric and concentric times vs their medians; tolerance
      max(``TEMPO_TOL_FRAC`` x median, ``TEMPO_TOL_MIN_S``); time = the start of that phase.

    Needs at least ``RepSettings.score_min_reps`` reps (a median of fewer is no norm): otherwise
    nothing. Every row is returned (feedback() filters by severity)."""
    rr = reps.reps
    if not reps.ok or len(rr) < max(reps.settings.score_min_reps, 3):
        return []
    extreme = "bottom" if reps.settings.eccentric == "out" else "top"
    rom_med = float(np.median([r.rom for r in rr]))
    rom_tol = max(ROM_TOL_FRAC * rom_med, ROM_TOL_MIN_DEG)
    out = [Deviation(quantity=reps.angle or "", kind="rom", value=r.rom, reference=rom_med, unit="deg",
                     time_s=r.extreme, severity=abs(r.rom - rom_med) / rom_tol, rep=r.index, phase=extreme,
                     source="reps") for r in rr]
    for phase in ("eccentric", "concentric"):
        vals = [getattr(r, f"{phase}_s") for r in rr]
        med = float(np.median(vals))
        tol = max(TEMPO_TOL_FRAC * med, TEMPO_TOL_MIN_S)
        for r, v in zip(rr, vals):
            starts_at_extreme = (phase == "eccentric") == (reps.settings.eccentric == "back")
            out.append(Deviation(quantity=f"{phase} time", kind="tempo", value=v, reference=med, unit="s",
                                 time_s=r.extreme if starts_at_extreme else r.start,
                                 severity=abs(v - med) / tol, rep=r.index, phase=phase, source="reps"))
    return out


@dataclass
class Coaching:
    """What the report and summary.json show: the ranked sentences and the rows behind them."""

    items: list[FeedbackItem] = field(default_factory=list)
    deviations: list[Deviation] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"feedback": [i.to_dict() for i in self.items],
                "deviations": [d.to_dict() for d in self.deviations]}


def coach(deviations: Iterable[Deviation] = (), reps: RepResult | None = None,
          settings: FeedbackSettings = FeedbackSettings()) -> Coaching:
    """All rows (given ones plus ``rep_deviations(reps)``) and their ranked sentences."""
    rows = list(deviations) + (rep_deviations(reps) if reps is not None else [])
    return Coaching(feedback(rows, settings), rows)
