"""One immutable configuration, built once from PM_* environment variables.

Tests build their own `Config(...)`; nothing else reads the environment.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenants.database import Synchronous

# The secret `make run` uses; PM_ENV=production refuses to start with it.
DEVELOPMENT_JWT_SECRET = "pm-development-secret-change-me-0123456789"

_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    max_open_tenants: int = 256
    sqlite_synchronous: Synchronous = "NORMAL"
    jwt_secret: str = DEVELOPMENT_JWT_SECRET
    jwt_public_key: str = ""
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_audience: str = ""
    jwt_issuer: str = ""
    jwt_leeway_seconds: int = 30
    heartbeat_interval_ms: int = 15_000
    # 0: twice the interval.
    heartbeat_timeout_ms: int = 0
    max_message_bytes: int = 1_048_576
    send_queue_limit: int = 1024
    allowed_origins: tuple[str, ...] = ()
    broker_url: str = ""
    cors_origins: tuple[str, ...] = ()
    env: str = "development"
    # Seconds uvicorn waits for connections to finish at shutdown.
    graceful_shutdown_seconds: int = 10
    # Whether heartbeat_timeout_ms was derived from the interval (see replace).
    _derived_timeout: bool = dataclasses.field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.heartbeat_timeout_ms <= 0:
            object.__setattr__(self, "heartbeat_timeout_ms", 2 * self.heartbeat_interval_ms)
            object.__setattr__(self, "_derived_timeout", True)
        if self.heartbeat_interval_ms <= 0:
            raise ConfigError("PM_HEARTBEAT_INTERVAL_MS must be positive")
        if self.sqlite_synchronous not in _SYNCHRONOUS:
            raise ConfigError(f"PM_SQLITE_SYNCHRONOUS must be one of {', '.join(_SYNCHRONOUS)}")
        if self.max_message_bytes < 1024:
            raise ConfigError("PM_MAX_MESSAGE_BYTES must be at least 1024")
        if self.heartbeat_timeout_ms <= self.heartbeat_interval_ms:
            raise ConfigError("PM_HEARTBEAT_TIMEOUT_MS must be longer than the interval")
        if self.broker_url and not self.broker_url.startswith("memory:"):
            raise ConfigError("PM_BROKER_URL: only the in-process hub (empty) is available")
        if self.jwt_public_key and any(a.upper().startswith("HS") for a in self.jwt_algorithms):
            # pyjwt refuses a PEM key as an HMAC secret: every token would fail at runtime.
            raise ConfigError("PM_JWT_PUBLIC_KEY needs PM_JWT_ALGORITHMS such as RS256 or ES256")
        if self.send_queue_limit < 1:
            raise ConfigError("PM_SEND_QUEUE_LIMIT must be positive")

    @property
    def uses_development_secret(self) -> bool:
        return self.jwt_secret == DEVELOPMENT_JWT_SECRET and not self.jwt_public_key

    def check_for_production(self) -> None:
        if self.env == "production" and self.uses_development_secret:
            raise ConfigError("PM_ENV=production refuses the development JWT secret")

    def replace(self, **changes: Any) -> Config:
        if self._derived_timeout and "heartbeat_timeout_ms" not in changes:
            # Derive it again: copying it would keep twice the *old* interval.
            changes["heartbeat_timeout_ms"] = 0
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            raw = env.get(f"PM_{field.name.upper()}")
            if raw is None or raw == "":
                continue
            values[field.name] = _parse(field.name, raw, field.type)
        return cls(**values)


def _parse(name: str, raw: str, kind: object) -> Any:
    text = str(kind)
    try:
        if text == "int":
            return int(raw)
        if text == "Path":
            return Path(raw)
        if text.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if text == "Synchronous":
            return raw.upper()
        return raw
    except ValueError as exc:
        raise ConfigError(f"PM_{name.upper()}: {exc}") from None
