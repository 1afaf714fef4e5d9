"""One ASGI middleware for what every request goes through: host, origin, token, body size, headers.

Decisions:
- **Authentication in the middleware**, not per route: no endpoint can forget it. Exempt: ``/healthz``,
  the login page and ``/static`` (public CSS/JS). The caller (``auth.Principal``) is left in
  ``request.state.principal`` for the per-athlete checks of the routes.
- **CSRF: SameSite=Strict cookie + Origin check**, no per-form token. The cookie is never sent on a request
  started by another site, and every state-changing request (POST, PUT, PATCH, DELETE) whose ``Origin`` (or,
  without one, ``Referer``) names another origin is refused with 403. Browsers send ``Origin`` on every POST,
  so a forged form fails on both counts; clients without either header (curl, scripts) are not browsers and
  must present the token in a header. This also protects the tokenless loopback mode, where there is no
  cookie for SameSite to hold back.
- **DNS rebinding**: in tokenless loopback mode the ``Host`` header must be a loopback name, else a page on
  an attacker's domain that resolves to 127.0.0.1 could drive the server.
- **Body size**: ``Content-Length`` over the limit is refused at once (413); a body without one is counted as
  it streams and cut at the limit, so an upload never fills the disk past ``max_upload_bytes``.
- **Headers**: a strict Content-Security-Policy (scripts, styles and media from this server only; nothing
  external is ever loaded), nosniff, no framing, same-origin referrers.
"""
from __future__ import annotations

from urllib.parse import quote, urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse

from sportlens.web.auth import COOKIE, LOOPBACK, TokenStore, token_from
from sportlens.web.settings import WebSettings

PUBLIC_PREFIXES = ("/healthz", "/login", "/static/")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
UPLOAD_SLACK = 1024 * 1024  # multipart boundaries and the small form fields beside the file
SMALL_BODY = 256 * 1024  # every other request body (forms, JSON)
CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; script-src 'self'; "
       "style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin")]
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit: a 413. An ``HTTPException`` because
    FastAPI turns any other exception met while parsing a form into "400 error parsing the body"."""

    def __init__(self, limit: int):
        super().__init__(413, f"The upload is larger than the limit of {limit / 2**20:.0f} MiB")
        self.limit = limit


def is_upload_path(path: str) -> bool:
    return path.rstrip("/").endswith("/upload")


class SecurityMiddleware:
    def __init__(self, app, settings: WebSettings, tokens: TokenStore):
        self.app, self.settings, self.tokens = app, settings, tokens

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        conn = HTTPConnection(scope)
        refusal = self._refusal(conn)
        if refusal is not None:
            return await _with_headers(refusal)(scope, receive, send)
        limit = self._body_limit(scope["path"])
        declared = conn.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _with_headers(_error(413, BodyTooLarge(self._shown_limit(scope["path"])).detail))(
                scope, receive, send)
        await self.app(scope, _counting(receive, limit, self._shown_limit(scope["path"])), _secure_send(send))

    def _body_limit(self, path: str) -> int:
        return self.settings.max_upload_bytes + UPLOAD_SLACK if is_upload_path(path) else SMALL_BODY

    def _shown_limit(self, path: str) -> int:
        return self.settings.max_upload_bytes if is_upload_path(path) else SMALL_BODY

    def _refusal(self, conn: HTTPConnection):
        """The response refusing this request, or None to let it through (principal set)."""
        if not self.settings.token_required and _host_name(conn.headers.get("host", "")) not in LOOPBACK_HOSTS:
            return _error(400, "Unknown Host header: this server only answers on localhost")
        if conn.scope["method"] in UNSAFE and not self._same_origin(conn):
            return _error(403, "Cross-origin request refused (Origin does not match this server)")
        token = token_from(conn.headers, conn.cookies)
        principal = self.tokens.verify(token) if token else None
        public = conn.scope["path"].startswith(PUBLIC_PREFIXES)
        if token and principal is None and not public:  # public pages stay reachable with a stale cookie
            return self._unauthenticated(conn, "Invalid token")
        if principal is None and not self.settings.token_required:
            principal = LOOPBACK
        conn.scope.setdefault("state", {})["principal"] = principal
        if principal is None and not public:
            return self._unauthenticated(conn, "A token is required")
        return None

    def _same_origin(self, conn: HTTPConnection) -> bool:
        origin = conn.headers.get("origin") or _origin_of(conn.headers.get("referer", ""))
        if not origin:
            return True  # not a browser (see the module docstring)
        own = f"{conn.url.scheme}://{conn.headers.get('host', '')}"
        return origin.lower() in {own.lower(), *(o.lower().rstrip("/") for o in self.settings.trusted_origins)}

    def _unauthenticated(self, conn: HTTPConnection, message: str):
        wants_html = "text/html" in conn.headers.get("accept", "") and conn.scope["method"] == "GET"
        if wants_html and not conn.scope["path"].startswith("/api/"):
            response = RedirectResponse(f"/login?next={quote(conn.url.path)}", status_code=303)
            if token_from(conn.headers, conn.cookies):  # a stale cookie: drop it so the login page works
                response.delete_cookie(COOKIE, path="/")
            return response
        return _error(401, message, {"www-authenticate": "Bearer"})


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def _with_headers(response):
    response.raw_headers.extend(HEADERS)
    return response


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _counting(receive, limit: int, shown: int):
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(shown)
        return message

    return wrapped


def _secure_send(send):
    async def wrapped(message):
        if message["type"] == "http.response.start":
            headers = Headers(raw=message.get("headers", []))
            extra = [h for h in HEADERS if h[0].decode() not in headers]  # a route may set its own CSP
            message = {**message, "headers": list(message.get("headers", [])) + extra}
        await send(message)

    return wrapped
