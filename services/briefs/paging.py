"""Opaque page tokens: an offset bound to the filters it was issued for."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

from switchboard.runtime.status import FieldViolation, InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Page:
    offset: int
    size: int
    fingerprint: str

    def next_token(self, returned: int, has_more: bool) -> str:
        if not has_more:
            return ""
        payload = json.dumps({"o": self.offset + returned, "f": self.fingerprint}, separators=(",", ":"))
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def fingerprint(*filters: object) -> str:
    return hashlib.sha256(repr(filters).encode()).hexdigest()[:16]


def page_of(page_size: int, page_token: str, *filters: object) -> Page:
    """Validates size and token; the token must come from the same filters."""
    if page_size < 0:
        raise InvalidArgument([FieldViolation("page_size", "must not be negative")])
    size = DEFAULT_PAGE_SIZE if page_size == 0 else min(page_size, MAX_PAGE_SIZE)
    fp = fingerprint(*filters)
    if not page_token:
        return Page(0, size, fp)
    try:
        padded = page_token + "=" * (-len(page_token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset, token_fp = int(data["o"]), str(data["f"])
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument([FieldViolation("page_token", "malformed page token")]) from None
    if offset < 0:
        raise InvalidArgument([FieldViolation("page_token", "malformed page token")])
    if token_fp != fp:
        raise InvalidArgument([FieldViolation("page_token", "page token was issued for different filters")])
    return Page(offset, size, fp)
