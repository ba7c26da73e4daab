"""The signing desk: enrollment and consent, from verified bytes to a logged event.

Order matters here. Everything that can be checked without a third party is
checked first (shape, challenge, key, signature, and a dry run of the core's
rules); only then is the TSA asked for a token, and only with a token is the
event appended. A failing TSA therefore leaves nothing behind.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from ceremony.canonical import canonicalize
from ceremony.challenges import Challenge, ChallengeBook
from ceremony.commands import ApproveEnrollment, RecordConsent, RejectEnrollment, RequestEnrollment
from ceremony.consent import parse_statement, statement_bytes
from ceremony.core import decide
from ceremony.errors import CommandRefused, InvalidCommand
from ceremony.events import format_time
from ceremony.runtime.service import CeremonyService
from ceremony.state import CeremonyState, Consent, Enrollment, PdfSignature, current_certificate, enrollment_with_serial
from signatures.keys import (
    b64,
    b64decode,
    fingerprint,
    issue_signatory_certificate,
    load_p256_spki,
    raw_to_der,
    verify,
)
from signatures.pki import CeremonyPki
from signatures.record.evidence import stamps
from signatures.record.receipts import RECEIPT_TYPE
from signatures.timestamping import TimestampSet

if TYPE_CHECKING:  # web.auth -> web.keys -> this module: only the type is needed here
    from .auth import Principal

PURPOSES = ("enrollment", "consent")


def possession_message(ceremony: str, signatory: str, challenge: str, public_key: str) -> bytes:
    """What the browser signs to prove it holds the key it enrolls (RFC 8785 bytes)."""
    return canonicalize(
        {
            "type": "ceremony-enrollment/1",
            "ceremony": ceremony,
            "signatory": signatory,
            "challenge": challenge,
            "public_key": public_key,
        }
    )


@dataclass(frozen=True, slots=True)
class Client:
    address: str
    device: str


class SigningDesk:
    def __init__(self, service: CeremonyService, pki: CeremonyPki, tsas: TimestampSet) -> None:
        self.service = service
        self.pki = pki
        self.tsas = tsas
        self.challenges = ChallengeBook()

    def challenge(self, state: CeremonyState, principal: Principal, purpose: str) -> Challenge:
        if purpose not in PURPOSES:
            raise InvalidCommand("purpose must be 'enrollment' or 'consent'")
        assert principal.invitation is not None
        return self.challenges.issue(state.id, principal.invitation.id, purpose, time.monotonic())

    async def enroll(self, state: CeremonyState, principal: Principal, body: dict[str, Any], client: Client) -> str:
        invitation = principal.invitation
        assert invitation is not None and invitation.signatory is not None
        public_key_text = _field(body, "public_key")
        challenge = _field(body, "challenge")
        spki = b64decode(public_key_text, "public_key")
        key = load_p256_spki(spki)
        self.challenges.check(challenge, state.id, invitation.id, "enrollment", time.monotonic())
        message = possession_message(state.id, invitation.signatory, challenge, public_key_text)
        if not verify(key, message, raw_to_der(b64decode(_field(body, "signature"), "signature"))):
            raise InvalidCommand("the proof of possession does not verify with this public key")
        # Spent before the append, so two requests racing with one challenge cannot both enroll.
        self.challenges.spend(challenge)
        enrollment = "enr-" + secrets.token_hex(6)
        command = RequestEnrollment(
            enrollment, invitation.signatory, invitation.id, b64(spki), fingerprint(spki), client.device, client.address
        )
        await self.service.execute(state.id, command, principal.actor)
        return enrollment

    async def approve(self, state: CeremonyState, enrollment_id: str, actor: str) -> None:
        enrollment = state.enrollments.get(enrollment_id)
        if enrollment is None:
            raise InvalidCommand(f"no enrollment '{enrollment_id}' in this ceremony")
        signatory = state.definition.signatory(enrollment.signatory)
        party = state.definition.party(signatory.party)
        key = load_p256_spki(b64decode(enrollment.public_key, "public_key"))
        certificate = issue_signatory_certificate(
            self.pki.issuing,
            key,
            person=signatory.name.en,
            organisation=party.name.en,
            country=party.country,
            crl_base=self.pki.crl_base,
            now=self.service.clock(),
        )
        command = ApproveEnrollment(
            enrollment_id,
            b64(certificate.public_bytes(Encoding.DER)),
            format(certificate.serial_number, "x"),
            format_time(certificate.not_valid_after_utc),
        )
        await self.service.execute(state.id, command, actor)

    async def reject(self, state: CeremonyState, enrollment_id: str, reason: str, actor: str) -> None:
        await self.service.execute(state.id, RejectEnrollment(enrollment_id, reason), actor)

    async def consent(
        self, state: CeremonyState, principal: Principal, body: dict[str, Any], client: Client
    ) -> Consent:
        invitation = principal.invitation
        assert invitation is not None and invitation.signatory is not None
        statement = parse_statement(body.get("statement"))
        if statement["signatory"] != invitation.signatory:
            raise InvalidCommand("this link may only sign for its own signatory")
        self.challenges.check(statement["challenge"], state.id, invitation.id, "consent", time.monotonic())
        enrollment = current_certificate(state, invitation.signatory)
        if enrollment is None or enrollment.certificate is None or enrollment.serial is None:
            raise CommandRefused("no approved key for this signatory yet; the host must approve the enrollment first")
        certificate = x509.load_der_x509_certificate(b64decode(enrollment.certificate, "certificate", limit=8192))
        if certificate.not_valid_after_utc < self.service.clock():
            raise CommandRefused("this signatory's certificate has expired; enroll again")
        data = statement_bytes(statement)
        signature = raw_to_der(b64decode(_field(body, "signature"), "signature"))
        public_key = certificate.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        if not verify(public_key, data, signature):
            raise InvalidCommand("the signature does not verify with this signatory's approved key")
        command = RecordConsent(
            invitation.signatory, statement, b64(signature), enrollment.serial, "", "", client.address, client.device
        )
        decide(state, command)  # a dry run: refuse now rather than after asking the TSAs
        first, *more = await self.tsas.timestamp(data)  # one token from each configured TSA
        command = RecordConsent(
            invitation.signatory,
            statement,
            b64(signature),
            enrollment.serial,
            b64(first.der),
            format_time(first.gen_time),
            client.address,
            client.device,
            tuple(b64(t.der) for t in more),
        )
        await self.service.execute(state.id, command, principal.actor)
        self.challenges.spend(statement["challenge"])
        return self.service.get(state.id).consents[invitation.signatory]


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidCommand(f"'{name}' must be a non-empty string")
    return value


def enrollment_json(enrollment: Enrollment, state: CeremonyState) -> dict[str, Any]:
    signatory = state.definition.signatory(enrollment.signatory)
    return {
        "id": enrollment.id,
        "signatory": enrollment.signatory,
        "name": signatory.name.as_dict(),
        "title": signatory.title.as_dict(),
        "party": signatory.party,
        "venue": signatory.venue,
        "fingerprint": enrollment.fingerprint,
        "device": enrollment.device,
        "requested_at": format_time(enrollment.requested_at),
        "status": enrollment.status.value,
        "revoked": enrollment.revoked,
        "revoked_at": format_time(enrollment.revoked_at) if enrollment.revoked_at else None,
        "cause": enrollment.cause,
        "reason": enrollment.reason,
        "serial": enrollment.serial,
        "not_after": enrollment.not_after,
    }


def consent_json(consent: Consent) -> dict[str, Any]:
    return {
        "signatory": consent.signatory,
        "decision": consent.decision,
        "timestamp": consent.timestamp,
        "recorded_at": format_time(consent.recorded_at),
        "certificate_serial": consent.certificate_serial,
        "statement": consent.statement,
        "signature": consent.signature,
        "timestamp_token": consent.timestamp_token,
    }


def pdf_signature_json(signature: PdfSignature) -> dict[str, Any]:
    return {
        "signatory": signature.signatory,
        "field": signature.field,
        "sha256": signature.sha256,
        "size": signature.size,
        "timestamp": signature.timestamp,
    }


def receipt_json(state: CeremonyState, signatory: str) -> dict[str, Any]:
    """What a signatory keeps of their own decision, to hold a sealed record against later.

    Everything in it is the log's own value, byte for byte (statement, signature, tokens,
    certificate): a record fabricated afterwards by whoever holds the server's keys cannot
    match a receipt that left the server when the signatory decided.
    """
    consent = state.consents.get(signatory)
    if consent is None:
        raise CommandRefused("there is no receipt yet: this signatory has neither signed nor declined")
    enrollment = _enrollment_with_serial(state, signatory, consent.certificate_serial)
    person = state.definition.signatory(signatory)
    party = state.definition.party(person.party)
    venue = state.definition.venue(person.venue)
    pdf = state.pdf_signatures.get(signatory)
    return {
        "type": RECEIPT_TYPE,
        "ceremony": {"id": state.id, "title": state.definition.title.as_dict()},
        "signatory": {"id": person.id, "name": person.name.as_dict(), "title": person.title.as_dict()},
        "party": {"id": party.id, "name": party.name.as_dict()},
        "venue": {"id": venue.id, "name": venue.name.as_dict()},
        "key": {
            "fingerprint": enrollment.fingerprint,
            "certificate": enrollment.certificate,
            "serial": enrollment.serial,
        },
        "decision": consent.decision,
        "statement": consent.statement,
        "signature": consent.signature,
        "timestamps": stamps(consent.timestamp_token, consent.extra_timestamp_tokens),
        "document_sha256": state.document_sha256,
        "pdf_signature": None
        if pdf is None
        else {
            "field": pdf.field,
            "sha256": pdf.sha256,
            "size": pdf.size,
            "timestamp": pdf.timestamp,
            "timestamps": stamps(pdf.timestamp_token, pdf.extra_timestamp_tokens),
        },
    }


def _enrollment_with_serial(state: CeremonyState, signatory: str, serial: str) -> Enrollment:
    # By serial, not "the current one": a certificate revoked after the decision still made it.
    enrollment = enrollment_with_serial(state, serial)
    if enrollment is not None and enrollment.signatory == signatory:
        return enrollment
    raise CommandRefused(f"the log has no approved enrollment with certificate serial {serial}")
