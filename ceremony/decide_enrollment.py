"""Enrollment and consent: the signing half of the state machine, without I/O.

The shell does the cryptography (proof of possession, certificate issuance,
signature verification, RFC 3161) before it asks; the core checks everything
that depends on the ceremony's state and the log: the phase and segment, who
may sign for whom, which certificate is current, that each value in a
statement is the one this ceremony expects, and that no challenge is reused.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from types import MappingProxyType

from .commands import (
    REVOCATION_CAUSES,
    ApproveEnrollment,
    RecordConsent,
    RejectEnrollment,
    RequestEnrollment,
    RevokeCertificate,
)
from .consent import consent_text, text_sha256
from .errors import CommandRefused, InvalidCommand
from .events import (
    CertificateRevoked,
    ConsentRecorded,
    EnrollmentApproved,
    EnrollmentRejected,
    EnrollmentRequested,
    Event,
    parse_time,
)
from .model import SegmentKind
from .state import CeremonyState, Consent, Enrollment, EnrollmentStatus, current_certificate
from .text import unsafe_character


def decide_request(state: CeremonyState, c: RequestEnrollment) -> list[Event]:
    if not state.definition.has_signatory(c.signatory):
        raise InvalidCommand(f"no signatory '{c.signatory}' in this ceremony")
    if c.signatory in state.consents:
        raise CommandRefused("this signatory has already given their decision; nothing to enroll for")
    if c.enrollment in state.enrollments:
        raise InvalidCommand(f"enrollment id '{c.enrollment}' is already used")
    return [
        EnrollmentRequested(
            enrollment=c.enrollment,
            signatory=c.signatory,
            invitation=c.invitation,
            public_key=c.public_key,
            fingerprint=c.fingerprint,
            device=c.device,
            address=c.address,
            device_summary=c.device_summary,
        )
    ]


def _pending(state: CeremonyState, enrollment_id: str) -> Enrollment:
    enrollment = state.enrollments.get(enrollment_id)
    if enrollment is None:
        raise InvalidCommand(f"no enrollment '{enrollment_id}' in this ceremony")
    if enrollment.status is not EnrollmentStatus.PENDING:
        raise CommandRefused(f"enrollment '{enrollment_id}' was already {enrollment.status.value}")
    return enrollment


def check_approval(state: CeremonyState, enrollment_id: str) -> Enrollment:
    """Every rule an approval must meet; the enrollment. The consent desk asks this before it
    issues a certificate, so a refused approval leaves no certificate behind."""
    enrollment = _pending(state, enrollment_id)
    if enrollment.signatory in state.consents:
        raise CommandRefused("this signatory has already given their decision")
    _check_link(state, enrollment)
    return enrollment


def decide_approve(state: CeremonyState, c: ApproveEnrollment) -> list[Event]:
    enrollment = check_approval(state, c.enrollment)
    events: list[Event] = []
    previous = current_certificate(state, enrollment.signatory)
    if previous is not None and previous.serial is not None:
        # A new device means a new key: the old certificate must not sign any more.
        events.append(CertificateRevoked(serial=previous.serial, reason=f"superseded by enrollment {c.enrollment}"))
    events.append(
        EnrollmentApproved(
            enrollment=c.enrollment,
            certificate=c.certificate,
            serial=c.serial,
            not_after=c.not_after,
            code_confirmed=c.code_confirmed,
        )
    )
    return events


def _check_link(state: CeremonyState, enrollment: Enrollment) -> None:
    """A key is approved only while the link it was enrolled through still stands.

    Revoking a signatory link is how the host withdraws it (handed to the wrong person, say);
    a key that link enrolled must not outlive it by an approval afterwards.
    """
    link = state.invitations.get(enrollment.invitation)
    if link is None:
        raise CommandRefused(
            f"enrollment '{enrollment.id}' names no link of this ceremony ('{enrollment.invitation}'); "
            "it cannot be approved"
        )
    if not link.active:
        raise CommandRefused(
            f"the link '{link.label or link.id}' ({link.id}) this key was enrolled through has been revoked, "
            "so the key cannot be approved; the signatory enrolls again through a link that stands"
        )


def decide_reject(state: CeremonyState, c: RejectEnrollment) -> list[Event]:
    _pending(state, c.enrollment)
    if not c.reason.strip() or len(c.reason) > 500:
        raise InvalidCommand("a rejection needs a reason of 1-500 characters")
    if (unsafe := unsafe_character(c.reason, lines=True)) is not None:
        raise InvalidCommand(f"a rejection's reason {unsafe}")
    return [EnrollmentRejected(enrollment=c.enrollment, reason=c.reason.strip())]


def consent_key(state: CeremonyState, signatory: str, now: datetime) -> Enrollment:
    """The approved, unrevoked, unexpired enrollment whose key signs `signatory`'s decision at `now`, or why none."""
    segment = next((s for s in state.definition.run_of_show if s.id == state.segment), None)
    if segment is None or segment.kind is not SegmentKind.SIGNING:
        raise CommandRefused("signing is possible only while the ceremony is in its signing segment")
    if not state.definition.has_signatory(signatory):
        raise InvalidCommand(f"no signatory '{signatory}' in this ceremony")
    if signatory in state.consents:
        raise CommandRefused("this signatory has already given their decision")
    enrollment = current_certificate(state, signatory)
    if enrollment is None or enrollment.certificate is None or enrollment.not_after is None:
        raise CommandRefused("this signatory has no approved key yet; the host must approve the enrollment first")
    if parse_time(enrollment.not_after) < now:
        raise CommandRefused("this signatory's certificate has expired; enroll again")
    return enrollment


