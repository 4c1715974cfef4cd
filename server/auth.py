"""JWT authentication at the WebSocket upgrade.

The token comes from `Authorization: Bearer <JWT>` or, for browsers, the subprotocol list
`pm.v1, bearer.<JWT>`. A token in the query string is refused: it would land in access logs.
Only the configured algorithms are accepted, so `alg: none` and algorithm swaps fail.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jwt

from server.config import Config
from tenants.errors import PermissionDenied, Unauthenticated
from tenants.manager import is_valid_tenant_id

SUBPROTOCOL = "pm.v1"
_BEARER_PROTOCOL = "bearer."
_QUERY_TOKEN_NAMES = frozenset({"token", "access_token", "jwt", "bearer", "auth", "authorization"})


class Role(enum.IntEnum):
    VIEWER = 1
    MEMBER = 2
    ADMIN = 3


_ROLE_NAMES = {"viewer": Role.VIEWER, "member": Role.MEMBER, "admin": Role.ADMIN}


@dataclass(frozen=True)
class Principal:
    user_id: str
    tenant_id: str
    role: Role
    expires_at: float

    @property
    def role_names(self) -> list[str]:
        return [name for name, role in _ROLE_NAMES.items() if role <= self.role]

    def require(self, role: Role) -> None:
        if self.role < role:
            raise PermissionDenied(f"this command needs the {role.name.lower()} role")


@dataclass(frozen=True)
class Credentials:
    token: str
    # The subprotocol to select on accept (browsers must get one they offered).
    subprotocol: str | None


def extract_credentials(
    headers: Mapping[str, str], subprotocols: Sequence[str], query_params: Mapping[str, str]
) -> Credentials:
    if any(name.lower() in _QUERY_TOKEN_NAMES for name in query_params):
        raise Unauthenticated("tokens are not accepted in the query string")
    authorization = headers.get("authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("expected 'Authorization: Bearer <token>'")
        return Credentials(token.strip(), SUBPROTOCOL if SUBPROTOCOL in subprotocols else None)
    for offered in subprotocols:
        if offered.startswith(_BEARER_PROTOCOL) and len(offered) > len(_BEARER_PROTOCOL):
            if SUBPROTOCOL not in subprotocols:
                raise Unauthenticated(f"the subprotocol list must include {SUBPROTOCOL}")
            return Credentials(offered[len(_BEARER_PROTOCOL) :], SUBPROTOCOL)
    raise Unauthenticated("missing bearer token")


class TokenVerifier:
    def __init__(self, config: Config) -> None:
        self._algorithms = list(config.jwt_algorithms)
        if any(a.lower() == "none" for a in self._algorithms):
            raise ValueError("the 'none' algorithm is never accepted")
        self._key = config.jwt_public_key or config.jwt_secret
        self._audience = config.jwt_audience or None
        self._issuer = config.jwt_issuer or None
        self._leeway = config.jwt_leeway_seconds

    def verify(self, token: str) -> Principal:
        required = ["exp", "sub", "tenant_id"]
        if self._audience:
            required.append("aud")
        if self._issuer:
            required.append("iss")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                # aud is checked when configured, and only then (pyjwt would refuse any
                # token carrying one, which most identity providers issue).
                options={"require": required, "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {type(exc).__name__}") from None
        user_id, tenant_id = claims.get("sub"), claims.get("tenant_id")
        if not isinstance(user_id, str) or not user_id:
            raise Unauthenticated("token has no subject")
        if not isinstance(tenant_id, str) or not is_valid_tenant_id(tenant_id):
            raise Unauthenticated("token has no valid tenant_id")
        # The leeway that let the token in also applies to its end: otherwise a token
        # accepted within the leeway would be closed with 4003 right after the Welcome.
        expires_at = float(claims["exp"]) + self._leeway
        return Principal(user_id, tenant_id, _highest_role(claims.get("roles")), expires_at)


def _highest_role(roles: object) -> Role:
    if not isinstance(roles, list):
        return Role.MEMBER
    known = [_ROLE_NAMES[r] for r in roles if isinstance(r, str) and r in _ROLE_NAMES]
    return max(known) if known else Role.MEMBER
