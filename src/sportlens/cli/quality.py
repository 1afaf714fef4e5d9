"""`sportlens eval quality` and `sportlens train-quality`: learned movement-quality models (issue 7).

``eval quality`` runs the leave-one-subject-out protocol (training included) of ``assess.loso`` with the
learned model of ``assess.quality``; on UI-PRMD it also prints the logistic angle baseline and the
training-free DTW-to-reference baseline (``assess.dtw_baseline``) beside it. ``train-quality`` trains
on every recording and saves the model for ``assess.quality.apply_quality_model``. ``--model tcn`` trains a
temporal CNN per movement on resampled sequences with the torch engine (``assess.quality_seq``) instead;
``--epochs`` sets its training length, ``--pooled`` trains one network for all movements.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from sportlens.cli._common import _run, app, err, eval_app
from sportlens.errors import InputError
from sportlens.jsonable import to_jsonable

DATASETS = ("ui-prmd", "folder")


def _parse_movements(text: str) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise InputError(f"--movements {text!r}: give UI-PRMD movement numbers separated by commas, e.g. 1,5") from None


def _load(dataset: str, data: Optional[Path], movements: str, skeleton: str) -> tuple[list, str]:
    """-> (QualitySample list, description of what was read)."""
    if dataset not in DATASETS:
        raise InputError(f"--dataset {dataset!r}: use one of {', '.join(DATASETS)}")
    if dataset == "folder":
        from sportlens.assess.quality import load_labelled_recordings

        if data is None:
            raise InputError("--dataset folder needs --data DIR (a folder with labels.csv: "
                             "clip,label,subject,movement)")
        samples = load_labelled_recordings(data, skeleton)
        return samples, f"{len(samples)} recordings from {data}"
    from sportlens.data.ui_prmd import load_ui_prmd
    from sportlens.samples import shared_dir

    root = data or (shared_dir() / "data" / "ui_prmd" if shared_dir() else None)
    if root is None:
        raise InputError("no --data given and no shared/data/ui_prmd found; point --data to the UI-PRMD folder")
    samples, report = load_ui_prmd(root, movements=_parse_movements(movements))
    return samples, str(report)


def _seq_settings(epochs: int | None, pooled: bool = False):
    from sportlens.assess.quality_seq import SequenceSettings

    try:
        return SequenceSettings(pooled=pooled, **({} if epochs is None else {"epochs": epochs}))
    except ValueError as e:
        raise InputError(f"--epochs: {e}") from None


def _settings(model: str, trees: int | None):
    from sportlens.assess.quality import QualitySettings

    try:  # trees None: the default of QualitySettings (the one place it is written)
        return QualitySettings(model=model, **({} if trees is None else {"n_trees": trees}))
    except ValueError as e:
        raise InputError(f"--model/--trees: {e}") from None


def _dtw(samples: list) -> dict[str, Any]:
    """The training-free baseline, when its module is installed (another engineer's work)."""
    try:
        from sportlens.assess.dtw_baseline import dtw_baseline
    except ImportError:
        return {"note": "sportlens.assess.dtw_baseline is not available in this version: no DTW baseline"}
    return dtw_baseline(samples)


def evaluate_quality(dataset: str, data: Optional[Path], movements: str = "", model: str = "extra_trees",
                     trees: int | None = None, skeleton: str = "penn13", dtw: bool = True,
                     epochs: int | None = None, pooled: bool = False) -> dict[str, Any]:
    """LOSO of the learned model (+ baselines on UI-PRMD) -> a JSON-ready dict."""
    from sportlens.assess.loso import evaluate_loso, quality_classifier, quality_featurize

    samples, described = _load(dataset, data, movements, skeleton)
    if any(s.score is not None for s in samples):
        raise InputError(f"{data}: the labels are scores; `eval quality` measures correct/incorrect classification. "
                         "Train a regression model with `sportlens train-quality` instead")
    settings = _settings(model, trees)
    if settings.model == "tcn":  # a torch network per movement and fold (assess.quality_seq)
        from sportlens.assess.quality_seq import evaluate_loso_seq

        learned = evaluate_loso_seq(samples, settings, _seq_settings(epochs, pooled))
    else:
        learned = evaluate_loso(samples, quality_classifier(settings), quality_featurize(settings))
    out: dict[str, Any] = {"dataset": dataset, "data": described, "protocol": "leave-one-subject-out, per movement",
                           "model": settings.model, "learned": learned.to_dict()}
    out["learned"].pop("predictions")
    if dataset == "ui-prmd":
        out["logistic_baseline"] = evaluate_loso(samples).to_dict()
        out["logistic_baseline"].pop("predictions")
        out["dtw_baseline"] = _dtw(samples) if dtw else {"note": "skipped (--no-dtw)"}
    return out


def _print(res: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from sportlens.assess.loso import movement_name

    typer.echo(res["data"])
    learned, base = res["learned"], res.get("logistic_baseline")
    dtw = (res.get("dtw_baseline") or {}).get("per_movement", {})
    table = Table(title=f"{res['protocol']} ({res['model']})", show_edge=False)
    for col in ("movement", "n", "accuracy %", "AUC", "logistic acc %", "logistic AUC", "DTW AUC"):
        table.add_column(col, justify="right")
    for m, r in learned["per_movement"].items():
        b, d = (base or {}).get("per_movement", {}).get(m), dtw.get(m)
        table.add_row(movement_name(m), str(int(r["n"])), f"{100 * r['accuracy']:.1f}", f"{r['auc']:.3f}",
                      f"{100 * b['accuracy']:.1f}" if b else "-", f"{b['auc']:.3f}" if b else "-",
                      f"{d['auc']:.3f}" if d else "-")
    mean_dtw = (res.get("dtw_baseline") or {}).get("mean_auc")
    table.add_row("mean", "", f"{100 * learned['mean_accuracy']:.1f}", f"{learned['mean_auc']:.3f}",
                  f"{100 * base['mean_accuracy']:.1f}" if base else "-", f"{base['mean_auc']:.3f}" if base else "-",
                  f"{mean_dtw:.3f}" if mean_dtw is not None else "-")
    Console().print(table)
    note = (res.get("dtw_baseline") or {}).get("note")
    if note:
        typer.echo(f"DTW baseline: {note}")


@eval_app.command("quality")
def eval_quality(
    dataset: str = typer.Option("ui-prmd", "--dataset", help="ui-prmd, or folder (your own labelled recordings)."),
    data: Optional[Path] = typer.Option(None, "--data", help="UI-PRMD folder (holding 'Segmented Movements'; "
                                                             "default shared/data/ui_prmd) or a recordings folder."),
    movements: str = typer.Option("", "--movements", help="UI-PRMD movements to evaluate, e.g. 1,5 (default all)."),
    model: str = typer.Option("extra_trees", "--model", help="extra_trees (default), logistic, or tcn (a temporal "
                                                             "CNN per movement and fold, torch engine)."),
    trees: Optional[int] = typer.Option(None, "--trees", help="Trees per feature view (default: QualitySettings)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="tcn: training epochs (default: SequenceSettings)."),
    pooled: bool = typer.Option(False, "--pooled", help="tcn: one network for all movements (movement as input) "
                                                        "instead of one per movement."),
    skeleton: str = typer.Option("penn13", "--skeleton", help="Layout a recordings folder is converted to."),
    dtw: bool = typer.Option(True, "--dtw/--no-dtw", help="Also run the training-free DTW baseline (minutes)."),
    as_json: bool = typer.Option(False, "--json", help="Print every number as JSON."),
) -> None:
    """Correct-vs-incorrect quality: leave-one-subject-out accuracy and AUC per movement, with baselines."""
    res = _run(lambda: evaluate_quality(dataset, data, movements, model, trees, skeleton, dtw, epochs, pooled))
    if as_json:
        typer.echo(json.dumps(to_jsonable(res), indent=2))
    else:
        _print(res)


@app.command("train-quality")
def train_quality(
    out: Path = typer.Option(..., "--out", help="Where to write the model (e.g. quality.pkl)."),
    dataset: str = typer.Option("ui-prmd", "--dataset", help="ui-prmd, or folder (your own labelled recordings)."),
    data: Optional[Path] = typer.Option(None, "--data", help="UI-PRMD folder or a recordings folder with labels.csv "
                                                             "(clip,label,subject,movement; label correct/incorrect "
                                                             "or a number)."),
    movements: str = typer.Option("", "--movements", help="UI-PRMD movements to train, e.g. 1,5 (default all)."),
    model: str = typer.Option("extra_trees", "--model", help="extra_trees (default), logistic, or tcn (a temporal "
                                                             "CNN per movement, torch engine)."),
    trees: Optional[int] = typer.Option(None, "--trees", help="Trees per feature view (default: QualitySettings)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="tcn: training epochs (default: SequenceSettings)."),
    pooled: bool = typer.Option(False, "--pooled", help="tcn: one network for all movements (movement as input) "
                                                        "instead of one per movement."),
    skeleton: str = typer.Option("penn13", "--skeleton", help="Layout a recordings folder is converted to."),
) -> None:
    """Train a quality model on all recordings and save it (apply: sportlens.assess.quality.apply_quality_model)."""
    from sportlens.assess.quality import save_quality_model, train_quality_model

    def work() -> Any:
        samples, described = _load(dataset, data, movements, skeleton)
        settings = _settings(model, trees)
        if settings.model == "tcn":
            from sportlens.assess.quality_seq import train_sequence_quality_model

            qm = train_sequence_quality_model(samples, settings, _seq_settings(epochs, pooled), trained_on=described)
        else:
            qm = train_quality_model(samples, settings, trained_on=described)
        return qm, save_quality_model(qm, out)

    qm, path = _run(work)
    err.print(f"{qm.task} model ({qm.settings.model}) for movement(s) {', '.join(qm.movements)} "
              f"written to {path}", highlight=False)
