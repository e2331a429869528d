"""gRPC status → HTTP status and a JSON error body (code, status, message, field
violations). The table is the standard one (google.rpc.Code's HTTP mapping)."""

from __future__ import annotations

from typing import Any

import grpc
from starlette.responses import JSONResponse

from switchboard.runtime.status import FieldViolation, field_violations

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}

HTTP_STATUS_BY_NAME: dict[str, int] = {code.name: status for code, status in HTTP_STATUS.items()}

# A peer that sheds load (RESOURCE_EXHAUSTED) or is briefly away (UNAVAILABLE)
# asks for a retry: say when, as the gateway does for its own refusals.
_RETRY_LATER = {grpc.StatusCode.RESOURCE_EXHAUSTED.name, grpc.StatusCode.UNAVAILABLE.name}


def retry_headers(code: grpc.StatusCode | str) -> dict[str, str] | None:
    """`Retry-After: 1` for the statuses (or their names, as in an ErrorEvent)
    that mean "try again shortly"."""
    name = code.name if isinstance(code, grpc.StatusCode) else code
    return {"Retry-After": "1"} if name in _RETRY_LATER else None


def error_body(
    http_status: int, status: str, message: str, violations: list[FieldViolation] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": http_status, "status": status, "message": message}
    if violations:
        error["fieldViolations"] = [{"field": v.field, "description": v.description} for v in violations]
    return {"error": error}


def error_response(
    http_status: int, status: str, message: str, violations: list[FieldViolation] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(http_status, status, message, violations), status_code=http_status, headers=headers)


def from_rpc_error(exc: grpc.aio.AioRpcError) -> tuple[int, dict[str, Any]]:
    code = exc.code()
    http_status = HTTP_STATUS.get(code, 500)
    violations = field_violations(exc) if code == grpc.StatusCode.INVALID_ARGUMENT else []
    return http_status, error_body(http_status, code.name, exc.details() or code.name, violations)


def rpc_error_response(exc: grpc.aio.AioRpcError) -> JSONResponse:
    http_status, body = from_rpc_error(exc)
    return JSONResponse(body, status_code=http_status, headers=retry_headers(exc.code()))
