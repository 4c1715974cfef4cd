"""`python -m server`: serve pm-server under uvicorn (settings in server/serve.py); with
PM_WORKERS above 1, supervise that many worker processes on one port (server/workers.py)."""

from __future__ import annotations

import argparse
import gc
import logging
import resource
import signal
import sys
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from server import workers
from server.app import create_app
from server.config import Config, ConfigError
from server.logs import apply_log_format
from server.serve import uvicorn_config
from server.tokens import mint_token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    parser.add_argument(
        "--dev", action="store_true", help="print a development token for tenant 'dev'"
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    _raise_descriptor_limit()
    # Reads run on pool threads: while one converts rows, the event loop (and every write)
    # waits for the GIL up to this interval. CPython's 5 ms shows in every write's latency
    # under reads; 1 ms costs a little more switching when both are busy.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    index = workers.worker_index()
    app: Starlette | None = None
    try:
        config = Config.from_env()
        apply_log_format(config.log_format)
        if config.workers > 1 and index is None:
            # Checked here, once, rather than by each worker: a refusal is printed once.
            workers.check_supported()
            config.check_for_production()
        else:
            app = create_app(config)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.dev and config.uses_development_secret:
        token = mint_token(
            config.jwt_secret,
            tenant_id="dev",
            user_id="dev-user",
            roles=["admin"],
            ttl_seconds=24 * 3600,
        )
        url = f"ws://{config.host}:{config.port}/ws"
        print(
            "\npm-server (development secret: never use it in production)\n"
            f"  health:  http://{config.host}:{config.port}/healthz\n"
            f"  token:   {token}\n"
            f"  try:     .venv/bin/python -m scripts.harness --url {url} --token <token> ping\n",
            flush=True,
        )
    if app is None:
        return workers.supervise(config, log_level=args.log_level)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again under the
    # handler found before it started; with the default one the process would die of it
    # after a clean shutdown. This one turns a requested stop into exit status 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    # Everything made so far (modules, descriptors, the app) lives as long as the process:
    # out of the collector's sight, a full collection walks only what requests made. Under a
    # large read (a 10,000-item context) that cut the stop-the-world pauses by two thirds.
    gc.freeze()
    server = uvicorn.Server(uvicorn_config(app, config, log_level=args.log_level))
    if index is None:
        server.run()
        return 0
    try:
        sock = workers.listening_socket(config.host, config.port)
    except OSError as exc:
        print(
            f"worker {index}: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr
        )
        return 1
    workers.watch_lifeline()
    server.run(sockets=[sock])
    return 0


SWITCH_INTERVAL_S = 0.001


def _raise_descriptor_limit() -> None:
    """Each socket and each open tenant database (three files) holds descriptors; the soft
    limit (often 1024) is only a default, the hard one what the system allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass  # e.g. macOS refuses an unlimited hard limit: keep the soft one


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
