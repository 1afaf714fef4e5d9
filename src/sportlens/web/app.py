"""The app factory: ``create_app(settings) -> FastAPI``.

Order of the layers a request passes: ``SecurityMiddleware`` (host, origin, token, body size, headers) ->
FastAPI's exception handlers (``errors``: plain messages, never a traceback) -> routes (``routes_pages``
for HTML, ``routes_api`` for JSON under ``/api``, documented in the OpenAPI schema at
``/api/openapi.json``). FastAPI's interactive docs pages are off: they load their scripts from a CDN,
and this server loads nothing from outside.
"""
from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from sportlens import __version__
from sportlens.web import errors
from sportlens.web.auth import TokenStore
from sportlens.web.security import SecurityMiddleware
from sportlens.web.settings import WebSettings

HERE = Path(__file__).parent
log = logging.getLogger("sportlens.web")


def create_app(settings: WebSettings = WebSettings(), store=None) -> FastAPI:
    """The web app over ``store`` (opened from the settings when None, and closed with the app).

    On the first start (no token yet) an admin token is created and printed once on stderr.
    """
    from sportlens.store import open_store

    own_store = store is None
    if own_store:
        store = open_store(url=settings.database_url or None, data_dir=settings.data_dir)
    tokens = TokenStore(store.data_dir)
    first = tokens.ensure_admin()
    if first:
        _announce(first, store.data_dir)
    app = FastAPI(title="sportlens", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json", lifespan=_lifespan(settings, store, own_store),
                  description="Sports video analysis: athletes, sessions, analysis jobs and their results.")
    app.state.settings, app.state.store, app.state.tokens = settings, store, tokens
    app.state.templates = _templates()
    app.state.first_token = first  # the CLI prints it; tests log in with it
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    errors.install(app)
    from sportlens.web import routes_api, routes_pages

    app.include_router(routes_pages.router)
    app.include_router(routes_api.router)
    app.add_middleware(SecurityMiddleware, settings=settings, tokens=tokens)
    return app


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")  # autoescaping on (Starlette's default)
    templates.env.globals["version"] = __version__
    return templates


def _announce(token: str, data_dir: Path) -> None:
    """Shown once: only the token's hash is kept (``tokens.json``)."""
    print(f"sportlens: first start: the admin access token is\n\n    {token}\n\n"
          f"Keep it: it is shown only this once (its hash is in {data_dir / 'tokens.json'}). "
          "Paste it on the login page or send it as 'Authorization: Bearer <token>'.", file=sys.stderr, flush=True)


def _lifespan(settings: WebSettings, store, own_store: bool):
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        pool = None
        if settings.start_workers and settings.workers > 0:
            from sportlens.store.worker import WorkerPool, WorkerSettings

            pool = WorkerPool(store.config, WorkerSettings(concurrency=settings.workers))
            pool.start()
        app.state.workers = pool
        try:
            yield
        finally:
            if pool is not None:
                pool.stop()
            if own_store:
                store.close()

    return lifespan
