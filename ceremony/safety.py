"""The safety code: eight digits a signatory reads aloud on camera, so the host approves the key they hold.

Both ends derive it from the key's fingerprint (SHA-256 of its SubjectPublicKeyInfo, hex):
the signing page from the key it made (web/static/sign.js does the same arithmetic), the
host console from the enrollment the server logged. When the two agree, the key waiting for
approval is the one on the device of the person on camera, not one the host enrolled itself.

Eight digits rather than six: a host who wants a key of its own to show the code a signatory
reads must make about 10^8 keys, not 10^6, for each attempt.
"""

from __future__ import annotations

DIGITS = 8
_MODULUS = 10**DIGITS
_HEX = frozenset("0123456789abcdef")


def safety_code(fingerprint: str) -> str:
    """The 8-digit code of a key: the first 64 bits of its fingerprint, modulo 10^8, zero-padded.

    ValueError when `fingerprint` is not a lowercase hex SHA-256 (a log written by something else).
    """
    if len(fingerprint) != 64 or not set(fingerprint) <= _HEX:
        raise ValueError("a key's fingerprint is the 64 hex digits of a SHA-256")
    return f"{int(fingerprint[:16], 16) % _MODULUS:0{DIGITS}d}"


def spoken(code: str) -> str:
    """The code as people read it: two groups of four ("4821 0937")."""
    return f"{code[:4]} {code[4:]}"
