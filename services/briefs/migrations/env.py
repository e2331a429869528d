"""Alembic environment of the briefs service (version table alembic_version_briefs)."""

from services.briefs.tables import metadata
from switchboard.db import alembic_env_run

alembic_env_run(metadata)
