"""Prints the table of a written result again: `python -m scripts.bench.table [--markdown]
[bench/latest.json]` (markdown is what README.md's Benchmarks section holds)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scripts.bench import report
from scripts.bench.procs import REPO


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=REPO / "bench" / "latest.json")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    written = json.loads(args.path.read_text())
    if args.markdown:
        print(report.markdown(written["figures"]))
    else:
        print(report.text(written["machine"], written["figures"]))


if __name__ == "__main__":
    main()
