"""CMS the record needs: the detached seal over evidence.json, and checking CMS and RFC 3161 tokens offline.

Checking is done here rather than by shelling out to openssl so that
`ceremony verify` runs anywhere Python does; VERIFY.txt gives the openssl
commands that check the same things independently.
"""

from __future__ import annotations

import contextlib
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


def sign_detached(data: bytes, pair: KeyPair) -> bytes:
    """A detached CMS SignedData (DER) over `data`, signed by `pair`, its certificate included."""
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.NoCapabilities]
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(pair.certificate, pair.key, hashes.SHA256())
        .sign(Encoding.DER, options)
    )


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


def check_issued_by(certificate: x509.Certificate, root: x509.Certificate, at: dt.datetime) -> None:
    """`certificate` was issued by `root` and both were valid at `at`."""
    try:
        certificate.verify_directly_issued_by(root)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise CmsError(
            f"'{certificate.subject.rfc4514_string()}' was not issued by '{root.subject.rfc4514_string()}'"
        ) from exc
    for cert in (certificate, root):
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise CmsError(f"'{cert.subject.rfc4514_string()}' was not valid at {at.isoformat()}")


MAX_DEPTH = 4


def check_chain(
    leaf: x509.Certificate, anchors: Sequence[x509.Certificate], others: Sequence[x509.Certificate], at: dt.datetime
) -> x509.Certificate:
    """Walk from `leaf` through CA certificates in `others` to one of `anchors`; the anchor reached.

    Our own certificates are issued by the root directly; an external TSA's usually come
    through an intermediate, which its tokens carry.
    """
    current = leaf
    for _ in range(MAX_DEPTH):
        for anchor in anchors:
            if current.issuer == anchor.subject:
                with contextlib.suppress(CmsError):
                    check_issued_by(current, anchor, at)
                    return anchor
        parent = next((c for c in others if c.subject == current.issuer and c != current and _is_ca(c)), None)
        if parent is None:
            break
        check_issued_by(current, parent, at)
        current = parent
    raise CmsError(f"'{leaf.subject.rfc4514_string()}' does not chain to a trusted root")


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


@dataclass(frozen=True, slots=True)
class TokenInfo:
    gen_time: dt.datetime
    tsa: x509.Certificate


def check_token(token: bytes, data: bytes, anchors: Sequence[x509.Certificate]) -> TokenInfo:
    """An RFC 3161 token over SHA-256(`data`) by a TSA that chains to one of `anchors`."""
    signed = check_signed_data(token)
    try:
        info = tsp.TSTInfo.load(signed.content)
        imprint = info["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        hashed = imprint["hashed_message"].native
        gen_time: dt.datetime = info["gen_time"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise CmsError(f"unreadable timestamp token: {exc}") from exc
    if algorithm not in _DIGESTS or hashed != hashlib.new(algorithm, data).digest():
        raise CmsError("the token's message imprint does not match the stamped data")
    try:
        usage = signed.signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise CmsError("the token's signer is not a time-stamping authority") from None
    if ExtendedKeyUsageOID.TIME_STAMPING not in usage.value:
        raise CmsError("the token's signer is not a time-stamping authority")
    check_chain(signed.signer, anchors, signed.certificates, gen_time)
    return TokenInfo(gen_time, signed.signer)
