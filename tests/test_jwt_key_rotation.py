"""Several verification keys at once, picked by the token's kid (PM_JWT_KEYS): keys rotate
without downtime, an unknown kid is refused, and what the server signs names its kid."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hamcrest import assert_that, contains_string, equal_to, has_entries, less_than
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from pm.v1 import envelope_pb2 as env
from pm.v1 import session_pb2
from scripts import token as token_script
from server.auth import TokenVerifier
from server.config import DEVELOPMENT_JWT_SECRET, Config, ConfigError
from server.tokens import mint_server_token, mint_token
from tenants.errors import Unauthenticated
from tests.server_fixture import RunningServer, make_config, run_server
from tests.wire import TIMEOUT, open_client

OLD = "old-secret-0123456789-0123456789-0123456789"
NEW = "new-secret-0123456789-0123456789-0123456789"
FORGER = "forged-secret-0123456789-0123456789-01234567"
_EC_KEY = ec.generate_private_key(ec.SECP256R1())
EC_PRIVATE = _EC_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
EC_PUBLIC = (
    _EC_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def _keys(**keys: str) -> str:
    return json.dumps({kid.replace("_", "-"): material for kid, material in keys.items()})


def _config(keys: str, **overrides: object) -> Config:
    return Config(jwt_keys=keys, **overrides)  # type: ignore[arg-type]


def _token(secret: str, kid: str | None, *, algorithm: str = "HS256", ttl: int = 3600) -> str:
    return mint_token(
        secret, tenant_id="acme", user_id="alice", kid=kid, algorithm=algorithm, ttl_seconds=ttl
    )


def _refusal(config: Config, token: str) -> str:
    with pytest.raises(Unauthenticated) as refused:
        TokenVerifier(config).verify(token)
    return refused.value.message


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hs256_with(secret: bytes, kid: object) -> str:
    """An HS256 token keyed by arbitrary bytes (pyjwt will not sign with a PEM as secret)."""
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = _b64(
        json.dumps({"sub": "alice", "tenant_id": "acme", "iat": now, "exp": now + 60}).encode()
    )
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


# --- choosing the key ------------------------------------------------------------------------


def test_given_an_old_and_a_new_key_when_tokens_of_each_arrive_then_both_are_accepted() -> None:
    verifier = TokenVerifier(_config(_keys(k2024=OLD, k2025=NEW)))

    old = verifier.verify(_token(OLD, "k2024"))
    new = verifier.verify(_token(NEW, "k2025"))

    assert_that((old.user_id, new.user_id), equal_to(("alice", "alice")))


def test_given_the_old_key_removed_when_its_token_arrives_then_refused_as_an_unknown_key() -> None:
    token = _token(OLD, "k2024")

    message = _refusal(_config(_keys(k2025=NEW)), token)

    assert_that(message, equal_to("token signed with an unknown key (kid 'k2024')"))


def test_given_a_forged_signature_under_a_known_kid_when_verified_then_refused() -> None:
    message = _refusal(_config(_keys(k2024=OLD, k2025=NEW)), _token(FORGER, "k2025"))

    assert_that(message, equal_to("invalid token: InvalidSignatureError"))


def test_given_a_token_signed_by_one_key_but_naming_another_when_verified_then_refused() -> None:
    message = _refusal(_config(_keys(k2024=OLD, k2025=NEW)), _token(OLD, "k2025"))

    assert_that(message, equal_to("invalid token: InvalidSignatureError"))


@pytest.mark.parametrize("kid", ["", "k2024", "x" * 500, "k\n2025"])
def test_given_a_kid_that_names_no_configured_key_when_verified_then_refused(kid: str) -> None:
    message = _refusal(_config(_keys(k2025=NEW)), _hs256_with(NEW.encode(), kid))

    assert_that(message, contains_string("token signed with an unknown key (kid '"))
    assert_that(len(message), less_than(120))  # a kid is the client's text: bounded


@pytest.mark.parametrize("kid", [7, ["k2025"], None])
def test_given_a_kid_that_is_not_a_string_when_verified_then_refused(kid: object) -> None:
    with pytest.raises(Unauthenticated):
        TokenVerifier(_config(_keys(k2025=NEW))).verify(_hs256_with(NEW.encode(), kid))


def test_given_keys_and_an_explicit_secret_when_a_token_has_no_kid_then_the_secret_verifies() -> (
    None
):
    config = _config(_keys(k2025=NEW), jwt_secret=OLD)

    principal = TokenVerifier(config).verify(_token(OLD, None))

    assert_that(principal.user_id, equal_to("alice"))


def test_given_keys_and_no_secret_of_its_own_when_a_token_has_no_kid_then_refused() -> None:
    # The development secret is only ever the default of a server with no keys at all.
    config = _config(_keys(k2025=NEW))

    message = _refusal(config, _token(DEVELOPMENT_JWT_SECRET, None))

    assert_that(message, contains_string("no kid"))
    assert_that(config.uses_development_secret, equal_to(False))


def test_given_no_keys_configured_when_a_token_carries_a_kid_then_it_is_ignored() -> None:
    config = Config(jwt_secret=OLD)

    principal = TokenVerifier(config).verify(_token(OLD, "whatever-the-idp-says"))

    assert_that(principal.user_id, equal_to("alice"))


def test_given_a_secret_and_a_key_pair_when_each_family_signs_then_each_verifies_its_own() -> None:
    config = _config(_keys(hmac_1=NEW, ec_1=EC_PUBLIC), jwt_algorithms=("HS256", "ES256"))
    verifier = TokenVerifier(config)

    by_ec = verifier.verify(_token(EC_PRIVATE, "ec-1", algorithm="ES256"))
    by_hmac = verifier.verify(_token(NEW, "hmac-1"))
    # The public key is no secret: an HS256 token keyed by its PEM must not pass.
    confused = _refusal(config, _hs256_with(EC_PUBLIC.encode(), "ec-1"))

    assert_that((by_ec.user_id, by_hmac.user_id), equal_to(("alice", "alice")))
    assert_that(confused, equal_to("invalid token: InvalidAlgorithmError"))


# --- the configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "mentions"),
    [
        ({"PM_JWT_KEYS": "{not json"}, "PM_JWT_KEYS: not valid JSON"),
        ({"PM_JWT_KEYS": '{"a": 1}'}, "PM_JWT_KEYS: expected a JSON object"),
        ({"PM_JWT_KEYS": "{}"}, "PM_JWT_KEYS: no keys found"),
        ({"PM_JWT_KEYS": '{"a b": "' + NEW + '"}'}, "PM_JWT_KEYS: kid 'a b'"),
        ({"PM_JWT_KEYS": '{"a": "  "}'}, "PM_JWT_KEYS: key 'a' is empty"),
        ({"PM_JWT_KEYS": "/nonexistent/keys"}, "neither a JSON object nor a directory"),
        (
            {"PM_JWT_KEYS": _keys(a="-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")},
            "key 'a' is not a PEM public key",
        ),
        ({"PM_JWT_KEYS": _keys(a=EC_PRIVATE)}, "key 'a' is a private key"),
        (
            {"PM_JWT_KEYS": _keys(a=NEW), "PM_JWT_ALGORITHMS": "ES256"},
            "key 'a' is an HMAC secret, and PM_JWT_ALGORITHMS=ES256 has no algorithm for it",
        ),
        (
            {"PM_JWT_KEYS": _keys(a=EC_PUBLIC)},
            "key 'a' is a PEM public key, and PM_JWT_ALGORITHMS=HS256 has no algorithm",
        ),
        ({"PM_JWT_KEYS": _keys(a=NEW), "PM_JWT_ALGORITHMS": "HS256,none"}, "PM_JWT_ALGORITHMS"),
        (
            {"PM_JWT_KEYS": _keys(a=NEW), "PM_JWT_SIGNING_KID": "b"},
            "PM_JWT_SIGNING_KID: no key 'b' in PM_JWT_KEYS",
        ),
        (
            {
                "PM_JWT_KEYS": _keys(a=NEW, e=EC_PUBLIC),
                "PM_JWT_ALGORITHMS": "HS256,ES256",
                "PM_JWT_SIGNING_KID": "e",
            },
            "PM_JWT_SIGNING_KID: key 'e' is a public key",
        ),
        ({"PM_JWT_SIGNING_KID": "a"}, "PM_JWT_SIGNING_KID names a key of PM_JWT_KEYS"),
        (
            {"PM_JWT_KEYS": _keys(e=EC_PUBLIC), "PM_JWT_ALGORITHMS": "ES256", "PM_JWT_SECRET": OLD},
            "PM_JWT_SECRET (tokens without kid) has no algorithm",
        ),
    ],
)
def test_given_unusable_key_settings_when_reading_the_environment_then_a_config_error(
    variables: dict[str, str], mentions: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        Config.from_env(variables)

    assert_that(str(refused.value), contains_string(mentions))


@pytest.mark.parametrize(
    ("key", "mentions"),
    [("short-secret", "at least 32 bytes (key 'a')"), (DEVELOPMENT_JWT_SECRET, "development")],
)
def test_given_production_with_a_weak_key_when_checked_then_refused(
    key: str, mentions: str
) -> None:
    config = Config.from_env({"PM_ENV": "production", "PM_JWT_KEYS": _keys(a=key)})

    with pytest.raises(ConfigError) as refused:
        config.check_for_production()

    assert_that(str(refused.value), contains_string(mentions))


def test_given_production_with_strong_keys_only_when_checked_then_accepted() -> None:
    config = Config.from_env({"PM_ENV": "production", "PM_JWT_KEYS": _keys(a=OLD, b=NEW)})

    config.check_for_production()

    assert_that(config.jwt_default_key, equal_to(""))


def test_given_a_directory_of_key_files_when_configured_then_each_file_is_a_key_by_name(
    tmp_path: Path,
) -> None:
    (tmp_path / "k2025").write_text(NEW + "\n")
    (tmp_path / "ec-1").write_text(EC_PUBLIC)
    (tmp_path / "..data").mkdir()  # a mounted secret's bookkeeping
    (tmp_path / ".hidden").write_text("not a key")

    config = Config.from_env({"PM_JWT_KEYS": str(tmp_path), "PM_JWT_ALGORITHMS": "HS256,ES256"})
    verifier = TokenVerifier(config)

    assert_that(sorted(config.jwt_key_set), equal_to(["ec-1", "k2025"]))
    assert_that(verifier.verify(_token(NEW, "k2025")).user_id, equal_to("alice"))
    assert_that(
        verifier.verify(_token(EC_PRIVATE, "ec-1", algorithm="ES256")).user_id, equal_to("alice")
    )


# --- what the server signs -------------------------------------------------------------------


def test_given_a_signing_kid_when_the_server_mints_then_the_header_names_it() -> None:
    config = _config(_keys(k2024=OLD, k2025=NEW), jwt_signing_kid="k2025")

    token = mint_server_token(config, tenant_id="acme", user_id="alice")

    assert_that(jwt.get_unverified_header(token), has_entries(kid="k2025", alg="HS256"))
    assert_that(TokenVerifier(config).verify(token).user_id, equal_to("alice"))


def test_given_an_audience_and_issuer_when_the_server_mints_then_it_accepts_its_token() -> None:
    config = _config(_keys(k2025=NEW), jwt_signing_kid="k2025").replace(
        jwt_audience="pm-api", jwt_issuer="https://id.example"
    )

    token = mint_server_token(config, tenant_id="acme", user_id="alice")

    assert_that(
        jwt.decode(token, options={"verify_signature": False}),
        has_entries(aud="pm-api", iss="https://id.example"),
    )
    assert_that(TokenVerifier(config).verify(token).user_id, equal_to("alice"))


def test_given_scripts_token_with_kid_when_run_then_signed_by_that_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = _keys(k2024=OLD, k2025=NEW)
    monkeypatch.setenv("PM_JWT_KEYS", keys)
    monkeypatch.setenv("PM_JWT_SIGNING_KID", "k2025")

    token_script.main(["--tenant", "acme", "--user", "alice", "--kid", "k2024"])
    by_kid = capsys.readouterr().out.strip()
    token_script.main(["--tenant", "acme", "--user", "alice"])
    by_default = capsys.readouterr().out.strip()

    assert_that(jwt.get_unverified_header(by_kid)["kid"], equal_to("k2024"))
    assert_that(jwt.get_unverified_header(by_default)["kid"], equal_to("k2025"))
    verifier = TokenVerifier(_config(keys))
    assert_that(verifier.verify(by_kid).user_id, equal_to("alice"))
    assert_that(verifier.verify(by_default).user_id, equal_to("alice"))


def test_given_scripts_token_with_an_unknown_kid_when_run_then_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PM_JWT_KEYS", _keys(k2025=NEW))

    with pytest.raises(SystemExit) as exited:
        token_script.main(["--tenant", "acme", "--user", "alice", "--kid", "k1999"])

    assert_that(exited.value.code, equal_to(2))
    assert_that(capsys.readouterr().err, equal_to("scripts.token: no key 'k1999' in PM_JWT_KEYS\n"))


# --- end to end: the upgrade and RefreshToken ------------------------------------------------


async def _upgrade_refusal(running: RunningServer, token: str) -> tuple[int, dict[str, object]]:
    try:
        ws = await connect(
            running.ws_url,
            additional_headers={"Authorization": f"Bearer {token}"},
            compression=None,
            open_timeout=TIMEOUT,
        )
    except InvalidStatus as refused:
        body = json.loads(refused.response.body or b"{}")
        return refused.response.status_code, body
    await ws.close()
    raise AssertionError("the upgrade was accepted")


def _rotating(tmp_path: Path, keys: str) -> Config:
    return make_config(tmp_path, jwt_keys=keys, jwt_signing_kid="k2025")


async def test_given_both_keys_then_only_the_new_when_tokens_upgrade_then_old_refused_after(
    tmp_path: Path,
) -> None:
    old_token, new_token = _token(OLD, "k2024"), _token(NEW, "k2025")

    async with run_server(_rotating(tmp_path, _keys(k2024=OLD, k2025=NEW))) as both:
        with_old = await open_client(both.ws_url, old_token)
        with_new = await open_client(both.ws_url, new_token)
        await with_old.close()
        await with_new.close()
        unknown = await _upgrade_refusal(both, _token(NEW, "k2026"))
        forged = await _upgrade_refusal(both, _token(FORGER, "k2025"))

    async with run_server(_rotating(tmp_path, _keys(k2025=NEW))) as rotated:
        old_after = await _upgrade_refusal(rotated, old_token)
        new_after = await open_client(rotated.ws_url, new_token)
        await new_after.close()

    assert_that((with_old.welcome.user_id, with_new.welcome.user_id), equal_to(("alice",) * 2))
    assert_that(
        unknown,
        equal_to(
            (
                401,
                {
                    "error": "unauthenticated",
                    "message": "token signed with an unknown key (kid 'k2026')",
                },
            )
        ),
    )
    assert_that(forged[0], equal_to(401))
    assert_that(forged[1]["message"], equal_to("invalid token: InvalidSignatureError"))
    assert_that(old_after[0], equal_to(401))
    assert_that(str(old_after[1]["message"]), contains_string("unknown key (kid 'k2024')"))
    assert_that(new_after.welcome.user_id, equal_to("alice"))


async def test_given_a_session_of_the_old_key_when_refreshing_with_each_kid_then_only_known_pass(
    tmp_path: Path,
) -> None:
    async with run_server(_rotating(tmp_path, _keys(k2024=OLD, k2025=NEW))) as running:
        client = await open_client(running.ws_url, _token(OLD, "k2024", ttl=600))
        try:
            unknown = await client.error(
                "refresh_token", session_pb2.RefreshToken(token=_token(NEW, "k2026", ttl=3600))
            )
            forged = await client.error(
                "refresh_token", session_pb2.RefreshToken(token=_token(FORGER, "k2025", ttl=3600))
            )
            fresh = mint_server_token(
                running.config, tenant_id="acme", user_id="alice", ttl_seconds=7200
            )
            refreshed = await client.ok("refresh_token", session_pb2.RefreshToken(token=fresh))
        finally:
            await client.close()

    assert_that(unknown.code, equal_to(env.ERROR_CODE_UNAUTHENTICATED))
    assert_that(unknown.message, equal_to("token signed with an unknown key (kid 'k2026')"))
    assert_that(forged.code, equal_to(env.ERROR_CODE_UNAUTHENTICATED))
    assert_that(jwt.get_unverified_header(fresh)["kid"], equal_to("k2025"))
    assert_that(refreshed.expires_at_ms / 1000 > time.time() + 7000, equal_to(True))
