"""The consent desk: enrollment and consent, from verified bytes to a logged event.

Order matters here. Everything that can be checked without a third party is
checked first: the shape, the challenge, the signature, then the core's rules
for the state at this moment (`check_consent`, certificate expiry included).
Only then is the TSA asked for a token, and only with a token is the event
appended. A failing TSA therefore leaves nothing behind.

The desk acts for one invitation (a signatory's link) or for the host's actor
name; it knows nothing of HTTP. Its own refusals are `BadSubmission` (the
submission is unusable); rules of the ceremony's state come from the core.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from ceremony.canonical import canonicalize
from ceremony.challenges import Challenge
from ceremony.commands import ApproveEnrollment, RecordConsent, RejectEnrollment, RequestEnrollment
from ceremony.consent import parse_statement, statement_bytes
from ceremony.decide_enrollment import check_approval, check_consent, consent_key
from ceremony.errors import CommandRefused, InvalidCommand
from ceremony.events import format_time
from ceremony.runtime.service import CeremonyService, Executed
from ceremony.runtime.shared_challenges import Challenges, LocalChallenges
from ceremony.state import ENDED, CeremonyState, Consent, Enrollment, Invitation

from .errors import BadSubmission
from .keys import b64, b64decode, fingerprint, issue_signatory_certificate, load_p256_spki, raw_to_der, verify
from .pki import CeremonyPki
from .timestamping import TimestampSet

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Client:
    """What the edge observed of the browser, recorded for the certificate of completion."""

    address: str  # an IP address, or ""
    device: str  # the user agent, cleaned and shortened
    device_summary: str = ""  # its human form: "Safari 17 on iPad"


class ConsentDesk:
    def __init__(
        self, service: CeremonyService, pki: CeremonyPki, tsas: TimestampSet, challenges: Challenges | None = None
    ) -> None:
        self.service = service
        self.pki = pki
        self.tsas = tsas
        # In memory on one node; on the bus (SharedChallenges) when several nodes answer the same links.
        self.challenges = challenges if challenges is not None else LocalChallenges()

    async def challenge(self, state: CeremonyState, invitation: Invitation, purpose: str) -> Challenge:
        if purpose not in PURPOSES:
            raise BadSubmission("purpose must be 'enrollment' or 'consent'")
        if state.phase in ENDED:
            # Nothing a challenge could be answered with can happen any more: hand out nothing to hoard.
            raise CommandRefused(f"no {purpose} is possible any more: the ceremony is {state.phase.value}")
        return await self.challenges.issue(state.id, invitation.id, purpose)

    async def enroll(
        self, state: CeremonyState, invitation: Invitation, body: dict[str, Any], client: Client
    ) -> tuple[Enrollment, CeremonyState]:
        """Log a new key of the invitation's signatory, once the browser proves it holds it."""
        signatory = _signatory_of(invitation)
        public_key_text = _field(body, "public_key")
        challenge = _field(body, "challenge")
        spki = b64decode(public_key_text, "public_key")
        key = load_p256_spki(spki)
        await self.challenges.check(challenge, state.id, invitation.id, "enrollment")
        message = possession_message(state.id, signatory, challenge, public_key_text)
        if not verify(key, message, raw_to_der(b64decode(_field(body, "signature"), "signature"))):
            raise BadSubmission("the proof of possession does not verify with this public key")
        # Spent before the append, so two requests racing with one challenge cannot both enroll:
        # only the one whose spend closed it goes on (on any node, when the book is on the bus).
        if not await self.challenges.spend(challenge, state.id, invitation.id, "enrollment"):
            raise InvalidCommand("the challenge is unknown or was already used; ask for a new one")
        enrollment = "enr-" + secrets.token_hex(6)
        command = RequestEnrollment(
            enrollment=enrollment,
            signatory=signatory,
            invitation=invitation.id,
            public_key=b64(spki),
            fingerprint=fingerprint(spki),
            device=client.device,
            address=client.address,
            device_summary=client.device_summary,
        )
        done = await self.service.execute(state.id, command, invitation.actor)
        return done.state.enrollments[enrollment], done.state

    async def approve(
        self, state: CeremonyState, enrollment_id: str, actor: str, *, code_confirmed: bool = False
    ) -> Executed:
        """Issue the enrollment's certificate under the ceremony CA, and log the approval.

        `code_confirmed` is the approver's word that the signatory read the key's safety code
        aloud on camera (ceremony.safety); the log keeps it beside the approving actor.
        """
        enrollment = check_approval(state, enrollment_id)  # before a certificate exists, as `decide` asks again
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
            enrollment=enrollment_id,
            certificate=b64(certificate.public_bytes(Encoding.DER)),
            serial=format(certificate.serial_number, "x"),
            not_after=format_time(certificate.not_valid_after_utc),
            code_confirmed=code_confirmed,
        )
        return await self.service.execute(state.id, command, actor)

    async def reject(self, state: CeremonyState, enrollment_id: str, reason: str, actor: str) -> Executed:
        return await self.service.execute(state.id, RejectEnrollment(enrollment=enrollment_id, reason=reason), actor)

    async def consent(
        self, state: CeremonyState, invitation: Invitation, body: dict[str, Any], client: Client
    ) -> Consent:
        """Verify the signed decision, check it against the core at this moment, timestamp it, log it."""
        signatory = _signatory_of(invitation)
        statement = parse_statement(body.get("statement"))
        if statement.signatory != signatory:
            raise BadSubmission("this link may only sign for its own signatory")
        await self.challenges.check(statement.challenge, state.id, invitation.id, "consent")
        now = self.service.clock()
        enrollment = consent_key(state, signatory, now)
        assert enrollment.certificate is not None and enrollment.serial is not None
        data = statement_bytes(statement)
        signature = raw_to_der(b64decode(_field(body, "signature"), "signature"))
        certificate = x509.load_der_x509_certificate(b64decode(enrollment.certificate, "certificate", limit=8192))
        public_key = certificate.public_key()
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        if not verify(public_key, data, signature):
            raise BadSubmission("the signature does not verify with this signatory's approved key")
        unstamped = RecordConsent(
            signatory=signatory,
            statement=statement,
            signature=b64(signature),
            certificate_serial=enrollment.serial,
            timestamp_token="",
            timestamp="",
            address=client.address,
            device=client.device,
            device_summary=client.device_summary,
        )
        check_consent(state, unstamped, now)  # every rule of the state, before a TSA is asked
        first, *more = await self.tsas.timestamp(data)  # one token from each configured TSA
        stamped = RecordConsent(
            signatory=signatory,
            statement=statement,
            signature=unstamped.signature,
            certificate_serial=enrollment.serial,
            timestamp_token=b64(first.der),
            timestamp=format_time(first.gen_time),
            address=client.address,
            device=client.device,
            extra_timestamp_tokens=tuple(b64(t.der) for t in more),
            device_summary=client.device_summary,
        )
        done = await self.service.execute(state.id, stamped, invitation.actor)
        # After the append, so that a TSA failing costs the signatory no challenge; a second consent
        # racing with the same one is refused by the core (the decision is already given).
        await self.challenges.spend(statement.challenge, state.id, invitation.id, "consent")
        return done.state.consents[signatory]


def _signatory_of(invitation: Invitation) -> str:
    if invitation.signatory is None:
        raise BadSubmission("only a signatory's link enrolls keys and gives consent")
    return invitation.signatory


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadSubmission(f"'{name}' must be a non-empty string")
    return value
