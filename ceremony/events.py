"""Events: what has happened to a ceremony, in the past tense, and their wire form.

An event is a frozen dataclass. In the log it travels inside an envelope
(ceremony id, sequence number, time, actor) as RFC 8785 canonical JSON; this
module is the one place that turns events into JSON values and back.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import partial
from typing import Any

from .consent import ConsentStatement, Decision, parse_statement
from .definition import definition_to_json, parse_definition
from .errors import CorruptLog, InvalidCommand, InvalidDefinition
from .model import CeremonyDefinition


class Role(enum.StrEnum):
    """What a capability link lets its holder do in one ceremony."""

    HOST = "host"
    VENUE = "venue"
    SIGNATORY = "signatory"
    ARCHIVIST = "archivist"
    OBSERVER = "observer"
    RECORDER = "recorder"  # the server's own recorder peer; only in a ceremony whose definition has recording on


@dataclass(frozen=True, slots=True, kw_only=True)
class CeremonyDrafted:
    definition: CeremonyDefinition


@dataclass(frozen=True, slots=True, kw_only=True)
class DefinitionRevised:
    definition: CeremonyDefinition


@dataclass(frozen=True, slots=True, kw_only=True)
class CeremonyFrozen:
    document_sha256: str
    document_size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomsOpened:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentStarted:
    segment: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CeremonySealed:
    """Final. Names the record built just before it (docs/record.md), so log and record point at each other."""

    signed: tuple[str, ...] = ()  # signatories with a consent and a PAdES signature, in signing order
    declined: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()  # no decision, or a consent whose PDF signature never came
    signed_sha256: str = ""  # the final PDF (with the document timestamp)
    signed_size: int = 0
    evidence_sha256: str = ""
    record_sha256: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CeremonyCancelled:
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InvitationIssued:
    invitation: str
    role: Role
    token_sha256: str
    label: str
    venue: str | None = None
    signatory: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InvitationRevoked:
    invitation: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueAdmitted:
    """The host admitted a hall to the signaling room (docs/signaling.md, "Lobby"): for the rest of the ceremony."""

    venue: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollmentRequested:
    """A signatory's browser presented a new key (with proof of possession)."""

    enrollment: str
    signatory: str
    invitation: str
    public_key: str  # base64 DER SubjectPublicKeyInfo, ECDSA P-256
    fingerprint: str  # SHA-256 hex of the SPKI
    device: str  # the browser's user agent
    address: str  # the client's IP address
    device_summary: str = ""  # the user agent read: "Safari 17 on iPad"; "" if unknown, and in older logs


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollmentApproved:
    enrollment: str
    certificate: str  # base64 DER X.509 issued by the ceremony CA
    serial: str  # hex
    not_after: str  # ISO 8601 UTC
    code_confirmed: bool = False  # the approver's word that the safety code was read aloud; False in older logs


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollmentRejected:
    enrollment: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateRevoked:
    serial: str
    reason: str
    cause: str = "superseded"  # the CRL's reason: superseded, key_compromise or cessation


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentRecorded:
    """A signed, timestamped decision (consent or decline) of one signatory."""

    signatory: str
    decision: Decision
    statement: ConsentStatement
    signature: str  # base64 DER ECDSA-SHA256 over the statement's canonical bytes
    certificate_serial: str
    timestamp_token: str  # base64 DER RFC 3161 token over the statement's canonical bytes
    timestamp: str  # the TSA's time, ISO 8601 UTC
    address: str
    device: str
    extra_timestamp_tokens: tuple[str, ...] = ()  # from each further configured TSA, in order
    device_summary: str = ""  # the user agent read: "Safari 17 on iPad"; "" if unknown, and in older logs


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentSigned:
    """A signatory's PAdES signature was added to the MOU as an incremental update."""

    signatory: str
    field: str  # the PDF signature field's name
    base_sha256: str  # the revision it signed (the original or the previous signature's)
    sha256: str  # the PDF after this signature
    size: int
    certificate_serial: str
    timestamp: str  # the signature timestamp's TSA time, ISO 8601 UTC
    timestamp_token: str = ""  # that signature timestamp (base64 DER), as embedded in the PDF
    # Tokens of each further configured TSA over the same imprint: SHA-256 of the signature value.
    extra_timestamp_tokens: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentRecorded:
    """A closed media segment of one track, written durably before this was logged (docs/record.md, "Recording").

    Index 0 is the track's init segment (`<track>/init.mp4`, duration 0); media segments follow as
    `<track>/000001.m4s`, ... . Media times are seconds on the track's own timeline, which is continuous.
    """

    track: str  # "programme" or "hall-<venue id>"
    index: int
    name: str  # relative to the ceremony's media root
    sha256: str
    size: int
    media_start: float
    duration: float
    wall_start: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingGap:
    """A span of a track in which a hall's media did not arrive: the file shows a slate there, and this says why."""

    track: str
    media_start: float
    media_end: float
    wall_start: datetime
    wall_end: datetime
    reason: str  # one of GAP_REASONS


