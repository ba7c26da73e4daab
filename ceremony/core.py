"""The ceremony state machine, without I/O.

`decide(state, command)` either returns the events the command produces or
raises, leaving `state` untouched (states are immutable, so "untouched" is
guaranteed rather than hoped for). `evolve(state, envelope)` folds one event
into a new state; replaying a log is `evolve` over its envelopes.

Lifecycle: DRAFT -> FROZEN -> OPEN -> SIGNING -> SEALED, and CANCELLED from any
phase before SEALED. Inside OPEN and SIGNING the host moves forward through the
run-of-show; entering the signing segment moves the phase to SIGNING, which
lasts (through later segments such as the exchange and closing) until sealing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType

from .commands import (
    NEXT_SEGMENT,
    AdmitVenue,
    ApproveEnrollment,
    Cancel,
    Command,
    Freeze,
    IssueInvitation,
    OpenRooms,
    RecordConsent,
    RecordGap,
    RecordSegment,
    RejectEnrollment,
    RequestEnrollment,
    ReviseDefinition,
    RevokeCertificate,
    RevokeInvitation,
    Seal,
    SignDocument,
    StartSegment,
)
from .decide_document import decide_seal, decide_sign_document, evolve_document_signed
from .decide_enrollment import (
    decide_approve,
    decide_consent,
    decide_reject,
    decide_request,
    decide_revoke,
    evolve_signing,
)
from .decide_recording import NOT_RECORDED, decide_record_gap, decide_record_segment
from .errors import CommandRefused, InvalidCommand
from .events import (
    CeremonyCancelled,
    CeremonyDrafted,
    CeremonyFrozen,
    CeremonySealed,
    DefinitionRevised,
    DocumentSigned,
    Envelope,
    Event,
    InvitationIssued,
    InvitationRevoked,
    RecordingGap,
    Role,
    RoomsOpened,
    SegmentRecorded,
    SegmentStarted,
    VenueAdmitted,
)
from .model import SegmentKind
from .recording import fold_recording
from .state import CeremonyState, Invitation, Phase
from .text import unsafe_character

_LIVE = frozenset({Phase.DRAFT, Phase.FROZEN, Phase.OPEN, Phase.SIGNING})
_ROSTER_FIXED = frozenset({Phase.FROZEN, Phase.OPEN, Phase.SIGNING})

# The transition table: in which phases each command may be decided at all.
# Finer checks (which segment, which role) follow in the command's decider.
ALLOWED: Mapping[type[Command], frozenset[Phase]] = MappingProxyType(
    {
        ReviseDefinition: frozenset({Phase.DRAFT}),
        Freeze: frozenset({Phase.DRAFT}),
        OpenRooms: frozenset({Phase.FROZEN}),
        StartSegment: frozenset({Phase.OPEN, Phase.SIGNING}),
        Seal: frozenset({Phase.SIGNING}),
        Cancel: _LIVE,
        IssueInvitation: _LIVE | {Phase.SEALED},
        RevokeInvitation: frozenset(Phase),
        AdmitVenue: _ROSTER_FIXED | {Phase.SEALED},
        RequestEnrollment: _ROSTER_FIXED,
        ApproveEnrollment: _ROSTER_FIXED,
        RejectEnrollment: _ROSTER_FIXED,
        RecordConsent: frozenset({Phase.SIGNING}),
        SignDocument: frozenset({Phase.SIGNING}),
        RevokeCertificate: _ROSTER_FIXED | {Phase.SEALED},
        # The recording runs from rooms-open to the seal or the cancellation, and nothing is added after.
        RecordSegment: frozenset({Phase.OPEN, Phase.SIGNING}),
        RecordGap: frozenset({Phase.OPEN, Phase.SIGNING}),
    }
)

_WHY_NOT: Mapping[Phase, str] = MappingProxyType(
    {
        Phase.DRAFT: "the ceremony is still a draft; freeze it first",
        Phase.FROZEN: "the ceremony is frozen: its document and roster are locked, and its rooms are not open yet",
        Phase.OPEN: "the rooms are open and the ceremony is under way",
        Phase.SIGNING: "the ceremony is in its signing segment",
        Phase.SEALED: "the ceremony is sealed; nothing can change any more",
        Phase.CANCELLED: "the ceremony was cancelled",
    }
)


def decide(state: CeremonyState, command: Command, *, now: datetime) -> list[Event]:
    """The events `command` produces in `state` at `now`, or CommandRefused / InvalidCommand.

    `now` is the caller's clock (the time the events will carry); rules that expire,
    such as a certificate's validity, are judged at it.
    """
    allowed = ALLOWED[type(command)]
    if state.phase not in allowed:
        if isinstance(command, RecordConsent):
            raise CommandRefused(
                f"cannot sign: signing is possible only in the signing segment, and {_WHY_NOT[state.phase]}"
            )
        raise CommandRefused(f"cannot {_verb(command)}: {_WHY_NOT[state.phase]}")
    match command:
        case ReviseDefinition(definition=definition):
            return [DefinitionRevised(definition=definition)]
        case Freeze(document_sha256=sha, document_size=size):
            if len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha) or size <= 0:
                raise InvalidCommand("a frozen document needs its SHA-256 (64 hex digits) and size")
            return [CeremonyFrozen(document_sha256=sha, document_size=size)]
        case OpenRooms():
            return [RoomsOpened()]
        case StartSegment(segment=target):
            return [_start_segment(state, target)]
        case Seal():
            return decide_seal(state, command)
        case SignDocument():
            return decide_sign_document(state, command)
        case Cancel(reason=reason):
            if not reason.strip() or len(reason) > 500:
                raise InvalidCommand("a cancellation needs a reason of 1-500 characters")
            if (unsafe := unsafe_character(reason, lines=True)) is not None:
                raise InvalidCommand(f"a cancellation's reason {unsafe}")
            return [CeremonyCancelled(reason=reason.strip())]
        case IssueInvitation():
            return [_issue(state, command)]
        case RequestEnrollment():
            return decide_request(state, command)
        case ApproveEnrollment():
            return decide_approve(state, command)
        case RejectEnrollment():
            return decide_reject(state, command)
        case RecordConsent():
            return decide_consent(state, command, now)
        case RevokeCertificate():
            return decide_revoke(state, command)
        case RevokeInvitation(invitation=invitation):
            found = state.invitations.get(invitation)
            if found is None:
                raise InvalidCommand(f"no invitation '{invitation}' in this ceremony")
            if not found.active:
                raise CommandRefused(f"invitation '{invitation}' is already revoked")
            return [InvitationRevoked(invitation=invitation)]
        case AdmitVenue(venue=venue):
            if not state.definition.has_venue(venue):
                raise InvalidCommand(f"no venue '{venue}' in this ceremony")
            return [] if venue in state.admitted_venues else [VenueAdmitted(venue=venue)]
        case RecordSegment():
            return list(decide_record_segment(state, command))
        case RecordGap():
            return list(decide_record_gap(state, command))
    raise InvalidCommand(f"unknown command {command!r}")  # pragma: no cover - exhaustive match


def _verb(command: Command) -> str:
    return {
        ReviseDefinition: "edit the definition",
        Freeze: "freeze",
        OpenRooms: "open the rooms",
        StartSegment: "move the run-of-show",
        Seal: "seal",
        Cancel: "cancel",
        IssueInvitation: "issue a link",
        RevokeInvitation: "revoke a link",
        AdmitVenue: "admit a hall",
        RequestEnrollment: "enroll a key",
        ApproveEnrollment: "approve a key",
        RejectEnrollment: "reject a key",
        RecordConsent: "sign",
        SignDocument: "sign the MOU",
        RevokeCertificate: "revoke a key",
        RecordSegment: "record a segment",
        RecordGap: "record a gap",
    }[type(command)]


def _start_segment(state: CeremonyState, target: str) -> SegmentStarted:
    segments = state.definition.run_of_show
    current = state.segment_index()
    if target == NEXT_SEGMENT:
        index = current + 1
        if index >= len(segments):
            raise CommandRefused("the run-of-show is at its last segment; seal the ceremony")
    else:
        ids = [s.id for s in segments]
        if target not in ids:
            raise InvalidCommand(f"no segment '{target}' in the run-of-show (have: {', '.join(ids)})")
        index = ids.index(target)
        if index <= current:
            raise CommandRefused(f"the run-of-show only moves forward; '{target}' has already started")
    signing = next(i for i, s in enumerate(segments) if s.kind is SegmentKind.SIGNING)
    if state.phase is Phase.OPEN and index > signing:
        raise CommandRefused(f"the signing segment '{segments[signing].id}' cannot be skipped")
    return SegmentStarted(segment=segments[index].id)


def _issue(state: CeremonyState, command: IssueInvitation) -> InvitationIssued:
    if command.invitation in state.invitations:
        raise InvalidCommand(f"invitation id '{command.invitation}' is already used")
    if len(command.label) > 200:
        raise InvalidCommand("a link's label must be at most 200 characters")
    if (unsafe := unsafe_character(command.label)) is not None:
        raise InvalidCommand(f"a link's label {unsafe}")
    needs_venue = command.role is Role.VENUE
    needs_signatory = command.role is Role.SIGNATORY
    if needs_venue != (command.venue is not None) or needs_signatory != (command.signatory is not None):
        raise InvalidCommand(
            "a venue link names exactly one venue, a signatory link one signatory, other links neither"
        )
    if command.role is Role.RECORDER and not state.definition.recording:
        raise CommandRefused(f"cannot issue a recorder link: {NOT_RECORDED}")
    if command.role in (Role.VENUE, Role.SIGNATORY, Role.RECORDER):
        if state.phase is Phase.DRAFT:
            raise CommandRefused(
                "venue, signatory and recorder links are issued once the definition is frozen; freeze first"
            )
        if state.phase is Phase.SEALED:
            raise CommandRefused("the ceremony is sealed; only host, archivist and observer links can be issued")
    if command.venue is not None and not state.definition.has_venue(command.venue):
        raise InvalidCommand(f"no venue '{command.venue}' in this ceremony")
    if command.signatory is not None and not state.definition.has_signatory(command.signatory):
        raise InvalidCommand(f"no signatory '{command.signatory}' in this ceremony")
    return InvitationIssued(
        invitation=command.invitation,
        role=command.role,
        token_sha256=command.token_sha256,
        label=command.label,
        venue=command.venue,
        signatory=command.signatory,
    )


def initial_state(envelope: Envelope) -> CeremonyState:
    """The state created by a log's first event, which must be CeremonyDrafted."""
    if not isinstance(envelope.event, CeremonyDrafted) or envelope.seq != 1:
        raise CommandRefused("a ceremony's log must start with ceremony.drafted at seq 1")
    return CeremonyState(
        id=envelope.ceremony,
        definition=envelope.event.definition,
        phase=Phase.DRAFT,
        created_at=envelope.at,
        updated_at=envelope.at,
        seq=1,
    )


