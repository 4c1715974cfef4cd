"""WebSocket framing of what the server sends (RFC 6455, section 5.2).

A server's frames are never masked and pm.v1 uses no extension, so the frame around a
message is the same bytes for every receiver: an event is framed once and those bytes go
to each subscriber's socket as they are (transport.py), instead of framing the same
payload once per receiver.
"""

from __future__ import annotations

import struct

_FIN_BINARY = 0x82


def binary_frame(payload: bytes) -> bytes:
    """One unfragmented binary frame holding payload."""
    size = len(payload)
    if size < 126:
        header = bytes((_FIN_BINARY, size))
    elif size < 1 << 16:
        header = struct.pack("!BBH", _FIN_BINARY, 126, size)
    else:
        header = struct.pack("!BBQ", _FIN_BINARY, 127, size)
    return header + payload
