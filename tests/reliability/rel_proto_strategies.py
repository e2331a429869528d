"""Hypothesis strategies for any protobuf message, built from its descriptor:
every field may be missing; scalars take random values and their boundaries;
strings and bytes are empty, odd or huge; enums take unknown numbers too;
messages nest (to a depth), repeated fields and maps get a few entries."""

from __future__ import annotations

from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

F = FieldDescriptor
HUGE_CHARS = 200_000  # far above every domain limit, well below the 4 MiB message limit
MAX_DEPTH = 3

_INT_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1), F.TYPE_SINT32: (-(2**31), 2**31 - 1), F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1), F.TYPE_SINT64: (-(2**63), 2**63 - 1), F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1), F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1), F.TYPE_FIXED64: (0, 2**64 - 1),
}

_ODD_TEXT = ["", " ", "\t\n", "\x00", "a", "é" * 40, "🙂" * 20, "../../etc/passwd", "'; DROP TABLE x; --",
             "%s%n", "{{7*7}}", "null", "-1", "9" * 40, "<script>", "x" * 1000, "Ω" * 5000]


def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    edges = [lo, hi, 0, 1, 2**31 - 1] + ([-1, -(2**31)] if lo < 0 else [])
    return st.one_of(st.sampled_from([e for e in edges if lo <= e <= hi]), st.integers(lo, hi))


def text() -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=40), st.sampled_from(_ODD_TEXT), st.just("x" * HUGE_CHARS))


def data() -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=64), st.just(b""), st.just(b"\x00" * HUGE_CHARS))


def _scalar(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    t = field.type
    if t in _INT_RANGES:
        return _ints(*_INT_RANGES[t])
    if t == F.TYPE_BOOL:
        return st.booleans()
    if t == F.TYPE_DOUBLE:
        return st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324]))
    if t == F.TYPE_FLOAT:
        return st.floats(allow_nan=True, allow_infinity=True, width=32)
    if t == F.TYPE_STRING:
        return text()
    if t == F.TYPE_BYTES:
        return data()
    if t == F.TYPE_ENUM:
        known = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-3, 300))  # unknown numbers too (open enums)
    if t == F.TYPE_MESSAGE:
        return message_dicts(field.message_type, depth + 1)
    raise TypeError(f"unhandled field type {t} of {field.full_name}")


def _is_repeated(field: FieldDescriptor) -> bool:
    label = getattr(field, "is_repeated", None)
    return bool(label) if label is not None else field.label == F.LABEL_REPEATED


def _field(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any]:
    if field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
        key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
        return st.dictionaries(_scalar(key, depth), _scalar(value, depth), max_size=3)
    if _is_repeated(field):
        return st.lists(_scalar(field, depth), max_size=3)
    return _scalar(field, depth)


def message_dicts(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """{field name: value} with any field left out (missing fields)."""
    if depth > MAX_DEPTH:
        return st.just({})
    return st.fixed_dictionaries({}, optional={f.name: _field(f, depth) for f in descriptor.fields})


def build(descriptor: Descriptor, values: dict[str, Any]) -> Message:
    message = message_factory.GetMessageClass(descriptor)()
    _fill(message, values)
    return message


def _fill(message: Message, values: dict[str, Any]) -> None:
    fields = message.DESCRIPTOR.fields_by_name
    for name, value in values.items():
        field = fields[name]
        target = getattr(message, name)
        if field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for k, v in value.items():
                if value_field.type == F.TYPE_MESSAGE:
                    _fill(target[k], v)
                else:
                    target[k] = v
        elif _is_repeated(field):
            for item in value:
                if field.type == F.TYPE_MESSAGE:
                    _fill(target.add(), item)
                else:
                    target.append(item)
        elif field.type == F.TYPE_MESSAGE:
            sub = getattr(message, name)
            sub.SetInParent()
            _fill(sub, value)
        else:
            setattr(message, name, value)


def messages(descriptor: Descriptor) -> st.SearchStrategy[Message]:
    return message_dicts(descriptor).map(lambda values: build(descriptor, values))
