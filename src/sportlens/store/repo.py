"""Domain helpers the faces share: add athletes, sessions (uploads), references; queue analyses.

Each takes the open transaction (``db``) so a caller can combine them; files are stored before the
rows that name them (``Store.add_artifact``).
"""
from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session as DbSession

from sportlens.errors import InputError
from sportlens.store.artifacts import copy_out, safe_filename
from sportlens.store.errors import NotFoundError
from sportlens.store.models import Analysis, Athlete, Reference, Session, utcnow

ANALYZE = "analyze"  # the job kind run by sportlens.store.worker's built-in handler


def add_athlete(db: DbSession, name: str, notes: str = "") -> Athlete:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InputError("an athlete needs a name of 1 to 200 characters")
    athlete = Athlete(name=name, notes=notes or "", created_at=utcnow())
    db.add(athlete)
    db.flush()
    return athlete


def get(db: DbSession, model, row_id: int):
    """The row of ``model`` with primary key ``row_id``, or ``NotFoundError``."""
    row = db.get(model, row_id)
    if row is None:
        raise NotFoundError(f"no {model.__name__.lower()} {row_id}")
    return row


def add_session(store, db: DbSession, athlete_id: int, video: str | Path | BinaryIO, original_name: str, *,
                max_bytes: int | None = None, recorded_at: datetime | None = None, notes: str = "",
                meta: dict[str, Any] | None = None) -> Session:
    """Store an uploaded video for an athlete: checked to be a decodable video (``InputError`` if not),
    kept as an artifact, described by a new Session row (size, duration, fps, frame size)."""
    from sportlens.video import probe  # decoding stack loaded only when a video comes in

    name = safe_filename(original_name)
    if isinstance(video, (str, Path)):
        probe(video)  # a non-video path leaves nothing behind
    # The file work (copy, fsync, probe) comes before the first SQL statement: on SQLite a
    # transaction holds the write lock from its first statement.
    put = store.artifacts.put(video, max_bytes=max_bytes)
    with tempfile.TemporaryDirectory(dir=store.data_dir / "tmp", prefix="probe-") as tmp:
        # probed by content (a stream's junk stays an orphan file until gc); the link keeps the
        # upload's extension for demuxers that look at it
        info = probe(copy_out(store.artifacts, put.key, Path(tmp) / name))
    get(db, Athlete, athlete_id)
    artifact = store.record_artifact(db, put, _video_type(name))
    session = Session(athlete_id=athlete_id, video_key=artifact.key, original_name=name, size_bytes=artifact.size,
                      duration_s=_finite(info.duration), fps=_finite(info.fps), width=info.width,
                      height=info.height, recorded_at=recorded_at, uploaded_at=utcnow(), notes=notes or "",
                      meta=meta or {})
    db.add(session)
    db.flush()
    return session


def enqueue_analysis(store, session_id: int, settings: dict[str, Any] | None = None, *, max_attempts: int = 2,
                     priority: int = 0) -> tuple[int, int]:
    """Queue an analysis of a session: an Analysis row (status "queued") and its job, in one transaction.

    ``settings``: flat overrides of ``AnalyzeSettings`` (``{"start": 1.0, "output.video": False}``),
    checked now so a typo fails here, not in the worker."""
    settings = dict(settings or {})
    _check_settings(settings)
    with store.session() as db:
        get(db, Session, session_id)
        analysis = Analysis(session_id=session_id, status="queued", settings=settings, created_at=utcnow())
        db.add(analysis)
        db.flush()
        job_id = store.jobs.enqueue(ANALYZE, {"analysis_id": analysis.id}, max_attempts=max_attempts,
                                    priority=priority, db=db)
        analysis.job_id = job_id
        return analysis.id, job_id


def add_reference(store, db: DbSession, name: str, keypoints: str | Path | bytes | None = None, *,
                  movement: str = "", session_id: int | None = None, analysis_id: int | None = None,
                  notes: str = "", meta: dict[str, Any] | None = None) -> Reference:
    """A reference movement, optionally with a keypoints file (e.g. an analysis' keypoints.parquet)."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InputError("a reference needs a name of 1 to 200 characters")
    if session_id is not None:
        get(db, Session, session_id)
    if analysis_id is not None:
        analysis = get(db, Analysis, analysis_id)
        if keypoints is None and analysis.keypoints_key:
            keypoints = store.artifacts.path(analysis.keypoints_key)
    key = store.add_artifact(db, keypoints).key if keypoints is not None else None
    ref = Reference(name=name, movement=movement or "", notes=notes or "", session_id=session_id,
                    analysis_id=analysis_id, keypoints_key=key, meta=meta or {}, created_at=utcnow())
    db.add(ref)
    db.flush()
    return ref


def _check_settings(overrides: dict[str, Any]) -> None:
    from sportlens.config import AnalyzeSettings, from_overrides

    try:
        from_overrides(AnalyzeSettings(), overrides)
    except (KeyError, TypeError, AttributeError) as e:
        raise InputError(f"bad analysis settings: {e}") from None


def _video_type(name: str) -> str:
    import mimetypes

    kind = mimetypes.guess_type(name)[0]
    return kind if kind and kind.startswith("video/") else "video/octet-stream"


def _finite(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if x == x and abs(x) != float("inf") else None
