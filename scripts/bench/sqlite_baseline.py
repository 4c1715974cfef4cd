"""The durable-write baseline: raw sqlite3, one single-row INSERT and COMMIT after another,
in WAL with the chosen synchronous mode, on the disk the server's data goes to. (This was
scripts/bench_write_path.py's baseline.)

    python -m scripts.bench.sqlite_baseline --dir DIR --synchronous FULL --seconds 3

Prints {"rate": commits per second, "writes": n, "seconds": s} as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
import uuid
from pathlib import Path

PAYLOAD = b"x" * 100


def commits_per_second(path: Path, synchronous: str, seconds: float) -> dict[str, float]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY, payload BLOB)")
    writes = 0
    started = time.perf_counter()
    stop_at = started + seconds
    while time.perf_counter() < stop_at:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?, ?)", (str(uuid.uuid4()), PAYLOAD))
        conn.execute("COMMIT")
        writes += 1
    elapsed = time.perf_counter() - started
    conn.close()
    return {"rate": writes / elapsed, "writes": writes, "seconds": elapsed}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--synchronous", choices=("NORMAL", "FULL"), required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    path = args.dir / f"baseline-{uuid.uuid4().hex}.sqlite3"
    print(json.dumps(commits_per_second(path, args.synchronous, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
