"""Certificate paths through pyhanko-certvalidator: at a moment, with the record's revocation data, per role.

Every certificate the record relies on (a signatory's, the seal's, each TSA's)
is judged here, by the same engine that judges the PDF, never by a hand-rolled
chain walk: a path to an anchor the person verifying pinned, valid at the time
the record proves, carrying the extended key usage of its role, and with
revocation data for every certificate below the anchor (a CRL issued after that
moment counts: it lists whatever was revoked before it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, ValidationError

from ..pki import TSA, Role, fingerprint, key_use_period
from .report import Mismatch

TOLERANCE = dt.timedelta(seconds=1)  # between two times a TSA states: its stated accuracy


def outside_key_use(certificate: x509.Certificate, at: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The period in which the certificate's key could sign, if `at` falls outside it (None: within)."""
    start, end = key_use_period(certificate)
    return None if start - TOLERANCE <= at <= end + TOLERANCE else (start, end)


def asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return _asn1(certificate.public_bytes(Encoding.DER))


@lru_cache(maxsize=512)
def _asn1(der: bytes) -> asn1_x509.Certificate:
    # One object per certificate, so asn1crypto's own caches (names, hashes) are computed once
    # rather than for each of the ~30 contexts a record's verification builds.
    return asn1_x509.Certificate.load(der)


@dataclass(frozen=True, slots=True)
class Material:
    """What a validator may use besides its anchors: certificates and revocation data (DER)."""

    certificates: tuple[x509.Certificate, ...] = ()
    crls: tuple[bytes, ...] = ()
    ocsps: tuple[bytes, ...] = ()

    def plus(self, other: Material) -> Material:
        return Material(
            _unique(self.certificates + other.certificates),
            tuple(dict.fromkeys(self.crls + other.crls)),
            tuple(dict.fromkeys(self.ocsps + other.ocsps)),
        )


def _unique(certificates: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    seen: dict[bytes, x509.Certificate] = {}
    for certificate in certificates:
        seen.setdefault(certificate.public_bytes(Encoding.DER), certificate)
    return tuple(seen.values())


@dataclass(frozen=True, slots=True)
class Anchors:
    """What the person verifying trusts: the ceremony root, and any external TSA's CA for timestamps only."""

    root: x509.Certificate
    tsa: tuple[x509.Certificate, ...] = ()
    names: dict[str, str] = field(default_factory=dict)  # fingerprint -> how the report names the anchor

    def for_role(self, role: Role) -> tuple[x509.Certificate, ...]:
        return (self.root, *self.tsa) if role is TSA else (self.root,)

    def describe(self, anchor: x509.Certificate) -> str:
        return self.names.get(fingerprint(anchor), f"'{anchor.subject.rfc4514_string()}'")


_KEY_USAGE = {"tsa": {"digital_signature"}, "seal": {"digital_signature"}, "signatory": {"digital_signature"}}


def context(
    anchors: Sequence[x509.Certificate], material: Material, moment: dt.datetime | None, *, fetch: bool = False
) -> ValidationContext:
    """A context that requires revocation data for every certificate below the anchor.

    Contexts are reused for the same anchors, material and moment (a verification asks for the
    same one many times, and building one registers every certificate anew); one that may fetch
    is always fresh.
    """
    if fetch:
        return _context(tuple(anchors), material, moment, fetch=True)
    return _cached_context(tuple(anchors), material, moment)


@lru_cache(maxsize=32)
def _cached_context(
    anchors: tuple[x509.Certificate, ...], material: Material, moment: dt.datetime | None
) -> ValidationContext:
    return _context(anchors, material, moment, fetch=False)


def _readable_crl(der: bytes) -> bool:
    """An unreadable CRL (in a zip or a PDF's DSS) adds nothing; passed on, it would fail every path check."""
    try:
        x509.load_der_x509_crl(der)
    except ValueError:
        return False
    return True


def _context(
    anchors: tuple[x509.Certificate, ...], material: Material, moment: dt.datetime | None, *, fetch: bool
) -> ValidationContext:
    return ValidationContext(
        trust_roots=[asn1(a) for a in anchors],
        other_certs=[asn1(c) for c in material.certificates],
        crls=[asn1_crl.CertificateList.load(c) for c in material.crls if _readable_crl(c)],
        ocsps=list(material.ocsps),
        moment=None if fetch else moment,
        allow_fetching=fetch,
        revocation_mode="require",
        retroactive_revinfo=True,
        time_tolerance=TOLERANCE,
    )


def _usage(role: Role) -> set[str]:
    # certvalidator names the standard purposes; ours go by their dotted OIDs.
    return {"time_stamping"} if role is TSA else {role.required.dotted_string}


async def validate(
    certificate: x509.Certificate,
    role: Role,
    at: dt.datetime,
    anchors: Anchors,
    material: Material,
    intermediates: Sequence[x509.Certificate] = (),
) -> x509.Certificate:
    """The anchor `certificate` rests on, as a `role` certificate at `at`; Mismatch saying why not."""
    validation = context(anchors.for_role(role), material, at)
    validator = CertificateValidator(
        asn1(certificate), intermediate_certs=[asn1(c) for c in intermediates], validation_context=validation
    )
    try:
        path = await validator.async_validate_usage(  # type: ignore[no-untyped-call]
            _KEY_USAGE[role.name], extended_key_usage=_usage(role)
        )
    except (PathBuildingError, PathValidationError, ValidationError) as exc:
        who = certificate.subject.rfc4514_string()
        raise Mismatch(f"'{who}' is not a valid {role.name} certificate at {at.isoformat()}: {exc}") from None
    root = path.first
    der = root.dump()
    return next(a for a in anchors.for_role(role) if a.public_bytes(Encoding.DER) == der)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
