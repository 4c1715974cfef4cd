"""The Node load generator as a child process (scripts/bench/loadgen/main.mjs).

It prints JSON lines: marks, then one result (or error). At each mark this side reads the
CPU time and RSS of the watched processes (the server under test and the load generator
itself), so a figure's window is the load generator's own and its CPU share tells whether
the client, not the server, was the bottleneck.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.bench.procs import (
    REPO,
    BenchError,
    cpu_seconds,
    machine_busy_seconds,
    rss_bytes,
    tail,
)

MAIN = REPO / "scripts" / "bench" / "loadgen" / "main.mjs"
NODE_MODULES = REPO / "scripts" / "bench" / "node_modules"


@dataclass
class Sample:
    """What /proc said at one mark: monotonic time, CPU seconds and RSS per watched pid, and
    the busy CPU seconds of the whole machine (to tell what other processes took)."""

    at: float
    cpu: dict[int, float]
    rss: dict[int, int]
    busy: float
    extra: dict[str, Any]


@dataclass
class LoadGen:
    scenario: str
    spec: dict[str, Any]
    workdir: Path
    watch: list[int] = field(default_factory=list)
    marks: dict[str, Sample] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    _process: subprocess.Popen[bytes] | None = None
    _thread: threading.Thread | None = None
    _events: dict[str, threading.Event] = field(default_factory=dict)

    def start(self) -> LoadGen:
        if shutil.which("node") is None:
            raise BenchError("node is not on PATH: the load generator needs Node.js 18 or later")
        if not NODE_MODULES.is_dir():
            raise BenchError("scripts/bench/node_modules is missing: run `make bench-quick`")
        spec_path = self.workdir / f"{self.scenario}-{time.monotonic_ns()}.json"
        spec_path.write_text(json.dumps(self.spec))
        self._stderr = spec_path.with_suffix(".stderr")
        with self._stderr.open("wb") as stderr:
            self._process = subprocess.Popen(
                ["node", str(MAIN), self.scenario, str(spec_path)],
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        self.watch = [*self.watch, self._process.pid]
        self._thread = threading.Thread(target=self._read, name=f"loadgen-{self.scenario}")
        self._thread.start()
        return self

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for raw in self._process.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if "mark" in line:
                name = line.pop("mark")
                self.marks[name] = self._sample(line)
                self._events.setdefault(name, threading.Event()).set()
            elif "result" in line:
                self.result = line["result"]
            elif "error" in line:
                self.error = line["error"]

    def _sample(self, extra: dict[str, Any]) -> Sample:
        cpu: dict[int, float] = {}
        rss: dict[int, int] = {}
        for pid in self.watch:
            try:
                cpu[pid] = cpu_seconds(pid)
                rss[pid] = rss_bytes(pid)
            except OSError:
                pass  # gone already; the window using it will say so
        return Sample(time.monotonic(), cpu, rss, machine_busy_seconds(), extra)

    def wait_mark(self, name: str, timeout: float) -> Sample:
        event = self._events.setdefault(name, threading.Event())
        deadline = time.monotonic() + timeout
        while not event.wait(0.1):
            if self._process is not None and self._process.poll() is not None:
                self._thread_join(5)
                if name in self.marks:
                    break
                raise BenchError(f"{self.scenario} ended before {name!r}: {self._why()}")
            if time.monotonic() > deadline:
                raise BenchError(f"{self.scenario}: no {name!r} within {timeout:.0f} s")
        return self.marks[name]

    def stop_input(self) -> None:
        """Closes the load generator's stdin: the reader scenario stops on it."""
        if self._process is not None and self._process.stdin is not None:
            self._process.stdin.close()

    def wait(self, timeout: float) -> dict[str, Any]:
        assert self._process is not None
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise BenchError(f"{self.scenario} did not finish within {timeout:.0f} s") from None
        self._thread_join(10)
        if self.result is None:
            raise BenchError(f"{self.scenario} failed: {self._why()}")
        return self.result

    def _thread_join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _why(self) -> str:
        if self.error:
            return self.error.splitlines()[0]
        code = self._process.returncode if self._process else None
        return f"exit status {code}: {tail(self._stderr, 5)}"

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(5)

    def cpu_share(self, pid: int, start: str = "start", end: str = "end") -> float | None:
        """Cores used by `pid` between two marks (1.0: one whole core)."""
        first, last = self.marks.get(start), self.marks.get(end)
        if first is None or last is None or pid not in first.cpu or pid not in last.cpu:
            return None
        elapsed = last.at - first.at
        return (last.cpu[pid] - first.cpu[pid]) / elapsed if elapsed > 0 else None

    def own_cpu_share(self, start: str = "start", end: str = "end") -> float | None:
        """The load generator's cores between two marks, from its own precise count."""
        first, last = self.marks.get(start), self.marks.get(end)
        if first is None or last is None or "cpu_s" not in first.extra:
            return self.cpu_share(self.pid, start, end)
        elapsed = (last.extra["t"] - first.extra["t"]) / 1000
        used: float = last.extra["cpu_s"] - first.extra["cpu_s"]
        return round(used / elapsed, 3) if elapsed > 0 else None


def run(
    scenario: str,
    spec: dict[str, Any],
    workdir: Path,
    *,
    watch: list[int] | None = None,
    timeout: float,
) -> LoadGen:
    """Runs one scenario to its end; the LoadGen keeps its result and marks."""
    spec = {**spec, "deadline_ms": int(timeout * 1000)}
    gen = LoadGen(scenario, spec, workdir, watch=list(watch or [])).start()
    try:
        gen.wait(timeout + 10)
    finally:
        gen.kill()
    return gen
