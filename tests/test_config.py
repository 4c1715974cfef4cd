"""Config: one immutable value from PM_* variables; production refuses the dev secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hamcrest import assert_that, contains_string, equal_to, has_length, is_not
from hamcrest.core.matcher import Matcher

from server.app import create_app
from server.auth import TokenVerifier
from server.config import DEVELOPMENT_JWT_SECRET, Config, ConfigError
from server.tokens import mint_token
from tenants.errors import Unauthenticated


def test_given_pm_variables_when_reading_the_environment_then_each_is_parsed_by_type() -> None:
    config = Config.from_env(
        {
            "PM_HOST": "0.0.0.0",
            "PM_PORT": "9001",
            "PM_DATA_DIR": "/var/lib/pm",
            "PM_MAX_OPEN_TENANTS": "12",
            "PM_SQLITE_SYNCHRONOUS": "full",
            "PM_JWT_ALGORITHMS": "RS256, ES256",
            "PM_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----",
            "PM_JWT_AUDIENCE": "pm",
            "PM_ALLOWED_ORIGINS": "https://a.example, ,https://b.example,",
            "PM_HEARTBEAT_INTERVAL_MS": "1000",
            "PM_SEND_QUEUE_LIMIT": "64",
            "PM_ENV": "staging",
            "UNRELATED": "ignored",
        }
    )

    assert_that(config.host, equal_to("0.0.0.0"))
    assert_that(config.port, equal_to(9001))
    assert_that(config.data_dir, equal_to(Path("/var/lib/pm")))
    assert_that(config.max_open_tenants, equal_to(12))
    assert_that(config.sqlite_synchronous, equal_to("FULL"))
    assert_that(config.jwt_algorithms, equal_to(("RS256", "ES256")))
    assert_that(config.jwt_audience, equal_to("pm"))
    assert_that(config.allowed_origins, equal_to(("https://a.example", "https://b.example")))
    assert_that(config.heartbeat_interval_ms, equal_to(1000))
    assert_that(config.heartbeat_timeout_ms, equal_to(2000))
    assert_that(config.send_queue_limit, equal_to(64))
    assert_that(config.env, equal_to("staging"))


def test_given_no_variables_when_reading_the_environment_then_the_defaults() -> None:
    assert_that(Config.from_env({}), equal_to(Config()))
    assert_that(Config.from_env({"PM_PORT": ""}).port, equal_to(8000))


def test_given_the_process_environment_when_reading_it_then_pm_variables_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PM_PORT", "8123")

    assert_that(Config.from_env().port, equal_to(8123))


def test_given_an_explicit_heartbeat_timeout_when_reading_then_it_is_kept() -> None:
    config = Config.from_env(
        {"PM_HEARTBEAT_INTERVAL_MS": "1000", "PM_HEARTBEAT_TIMEOUT_MS": "5000"}
    )

    assert_that(config.heartbeat_timeout_ms, equal_to(5000))


@pytest.mark.parametrize(
    ("name", "value", "mentions"),
    [
        ("PM_PORT", "eighty", "PM_PORT"),
        ("PM_SQLITE_SYNCHRONOUS", "sometimes", "PM_SQLITE_SYNCHRONOUS"),
        ("PM_MAX_MESSAGE_BYTES", "100", "PM_MAX_MESSAGE_BYTES"),
        ("PM_SEND_QUEUE_LIMIT", "0", "PM_SEND_QUEUE_LIMIT"),
        ("PM_HEARTBEAT_INTERVAL_MS", "0", "PM_HEARTBEAT_INTERVAL_MS"),
    ],
)
def test_given_a_bad_value_when_reading_the_environment_then_config_error_names_it(
    name: str, value: str, mentions: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        Config.from_env({name: value})

    assert_that(str(refused.value), contains_string(mentions))


def test_given_a_derived_timeout_when_replacing_the_interval_then_the_timeout_follows() -> None:
    config = Config(heartbeat_interval_ms=30_000)

    faster = config.replace(heartbeat_interval_ms=100)

    assert_that(faster.heartbeat_timeout_ms, equal_to(200))


def test_given_an_explicit_timeout_when_replacing_another_field_then_it_is_kept() -> None:
    config = Config(heartbeat_interval_ms=1000, heartbeat_timeout_ms=7000)

    moved = config.replace(heartbeat_interval_ms=500, port=9000)

    assert_that(moved.heartbeat_timeout_ms, equal_to(7000))
    assert_that(moved.port, equal_to(9000))


def test_given_production_with_the_development_secret_when_creating_the_app_then_refused() -> None:
    config = Config.from_env({"PM_ENV": "production"})

    with pytest.raises(ConfigError):
        create_app(config)


def test_given_production_with_its_own_secret_when_creating_the_app_then_accepted() -> None:
    config = Config.from_env({"PM_ENV": "production", "PM_JWT_SECRET": "x" * 48})

    create_app(config)

    assert_that(config.uses_development_secret, equal_to(False))


def test_given_development_with_the_development_secret_when_creating_the_app_then_accepted() -> (
    None
):
    config = Config()

    create_app(config)

    assert_that(config.jwt_secret, equal_to(DEVELOPMENT_JWT_SECRET))


@pytest.mark.parametrize("algorithms", ["none", "HS256,none", "NONE", "HS257", "HS256,RS256"])
def test_given_unusable_jwt_algorithms_when_reading_the_environment_then_a_config_error(
    algorithms: str,
) -> None:
    with pytest.raises(ConfigError) as refused:
        Config.from_env({"PM_JWT_ALGORITHMS": algorithms})

    assert_that(str(refused.value), contains_string("PM_JWT_ALGORITHMS"))


def test_given_rs256_without_a_public_key_when_configuring_then_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        Config(jwt_algorithms=("RS256",))

    assert_that(str(refused.value), contains_string("PM_JWT_PUBLIC_KEY"))


@pytest.mark.parametrize("secret", ["abc", "x" * 31])
def test_given_production_with_a_short_hmac_secret_when_creating_the_app_then_refused(
    secret: str,
) -> None:
    config = Config.from_env({"PM_ENV": "production", "PM_JWT_SECRET": secret})

    with pytest.raises(ConfigError) as refused:
        create_app(config)

    assert_that(str(refused.value), contains_string("32 bytes"))


def test_given_production_with_a_32_byte_secret_when_creating_the_app_then_accepted() -> None:
    create_app(Config.from_env({"PM_ENV": "production", "PM_JWT_SECRET": "k" * 32}))


def test_given_development_with_a_short_secret_when_creating_the_app_then_accepted() -> None:
    create_app(Config.from_env({"PM_JWT_SECRET": "abc"}))


def test_given_pm_jwt_algorithms_none_when_starting_the_server_then_one_line_and_exit_2(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "PM_JWT_ALGORITHMS": "none", "PM_DATA_DIR": str(tmp_path)}

    done = subprocess.run(
        [sys.executable, "-m", "server"], env=env, capture_output=True, text=True, timeout=60
    )

    assert_that(done.returncode, equal_to(2))
    no_traceback: Matcher[str] = is_not(contains_string("Traceback"))
    assert_that(done.stderr, no_traceback)
    assert_that(done.stderr.strip().splitlines(), has_length(1))
    assert_that(done.stderr, contains_string("PM_JWT_ALGORITHMS"))


def test_given_a_public_key_with_hmac_algorithms_when_configuring_then_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        Config(jwt_public_key="-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----")

    assert_that(str(refused.value), contains_string("PM_JWT_ALGORITHMS"))


def test_given_a_public_key_with_rs256_when_configuring_then_accepted() -> None:
    config = Config(jwt_public_key="-----BEGIN PUBLIC KEY-----", jwt_algorithms=("RS256",))

    assert_that(config.uses_development_secret, equal_to(False))


def test_given_a_heartbeat_timeout_not_above_the_interval_when_configuring_then_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        Config(heartbeat_interval_ms=1000, heartbeat_timeout_ms=1000)

    assert_that(str(refused.value), contains_string("PM_HEARTBEAT_TIMEOUT_MS"))


def test_given_a_broker_url_this_build_cannot_serve_when_configuring_then_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        Config.from_env({"PM_BROKER_URL": "nats://127.0.0.1:4222"})

    assert_that(str(refused.value), contains_string("PM_BROKER_URL"))


def test_given_a_redis_broker_url_when_configuring_then_accepted_with_workers() -> None:
    config = Config.from_env({"PM_BROKER_URL": "redis://127.0.0.1:6379/0", "PM_WORKERS": "2"})

    assert_that((config.broker_url, config.workers), equal_to(("redis://127.0.0.1:6379/0", 2)))


def test_given_several_workers_without_a_broker_when_configuring_then_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        Config.from_env({"PM_WORKERS": "2"})

    assert_that(str(refused.value), contains_string("PM_BROKER_URL"))


def test_given_no_audience_configured_when_a_token_carries_aud_then_accepted() -> None:
    config = Config()
    token = mint_token(
        config.jwt_secret, tenant_id="acme", user_id="alice", extra={"aud": "some-api"}
    )

    principal = TokenVerifier(config).verify(token)

    assert_that(principal.user_id, equal_to("alice"))


def test_given_an_audience_configured_when_a_token_carries_another_then_refused() -> None:
    config = Config(jwt_audience="pm")
    token = mint_token(
        config.jwt_secret, tenant_id="acme", user_id="alice", extra={"aud": "some-api"}
    )

    with pytest.raises(Unauthenticated):
        TokenVerifier(config).verify(token)
