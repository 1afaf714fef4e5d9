"""The web app (``sportlens serve``): coaches upload videos, follow the analysis, read and compare results.

Shape: FastAPI back end (``app.create_app``), server-rendered Jinja2 pages (``templates/``) with small local
scripts and one stylesheet (``static/``: plain SVG charts, nothing loaded from outside), a JSON API under
``/api`` documented by its OpenAPI schema (``/api/openapi.json``). Analyses run in the store's worker
processes (``sportlens.store.worker``), which call ``sportlens.api.analyze_video``; the web process only
stores uploads, queues jobs and shows results. Layers: web imports store, api and below; nothing imports web.

Modules: ``settings`` (WebSettings), ``auth`` (hashed tokens, principals), ``security`` (one middleware:
host, origin/CSRF, token, body size, headers), ``uploads`` (name, size, magic bytes, truncation, PyAV),
``errors`` (plain messages, never a traceback), ``access`` (per-athlete checks), ``presenters`` (rows ->
what pages and charts show), ``routes_pages`` / ``routes_api``.

Security decisions are written where they are implemented: ``auth`` (tokens), ``security`` (CSRF:
SameSite=Strict cookie + Origin check; DNS rebinding; body limits; CSP), ``uploads`` (sniffing, names),
``access`` (404 for other athletes' rows), ``errors`` (error ids).
"""
from sportlens.web.settings import WebSettings


def create_app(settings: WebSettings = WebSettings(), store=None):
    """See ``sportlens.web.app.create_app`` (imported lazily: FastAPI loads only when the app is built)."""
    from sportlens.web.app import create_app as _create

    return _create(settings, store)


__all__ = ["WebSettings", "create_app"]
