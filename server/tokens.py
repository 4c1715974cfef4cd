"""Minting tokens: for `make run`'s development token, scripts/token and tests."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from server.config import Config
from server.jwt_keys import is_hmac_key


@dataclass(frozen=True)
class SigningKey:
    secret: str
    # Put in the header so that a server holding several keys (PM_JWT_KEYS) picks this one.
    kid: str | None
    algorithm: str


def mint_token(
    secret: str,
    *,
    tenant_id: str,
    user_id: str,
    roles: list[str] | None = None,
    ttl_seconds: int = 3600,
    algorithm: str = "HS256",
    extra: dict[str, object] | None = None,
    kid: str | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": user_id,
        "tenant_id": tenant_id,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
    }
    if roles:
        claims["roles"] = roles
    if extra:
        claims.update(extra)
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, secret, algorithm=algorithm, headers=headers)


def signing_key(config: Config, kid: str | None = None) -> SigningKey:
    """The key the server signs with: `kid` of PM_JWT_KEYS (by default PM_JWT_SIGNING_KID),
    else PM_JWT_SECRET without a kid. ValueError when there is no such HMAC secret."""
    chosen = kid if kid is not None else (config.jwt_signing_kid or None)
    hmac = [a for a in config.jwt_algorithms if a.startswith("HS")]
    if not hmac:
        raise ValueError("PM_JWT_ALGORITHMS has no HMAC algorithm: this server signs nothing")
    if chosen is not None:
        material = config.jwt_key_set.get(chosen)
        if material is None:
            raise ValueError(f"no key {chosen!r} in PM_JWT_KEYS")
        if not is_hmac_key(material):
            raise ValueError(f"key {chosen!r} is a public key: only HMAC secrets can sign here")
        return SigningKey(material, chosen, hmac[0])
    if config.jwt_public_key or not config.jwt_default_key:
        raise ValueError(
            "no secret to sign with: set PM_JWT_SIGNING_KID (a PM_JWT_KEYS secret) or PM_JWT_SECRET"
        )
    return SigningKey(config.jwt_default_key, None, hmac[0])


def mint_server_token(
    config: Config,
    *,
    tenant_id: str,
    user_id: str,
    roles: list[str] | None = None,
    ttl_seconds: int = 3600,
    extra: dict[str, object] | None = None,
    kid: str | None = None,
) -> str:
    """A token this server (and every host with the same PM_JWT_* settings) accepts: with
    its audience and issuer when those are configured (the verifier requires them)."""
    key = signing_key(config, kid)
    claims: dict[str, object] = {}
    if config.jwt_audience:
        claims["aud"] = config.jwt_audience
    if config.jwt_issuer:
        claims["iss"] = config.jwt_issuer
    claims.update(extra or {})
    return mint_token(
        key.secret,
        tenant_id=tenant_id,
        user_id=user_id,
        roles=roles,
        ttl_seconds=ttl_seconds,
        algorithm=key.algorithm,
        extra=claims,
        kid=key.kid,
    )
