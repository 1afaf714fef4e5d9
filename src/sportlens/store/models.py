"""The database schema (SQLAlchemy 2 declarative). Migrations in ``migrations/versions`` mirror it.

Decisions:
- Times are stored as naive UTC and read back timezone-aware (``UTCDateTime``): SQLite has no time
  zones, and one convention on both back ends keeps comparisons (heartbeats) simple.
- JSON columns use ``JSON`` (JSONB on PostgreSQL): summaries and timelines are read whole, never
  queried inside, so no per-field columns.
- Files are never stored in the database: rows hold artifact keys (sha256) with a foreign key to
  ``artifacts``, whose row is written after its file (see ``artifacts.py``).
- A constraint naming convention, so migrations name constraints the same on every back end.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, MetaData, String,
                        Text, TypeDecorator)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")

NAMING = {"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
          "ck": "ck_%(table_name)s_%(constraint_name)s",
          "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s", "pk": "pk_%(table_name)s"}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out; naive UTC in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store: use an aware UTC datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, Any: JSONType}


def _key_fk(nullable: bool = True):
    """An artifact key column (sha256 hex) referencing ``artifacts``; deleting a used artifact is refused."""
    return mapped_column(String(64), ForeignKey("artifacts.key", ondelete="RESTRICT"), nullable=nullable)


class Artifact(Base):
    """One content-addressed file under ``<data_dir>/artifacts`` (the row exists only once the file does)."""

    __tablename__ = "artifacts"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the content, hex
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Athlete(Base):
    __tablename__ = "athletes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sessions: Mapped[list["Session"]] = relationship(back_populates="athlete", cascade="all, delete-orphan",
                                                     passive_deletes=True, order_by="Session.uploaded_at")


class Session(Base):
    """One uploaded video of an athlete with its facts (probed at upload)."""

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    athlete_id: Mapped[int] = mapped_column(ForeignKey("athletes.id", ondelete="CASCADE"), index=True)
    video_key: Mapped[str] = _key_fk(nullable=False)
    original_name: Mapped[str] = mapped_column(String(255))  # the uploaded name, made safe (safe_filename)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    duration_s: Mapped[Optional[float]] = mapped_column(Float)
    fps: Mapped[Optional[float]] = mapped_column(Float)
    width: Mapped[Optional[int]] = mapped_column(Integer)
    height: Mapped[Optional[int]] = mapped_column(Integer)
    recorded_at: Mapped[Optional[datetime]] = mapped_column()
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    notes: Mapped[str] = mapped_column(Text, default="")
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    athlete: Mapped[Athlete] = relationship(back_populates="sessions")
    analyses: Mapped[list["Analysis"]] = relationship(back_populates="session", cascade="all, delete-orphan",
                                                      passive_deletes=True, order_by="Analysis.created_at")


class Analysis(Base):
    """One run of ``analyze_video`` on a session: its status, results and output files."""

    __tablename__ = "analyses"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[Optional[int]] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # a JOB_STATUSES value
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # flat overrides of AnalyzeSettings
    summary: Mapped[Optional[dict[str, Any]]] = mapped_column()  # summary.json as written by analyze_video
    metrics: Mapped[Optional[dict[str, Any]]] = mapped_column()  # summary["metrics"]: ROM, symmetry, ...
    scores: Mapped[Optional[dict[str, Any]]] = mapped_column()  # assessment scores, when the run produced them
    actions: Mapped[Optional[dict[str, Any]]] = mapped_column()  # action timeline {"model", "segments": [...]}
    feedback: Mapped[Optional[Any]] = mapped_column()  # feedback items, when the run produced them
    warnings: Mapped[Optional[Any]] = mapped_column()  # list of warning strings
    report_key: Mapped[Optional[str]] = _key_fk()  # report.html
    overlay_key: Mapped[Optional[str]] = _key_fk()  # overlay.mp4 (None when no overlay was asked)
    keypoints_key: Mapped[Optional[str]] = _key_fk()  # keypoints.parquet
    error: Mapped[Optional[str]] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[Optional[datetime]] = mapped_column()
    session: Mapped[Session] = relationship(back_populates="analyses")
    files: Mapped[list["AnalysisFile"]] = relationship(cascade="all, delete-orphan", passive_deletes=True,
                                                       order_by="AnalysisFile.name")


class AnalysisFile(Base):
    """Every output file of an analysis by its file name (report.html, angles.csv, ...)."""

    __tablename__ = "analysis_files"
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analyses.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    artifact_key: Mapped[str] = _key_fk(nullable=False)


class Reference(Base):
    """A reference movement (e.g. a coach's model swing) that sessions are compared with."""

    __tablename__ = "reference_movements"  # "references" is an SQL keyword
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    movement: Mapped[str] = mapped_column(String(100), default="")  # action label, e.g. "golf_swing"
    notes: Mapped[str] = mapped_column(Text, default="")
    session_id: Mapped[Optional[int]] = mapped_column(ForeignKey("sessions.id", ondelete="SET NULL"), index=True)
    analysis_id: Mapped[Optional[int]] = mapped_column(ForeignKey("analyses.id", ondelete="SET NULL"))
    keypoints_key: Mapped[Optional[str]] = _key_fk()
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """One unit of background work; see ``jobs.py`` for the state machine."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "status", "priority", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # a JOB_STATUSES value
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    message: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # claims so far
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher first
    run_after: Mapped[Optional[datetime]] = mapped_column()  # not claimed before (retry back-off)
    worker_id: Mapped[Optional[str]] = mapped_column(String(128))
    worker_pid: Mapped[Optional[int]] = mapped_column(Integer)
    worker_host: Mapped[Optional[str]] = mapped_column(String(255))
    heartbeat_at: Mapped[Optional[datetime]] = mapped_column()
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[Optional[datetime]] = mapped_column()
    finished_at: Mapped[Optional[datetime]] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    result: Mapped[Optional[dict[str, Any]]] = mapped_column()
    error: Mapped[Optional[str]] = mapped_column(Text)
