"""Print a JWT for a tenant and user, signed with PM_JWT_SECRET (or the development secret).

python -m scripts.token --tenant acme --user alice [--role admin] [--ttl 3600]
    [--name "Alice Liddell"] [--email alice@example.com]
"""

from __future__ import annotations

import argparse

from server.config import Config
from server.tokens import mint_token


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
    args = parser.parse_args(argv)
    config = Config.from_env()
    profile: dict[str, object] = {"name": args.name, "email": args.email}
    print(
        mint_token(
            config.jwt_secret,
            tenant_id=args.tenant,
            user_id=args.user,
            roles=args.role,
            ttl_seconds=args.ttl,
            extra={claim: value for claim, value in profile.items() if value},
        )
    )


if __name__ == "__main__":
    main()
