"""`sportlens dataset ...` and `sample-video`: data to train and try on."""
from __future__ import annotations

from pathlib import Path

import typer

from sportlens.cli._common import _run, app, dataset_app, err


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


@app.command("sample-video")
def sample_video_cmd() -> None:
    """Print the path of the sample video (found in ../shared or fetched once from PyPI)."""
    from sportlens.samples import sample_video

    typer.echo(str(_run(sample_video)))