GAP_REASONS = ("peer_left", "no_media", "recorder_restart")


Event = (
    CeremonyDrafted
    | DefinitionRevised
    | CeremonyFrozen
    | RoomsOpened
    | SegmentStarted
    | CeremonySealed
    | CeremonyCancelled
    | InvitationIssued
    | InvitationRevoked
    | VenueAdmitted
    | EnrollmentRequested
    | EnrollmentApproved
    | EnrollmentRejected
    | CertificateRevoked
    | ConsentRecorded
    | DocumentSigned
    | SegmentRecorded
    | RecordingGap
)

EVENT_TYPES: dict[str, type[Event]] = {
    "ceremony.drafted": CeremonyDrafted,
    "definition.revised": DefinitionRevised,
    "ceremony.frozen": CeremonyFrozen,
    "rooms.opened": RoomsOpened,
    "segment.started": SegmentStarted,
    "ceremony.sealed": CeremonySealed,
    "ceremony.cancelled": CeremonyCancelled,
    "invitation.issued": InvitationIssued,
    "invitation.revoked": InvitationRevoked,
    "enrollment.requested": EnrollmentRequested,
    "enrollment.approved": EnrollmentApproved,
    "enrollment.rejected": EnrollmentRejected,
    "certificate.revoked": CertificateRevoked,
    "consent.recorded": ConsentRecorded,
    "document.signed": DocumentSigned,
    "venue.admitted": VenueAdmitted,
    "recording.segment": SegmentRecorded,
    "recording.gap": RecordingGap,
}
_TYPE_NAMES: dict[type[Event], str] = {cls: name for name, cls in EVENT_TYPES.items()}


def type_name(event: Event) -> str:
    return _TYPE_NAMES[type(event)]


def event_to_json(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in fields(event):
        value = getattr(event, f.name)
        if isinstance(value, CeremonyDefinition):
            value = definition_to_json(value)
        elif isinstance(value, ConsentStatement):
            value = value.to_json()
        elif isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, datetime):
            value = format_time(value)
        elif isinstance(value, tuple):
            value = list(value)
        if value is not None:
            data[f.name] = value
    return data


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, not {value!r}")
    return value


def _seconds(value: Any) -> float:
    """A media time: a JSON number (canonical JSON writes 2.0 as 2, so an int comes back too)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number of seconds, not {value!r}")
    return float(value)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, not {value!r}")
    return value


def _moment(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected a time as text, not {value!r}")
    at = parse_time(value)
    if at.tzinfo is None:
        raise ValueError(f"time {value!r} has no UTC offset")
    return at


# Fields whose JSON form is not their value: each is parsed, and so checked, on the way in.
_PARSERS: dict[str, Callable[[Any], object]] = {
    "definition": partial(parse_definition, logged=True),
    "role": Role,
    "decision": Decision,
    "statement": parse_statement,
    "code_confirmed": _flag,
    "index": _whole,
    "media_start": _seconds,
    "media_end": _seconds,
    "duration": _seconds,
    "wall_start": _moment,
    "wall_end": _moment,
}


def event_from_json(type_: str, data: dict[str, Any]) -> Event:
    cls = EVENT_TYPES.get(type_)
    if cls is None:
        raise CorruptLog(f"unknown event type {type_!r}")
    kwargs: dict[str, Any] = {}
    try:
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name in _PARSERS:
                value = _PARSERS[f.name](value)
            elif isinstance(value, list):
                value = tuple(value)  # events are immutable; JSON arrays come back as tuples
            kwargs[f.name] = value
        return cls(**kwargs)
    except (TypeError, ValueError, InvalidDefinition, InvalidCommand) as exc:
        raise CorruptLog(f"event {type_!r} has unreadable data: {exc}") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """An event as it sits in the log, before or after hashing."""

    ceremony: str
    seq: int
    at: datetime
    actor: str
    event: Event

    def to_json(self) -> dict[str, Any]:
        return {
            "ceremony": self.ceremony,
            "seq": self.seq,
            "at": format_time(self.at),
            "actor": self.actor,
            "type": type_name(self.event),
            "data": event_to_json(self.event),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Envelope:
        try:
            return cls(
                ceremony=str(value["ceremony"]),
                seq=int(value["seq"]),
                at=parse_time(str(value["at"])),
                actor=str(value["actor"]),
                event=event_from_json(str(value["type"]), dict(value["data"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptLog(f"unreadable event envelope: {exc}") from exc


def format_time(at: datetime) -> str:
    """UTC with microseconds and a Z, so the text is stable across hosts."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
