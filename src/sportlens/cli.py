"""The ``sportlens`` command line: a thin face over ``sportlens.api``.

Errors a user can fix (``SportlensError``) print one line on stderr and exit non-zero; anything
else is a bug: one line too, with the traceback only under ``--debug``.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import tempfile
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from sportlens import __version__
from sportlens.config import AnalyzeSettings, PeopleSettings
from sportlens.errors import InputError, SportlensError
from sportlens.jsonable import to_jsonable

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="sportlens: quantitative feedback from sports-training video.")
err = Console(stderr=True)
_state = {"debug": False}
# Lines native libraries (TFLite, absl/glog inside MediaPipe) print on fd 2 that mean nothing to a user.
_NATIVE_NOISE = re.compile(r"^(INFO: Created TensorFlow Lite|WARNING: All log messages before absl|"
                           r"[IW]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\])")


@contextlib.contextmanager
def _filtered_native_stderr():
    """Capture fd 2 while the pipeline runs and replay it without native start-up noise.

    The progress bar keeps writing to a duplicate of the real stderr, so it stays live.
    Skipped under --debug (everything is shown as it comes).
    """
    if _state["debug"]:
        yield
        return
    sys.stderr.flush()
    real = os.dup(2)
    err.file = os.fdopen(os.dup(real), "w", buffering=1, closefd=True)
    with tempfile.TemporaryFile(mode="w+") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(real, 2)
            os.close(real)
            err.file.close()
            err.file = sys.stderr
            sink.seek(0)
            for line in sink:
                if not _NATIVE_NOISE.match(line):
                    sys.stderr.write(line)


class FilterName(str, Enum):
    butterworth = "butterworth"
    oneeuro = "oneeuro"
    none = "none"


class _FpsColumn(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:5.1f} frames/s" if task.speed else "   -- frames/s", style="cyan")


class _RichProgress:
    """Adapts rich's progress bar to ``api.Progress`` (one bar per stage)."""

    def __init__(self, progress: Progress):
        self.p, self.task = progress, None

    def stage(self, name: str, total: int | None) -> None:
        if self.task is not None:
            self.p.update(self.task, total=self.p.tasks[self.task].completed)
        self.task = self.p.add_task(name, total=total)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.p.advance(self.task, n)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sportlens {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks and debug logs."),
) -> None:
    _state["debug"] = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.ERROR, format="%(levelname)s %(name)s: %(message)s")


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
    as_json: bool = typer.Option(False, "--json", help="Print summary.json to stdout instead of a table."),
) -> None:
    """Pose, joint angles, the movement's name and a report from one video.

    Writes to the output folder: report.html (open it in a browser), overlay.mp4, keypoints.parquet,
    keypoints.csv, angles.csv and summary.json. Nothing is written if the run fails.
    """
    from sportlens.api import analyze_video

    settings = _run(lambda: _settings(start, end, filter, cutoff, no_video, workers, checkpoint=checkpoint,
                                      model=model, no_recognition=no_recognition, person=person,
                                      detector=detector))
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
              detector: Path | None = None) -> AnalyzeSettings:
    s = AnalyzeSettings(start=start, end=end)
    people = _people_settings(s.people, person, detector)
    cleaning = replace(s.cleaning, filter=filter.value, **({"cutoff_hz": cutoff} if cutoff else {}))
    pose = replace(s.pose, **({"workers": workers} if workers else {}))
    recognition = replace(s.recognition, enabled=not no_recognition)
    if checkpoint or model:  # reads the checkpoint: a wrong one fails here, before minutes of pose estimation
        from sportlens.recognize.video_model import resolve_recognition

        recognition = resolve_recognition(recognition, checkpoint, model or "")
    return replace(s, cleaning=cleaning, pose=pose, output=replace(s.output, video=not no_video),
                   recognition=recognition, people=people)


def _people_settings(s: PeopleSettings, person: str, detector: Path | None) -> PeopleSettings:
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
    return replace(s, person=mode, detector=str(detector.resolve()) if detector else "")


def _run(fn):
    try:
        return fn()
    except SportlensError as e:
        if _state["debug"]:
            raise
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted: nothing was written")
        raise typer.Exit(130) from None
    except Exception as e:  # a bug: still one clear line, traceback on request
        if _state["debug"]:
            raise
        err.print(f"[bold red]internal error:[/] {type(e).__name__}: {e} (run with --debug for the traceback; "
                  "please report it)", highlight=False, soft_wrap=True)
        raise typer.Exit(70) from None


