"""The ceremony PKI, without I/O: who may issue what, for which role, for how long.

    Root CA (offline-capable, 50 years)
    └── Issuing CA (online, 40 years; its key is meant to sign for 5)
        ├── TSA          timeStamping (critical)          30 years; key used 1 year
        ├── Record seal  emailProtection + SEAL_PURPOSE   30 years; key used 1 year
        └── Signatory    emailProtection + SIGNATORY_PURPOSE, 7 days

Each key acts only in its role: the verifier requires the role's extended key
usage (our own purpose OIDs beside emailProtection, which S/MIME tools such as
`openssl cms` and NSS require), so a signatory's certificate can never seal a
record or stamp a time. Service certificates outlive their keys' use: a record
is judged at the times its timestamps prove, so what must still be valid in 20
years is the certificate, not the key, which is retired after a year
(PrivateKeyUsagePeriod says when) and replaced. Every certificate names where
its issuer's CRL is published, so that revocation data can be gathered into a
record and checked offline.

All keys are ECDSA P-256: OpenSSL 3.0 and poppler cannot verify Ed25519 inside CMS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from .errors import PkiError

YEAR = dt.timedelta(days=365)
ROOT_LIFETIME = 50 * YEAR
ISSUING_LIFETIME = 40 * YEAR
ISSUING_KEY_USE = 5 * YEAR
SERVICE_LIFETIME = 30 * YEAR
SERVICE_KEY_USE = 1 * YEAR
SIGNATORY_LIFETIME = dt.timedelta(days=7)  # it only has to outlast the ceremony
BACKDATE = dt.timedelta(minutes=5)  # tolerate clocks a little behind ours
# Keys are replaced only when the server starts, so one is replaced while some of its use is
# still left: a restart in the notice period before its end rotates it in time.
ROTATION_NOTICE = dt.timedelta(days=30)

# Our purposes, under an OID arc of our own in the UUID arc (ITU-T X.667), so no registry was needed.
ARC = "2.25.262719416370935958227366052651096632231"
SIGNATORY_PURPOSE = ObjectIdentifier(f"{ARC}.1")
SEAL_PURPOSE = ObjectIdentifier(f"{ARC}.2")


@dataclass(frozen=True, slots=True)
class Role:
    """What a certificate may do: the extended key usages it carries and the one the verifier demands."""

    name: str
    usages: tuple[ObjectIdentifier, ...]
    required: ObjectIdentifier
    critical: bool = False


SIGNATORY = Role(
    name="signatory", usages=(ExtendedKeyUsageOID.EMAIL_PROTECTION, SIGNATORY_PURPOSE), required=SIGNATORY_PURPOSE
)
SEAL = Role(name="seal", usages=(ExtendedKeyUsageOID.EMAIL_PROTECTION, SEAL_PURPOSE), required=SEAL_PURPOSE)
# OpenSSL's `ts -verify` insists that a TSA's timeStamping EKU is critical and its only one.
TSA = Role(
    name="tsa", usages=(ExtendedKeyUsageOID.TIME_STAMPING,), required=ExtendedKeyUsageOID.TIME_STAMPING, critical=True
)


@dataclass(frozen=True, slots=True)
class KeyPair:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(Encoding.PEM)


@dataclass(frozen=True, slots=True, kw_only=True)
class CeremonyPki:
    """The server's PKI as it stands: the root (whose key may be elsewhere) and the online keys."""

    root: x509.Certificate
    root_crl: bytes  # DER, signed by the root: the status of the issuing CA(s)
    issuing: KeyPair
    tsa: KeyPair
    seal: KeyPair
    crl_base: str  # URL prefix of the CRL distribution points, e.g. https://ceremony.example.org/pki/crl/

    @property
    def root_pem(self) -> bytes:
        return self.root.public_bytes(Encoding.PEM)

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """Between a leaf and the root: what a verifier needs besides the anchor."""
        return (self.issuing.certificate,)


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, hex: how people name and pin a certificate."""
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def key_id(certificate: x509.Certificate) -> str:
    """The subject key identifier, hex: names the CRL a CA publishes, stable across its renewals."""
    return x509.SubjectKeyIdentifier.from_public_key(certificate.public_key()).digest.hex()


def crl_url(base: str, issuer: x509.Certificate) -> str:
    return f"{base.rstrip('/')}/{key_id(issuer)}.crl"


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _serial() -> int:
    return int.from_bytes(os.urandom(16), "big") >> 1  # positive, 127 bits


def name(common: str, organisation: str, country: str | None = None) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COMMON_NAME, common[:64]),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation[:64]),
    ]
    if country:
        attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    return x509.Name(attributes)


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=not ca,  # non-repudiation: a signature of consent, a seal, a time
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def make_root(organisation: str, now: dt.datetime) -> KeyPair:
    """A self-signed root that may certify one level of CAs below it (the issuing CA)."""
    key = new_key()
    subject = name(f"{organisation} Root CA", organisation)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + ROOT_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(certificate=certificate, key=key)


def _builder(
    issuer: KeyPair,
    public_key: ec.EllipticCurvePublicKey,
    subject: x509.Name,
    not_before: dt.datetime,
    life: dt.timedelta,
) -> x509.CertificateBuilder:
    # Never beyond the issuer: a validator may judge a certificate by its whole chain.
    not_after = min(not_before + BACKDATE + life, issuer.certificate.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject)
        .public_key(public_key)
        .serial_number(_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    )


def _distribution(url: str) -> x509.CRLDistributionPoints:
    point = x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
    return x509.CRLDistributionPoints([point])


def issue_ca(
    root: KeyPair, public_key: ec.EllipticCurvePublicKey, organisation: str, crl_base: str, now: dt.datetime
) -> x509.Certificate:
    """The online issuing CA, certified by the root (possibly on an offline machine)."""
    subject = name(f"{organisation} Issuing CA {now.year}", organisation)
    return (
        _builder(root, public_key, subject, now - BACKDATE, ISSUING_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.PrivateKeyUsagePeriod(now - BACKDATE, now + ISSUING_KEY_USE), critical=False)
        .add_extension(_distribution(crl_url(crl_base, root.certificate)), critical=False)
        .sign(root.key, hashes.SHA256())
    )


def issue_leaf(
    issuing: KeyPair,
    public_key: ec.EllipticCurvePublicKey,
    subject: x509.Name,
    role: Role,
    *,
    crl_base: str,
    now: dt.datetime,
    lifetime: dt.timedelta,
    key_use: dt.timedelta | None = None,
) -> x509.Certificate:
    """An end-entity certificate for `role`, naming the issuing CA's CRL."""
    builder = (
        _builder(issuing, public_key, subject, now - BACKDATE, lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(role.usages)), critical=role.critical)
        .add_extension(_distribution(crl_url(crl_base, issuing.certificate)), critical=False)
    )
    if key_use is not None:
        builder = builder.add_extension(x509.PrivateKeyUsagePeriod(now - BACKDATE, now + key_use), critical=False)
    return builder.sign(issuing.key, hashes.SHA256())


