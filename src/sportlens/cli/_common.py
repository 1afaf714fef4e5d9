"""Shared pieces of the command line: the typer app, the error wrapper, progress adapters.

Each face module (analyze, train, evaluate, ...) registers its commands on ``app`` / ``eval_app`` /
``dataset_app``; ``sportlens.cli`` imports them all. New command groups go in a new module here.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from enum import Enum

import typer
from rich.console import Console
from rich.progress import Progress, ProgressColumn
from rich.text import Text

from sportlens import __version__
from sportlens.errors import SportlensError

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
            err.file = None  # back to whatever sys.stderr is when it next writes (not the stream of today)
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



dataset_app = typer.Typer(help="Build skeleton datasets to train on (folder of clips + labels.csv).",
                          no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate trained models on benchmark datasets.", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")
app.add_typer(eval_app, name="eval")
