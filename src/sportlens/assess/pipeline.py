"""How well it was performed: the assessment step of ``analyze`` (reps, phases, reference, quality, feedback).

One function, ``assess_performance``, runs after recognition on the cleaned track and its angles:

1. **Repetitions** (``assess.reps``) with the movement profile of the recognised action (the longest
   confident segment), or the automatic profile when nothing was recognised; per-rep events
   (start / bottom-or-top / end) go to the report's timeline.
2. **Swing phases** (``assess.phases``: address / top / impact / finish) when the recognised action is a
   swing (golf, baseball, tennis) — always attempted for those, silently skipped when the hands are not
   measurable (the reason is kept).
3. **Reference comparison** (``assess.compare``) when ``--reference`` names one: DTW on joint angles,
   0-100 score with per-joint breakdown. A refused comparison (other view, gaps, ...) is not an error of
   the whole run: the reason is reported instead of a score ("scores are never produced from data too
   poor to support them").
4. **Learned quality model** (``assess.quality``) when ``--quality-model`` is given.
5. **Feedback** (``assess.feedback``): every ``Deviation`` row from 1-4, ranked into sentences with times.

The result is a plain dict (``Assessment.to_dict``) stored in ``Analysis.assessment`` and summary.json,
so the report and the web app read one structure and ``types`` needs to import nothing from here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sportlens.assess.deviations import Deviation
from sportlens.assess.feedback import coach
from sportlens.assess.phases import rep_events, swing_phases
from sportlens.assess.reps import count_reps, settings_for
from sportlens.errors import InputError
from sportlens.types import ActionTimeline, AngleTable, PoseTrack

SWINGS = ("golf_swing", "baseball_swing", "tennis_forehand", "tennis_serve")


@dataclass
class Assessment:
    movement: str | None
    reps: dict[str, Any]
    events: list[dict[str, Any]]
    swing: dict[str, Any] | None = None
    comparison: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None
    feedback: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"movement": self.movement, "reps": self.reps, "events": self.events, "swing": self.swing,
                "comparison": self.comparison, "quality": self.quality, "feedback": self.feedback,
                "notes": list(self.notes)}


def main_movement(actions: ActionTimeline | None) -> str | None:
    """The recognised label covering the most time (``unknown`` stretches excluded), else None."""
    if actions is None:
        return None
    spans: dict[str, float] = {}
    for s in actions.segments:
        if s.label != "unknown":
            spans[s.label] = spans.get(s.label, 0.0) + (s.end - s.start)
    return max(spans, key=spans.get) if spans else None


def assess_performance(clean: PoseTrack, angles: AngleTable, actions: ActionTimeline | None = None, *,
                       reference=None, quality_model=None) -> Assessment:
    """Steps 1-5 of the module docstring. ``reference``: a loaded ``assess.reference.Reference`` or None;
    ``quality_model``: a loaded ``assess.quality.QualityModel``, its file, or None."""
    movement = main_movement(actions)
    reps = count_reps(angles, settings=settings_for(movement))
    events = [e.to_dict() for e in rep_events(reps)] if reps.ok else []
    out = Assessment(movement, reps.to_dict(), events)
    rows: list[Deviation] = []
    if movement in SWINGS:
        swing = swing_phases(clean)
        out.swing = swing.to_dict()
        out.events += [e.to_dict() for e in swing.events] if swing.ok else []
    if reference is not None:
        rows += _compare(clean, reference, movement, out)
    if quality_model is not None and quality_model != "":
        rows += _quality(quality_model, clean, movement, out)
    coaching = coach(rows, reps if reps.ok else None)
    out.feedback = [item.to_dict() for item in coaching.items]
    return out


def _compare(clean: PoseTrack, reference, movement: str | None, out: Assessment) -> list[Deviation]:
    from sportlens.assess.compare import compare_tracks

    try:
        cmp = compare_tracks(clean, reference)
    except InputError as e:  # ComparisonRefused and bad data alike: say why, no score
        out.comparison = {"reference": reference.card.name, "score": None, "refused": str(e)}
        out.notes.append(f"no comparison with reference {reference.card.name!r}: {e}")
        return []
    out.comparison = cmp.to_dict()
    if movement and reference.card.movement and movement != reference.card.movement:
        out.notes.append(f"the movement was recognised as {movement}, the reference is a {reference.card.movement}")
    return list(cmp.deviations)


def _quality(model_or_path, clean: PoseTrack, movement: str | None, out: Assessment) -> list[Deviation]:
    """The learned model's score; a model that cannot read this track (another layout or movement) gives
    the reason instead of a score."""
    from sportlens.assess.quality import QualityModel, apply_quality_model, load_quality_model

    model = model_or_path if isinstance(model_or_path, QualityModel) else load_quality_model(model_or_path)
    path = f"trained on {model.trained_on}" if isinstance(model_or_path, QualityModel) else str(model_or_path)
    try:
        result = apply_quality_model(model, clean, movement if movement in getattr(model, "movements", ()) else None)
    except InputError as e:
        out.quality = {"model": str(path), "score": None, "refused": str(e)}
        out.notes.append(f"no quality score from {path}: {e}")
        return []
    out.quality = {"model": str(path), **result.to_dict()}
    return list(result.deviations)
