"""`sportlens analyze` and `sportlens tracks`: the main job over one video."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sportlens.cli._common import FilterName, _FpsColumn, _filtered_native_stderr, _RichProgress, _run, app, err
from sportlens.config import AnalyzeSettings, PeopleSettings
from sportlens.errors import InputError


@app.command()
def analyze(
    video: Path = typer.Argument(..., help="Video file to analyse (MP4, MOV, MKV, WebM, ...)."),
    out: Path = typer.Option(None, "--out", "-o",
                             help="Output folder (created if missing). Default: ./sportlens-out/<video name>."),
    start: Optional[float] = typer.Option(None, "--start", min=0, help="Start of the analysed part, in seconds."),
    end: Optional[float] = typer.Option(None, "--end", min=0, help="End of the analysed part, in seconds."),
    filter: FilterName = typer.Option(FilterName.butterworth, "--filter",
                                      help="Keypoint smoothing: butterworth (zero-phase low-pass, offline), "
                                           "oneeuro (causal, as for live use) or none."),
    cutoff: Optional[float] = typer.Option(None, "--cutoff", min=0.1,
                                           help="Butterworth cut-off frequency in Hz (default 6)."),
    no_video: bool = typer.Option(False, "--no-video", help="Skip the overlay video (faster)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1,
                                          help="Parallel pose workers (default 2: one per core here)."),
    checkpoint: Optional[Path] = typer.Option(
        None, "--checkpoint",
        help="A trained checkpoint (best.pt of `sportlens train`). A skeleton model replaces the shipped Penn "
             "Action model that names the movement over time; a video model (sportnet, c3d_attn, cnn_lstm, "
             "two_stream, hicnn_psta) also classifies the whole analysed part from RGB crops around the person "
             "and adds 'What the model looked at' to the report (Grad-CAM, attention; explain_*.png)."),
    model: Optional[str] = typer.Option(
        None, "--model",
        help="Model name the --checkpoint must hold (e.g. sportnet); an unknown name or a checkpoint of another "
             "model is an error. Needs --checkpoint."),
    no_recognition: bool = typer.Option(False, "--no-recognition",
                                        help="Do not name the movement with the skeleton model (a video-model "
                                             "--checkpoint still runs)."),
    person: str = typer.Option(
        "single", "--person",
        help="Who to analyse when several people are filmed. single (default, fastest): follow the most prominent "
             "person. auto: track everyone and pick the one moving most (the report says why); largest; "
             "most-active; an ID shown by `sportlens tracks`; all: the auto pick in full plus every person's "
             "key numbers."),
    detector: Optional[Path] = typer.Option(
        None, "--detector", help="A person detector trained with `sportlens train-detector` (best.pt) instead "
                                 "of the bundled one; needs --person other than single."),
    small_people: bool = typer.Option(
        False, "--small-people", help="Also search for people too small for the person detector (distant, "
                                      "~20-60 px tall): slower (see README); needs --person other than single."),
    forecast: Optional[float] = typer.Option(
        None, "--forecast", min=0.01, max=5.0, metavar="SECONDS",
        help="Forecast the pose SECONDS ahead from every frame (e.g. 0.5): a ghost skeleton in the overlay, "
             "forecast vs actual angles with the error measured on this video, and risk flags (screening "
             "cues, not diagnoses) in the report and summary.json."),
    reference: Optional[str] = typer.Option(
        None, "--reference", help="Compare with a reference performance (a name from `sportlens reference list` "
                                  "or a reference folder): 0-100 score, per-joint deviations and feedback."),
    library: Optional[Path] = typer.Option(None, "--library", help="Reference library folder (default: "
                                                                   "$SPORTLENS_HOME/references)."),
    quality_model: Optional[Path] = typer.Option(
        None, "--quality-model", help="A quality model from `sportlens train-quality`: correct/incorrect score."),
    as_json: bool = typer.Option(False, "--json", help="Print summary.json to stdout instead of a table."),
) -> None:
    """Pose, joint angles, the movement's name and a report from one video.

    Writes to the output folder: report.html (open it in a browser), overlay.mp4, keypoints.parquet,
    keypoints.csv, angles.csv and summary.json. Nothing is written if the run fails.
    """
    from sportlens.api import analyze_video

    settings = _run(lambda: _settings(start, end, filter, cutoff, no_video, workers, checkpoint=checkpoint,
                                      model=model, no_recognition=no_recognition, person=person,
                                      detector=detector, forecast=forecast, small_people=small_people))
    settings = replace(settings, assess=replace(settings.assess, reference=reference or "",
                                                library=str(library or ""),
                                                quality_model=str(quality_model or "")))
    out = out or Path("sportlens-out") / video.stem
    with Progress(TextColumn("[bold]{task.description:<10}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  _FpsColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                  disable=as_json and not err.is_terminal) as bar:
        with _filtered_native_stderr():
            analysis = _run(lambda: analyze_video(video, out, settings, progress=_RichProgress(bar)))
    if as_json:
        typer.echo((out / "summary.json").read_text())
    else:
        _print_summary(analysis, out)


def _settings(start, end, filter: FilterName, cutoff, no_video, workers, *, checkpoint: Path | None = None,
              model: str | None = None, no_recognition: bool = False, person: str = "single",
              detector: Path | None = None, forecast: float | None = None,
              small_people: bool = False) -> AnalyzeSettings:
    s = AnalyzeSettings(start=start, end=end)
    people = _people_settings(s.people, person, detector, small_people)
    cleaning = replace(s.cleaning, filter=filter.value, **({"cutoff_hz": cutoff} if cutoff else {}))
    pose = replace(s.pose, **({"workers": workers} if workers else {}))
    recognition = replace(s.recognition, enabled=not no_recognition)
    if checkpoint or model:  # reads the checkpoint: a wrong one fails here, before minutes of pose estimation
        from sportlens.recognize.video_model import resolve_recognition

        recognition = resolve_recognition(recognition, checkpoint, model or "")
    fc = replace(s.forecast, enabled=True, horizon_s=forecast) if forecast else s.forecast  # --forecast
    return replace(s, cleaning=cleaning, pose=pose, output=replace(s.output, video=not no_video),
                   recognition=recognition, people=people, forecast=fc)


def _people_settings(s: PeopleSettings, person: str, detector: Path | None,
                     small_people: bool = False) -> PeopleSettings:
    """Checked before any work: a bad --person or --detector fails in a second, not after the pose."""
    from sportlens.pose.selection import MODES

    mode = person.strip().lower()
    if mode != "single" and mode not in MODES and not mode.isdigit():
        raise InputError(f"--person {person!r} is not valid; use single, {', '.join(MODES)} or a person ID "
                         "(see `sportlens tracks VIDEO`)")
    if detector is not None:
        if mode == "single":
            raise InputError("--detector needs --person (auto, largest, most-active, ID or all): the single-person "
                             "pipeline uses BlazePose's own detector")
        from sportlens.detect import YoloPersonDetector

        YoloPersonDetector(detector)  # loads and checks the checkpoint now
    if small_people:
        if mode == "single":
            raise InputError("--small-people needs --person (auto, largest, most-active, ID or all): the "
                             "single-person pipeline follows one person")
        s = replace(s, multipose=replace(s.multipose, small_people=replace(s.multipose.small_people, enabled=True)))
    return replace(s, person=mode, detector=str(detector.resolve()) if detector else "")



@app.command()
def tracks(
    video: Path = typer.Argument(..., help="Video file with one or more people."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder. Default: ./sportlens-out/<video name>-tracks."),
    start: Optional[float] = typer.Option(None, "--start", min=0, help="Start, in seconds."),
    end: Optional[float] = typer.Option(None, "--end", min=0, help="End, in seconds."),
    no_video: bool = typer.Option(False, "--no-video", help="Only the contact sheet and tracks.json."),
    detector: Optional[Path] = typer.Option(None, "--detector", help="A person detector from `sportlens "
                                                                     "train-detector` instead of the bundled one."),
    small_people: bool = typer.Option(False, "--small-people", help="Also search for people too small for the "
                                                                    "person detector (slower, see README)."),
) -> None:
    """Find every person and give each a stable ID: tracks.mp4 (IDs drawn), contact_sheet.png (one tile per
    ID) and tracks.json. Then analyse one of them with `sportlens analyze VIDEO --person ID`."""
    from sportlens.api import track_video

    settings = _run(lambda: _settings(start, end, FilterName.butterworth, None, no_video, None, person="auto",
                                      detector=detector, small_people=small_people))
    out = out or Path("sportlens-out") / f"{video.stem}-tracks"
    with Progress(TextColumn("[bold]{task.description:<10}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  _FpsColumn(), TimeElapsedColumn(), console=err) as bar:
        with _filtered_native_stderr():
            people = _run(lambda: track_video(video, out, settings, progress=_RichProgress(bar)))
    table = Table("ID", "on screen", "body height", "activity", box=None)
    for pid, m in sorted(people.summary()["per_person"].items()):
        table.add_row(str(pid), f"{m['presence']:.0%}", f"{m['height_px']:.0f} px", f"{m['activity']:.1f}")
    console = Console()
    console.print(table)
    console.print(f"{people.tracking.num_tracks} people tracked; {people.selection.reason}")
    typer.echo(f"contact sheet: {(out / 'contact_sheet.png').resolve()}")


def _print_summary(analysis, out: Path) -> None:
    det = analysis.metrics["detection"]
    v = analysis.video
    err.print(f"\n[bold]{Path(v.path).name}[/]: {v.width}x{v.height}, {v.fps:.2f} fps, "
              f"{det['frames']} frames analysed, person found in {det['rate']:.0%}")
    table = Table(title="Range of motion (degrees)", show_edge=False)
    for col in ("angle", "min", "max", "ROM", "peak vel. (deg/s)"):
        table.add_column(col, justify="left" if col == "angle" else "right")
    rom, peak = analysis.metrics.get("rom", {}), analysis.metrics.get("peak_velocity", {})
    for name in analysis.angles.names:
        r = rom.get(name) or {}
        if r.get("rom") is None:
            continue
        table.add_row(name, *(f"{r[k]:.0f}" if r.get(k) is not None else "-" for k in ("min", "max", "rom")),
                      f"{peak[name]:.0f}" if peak.get(name) is not None else "-")
    if table.row_count:
        err.print(table)
    if analysis.actions is not None and analysis.actions.segments:
        err.print("[bold]Movements[/] (" + analysis.actions.model + ")")
        for seg in analysis.actions.segments:
            alt = ", ".join(f"{n} {p:.0%}" for n, p in seg.top3)
            err.print(f"  {seg.start:6.2f}-{seg.end:6.2f} s  {seg.label:<16} {seg.confidence:4.0%}   (top 3: {alt})",
                      highlight=False)
    _print_forecast(analysis)
    _print_assessment(analysis.assessment)
    for w in analysis.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    typer.echo(f"report: {(out / 'report.html').resolve()}")


def _print_assessment(a) -> None:
    """Reps, reference score and the top feedback sentences."""
    if not a:
        return
    reps = a.get("reps") or {}
    if reps.get("count", 0) >= 2 and not reps.get("reason"):
        err.print(f"[bold]Repetitions[/] {reps['count']} (on {str(reps.get('angle') or '').replace('_', ' ')})",
                  highlight=False)
    cmp = a.get("comparison")
    if cmp:
        err.print(f"[bold]Reference[/] {cmp['reference']}: " + (f"{cmp['score']:.0f}/100" if cmp.get("score")
                  is not None else f"no score ({cmp.get('refused')})"), highlight=False, soft_wrap=True)
    for item in (a.get("feedback") or [])[:3]:
        err.print(f"  - {item['text']} ({item['time_s']:.2f} s)", highlight=False, soft_wrap=True)


def _print_forecast(analysis) -> None:
    """--forecast: the measured error on this video and the risk flags (screening cues)."""
    fc = analysis.forecast
    if fc is None:
        return
    m = fc.metrics
    scored = (f"PCK@{m['pck_threshold']:.2f} {m['pck']:.1%} on {m['evaluated']} forecasts (zero velocity "
              f"{m['zero_velocity_pck']:.1%}), mean joint error {m['mean_error_px']:.1f} px"
              if m["counted_joints"] else "no forecast could be compared with what happened")
    err.print(f"[bold]Forecast[/] {fc.horizon_s:.2f} s ahead ({fc.model}): {scored}", highlight=False)
    for f in analysis.risk_flags or []:
        err.print(f"  [yellow]flag[/] {f.time:6.2f} s  {f.rule:<20} {f.joint:<11} {f.value:6.1f} {f.unit} "
                  f"(threshold {f.threshold:g}, {f.basis})", highlight=False)
