"""Print a JWT for a tenant and user, signed as the server signs: with the PM_JWT_KEYS secret
PM_JWT_SIGNING_KID names (its kid in the header), else PM_JWT_SECRET (or the development
secret).

python -m scripts.token --tenant acme --user alice [--role admin] [--ttl 3600]
    [--name "Alice Liddell"] [--email alice@example.com] [--kid 2025-06]
"""

from __future__ import annotations

import argparse
import sys

from server.config import Config, ConfigError
from server.tokens import mint_server_token


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.token", description=__doc__)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument(
        "--role", action="append", choices=["viewer", "member", "admin"], default=None
    )
    parser.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    parser.add_argument("--name", default="", help="the user's display name (claim name)")
    parser.add_argument("--email", default="", help="the user's email address (claim email)")
    parser.add_argument(
        "--kid",
        default=None,
        help="sign with this PM_JWT_KEYS secret (default: PM_JWT_SIGNING_KID, if set)",
    )
    args = parser.parse_args(argv)
    profile: dict[str, object] = {"name": args.name, "email": args.email}
    try:
        token = mint_server_token(
            Config.from_env(),
            tenant_id=args.tenant,
            user_id=args.user,
            roles=args.role,
            ttl_seconds=args.ttl,
            extra={claim: value for claim, value in profile.items() if value},
            kid=args.kid,
        )
    except (ConfigError, ValueError) as exc:
        print(f"scripts.token: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(token)


if __name__ == "__main__":
    main()
