"""Bytes to typed messages and back; errors to wire codes. No I/O here.

Everything a frame can do wrong ends as a `ProtocolError` (an InvalidArgument), which the
connection turns into an Error response; the socket stays open.
"""

from __future__ import annotations

import enum
import hashlib
from typing import Any

from google.protobuf.message import DecodeError, Message

from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2
from server.frames import binary_frame
from server.wire.kinds import NAME_OF_MESSAGE
from tenants.errors import ErrorCode, InvalidArgument, PmError

MAX_REQUEST_ID_LENGTH = 128


class ProtocolError(InvalidArgument):
    """A frame that is not a valid ClientMessage."""


class CloseCode(enum.IntEnum):
    NORMAL = 1000
    UNSUPPORTED_DATA = 1003  # a text frame
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    HEARTBEAT_TIMEOUT = 4001
    TOKEN_EXPIRED = 4003
    SLOW_CONSUMER = 4008
    RATE_LIMITED = 4029
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403


# Commands that need no request_id: heartbeats.
_NO_REQUEST_ID = frozenset({"ping", "pong"})


def decode_client_message(frame: bytes) -> tuple[env.ClientMessage, str]:
    """Parse one frame; returns the message and its command name (the oneof field)."""
    message = env.ClientMessage()
    try:
        message.ParseFromString(frame)
    except (DecodeError, ValueError, RuntimeError) as exc:  # ValueError: bad UTF-8 in a string
        raise ProtocolError(f"frame is not a pm.v1.ClientMessage: {type(exc).__name__}") from None
    if len(message.request_id) > MAX_REQUEST_ID_LENGTH:
        raise ProtocolError(
            f"request_id longer than {MAX_REQUEST_ID_LENGTH} characters", field="request_id"
        )
    name = message.WhichOneof("payload")
    if name is None:
        # Empty oneof, or a command number this server does not know (kept as unknown field).
        raise ProtocolError("unknown or missing command")
    if not message.request_id and name not in _NO_REQUEST_ID:
        raise ProtocolError("request_id must not be empty", field="request_id")
    return message, name


def safe_request_id(frame: bytes) -> str:
    """Best effort: the request_id of a frame that failed later checks, for the Error."""
    message = env.ClientMessage()
    try:
        message.ParseFromString(frame)
    except Exception:
        return ""
    # An overlong id is itself the error: a cut copy would match nothing the client sent.
    return message.request_id if len(message.request_id) <= MAX_REQUEST_ID_LENGTH else ""


def fingerprint(name: str, command: Message) -> bytes:
    """Identifies a command's content: the same request_id with other content is refused."""
    digest = hashlib.sha256(name.encode())
    digest.update(command.SerializeToString(deterministic=True))
    return digest.digest()


_CODES = {code: getattr(env, f"ERROR_CODE_{code.value}") for code in ErrorCode}

# Each entity message and its kind: the Error.current field, and EntityRef.type.
ENTITY_KINDS = NAME_OF_MESSAGE


def error_message(error: PmError) -> env.Error:
    out = env.Error(
        code=_CODES[error.code],
        message=error.message,
        field=error.field,
        retry_after_ms=getattr(error, "retry_after_ms", 0),
    )
    current = error.current
    if isinstance(current, Message):
        name = ENTITY_KINDS.get(type(current))
        if name is not None:
            getattr(out, name).CopyFrom(current)
    return out


def encode_error(request_id: str, error: PmError) -> bytes:
    return env.ServerMessage(
        response=env.Response(request_id=request_id, error=error_message(error))
    ).SerializeToString()


def encode_result(
    request_id: str, name: str, result: Message, *, max_bytes: int | None = None
) -> bytes:
    """The Response frame; past max_bytes, a truncated one naming the result's entities."""
    response = env.Response(request_id=request_id)
    getattr(response, name).CopyFrom(result)
    frame = env.ServerMessage(response=response).SerializeToString()
    if max_bytes is None or len(frame) <= max_bytes:
        return frame
    small = env.Response(request_id=request_id, truncated=True)
    _keep_scalars(result, getattr(small, name))
    _add_refs(small.refs, result, small, max_bytes)
    return env.ServerMessage(response=small).SerializeToString()


