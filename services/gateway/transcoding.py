"""REST routes derived from the `google.api.http` annotations in the protos: the
one source of truth. A newly annotated RPC becomes a route with no gateway code.

Pure descriptor logic (no I/O): the HttpRule of each method becomes a `RestRoute`
that matches a request path and tells how to build the gRPC request from the
path variables, the query string and the body (protobuf's JSON mapping).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from google.api import annotations_pb2, http_pb2
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from switchboard.mesh import SERVICES

_VARIABLE = re.compile(r"\{([a-zA-Z0-9_.]+)(?:=([^}]*))?\}")


class TranscodingError(ValueError):
    """The HTTP request cannot become the gRPC request; names the field."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field
        self.description = description


@dataclass(frozen=True)
class RestRoute:
    http_method: str  # GET, POST, PUT, PATCH, DELETE
    template: str  # e.g. /v1/router/backends/{backend}:setBreakerState
    pattern: re.Pattern[str]
    variables: tuple[str, ...]  # field paths, in group order
    body: str  # "" (no body), "*" (whole body), or a field name
    peer: str  # mesh service name that serves it, e.g. "router"
    method: MethodDescriptor

    @property
    def grpc_path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def server_streaming(self) -> bool:
        return bool(self.method.server_streaming)

    @property
    def request_class(self) -> type[Message]:
        return GetMessageClass(self.method.input_type)

    @property
    def response_class(self) -> type[Message]:
        return GetMessageClass(self.method.output_type)

    @property
    def specificity(self) -> tuple[int, int]:
        """Literal-heavy templates win over variable-heavy ones on overlap."""
        literal = _VARIABLE.sub("", self.template)
        return (len(literal), -len(self.variables))

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {field: found.group(i + 1) for i, field in enumerate(self.variables)}

    def build_request(
        self, path_params: Mapping[str, str], query: Iterable[tuple[str, str]], body: Any
    ) -> Message:
        """The gRPC request: body per the rule, then query parameters, then path
        variables (which win). Raises TranscodingError naming the bad field."""
        data: dict[str, Any] = {}
        if self.body == "*":
            if body is not None and not isinstance(body, dict):
                raise TranscodingError("body", "must be a JSON object")
            data = dict(body or {})
        elif self.body:
            if body is not None:
                data[self.body] = body
        if self.body != "*":
            for key, value in query:
                _set_path(data, key, value, repeated=_is_repeated(self.method.input_type, key))
        for key, value in path_params.items():
            _set_path(data, key, value, repeated=False, overwrite=True)
        message = self.request_class()
        try:
            json_format.ParseDict(data, message)
        except json_format.ParseError as exc:
            raise TranscodingError(_field_from_parse_error(str(exc)), str(exc)) from None
        return message


def _is_repeated(message: Descriptor, dotted: str) -> bool:
    """Whether the (proto or JSON) field path names a repeated, non-map field."""
    field = None
    node: Descriptor | None = message
    for part in dotted.split("."):
        if node is None:
            return False
        field = node.fields_by_name.get(part) or node.fields_by_camelcase_name.get(part)
        if field is None:
            return False
        node = field.message_type
    return field is not None and field.is_repeated and not (node is not None and node.GetOptions().map_entry)


def _set_path(data: dict[str, Any], dotted: str, value: str, *, repeated: bool, overwrite: bool = False) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise TranscodingError(dotted, "conflicts with another parameter")
        node = child
    last = parts[-1]
    if repeated:  # ?kind=a&kind=b, and a single ?kind=a too, is a list
        existing = node.setdefault(last, [])
        if not isinstance(existing, list):
            raise TranscodingError(dotted, "conflicts with another parameter")
        existing.append(value)
    elif last in node and not overwrite:
        raise TranscodingError(dotted, "given more than once (or conflicts with another parameter)")
    else:
        node[last] = value


def _field_from_parse_error(text: str) -> str:
    # json_format messages name the field: 'Failed to parse max_tokens field: ...'
    # or 'Message type "x" has no field named "y"'.
    for pattern in (r"Failed to parse (\S+) field", r'has no field named "([^"]+)"', r"field named \"?([\w.]+)"):
        found = re.search(pattern, text)
        if found:
            return found.group(1)
    return "body"


def compile_template(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """A path template (`/v1/x/{name}:verb`, `{name=things/*}`) as a regex."""
    variables: list[str] = []
    out = []
    pos = 0
    for found in _VARIABLE.finditer(template):
        out.append(re.escape(template[pos : found.start()]))
        variables.append(found.group(1))
        sub = found.group(2)
        if sub is None or sub == "*":
            out.append("([^/]+)")
        else:
            pieces = [".+" if p == "**" else "[^/]+" if p == "*" else re.escape(p) for p in sub.split("/")]
            out.append("(" + "/".join(pieces) + ")")
        pos = found.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out)), tuple(variables)


def _rules(rule: http_pb2.HttpRule) -> Iterable[tuple[str, str, str]]:
    kind = rule.WhichOneof("pattern")
    if kind == "custom":
        yield rule.custom.kind.upper(), rule.custom.path, rule.body
    elif kind:
        yield kind.upper(), getattr(rule, kind), rule.body
    for extra in rule.additional_bindings:
        yield from _rules(extra)


def routes_for_service(service: ServiceDescriptor, peer: str) -> list[RestRoute]:
    routes = []
    for method in service.methods:
        options = method.GetOptions()
        if not options.HasExtension(annotations_pb2.http):
            continue
        for verb, template, body in _rules(options.Extensions[annotations_pb2.http]):
            pattern, variables = compile_template(template)
            routes.append(RestRoute(verb, template, pattern, variables, body, peer, method))
    return routes


def mesh_service_descriptors() -> list[tuple[ServiceDescriptor, str]]:
    """Every gRPC service of the mesh with its peer name, found by convention:
    `switchboard.<pkg>.v1.<Service>` lives in `switchboard.<pkg>.v1.<pkg>_pb2`."""
    found = []
    for entry in SERVICES:
        if entry.grpc_service is None:
            continue
        package, _, name = entry.grpc_service.rpartition(".")
        module = importlib.import_module(f"{package}.{package.split('.')[1]}_pb2")
        found.append((module.DESCRIPTOR.services_by_name[name], entry.name))
    return found


def mesh_routes() -> list[RestRoute]:
    routes = [r for svc, peer in mesh_service_descriptors() for r in routes_for_service(svc, peer)]
    return sorted(routes, key=lambda r: r.specificity, reverse=True)
