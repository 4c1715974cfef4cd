"""Print a JWT for a tenant and user, signed with PM_JWT_SECRET (or the development secret).

python -m scripts.token --tenant acme --user alice [--role admin] [--ttl 3600]
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
    args = parser.parse_args(argv)
    config = Config.from_env()
    print(
        mint_token(
            config.jwt_secret,
            tenant_id=args.tenant,
            user_id=args.user,
            roles=args.role,
            ttl_seconds=args.ttl,
        )
    )


if __name__ == "__main__":
    main()
