"""Minting tokens: for `make run`'s development token, scripts/token and tests."""

from __future__ import annotations

import time

import jwt


def mint_token(
    secret: str,
    *,
    tenant_id: str,
    user_id: str,
    roles: list[str] | None = None,
    ttl_seconds: int = 3600,
    algorithm: str = "HS256",
    extra: dict[str, object] | None = None,
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
    return jwt.encode(claims, secret, algorithm=algorithm)
