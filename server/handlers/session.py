"""The session's own commands: the connection and its subscriptions run them
(server/connection.py, server/subscriptions.py); the table holds their roles. Any role
may send them."""

from __future__ import annotations

from server.auth import Role
from server.commands import Commands

commands = Commands()
commands.session("subscribe", Role.VIEWER, "Adds projects or the tenant feed; may replay.")
commands.session("unsubscribe", Role.VIEWER, "Removes projects or the tenant feed.")
commands.session("set_viewing", Role.VIEWER, "Says which item of a subscribed project one views.")
commands.session("refresh_token", Role.VIEWER, "Moves the connection's expiry with a newer token.")
