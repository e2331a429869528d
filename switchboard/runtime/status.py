"""Rich gRPC errors (google.rpc.Status via grpcio-status), shared by every service.

Bad input is INVALID_ARGUMENT with a google.rpc.BadRequest naming each field and
its problem; callers (and the gateway) read the violations from the status details.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class FieldViolation:
    field: str  # dotted path, e.g. "messages[2].content"
    description: str


class InvalidArgument(Exception):
    """Raised by domain validation; the servicer turns it into INVALID_ARGUMENT."""

    def __init__(self, violations: Iterable[FieldViolation]) -> None:
        self.violations = list(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))


def bad_request_status(violations: Iterable[FieldViolation], message: str | None = None) -> status_pb2.Status:
    violations = list(violations)
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in violations
            ]
        )
    )
    text = message or "invalid request: " + "; ".join(f"{v.field}: {v.description}" for v in violations)
    return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=text, details=[detail])


async def abort_invalid(context: grpc.aio.ServicerContext, violations: Iterable[FieldViolation]) -> None:
    """Ends the call with INVALID_ARGUMENT and a BadRequest listing `violations`."""
    await context.abort_with_status(rpc_status.to_status(bad_request_status(violations)))


def field_violations(error: grpc.aio.AioRpcError) -> list[FieldViolation]:
    """The BadRequest violations carried by a failed call (client side)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return []
    found: list[FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    return found
