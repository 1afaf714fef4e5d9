"""The JSON API under ``/api`` (OpenAPI schema at ``/api/openapi.json``). The pages' scripts use it too.

Authentication: the security middleware (a bearer token, ``X-Sportlens-Token`` or the login cookie); the
``bearer`` dependency below only documents it in the schema.
"""
from __future__ import annotations

import asyncio
import mimetypes
import time
from pathlib import Path

import anyio
from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field

from sportlens.web import access, presenters as P
from sportlens.web.uploads import UploadRejected, check_upload

bearer = HTTPBearer(auto_error=False, description="The access token (or the login page's cookie)")
router = APIRouter(prefix="/api", dependencies=[Depends(bearer)])
SSE_POLL_S = 0.5  # how often the event stream looks at the job
SSE_MAX_S = 3600.0  # a stream ends after this; EventSource reconnects by itself
SSE_KEEPALIVE_S = 15.0


class AthleteIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    notes: str = Field("", max_length=2000)


class AthleteOut(BaseModel):
    id: int
    name: str
    notes: str
    sessions: int


class UploadOut(BaseModel):
    session_id: int
    analysis_id: int
    job_id: int
    job_url: str = Field(description="The page showing the job's progress")


class JobOut(BaseModel):
    id: int
    status: str = Field(description="queued | running | done | failed | cancelled")
    progress: float
    message: str
    error: str | None
    attempts: int
    analysis_id: int
    analysis_url: str


def _athlete_out(a) -> AthleteOut:
    return AthleteOut(id=a.id, name=a.name, notes=a.notes, sessions=len(a.sessions))


@router.get("/athletes", response_model=list[AthleteOut])
def list_athletes(request: Request):
    who = access.caller(request)
    with request.app.state.store.session() as db:
        return [_athlete_out(a) for a in access.athletes(db, who)]


@router.post("/athletes", response_model=AthleteOut, status_code=201)
def create_athlete(request: Request, body: AthleteIn):
    from sportlens.store.repo import add_athlete

    access.require_admin(access.caller(request))
    with request.app.state.store.session() as db:
        return _athlete_out(add_athlete(db, body.name, notes=body.notes))


@router.post("/athletes/{athlete_id}/upload", response_model=UploadOut, status_code=201,
             responses={400: {"description": "Not a decodable or a truncated video, bad file name"},
                        413: {"description": "Larger than the upload limit"},
                        415: {"description": "Not a video container (content sniffed)"}})
def upload(request: Request, athlete_id: int, file: UploadFile = File(..., description="The video"),
           start: float | None = Form(None, ge=0, description="Analyse from here (s)"),
           end: float | None = Form(None, gt=0, description="Analyse up to here (s)"),
           notes: str = Form("", max_length=2000)):
    """Store a video for an athlete and queue its analysis. Browsers posting the HTML form get a redirect
    to the job page; API clients get the ids as JSON."""
    from sportlens.store.repo import add_session, enqueue_analysis

    who, store, settings = access.caller(request), request.app.state.store, request.app.state.settings
    if start is not None and end is not None and end <= start:
        raise HTTPException(422, "end must be after start")
    with store.session() as db:  # a stranger's athlete: refused before the video is copied or decoded
        access.athlete(db, who, athlete_id)
    checked = check_upload(file.file, file.filename, Path(store.data_dir) / "tmp" / "web-uploads",
                           settings.max_upload_bytes)
    try:
        if start is not None and checked.info.duration and start >= checked.info.duration:
            raise UploadRejected(f"{checked.filename}: start {start:g} s is past the end of the video "
                                 f"({checked.info.duration:.1f} s)")
        with store.session() as db:
            session_id = add_session(store, db, athlete_id, checked.path, checked.filename,
                                     max_bytes=settings.max_upload_bytes, notes=notes.strip()).id
    finally:
        checked.path.unlink(missing_ok=True)
    overrides = {k: v for k, v in (("start", start), ("end", end if end is not None else settings.default_end_s))
                 if v is not None}
    analysis_id, job_id = enqueue_analysis(store, session_id, overrides)
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)
    return UploadOut(session_id=session_id, analysis_id=analysis_id, job_id=job_id, job_url=f"/jobs/{job_id}")


@router.get("/athletes/{athlete_id}/progress")
def athlete_progress(request: Request, athlete_id: int) -> dict:
    """Key numbers of every finished analysis over time, for the progress charts."""
    who = access.caller(request)
    with request.app.state.store.session() as db:
        athlete = access.athlete(db, who, athlete_id)
        done = [(s, a) for s in athlete.sessions for a in s.analyses if a.status == "done"]
        points = [P.progress_point(a, s.recorded_at or s.uploaded_at) for s, a in done]
        metrics = P.progress_metrics([a for _, a in done])
    return {"points": sorted(points, key=lambda p: p["t"]), "metrics": metrics}


def _job_out(job, analysis_id: int) -> JobOut:
    return JobOut(id=job.id, status=job.status, progress=round(float(job.progress or 0.0), 4),
                  message=job.message or "", error=P.one_line(job.error), attempts=job.attempts,
                  analysis_id=analysis_id, analysis_url=f"/analyses/{analysis_id}")


