"""The ceremony PKI on disk (DATA/pki/), and the steps of running it with an offline root.

    root.pem             the anchor everyone pins (by file or by fingerprint)
    root.key             only when the root lives on this server (the demo, a quick start)
    root.crl             the root's CRL: which issuing CAs are revoked (made where the root key is)
    issuing.pem/.key     the online issuing CA
    tsa.pem/.key         the built-in TSA's current key
    seal.pem/.key        the record seal's current key
    retired/tsa-*.pem, retired/seal-*.pem
                         earlier TSA and seal certificates (their keys are destroyed when retired)
    retired/issuing-*.pem/.key
                         earlier issuing CAs, keys kept: they go on signing CRLs for what they issued

Keys are written 0600 in a 0700 directory. With an offline root (docs/deploy.md)
the server holds neither root.key nor the means to make a new issuing CA: the
root signs the issuing CA's request on another machine (`ceremony pki ...`).

A pair is replaced key first, then certificate, each file atomically and durably.
A crash between the two leaves a key that does not belong to its certificate; the
next start takes that as an interrupted replacement (see `_current`), never as
damage to refuse: the TSA and seal pairs are made again, the issuing CA too when
the root is here (the previous one was kept in retired/ before its key was
overwritten), and with an offline root the operator runs `ceremony pki install`
again (its pending key is removed only once the certificate is written).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from ceremony.runtime.durable import write_durably

from .crl import Cause, Revocation, issue_crl, load_crl
from .errors import PkiError
from .pki import (
    SEAL,
    TSA,
    CeremonyPki,
    KeyPair,
    Role,
    check_key_matches,
    due_for_rotation,
    has_role,
    issue_ca,
    issue_service,
    make_root,
    name,
    new_key,
    private_pem,
)

ORGANISATION = "Online Signing Ceremony"
log = logging.getLogger(__name__)


def _write_private(path: Path, data: bytes) -> None:
    """Create or replace `path` with mode 0600, durably."""
    write_durably(path, data, mode=0o600)


def _read_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise PkiError(f"cannot load the certificate {path}: {exc}") from exc


def load_pair(cert_path: Path, key_path: Path) -> KeyPair:
    certificate = _read_certificate(cert_path)
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise PkiError(f"cannot load the key {key_path}: {exc}") from exc
    return KeyPair(certificate=certificate, key=check_key_matches(certificate, key, str(key_path)))


def save_pair(directory: Path, stem: str, pair: KeyPair) -> None:
    """Key first, then certificate: after a crash in between, the key does not match (see `_current`)."""
    _write_private(directory / f"{stem}.key", private_pem(pair.key))
    _write_private(directory / f"{stem}.pem", pair.certificate_pem)


def _current(directory: Path, stem: str) -> KeyPair | None:
    """The pair `stem` as it stands; None when there is none, or when a replacement was cut short.

    `save_pair` writes the key first, so a key that does not belong to the certificate
    beside it is the new key of an interrupted replacement: the certificate's own key is
    gone (already kept in retired/ when it had to be), and the pair must be made again.
    """
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    if not (cert_path.exists() and key_path.exists()):
        return None
    certificate = _read_certificate(cert_path)
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise PkiError(f"cannot load the key {key_path}: {exc}") from exc
    public = certificate.public_key()
    interrupted = (
        isinstance(key, ec.EllipticCurvePrivateKey)
        and isinstance(public, ec.EllipticCurvePublicKey)
        and key.public_key().public_numbers() != public.public_numbers()
    )
    if interrupted:
        log.warning("%s does not belong to %s: its replacement was interrupted", key_path, cert_path)
        return None
    return KeyPair(certificate=certificate, key=check_key_matches(certificate, key, str(key_path)))


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _path_length(certificate: x509.Certificate) -> int | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
    except x509.ExtensionNotFound:
        return None


def load_or_create(
    directory: Path,
    now: dt.datetime,
    *,
    crl_base: str,
    organisation: str = ORGANISATION,
    root: KeyPair | None = None,
    tsa: KeyPair | None = None,
) -> CeremonyPki:
    """The PKI in `directory`, making what is missing and retiring service keys whose use period ended.

    `root`: the operator's own root (certificate and key) instead of the one in `directory`.
    `tsa`: the operator's own TSA key, used as it is (never rotated here).
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    root_pair = root or _root(directory, organisation, now)
    root_certificate = root_pair.certificate if root_pair else _read_certificate(directory / "root.pem")
    if root_pair is None and not (directory / "issuing.key").exists():
        raise PkiError(
            f"{directory} has root.pem but neither root.key nor an issuing CA: finish the offline-root set-up "
            "(`ceremony pki install`, docs/deploy.md)"
        )
    if _path_length(root_certificate) == 0:
        raise PkiError(
            f"{directory / 'root.pem'} is a root from an earlier version that cannot certify an issuing CA; "
            "move the pki directory aside to start a new PKI"
        )
    issuing = _issuing(directory, root_pair, root_certificate, organisation, crl_base, now)
    root_crl = _root_crl(directory, root_pair, root_certificate, now)
    pairs: dict[str, KeyPair] = {}
    for role in (TSA, SEAL):
        supplied = tsa if role is TSA else None
        pairs[role.name] = supplied or _service(directory, issuing, role, organisation, crl_base, now)
    return CeremonyPki(
        root=root_certificate,
        root_crl=root_crl,
        issuing=issuing,
        tsa=pairs[TSA.name],
        seal=pairs[SEAL.name],
        crl_base=crl_base,
    )


