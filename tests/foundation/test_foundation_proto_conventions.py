"""The contracts follow the conventions in design.md, checked on the compiled
descriptors (with source info, so comments are visible)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTOS = sorted((ROOT / "protos").glob("switchboard/**/*.proto"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[descriptor_pb2.FileDescriptorProto]:
    from google.api import annotations_pb2

    out = tmp_path_factory.mktemp("desc") / "set.pb"
    includes = [ROOT / "protos", resources.files("grpc_tools") / "_proto",
                Path(annotations_pb2.__file__).resolve().parents[2]]
    args = ["protoc", *[f"-I{i}" for i in includes], f"--descriptor_set_out={out}", "--include_source_info",
            *[str(p.relative_to(ROOT / "protos")) for p in PROTOS]]
    assert protoc.main(args) == 0
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return [f for f in fds.file if f.name.startswith("switchboard/")]


def test_one_file_per_service_package(files: list[descriptor_pb2.FileDescriptorProto]) -> None:
    assert {f.package for f in files} == {f"switchboard.{s}.v1" for s in ("router", "learning", "monitor", "briefs", "cache")}
    for f in files:
        svc = f.package.split(".")[1]
        assert f.name == f"switchboard/{svc}/v1/{svc}.proto"
        assert "health" not in Path(f.name).stem  # would shadow grpc_health.v1.health_pb2


def _enums(f: descriptor_pb2.FileDescriptorProto):
    yield from f.enum_type
    stack = list(f.message_type)
    while stack:
        message = stack.pop()
        yield from message.enum_type
        stack.extend(message.nested_type)


def test_enums_start_with_unspecified_zero(files: list[descriptor_pb2.FileDescriptorProto]) -> None:
    for f in files:
        for enum in _enums(f):
            prefix = "".join("_" + c if c.isupper() and i else c for i, c in enumerate(enum.name)).upper()
            first = enum.value[0]
            assert first.number == 0 and first.name == f"{prefix}_UNSPECIFIED", (f.name, enum.name)
            for value in enum.value:
                assert value.name.startswith(prefix + "_"), (enum.name, value.name)


def test_rpcs_take_their_own_request_and_response(files: list[descriptor_pb2.FileDescriptorProto]) -> None:
    for f in files:
        for service in f.service:
            for method in service.method:
                assert method.input_type == f".{f.package}.{method.name}Request", method.name
                assert method.output_type == f".{f.package}.{method.name}Response", method.name


def test_everything_is_commented(files: list[descriptor_pb2.FileDescriptorProto]) -> None:
    """Every message, field, enum, enum value, service and RPC has a leading comment."""
    missing = []
    for f in files:
        commented = {tuple(loc.path) for loc in f.source_code_info.location if loc.leading_comments.strip()}

        def need(path: tuple[int, ...], what: str) -> None:
            if path not in commented:
                missing.append(f"{f.name}: {what}")

        def walk_message(message: descriptor_pb2.DescriptorProto, path: tuple[int, ...], name: str) -> None:
            need(path, name)
            for i, field in enumerate(message.field):
                if not field.proto3_optional or True:
                    need((*path, 2, i), f"{name}.{field.name}")
            for i, nested in enumerate(message.nested_type):
                if not nested.options.map_entry:
                    walk_message(nested, (*path, 3, i), f"{name}.{nested.name}")
            for i, enum in enumerate(message.enum_type):
                walk_enum(enum, (*path, 4, i), f"{name}.{enum.name}")

        def walk_enum(enum: descriptor_pb2.EnumDescriptorProto, path: tuple[int, ...], name: str) -> None:
            need(path, name)
            for i, value in enumerate(enum.value):
                need((*path, 2, i), f"{name}.{value.name}")

        for i, message in enumerate(f.message_type):
            walk_message(message, (4, i), message.name)
        for i, enum in enumerate(f.enum_type):
            walk_enum(enum, (5, i), enum.name)
        for i, service in enumerate(f.service):
            need((6, i), service.name)
            for j, method in enumerate(service.method):
                need((6, i, 2, j), f"{service.name}.{method.name}")
    assert not missing, "uncommented: " + ", ".join(missing[:20])


def test_instants_and_durations_use_well_known_types(files: list[descriptor_pb2.FileDescriptorProto]) -> None:
    """No bare numeric *_at / *_ms fields: Timestamp and Duration carry units."""
    suspicious = []
    for f in files:
        stack = [(m, m.name) for m in f.message_type]
        while stack:
            message, name = stack.pop()
            stack.extend((n, f"{name}.{n.name}") for n in message.nested_type)
            for field in message.field:
                numeric = field.type not in (field.TYPE_MESSAGE, field.TYPE_STRING, field.TYPE_ENUM, field.TYPE_BOOL)
                if numeric and (field.name.endswith("_at") or field.name.endswith("_ms")):
                    suspicious.append(f"{name}.{field.name}")
    assert not suspicious, suspicious
