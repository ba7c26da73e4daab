"""Certificate revocation lists, without I/O: who issued them, what they list, how long they hold.

A CRL here is long-lived on purpose. A record is validated years later with the
revocation data sealed into it, and PAdES validators (pyHanko's `adesverify`
among them) accept that data only while the CRL's own validity covers the
validation time. So each CRL's nextUpdate is CRL_VALIDITY after its thisUpdate
(never beyond the issuer's own expiry), and the CA issues a new one, with a
higher number, whenever it revokes something. Someone checking a certificate
*today* fetches the CRL from its distribution point rather than trusting an
old copy; docs/record.md says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from ceremony.state import CeremonyState

from .errors import PkiError
from .pki import YEAR, CeremonyPki, KeyPair, key_id

CRL_VALIDITY = 30 * YEAR


class Cause:
    """Why a certificate was revoked, as the CRL's reason code says it."""

    SUPERSEDED = "superseded"  # a new device, a new key
    KEY_COMPROMISE = "key_compromise"  # lost or stolen
    CESSATION = "cessation"  # no longer needed

    ALL = (SUPERSEDED, KEY_COMPROMISE, CESSATION)


_REASONS = {
    Cause.SUPERSEDED: x509.ReasonFlags.superseded,
    Cause.KEY_COMPROMISE: x509.ReasonFlags.key_compromise,
    Cause.CESSATION: x509.ReasonFlags.cessation_of_operation,
}


@dataclass(frozen=True, slots=True)
class Revocation:
    serial: int
    at: dt.datetime
    cause: str = Cause.SUPERSEDED


def issue_crl(issuer: KeyPair, revocations: Iterable[Revocation], now: dt.datetime) -> bytes:
    """A DER CRL by `issuer` listing `revocations`, numbered by its issue time so numbers only grow."""
    next_update = min(now + CRL_VALIDITY, issuer.certificate.not_valid_after_utc)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    )
    for revocation in sorted(revocations, key=lambda r: (r.at, r.serial)):
        if revocation.cause not in _REASONS:
            raise PkiError(f"unknown revocation cause {revocation.cause!r}")
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(revocation.serial)
            .revocation_date(revocation.at)
            .add_extension(x509.CRLReason(_REASONS[revocation.cause]), critical=False)
            .build()
        )
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(Encoding.DER)


def load_crl(der: bytes) -> x509.CertificateRevocationList:
    try:
        return x509.load_der_x509_crl(der)
    except ValueError as exc:
        raise PkiError(f"not a DER CRL: {exc}") from None


def revoked_serials(der: bytes) -> dict[int, dt.datetime]:
    """Serial -> revocation time, as a CRL lists them."""
    return {entry.serial_number: entry.revocation_date_utc for entry in load_crl(der)}


class CrlPublisher:
    """The CRLs this server publishes at its distribution points: the root's, as the root made it
    (its key may be offline), and each issuing CA's, made fresh from the revocations in the logs."""

    def __init__(
        self,
        pki: CeremonyPki,
        revocations: Callable[[], Iterable[Revocation]],
        retired_issuers: Sequence[KeyPair] = (),
    ) -> None:
        self.pki = pki
        self._revocations = revocations
        self._issuers = {key_id(p.certificate): p for p in (pki.issuing, *retired_issuers)}

    def revocations(self) -> tuple[Revocation, ...]:
        """Every revocation, read now (on the caller's thread: they come from live state)."""
        return tuple(self._revocations())

    def crl(
        self, issuer_key_id: str, now: dt.datetime, revocations: Sequence[Revocation] | None = None
    ) -> bytes | None:
        """The current CRL of the CA with this key id, or None if it is not one of ours.

        `revocations`, read beforehand with `revocations()`, lets the signing run in a worker
        thread without that thread touching the live state.
        """
        if issuer_key_id == key_id(self.pki.root):
            return self.pki.root_crl
        issuer = self._issuers.get(issuer_key_id)
        if issuer is None:
            return None
        # Serials are random 127-bit numbers, so listing every revocation in each CA's CRL
        # is harmless: a serial another CA issued matches nothing this CA signed.
        return issue_crl(issuer, list(self._revocations() if revocations is None else revocations), now)

    def all(self, now: dt.datetime) -> tuple[bytes, ...]:
        """The root's CRL and every issuing CA's, as of `now`."""
        revocations = list(self._revocations())
        return (self.pki.root_crl, *(issue_crl(i, revocations, now) for i in self._issuers.values()))


def revocations_in(states: Iterable[CeremonyState]) -> list[Revocation]:
    """Every signatory certificate revoked in any ceremony, from the logs (the CA keeps no other list)."""
    found = []
    for state in states:
        for enrollment in state.enrollments.values():
            if enrollment.revoked and enrollment.serial and enrollment.revoked_at is not None:
                cause = enrollment.cause if enrollment.cause in Cause.ALL else Cause.SUPERSEDED
                found.append(Revocation(int(enrollment.serial, 16), enrollment.revoked_at, cause))
    return found
