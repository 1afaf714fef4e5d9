"""Per-athlete access checks: every route loads its rows through these functions.

Decisions:
- A row the caller may not see answers 404, exactly like a row that does not exist, so ids of other squads'
  athletes cannot be probed. A job is visible through the analysis it runs.
- References are shared club-wide: an analysis made a reference (by an administrator: it publishes that
  session to every token) is readable by every caller, so any coach can compare with the model movement.
"""
from __future__ import annotations

from fastapi import HTTPException, Request
from sqlalchemy import select

from sportlens.store.models import Analysis, Athlete, Reference, Session
from sportlens.web.auth import Principal


def caller(request: Request) -> Principal:
    """The principal the security middleware authenticated (it refuses requests without one)."""
    who = getattr(request.state, "principal", None)
    if who is None:  # only reachable if a public route asked for it: refuse rather than trust
        raise HTTPException(401, "A token is required")
    return who


def athlete(db, who: Principal, athlete_id: int) -> Athlete:
    row = db.get(Athlete, athlete_id)
    if row is None or not who.can_access(row.id):
        raise HTTPException(404, f"No athlete {athlete_id}")
    return row


def athletes(db, who: Principal) -> list[Athlete]:
    query = select(Athlete).order_by(Athlete.name, Athlete.id)
    if who.athletes is not None:
        query = query.where(Athlete.id.in_(sorted(who.athletes)))
    return list(db.scalars(query))


def analysis(db, who: Principal, analysis_id: int) -> Analysis:
    row = db.get(Analysis, analysis_id)
    if row is None or not (who.can_access(row.session.athlete_id) or _is_reference(db, row.id)):
        raise HTTPException(404, f"No analysis {analysis_id}")
    return row


def _is_reference(db, analysis_id: int) -> bool:
    return db.scalars(select(Reference.id).where(Reference.analysis_id == analysis_id).limit(1)).first() is not None


def references(db) -> list[Reference]:
    """Every reference made from an analysis (those can be shown side by side)."""
    query = select(Reference).where(Reference.analysis_id.is_not(None)).order_by(Reference.name, Reference.id)
    return list(db.scalars(query))


def reference(db, reference_id: int) -> Reference:
    row = db.get(Reference, reference_id)
    if row is None or row.analysis_id is None:
        raise HTTPException(404, f"No reference {reference_id} with an analysis to compare with")
    return row


def analysis_of_job(db, who: Principal, job_id: int) -> Analysis:
    row = db.scalars(select(Analysis).where(Analysis.job_id == job_id)).first()
    if row is None or not who.can_access(row.session.athlete_id):
        raise HTTPException(404, f"No job {job_id}")
    return row


def session(db, who: Principal, session_id: int) -> Session:
    row = db.get(Session, session_id)
    if row is None or not who.can_access(row.athlete_id):
        raise HTTPException(404, f"No session {session_id}")
    return row


def require_admin(who: Principal) -> None:
    if not who.is_admin:
        raise HTTPException(403, "Only an administrator token can do this")


def publish_reference(request: Request, analysis_id: int, name: str, movement: str) -> Reference:
    """Make a finished analysis a reference movement (administrators only; visible to every token)."""
    from sportlens.store.repo import add_reference

    who, store = caller(request), request.app.state.store
    require_admin(who)
    with store.session() as db:
        a = analysis(db, who, analysis_id)
        if a.status != "done":
            raise HTTPException(409, f"Analysis {analysis_id} is not finished ({a.status})")
        return add_reference(store, db, name, movement=movement, session_id=a.session_id, analysis_id=a.id)
