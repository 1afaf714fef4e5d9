"""Alembic environment for sportlens: always run programmatically by ``sportlens.store.db.migrate``,
which hands over an open connection (``config.attributes["connection"]``); no alembic.ini, no logging
set-up (the application owns logging).

To write a new migration during development::

    python -m sportlens.store revision "what changed"   # autogenerates from models.py
"""
from __future__ import annotations

from alembic import context

from sportlens.store.models import Base


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("sportlens migrations run online only (open_store applies them)")
run_migrations_online()
