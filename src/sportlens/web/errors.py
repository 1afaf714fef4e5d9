"""Every error becomes a plain message (+ an id for unexpected ones): never a stack trace in a response.

- ``HTTPException``: its status and message. Validation errors (422): one line per bad field, no echo of
  the submitted values.
- ``UploadRejected``: its status (400, 413 or 415); ``BodyTooLarge`` (an ``HTTPException``): 413.
- ``NotFoundError`` (store): 404; a full or read-only data folder (``StoreError``): 503 with the store's
  one-line advice; any other ``SportlensError``: 400 with its message (meant for the user).
- Anything else is a bug: 500 "Internal error (id ...)"; the traceback goes to the server log under that id,
  so an administrator can find it from what the user reports.
- Browsers asking for HTML get a page; API clients get ``{"detail": ..., "error_id": ...}``.
"""
from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from sportlens.errors import SportlensError
from sportlens.web.uploads import UploadRejected

log = logging.getLogger("sportlens.web")


def _store_errors() -> tuple[type, type]:
    """(NotFoundError, StoreError) of the store; imported late so the web app's checks run without it."""
    from sportlens.store.errors import NotFoundError, StoreError

    return NotFoundError, StoreError


def status_of(exc: SportlensError) -> int:
    if isinstance(exc, UploadRejected):
        return exc.status
    not_found, store_error = _store_errors()
    if isinstance(exc, not_found):
        return 404
    if isinstance(exc, store_error):
        return 503
    return 400


def respond(request: Request, status: int, message: str, error_id: str | None = None, headers=None):
    if _wants_html(request):
        templates = request.app.state.templates
        return templates.TemplateResponse(request, "error.html", {"status": status, "message": message,
                                                                  "error_id": error_id},
                                          status_code=status, headers=headers)
    body = {"detail": message, **({"error_id": error_id} if error_id else {})}
    return JSONResponse(body, status_code=status, headers=headers)


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


async def on_http(request: Request, exc: HTTPException):
    return respond(request, exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


async def on_validation(request: Request, exc: RequestValidationError):
    lines = [f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', 'invalid')}"
             for e in exc.errors()]
    return respond(request, 422, "; ".join(lines) or "Invalid request")


async def on_sportlens(request: Request, exc: SportlensError):
    return respond(request, status_of(exc), str(exc))


async def on_bug(request: Request, exc: Exception):
    error_id = secrets.token_hex(6)
    log.error("internal error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc)
    return respond(request, 500, f"Internal error (id {error_id}). The server log has the details.", error_id)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(SportlensError, on_sportlens)
    app.add_exception_handler(Exception, on_bug)
