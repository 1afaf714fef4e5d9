"""`sportlens reference add|list` (the reference library) and `sportlens compare ATHLETE REFERENCE`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from sportlens.cli._common import _filtered_native_stderr, _run, app
from sportlens.jsonable import to_jsonable

reference_app = typer.Typer(help="The reference library: good performances to compare athletes with.",
                            no_args_is_help=True)
app.add_typer(reference_app, name="reference")

_LIBRARY_HELP = ("Reference library folder. Default: $SPORTLENS_HOME/references, else "
                 "$XDG_DATA_HOME/sportlens/references, else ~/.local/share/sportlens/references.")


@reference_app.command("add")
def reference_add(
    name: str = typer.Argument(..., help="Name of the reference (letters, digits, '.', '_', '-')."),
    source: Path = typer.Argument(..., help="A `sportlens analyze` output folder, its keypoints.parquet, or a video "
                                            "(analysed now)."),
    movement: str = typer.Option(..., "--movement", help="Movement type, e.g. squat, jumping-jacks."),
    view: str = typer.Option("", "--view", help="Camera view: side, front, back or other. Default: measured "
                                                 "from the pose (side or front)."),
    joints: str = typer.Option("", "--joints", help="Comma-separated joints that matter: knee, hip, elbow, "
                                                     "shoulder, ankle, trunk or angle names (left_knee_flexion). "
                                                     "Default: the joint angles that move in the reference."),
    start: Optional[float] = typer.Option(None, "--start", min=0, help="Start of the reference piece (s)."),
    end: Optional[float] = typer.Option(None, "--end", min=0, help="End of the reference piece (s)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing reference of that name."),
    library: Optional[Path] = typer.Option(None, "--library", help=_LIBRARY_HELP),
) -> None:
    """Store a good performance as a named reference (cleaned keypoints + a card)."""
    from sportlens.assess.reference import add_reference, references_dir

    with _filtered_native_stderr():
        card = _run(lambda: add_reference(name, source, movement=movement, view=view, joints=joints or None,
                                          force=force, root=library, start=start, end=end))
    typer.echo(f"reference {card.name!r} ({card.movement}, {card.view} view, {card.frames} frames, "
               f"{card.duration_s:.1f} s) saved in {references_dir(library) / card.name}; joints: "
               f"{', '.join(card.joints)}")


@reference_app.command("list")
def reference_list(
    library: Optional[Path] = typer.Option(None, "--library", help=_LIBRARY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the cards as JSON."),
) -> None:
    """The references of the library."""
    from sportlens.assess.reference import list_references, references_dir

    cards = _run(lambda: list_references(library))
    if as_json:
        typer.echo(json.dumps([to_jsonable(c.to_dict()) for c in cards], indent=2))
        return
    if not cards:
        typer.echo(f"no reference in {references_dir(library)} (add one with `sportlens reference add`)")
        return
    table = Table(title=str(references_dir(library)), show_edge=False)
    for col in ("name", "movement", "view", "duration", "joints", "created"):
        table.add_column(col)
    for c in cards:
        table.add_row(c.name, c.movement, c.view, f"{c.duration_s:.1f} s", ", ".join(c.joints), c.created[:10])
    Console(width=200).print(table)


@app.command("compare")
def compare_cmd(
    athlete: Path = typer.Argument(..., help="The athlete's performance: a `sportlens analyze` output folder, its "
                                             "keypoints.parquet, or a video (analysed now)."),
    reference: str = typer.Argument(..., help="A reference name in the library, or a path (reference folder, "
                                              "analyze folder, keypoints.parquet or video)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for compare_report.html and "
                                                                  "comparison.json. Default: ./sportlens-compare."),
    movement: str = typer.Option("", "--movement", help="The athlete's movement; refused if it is not the "
                                                         "reference's."),
    view: str = typer.Option("", "--view", help="The athlete's camera view; refused if it is not the reference's."),
    joints: str = typer.Option("", "--joints", help="Joints to compare (default: the reference's)."),
    start: Optional[float] = typer.Option(None, "--start", min=0, help="Start of the athlete's piece (s)."),
    end: Optional[float] = typer.Option(None, "--end", min=0, help="End of the athlete's piece (s)."),
    library: Optional[Path] = typer.Option(None, "--library", help=_LIBRARY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print comparison.json to stdout instead of a summary."),
) -> None:
    """Score a performance against a reference (0-100), with per-joint deviations, and write a report."""
    from sportlens.assess.compare import compare
    from sportlens.report.compare_report import HTML_NAME, write_compare_report

    with _filtered_native_stderr():
        cmp = _run(lambda: compare(athlete, reference, movement=movement, view=view, joints=joints or None,
                                   library=library, start=start, end=end))
    folder = out or Path("sportlens-compare")
    _run(lambda: write_compare_report(cmp, folder))
    if as_json:
        typer.echo(json.dumps(to_jsonable(cmp.to_dict()), indent=2))
        return
    typer.echo(f"score {cmp.score:.0f}/100 against {cmp.reference!r}"
               + (" (athlete mirrored to the reference's side)" if cmp.mirrored else ""))
    table = Table(show_edge=False)
    for col in ("joint", "mean |dev|", "ROM athlete", "ROM ref", "timing", "score"):
        table.add_column(col, justify="right" if col != "joint" else "left")
    for j in cmp.joints:
        table.add_row(j.name, f"{j.mean_abs_deviation:.1f}°", f"{j.rom_athlete:.0f}°", f"{j.rom_reference:.0f}°",
                      f"{j.timing_offset_s:+.2f} s", f"{j.score:.0f}")
    Console(width=140).print(table)
    for d in cmp.deviations[:5]:
        typer.echo(f"  {d.quantity} ({d.kind}{', ' + d.phase if d.phase else ''}): {d.value:.2f} vs "
                   f"{d.reference:.2f} {d.unit} at {d.time_s:.2f} s, severity {d.severity:.1f}")
    typer.echo(f"report: {folder / HTML_NAME}")
