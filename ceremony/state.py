"""The state a ceremony's log folds into: immutable records, and the lookups every rule shares.

The deciders (core, enrollment, document) and the shells read this; none of them
owns it, so no decider imports another to learn what a consent or an enrollment
is. States are frozen: `evolve` makes a new one, which is what lets a refused
command leave the old one untouched by construction.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from .consent import Decision
from .errors import CommandRefused
from .events import CeremonySealed, ConsentRecorded, DocumentSigned, Role
from .model import CeremonyDefinition
from .recording import RecordingState


class Phase(enum.StrEnum):
    DRAFT = "draft"
    FROZEN = "frozen"
    OPEN = "open"
    SIGNING = "signing"
    SEALED = "sealed"
    CANCELLED = "cancelled"


ENDED = frozenset({Phase.SEALED, Phase.CANCELLED})  # nothing is signed or decided any more


@dataclass(frozen=True, slots=True, kw_only=True)
class Invitation:
    id: str
    role: Role
    token_sha256: str
    label: str
    issued_at: datetime
    venue: str | None = None
    signatory: str | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def actor(self) -> str:
        """How the log names what this link's holder does (no secrets: the invitation's id)."""
        return f"{self.role.value}:{self.id}"


class EnrollmentStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class Enrollment:
    id: str
    signatory: str
    public_key: str
    fingerprint: str
    device: str
    address: str
    requested_at: datetime
    device_summary: str = ""
    status: EnrollmentStatus = EnrollmentStatus.PENDING
    certificate: str | None = None
    serial: str | None = None
    not_after: str | None = None
    revoked: bool = False
    reason: str | None = None
    revoked_at: datetime | None = None
    cause: str | None = None  # the CRL's reason code once revoked
    invitation: str = ""  # the link the key was enrolled through
    approved_by: str | None = None  # the approval's actor: "host:<invitation>" or "operator"
    approved_at: datetime | None = None
    code_confirmed: bool = False  # the approver's word that the signatory read the safety code aloud


@dataclass(frozen=True, slots=True, kw_only=True)
class Consent:
    """A signatory's decision as the log holds it: the event itself, and when it was recorded."""

    event: ConsentRecorded
    recorded_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PdfSignature:
    """A signatory's PAdES signature as the log holds it: the event itself, and when it was recorded."""

    event: DocumentSigned
    recorded_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CeremonyState:
    id: str
    definition: CeremonyDefinition
    phase: Phase
    created_at: datetime
    updated_at: datetime
    seq: int
    document_sha256: str | None = None
    document_size: int | None = None
    segment: str | None = None
    cancel_reason: str | None = None
    invitations: Mapping[str, Invitation] = field(default_factory=lambda: MappingProxyType({}))
    enrollments: Mapping[str, Enrollment] = field(default_factory=lambda: MappingProxyType({}))
    consents: Mapping[str, Consent] = field(default_factory=lambda: MappingProxyType({}))
    used_challenges: frozenset[str] = frozenset()
    admitted_venues: frozenset[str] = frozenset()  # halls the host let into the signaling room (venue.admitted)
    pdf_signatures: Mapping[str, PdfSignature] = field(default_factory=lambda: MappingProxyType({}))
    sealed: CeremonySealed | None = None
    sealed_at: datetime | None = None
    recording: RecordingState = field(default_factory=RecordingState)  # recording.segment and .gap, per track

    def segment_index(self) -> int:
        """Position of the current segment, -1 before the first one."""
        ids = [s.id for s in self.definition.run_of_show]
        return ids.index(self.segment) if self.segment is not None else -1

    def invitation_by_token(self, token_sha256: str) -> Invitation | None:
        for invitation in self.invitations.values():
            if invitation.token_sha256 == token_sha256:
                return invitation
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Roll:
    """Who signed, declined or is absent at this point."""

    signed: tuple[str, ...]
    declined: tuple[str, ...]
    absent: tuple[str, ...]


def current_certificate(state: CeremonyState, signatory: str) -> Enrollment | None:
    """The signatory's approved, unrevoked enrollment, if any."""
    for enrollment in state.enrollments.values():
        if (
            enrollment.signatory == signatory
            and enrollment.status is EnrollmentStatus.APPROVED
            and not enrollment.revoked
        ):
            return enrollment
    return None


def invitation_of(state: CeremonyState, actor: str) -> Invitation | None:
    """The link an actor name stands for ("host:<invitation>"), or None (the operator, or no such link)."""
    _, _, invitation_id = actor.partition(":")
    invitation = state.invitations.get(invitation_id)
    return invitation if invitation is not None and invitation.actor == actor else None


def enrollment_with_serial(state: CeremonyState, serial: str) -> Enrollment | None:
    """The approved enrollment whose certificate has this serial, revoked or not: what a decision
    was made with stays what it was made with; whether it may still sign is `revoked`."""
    for enrollment in state.enrollments.values():
        if enrollment.status is EnrollmentStatus.APPROVED and enrollment.serial == serial:
            return enrollment
    return None


def current_pdf(state: CeremonyState) -> tuple[str, int]:
    """SHA-256 and size of the newest revision of the MOU: the original or the last signature."""
    if state.pdf_signatures:
        last = list(state.pdf_signatures.values())[-1].event
        return last.sha256, last.size
    if state.document_sha256 is None or state.document_size is None:
        raise CommandRefused("the ceremony is not frozen; there is no document to sign")
    return state.document_sha256, state.document_size


def roll(state: CeremonyState) -> Roll:
    signed = tuple(state.pdf_signatures)
    declined = tuple(s.id for s in state.definition.signatories if _decision(state, s.id) is Decision.DECLINE)
    absent = tuple(s.id for s in state.definition.signatories if s.id not in signed and s.id not in declined)
    return Roll(signed=signed, declined=declined, absent=absent)


def _decision(state: CeremonyState, signatory: str) -> Decision | None:
    consent = state.consents.get(signatory)
    return consent.event.decision if consent is not None else None
