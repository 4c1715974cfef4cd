"""One handler module per entity; `command_table()` is every command the server runs.

The list is explicit: adding an entity is adding its module here (a test checks that every
command of the proto is in the table, and nothing else).
"""

from __future__ import annotations

from server.commands import CommandTable
from server.handlers import (
    activity,
    comments,
    dependencies,
    projects,
    purge,
    session,
    sprints,
    swim_lanes,
    time_entries,
    users,
    work_items,
)

MODULES = (
    session,
    projects,
    swim_lanes,
    work_items,
    sprints,
    comments,
    time_entries,
    dependencies,
    activity,
    users,
    purge,
)


def command_table() -> CommandTable:
    return CommandTable(spec for module in MODULES for spec in module.commands.specs)
