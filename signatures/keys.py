"""Signatory keys as browsers present them: WebCrypto ECDSA P-256.

WebCrypto exports public keys as SPKI DER and produces signatures as raw
r||s (64 bytes for P-256, IEEE P1363), while X.509, CMS and OpenSSL want DER
SEQUENCE{r, s}; conversion happens here and only here.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from .errors import SignatureError
from .pki import SIGNATORY, SIGNATORY_LIFETIME, KeyPair, issue_leaf, name


class BadKey(SignatureError):
    """A key or signature from a client is unusable (the reason says why)."""


def b64decode(text: str, what: str, *, limit: int = 4096) -> bytes:
    if not isinstance(text, str) or len(text) > limit:
        raise BadKey(f"{what} must be base64 text")
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadKey(f"{what} is not valid base64") from None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def load_p256_spki(der: bytes) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        raise BadKey("the public key is not a DER SubjectPublicKeyInfo") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise BadKey("the public key must be ECDSA P-256")
    return key


def fingerprint(spki_der: bytes) -> str:
    return hashlib.sha256(spki_der).hexdigest()


def raw_to_der(raw: bytes) -> bytes:
    """WebCrypto's r||s -> DER ECDSA-Sig-Value."""
    if len(raw) != 64:
        raise BadKey(f"a P-256 signature from WebCrypto is 64 bytes (r||s), not {len(raw)}")
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def der_to_raw(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(public_key: ec.EllipticCurvePublicKey, message: bytes, der_signature: bytes) -> bool:
    try:
        public_key.verify(der_signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def issue_signatory_certificate(
    issuing: KeyPair,
    public_key: ec.EllipticCurvePublicKey,
    *,
    person: str,
    organisation: str,
    country: str,
    crl_base: str,
    now: dt.datetime,
) -> x509.Certificate:
    """The signatory's certificate: their name, their party as organisation, its country; short-lived."""
    return issue_leaf(
        issuing,
        public_key,
        name(person, organisation, country),
        SIGNATORY,
        crl_base=crl_base,
        now=now,
        lifetime=SIGNATORY_LIFETIME,
    )
