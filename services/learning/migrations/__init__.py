"""Alembic migrations of the learning service."""
