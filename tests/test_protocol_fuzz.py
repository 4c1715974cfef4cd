"""Fuzzing the decoder: whatever a frame holds, only ProtocolError may escape.

Random bytes, random well-formed ClientMessages with random field values (built from the
descriptors, so every command of the contract is covered), and those messages mangled.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hamcrest import assert_that, equal_to, less_than_or_equal_to
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pm.v1 import envelope_pb2 as env
from server import protocol
from server.protocol import MAX_REQUEST_ID_LENGTH, ProtocolError
from tenants.errors import ErrorCode, PmError

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

COMMANDS = [f.name for f in env.ClientMessage.DESCRIPTOR.oneofs_by_name["payload"].fields]

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _scalar(field: Any) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        return st.integers(low, high)
    if kind == FieldDescriptor.TYPE_STRING:
        return st.text(max_size=40)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=40)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=32 if kind == FieldDescriptor.TYPE_FLOAT else 64)
    if kind == FieldDescriptor.TYPE_ENUM:
        # Open enums: numbers the contract does not name must decode too.
        return st.integers(-3, 40)
    raise AssertionError(f"unhandled field type {kind} of {field.full_name}")


def _fill(draw: st.DrawFn, message: Message, depth: int) -> None:
    for field in message.DESCRIPTOR.fields:
        if not draw(st.booleans()):
            continue
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            assert field.message_type is not None
            if field.message_type.GetOptions().map_entry or depth >= 2:
                continue
            if field.is_repeated:
                for _ in range(draw(st.integers(0, 2))):
                    _fill(draw, getattr(message, field.name).add(), depth + 1)
            else:
                _fill(draw, getattr(message, field.name), depth + 1)
                getattr(message, field.name).SetInParent()
        elif field.is_repeated:
            getattr(message, field.name).extend(draw(st.lists(_scalar(field), max_size=3)))
        else:
            setattr(message, field.name, draw(_scalar(field)))


@st.composite
def client_messages(draw: st.DrawFn) -> env.ClientMessage:
    message = env.ClientMessage(request_id=draw(st.text(max_size=MAX_REQUEST_ID_LENGTH + 20)))
    name = draw(st.sampled_from([*COMMANDS, None]))
    if name is not None:
        command = getattr(message, name)
        _fill(draw, command, depth=0)
        command.SetInParent()
    return message


def _decode_or_protocol_error(frame: bytes) -> tuple[env.ClientMessage, str] | None:
    try:
        return protocol.decode_client_message(frame)
    except ProtocolError:
        return None


@FUZZ
@given(st.binary(max_size=512))
def test_given_random_bytes_when_decoding_then_only_protocol_error_escapes(frame: bytes) -> None:
    _decode_or_protocol_error(frame)
    assert_that(len(protocol.safe_request_id(frame)), less_than_or_equal_to(128))


@FUZZ
@given(client_messages())
def test_given_a_random_client_message_when_decoding_then_accepted_only_if_well_formed(
    message: env.ClientMessage,
) -> None:
    decoded = _decode_or_protocol_error(message.SerializeToString())

    name = message.WhichOneof("payload")
    well_formed = (
        name is not None
        and len(message.request_id) <= MAX_REQUEST_ID_LENGTH
        and (bool(message.request_id) or name in ("ping", "pong"))
    )
    assert_that(decoded is not None, equal_to(well_formed))
    if decoded is not None:
        assert_that(decoded[1], equal_to(name))
        # Bytes, not ==: a NaN field would make equal messages compare unequal.
        assert_that(
            decoded[0].SerializeToString(deterministic=True),
            equal_to(message.SerializeToString(deterministic=True)),
        )


@FUZZ
@given(client_messages(), st.data())
def test_given_a_mangled_client_message_when_decoding_then_only_protocol_error_escapes(
    message: env.ClientMessage, data: st.DataObject
) -> None:
    frame = bytearray(message.SerializeToString())
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        at = data.draw(st.integers(0, max(0, len(frame) - 1)))
        if action == "flip" and frame:
            frame[at] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del frame[at:]
        else:
            frame[at:at] = data.draw(st.binary(min_size=1, max_size=8))

    _decode_or_protocol_error(bytes(frame))


@FUZZ
@given(st.integers(1, 2**63 - 1), client_messages())
def test_given_a_stored_event_when_framed_then_it_parses_with_its_seq(
    seq: int, filler: env.ClientMessage
) -> None:
    event = env.Event(
        project_ids=[filler.request_id], actor_id="alice", request_id=filler.request_id
    )

    frame = protocol.event_frame(seq, event.SerializeToString())

    parsed = env.ServerMessage()
    parsed.ParseFromString(frame)
    assert_that(parsed.WhichOneof("payload"), equal_to("event"))
    assert_that(parsed.event.seq, equal_to(seq))
    assert_that(parsed.event.request_id, equal_to(filler.request_id))


def test_given_every_error_code_when_encoded_then_the_wire_code_has_the_same_name() -> None:
    for code in ErrorCode:
        error = type("E", (PmError,), {"code": code})("message", field="f")

        wire = protocol.error_message(error)

        assert_that(env.ErrorCode.Name(wire.code), equal_to(f"ERROR_CODE_{code.value}"))
        assert_that(wire.field, equal_to("f"))