def _root(directory: Path, organisation: str, now: dt.datetime) -> KeyPair | None:
    """The root's key pair when it lives here; a new one on a fresh directory; None for an offline root."""
    cert_path, key_path = directory / "root.pem", directory / "root.key"
    if key_path.exists():
        return load_pair(cert_path, key_path)
    if cert_path.exists():
        return None
    pair = make_root(organisation, now)
    save_pair(directory, "root", pair)
    return pair


def _issuing(
    directory: Path,
    root: KeyPair | None,
    root_certificate: x509.Certificate,
    organisation: str,
    crl_base: str,
    now: dt.datetime,
) -> KeyPair:
    cert_path = directory / "issuing.pem"
    pair = _current(directory, "issuing")
    if pair is not None:
        if not _issued_by(pair.certificate, root_certificate):
            raise PkiError(f"{cert_path} was not issued by {directory / 'root.pem'}")
        if not due_for_rotation(pair.certificate, now) or root is None:
            return pair  # with an offline root, renewing the issuing CA is the operator's step
    if root is None:
        if (directory / "issuing.key.pending").exists():
            raise PkiError(
                f"{directory} has no usable issuing CA: `ceremony pki install` was interrupted; run it again"
            )
        raise PkiError(f"{directory} has no issuing CA; with an offline root, install one (`ceremony pki install`)")
    if pair is not None:
        _keep_issuing(directory, pair)
    key = new_key()
    pair = KeyPair(certificate=issue_ca(root, key.public_key(), organisation, crl_base, now), key=key)
    save_pair(directory, "issuing", pair)
    return pair


def _root_crl(directory: Path, root: KeyPair | None, root_certificate: x509.Certificate, now: dt.datetime) -> bytes:
    path = directory / "root.crl"
    if path.exists():
        der = path.read_bytes()
        crl = load_crl(der)
        if not crl.is_signature_valid(root_certificate.public_key()):  # type: ignore[arg-type]
            raise PkiError(f"{path} is not signed by the root")
        return der
    if root is None:
        raise PkiError(
            f"{path} is missing: with an offline root, make it there (`ceremony pki root-crl --root ROOT_DIR`) "
            "and install it here (`ceremony pki install-crl`)"
        )
    der = issue_crl(root, (), now)
    _write_private(path, der)
    return der


def _service(
    directory: Path, issuing: KeyPair, role: Role, organisation: str, crl_base: str, now: dt.datetime
) -> KeyPair:
    cert_path = directory / f"{role.name}.pem"
    pair = _current(directory, role.name)
    if pair is not None:
        if not has_role(pair.certificate, role):
            raise PkiError(f"{cert_path} is not a {role.name} certificate")
        if not due_for_rotation(pair.certificate, now) and _issued_by(pair.certificate, issuing.certificate):
            return pair
    if cert_path.exists():  # records may name it: keep it, whether its key was used up or lost in a crash
        retire(directory, role, _read_certificate(cert_path))
    pair = issue_service(issuing, role, organisation, crl_base, now)
    save_pair(directory, role.name, pair)
    return pair


