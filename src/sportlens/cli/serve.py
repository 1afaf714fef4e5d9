"""`sportlens serve`: the web app (sportlens.web) on uvicorn, with the analysis workers.

Registered by naming "serve" in ``sportlens.cli.COMMAND_MODULES``.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from sportlens.cli._common import _run, app, err


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Address to listen on. Anything but loopback (e.g. 0.0.0.0) requires the "
                                  "access token on every request."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=0,
                                help="Analysis worker processes (jobs analysed at once; 0 = queue only)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir",
                                            help="Data folder (database, videos, results). Default: "
                                                 "$SPORTLENS_HOME, else ~/.local/share/sportlens."),
    database_url: Optional[str] = typer.Option(None, "--database-url",
                                               help="postgresql://user:pw@host/db instead of the SQLite file "
                                                    "in the data folder (or $SPORTLENS_DATABASE_URL)."),
    max_upload_mb: int = typer.Option(1024, "--max-upload-mb", min=1, help="Largest accepted upload (MiB)."),
    require_token: bool = typer.Option(False, "--require-token",
                                       help="Ask for the token on loopback too (a machine shared with others)."),
    trusted_origin: Optional[List[str]] = typer.Option(
        None, "--trusted-origin", help="Public origin of a reverse proxy in front (e.g. https://club.example.org) "
                                       "whose form posts are accepted; repeat for several."),
    new_token: bool = typer.Option(False, "--new-token",
                                   help="Print a new access token and exit (with --athlete: limited to those "
                                        "athletes; without: full access)."),
    athlete: Optional[List[int]] = typer.Option(None, "--athlete", help="Athlete id a --new-token may see "
                                                                        "(repeat for several)."),
) -> None:
    """Run the web app: upload videos in a browser, follow the analyses, compare sessions.

    The first start prints an admin access token once; keep it (only its hash is stored).
    """
    from sportlens.web.settings import MiB, WebSettings

    settings = WebSettings(data_dir=data_dir, database_url=database_url or "", host=host, port=port,
                           workers=workers, max_upload_bytes=max_upload_mb * MiB,
                           require_token=True if require_token else None,
                           trusted_origins=tuple(o.rstrip("/") for o in trusted_origin or ()))
    if new_token:
        _run(lambda: _issue(settings, athlete))
        return
    _run(lambda: _serve(settings))


def _issue(settings, athletes: list[int] | None) -> None:
    from sportlens.store import open_store
    from sportlens.web.auth import TokenStore

    with open_store(url=settings.database_url or None, data_dir=settings.data_dir) as store:
        name = f"athletes {','.join(map(str, athletes))}" if athletes else "admin"
        token = TokenStore(store.data_dir).issue(name, athletes or None)
    typer.echo(token)
    err.print(f"new token for {name}: shown once, keep it", highlight=False)


def _serve(settings) -> None:
    import uvicorn

    from sportlens.web import create_app

    web = create_app(settings)
    where = f"http://{'[' + settings.host + ']' if ':' in settings.host else settings.host}:{settings.port}/"
    auth = "token required" if settings.token_required else "no token needed on loopback"
    err.print(f"sportlens: serving on {where} ({auth}); data in {web.state.store.data_dir}", highlight=False)
    uvicorn.run(web, host=settings.host, port=settings.port, log_level="warning", proxy_headers=False)