def issue_service(issuing: KeyPair, role: Role, organisation: str, crl_base: str, now: dt.datetime) -> KeyPair:
    """A fresh TSA or seal key and its certificate: valid 30 years, its key to be used for one."""
    titles = {TSA.name: "Time-Stamping Authority", SEAL.name: "Record Seal"}
    key = new_key()
    subject = name(f"{organisation} {titles[role.name]} {now.year}", organisation)
    certificate = issue_leaf(
        issuing,
        key.public_key(),
        subject,
        role,
        crl_base=crl_base,
        now=now,
        lifetime=SERVICE_LIFETIME,
        key_use=SERVICE_KEY_USE,
    )
    return KeyPair(certificate=certificate, key=key)


def due_for_rotation(certificate: x509.Certificate, now: dt.datetime) -> bool:
    """Whether a server starting at `now` should replace the key: less than ROTATION_NOTICE of its use is left."""
    start, end = key_use_period(certificate)
    return not start <= now <= end - ROTATION_NOTICE


def key_use_period(certificate: x509.Certificate) -> tuple[dt.datetime, dt.datetime]:
    """When the certificate's key may sign: its private-key usage period, or else its validity."""
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    try:
        period = certificate.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod).value
    except x509.ExtensionNotFound:
        return start, end
    return (
        _utc(period.not_before) if period.not_before else start,
        _utc(period.not_after) if period.not_after else end,
    )


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def crl_urls(certificate: x509.Certificate) -> list[str]:
    """The HTTP(S) addresses where the certificate says its issuer's CRL is published."""
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [
        general.value
        for point in points
        for general in point.full_name or ()
        if isinstance(general, x509.UniformResourceIdentifier) and general.value.startswith(("http://", "https://"))
    ]


def crl_base_named(certificate: x509.Certificate) -> str | None:
    """The base of the CRL address the certificate names (its URL without `/<key id>.crl`), if it names one."""
    urls = crl_urls(certificate)
    return urls[0].rsplit("/", 1)[0] if urls else None


def has_role(certificate: x509.Certificate, role: Role) -> bool:
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return role.required in usages


def check_key_matches(certificate: x509.Certificate, key: object, what: str) -> ec.EllipticCurvePrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PkiError(f"{what} must be an ECDSA P-256 key")
    public = certificate.public_key()
    if (
        not isinstance(public, ec.EllipticCurvePublicKey)
        or public.public_numbers() != key.public_key().public_numbers()
    ):
        raise PkiError(f"{what} does not belong to its certificate")
    return key


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