def _job_analysis_id(request: Request, job_id: int) -> int:
    with request.app.state.store.session() as db:
        return access.analysis_of_job(db, access.caller(request), job_id).id


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(request: Request, job_id: int):
    analysis_id = _job_analysis_id(request, job_id)
    return _job_out(request.app.state.store.jobs.get(job_id), analysis_id)


@router.post("/jobs/{job_id}/cancel", response_model=JobOut)
def cancel_job(request: Request, job_id: int):
    analysis_id = _job_analysis_id(request, job_id)
    return _job_out(request.app.state.store.jobs.cancel(job_id), analysis_id)


@router.post("/jobs/{job_id}/retry", response_model=JobOut)
def retry_job(request: Request, job_id: int):
    """Queue a failed or cancelled job again."""
    analysis_id = _job_analysis_id(request, job_id)
    return _job_out(request.app.state.store.jobs.retry(job_id), analysis_id)


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "Server-sent events named 'job' (JobOut as data) until it ends"}})
async def job_events(request: Request, job_id: int):
    analysis_id = await anyio.to_thread.run_sync(_job_analysis_id, request, job_id)
    jobs = request.app.state.store.jobs
    return StreamingResponse(_events(request, jobs, job_id, analysis_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(request: Request, jobs, job_id: int, analysis_id: int):
    last, sent_at, started = None, time.monotonic(), time.monotonic()
    while time.monotonic() - started < SSE_MAX_S:
        job = _job_out(await anyio.to_thread.run_sync(jobs.get, job_id), analysis_id)
        data = job.model_dump_json()
        if data != last:
            yield f"event: job\ndata: {data}\n\n"
            last, sent_at = data, time.monotonic()
        elif time.monotonic() - sent_at > SSE_KEEPALIVE_S:
            yield ": keep-alive\n\n"
            sent_at = time.monotonic()
        if job.status in ("done", "failed", "cancelled") or await request.is_disconnected():
            return
        await asyncio.sleep(SSE_POLL_S)


class ReferenceIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    movement: str = Field("", max_length=100, description="the movement's label, e.g. golf_swing")


class ReferenceOut(BaseModel):
    id: int
    name: str
    movement: str
    analysis_id: int


@router.get("/references", response_model=list[ReferenceOut])
def list_references(request: Request):
    """References made from analyses: shared with every token (see ``access``)."""
    access.caller(request)
    with request.app.state.store.session() as db:
        return [ReferenceOut(id=r.id, name=r.name, movement=r.movement, analysis_id=r.analysis_id)
                for r in access.references(db)]


@router.post("/analyses/{analysis_id}/reference", response_model=ReferenceOut, status_code=201)
def make_reference(request: Request, analysis_id: int, body: ReferenceIn):
    """Make a finished analysis a reference movement (administrator token only)."""
    r = access.publish_reference(request, analysis_id, body.name, body.movement)
    return ReferenceOut(id=r.id, name=r.name, movement=r.movement, analysis_id=analysis_id)


@router.get("/analyses/{analysis_id}")
def get_analysis(request: Request, analysis_id: int) -> dict:
    """Status, results (summary.json as stored) and the names of the output files."""
    with request.app.state.store.session() as db:
        a = access.analysis(db, access.caller(request), analysis_id)
        return {"id": a.id, "session_id": a.session_id, "athlete_id": a.session.athlete_id, "status": a.status,
                "error": P.one_line(a.error), "settings": a.settings, "summary": a.summary, "scores": a.scores,
                "feedback": a.feedback, "files": P.download_names([f.name for f in a.files]),
                "job_id": a.job_id}


def _file_path(request: Request, analysis_id: int, name: str) -> Path:
    """An output file of an analysis, looked up by name in the database (never a path built from input)."""
    store = request.app.state.store
    with store.session() as db:
        a = access.analysis(db, access.caller(request), analysis_id)
        # Files are listed only once the worker stored all of them with the result (one transaction), and
        # only a finished analysis serves them: never a partial output.
        key = next((f.artifact_key for f in a.files if f.name == name), None) if a.status == "done" else None
    if key is None:
        raise HTTPException(404, f"Analysis {analysis_id} has no file {name!r}")
    return store.artifacts.path(key)


@router.get("/analyses/{analysis_id}/series")
def analysis_series(request: Request, analysis_id: int) -> dict:
    """The joint angles over time (angles.csv) for the plots: {times, offset, angles, default}."""
    return P.angle_series(_file_path(request, analysis_id, "angles.csv"))


# report.html is self-contained and written by our report package, yet it is served sandboxed: it runs
# as an opaque origin without the session cookie and cannot call this API even if a value inside it
# (a file name, a label) were ever unescaped.
REPORT_CSP = "sandbox allow-scripts; default-src 'none'; img-src data: blob:; media-src data: blob:; " \
             "style-src 'unsafe-inline'; script-src 'unsafe-inline'; font-src data:"


@router.get("/analyses/{analysis_id}/files/{name}", response_class=FileResponse)
def analysis_file(request: Request, analysis_id: int, name: str, download: bool = False):
    """One output file (video with range requests, so the player can seek)."""
    path = _file_path(request, analysis_id, name)
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers = {"Content-Security-Policy": REPORT_CSP} if name.endswith(".html") else {}
    headers["Cache-Control"] = "private, max-age=86400, immutable"  # content-addressed: never changes
    return FileResponse(path, media_type=media_type, headers=headers, filename=name,
                        content_disposition_type="attachment" if download else "inline")
