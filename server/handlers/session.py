"""The session's own commands: the connection runs them (server/connection.py), the table
holds their roles. Any role may subscribe and unsubscribe."""

from __future__ import annotations

from server.auth import Role
from server.commands import Commands

commands = Commands()
commands.session("subscribe", Role.VIEWER, "Adds projects or the tenant feed; may replay.")
commands.session("unsubscribe", Role.VIEWER, "Removes projects or the tenant feed.")
