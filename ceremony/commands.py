"""Commands: what someone asks of a ceremony. The core answers each with events or refuses it.

A command carries only what the shell has already established (a verified
signature, a timestamp token, a rendered document's hash); whether it may
happen in the ceremony's current state is the core's question alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .consent import ConsentStatement
from .events import Role
from .model import CeremonyDefinition

NEXT_SEGMENT = "next"
REVOCATION_CAUSES = ("superseded", "key_compromise", "cessation")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviseDefinition:
    definition: CeremonyDefinition


@dataclass(frozen=True, slots=True, kw_only=True)
class Freeze:
    """Lock the definition; the shell has already rendered the original PDF."""

    document_sha256: str
    document_size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenRooms:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class StartSegment:
    segment: str  # a segment id, or NEXT_SEGMENT


@dataclass(frozen=True, slots=True, kw_only=True)
class Cancel:
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IssueInvitation:
    invitation: str
    role: Role
    token_sha256: str
    label: str = ""
    venue: str | None = None
    signatory: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeInvitation:
    invitation: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AdmitVenue:
    """The host lets a hall into the signaling room; its links go straight in from then on."""

    venue: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestEnrollment:
    enrollment: str
    signatory: str
    invitation: str
    public_key: str
    fingerprint: str
    device: str
    address: str
    device_summary: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApproveEnrollment:
    enrollment: str
    certificate: str
    serial: str
    not_after: str
    # The approver says the signatory read the key's safety code aloud on camera (ceremony.safety).
    # The core records the claim; the web edge refuses an approval that does not make it.
    code_confirmed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectEnrollment:
    enrollment: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordConsent:
    signatory: str
    statement: ConsentStatement
    signature: str
    certificate_serial: str
    timestamp_token: str
    timestamp: str
    address: str
    device: str
    extra_timestamp_tokens: tuple[str, ...] = ()
    device_summary: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeCertificate:
    """The host revokes a signatory's approved key (a lost or stolen device): the CA's CRL lists it from now on.

    Allowed also after the seal: what the key signed before stays valid, since
    the record's timestamps prove it came before the revocation.
    """

    enrollment: str
    cause: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SignDocument:
    signatory: str
    field: str
    base_sha256: str
    sha256: str
    size: int
    certificate_serial: str
    timestamp: str
    timestamp_token: str = ""
    extra_timestamp_tokens: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Seal:
    """Seal the ceremony. With `absent_ok`, parties who have not signed are recorded as absent.

    The shell fills in the record's hashes and the log length the record covers; the
    core refuses if the log moved on meanwhile, so the record always ends where the
    seal begins.
    """

    absent_ok: bool = False
    log_length: int = 0
    signed_sha256: str = ""
    signed_size: int = 0
    evidence_sha256: str = ""
    record_sha256: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordSegment:
    """The recorder closed a segment and wrote it durably; the log binds its name, hash and times."""

    track: str
    index: int
    name: str
    sha256: str
    size: int
    media_start: float
    duration: float
    wall_start: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordGap:
    """A track's media did not arrive from `media_start` to `media_end` (the file shows a slate there)."""

    track: str
    media_start: float
    media_end: float
    wall_start: datetime
    wall_end: datetime
    reason: str


Command = (
    ReviseDefinition
    | Freeze
    | OpenRooms
    | StartSegment
    | Seal
    | Cancel
    | IssueInvitation
    | RevokeInvitation
    | AdmitVenue
    | RequestEnrollment
    | ApproveEnrollment
    | RejectEnrollment
    | RecordConsent
    | SignDocument
    | RevokeCertificate
    | RecordSegment
    | RecordGap
)
