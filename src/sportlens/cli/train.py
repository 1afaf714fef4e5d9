"""`sportlens train`, `train-detector` and `export`: training and shipping models."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from sportlens.cli._common import _run, app, err


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
    nproc: int = typer.Option(1, "--nproc", min=1, help="Skeleton models: train in N processes on this machine "
                              "with DistributedDataParallel (gloo on CPU, nccl on GPUs); data.batch_size is the "
                              "global batch, split between them. Several machines: start it with torchrun."),
) -> None:
    """Train an action-recognition model (skeleton or video); writes a run folder (config, log, metrics, plots)."""
    from sportlens.engine.config import load_config, peek_key
    from sportlens.engine.distributed import launched_by_torchrun
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
    if nproc > 1 or launched_by_torchrun():
        _train_ddp(cfg, nproc, video=video, folds=folds, resume=resume)
        return
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


def _train_ddp(cfg, nproc: int, *, video: bool, folds: int, resume: Optional[Path]) -> None:
    """DistributedDataParallel training (sportlens.engine.distributed): ranks are other processes,
    so rank 0 prints a line per epoch (no live bar); under torchrun only rank 0 prints."""
    from sportlens.engine.distributed import exit_rank, launched_by_torchrun, train_data_parallel

    why = ("video models" if video else "--folds" if folds else
           "--nproc under torchrun (torchrun starts the processes)" if nproc > 1 and launched_by_torchrun() else "")
    if why:
        err.print(f"[bold red]error:[/] distributed training does not support {why}", highlight=False)
        raise typer.Exit(2)
    torchrun = launched_by_torchrun()
    run_dir = _run(lambda: train_data_parallel(cfg, 0 if torchrun else nproc, resume=resume, on_epoch=_print_epoch))
    if run_dir is not None:  # rank 0 (or the launching process)
        test = json.loads((run_dir / "metrics.json").read_text()).get("test") or {}
        if test:
            err.print(f"test top-1 {test['top1']:.4f}  mean class acc {test['mean_class_accuracy']:.4f}  "
                      f"macro F1 {test['macro_f1']:.4f}", highlight=False)
        typer.echo(f"run: {run_dir.resolve()}")
    if torchrun:  # this process was a rank: leave as the spawned ranks do (no gloo teardown at exit)
        exit_rank()


def _print_epoch(row: dict) -> None:
    """Rank 0's epoch line (module level: it is pickled into the spawned process)."""
    err.print(f"epoch {row['epoch']:3d}  train loss {row['train_loss']:.3f} acc {row['train_accuracy']:.3f}"
              f"  val acc {row.get('val_accuracy', float('nan')):.3f}  {row['seconds']:.1f}s", highlight=False)


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
