"""Alembic revisions of the learning service."""
