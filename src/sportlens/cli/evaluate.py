"""`sportlens eval ...`: benchmark evaluations of trained models."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from sportlens.cli._common import _run, err, eval_app
from sportlens.jsonable import to_jsonable


@eval_app.command("forecast")
def eval_forecast(
    protocol: str = typer.Option("B", "--protocol", help="A: one observed pose, 16 strided steps (TP-RNN's); "
                                                        "B: 10 observed frames, the next 16 at the native rate."),
    data: Optional[Path] = typer.Option(None, "--data", help="Penn Action folder holding labels/. "
                                                             "Default: shared/data/penn_action."),
    model: str = typer.Option("", "--model", help="zero (repeat the last pose), constvel, msgcn (the model "
                                                  "shipped with sportlens, the default), knn (motion matching on "
                                                  "the train split of --data, or on the index --checkpoint "
                                                  "KNN.npz, with its learned metric if it was saved by python -m "
                                                  "sportlens.forecast.knn_metric), knn+msgcn (its blend with the "
                                                  "shipped model), or the model name of --checkpoint."),
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
    if model in ("knn", "knn+msgcn"):
        from sportlens.forecast.knn import make_knn_predictor

        predictor = _run(lambda: make_knn_predictor(model, root, checkpoint))
    else:
        predictor = _run(lambda: make_predictor(model, checkpoint))
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
    tta_flip: Optional[bool] = typer.Option(None, "--tta-flip/--no-tta-flip",
                                            help="Also classify the mirrored clip and average both (flip test-time "
                                                 "augmentation). Default: as the checkpoint was trained."),
    as_json: bool = typer.Option(False, "--json", help="Print the full metrics as JSON."),
) -> None:
    """Top-1, mean class accuracy, macro F1 and per-class accuracy of a recognition checkpoint."""
    from sportlens.engine.experiment import evaluate_checkpoint
    from sportlens.recognize import SHIPPED

    ckpt = checkpoint or SHIPPED
    report = _run(lambda: evaluate_checkpoint(ckpt, dataset=dataset, root=str(data or ""), split=split,
                                              tta_flip=tta_flip))
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