def _keep_issuing(directory: Path, pair: KeyPair) -> None:
    """An issuing CA that stops issuing keeps its key: it still signs CRLs for what it issued."""
    retired = directory / "retired"
    retired.mkdir(exist_ok=True, mode=0o700)
    save_pair(retired, f"issuing-{pair.certificate.serial_number:x}", pair)


def _kept(directory: Path, certificate: x509.Certificate) -> bool:
    # The certificate is written after the key: once it is there, the pair is.
    return (directory / "retired" / f"issuing-{certificate.serial_number:x}.pem").exists()


def retired_issuers(directory: Path) -> tuple[KeyPair, ...]:
    """Earlier issuing CAs, which go on publishing CRLs for the certificates they issued."""
    pairs = []
    for cert_path in sorted((directory / "retired").glob("issuing-*.pem")):
        pairs.append(load_pair(cert_path, cert_path.with_suffix(".key")))
    return tuple(pairs)


def retire(directory: Path, role: Role, certificate: x509.Certificate) -> None:
    """Keep the certificate (old records name it) and destroy the key, whose use period is over."""
    retired = directory / "retired"
    retired.mkdir(exist_ok=True, mode=0o700)
    target = retired / f"{role.name}-{certificate.serial_number:x}.pem"
    _write_private(target, certificate.public_bytes(Encoding.PEM))
    (directory / f"{role.name}.key").unlink(missing_ok=True)


# ---- an offline root: the steps on each machine ----


def create_root(directory: Path, organisation: str, now: dt.datetime) -> KeyPair:
    """On the offline machine: a root and its first (empty) CRL."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if (directory / "root.key").exists():
        raise PkiError(f"{directory} already holds a root; refusing to overwrite it")
    pair = make_root(organisation, now)
    save_pair(directory, "root", pair)
    _write_private(directory / "root.crl", issue_crl(pair, (), now))
    return pair


def request_issuing(directory: Path, organisation: str, now: dt.datetime) -> bytes:
    """On the server: a new issuing key (kept here, 0600) and its request (PEM) for the root to sign."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = new_key()
    _write_private(directory / "issuing.key.pending", private_pem(key))
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name(f"{organisation} Issuing CA {now.year}", organisation))
        .sign(key, hashes.SHA256())
    )
    pem = request.public_bytes(Encoding.PEM)
    _write_private(directory / "issuing.csr", pem)
    return pem


def sign_issuing(root_directory: Path, request_pem: bytes, crl_base: str, now: dt.datetime) -> bytes:
    """On the offline machine: certify the request as the issuing CA (PEM); our profile, not the request's."""
    root = load_pair(root_directory / "root.pem", root_directory / "root.key")
    try:
        request = x509.load_pem_x509_csr(request_pem)
    except ValueError as exc:
        raise PkiError(f"not a PEM certificate request: {exc}") from None
    public = request.public_key()
    if not request.is_signature_valid or not isinstance(public, ec.EllipticCurvePublicKey):
        raise PkiError("the request's signature does not verify, or its key is not ECDSA P-256")
    organisation = request.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    who = str(organisation[0].value) if organisation else ORGANISATION
    return issue_ca(root, public, who, crl_base, now).public_bytes(Encoding.PEM)


def revoke_issuing(root_directory: Path, serials: list[int], now: dt.datetime) -> bytes:
    """On the offline machine: a new root CRL, adding the given issuing CA serials as compromised.

    Without serials, the same list issued afresh (`ceremony pki root-crl`). What the current
    root.crl lists stays listed, with its date: a CRL that forgot a revocation would undo it.
    """
    root = load_pair(root_directory / "root.pem", root_directory / "root.key")
    listed = {r.serial: r for r in _root_revocations(root_directory / "root.crl", root.certificate)}
    for serial in serials:
        listed.setdefault(serial, Revocation(serial, now, Cause.KEY_COMPROMISE))
    der = issue_crl(root, listed.values(), now)
    _write_private(root_directory / "root.crl", der)
    return der


