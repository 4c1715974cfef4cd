"""Every entity kind is complete: a table of its own with its record's columns, a place in
a project's delete, an activity name, a wire message and its Error.current field. A kind
added in one place and forgotten in another fails here, not silently in production."""

from __future__ import annotations

import dataclasses
import sqlite3

from hamcrest import assert_that, empty, equal_to

from pm.v1 import envelope_pb2 as env
from server.wire.kinds import WIRE_KINDS
from tenants import entities
from tenants.migrator import load_migrations, migrate

# Record fields that come from a join, not from the kind's own table.
JOINED = {
    "work_item": {"project_key"},
    "comment": {"row_order"},
    "time_entry": {"project_id"},
}


def _columns(table: str) -> set[str]:
    conn = sqlite3.connect(":memory:")
    migrate(conn, load_migrations())
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def test_given_every_kind_when_checked_then_its_record_matches_its_table() -> None:
    wrong = [
        f"{kind.name}: {sorted(missing)}"
        for kind in entities.KINDS
        if (
            missing := {f.name for f in dataclasses.fields(kind.record)}
            - _columns(kind.table)
            - JOINED.get(kind.name, set())
        )
    ]

    assert_that(wrong, empty())


def test_given_every_kind_but_the_project_when_a_project_is_deleted_then_it_is_reached() -> None:
    without_rule = [k.name for k in entities.KINDS if k.cascade is None]

    assert_that(without_rule, equal_to(["project"]))
    assert_that(entities.KINDS[-1].name, equal_to("project"))  # deleted last


def test_given_the_kinds_when_compared_with_the_wire_then_each_has_a_message_and_a_field() -> None:
    current = {
        field.name: type(getattr(env.Error(), field.name)).DESCRIPTOR.full_name
        for field in env.Error.DESCRIPTOR.oneofs_by_name["current"].fields
    }
    wire = {w.name: w.message.DESCRIPTOR.full_name for w in WIRE_KINDS}

    assert_that(sorted(wire), equal_to(sorted(k.name for k in entities.KINDS)))
    assert_that(current, equal_to(wire))


def test_given_the_activity_log_when_asked_for_an_entity_then_every_kind_is_accepted() -> None:
    assert_that(sorted(entities.BY_NAME), equal_to(sorted(k.name for k in entities.KINDS)))