def check_consent(state: CeremonyState, c: RecordConsent, now: datetime) -> Enrollment:
    """Every rule of the ceremony's state a decision must meet at `now`; the enrollment it is signed with.

    The consent desk asks this once the signature verifies and before any TSA is
    asked, so a refusal costs no timestamp; `decide` asks it again under the lock.
    """
    enrollment = consent_key(state, c.signatory, now)
    if enrollment.serial != c.certificate_serial:
        raise CommandRefused("the certificate used is not this signatory's current one (revoked or replaced)")
    _check_statement(state, c)
    return enrollment


def decide_consent(state: CeremonyState, c: RecordConsent, now: datetime) -> list[Event]:
    check_consent(state, c, now)
    s = c.statement
    return [
        ConsentRecorded(
            signatory=c.signatory,
            decision=s.decision,
            statement=s,
            signature=c.signature,
            certificate_serial=c.certificate_serial,
            timestamp_token=c.timestamp_token,
            timestamp=c.timestamp,
            address=c.address,
            device=c.device,
            extra_timestamp_tokens=c.extra_timestamp_tokens,
            device_summary=c.device_summary,
        )
    ]


def decide_revoke(state: CeremonyState, c: RevokeCertificate) -> list[Event]:
    enrollment = state.enrollments.get(c.enrollment)
    if enrollment is None:
        raise InvalidCommand(f"no enrollment '{c.enrollment}' in this ceremony")
    if enrollment.status is not EnrollmentStatus.APPROVED or enrollment.serial is None:
        raise CommandRefused(f"enrollment '{c.enrollment}' has no certificate to revoke")
    if enrollment.revoked:
        raise CommandRefused(f"the certificate of enrollment '{c.enrollment}' is already revoked")
    if c.cause not in REVOCATION_CAUSES:
        raise InvalidCommand(f"a revocation's cause is one of {', '.join(REVOCATION_CAUSES)}")
    if len(c.reason) > 500:
        raise InvalidCommand("a revocation's reason is at most 500 characters")
    if (unsafe := unsafe_character(c.reason, lines=True)) is not None:
        raise InvalidCommand(f"a revocation's reason {unsafe}")
    reason = c.reason.strip() or f"revoked by the host ({c.cause.replace('_', ' ')})"
    return [CertificateRevoked(serial=enrollment.serial, reason=reason, cause=c.cause)]


def _check_statement(state: CeremonyState, c: RecordConsent) -> None:
    s = c.statement
    signatory = state.definition.signatory(c.signatory)
    expected = {
        "ceremony": state.id,
        "document_sha256": state.document_sha256,
        "signatory": signatory.id,
        "party": signatory.party,
        "venue": signatory.venue,
    }
    for key, value in expected.items():
        if getattr(s, key) != value:
            raise InvalidCommand(f"the statement's {key} is {getattr(s, key)!r}, but this consent is for {value!r}")
    assert state.document_sha256 is not None
    text = consent_text(state.definition, signatory, s.language, state.document_sha256, s.decision)
    if s.consent_text_sha256 != text_sha256(text):
        raise InvalidCommand("the consent text hash does not match the text this ceremony shows in that language")
    if s.challenge in state.used_challenges:
        raise InvalidCommand("the challenge was already used (a replayed statement)")


def evolve_signing(state: CeremonyState, event: Event, at: datetime, actor: str) -> CeremonyState | None:
    """The new state for a signing event (recorded at `at`, by `actor`), or None if `event` is not one."""
    match event:
        case EnrollmentRequested():
            enrollment = Enrollment(
                id=event.enrollment,
                signatory=event.signatory,
                public_key=event.public_key,
                fingerprint=event.fingerprint,
                device=event.device,
                address=event.address,
                requested_at=at,
                device_summary=event.device_summary,
                invitation=event.invitation,
            )
            return replace(state, enrollments=MappingProxyType({**state.enrollments, enrollment.id: enrollment}))
        case EnrollmentApproved():
            approved = replace(
                state.enrollments[event.enrollment],
                status=EnrollmentStatus.APPROVED,
                certificate=event.certificate,
                serial=event.serial,
                not_after=event.not_after,
                approved_by=actor,
                approved_at=at,
                code_confirmed=event.code_confirmed,
            )
            return replace(state, enrollments=MappingProxyType({**state.enrollments, approved.id: approved}))
        case EnrollmentRejected():
            rejected = replace(
                state.enrollments[event.enrollment], status=EnrollmentStatus.REJECTED, reason=event.reason
            )
            return replace(state, enrollments=MappingProxyType({**state.enrollments, rejected.id: rejected}))
        case CertificateRevoked():
            changed = {
                e.id: replace(e, revoked=True, reason=event.reason, revoked_at=at, cause=event.cause)
                for e in state.enrollments.values()
                if e.serial == event.serial
            }
            return replace(state, enrollments=MappingProxyType({**state.enrollments, **changed}))
        case ConsentRecorded():
            consent = Consent(event=event, recorded_at=at)
            return replace(
                state,
                consents=MappingProxyType({**state.consents, event.signatory: consent}),
                used_challenges=state.used_challenges | {event.statement.challenge},
            )
    return None
