"""The command reference in docs/ stays in step with proto/."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from hamcrest import assert_that, empty

from pm.v1 import envelope_pb2 as env
from server.config import Config
from server.protocol import CloseCode

ROOT = Path(__file__).resolve().parent.parent


def _type_name(field: Any) -> str:
    assert field.message_type is not None, field.name
    return str(field.message_type.name)


def _documented() -> set[str]:
    headings: set[str] = set()
    for page in (ROOT / "docs" / "commands").glob("*.md"):
        headings.update(re.findall(r"^## (\w+)\s*$", page.read_text("utf-8"), re.MULTILINE))
    return headings


def test_given_the_proto_when_listing_its_commands_then_each_has_a_docs_heading() -> None:
    commands = {
        _type_name(field) for field in env.ClientMessage.DESCRIPTOR.oneofs_by_name["payload"].fields
    }

    missing = sorted(commands - _documented())

    assert_that(missing, empty())


def test_given_the_proto_when_reading_the_response_then_every_command_has_a_result() -> None:
    payload = env.ClientMessage.DESCRIPTOR.oneofs_by_name["payload"].fields
    results = {f.name: f for f in env.Response.DESCRIPTOR.oneofs_by_name["result"].fields}
    wrong = [
        f.name
        for f in payload
        if f.name not in ("ping", "pong")
        and (
            f.name not in results
            or results[f.name].number != f.number
            or _type_name(results[f.name]) != f"{_type_name(f)}Result"
        )
    ]

    assert_that(wrong, empty())


def test_given_the_docs_when_reading_their_links_then_none_leaves_the_repository() -> None:
    outside: list[str] = []
    for page in [*(ROOT / "docs").rglob("*.md"), ROOT / "README.md"]:
        for target in re.findall(r"\]\(([^)#]+)", page.read_text("utf-8")):
            if "://" in target:
                continue
            if not (page.parent / target).resolve().is_relative_to(ROOT):
                outside.append(f"{page.relative_to(ROOT)}: {target}")
        if "shared/" in page.read_text("utf-8"):
            outside.append(f"{page.relative_to(ROOT)}: mentions shared/")

    assert_that(outside, empty())


def test_given_the_close_codes_when_reading_the_protocol_doc_then_each_is_explained() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text("utf-8")

    missing = [code.name for code in CloseCode if f"| {int(code)} |" not in text]

    assert_that(missing, empty())


def test_given_the_config_when_reading_the_readme_then_every_setting_is_named() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")

    missing = [
        f"PM_{field.name.upper()}"
        for field in dataclasses.fields(Config)
        if field.init and f"PM_{field.name.upper()}" not in readme
    ]

    assert_that(missing, empty())