def encode_server(message: env.ServerMessage) -> bytes:
    return message.SerializeToString()


def encode_pong(request_id: str) -> bytes:
    return env.ServerMessage(pong=env.PongReply(request_id=request_id)).SerializeToString()


PING_FRAME = env.ServerMessage(ping=session_pb2.Ping()).SerializeToString()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


_EVENT_SEQ_TAG = b"\x08"  # Event.seq: field 1, varint
_SERVER_EVENT_TAG = b"\x1a"  # ServerMessage.event: field 3, length-delimited


def event_frame(seq: int, stored_payload: bytes, *, max_bytes: int | None = None) -> bytes:
    """The ServerMessage frame of a stored event, built once for all its receivers.

    The stored payload is the encoded Event without its seq; protobuf merges fields in any
    order, so prefixing the seq field yields the complete Event without a decode. Past
    max_bytes the event goes out truncated: its kind, ids and the changed entities' refs.
    """
    event = _EVENT_SEQ_TAG + _varint(seq) + stored_payload
    frame = _SERVER_EVENT_TAG + _varint(len(event)) + event
    if max_bytes is None or len(frame) <= max_bytes:
        return frame
    return _truncated_event(seq, stored_payload, max_bytes)


def event_ws_frame(seq: int, stored_payload: bytes, *, max_bytes: int) -> bytes:
    """`event_frame` in WebSocket framing, for one receiver (a replay)."""
    return binary_frame(event_frame(seq, stored_payload, max_bytes=max_bytes))


def _truncated_event(seq: int, stored_payload: bytes, max_bytes: int) -> bytes:
    full = env.Event()
    full.ParseFromString(stored_payload)
    small = env.Event(
        seq=seq,
        project_ids=full.project_ids,
        occurred_at_ms=full.occurred_at_ms,
        actor_id=full.actor_id,
        request_id=full.request_id,
        truncated=True,
    )
    case = full.WhichOneof("change")
    if case is not None:
        change = getattr(full, case)
        _keep_scalars(change, getattr(small, case))
        _add_refs(small.refs, change, small, max_bytes)
    return env.ServerMessage(event=small).SerializeToString()


def _keep_scalars(source: Message, target: Message) -> None:
    """Mark target present and copy source's single scalar fields (the ids of a change);
    entities, lists and text are what made the frame too large."""
    target.SetInParent()
    for field, value in source.ListFields():
        if field.type != field.TYPE_MESSAGE and not field.is_repeated:
            setattr(target, field.name, value)


def _add_refs(refs: Any, source: Message, whole: Message, max_bytes: int) -> None:
    """Name every entity in source; when even the names would not fit, name none (the
    client reloads the projects the frame names)."""
    refs.extend(entity_refs(source))
    if whole.ByteSize() + 16 > max_bytes:
        del refs[:]


def entity_refs(message: Message) -> list[env.EntityRef]:
    """Every entity a message holds (once each, depth first), by kind, id and version."""
    found: list[env.EntityRef] = []
    seen: set[tuple[str, str]] = set()

    def walk(node: Message) -> None:
        kind = ENTITY_KINDS.get(type(node))
        if kind is not None:
            entity_id = str(getattr(node, "id"))  # noqa: B009  (every entity has an id)
            if (kind, entity_id) not in seen:
                seen.add((kind, entity_id))
                version = int(getattr(node, "version"))  # noqa: B009
                found.append(env.EntityRef(type=kind, id=entity_id, version=version))
            return
        for field, value in node.ListFields():
            if field.type != field.TYPE_MESSAGE:
                continue
            for child in value if field.is_repeated else [value]:
                walk(child)

    walk(message)
    return found
