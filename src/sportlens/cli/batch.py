"""`sportlens batch`: every video of a folder, analysed in parallel with Ray (locally or on a cluster)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sportlens.cli._common import FilterName, _run, app, err


class _BarProgress:
    """Adapts rich's progress bar to ``batch.BatchProgress``: one bar, one line per finished video."""

    def __init__(self, bar: Progress):
        self.bar, self.task = bar, None

    def start(self, total: int, skipped: int) -> None:
        if skipped:
            self.bar.console.print(f"{skipped} of {total} videos already analysed: skipped (resume)")
        self.task = self.bar.add_task("videos", total=total, completed=skipped)

    def finished(self, row: dict[str, Any]) -> None:
        if row["status"] == "ok":
            rate = f"{row['frames']} frames, person in {row['detection_rate']:.0%}" if row["frames"] else ""
            self.bar.console.print(f"[green]ok[/]     {row['name']}  {row['seconds']:.1f} s  {rate}", highlight=False)
        else:
            self.bar.console.print(f"[red]failed[/] {row['name']}  {row['error']}", highlight=False, soft_wrap=True)
        self.bar.advance(self.task, 1)


@app.command()
def batch(
    input_dir: Path = typer.Argument(..., help="Folder holding the videos (not searched recursively)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: one sub-folder per video (named after the "
                                                      "file), batch_manifest.json and sessions.parquet."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1,
                                          help="Videos analysed at once (default: every core; on a cluster, "
                                               "every CPU it has)."),
    ray_address: str = typer.Option("", "--ray-address", help="Join a running Ray cluster (HOST:PORT or auto) "
                                                              "instead of starting Ray on this machine."),
    start: Optional[float] = typer.Option(None, "--start", min=0, help="Start of the analysed part of each "
                                                                       "video, in seconds."),
    end: Optional[float] = typer.Option(None, "--end", min=0, help="End of the analysed part, in seconds."),
    no_video: bool = typer.Option(False, "--no-video", help="Skip the overlay videos (faster)."),
    no_recognition: bool = typer.Option(False, "--no-recognition", help="Do not name the movements."),
) -> None:
    """Analyse every video of INPUT_DIR in parallel; resumable (finished videos are skipped).

    Each video gets OUT/<name>/ exactly as `sportlens analyze` writes it; OUT/sessions.parquet has one
    row per video (duration, fps, frames, detection rate, top action, ranges of motion, status, error).
    A failed video is retried once, then reported; the others go on. Exit code 1 if any failed.
    """
    from sportlens.batch import BatchSettings, run_batch
    from sportlens.cli.analyze import _settings

    analyze = _run(lambda: _settings(start, end, FilterName.butterworth, None, no_video, None,
                                     no_recognition=no_recognition))
    settings = BatchSettings(workers=workers, ray_address=ray_address)
    with Progress(TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(), TextColumn("videos"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=err) as bar:
        report = _run(lambda: run_batch(input_dir, out, settings, analyze, progress=_BarProgress(bar)))
    rate = f", {report.frames / report.seconds:.1f} frames/s" if report.frames else ""
    err.print(f"{report.analysed} analysed, {report.skipped} skipped, {len(report.failed)} failed "
              f"in {report.seconds:.0f} s{rate}", highlight=False)
    for name, error in report.failed:
        err.print(f"[bold red]failed:[/] {name}: {error}", highlight=False, soft_wrap=True)
    typer.echo(f"sessions: {report.sessions}")
    if report.failed:
        raise typer.Exit(1)
