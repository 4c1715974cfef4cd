"""Bytes to typed messages and back; errors to wire codes. No I/O here.

Everything a frame can do wrong ends as a `ProtocolError` (an InvalidArgument), which the
connection turns into an Error response; the socket stays open.
"""

from __future__ import annotations

import enum
import hashlib

from google.protobuf.message import DecodeError, Message

from pm.v1 import entities_pb2 as pb
from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2
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

_CURRENT_FIELDS = {
    pb.WorkItem: "work_item",
    pb.Project: "project",
    pb.SwimLane: "swim_lane",
    pb.Sprint: "sprint",
    pb.Comment: "comment",
    pb.TimeEntry: "time_entry",
    pb.Dependency: "dependency",
}


def error_message(error: PmError) -> env.Error:
    out = env.Error(code=_CODES[error.code], message=error.message, field=error.field)
    current = error.current
    if isinstance(current, Message):
        name = _CURRENT_FIELDS.get(type(current))
        if name is not None:
            getattr(out, name).CopyFrom(current)
    return out


def encode_error(request_id: str, error: PmError) -> bytes:
    return env.ServerMessage(
        response=env.Response(request_id=request_id, error=error_message(error))
    ).SerializeToString()


def encode_result(request_id: str, name: str, result: Message) -> bytes:
    response = env.Response(request_id=request_id)
    getattr(response, name).CopyFrom(result)
    return env.ServerMessage(response=response).SerializeToString()


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


def event_frame(seq: int, stored_payload: bytes) -> bytes:
    """The ServerMessage frame of a stored event, built once for all its receivers.

    The stored payload is the encoded Event without its seq; protobuf merges fields in any
    order, so prefixing the seq field yields the complete Event without a decode.
    """
    event = _EVENT_SEQ_TAG + _varint(seq) + stored_payload
    return _SERVER_EVENT_TAG + _varint(len(event)) + event
