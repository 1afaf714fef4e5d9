"""The one orchestration of the main job: ``analyze_video(path) -> Analysis``.

The CLI, the web app's workers and the batch runner all call this function; none re-implements
a step. Data flow: probe -> pose (parallel chunks) -> cleaning -> kinematics -> outputs.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol


from sportlens.config import AnalyzeSettings, to_dict
from sportlens.errors import InputError
from sportlens.fsutil import StagedDir, ensure_writable_dir, write_json
from sportlens.jsonable import to_jsonable
from sportlens.kinematics import center_of_mass, compute_angles, summary_metrics
from sportlens.pose.cleaning import clean_track
from sportlens.pose.people import PeopleResult, estimate_athletes
from sportlens.pose.runner import estimate_video
from sportlens.report import render_html
from sportlens.report.tables import write_tables
from sportlens.report.html import key_frame_times
from sportlens.report.tracks import contact_sheet, render_tracks_video
from sportlens.report.video import render_overlay
from sportlens.types import Analysis, PoseTrack
from sportlens.video import probe

NO_PERSON = "No person was detected in this video"
LOW_DETECTION = 0.5  # below this fraction of frames with a person, the report warns


class Progress(Protocol):
    """What ``analyze_video`` reports to: a stage starts with a total (frames), then advances."""

    def stage(self, name: str, total: int | None) -> None: ...

    def advance(self, n: int) -> None: ...


class _Silent:
    def stage(self, name: str, total: int | None) -> None:
        pass

    def advance(self, n: int) -> None:
        pass


@dataclass
class _Clock:
    timings: dict[str, float]

    def lap(self, name: str, t0: float) -> float:
        now = time.perf_counter()
        self.timings[name] = now - t0
        return now


def analyze_video(video: str | Path, out_dir: str | Path | None = None,
                  settings: AnalyzeSettings = AnalyzeSettings(),
                  progress: Progress | None = None) -> Analysis:
    """Analyse one video. With ``out_dir``, write all outputs there atomically (see README)."""
    progress = progress or _Silent()
    clock, t = _Clock({}), time.perf_counter()
    info = probe(video)
    if out_dir is not None:
        ensure_writable_dir(out_dir)  # fail before minutes of work, not after
    forecaster = _forecaster(settings) if settings.forecast.enabled else None  # a bad checkpoint fails now
    assessors = _assessors(settings)  # an unknown reference or quality model fails now too
    span = _span(info.duration, settings.start, settings.end)
    progress.stage("pose", int(round(span * info.fps)) if span and info.fps else None)
    people = None
    if settings.people.person.strip().lower() == "single":
        raw, warnings = estimate_video(video, settings.pose, start=settings.start, end=settings.end,
                                       progress=progress.advance, info=info)
    else:  # several people: multi-person pose, tracking, then the athlete the user means
        people = estimate_athletes(video, settings.people, start=settings.start, end=settings.end,
                                   progress=progress.advance, info=info, detector=_detector(settings.people.detector))
        raw, warnings = people.primary, people.warnings
    if raw.num_frames == 0:
        raise InputError(f"{video}: no frame could be read between {settings.start or 0:.2f}s and "
                         f"{settings.end if settings.end is not None else 'the end'}. Check --start/--end")
    t = clock.lap("pose", t)
    clean, cleaning = clean_track(raw, settings.cleaning)
    angles = compute_angles(clean)
    metrics = _metrics(raw, angles, clean, cleaning.to_dict())
    analysis = Analysis(video=info, raw=raw, clean=clean, angles=angles, metrics=metrics,
                        com=center_of_mass(clean), settings=to_dict(settings),
                        warnings=warnings + _detection_warnings(metrics["detection"]))
    if people is not None:
        analysis.people = _people_summary(people, settings)
    t = clock.lap("cleaning_kinematics", t)
    if settings.recognition.enabled and clean.detected_frames().any():
        analysis.actions = _recognize(clean, settings, analysis.warnings)
        t = clock.lap("recognition", t)
    if settings.recognition.video_checkpoint:
        progress.stage("video model", None)
        analysis.video_prediction = _predict_video(video, clean, settings, analysis.warnings)
        t = clock.lap("video_model", t)
    if forecaster is not None:
        _forecast(analysis, settings, forecaster)
        t = clock.lap("forecast", t)
    if settings.assess.enabled and clean.detected_frames().any():
        _assess(analysis, assessors)
        t = clock.lap("assessment", t)
    if out_dir is not None:
        _write_outputs(analysis, Path(out_dir), settings, progress, clock)
    analysis.timings = clock.timings
    return analysis


def track_video(video: str | Path, out_dir: str | Path, settings: AnalyzeSettings = AnalyzeSettings(),
                progress: Progress | None = None) -> PeopleResult:
    """Every person in the video with a stable ID (``sportlens tracks``): writes ``tracks.mp4`` (IDs drawn),
    ``contact_sheet.png`` (one tile per ID, to pick ``--person ID``) and ``tracks.json``."""
    progress = progress or _Silent()
    info = probe(video)
    ensure_writable_dir(out_dir)
    span = _span(info.duration, settings.start, settings.end)
    progress.stage("pose", int(round(span * info.fps)) if span and info.fps else None)
    auto = replace(settings.people, person="auto")  # the suggestion shown beside the IDs
    people = estimate_athletes(video, auto, start=settings.start, end=settings.end, progress=progress.advance,
                               info=info, detector=_detector(settings.people.detector))
    summary = people.summary()
    stats = {pid: [f"on screen {m['presence']:.0%}", f"height {m['height_px']:.0f} px",
                   f"activity {m['activity']:.1f}"] for pid, m in summary["per_person"].items()}
    with StagedDir(Path(out_dir)) as stage:
        if settings.output.video:
            progress.stage("overlay", len(people.primary.times))
            render_tracks_video(video, people.tracking.tracks, people.tracking.boxes, stage.path("tracks.mp4"),
                                start=settings.start, end=settings.end, max_side=settings.output.overlay_max_side,
                                progress=progress.advance)
        contact_sheet(video, people.tracking.tracks, people.tracking.boxes, stage.path("contact_sheet.png"),
                      start=settings.start, end=settings.end, stats=stats)
        write_json(stage.path("tracks.json"), to_jsonable({"video": info.to_dict(), **summary,
                                                           "warnings": people.warnings}))
        stage.commit(order=["tracks.json"])
    return people


_RECOGNIZERS: dict[str, object] = {}  # checkpoint -> loaded Recognizer (one load per process)


def _recognize(clean: PoseTrack, settings: AnalyzeSettings, warnings: list[str]):
    """The action timeline, or None with a warning when no recognition model is available."""
    from sportlens.recognize import Recognizer

    key = settings.recognition.checkpoint
    try:
        if key not in _RECOGNIZERS:
            _RECOGNIZERS[key] = Recognizer(key or None)
    except InputError as e:
        if key:  # the user asked for this checkpoint: that is an error, not a warning
            raise
        warnings.append(f"Movement recognition skipped: {e}")
        return None
    return _RECOGNIZERS[key].timeline(clean, settings.recognition)


_VIDEO_RECOGNIZERS: dict[tuple[str, str], object] = {}  # (checkpoint, model) -> loaded VideoRecognizer


def _predict_video(video: str | Path, clean: PoseTrack, settings: AnalyzeSettings, warnings: list[str]):
    """The video model's prediction with its explanation images, or None with a warning when nobody
    was detected (the model crops around the person). A bad checkpoint is an error: the user asked for it."""
    from sportlens.recognize.video_model import VideoRecognizer

    rs = settings.recognition
    if not clean.detected_frames().any():
        warnings.append("Video-model recognition skipped: no person was detected to centre the frames on.")
        return None
    key = (rs.video_checkpoint, rs.video_model)
    if key not in _VIDEO_RECOGNIZERS:
        _VIDEO_RECOGNIZERS[key] = VideoRecognizer(rs.video_checkpoint, rs.video_model)
    return _VIDEO_RECOGNIZERS[key].predict(video, clean, settings.start, settings.end,
                                           explain_frames=rs.explain_frames)


# ---- assessment (reps, phases, reference, quality model, feedback) ----------------------------------
def _assessors(settings: AnalyzeSettings) -> tuple[object | None, object | None]:
    """(reference, quality model) named by the settings, loaded before any pose work: a wrong name or file
    fails in a second, not after minutes of pose estimation."""
    a = settings.assess
    if not a.enabled:
        return None, None
    reference = quality = None
    if a.reference:
        from sportlens.assess.reference import load_reference

        reference = load_reference(a.reference, a.library or None)
    if a.quality_model:
        from sportlens.assess.quality import load_quality_model

        quality = load_quality_model(a.quality_model)
    return reference, quality


def _assess(analysis: Analysis, assessors: tuple[object | None, object | None]) -> None:
    """Reps, phases, reference comparison, quality model and feedback (``assess.pipeline``)."""
    from sportlens.assess.pipeline import assess_performance

    reference, quality = assessors
    result = assess_performance(analysis.clean, analysis.angles, analysis.actions, reference=reference,
                                quality_model=quality)
    analysis.assessment = result.to_dict()
    analysis.warnings.extend(result.notes)


# ---- forecasting + risk flags (issue 6) -------------------------------------------------------------
_FORECASTERS: dict[tuple[str, str], tuple[object, str | None]] = {}  # (checkpoint, fallback) -> loaded


def _forecaster(settings: AnalyzeSettings):
    """(Forecaster, note or None): the trained model, else the fallback baseline (the note says which)."""
    from sportlens.forecast.online import load_forecaster

    fs = settings.forecast
    key = (fs.checkpoint, fs.fallback)
    if key not in _FORECASTERS:
        _FORECASTERS[key] = load_forecaster(fs)
    return _FORECASTERS[key]


def _forecast(analysis: Analysis, settings: AnalyzeSettings, loaded) -> None:
    """Sliding forecasts of the cleaned track and the risk flags of observed + forecast poses."""
    from sportlens.forecast.online import online_forecast
    from sportlens.forecast.rules import risk_flags

    if not analysis.clean.detected_frames().any():
        analysis.warnings.append("Forecast and risk flags skipped: no person was detected.")
        return
    forecaster, note = loaded
    analysis.forecast = online_forecast(analysis.clean, settings.forecast, forecaster)
    if note:
        analysis.forecast.notes.append(note)
    analysis.risk_flags, notes = risk_flags(analysis.clean, analysis.forecast, settings.forecast.rules)
    analysis.forecast.notes += notes


def _detector(checkpoint: str):
    """A trained person detector replacing the bundled one, or None (the bundled BlazePose detector)."""
    if not checkpoint:
        return None
    from sportlens.detect import YoloPersonDetector

    return YoloPersonDetector(checkpoint)


def _people_summary(people: PeopleResult, settings: AnalyzeSettings) -> dict:
    """summary.json's ``people``; with --person all, every selected person's key metrics too."""
    out = people.summary()
    if people.selection.mode == "all":
        for track in people.selection.tracks:
            clean, cleaning = clean_track(track, settings.cleaning)
            m = _metrics(track, compute_angles(clean), clean, cleaning.to_dict())
            out["per_person"][int(track.person_id)]["metrics"] = {k: m[k] for k in ("detection", "rom", "symmetry")}
    return out


def _span(duration: float, start: float | None, end: float | None) -> float:
    stop = min(end, duration) if end is not None and duration else (end or duration)
    return max(0.0, (stop or 0.0) - (start or 0.0))


def _metrics(raw: PoseTrack, angles, clean: PoseTrack, cleaning: dict) -> dict:
    """The ``metrics`` block of summary.json (keys documented in the README)."""
    km = summary_metrics(angles, clean)
    return {"detection": _detection(raw), "rom": km["range_of_motion"], "peak_velocity": km["peak_velocity"],
            "symmetry": km["symmetry_index"], "valid_fraction": km["valid_fraction"],
            "duration_s": km["duration_s"], "skeleton": km["skeleton"], "cleaning": cleaning}


def _detection(raw: PoseTrack) -> dict:
    found = raw.detected_frames()
    return {"frames": int(raw.num_frames), "frames_with_person": int(found.sum()),
            "rate": float(found.mean()) if raw.num_frames else 0.0}


def _detection_warnings(det: dict) -> list[str]:
    if det["frames_with_person"] == 0:
        return [NO_PERSON + ": no angles could be measured. Check that the whole body is in view."]
    if det["rate"] < LOW_DETECTION:
        return [f"A person was found in only {det['rate']:.0%} of the frames: numbers cover those frames only."]
    return []


def _write_outputs(analysis: Analysis, out: Path, settings: AnalyzeSettings, progress: Progress,
                   clock: _Clock) -> None:
    t = time.perf_counter()
    with StagedDir(out) as stage:
        write_tables(analysis.raw, analysis.clean, analysis.angles, stage.staging)
        if analysis.video_prediction is not None:  # explain_*.png: what the video model looked at
            for name, png in analysis.video_prediction.figures.items():
                stage.path(name).write_bytes(png)
        t = clock.lap("tables", t)
        key_times = key_frame_times(analysis, settings.output.key_frames)
        video_path = stage.path("overlay.mp4") if settings.output.video else None
        if video_path:
            progress.stage("overlay", analysis.raw.num_frames)
        with ThreadPoolExecutor(max_workers=1) as pool:
            # Without a video, key frames are decoded (GIL released) while the report's plots draw.
            keys = pool.submit(render_overlay, analysis, video_path, start=settings.start, end=settings.end,
                               max_side=settings.output.overlay_max_side, key_times=key_times,
                               workers=settings.pose.workers, chunk_seconds=settings.pose.chunk_seconds,
                               progress=progress.advance)
            if video_path:
                keys.result()
                t = clock.lap("overlay", t)
            html = render_html(analysis, keys.result)
        (stage.path("report.html")).write_text(html, encoding="utf-8")
        t = clock.lap("report" if video_path else "key_frames_and_report", t)
        names = sorted(p.name for p in stage.staging.iterdir()) + ["summary.json"]
        analysis.files = {n: str(out / n) for n in names}
        analysis.timings = clock.timings
        write_json(stage.path("summary.json"), to_jsonable(analysis.summary()))
        stage.commit(order=["report.html", "summary.json"])
