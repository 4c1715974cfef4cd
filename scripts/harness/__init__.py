"""The protobuf command-line client for pm-server.

    python -m scripts.harness --url ws://127.0.0.1:8000/ws --token TOKEN <subcommand> [--json]

Each module of this package adds the subcommands of one entity through `subcommand`.
"""
