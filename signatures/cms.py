"""CMS the record needs: the detached seal over evidence.json, and checking CMS and RFC 3161 tokens offline.

Checking is done here rather than by shelling out to openssl so that
`ceremony verify` runs anywhere Python does; VERIFY.txt gives the openssl
commands that check the same things independently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID

from .errors import SignatureError
from .pki import KeyPair


class CmsError(SignatureError):
    """A CMS object or token does not check out; the message says which part."""


def sign_detached(data: bytes, pair: KeyPair, chain: Sequence[x509.Certificate] = ()) -> bytes:
    """A detached CMS SignedData (DER) over `data`, signed by `pair`, its certificate and `chain` included."""
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoCapabilities]
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(pair.certificate, pair.key, hashes.SHA256())
    for certificate in chain:
        builder = builder.add_certificate(certificate)
    return builder.sign(Encoding.DER, options)


@dataclass(frozen=True, slots=True)
class Signed:
    signer: x509.Certificate
    content: bytes  # the encapsulated content, or the detached content that was checked
    certificates: tuple[x509.Certificate, ...] = ()  # all the CMS carries (a TSA's intermediates, say)


_DIGESTS = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


def check_signed_data(der: bytes, detached: bytes | None = None) -> Signed:
    """Check a one-signer CMS SignedData with signed attributes; its signer and content."""
    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            raise CmsError("not a CMS SignedData")
        signed = info["content"]
        encapsulated = signed["encap_content_info"]["content"]
        content = detached if detached is not None else _content_bytes(encapsulated)
        (signer_info,) = signed["signer_infos"]
        certificates = [x509.load_der_x509_certificate(c.chosen.dump()) for c in signed["certificates"] or []]
        sid = signer_info["sid"].chosen
        issuer_serial = sid["serial_number"].native
        signer = next((c for c in certificates if c.serial_number == issuer_serial), None)
        if signer is None:
            raise CmsError("the signer's certificate is not included")
        algorithm = signer_info["digest_algorithm"]["algorithm"].native
        attrs = signer_info["signed_attrs"]
        digest = next((a["values"][0].native for a in attrs if a["type"].native == "message_digest"), None)
        signature = signer_info["signature"].native
        signed_attrs = attrs.dump()  # the bytes as received (force=True would re-encode them)
    except (ValueError, TypeError, KeyError) as exc:
        raise CmsError(f"unreadable CMS: {exc}") from exc
    if algorithm not in _DIGESTS:
        raise CmsError(f"unsupported digest {algorithm}")
    if digest != hashlib.new(algorithm, content).digest():
        raise CmsError("the signed content does not match the signature's message digest")
    public_key = signer.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise CmsError("the signer's key is not ECDSA")
    try:
        # The signature covers the attributes DER-encoded as a SET (tag 0x31), not the [0] IMPLICIT form.
        public_key.verify(signature, b"\x31" + signed_attrs[1:], ec.ECDSA(_DIGESTS[algorithm]))
    except InvalidSignature:
        raise CmsError("the CMS signature does not verify") from None
    return Signed(signer, content, tuple(certificates))


def _content_bytes(encapsulated: object) -> bytes:
    data = getattr(encapsulated, "contents", None)
    if not isinstance(data, bytes):
        raise CmsError("no content to check")
    return data


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An RFC 3161 token whose signature and imprint check out; whether its TSA is trusted is judged elsewhere."""

    gen_time: dt.datetime
    tsa: x509.Certificate
    certificates: tuple[x509.Certificate, ...]  # all the token carries: the TSA's and its issuers'


def check_token(token: bytes, *, data: bytes | None = None, digest: bytes | None = None) -> TokenInfo:
    """A token over SHA-256(`data`), or over `digest` (SHA-256 or longer) when that is given."""
    signed = check_signed_data(token)
    try:
        info = tsp.TSTInfo.load(signed.content)
        imprint = info["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        hashed = imprint["hashed_message"].native
        gen_time: dt.datetime = info["gen_time"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise CmsError(f"unreadable timestamp token: {exc}") from exc
    if algorithm not in _DIGESTS:
        raise CmsError(f"the token's imprint uses {algorithm}, which is not accepted")
    expected = digest if digest is not None else hashlib.new(algorithm, data or b"").digest()
    if hashed != expected:
        raise CmsError("the token's message imprint does not match the stamped data")
    try:
        usage = signed.signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise CmsError("the token's signer is not a time-stamping authority") from None
    if ExtendedKeyUsageOID.TIME_STAMPING not in usage.value:
        raise CmsError("the token's signer is not a time-stamping authority")
    return TokenInfo(gen_time, signed.signer, signed.certificates)
