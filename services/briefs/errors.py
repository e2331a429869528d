"""Domain errors of the briefs service; the servicer maps each to a gRPC code.

Bad input is `switchboard.runtime.status.InvalidArgument` (field violations).
"""

from __future__ import annotations


class BriefsError(Exception):
    """Base of the errors below."""


class NotFound(BriefsError):
    """An id (or brief) the owner does not have."""


class AlreadyExists(BriefsError):
    """A create collides with an existing entity (e.g. a contact's email)."""


class FailedPrecondition(BriefsError):
    """The entity is in a state the operation does not apply to."""


class StorageUnavailable(BriefsError):
    """The database cannot be reached; the caller may retry."""
