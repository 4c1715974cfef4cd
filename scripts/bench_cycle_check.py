"""Benchmark of the dependency cycle check on 10,000 blocks edges (`make bench`).

Builds throw-away tenant databases in a temporary directory through the tenants layer and
times `tenants.dependencies.find_cycle` for edges it accepts (no cycle: reachability only)
and edges it refuses (reachability, then one path rebuilt for the message). Prints figures;
asserts nothing about speed.

    python -m scripts.bench_cycle_check [--items 2000] [--edges 10000] [--samples 200]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tenants import dependencies, projects, work_items
from tenants.migrator import load_migrations, migrate

ACTOR = "bench"


@dataclass(frozen=True)
class Graph:
    """Items in topological order (every blocks edge goes forward) and the edges added."""

    items: list[str]
    edges: set[tuple[str, str]]


def open_tenant(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn, load_migrations())
    return conn


def make_items(conn: sqlite3.Connection, count: int, key: str = "PM") -> list[str]:
    """A project with `count` tasks, numbered key-1 .. key-count."""
    project_id = str(uuid.uuid4())
    projects.insert(
        conn, project_id=project_id, key=key, name=key, description="", actor_id=ACTOR, now_ms=1
    )
    items: list[str] = []
    for _ in range(count):
        items.append(
            work_items.insert(
                conn,
                item_id=str(uuid.uuid4()),
                project_id=project_id,
                number=projects.allocate_item_number(conn, project_id),
                type="task",
                parent_id=None,
                status="backlog",
                rank=f"{len(items):09d}",
                title="item",
                description="",
                priority="medium",
                assignee_id=None,
                sprint_id=None,
                story_points=None,
                actor_id=ACTOR,
                now_ms=1,
                project_key=key,
            ).id
        )
    return items


def add_blocks(conn: sqlite3.Connection, source: str, target: str) -> None:
    dependencies.insert(
        conn,
        dependency_id=str(uuid.uuid4()),
        from_item_id=source,
        to_item_id=target,
        type=dependencies.BLOCKS,
        actor_id=ACTOR,
        now_ms=1,
    )


def build_graph(
    conn: sqlite3.Connection, *, items: int, edges: int, seed: int = 7, key: str = "PM"
) -> Graph:
    """A chain through every item plus random forward edges: a DAG with long paths.

    With edges == items - 1 it is one long chain.
    """
    if edges < items - 1:
        raise ValueError("need at least items - 1 edges for the chain")
    conn.execute("BEGIN")
    ids = make_items(conn, items, key)
    added: set[tuple[str, str]] = set()
    for source, target in zip(ids, ids[1:], strict=False):
        add_blocks(conn, source, target)
        added.add((source, target))
    rng = random.Random(seed)
    while len(added) < edges:
        i, j = sorted(rng.sample(range(items), 2))
        if (ids[i], ids[j]) not in added:
            add_blocks(conn, ids[i], ids[j])
            added.add((ids[i], ids[j]))
    conn.execute("COMMIT")
    return Graph(ids, added)


def accepted_pairs(graph: Graph, count: int, seed: int = 11) -> list[tuple[str, str]]:
    """New forward edges: never a cycle, but reachability walks every later item."""
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    while len(pairs) < count:
        i, j = sorted(rng.sample(range(len(graph.items)), 2))
        pair = (graph.items[i], graph.items[j])
        if pair not in graph.edges:
            pairs.append(pair)
    return pairs


def refused_pairs(graph: Graph, count: int, seed: int = 13) -> list[tuple[str, str]]:
    """Backward edges: the chain makes each one close a cycle."""
    return [(b, a) for a, b in accepted_pairs(graph, count, seed)]


def time_checks(check: Callable[[str, str], object], pairs: list[tuple[str, str]]) -> list[float]:
    timings = []
    for source, target in pairs:
        started = time.perf_counter()
        check(source, target)
        timings.append(time.perf_counter() - started)
    return timings


def summary(label: str, timings: list[float]) -> str:
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"  {label:<9} n={len(timings):<4} mean={statistics.mean(timings) * 1e3:8.2f} ms"
        f"  median={statistics.median(timings) * 1e3:8.2f} ms  p95={p95 * 1e3:8.2f} ms"
        f"  max={ordered[-1] * 1e3:8.2f} ms"
    )


def run_scenario(directory: Path, name: str, items: int, edges: int, samples: int) -> None:
    conn = open_tenant(directory / f"{name}.sqlite3")
    started = time.perf_counter()
    graph = build_graph(conn, items=items, edges=edges)
    print(f"{name}: {items} items, {len(graph.edges)} blocks edges")
    print(f"  built in {time.perf_counter() - started:.2f} s")

    def check(source: str, target: str) -> object:
        return dependencies.find_cycle(conn, source, target)

    accepted = accepted_pairs(graph, samples)
    refused = refused_pairs(graph, samples)
    lengths = [len(dependencies.find_cycle(conn, s, t) or []) for s, t in refused[:20]]
    print(summary("accepted", time_checks(check, accepted)))
    print(summary("refused", time_checks(check, refused)))
    print(f"  refused cycles named {min(lengths)}..{max(lengths)} items (first 20 samples)")
    conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--edges", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pm-bench-") as tmp:
        directory = Path(tmp)
        run_scenario(directory, "random DAG over a chain", args.items, args.edges, args.samples)
        chain_samples = max(1, args.samples // 10)
        run_scenario(directory, "one long chain", args.edges + 1, args.edges, chain_samples)


if __name__ == "__main__":
    main()
