"""One immutable configuration, built once from PM_* environment variables.

Tests build their own `Config(...)`; nothing else reads the environment.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server import jwt_keys
from tenants.database import Synchronous

# The secret `make run` uses; PM_ENV=production refuses to start with it.
DEVELOPMENT_JWT_SECRET = "pm-development-secret-change-me-0123456789"

_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
# What pyjwt verifies with one configured key; "none" is never among them.
_ALGORITHMS = frozenset(
    {
        "HS256",
        "HS384",
        "HS512",
        "RS256",
        "RS384",
        "RS512",
        "ES256",
        "ES384",
        "ES512",
        "PS256",
        "PS384",
        "PS512",
        "EdDSA",
    }
)
_BROKER_SCHEMES = ("", "memory", "redis", "rediss")
MIN_MESSAGE_BYTES = 256 * 1024
MIN_REQUEST_RETENTION_HOURS = 24
# RFC 7518 3.2: an HMAC key at least as long as the hash (HS256: 32 bytes).
MIN_PRODUCTION_SECRET_BYTES = 32


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
    # Keys chosen by a token's kid header (server/jwt_keys.py): a JSON object of kid ->
    # HMAC secret or PEM public key, or a directory of files named by kid. Without it the
    # kid header is ignored, as it always was.
    jwt_keys: str = ""
    # The PM_JWT_KEYS HMAC key whatever the server mints is signed with, its kid in the header.
    jwt_signing_kid: str = ""
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_audience: str = ""
    jwt_issuer: str = ""
    jwt_leeway_seconds: int = 30
    heartbeat_interval_ms: int = 15_000
    # 0: twice the interval.
    heartbeat_timeout_ms: int = 0
    max_message_bytes: int = 1_048_576
    # Commands of one connection taken before its earlier ones are answered.
    max_in_flight: int = 64
    send_queue_limit: int = 1024
    # Bytes queued for one connection before it is cut off with 4008.
    send_queue_bytes: int = 4 * 1_048_576
    # How long a close may wait for the peer before the socket is torn down.
    close_timeout_ms: int = 5_000
    # A request whose headers have not all arrived by then is dropped.
    header_timeout_ms: int = 5_000
    # A replay longer than either answers RESYNC_REQUIRED: reload in bulk instead.
    max_replay_events: int = 50_000
    max_replay_bytes: int = 32 * 1_048_576
    # A gap in a tenant's event stream (a broker delivering late) is filled from the log
    # once it has stayed open this long.
    gap_fill_ms: int = 200
    # Presence changes of a project within this window go out as one update.
    presence_coalesce_ms: int = 100
    # With a broker: another process's presence entries are forgotten this long after its
    # last heartbeat (a process that died leaves no ghost for longer).
    presence_ttl_ms: int = 15_000
    # Events are pruned once beyond the newest N and older than the days (0: count alone),
    # never younger than the minimum age; idempotency records after the hours.
    event_retention_events: int = 100_000
    event_retention_days: int = 7
    event_retention_min_age_seconds: int = 600
    request_retention_hours: int = 48
    retention_interval_seconds: float = 60.0
    allowed_origins: tuple[str, ...] = ()
    # Empty: the in-process hub (one process). redis://host:port/db: events and presence
    # between processes through Redis (server/redis_hub.py).
    broker_url: str = ""
    # Processes serving one port (SO_REUSEPORT); more than one needs a broker.
    workers: int = 1
    # With a broker, each process reads the seq of the tenants it serves this often and
    # fills from the log what the broker did not bring (a lost last event, an outage).
    tail_interval_ms: int = 1_000
    # Another process holding a tenant's write lock: retried for this long, then the
    # command answers RESOURCE_EXHAUSTED.
    busy_timeout_ms: int = 5_000
    cors_origins: tuple[str, ...] = ()
    # Abuse limits (server/limits.py), so one client cannot hurt the others. Commands of one
    # connection: a token bucket (Ping and Pong take none); past it RESOURCE_EXHAUSTED,
    # and after max_refused_commands refusals within 10 s the connection closes with 4029.
    commands_per_second: float = 500.0
    command_burst: int = 2_000
    max_refused_commands: int = 100
    # Upgrades past either answer HTTP 429 (counted per process).
    max_connections_per_user: int = 100
    max_connections_per_tenant: int = 5_000
    # Projects subscribed by one connection, and named by one Subscribe.
    max_subscriptions: int = 1_000
    max_projects_per_subscribe: int = 500
    # Subscribes with since_seq reading a tenant's log at once.
    max_replays_per_tenant: int = 4
    # REST and MCP requests per user (a token bucket each); past it HTTP 429.
    rest_requests_per_second: float = 50.0
    rest_burst: int = 200
    env: str = "development"
    # Seconds uvicorn waits for connections to finish at shutdown.
    graceful_shutdown_seconds: int = 10
    # "text" or "json" (one object a line, with tenant, user, session and request_id).
    log_format: str = "text"
    # Empty: /metrics answers anyone (keep it off the public side); else a bearer token.
    metrics_token: str = ""
    # Whether heartbeat_timeout_ms was derived from the interval (see replace).
    _derived_timeout: bool = dataclasses.field(default=False, init=False, repr=False, compare=False)
    # PM_JWT_KEYS parsed (kid -> key), once, when the configuration is built.
    jwt_key_set: Mapping[str, str] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.heartbeat_timeout_ms <= 0:
            object.__setattr__(self, "heartbeat_timeout_ms", 2 * self.heartbeat_interval_ms)
            object.__setattr__(self, "_derived_timeout", True)
        if self.heartbeat_interval_ms <= 0:
            raise ConfigError("PM_HEARTBEAT_INTERVAL_MS must be positive")
        if self.sqlite_synchronous not in _SYNCHRONOUS:
            raise ConfigError(f"PM_SQLITE_SYNCHRONOUS must be one of {', '.join(_SYNCHRONOUS)}")
        if self.max_message_bytes < MIN_MESSAGE_BYTES:
            # A list page holds at least one item; a 64 KiB description must fit in one frame.
            raise ConfigError(f"PM_MAX_MESSAGE_BYTES must be at least {MIN_MESSAGE_BYTES}")
        if self.heartbeat_timeout_ms <= self.heartbeat_interval_ms:
            raise ConfigError("PM_HEARTBEAT_TIMEOUT_MS must be longer than the interval")
        scheme = self.broker_url.split(":", 1)[0] if self.broker_url else ""
        if scheme not in _BROKER_SCHEMES:
            raise ConfigError(
                "PM_BROKER_URL: use redis://host:port[/db] (or rediss://), or leave it empty"
                " for the in-process hub"
            )
        if self.workers < 1:
            raise ConfigError("PM_WORKERS must be at least 1")
        if self.log_format not in ("text", "json"):
            raise ConfigError("PM_LOG_FORMAT must be text or json")
        if self.workers > 1 and scheme in ("", "memory"):
            raise ConfigError(
                "PM_WORKERS above 1 needs PM_BROKER_URL (redis://...): without a broker the"
                " processes would not see each other's events"
            )
        if self.jwt_keys:
            pass  # checked key by key once the algorithms are (_check_keys)
        elif self.jwt_signing_kid:
            raise ConfigError("PM_JWT_SIGNING_KID names a key of PM_JWT_KEYS, which is not set")
        elif self.jwt_public_key and any(a.upper().startswith("HS") for a in self.jwt_algorithms):
            # pyjwt refuses a PEM key as an HMAC secret: every token would fail at runtime.
            raise ConfigError("PM_JWT_PUBLIC_KEY needs PM_JWT_ALGORITHMS such as RS256 or ES256")
        elif not self.jwt_public_key and not any(a.startswith("HS") for a in self.jwt_algorithms):
            raise ConfigError(
                f"PM_JWT_ALGORITHMS={','.join(self.jwt_algorithms)} needs PM_JWT_PUBLIC_KEY"
            )
        if self.send_queue_limit < 1:
            raise ConfigError("PM_SEND_QUEUE_LIMIT must be positive")
        if self.send_queue_bytes < self.max_message_bytes:
            raise ConfigError(
                "PM_SEND_QUEUE_BYTES must hold at least one PM_MAX_MESSAGE_BYTES frame"
            )
        for name in (
            "close_timeout_ms",
            "header_timeout_ms",
            "max_replay_events",
            "max_in_flight",
            "gap_fill_ms",
            "presence_coalesce_ms",
            "tail_interval_ms",
            "presence_ttl_ms",
            "busy_timeout_ms",
            "event_retention_events",
            "retention_interval_seconds",
            "commands_per_second",
            "command_burst",
            "max_refused_commands",
            "max_connections_per_user",
            "max_connections_per_tenant",
            "max_subscriptions",
            "max_projects_per_subscribe",
            "max_replays_per_tenant",
            "rest_requests_per_second",
            "rest_burst",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"PM_{name.upper()} must be positive")
        for name in ("commands_per_second", "rest_requests_per_second"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"PM_{name.upper()} must be a finite number")
        if self.max_projects_per_subscribe > self.max_subscriptions:
            raise ConfigError("PM_MAX_PROJECTS_PER_SUBSCRIBE must not exceed PM_MAX_SUBSCRIPTIONS")
        if self.event_retention_days < 0 or self.event_retention_min_age_seconds < 0:
            raise ConfigError("PM_EVENT_RETENTION_DAYS and _MIN_AGE_SECONDS must not be negative")
        if self.request_retention_hours < MIN_REQUEST_RETENTION_HOURS:
            # A client retrying after a day must still find its first answer.
            raise ConfigError(
                f"PM_REQUEST_RETENTION_HOURS must be at least {MIN_REQUEST_RETENTION_HOURS}"
            )
        if self.max_replay_bytes < self.max_message_bytes:
            raise ConfigError(
                "PM_MAX_REPLAY_BYTES must hold at least one PM_MAX_MESSAGE_BYTES frame"
            )
        self._check_algorithms()
        if self.jwt_keys:
            self._check_keys()

    def _check_algorithms(self) -> None:
        if not self.jwt_algorithms:
            raise ConfigError("PM_JWT_ALGORITHMS must name at least one algorithm")
        for algorithm in self.jwt_algorithms:
            if algorithm not in _ALGORITHMS:
                raise ConfigError(
                    f"PM_JWT_ALGORITHMS: {algorithm!r} is not accepted;"
                    f" use one of {', '.join(sorted(_ALGORITHMS))}"
                )
        hmac = [a for a in self.jwt_algorithms if a.startswith("HS")]
        # With PM_JWT_KEYS each key verifies only its own family, so both may be listed (a
        # rotation from a secret to a key pair); one key alone cannot serve both.
        if hmac and len(hmac) != len(self.jwt_algorithms) and not self.jwt_keys:
            # One key verifies every algorithm: a public key is no HMAC secret, and the reverse.
            raise ConfigError("PM_JWT_ALGORITHMS: do not mix HMAC (HS*) with public-key algorithms")

    def _check_keys(self) -> None:
        try:
            keys = jwt_keys.parse_keys(self.jwt_keys)
        except ValueError as exc:
            raise ConfigError(f"PM_JWT_KEYS: {exc}") from None
        object.__setattr__(self, "jwt_key_set", keys)
        for kid, material in keys.items():
            if not jwt_keys.algorithms_for(material, self.jwt_algorithms):
                raise ConfigError(
                    f"PM_JWT_KEYS: key {kid!r} is {jwt_keys.describe(material)}, and"
                    f" PM_JWT_ALGORITHMS={','.join(self.jwt_algorithms)} has no algorithm for it"
                )
        default = self.jwt_default_key
        if default and not jwt_keys.algorithms_for(default, self.jwt_algorithms):
            name = "PM_JWT_PUBLIC_KEY" if self.jwt_public_key else "PM_JWT_SECRET"
            raise ConfigError(
                f"{name} (tokens without kid) has no algorithm in"
                f" PM_JWT_ALGORITHMS={','.join(self.jwt_algorithms)}"
            )
        kid = self.jwt_signing_kid
        if kid and kid not in keys:
            raise ConfigError(f"PM_JWT_SIGNING_KID: no key {kid!r} in PM_JWT_KEYS")
        if kid and not jwt_keys.is_hmac_key(keys[kid]):
            raise ConfigError(
                f"PM_JWT_SIGNING_KID: key {kid!r} is a public key; the server signs with"
                " HMAC secrets only"
            )

    @property
    def jwt_default_key(self) -> str:
        """The key of tokens without a kid header ("": such tokens are refused). Beside
        PM_JWT_KEYS the development secret is never a default: only a secret set on purpose."""
        if self.jwt_public_key:
            return self.jwt_public_key
        if self.jwt_key_set and self.jwt_secret == DEVELOPMENT_JWT_SECRET:
            return ""
        return self.jwt_secret

    @property
    def uses_development_secret(self) -> bool:
        return (
            self.jwt_secret == DEVELOPMENT_JWT_SECRET
            and not self.jwt_public_key
            and not self.jwt_key_set
        )

    def check_for_production(self) -> None:
        if self.env != "production":
            return
        if self.uses_development_secret:
            raise ConfigError("PM_ENV=production refuses the development JWT secret")
        uses_hmac = any(a.startswith("HS") for a in self.jwt_algorithms)
        if uses_hmac and len(self.jwt_secret.encode("utf-8")) < MIN_PRODUCTION_SECRET_BYTES:
            raise ConfigError(
                f"PM_ENV=production needs a PM_JWT_SECRET of at least"
                f" {MIN_PRODUCTION_SECRET_BYTES} bytes"
            )
        for kid, material in self.jwt_key_set.items():
            if material == DEVELOPMENT_JWT_SECRET:
                raise ConfigError(f"PM_ENV=production refuses the development secret (key {kid!r})")
            if jwt_keys.is_hmac_key(material) and (
                len(material.encode("utf-8")) < MIN_PRODUCTION_SECRET_BYTES
            ):
                raise ConfigError(
                    f"PM_ENV=production needs PM_JWT_KEYS secrets of at least"
                    f" {MIN_PRODUCTION_SECRET_BYTES} bytes (key {kid!r})"
                )

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
        if text == "float":
            return float(raw)
        if text == "Path":
            return Path(raw)
        if text.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if text == "Synchronous":
            return raw.upper()
        return raw
    except ValueError as exc:
        raise ConfigError(f"PM_{name.upper()}: {exc}") from None
