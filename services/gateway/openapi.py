"""An OpenAPI 3.1 document generated from the same descriptors as the routes:
every route, request and response schemas in protobuf's JSON mapping, errors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from services.gateway.transcoding import RestRoute
from switchboard import __version__

_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int32", "minimum": 0},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "int32", "minimum": 0},
    # 64-bit integers are strings in protobuf's JSON mapping.
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
}

_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$",
                                 "description": "Seconds with an 's' suffix, e.g. \"1.5s\"."},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.FieldMask": {"type": "string"},
}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "status", "message"],
            "properties": {
                "code": {"type": "integer", "description": "HTTP status."},
                "status": {"type": "string", "description": "gRPC status name, e.g. INVALID_ARGUMENT."},
                "message": {"type": "string"},
                "fieldViolations": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "description": {"type": "string"}},
                    },
                },
            },
        }
    },
}


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Error": ERROR_SCHEMA}

    def ref(self, message: Descriptor) -> dict[str, Any]:
        if message.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[message.full_name])
        if message.GetOptions().map_entry:
            return {"type": "object", "additionalProperties": self.field(message.fields_by_name["value"])}
        name = message.full_name
        if name not in self.components:
            self.components[name] = {}  # reserve the name first: a self-referencing message stops here
            self.components[name] = self._message(message)
        return {"$ref": f"#/components/schemas/{name}"}

    def _message(self, message: Descriptor) -> dict[str, Any]:
        properties = {f.json_name: self.field(f) for f in message.fields}
        return {"type": "object", "properties": properties}

    def field(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            schema = self.ref(field.message_type)
            if field.message_type.GetOptions().map_entry:
                return schema
        elif field.type == FieldDescriptor.TYPE_ENUM:
            schema = {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        else:
            schema = dict(_SCALARS[field.type])
        if field.is_repeated:
            return {"type": "array", "items": schema}
        return schema


def _query_parameters(message: Descriptor, skip: Iterable[str]) -> list[dict[str, Any]]:
    skipped = set(skip)
    params = []
    for field in message.fields:
        if field.name in skipped or field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.full_name not in _WELL_KNOWN:
            continue
        schema: dict[str, Any]
        if field.type == FieldDescriptor.TYPE_ENUM:
            schema = {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            schema = dict(_WELL_KNOWN[field.message_type.full_name])
        else:
            schema = dict(_SCALARS[field.type])
        if field.is_repeated:
            schema = {"type": "array", "items": schema}
        params.append({"name": field.name, "in": "query", "required": False, "schema": schema})
    return params


_ERRORS = {
    "400": "Bad input (names the field).",
    "401": "Missing or wrong API key.",
    "404": "Not found.",
    "429": "Rate limited (see Retry-After).",
    "503": "A service the call needs is unavailable.",
    "504": "Deadline exceeded.",
}


def sse_event_schema(message: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    """One Server-Sent Event as OpenAPI tools read a `text/event-stream` schema
    (an object of the event's fields): `data` is JSON of `message`, or of
    `error` on an `event: error`."""

    def data(schema: dict[str, Any]) -> dict[str, Any]:
        return {"properties": {"data": {"contentMediaType": "application/json", "contentSchema": schema}}}

    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "event": {"type": "string", "enum": ["message", "error"]},
            "data": {"type": "string"},
        },
        "if": {"required": ["event"], "properties": {"event": {"const": "error"}}},
        "then": data(error),
        "else": data(message),
    }


def _error_responses() -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    out = {code: {"description": text, "content": content} for code, text in _ERRORS.items()}
    out["default"] = {"description": "Any other error.", "content": content}
    return out


def openapi_document(
    routes: Sequence[RestRoute],
    extra_paths: dict[str, Any] | None = None,
    extra_schemas: dict[str, Any] | None = None,
    *,
    secured: bool = False,
) -> dict[str, Any]:
    """The document; `secured` (API keys configured) makes the bearer key required
    everywhere but on operations that say `security: []` (the probes)."""
    schemas = _Schemas()
    schemas.components.update(extra_schemas or {})
    paths: dict[str, Any] = {}
    for route in routes:
        method = route.method
        params = [
            {"name": var, "in": "path", "required": True, "schema": {"type": "string"}}
            for var in route.variables
        ]
        top_level_path_fields = {v.split(".")[0] for v in route.variables}
        operation: dict[str, Any] = {
            "operationId": f"{method.containing_service.name}_{method.name}",
            "tags": [method.containing_service.full_name],
            "summary": f"{method.containing_service.name}.{method.name}",
            "parameters": params,
            "responses": {},
        }
        if route.body == "*":
            body_schema = schemas.ref(method.input_type)
        elif route.body:
            body_schema = schemas.field(method.input_type.fields_by_name[route.body])
        else:
            body_schema = None
            operation["parameters"] += _query_parameters(method.input_type, top_level_path_fields)
        if body_schema is not None:
            operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": body_schema}}}
        response_schema = schemas.ref(method.output_type)
        if route.server_streaming:
            operation["responses"]["200"] = {
                "description": "Server-Sent Events: each `data:` line is one JSON message of the response "
                               "schema; a failure after the first message is an `event: error` with an Error.",
                "content": {"text/event-stream": {
                    "schema": sse_event_schema(response_schema, {"$ref": "#/components/schemas/Error"})}},
            }
        else:
            operation["responses"]["200"] = {
                "description": "OK", "content": {"application/json": {"schema": response_schema}},
            }
        operation["responses"].update(_error_responses())
        paths.setdefault(route.template, {})[route.http_method.lower()] = operation
    for path, item in (extra_paths or {}).items():
        paths.setdefault(path, {}).update(item)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "switchboard gateway", "version": __version__,
                 "description": "REST over the switchboard mesh, derived from the protos' google.api.http annotations, "
                                "and an OpenAI-compatible chat API."},
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API key, when keys are configured."}},
        },
    }
    if secured:
        document["security"] = [{"bearer": []}]
    return document
