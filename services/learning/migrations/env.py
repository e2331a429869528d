"""Alembic environment of the learning service (version table
`alembic_version_learning`); `switchboard.db.run_migrations` drives it."""

from services.learning.tables import Base
from switchboard.db import alembic_env_run

alembic_env_run(Base.metadata)
