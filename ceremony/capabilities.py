"""Capability tokens and identifiers.

A capability link carries a random token; only its SHA-256 is ever stored (in
the log, as part of InvitationIssued). The tokens are 256-bit random values,
so a plain hash is enough: there is nothing to brute-force, unlike a password.
"""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_BYTES = 32
TOKEN_PATTERN = re.compile(r"\A[A-Za-z0-9_-]{43}\Z")  # urlsafe base64 of 32 bytes, unpadded
CEREMONY_ID_PATTERN = re.compile(r"\A[0-9a-f]{16}\Z")  # \Z, not `$`: that also matches before a final newline


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def looks_like_token(value: str) -> bool:
    return bool(TOKEN_PATTERN.match(value))


def new_ceremony_id() -> str:
    return secrets.token_hex(8)


def new_invitation_id() -> str:
    return "inv-" + secrets.token_hex(6)
