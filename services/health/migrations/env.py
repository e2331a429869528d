"""Alembic environment of the monitor (version table alembic_version_monitor);
`switchboard.db.run_migrations` drives it."""

from services.health.tables import metadata
from switchboard.db import alembic_env_run

alembic_env_run(metadata)
