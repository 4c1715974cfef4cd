"""`make run-cluster`: two pm-server processes joined by a local Redis, to watch through one
and write through the other.

python -m scripts.cluster [--port P] [--data-dir DIR] [--log-level info]

Starts `redis-server` on a free port with its files in a temporary directory (nothing saved),
then two `python -m server` processes on ports P and P+1 (two free ports without --port)
sharing one data directory (a temporary one unless --data-dir) and PM_BROKER_URL, with the
development secret; prints a development token and harness commands. Runs until Ctrl-C (or
SIGTERM, or one of its processes exiting), then stops the servers gracefully, then Redis.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.error import URLError
from urllib.request import urlopen

from server.config import DEVELOPMENT_JWT_SECRET
from server.tokens import mint_token

REPO = Path(__file__).resolve().parent.parent
START_LIMIT_S = 20.0
STOP_LIMIT_S = 20.0
HARNESS = ".venv/bin/python -m scripts.harness"


class _Stop(Exception):
    """A stop signal arrived."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop_process(process: subprocess.Popen[bytes], limit: float = STOP_LIMIT_S) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(limit)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode


def _wait_until(ready: Iterator[bool], process: subprocess.Popen[bytes], what: str) -> None:
    # A process's start is the one place a bounded poll is the honest way to wait.
    deadline = time.monotonic() + START_LIMIT_S
    for answered in ready:
        if answered:
            return
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited at start-up with status {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer within {START_LIMIT_S:.0f} s")
        time.sleep(0.05)


def _pings(port: int) -> Iterator[bool]:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                yield sock.recv(16).startswith(b"+PONG")
        except OSError:
            yield False


def _healthy(port: int) -> Iterator[bool]:
    while True:
        try:
            with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                yield answer.status == 200
        except (URLError, OSError):
            yield False


@dataclass(frozen=True)
class LocalRedis:
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def local_redis(directory: Path, *, group: bool = False) -> Iterator[LocalRedis]:
    """`redis-server` on a free port, its files in `directory`, nothing saved.

    With `group`, in its own process group: a terminal's Ctrl-C then reaches our process
    alone, which stops Redis last, after the servers that use it.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    process = subprocess.Popen(
        [*argv, "no", "--dir", str(directory)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        process_group=0 if group else None,
    )
    try:
        _wait_until(_pings(port), process, "redis-server")
        yield LocalRedis(f"redis://127.0.0.1:{port}/0", process)
    finally:
        _stop_process(process, 5)


def _server_env(port: int, data_dir: Path, broker_url: str) -> dict[str, str]:
    # The caller's own PM_* settings (PM_WORKERS, a production secret) would change what
    # this prints, so the cluster starts from none of them.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PM_")}
    return {
        **environ,
        "PM_HOST": "127.0.0.1",
        "PM_PORT": str(port),
        "PM_DATA_DIR": str(data_dir),
        "PM_BROKER_URL": broker_url,
        "PM_JWT_SECRET": DEVELOPMENT_JWT_SECRET,
        "PM_GRACEFUL_SHUTDOWN_SECONDS": "5",
    }


def _instructions(broker_url: str, data_dir: Path, ports: list[int], token: str) -> str:
    a, b = (f"ws://127.0.0.1:{port}/ws" for port in ports)
    return "\n".join(
        [
            "",
            "pm-server cluster (development secret: never use it in production)",
            f"  broker:  {broker_url} (a redis-server of its own, nothing saved)",
            f"  data:    {data_dir} (shared by both)",
            f"  A:       {a}   health http://127.0.0.1:{ports[0]}/healthz",
            f"  B:       {b}   health http://127.0.0.1:{ports[1]}/healthz",
            f"  token:   {token}",
            "",
            "Watch through A, write through B, each in a terminal of its own:",
            f"  export PM_TOKEN={token}",
            f"  {HARNESS} --url {a} watch --tenant-feed",
            f"  {HARNESS} --url {b} create-project --key DEMO --name Demo",
            f"  {HARNESS} --url {a} watch --project PROJECT_ID",
            f'  {HARNESS} --url {b} create-item --project PROJECT_ID --type task --title "via B"',
            "(PROJECT_ID: the id create-project printed.)",
            "",
            "Ctrl-C stops both servers, then redis-server.",
            "",
        ]
    )


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _wait_for_an_exit(processes: list[subprocess.Popen[bytes]]) -> str:
    """Blocks until a stop signal or the end of one of `processes`; says which."""
    while True:
        # WNOWAIT leaves the child to its Popen, which reads its status afterwards.
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        for process in processes:
            if process.poll() is not None:
                return f"pid {process.pid} exited with status {process.returncode}"


def run(port: int, data_dir: Path | None, log_level: str) -> int:
    ports = [port, port + 1] if port else [free_port(), free_port()]
    while ports[0] == ports[1]:
        ports[1] = free_port()
    servers: list[subprocess.Popen[bytes]] = []
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pm-cluster-")))
        shared = data_dir if data_dir is not None else scratch / "data"
        redis = stack.enter_context(local_redis(scratch / "redis", group=True))
        broker_url = redis.url
        try:
            for each in ports:
                servers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "server", "--log-level", log_level],
                        cwd=REPO,
                        env=_server_env(each, shared, broker_url),
                        stdin=subprocess.DEVNULL,
                        process_group=0,
                    )
                )
            for each, process in zip(ports, servers, strict=True):
                _wait_until(_healthy(each), process, f"the server on port {each}")
            token = mint_token(
                DEVELOPMENT_JWT_SECRET,
                tenant_id="dev",
                user_id="dev-user",
                roles=["admin"],
                ttl_seconds=24 * 3600,
            )
            print(_instructions(broker_url, shared, ports, token), flush=True)
            why = _wait_for_an_exit([*servers, redis.process])
            print(f"\nstopping: {why}", file=sys.stderr, flush=True)
            status = 1
        except _Stop:
            print("\nstopping ...", file=sys.stderr, flush=True)
            status = 0
        except RuntimeError as exc:
            print(f"run-cluster: {exc}", file=sys.stderr)
            status = 1
        finally:
            # Further signals must not cut the stop short: the servers close gracefully.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            codes = [_stop_process(process) for process in servers]
        if any(code != 0 for code in codes):
            print(f"server exit statuses: {codes}", file=sys.stderr)
            status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.cluster", description=__doc__)
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PM_PORT") or 0),
        help="the first server's port; the second gets the next (default: PM_PORT, or two free)",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a temporary one")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        return run(args.port, args.data_dir, args.log_level)
    except _Stop:
        return 0  # stopped before anything had started
    except RuntimeError as exc:
        print(f"run-cluster: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
