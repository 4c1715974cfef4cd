"""How the harness prints messages: one JSON line each with --json, protobuf text otherwise."""

from __future__ import annotations

import json

from google.protobuf import json_format, text_format
from google.protobuf.message import Message


def render(message: Message, as_json: bool) -> str:
    if as_json:
        return json.dumps(
            json_format.MessageToDict(message, preserving_proto_field_name=True),
            separators=(",", ":"),
        )
    return text_format.MessageToString(message, as_one_line=False).rstrip() or "(ok)"
