"""python -m scripts.harness [--url URL] [--token TOKEN] [--json] <subcommand> ...

--url, --token and --json may also follow the subcommand. Exit status: 0 done, 1 the server
answered the command with an Error, 2 a usage or connection problem (one line on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import pkgutil
import sys
from collections.abc import Callable
from typing import Any

import scripts.harness
from scripts.harness.client import (
    CONNECTION_FAILURES,
    Client,
    CommandFailed,
    UsageError,
    describe_error,
    describe_failure,
)
from scripts.harness.output import render

DEFAULT_URL = "ws://127.0.0.1:8000/ws"


def _subcommand_modules() -> list[object]:
    """Every module of the package with a `register(subparsers)` adds its subcommands."""
    found: list[object] = []
    for info in sorted(pkgutil.iter_modules(scripts.harness.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"scripts.harness.{info.name}")
        if hasattr(module, "register"):
            found.append(module)
    return found


def _add_global_options(parser: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    """The options every subcommand shares; on a subparser they default to SUPPRESS, so a
    value given before the subcommand is kept unless it is given again after it."""

    def default(name: str) -> Any:
        return defaults.get(name, argparse.SUPPRESS)

    parser.add_argument(
        "--url", default=default("url"), help=f"WebSocket URL (default: PM_URL or {DEFAULT_URL})"
    )
    parser.add_argument("--token", default=default("token"), help="JWT (default: PM_TOKEN)")
    parser.add_argument(
        "--json", action="store_true", default=default("json"), help="print results as JSON lines"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.harness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_global_options(
        parser,
        {
            "url": os.environ.get("PM_URL", DEFAULT_URL),
            "token": os.environ.get("PM_TOKEN", ""),
            "json": False,
        },
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="<subcommand>")
    for module in _subcommand_modules():
        module.register(sub)  # type: ignore[attr-defined]
    for subparser in set(sub.choices.values()):
        _add_global_options(subparser, {})
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    args, extras = parser.parse_known_args(argv)
    # A subcommand may claim leftovers argparse could not place (an optional positional
    # after an option, as in `call CreateProject --json '{...}'`).
    adopt: Callable[[argparse.Namespace, list[str]], list[str]] | None = getattr(
        args, "adopt_extras", None
    )
    if extras and adopt is not None:
        extras = adopt(args, extras)
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


async def run(args: argparse.Namespace) -> int:
    async with Client(args.url, args.token) as client:
        try:
            result = await args.run(client, args)
        except CommandFailed as failed:
            line = render(failed.error, True) if args.json else describe_error(failed.error)
            print(line, file=sys.stderr)
            return 1
        if result is not None:
            print(render(result, args.json))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(build_parser(), argv)
    prepare: Callable[[argparse.Namespace], None] | None = getattr(args, "prepare", None)
    try:
        if prepare is not None:
            prepare(args)
    except UsageError as problem:
        print(f"harness: {problem}", file=sys.stderr)
        return 2
    if not args.token:
        print(
            "harness: --token (or PM_TOKEN) is required; mint one with python -m scripts.token",
            file=sys.stderr,
        )
        return 2
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130
    except CONNECTION_FAILURES as failure:
        print(f"harness: {describe_failure(args.url, failure)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
