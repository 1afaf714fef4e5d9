"""Initial schema: artifacts, athletes, sessions, analyses (+ files), reference movements, jobs.

Frozen copy of models.py at 0001 (types spelled out here, not imported, so later model changes never
alter what this migration creates). Times are naive UTC (models.UTCDateTime).

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table('artifacts',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_artifacts'))
    )
    op.create_table('athletes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_athletes'))
    )
    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('payload', JSON, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('run_after', sa.DateTime(), nullable=True),
    sa.Column('worker_id', sa.String(length=128), nullable=True),
    sa.Column('worker_pid', sa.Integer(), nullable=True),
    sa.Column('worker_host', sa.String(length=255), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('result', JSON, nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    op.create_index('ix_jobs_claim', 'jobs', ['status', 'priority', 'id'], unique=False)
    op.create_index(op.f('ix_jobs_kind'), 'jobs', ['kind'], unique=False)
    op.create_table('sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('athlete_id', sa.Integer(), nullable=False),
    sa.Column('video_key', sa.String(length=64), nullable=False),
    sa.Column('original_name', sa.String(length=255), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('fps', sa.Float(), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('meta', JSON, nullable=False),
    sa.ForeignKeyConstraint(['athlete_id'], ['athletes.id'], name=op.f('fk_sessions_athlete_id_athletes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['video_key'], ['artifacts.key'], name=op.f('fk_sessions_video_key_artifacts'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sessions'))
    )
    op.create_index(op.f('ix_sessions_athlete_id'), 'sessions', ['athlete_id'], unique=False)
    op.create_table('analyses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('settings', JSON, nullable=False),
    sa.Column('summary', JSON, nullable=True),
    sa.Column('metrics', JSON, nullable=True),
    sa.Column('scores', JSON, nullable=True),
    sa.Column('actions', JSON, nullable=True),
    sa.Column('feedback', JSON, nullable=True),
    sa.Column('warnings', JSON, nullable=True),
    sa.Column('report_key', sa.String(length=64), nullable=True),
    sa.Column('overlay_key', sa.String(length=64), nullable=True),
    sa.Column('keypoints_key', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_analyses_job_id_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['keypoints_key'], ['artifacts.key'], name=op.f('fk_analyses_keypoints_key_artifacts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['overlay_key'], ['artifacts.key'], name=op.f('fk_analyses_overlay_key_artifacts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['report_key'], ['artifacts.key'], name=op.f('fk_analyses_report_key_artifacts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_analyses_session_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analyses'))
    )
    op.create_index(op.f('ix_analyses_job_id'), 'analyses', ['job_id'], unique=False)
    op.create_index(op.f('ix_analyses_session_id'), 'analyses', ['session_id'], unique=False)
    op.create_table('analysis_files',
    sa.Column('analysis_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('artifact_key', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['analysis_id'], ['analyses.id'], name=op.f('fk_analysis_files_analysis_id_analyses'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['artifact_key'], ['artifacts.key'], name=op.f('fk_analysis_files_artifact_key_artifacts'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('analysis_id', 'name', name=op.f('pk_analysis_files'))
    )
    op.create_table('reference_movements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('movement', sa.String(length=100), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('analysis_id', sa.Integer(), nullable=True),
    sa.Column('keypoints_key', sa.String(length=64), nullable=True),
    sa.Column('meta', JSON, nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['analysis_id'], ['analyses.id'], name=op.f('fk_reference_movements_analysis_id_analyses'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['keypoints_key'], ['artifacts.key'], name=op.f('fk_reference_movements_keypoints_key_artifacts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_reference_movements_session_id_sessions'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reference_movements'))
    )
    op.create_index(op.f('ix_reference_movements_session_id'), 'reference_movements', ['session_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_reference_movements_session_id'), table_name='reference_movements')
    op.drop_table('reference_movements')
    op.drop_table('analysis_files')
    op.drop_index(op.f('ix_analyses_session_id'), table_name='analyses')
    op.drop_index(op.f('ix_analyses_job_id'), table_name='analyses')
    op.drop_table('analyses')
    op.drop_index(op.f('ix_sessions_athlete_id'), table_name='sessions')
    op.drop_table('sessions')
    op.drop_index(op.f('ix_jobs_kind'), table_name='jobs')
    op.drop_index('ix_jobs_claim', table_name='jobs')
    op.drop_table('jobs')
    op.drop_table('athletes')
    op.drop_table('artifacts')
