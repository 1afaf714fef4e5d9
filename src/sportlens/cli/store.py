"""`sportlens store verify|gc`: check the data folder against the database, remove what a crash left behind.

Registered by naming "store" in ``sportlens.cli.COMMAND_MODULES``.

Decisions:
- Both commands are thin faces over ``Store.verify`` / ``Store.gc`` (``sportlens.store``): the write protocol
  and gc's race rules live there. Here: which rows point at a missing file (so an admin knows which sessions
  or analyses are damaged), ages, and exit codes.
- ``verify`` exits 1 when a row points at a missing file or (``--deep``) a file no longer matches its hash:
  that is data loss and scripts must notice. Orphan files, unused artifact rows and temp files are normal
  after a crash or a deletion (gc's business): listed, exit 0.
- Neither command creates a store: a data folder that does not exist is an error (a typo in --data-dir
  would otherwise "verify" a fresh, empty store and report all is well).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from sportlens.cli._common import _run, app
from sportlens.errors import InputError

store_app = typer.Typer(help="Check and clean the data folder (database + content-addressed files).",
                        no_args_is_help=True)
app.add_typer(store_app, name="store")

_DATA_HELP = "Data folder (database, videos, results). Default: $SPORTLENS_HOME, else ~/.local/share/sportlens."
_URL_HELP = "postgresql://user:pw@host/db instead of the SQLite file in the data folder (or $SPORTLENS_DATABASE_URL)."


@store_app.command("verify")
def verify(
    deep: bool = typer.Option(False, "--deep", help="Re-hash every file to find damaged ones (slow)."),
    grace: float = typer.Option(3600.0, "--grace", min=0, help="Age (s) after which gc would remove an orphan."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=_DATA_HELP),
    database_url: Optional[str] = typer.Option(None, "--database-url", help=_URL_HELP),
) -> None:
    """List rows pointing at missing files (exit 1), orphan files, unused artifact rows and temp files."""
    lines, ok = _run(lambda: _verify(data_dir, database_url, deep, grace))
    for line in lines:
        typer.echo(line)
    if not ok:
        raise typer.Exit(1)


@store_app.command("gc")
def gc(
    grace: float = typer.Option(3600.0, "--grace", min=0,
                                help="Only remove orphans, unused rows and temp files older than this (s): an "
                                     "upload in progress has younger ones."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help=_DATA_HELP),
    database_url: Optional[str] = typer.Option(None, "--database-url", help=_URL_HELP),
) -> None:
    """Remove orphan files, unused artifact rows and left-over temp files older than the grace period."""
    for line in _run(lambda: _gc(data_dir, database_url, grace)):
        typer.echo(line)


def _open(data_dir: Path | None, database_url: str | None):
    from sportlens.store import open_store, resolve_config

    config = resolve_config(database_url, data_dir)
    if not config.data_dir.is_dir():
        raise InputError(f"{config.data_dir}: no such data folder; give the one `sportlens serve` uses "
                         "(--data-dir or $SPORTLENS_HOME)")
    return open_store(config)


def _verify(data_dir, database_url, deep: bool, grace: float) -> tuple[list[str], bool]:
    with _open(data_dir, database_url) as store:
        report = store.verify(deep=deep)
        users = _users(store, report.missing + report.corrupt)
        now = time.time()
        lines = [f"store: {store.where}, files in {store.data_dir}"]
        for key in report.missing:
            lines.append(f"MISSING file of artifact {key}, used by {users.get(key) or 'nothing'}")
        for key in report.corrupt:
            lines.append(f"DAMAGED file of artifact {key} (content no longer matches), used by "
                         f"{users.get(key) or 'nothing'}")
        for key in report.orphans:
            age = _age(store.artifacts.path(key), now)
            lines.append(f"orphan file {key} ({_size(store.artifacts.path(key))}, {_when(age)}"
                         f"{', gc removes it' if age is not None and age >= grace else ''})")
        lines += [f"unused artifact row {key}" for key in report.unreferenced]
        for path in report.temp_files:
            lines.append(f"temp file {path.name} ({_when(_age(path, now))})")
        lines.append(_summary(report, deep))
    return lines, report.ok


def _gc(data_dir, database_url, grace: float) -> list[str]:
    with _open(data_dir, database_url) as store:
        removed = store.gc(grace_s=grace)
        left = store.verify()
    lines = [f"removed unused artifact row {k}" for k in removed.unreferenced]
    lines += [f"removed orphan file {k}" for k in removed.orphans]
    lines += [f"removed temp file {p.name}" for p in removed.temp_files]
    kept = len(left.orphans) + len(left.temp_files) + len(left.unreferenced)
    lines.append(f"gc: removed {len(removed.unreferenced)} unused row(s), {len(removed.orphans)} orphan file(s), "
                 f"{len(removed.temp_files)} temp file(s); {kept} younger than {grace:g} s kept")
    if left.missing:
        lines.append(f"{len(left.missing)} row(s) point at missing files: run `sportlens store verify`")
    return lines


def _users(store, keys: list[str]) -> dict[str, str]:
    """key -> "session 3, analysis 5 (overlay.mp4), reference 1": the rows a damaged file breaks."""
    from sqlalchemy import select

    from sportlens.store.models import Analysis, AnalysisFile, Reference, Session

    found: dict[str, list[str]] = {k: [] for k in keys}
    if not keys:
        return {}
    with store.session() as db:
        for sid, key in db.execute(select(Session.id, Session.video_key).where(Session.video_key.in_(keys))):
            found[key].append(f"session {sid} (video)")
        for aid, name, key in db.execute(select(AnalysisFile.analysis_id, AnalysisFile.name,
                                                AnalysisFile.artifact_key).where(AnalysisFile.artifact_key.in_(keys))):
            found[key].append(f"analysis {aid} ({name})")
        for column in (Analysis.report_key, Analysis.overlay_key, Analysis.keypoints_key):
            for aid, key in db.execute(select(Analysis.id, column).where(column.in_(keys))):
                if not any(u.startswith(f"analysis {aid} ") for u in found[key]):
                    found[key].append(f"analysis {aid}")
        for rid, key in db.execute(select(Reference.id, Reference.keypoints_key)
                                   .where(Reference.keypoints_key.in_(keys))):
            found[key].append(f"reference {rid} (keypoints)")
    return {k: ", ".join(v) for k, v in found.items()}


def _age(path: Path, now: float) -> float | None:
    try:
        return now - path.stat().st_mtime
    except OSError:
        return None


def _when(age: float | None) -> str:
    if age is None:
        return "age unknown"
    for unit, seconds in (("d", 86400), ("h", 3600), ("min", 60)):
        if age >= seconds:
            return f"{age / seconds:.1f} {unit} old"
    return f"{age:.0f} s old"


def _size(path: Path) -> str:
    try:
        n = path.stat().st_size
    except OSError:
        return "size unknown"
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n} bytes"


def _summary(report, deep: bool) -> str:
    head = "OK" if report.ok else "PROBLEMS"
    return (f"verify: {head}: {len(report.missing)} missing file(s), "
            f"{len(report.corrupt) if deep else 'unchecked (--deep)'} damaged, {len(report.orphans)} orphan file(s), "
            f"{len(report.unreferenced)} unused row(s), {len(report.temp_files)} temp file(s)")