@app.command()
def tracks(
    video: Path = typer.Argument(..., help="Video file with one or more people."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder. Default: ./sportlens-out/<video name>-tracks."),
    start: Optional[float] = typer.Option(None, "--start", min=0, help="Start, in seconds."),
    end: Optional[float] = typer.Option(None, "--end", min=0, help="End, in seconds."),
    no_video: bool = typer.Option(False, "--no-video", help="Only the contact sheet and tracks.json."),
    detector: Optional[Path] = typer.Option(None, "--detector", help="A person detector from `sportlens "
                                                                     "train-detector` instead of the bundled one."),
) -> None:
    """Find every person and give each a stable ID: tracks.mp4 (IDs drawn), contact_sheet.png (one tile per
    ID) and tracks.json. Then analyse one of them with `sportlens analyze VIDEO --person ID`."""
    from sportlens.api import track_video

    settings = _run(lambda: _settings(start, end, FilterName.butterworth, None, no_video, None, person="auto",
                                      detector=detector))
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
    for w in analysis.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    typer.echo(f"report: {(out / 'report.html').resolve()}")


dataset_app = typer.Typer(help="Build skeleton datasets to train on (folder of clips + labels.csv).",
                          no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate trained models on benchmark datasets.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")
app.add_typer(eval_app, name="eval")


@app.command()
def train(
    config: Path = typer.Argument(..., help="Experiment YAML (flat keys that override the defaults), e.g. "
                                             "configs/penn_tcn.yaml."),
    set_: list[str] = typer.Option([], "--set", help="Override one setting, e.g. --set fit.epochs=10 (repeatable)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue from a run's last.pt."),
    folds: int = typer.Option(0, "--folds", help="k-fold cross-validation on the training split instead "
                                                 "(k >= 2; the test split is not used)."),
    pretrained: Optional[Path] = typer.Option(None, "--pretrained", help="Video models with a ResNet: a "
                                              "torchvision-format ImageNet state dict (.pth) to start from."),
) -> None:
    """Train an action-recognition model (skeleton or video); writes a run folder (config, log, metrics, plots)."""
    from sportlens.engine.config import load_config, peek_key
    from sportlens.engine.experiment import TrainConfig, run_cross_validation, run_training
    from sportlens.engine.video_experiment import VideoTrainConfig, is_video_model, run_video_training

    video = _run(lambda: is_video_model(str(peek_key(config, set_, "model", TrainConfig.model))))
    if video and (folds or resume):
        err.print("[bold red]error:[/] --folds and --resume are for skeleton models only so far", highlight=False)
        raise typer.Exit(2)
    if pretrained is not None:
        if not video or not pretrained.is_file():
            why = "is for video models with a ResNet backbone" if not video else f"{pretrained}: no such file"
            err.print(f"[bold red]error:[/] --pretrained {why}", highlight=False)
            raise typer.Exit(2)
        set_ = [*set_, f"model_kwargs.pretrained={pretrained.resolve()}"]
    train_fn = run_video_training if video else run_training  # same signature, different data and models
    cfg = _run(lambda: load_config(config, set_, VideoTrainConfig() if video else TrainConfig()))
    with Progress(TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("loss {task.fields[loss]:.3f} acc {task.fields[acc]:.3f}"), TimeElapsedColumn(),
                  console=err) as bar:
        task = bar.add_task("train", total=None, epoch=1, loss=0.0, acc=0.0)
        state = {"epoch": 1}

        def on_step(step, n_steps, loss, acc):
            bar.update(task, completed=step, total=n_steps, loss=loss, acc=acc, epoch=state["epoch"])

        def on_epoch(row):
            state["epoch"] = row["epoch"] + 1
            err.print(f"epoch {row['epoch']:3d}  train loss {row['train_loss']:.3f} acc {row['train_accuracy']:.3f}"
                      f"  val acc {row.get('val_accuracy', float('nan')):.3f}  {row['seconds']:.1f}s")

        if folds:
            run_dir = _run(lambda: run_cross_validation(cfg, folds, progress=on_step))
        else:
            run_dir = _run(lambda: train_fn(cfg, progress=on_step, on_epoch=on_epoch, resume=resume))
    if folds:
        cv = json.loads((run_dir / "cv.json").read_text())
        mean, std = cv["mean"].get("accuracy"), cv["std"].get("accuracy")
        if mean is not None:
            err.print(f"{cv['k']}-fold validation accuracy {mean:.4f} ± {std:.4f}")
        typer.echo(f"run: {run_dir.resolve()}")
        return
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics.get("test") or {}
    if test:
        err.print(f"test top-1 {test['top1']:.4f}  mean class acc {test['mean_class_accuracy']:.4f}  "
                  f"macro F1 {test['macro_f1']:.4f}  ({metrics['train_seconds']:.0f} s training)")
    typer.echo(f"run: {run_dir.resolve()}")


@eval_app.command("forecast")
def eval_forecast(
    protocol: str = typer.Option("B", "--protocol", help="A: one observed pose, 16 strided steps (TP-RNN's); "
                                                        "B: 10 observed frames, the next 16 at the native rate."),
    data: Optional[Path] = typer.Option(None, "--data", help="Penn Action folder holding labels/. "
                                                             "Default: shared/data/penn_action."),
    model: str = typer.Option("", "--model", help="zero (repeat the last pose), constvel, or the model name "
                                                  "of --checkpoint. Default: zero without a checkpoint."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="A trained forecaster (msgcn)."),
    as_json: bool = typer.Option(False, "--json", help="Print every metric as JSON."),
) -> None:
    """Pose forecasting on the Penn Action test split: PCK@0.05 per step, per-joint error, angle errors."""
    from sportlens.forecast.evaluation import evaluate_on_penn, make_predictor
    from sportlens.samples import shared_dir

    root = data or (shared_dir() / "data" / "penn_action" if shared_dir() else None)
    if root is None:
        err.print("[bold red]error:[/] no --data given and no shared/data/penn_action found", highlight=False)
        raise typer.Exit(2)
    predictor = _run(lambda: make_predictor(model or ("" if checkpoint else "zero"), checkpoint))
    res = _run(lambda: evaluate_on_penn(root, protocol, predictor))
    if as_json:
        typer.echo(json.dumps(to_jsonable(res), indent=2))
        return
    table = Table(title=f"Protocol {res['protocol']}: {res['n_windows']} windows", show_edge=False)
    for col in ("step", "PCK@0.05 %", "joint error / ref"):
        table.add_column(col, justify="right")
    for k, (p, e) in enumerate(zip(res["pck"], res["mpjpe_ref"]), 1):
        table.add_row(str(k), f"{100 * p:.1f}", f"{e:.4f}")
    Console().print(table)
    for a in res.get("angle_error_at_ms") or []:
        typer.echo(f"angle error at {a['ms']:.0f} ms (step {a['step']}): {a['deg']:.2f} deg")


@eval_app.command("recognition")
def eval_recognition(
    dataset: str = typer.Option("penn-action", "--dataset", help="penn-action or folder."),
    data: Optional[Path] = typer.Option(None, "--data", help="Dataset folder (Penn Action: the folder holding "
                                                             "labels/). Default: shared/data/penn_action."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="Default: the model shipped with sportlens."),
    split: str = typer.Option("test", "--split", help="Split to evaluate (the official test split by default)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full metrics as JSON."),
) -> None:
    """Top-1, mean class accuracy, macro F1 and per-class accuracy of a recognition checkpoint."""
    from sportlens.engine.experiment import evaluate_checkpoint
    from sportlens.recognize import SHIPPED

    ckpt = checkpoint or SHIPPED
    report = _run(lambda: evaluate_checkpoint(ckpt, dataset=dataset, root=str(data or ""), split=split))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"{ckpt.name} on {dataset} ({split}, {report['clips']} clips): top-1 {report['top1']:.4f}, "
               f"mean class accuracy {report['mean_class_accuracy']:.4f}, macro F1 {report['macro_f1']:.4f}")
    table = Table(show_edge=False)
    table.add_column("class")
    table.add_column("accuracy", justify="right")
    for name, acc in report["per_class_accuracy"].items():
        table.add_row(name, f"{acc:.3f}" if acc is not None else "-")
    Console().print(table)


@dataset_app.command("import-penn")
def dataset_import_penn(
    src: Path = typer.Argument(..., help="Penn Action folder (holding labels/NNNN.mat)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write (npz per clip + labels.csv)."),
) -> None:
    """Convert the official Penn Action annotations into the generic skeleton dataset format."""
    from sportlens.data import load_penn_action, save_skeleton_dataset

    clips, report = _run(lambda: load_penn_action(src))
    _run(lambda: save_skeleton_dataset(clips, out))
    err.print(str(report), highlight=False)
    typer.echo(f"dataset: {out.resolve()} ({len(clips)} clips)")


@dataset_app.command("from-videos")
def dataset_from_videos(
    videos: Path = typer.Argument(..., help="Folder of videos."),
    labels: Path = typer.Option(..., "--labels", help="CSV with columns clip,label,split[,subject]; clip = video "
                                                      "file name without extension."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write (npz per clip + labels.csv)."),
) -> None:
    """Run pose estimation on every listed video and write a skeleton dataset to train on."""
    from sportlens.dataset_builder import build_from_videos

    report = _run(lambda: build_from_videos(videos, labels, out, progress=err))
    typer.echo(f"dataset: {out.resolve()} ({report['written']} clips, {len(report['skipped'])} skipped)")
    for name, why in report["skipped"]:
        err.print(f"[yellow]skipped[/] {name}: {why}", highlight=False)


@app.command("export")
def export_cmd(
    checkpoint: Path = typer.Argument(..., help="A checkpoint written by `sportlens train` (best.pt)."),
    fmt: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output file. Default: the checkpoint's name with .onnx."),
) -> None:
    """Export a trained model (any registered model) and check it in ONNX Runtime against PyTorch."""
    from sportlens.engine.export import export_onnx

    if fmt != "onnx":
        err.print(f"[bold red]error:[/] unknown --format {fmt!r}; the supported format is onnx",
                  highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    if not checkpoint.is_file():
        err.print(f"[bold red]error:[/] {checkpoint}: no such checkpoint file", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    target = out or checkpoint.with_suffix(".onnx")
    info = _run(lambda: export_onnx(checkpoint, target))
    err.print(f"ONNX Runtime matches PyTorch (max abs difference {info['max_abs_diff']:.1e})")
    typer.echo(str(Path(info["path"]).resolve()))


@app.command("train-detector")
def train_detector_cmd(
    config: Path = typer.Argument(..., help="Detector YAML (flat keys that override the defaults), e.g. "
                                             "configs/synthetic_detector.yaml."),
    set_: list[str] = typer.Option([], "--set", help="Override one setting, e.g. --set epochs=10 (repeatable)."),
) -> None:
    """Train the YOLOv5s+CBAM person detector (seed 002) on COCO-format boxes or generated scenes;
    writes a run folder with best.pt and metrics.json (precision, recall, mAP@0.5, mAP@0.5:0.95, FPS)."""
    from sportlens.engine.config import load_config
    from sportlens.engine.detection_experiment import DetectorTrainConfig, run_detector_training

    if not config.is_file():
        err.print(f"[bold red]error:[/] {config}: no such config file", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    cfg = _run(lambda: load_config(config, set_, DetectorTrainConfig()))

    def on_epoch(row):
        val = f"  val mAP@0.5 {row['val_map50']:.3f} mAP@0.5:0.95 {row['val_map50_95']:.3f}" if "val_map50" in row else ""
        err.print(f"epoch {row['epoch']:3d}  train loss {row['train_loss']:.4f}{val}  {row['seconds']:.1f}s")

    run_dir = _run(lambda: run_detector_training(cfg, on_epoch=on_epoch))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    m = metrics[metrics["evaluated_split"]]
    err.print(f"{metrics['evaluated_split']}: P {m['precision']:.3f} R {m['recall']:.3f} mAP@0.5 {m['map50']:.3f} "
              f"mAP@0.5:0.95 {m['map50_95']:.3f}  {metrics['fps_batch1']:.1f} FPS  "
              f"({metrics['train_seconds']:.0f} s training)")
    typer.echo(f"run: {run_dir.resolve()}")


@app.command("sample-video")
def sample_video_cmd() -> None:
    """Print the path of the sample video (found in ../shared or fetched once from PyPI)."""
    from sportlens.samples import sample_video

    typer.echo(str(_run(sample_video)))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
