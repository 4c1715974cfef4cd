"""pm.v1 messages as the REST API's JSON, and the JSON Schema of that JSON.

Not protobuf's JSON mapping: an agent reads this, so int64 values (times in ms, seqs,
versions) are JSON numbers rather than strings, enums are lower-case words without their
type's prefix (`WORK_ITEM_TYPE_STORY` -> `story`), names stay snake_case, and every field is
present (an unset string is "", an unset optional is null). The schema is derived from the
same descriptors by the same rules, so the OpenAPI document cannot drift from the bodies.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

_INTEGERS = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_SFIXED64,
}
_NUMBERS = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}


@functools.cache
def _prefix(enum: EnumDescriptor) -> str:
    """WorkItemType -> WORK_ITEM_TYPE_"""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"


def enum_word(enum: EnumDescriptor, number: int) -> str:
    """The lower-case word of an enum value: `story`, `in_progress`; "" for UNSPECIFIED."""
    value = enum.values_by_number.get(number)
    if value is None:
        return str(number)
    word = value.name.removeprefix(_prefix(enum)).lower()
    return "" if word == "unspecified" else word


def enum_words(enum: EnumDescriptor) -> list[str]:
    return [enum_word(enum, value.number) for value in enum.values]


def to_json(message: Message) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.is_repeated:
            body[field.name] = [_value(field, item) for item in value]
        elif _optional(field) and not message.HasField(field.name):
            body[field.name] = None
        else:
            body[field.name] = _value(field, value)
    return body


def _optional(field: Any) -> bool:
    return field.message_type is not None or field.has_presence


def _value(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return to_json(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return enum_word(field.enum_type, value)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return value.hex()
    return value


# --- JSON Schema --------------------------------------------------------------------------


def ref(descriptor: Any) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{descriptor.name}"}


def schemas_of(*roots: Any) -> dict[str, Any]:
    """`components.schemas` for these messages and every message they hold."""
    schemas: dict[str, Any] = {}
    pending = list(roots)
    while pending:
        descriptor = pending.pop()
        if descriptor.name in schemas:
            continue
        properties: dict[str, Any] = {}
        for field in descriptor.fields:
            schema = _field_schema(field)
            if field.message_type is not None:
                pending.append(field.message_type)
            if field.is_repeated:
                properties[field.name] = {"type": "array", "items": schema}
            elif _optional(field):
                properties[field.name] = {"anyOf": [schema, {"type": "null"}]}
            else:
                properties[field.name] = schema
        schemas[descriptor.name] = {
            "type": "object",
            "properties": properties,
            "required": sorted(properties),
        }
    return schemas


def _field_schema(field: Any) -> dict[str, Any]:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return ref(field.message_type)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return {"type": "string", "enum": enum_words(field.enum_type)}
    if field.type in _INTEGERS:
        return {"type": "integer"}
    if field.type in _NUMBERS:
        return {"type": "number"}
    if field.type == FieldDescriptor.TYPE_BOOL:
        return {"type": "boolean"}
    return {"type": "string"}
