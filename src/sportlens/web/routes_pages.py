"""Server-rendered pages (Jinja2). Data the charts need comes from ``routes_api`` as JSON.

Forms post to the same origin; CSRF protection is the SameSite=Strict cookie + Origin check of
``security`` (no hidden form token). Every row is loaded through ``access`` (per-athlete checks).
"""
from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from sportlens.web import access, presenters as P
from sportlens.web.auth import COOKIE
from sportlens.web.uploads import EXTENSIONS

router = APIRouter(include_in_schema=False)
COOKIE_MAX_AGE = 30 * 24 * 3600


def _render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    context.setdefault("show_logout", bool(request.cookies.get(COOKIE)))
    return request.app.state.templates.TemplateResponse(request, name, context, status_code=status)


@router.get("/healthz")
def healthz() -> JSONResponse:
    """Liveness, without authentication (load balancers, the CLI's start-up check)."""
    return JSONResponse({"status": "ok"})


@router.get("/login")
def login_page(request: Request, next: str = "/"):
    return _render(request, "login.html", next=_local(next), error="")


@router.post("/login")
def login(request: Request, token: str = Form(..., max_length=200), next: str = Form("/")):
    principal = request.app.state.tokens.verify(token.strip())
    if principal is None:
        return _render(request, "login.html", status=401, next=_local(next), error="This token is not valid.")
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(COOKIE, token.strip(), max_age=COOKIE_MAX_AGE, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout")
def logout() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _local(target: str) -> str:
    """Only same-site paths after login: "//evil.example" or "https://..." would be an open redirect."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


@router.get("/")
def index(request: Request):
    who = access.caller(request)
    with request.app.state.store.session() as db:
        rows = [{"id": a.id, "name": a.name, "notes": a.notes, "sessions": len(a.sessions),
                 "last": P.when(a.sessions[-1].uploaded_at) if a.sessions else ""} for a in access.athletes(db, who)]
    return _render(request, "index.html", athletes=rows, can_create=who.is_admin)


@router.post("/athletes")
def create_athlete(request: Request, name: str = Form(..., min_length=1, max_length=200),
                   notes: str = Form("", max_length=2000)):
    from sportlens.store.repo import add_athlete

    who = access.caller(request)
    access.require_admin(who)
    with request.app.state.store.session() as db:
        athlete = add_athlete(db, name.strip(), notes=notes.strip())
        db.flush()
        athlete_id = athlete.id
    return RedirectResponse(f"/athletes/{athlete_id}", status_code=303)


@router.get("/athletes/{athlete_id}")
def athlete_page(request: Request, athlete_id: int):
    who = access.caller(request)
    with request.app.state.store.session() as db:
        athlete = access.athlete(db, who, athlete_id)
        rows = [_history_row(s, a) for s in reversed(athlete.sessions) for a in (s.analyses or [None])]
        view = {"id": athlete.id, "name": athlete.name, "notes": athlete.notes}
    return _render(request, "athlete.html", athlete=view, rows=rows, extensions=sorted(EXTENSIONS),
                   max_upload_bytes=request.app.state.settings.max_upload_bytes)


def _history_row(session, analysis) -> dict:
    det = ((analysis.metrics or {}).get("detection") or {}) if analysis else {}
    return {"recorded": P.when(session.recorded_at or session.uploaded_at), "filename": session.original_name,
            "clip": P.clip(analysis.settings if analysis else None, session.duration_s),
            "status": analysis.status if analysis else "not analysed",
            "analysis_id": analysis.id if analysis else None, "job_id": analysis.job_id if analysis else None,
            "movement": P.movement(analysis.actions) if analysis else "",
            "detection": f"{100 * det['rate']:.0f}%" if "rate" in det else ""}


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: int):
    who = access.caller(request)
    store = request.app.state.store
    with store.session() as db:
        analysis = access.analysis_of_job(db, who, job_id)
        context = {"analysis_id": analysis.id, "athlete_id": analysis.session.athlete_id,
                   "athlete_name": analysis.session.athlete.name, "filename": analysis.session.original_name}
    job = store.jobs.get(job_id)
    return _render(request, "job.html", job=job, error=P.one_line(job.error), **context)


@router.get("/analyses/{analysis_id}")
def analysis_page(request: Request, analysis_id: int):
    who = access.caller(request)
    with request.app.state.store.session() as db:
        a = access.analysis(db, who, analysis_id)
        if a.status != "done":
            if a.job_id is not None:
                return RedirectResponse(f"/jobs/{a.job_id}", status_code=303)
            raise HTTPException(409, f"Analysis {analysis_id} is {a.status}: {P.one_line(a.error) or 'no result'}")
        context = _analysis_context(a)
        context["references"] = [{"id": r.id, "name": r.name, "movement": r.movement}
                                 for r in access.references(db) if r.analysis_id != a.id]
    return _render(request, "analysis.html", can_publish=who.is_admin, **context)


@router.post("/analyses/{analysis_id}/reference")
def publish_reference(request: Request, analysis_id: int, name: str = Form(..., min_length=1, max_length=200),
                      movement: str = Form("", max_length=100)):
    """Make a finished analysis a reference (administrators: it becomes visible to every token)."""
    access.publish_reference(request, analysis_id, name.strip(), movement.strip())
    return RedirectResponse(f"/analyses/{analysis_id}", status_code=303)


def _analysis_context(a) -> dict:
    s = a.session
    names = [f.name for f in a.files]
    summary = a.summary or {}
    risk_note, flags = P.risk_flags(summary)
    return {"risk_note": risk_note, "risk_flags": flags,"analysis_id": a.id, "athlete_id": s.athlete_id, "athlete_name": s.athlete.name,
            "filename": s.original_name, "recorded": P.when(s.recorded_at or s.uploaded_at),
            "clip": P.clip(a.settings, s.duration_s), "warnings": list(a.warnings or []),
            "has_overlay": "overlay.mp4" in names, "actions": a.actions,
            "video_prediction": summary.get("video_prediction"), "scores": P.scores_table(a),
            "feedback": P.feedback_items(a.feedback), "rom": P.rom_table(a.metrics),
            "files": P.download_names(names), "movement": P.movement(a.actions)}


@router.get("/compare")
def compare_page(request: Request, a: int = Query(...), b: int | None = Query(None),
                 ref: int | None = Query(None, description="a reference instead of b")):
    """Two sessions side by side (``a`` and ``b``), or a session and a reference (``a`` and ``ref``).

    ``a`` is compared with the other side by DTW (``web.comparison``): score, per-joint table, aligned curves
    and feedback, or the reason the comparison was refused; the key-number table stays as before."""
    from sportlens.web.comparison import compare_view

    who = access.caller(request)
    if (b is None) == (ref is None):
        raise HTTPException(422, "Give two analyses (a and b) or an analysis and a reference (a and ref)")
    store = request.app.state.store
    with store.session() as db:
        reference = access.reference(db, ref) if ref is not None else None
        pair = [access.analysis(db, who, a), access.analysis(db, who, reference.analysis_id if reference else b)]
        for row in pair:
            if row.status != "done":
                raise HTTPException(409, f"Analysis {row.id} is not finished ({row.status})")
        sides = [_side(row) for row in pair]
        if reference is not None:
            sides[1]["label"] = f"reference: {reference.name}"
        table = P.compare_table(*pair)
        other_key = (reference.keypoints_key or pair[1].keypoints_key) if reference else pair[1].keypoints_key
        keys, movement = (pair[0].keypoints_key, other_key), reference.movement if reference else ""
        # the name feedback sentences cite: "the reference (run2.mp4, 2026-05-01 10:00) reaches 100°"
        name = reference.name if reference else f"{sides[1]['filename']}, {sides[1]['recorded']}"
    if sides[0]["label"] == sides[1]["label"]:  # same athlete and time: tell them apart by the clip
        for side in sides:
            side["label"] += f" ({side['clip']})"
    aligned = compare_view(store, *keys, name=name, movement=movement)  # outside the transaction: CPU work
    return _render(request, "compare.html", sides=sides, table=table, cmp=aligned)


def _side(a) -> dict:
    s = a.session
    return {"analysis_id": a.id, "filename": s.original_name, "athlete_name": s.athlete.name,
            "recorded": P.when(s.recorded_at or s.uploaded_at), "clip": P.clip(a.settings, s.duration_s),
            "has_overlay": any(f.name == "overlay.mp4" for f in a.files),
            "label": f"{s.athlete.name}, {P.when(s.recorded_at or s.uploaded_at)}"}
