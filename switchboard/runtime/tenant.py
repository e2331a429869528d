"""The caller's tenant, one way for every service.

It travels as the `x-switchboard-tenant` gRPC metadata. When API keys are
configured the auth layer (switchboard/runtime/auth.py) sets it from the key, so
a caller cannot claim another tenant; without keys it is the caller's word.
"""

from __future__ import annotations

import grpc

from switchboard.runtime.status import FieldViolation, InvalidArgument

TENANT_METADATA = "x-switchboard-tenant"
DEFAULT_TENANT = "default"
MAX_TENANT_CHARS = 128


def caller_tenant(context: grpc.aio.ServicerContext) -> str | None:
    """The tenant the call names, or None when it names none (or an empty one).
    Raises InvalidArgument for an over-long name."""
    for key, value in context.invocation_metadata() or ():
        if key == TENANT_METADATA:
            text = (value.decode() if isinstance(value, bytes) else str(value)).strip()
            if len(text) > MAX_TENANT_CHARS:
                raise InvalidArgument(
                    [FieldViolation(f"metadata.{TENANT_METADATA}", f"must be at most {MAX_TENANT_CHARS} characters")]
                )
            return text or None
    return None


def tenant_or_default(context: grpc.aio.ServicerContext) -> str:
    return caller_tenant(context) or DEFAULT_TENANT


def tenant_metadata(tenant: str | None) -> tuple[tuple[str, str], ...]:
    """Outgoing metadata that carries `tenant` to a peer (nothing for none)."""
    return ((TENANT_METADATA, tenant),) if tenant else ()
