"""python -m scripts.harness --url ws://127.0.0.1:8000/ws --token TOKEN <subcommand> [--json]"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import pkgutil
import sys

import scripts.harness
from scripts.harness.client import Client, CommandFailed
from scripts.harness.output import render


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.harness", description=__doc__)
    parser.add_argument("--url", default=os.environ.get("PM_URL", "ws://127.0.0.1:8000/ws"))
    parser.add_argument("--token", default=os.environ.get("PM_TOKEN", ""))
    parser.add_argument("--json", action="store_true", help="print results as JSON lines")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _subcommand_modules():
        module.register(sub)  # type: ignore[attr-defined]
    return parser


async def run(args: argparse.Namespace) -> int:
    async with Client(args.url, args.token) as client:
        try:
            result = await args.run(client, args)
        except CommandFailed as failed:
            print(render(failed.error, args.json), file=sys.stderr)
            return 1
        if result is not None:
            print(render(result, args.json))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.token:
        print(
            "--token (or PM_TOKEN) is required; mint one with python -m scripts.token",
            file=sys.stderr,
        )
        return 2
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