def evolve(state: CeremonyState, envelope: Envelope) -> CeremonyState:
    """Fold one recorded event into the state."""
    base = replace(state, seq=envelope.seq, updated_at=envelope.at)
    event = envelope.event
    match event:
        case DefinitionRevised(definition=definition):
            return replace(base, definition=definition)
        case CeremonyFrozen(document_sha256=sha, document_size=size):
            return replace(base, phase=Phase.FROZEN, document_sha256=sha, document_size=size)
        case RoomsOpened():
            return replace(base, phase=Phase.OPEN)
        case SegmentStarted(segment=segment):
            kind = next(s.kind for s in state.definition.run_of_show if s.id == segment)
            phase = Phase.SIGNING if kind is SegmentKind.SIGNING else base.phase
            return replace(base, segment=segment, phase=phase)
        case CeremonySealed():
            return replace(base, phase=Phase.SEALED, sealed=event, sealed_at=envelope.at)
        case DocumentSigned():
            return evolve_document_signed(base, event)
        case CeremonyCancelled(reason=reason):
            return replace(base, phase=Phase.CANCELLED, cancel_reason=reason)
        case InvitationIssued():
            invitation = Invitation(
                id=event.invitation,
                role=event.role,
                token_sha256=event.token_sha256,
                label=event.label,
                issued_at=envelope.at,
                venue=event.venue,
                signatory=event.signatory,
            )
            return replace(base, invitations=MappingProxyType({**state.invitations, invitation.id: invitation}))
        case InvitationRevoked(invitation=invitation_id):
            revoked = replace(state.invitations[invitation_id], revoked_at=envelope.at)
            return replace(base, invitations=MappingProxyType({**state.invitations, invitation_id: revoked}))
        case VenueAdmitted(venue=venue):
            return replace(base, admitted_venues=state.admitted_venues | {venue})
        case SegmentRecorded() | RecordingGap():
            return replace(base, recording=fold_recording(state.recording, event))
        case CeremonyDrafted():
            raise CommandRefused("ceremony.drafted can only be the first event")
    signed = evolve_signing(base, event, envelope.at, envelope.actor)
    if signed is not None:
        return signed
    raise CommandRefused(f"unknown event {event!r}")  # pragma: no cover - exhaustive match