# A reason our CRLs never give is read as the strictest one: the issuing CA stays revoked for good.
_CAUSES = {x509.ReasonFlags.superseded: Cause.SUPERSEDED, x509.ReasonFlags.cessation_of_operation: Cause.CESSATION}


def _root_revocations(path: Path, root: x509.Certificate) -> list[Revocation]:
    """What the root CRL at `path` lists (nothing if there is none), once it proves to be the root's."""
    if not path.exists():
        return []
    crl = load_crl(path.read_bytes())
    if crl.issuer != root.subject or not crl.is_signature_valid(root.public_key()):  # type: ignore[arg-type]
        raise PkiError(f"{path} is not signed by this root; refusing to build on it")
    found = []
    for entry in crl:
        try:
            cause = _CAUSES.get(entry.extensions.get_extension_for_class(x509.CRLReason).value.reason)
        except x509.ExtensionNotFound:
            cause = None
        found.append(Revocation(entry.serial_number, entry.revocation_date_utc, cause or Cause.KEY_COMPROMISE))
    return found


def install_root_crl(directory: Path, der: bytes) -> None:
    """On the server: put a root CRL made on the offline machine in place (the server reads it at start)."""
    root = _read_certificate(directory / "root.pem")
    crl = load_crl(der)
    if crl.issuer != root.subject or not crl.is_signature_valid(root.public_key()):  # type: ignore[arg-type]
        raise PkiError(f"this CRL is not signed by the root in {directory / 'root.pem'}")
    before = {r.serial for r in _root_revocations(directory / "root.crl", root)}
    dropped = before - {entry.serial_number for entry in crl}
    if dropped:
        serials = ", ".join(f"{s:x}" for s in sorted(dropped))
        raise PkiError(f"this CRL no longer lists {serials}, which the installed one revokes; refusing to undo that")
    _write_private(directory / "root.crl", der)


def install_issuing(directory: Path, root_pem: bytes, issuing_pem: bytes, root_crl: bytes) -> None:
    """On the server: put the root certificate, its CRL and the signed issuing CA beside the pending key."""
    try:
        root = x509.load_pem_x509_certificate(root_pem)
        issuing = x509.load_pem_x509_certificate(issuing_pem)
    except ValueError as exc:
        raise PkiError(f"not a PEM certificate: {exc}") from None
    if not _issued_by(issuing, root):
        raise PkiError("the issuing CA certificate was not signed by this root")
    if not load_crl(root_crl).is_signature_valid(root.public_key()):  # type: ignore[arg-type]
        raise PkiError("the root CRL is not signed by this root")
    pending = directory / "issuing.key.pending"
    try:
        key = serialization.load_pem_private_key(pending.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise PkiError(f"no pending issuing key in {directory} (run `ceremony pki request` first): {exc}") from None
    pending_key = check_key_matches(issuing, key, "the pending issuing key")
    if (directory / "root.key").exists():
        raise PkiError(f"{directory} holds a root key; an offline root means removing it from the server first")
    previous = _read_certificate(directory / "issuing.pem") if (directory / "issuing.pem").exists() else None
    if previous is not None and previous != issuing and not _kept(directory, previous):
        # The previous CA still publishes CRLs for what it issued (a re-run after a crash finds it kept).
        _keep_issuing(directory, load_pair(directory / "issuing.pem", directory / "issuing.key"))
    _write_private(directory / "root.pem", root_pem)
    _write_private(directory / "root.crl", root_crl)
    # Key, certificate, and only then the pending key goes: interrupted anywhere, a re-run finishes it.
    _write_private(directory / "issuing.key", private_pem(pending_key))
    _write_private(directory / "issuing.pem", issuing_pem)
    pending.unlink()
    (directory / "issuing.csr").unlink(missing_ok=True)
    for role in (TSA, SEAL):  # they were issued by the previous issuing CA: new ones at next start
        cert = directory / f"{role.name}.pem"
        if cert.exists():
            retire(directory, role, _read_certificate(cert))
            cert.unlink()
