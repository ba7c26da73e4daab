"""The ceremony PKI: a root CA, a time-stamping authority and a seal, all ECDSA P-256.

On first start the data directory gets `pki/` with each certificate (PEM) and
key (PEM, mode 0600). An operator may instead point the server at an existing
CA/TSA key and certificate; then nothing is generated for that part.

P-256 rather than Ed25519 because OpenSSL 3.0 and poppler cannot verify
Ed25519 inside CMS, and the record must verify with their tools.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import PkiError

ROOT_YEARS = 20
LEAF_YEARS = 10


@dataclass(frozen=True, slots=True)
class KeyPair:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True, slots=True)
class CeremonyPki:
    root: KeyPair
    tsa: KeyPair
    seal: KeyPair

    @property
    def root_pem(self) -> bytes:
        return self.root.certificate_pem


def _name(common: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )


def _serial() -> int:
    return int.from_bytes(os.urandom(16), "big") >> 1  # positive, 127 bits


def make_root(organisation: str, now: dt.datetime) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"{organisation} Root CA", organisation)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * ROOT_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(certificate, key)


def issue_leaf(
    root: KeyPair,
    public_key: ec.EllipticCurvePublicKey,
    subject: x509.Name,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    eku: list[x509.ObjectIdentifier],
    eku_critical: bool,
    content_commitment: bool = False,
) -> x509.Certificate:
    """An end-entity certificate under the root (signatories, TSA, seal)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root.certificate.subject)
        .public_key(public_key)
        .serial_number(_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=content_commitment,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()),
            critical=False,
        )
    )
    if eku:
        # OpenSSL's `ts -verify` insists that a TSA's timeStamping EKU is critical.
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_critical)
    return builder.sign(root.key, hashes.SHA256())


def _service_pair(
    root: KeyPair, common: str, organisation: str, eku: x509.ObjectIdentifier, now: dt.datetime
) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = issue_leaf(
        root,
        key.public_key(),
        _name(common, organisation),
        not_before=now - dt.timedelta(minutes=5),
        not_after=now + dt.timedelta(days=365 * LEAF_YEARS),
        eku=[eku],
        eku_critical=eku == ExtendedKeyUsageOID.TIME_STAMPING,
        content_commitment=True,
    )
    return KeyPair(certificate, key)


# ---- files ----

FILES = {"root": "root", "tsa": "tsa", "seal": "seal"}


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def save_pair(directory: Path, stem: str, pair: KeyPair) -> None:
    key_pem = pair.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(directory / f"{stem}.key", key_pem)
    _write_private(directory / f"{stem}.pem", pair.certificate_pem)


def load_pair(cert_path: Path, key_path: Path) -> KeyPair:
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise PkiError(f"cannot load {cert_path} / {key_path}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PkiError(f"{key_path} must be an ECDSA P-256 key")
    if key.public_key().public_numbers() != certificate.public_key().public_numbers():  # type: ignore[union-attr]
        raise PkiError(f"{key_path} does not belong to {cert_path}")
    return KeyPair(certificate, key)


def load_or_create(
    directory: Path,
    now: dt.datetime,
    *,
    organisation: str = "Online Signing Ceremony",
    root: KeyPair | None = None,
    tsa: KeyPair | None = None,
) -> CeremonyPki:
    """The PKI in `directory`, generating what is missing (and not supplied by the operator)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    pairs: dict[str, KeyPair] = {}
    supplied = {"root": root, "tsa": tsa}
    for stem in ("root", "tsa", "seal"):
        given = supplied.get(stem)
        if given is not None:
            pairs[stem] = given
            continue
        cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
        if cert_path.exists() and key_path.exists():
            pair = load_pair(cert_path, key_path)
            if stem != "root" and pair.certificate.issuer != pairs["root"].certificate.subject:
                raise PkiError(f"{cert_path} was issued by another CA than the one in use; move it aside to renew it")
            pairs[stem] = pair
            continue
        if stem == "root":
            pair = make_root(organisation, now)
        else:
            eku = ExtendedKeyUsageOID.TIME_STAMPING if stem == "tsa" else ExtendedKeyUsageOID.EMAIL_PROTECTION
            common = f"{organisation} {'Time-Stamping Authority' if stem == 'tsa' else 'Record Seal'}"
            pair = _service_pair(pairs["root"], common, organisation, eku, now)
        save_pair(directory, stem, pair)
        pairs[stem] = pair
    return CeremonyPki(pairs["root"], pairs["tsa"], pairs["seal"])
