"""JWT authentication at the WebSocket upgrade.

The token comes from `Authorization: Bearer <JWT>` or, for browsers, the subprotocol list
`pm.v1, bearer.<JWT>`. A token in the query string is refused: it would land in access logs.
Only the configured algorithms are accepted, so `alg: none` and algorithm swaps fail. With
PM_JWT_KEYS the token's `kid` header picks its key (server/jwt_keys.py); a token without one
verifies with PM_JWT_PUBLIC_KEY or PM_JWT_SECRET, as before.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jwt

from server.config import Config
from server.jwt_keys import algorithms_for, shown_kid
from server.validation import text
from tenants.errors import InvalidArgument, PermissionDenied, Unauthenticated
from tenants.manager import is_valid_tenant_id

SUBPROTOCOL = "pm.v1"
_BEARER_PROTOCOL = "bearer."
_QUERY_TOKEN_NAMES = frozenset({"token", "access_token", "jwt", "bearer", "auth", "authorization"})
# A JWS in compact form: three base64url segments (the last may be empty: alg none).
_JWT_SHAPED = re.compile(r"[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_NUMERIC_CLAIMS = ("exp", "nbf", "iat")
# Optional display claims: one line each, at most this many characters (RFC 5321 bounds an
# address path at 320). Kept in the tenant's users table (server/profiles.py).
PROFILE_CLAIMS = {"name": 200, "email": 320}


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
    # From the optional claims of the same names ("" when absent).
    name: str = ""
    email: str = ""

    @property
    def role_names(self) -> list[str]:
        return [name for name, role in _ROLE_NAMES.items() if role <= self.role]

    def require(self, role: Role) -> None:
        if self.role < role:
            raise PermissionDenied(f"this command needs the {role.name.lower()} role")


@dataclass(frozen=True)
class _Key:
    material: str
    # Only those of the key's own family: an HMAC secret never checks an RS256 signature,
    # nor a public key (text anyone may hold) an HS256 one.
    algorithms: list[str]


@dataclass(frozen=True)
class Credentials:
    token: str
    # The subprotocol to select on accept (browsers must get one they offered).
    subprotocol: str | None


# Every route is also served under this prefix, so a load balancer can send a tenant to the
# host holding its database without reading the JWT (docs/deployment.md).
TENANT_PREFIX = "/t/{tenant}"


def path_tenant_matches(path_params: Mapping[str, object], principal: Principal) -> bool:
    """Whether a /t/{tenant} path names the token's own tenant (an unprefixed route names
    none). The token alone decides whose data a request reads: the path only routes it, so a
    path naming another tenant is refused rather than trusted or ignored."""
    return path_params.get("tenant", principal.tenant_id) == principal.tenant_id


def extract_credentials(
    headers: Mapping[str, str], subprotocols: Sequence[str], query_params: Mapping[str, str]
) -> Credentials:
    if any(_carries_token(name, value) for name, value in query_params.items()):
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


def _carries_token(name: str, value: str) -> bool:
    """A query parameter that names a token, or holds something JWT-shaped under any name
    (`?id_token=`, `?auth_token=`, or a bare `?<jwt>`): it would end up in access logs."""
    if name.lower() in _QUERY_TOKEN_NAMES:
        return True
    return any(_JWT_SHAPED.search(part) for part in (name, value))


class TokenVerifier:
    def __init__(self, config: Config) -> None:
        # Config refuses "none" and unknown algorithms at start-up.
        allowed = config.jwt_algorithms
        default = config.jwt_default_key
        self._default: _Key | None = None
        if default:
            # Without PM_JWT_KEYS the one key keeps every configured algorithm (as always:
            # the configuration refuses a family that key cannot serve).
            algorithms = algorithms_for(default, allowed) if config.jwt_key_set else allowed
            self._default = _Key(default, list(algorithms))
        self._by_kid = {
            kid: _Key(material, list(algorithms_for(material, allowed)))
            for kid, material in config.jwt_key_set.items()
        }
        self._audience = config.jwt_audience or None
        self._issuer = config.jwt_issuer or None
        self._leeway = config.jwt_leeway_seconds

    def verify(self, token: str) -> Principal:
        required = ["exp", "sub", "tenant_id"]
        if self._audience:
            required.append("aud")
        if self._issuer:
            required.append("iss")
        key = self._key_for(token)
        try:
            claims = jwt.decode(
                token,
                key.material,
                algorithms=key.algorithms,
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
        _check_claim_types(claims)
        user_id, tenant_id = claims.get("sub"), claims.get("tenant_id")
        if not isinstance(user_id, str) or not user_id:
            raise Unauthenticated("token has no subject")
        if not isinstance(tenant_id, str) or not is_valid_tenant_id(tenant_id):
            raise Unauthenticated("token has no valid tenant_id")
        # The leeway that let the token in also applies to its end: otherwise a token
        # accepted within the leeway would be closed with 4003 right after the Welcome.
        expires_at = float(claims["exp"]) + self._leeway
        return Principal(
            user_id,
            tenant_id,
            _highest_role(claims.get("roles")),
            expires_at,
            name=_profile_claim(claims, "name"),
            email=_profile_claim(claims, "email"),
        )

    def _key_for(self, token: str) -> _Key:
        if not self._by_kid:
            # Without PM_JWT_KEYS a kid means nothing here (identity providers send one).
            assert self._default is not None, "the configuration always has a key"
            return self._default
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {type(exc).__name__}") from None
        if kid is None:
            if self._default is None:
                raise Unauthenticated(
                    "token has no kid header, and this server verifies only tokens naming"
                    " one of its keys"
                )
            return self._default
        key = self._by_kid.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise Unauthenticated(f"token signed with an unknown key (kid {shown_kid(kid)})")
        return key


def _check_claim_types(claims: Mapping[str, object]) -> None:
    """A claim of the wrong type fails closed. pyjwt converts a string `exp` with int(), and
    a `roles` that is a string would otherwise silently mean member."""
    for name in _NUMERIC_CLAIMS:
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise Unauthenticated(f"token claim {name} must be a number")
    roles = claims.get("roles")
    if "roles" in claims and (
        not isinstance(roles, list) or not all(isinstance(r, str) for r in roles)
    ):
        raise Unauthenticated("token claim roles must be a list of strings")
    for name in PROFILE_CLAIMS:
        if name in claims and not isinstance(claims[name], str):
            raise Unauthenticated(f"token claim {name} must be a string")


def _profile_claim(claims: Mapping[str, object], name: str) -> str:
    """A display claim (its type already checked), held to the rules of a one-line name:
    surrounding blanks dropped, no control characters, at most PROFILE_CLAIMS[name] chars."""
    value = claims.get(name, "")
    assert isinstance(value, str)
    try:
        return text(value, name, min_chars=0, max_chars=PROFILE_CLAIMS[name])
    except InvalidArgument as error:
        raise Unauthenticated(f"token claim {error.message}") from None


def _highest_role(roles: object) -> Role:
    """The highest known role; unknown names are ignored, none at all means member."""
    if not isinstance(roles, list):
        return Role.MEMBER
    known = [_ROLE_NAMES[r] for r in roles if r in _ROLE_NAMES]
    return max(known) if known else Role.MEMBER
