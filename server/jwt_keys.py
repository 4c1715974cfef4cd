"""Verification keys chosen by a token's `kid` header (PM_JWT_KEYS), for rotating keys
without downtime: configure the new key beside the old one, move the signers to it, and
remove the old key once its last tokens have expired.

PM_JWT_KEYS is either a JSON object, `{"<kid>": "<key>", ...}`, or the path of a directory
holding one file per key, named after its kid (a Kubernetes secret mounted as a volume
looks like this). A key is an HMAC secret, or a PEM public key (`-----BEGIN PUBLIC KEY-----`).
Each key verifies only with the PM_JWT_ALGORITHMS of its own family (HS* for a secret, the
others for a public key), so a token cannot swap one kind of key for the other.

No I/O happens after start-up: the directory is read once, when the configuration is built.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_public_key

# Printable ASCII without blanks: a kid is an identifier, shown in messages and file names.
KID = re.compile(r"[!-~]{1,128}")
_PEM = "-----BEGIN"


def is_hmac_key(material: str) -> bool:
    return not material.lstrip().startswith(_PEM)


def algorithms_for(material: str, allowed: Iterable[str]) -> tuple[str, ...]:
    """The allowed algorithms this key may verify: HMAC keys the HS* ones, others the rest."""
    hmac = is_hmac_key(material)
    return tuple(a for a in allowed if a.startswith("HS") == hmac)


def describe(material: str) -> str:
    return "an HMAC secret" if is_hmac_key(material) else "a PEM public key"


def parse_keys(raw: str) -> dict[str, str]:
    """kid -> key from PM_JWT_KEYS; ValueError with a message naming what is wrong."""
    text = raw.strip()
    keys = _from_json(text) if text.startswith("{") else _from_directory(Path(text))
    if not keys:
        raise ValueError("no keys found")
    for kid, material in keys.items():
        _check_key(kid, material)
    return keys


def _from_json(text: str) -> dict[str, str]:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise ValueError('expected a JSON object of strings, {"<kid>": "<secret or PEM>"}')
    return dict(parsed)


def _from_directory(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        raise ValueError(
            f"{str(directory)!r} is neither a JSON object nor a directory of key files"
        )
    keys: dict[str, str] = {}
    for entry in sorted(directory.iterdir()):
        # Hidden entries are a mounted secret's own bookkeeping (Kubernetes' ..data).
        if entry.name.startswith(".") or not entry.is_file():
            continue
        try:
            content = entry.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read the key file {entry.name!r}: {exc}") from None
        # Editors and `echo` end a file with a newline; it is no part of the secret.
        keys[entry.name] = content.rstrip("\r\n")
    return keys


def _check_key(kid: str, material: str) -> None:
    if not KID.fullmatch(kid):
        raise ValueError(f"kid {kid[:40]!r}: 1-128 printable ASCII characters, no blanks")
    if not material.strip():
        raise ValueError(f"key {kid!r} is empty")
    if is_hmac_key(material):
        return
    if "PRIVATE KEY" in material.split("\n", 1)[0]:
        # The server only verifies: a private key here is one more copy to leak.
        raise ValueError(f"key {kid!r} is a private key: configure its public half")
    try:
        load_pem_public_key(material.strip().encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ValueError(f"key {kid!r} is not a PEM public key that can be loaded") from None


def shown_kid(kid: object) -> str:
    """A token's kid as it may appear in an error message: bounded, printable."""
    text = kid if isinstance(kid, str) else repr(kid)
    text = "".join(c if c.isprintable() else "?" for c in text[:64])
    return repr(text)
