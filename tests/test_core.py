"""The sans-IO ceremony core, stepped synchronously: no store, no event loop, no clock.

States are built by folding envelopes with explicit times through `initial_state`
and `evolve`, exactly as a replay would. Every command type is tried in every
phase; the expectations below are written out by hand rather than derived from
`core.ALLOWED`, so a wrong entry in the transition table shows up as a failure.
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ceremony.challenges import PER_CEREMONY, PER_LINK, ChallengeBook
from ceremony.commands import (
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
from ceremony.core import ALLOWED, decide, evolve, initial_state
from ceremony.decide_enrollment import consent_key
from ceremony.errors import CommandRefused, InvalidCommand, LimitReached
from ceremony.events import (
    CeremonyCancelled,
    CeremonyDrafted,
    CeremonyFrozen,
    CeremonySealed,
    DefinitionRevised,
    EnrollmentRequested,
    Envelope,
    Event,
    InvitationIssued,
    InvitationRevoked,
    Role,
    RoomsOpened,
    SegmentStarted,
    VenueAdmitted,
)
from ceremony.state import CeremonyState, Phase
from tests import helpers
from tests.helpers import CEREMONY, DEFINITION, SHA, T0, Log, log_in, make_definition

TOKEN_B = "2" * 64
TOKEN_C = "3" * 64
REVISED = make_definition("Revised export MOU")


def snapshot(state: CeremonyState) -> dict[str, Any]:
    """Every field of a state, with the invitation mapping copied out of its proxy."""
    values = {f.name: getattr(state, f.name) for f in fields(state)}
    values["invitations"] = dict(state.invitations)
    return values


def assert_refused(log: Log, command: Command, error: type[Exception] = CommandRefused) -> str:
    """`command` raises `error` and leaves the state exactly as it was; returns the message."""
    before_state = log.state
    before = snapshot(log.state)
    with pytest.raises(error) as caught:
        decide(log.state, command, now=log.state.updated_at)
    assert log.state is before_state
    assert snapshot(log.state) == before
    return str(caught.value)


# ---- every command in every phase ----

OBSERVER = IssueInvitation(invitation="inv-new", role=Role.OBSERVER, token_sha256=TOKEN_B, label="press")
VENUE_LINK = IssueInvitation(
    invitation="inv-new", role=Role.VENUE, token_sha256=TOKEN_B, label="screen", venue="hall-kr"
)
SIGNATORY_LINK = IssueInvitation(
    invitation="inv-new", role=Role.SIGNATORY, token_sha256=TOKEN_B, label="tablet", signatory="signer-cn"
)

COMMANDS: dict[str, Command] = {
    "revise": ReviseDefinition(definition=REVISED),
    "freeze": Freeze(document_sha256=SHA, document_size=4096),
    "open": OpenRooms(),
    "next": StartSegment(segment=NEXT_SEGMENT),
    "seal": Seal(absent_ok=True),
    "cancel": Cancel(reason="  a hall lost power  "),
    "observer-link": OBSERVER,
    "venue-link": VENUE_LINK,
    "signatory-link": SIGNATORY_LINK,
    "revoke": RevokeInvitation(invitation="inv-host"),
    "admit-hall": AdmitVenue(venue="hall-kr"),
    # The signing commands; their finer rules are in tests/test_signing_core.py. Here no
    # enrollment exists yet, so approving, rejecting, revoking a key and consenting are refused in every phase.
    "enroll": RequestEnrollment(
        enrollment="enr-1",
        signatory="signer-kr",
        invitation="inv-sig",
        public_key="c3BraQ==",
        fingerprint="cd" * 32,
        device="UA",
        address="127.0.0.1",
    ),
    "approve": ApproveEnrollment(
        enrollment="enr-1", certificate="Y2VydA==", serial="0a", not_after="2020-06-05T00:00:00Z"
    ),
    "reject": RejectEnrollment(enrollment="enr-1", reason="not the right person"),
    "revoke-key": RevokeCertificate(enrollment="enr-1", cause="key_compromise", reason="the tablet was stolen"),
    "consent": RecordConsent(
        signatory="signer-kr",
        statement=helpers.statement(),
        signature="c2ln",
        certificate_serial="0a",
        timestamp_token="dG9rZW4=",
        timestamp="2020-05-29T01:30:00Z",
        address="127.0.0.1",
        device="UA",
    ),
    # Nobody has consented here, so a PDF signature is refused in every phase (tests/test_pades.py has the rest).
    "sign-pdf": SignDocument(
        signatory="signer-kr",
        field="Signature-1",
        base_sha256=SHA,
        sha256="cd" * 32,
        size=5000,
        certificate_serial="0a",
        timestamp="2020-05-29T01:31:00Z",
    ),
    # DEFINITION is not recorded, so both are refused in every phase (tests/test_recording_core.py has the rest).
    "record-segment": RecordSegment(
        track="programme",
        index=0,
        name="programme/init.mp4",
        sha256="ab" * 32,
        size=900,
        media_start=0.0,
        duration=0.0,
        wall_start=T0,
    ),
    "record-gap": RecordGap(
        track="programme", media_start=1.0, media_end=2.0, wall_start=T0, wall_end=T0, reason="no_media"
    ),
}


def _issued(command: IssueInvitation) -> InvitationIssued:
    return InvitationIssued(
        invitation=command.invitation,
        role=command.role,
        token_sha256=command.token_sha256,
        label=command.label,
        venue=command.venue,
        signatory=command.signatory,
    )


_LIVE_LINKS = {Phase.FROZEN, Phase.OPEN, Phase.SIGNING}

# (command, phase) -> (the events it must produce, the phase after them). Anything absent is refused.
ALLOWED_CASES: dict[tuple[str, Phase], tuple[list[Event], Phase]] = {
    ("revise", Phase.DRAFT): ([DefinitionRevised(definition=REVISED)], Phase.DRAFT),
    ("freeze", Phase.DRAFT): ([CeremonyFrozen(document_sha256=SHA, document_size=4096)], Phase.FROZEN),
    ("open", Phase.FROZEN): ([RoomsOpened()], Phase.OPEN),
    ("next", Phase.OPEN): ([SegmentStarted(segment="opening")], Phase.OPEN),
    ("next", Phase.SIGNING): ([SegmentStarted(segment="exchange")], Phase.SIGNING),
    ("seal", Phase.SIGNING): ([CeremonySealed(absent=("signer-kr", "signer-cn"))], Phase.SEALED),
    **{
        ("cancel", p): ([CeremonyCancelled(reason="a hall lost power")], Phase.CANCELLED)
        for p in (Phase.DRAFT, Phase.FROZEN, Phase.OPEN, Phase.SIGNING)
    },
    **{("observer-link", p): ([_issued(OBSERVER)], p) for p in set(Phase) - {Phase.CANCELLED}},
    **{("venue-link", p): ([_issued(VENUE_LINK)], p) for p in _LIVE_LINKS},
    **{("signatory-link", p): ([_issued(SIGNATORY_LINK)], p) for p in _LIVE_LINKS},
    **{("revoke", p): ([InvitationRevoked(invitation="inv-host")], p) for p in Phase},
    **{("admit-hall", p): ([VenueAdmitted(venue="hall-kr")], p) for p in _LIVE_LINKS | {Phase.SEALED}},
    **{
        ("enroll", p): (
            [
                EnrollmentRequested(
                    enrollment="enr-1",
                    signatory="signer-kr",
                    invitation="inv-sig",
                    public_key="c3BraQ==",
                    fingerprint="cd" * 32,
                    device="UA",
                    address="127.0.0.1",
                )
            ],
            p,
        )
        for p in _LIVE_LINKS
    },
}


def test_the_matrix_covers_every_command_type() -> None:
    assert {type(c) for c in COMMANDS.values()} == set(ALLOWED)
    assert {phase for _, phase in ALLOWED_CASES} <= set(Phase)


@pytest.mark.parametrize("phase", list(Phase), ids=lambda p: p.value)
@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_in_every_phase(name: str, phase: Phase) -> None:
    log = log_in(phase)
    assert log.state.phase is phase
    command = COMMANDS[name]
    expected = ALLOWED_CASES.get((name, phase))
    if expected is None:
        if phase not in ALLOWED[type(command)]:
            assert assert_refused(log, command).startswith("cannot ")
        else:  # allowed here in principle, refused by a finer rule (the message says which)
            assert_refused(log, command, (CommandRefused, InvalidCommand))  # type: ignore[arg-type]
        return
    events, new_phase = expected
    before = log.state
    before_snapshot = snapshot(before)
    assert log.run(command) == events
    after = log.state
    assert after.phase is new_phase
    assert after.seq == before.seq + len(events)
    assert after.updated_at == log.envelopes[-1].at
    assert after.created_at == T0
    assert snapshot(before) == before_snapshot  # folding made a new state; the old one is intact


# ---- effects of the allowed transitions on the rest of the state ----


def test_revision_replaces_the_definition_and_nothing_else() -> None:
    log = log_in(Phase.DRAFT)
    before = log.state
    log.run(ReviseDefinition(definition=REVISED))
    assert log.state.definition == REVISED
    assert log.state.invitations == before.invitations
    assert log.state.document_sha256 is None


def test_freeze_records_the_document_and_checks_its_hash() -> None:
    log = log_in(Phase.DRAFT)
    assert_refused(
        log, Freeze(document_sha256="AB" * 32, document_size=10), InvalidCommand
    )  # upper case is not our hex form
    assert_refused(log, Freeze(document_sha256="ab" * 31, document_size=10), InvalidCommand)
    assert_refused(log, Freeze(document_sha256=SHA, document_size=0), InvalidCommand)
    log.run(Freeze(document_sha256=SHA, document_size=4096))
    assert (log.state.document_sha256, log.state.document_size) == (SHA, 4096)


def test_definition_revision_only_in_draft() -> None:
    for phase in set(Phase) - {Phase.DRAFT}:
        log = log_in(phase)
        message = assert_refused(log, ReviseDefinition(definition=REVISED))
        assert "edit the definition" in message
        assert log.state.definition == DEFINITION


# ---- the run-of-show ----


def test_run_of_show_walks_forward_and_signing_sets_the_phase() -> None:
    log = log_in(Phase.OPEN)
    assert log.state.segment is None
    assert log.state.segment_index() == -1
    seen = []
    for _ in range(5):
        (event,) = log.run(StartSegment(segment=NEXT_SEGMENT))
        assert isinstance(event, SegmentStarted)
        seen.append((event.segment, log.state.phase))
    assert seen == [
        ("opening", Phase.OPEN),
        ("remarks", Phase.OPEN),
        ("signing", Phase.SIGNING),
        ("exchange", Phase.SIGNING),  # later segments keep the signing phase until the seal
        ("closing", Phase.SIGNING),
    ]


def test_next_at_the_last_segment_is_refused() -> None:
    log = log_in(Phase.SIGNING)
    log.run(StartSegment(segment="closing"))
    message = assert_refused(log, StartSegment(segment=NEXT_SEGMENT))
    assert "last segment" in message
    log.run(Seal(absent_ok=True))  # sealing is the way on
    assert log.state.phase is Phase.SEALED


@pytest.mark.parametrize("target", ["opening", "remarks"])
def test_run_of_show_only_moves_forward(target: str) -> None:
    log = log_in(Phase.OPEN)
    log.run(StartSegment(segment="remarks"))
    message = assert_refused(log, StartSegment(segment=target))
    assert "only moves forward" in message


def test_no_going_back_from_signing() -> None:
    log = log_in(Phase.SIGNING)
    log.run(StartSegment(segment="exchange"))
    for target in ("opening", "remarks", "signing", "exchange"):
        assert_refused(log, StartSegment(segment=target))
    assert log.state.segment == "exchange"


@pytest.mark.parametrize("start_at", [None, "opening", "remarks"])
@pytest.mark.parametrize("target", ["exchange", "closing"])
def test_the_signing_segment_cannot_be_skipped_from_open(start_at: str | None, target: str) -> None:
    log = log_in(Phase.OPEN)
    if start_at is not None:
        log.run(StartSegment(segment=start_at))
    message = assert_refused(log, StartSegment(segment=target))
    assert "'signing' cannot be skipped" in message


def test_jumping_straight_to_signing_enters_the_signing_phase() -> None:
    log = log_in(Phase.OPEN)
    assert log.run(StartSegment(segment="signing")) == [SegmentStarted(segment="signing")]
    assert log.state.phase is Phase.SIGNING
    assert log.state.segment == "signing"


def test_segments_after_signing_may_be_skipped() -> None:
    log = log_in(Phase.SIGNING)
    assert log.run(StartSegment(segment="closing")) == [SegmentStarted(segment="closing")]
    assert log.state.phase is Phase.SIGNING


def test_an_unknown_segment_is_an_invalid_command() -> None:
    log = log_in(Phase.OPEN)
    message = assert_refused(log, StartSegment(segment="intermission"), InvalidCommand)
    assert "intermission" in message and "opening" in message


@pytest.mark.parametrize("phase", [Phase.DRAFT, Phase.FROZEN, Phase.SEALED, Phase.CANCELLED])
def test_stages_do_not_move_outside_open_and_signing(phase: Phase) -> None:
    log = log_in(phase)
    assert_refused(log, StartSegment(segment="signing"))


# ---- sealing and cancelling ----


@pytest.mark.parametrize("phase", [p for p in Phase if p is not Phase.SIGNING])
def test_seal_only_from_signing(phase: Phase) -> None:
    message = assert_refused(log_in(phase), Seal(absent_ok=True))
    assert message.startswith("cannot seal")


@pytest.mark.parametrize("phase", [Phase.DRAFT, Phase.FROZEN, Phase.OPEN, Phase.SIGNING])
def test_cancel_before_sealing_records_the_trimmed_reason(phase: Phase) -> None:
    log = log_in(phase)
    log.run(Cancel(reason="\tthe Nanjing hall lost power \n"))
    assert log.state.phase is Phase.CANCELLED
    assert log.state.cancel_reason == "the Nanjing hall lost power"


@pytest.mark.parametrize("reason", ["", "   \n", "x" * 501])
def test_cancel_needs_a_reason(reason: str) -> None:
    message = assert_refused(log_in(Phase.OPEN), Cancel(reason=reason), InvalidCommand)
    assert "reason" in message


def test_a_reason_of_500_characters_is_enough() -> None:
    log = log_in(Phase.OPEN)
    log.run(Cancel(reason="x" * 500))
    assert log.state.cancel_reason == "x" * 500


@pytest.mark.parametrize("phase", [Phase.SEALED, Phase.CANCELLED])
def test_cancel_refused_once_sealed_or_cancelled(phase: Phase) -> None:
    log = log_in(phase)
    message = assert_refused(log, Cancel(reason="too late"))
    assert message.startswith("cannot cancel")
    if phase is Phase.CANCELLED:
        assert log.state.cancel_reason == "the video link failed"


@pytest.mark.parametrize("phase", [Phase.SEALED, Phase.CANCELLED])
def test_nothing_moves_after_the_end(phase: Phase) -> None:
    log = log_in(phase)
    for command in (
        ReviseDefinition(definition=REVISED),
        Freeze(document_sha256=SHA, document_size=1),
        OpenRooms(),
        StartSegment(segment="closing"),
        Seal(absent_ok=True),
    ):
        assert_refused(log, command)


# ---- links ----


@pytest.mark.parametrize("phase", [Phase.DRAFT, Phase.SEALED])
@pytest.mark.parametrize("command", [VENUE_LINK, SIGNATORY_LINK], ids=["venue", "signatory"])
def test_venue_and_signatory_links_refused_in_draft_and_sealed(phase: Phase, command: IssueInvitation) -> None:
    log = log_in(phase)
    message = assert_refused(log, command)
    assert ("freeze first" if phase is Phase.DRAFT else "sealed") in message
    assert "inv-new" not in log.state.invitations


@pytest.mark.parametrize("role", [Role.HOST, Role.ARCHIVIST, Role.OBSERVER])
def test_other_links_can_be_issued_after_sealing(role: Role) -> None:
    log = log_in(Phase.SEALED)
    log.run(IssueInvitation(invitation="inv-late", role=role, token_sha256=TOKEN_C, label="after the seal"))
    assert log.state.invitations["inv-late"].role is role


@pytest.mark.parametrize("role", list(Role))
def test_no_links_at_all_once_cancelled(role: Role) -> None:
    venue = "hall-kr" if role is Role.VENUE else None
    signatory = "signer-kr" if role is Role.SIGNATORY else None
    assert_refused(
        log_in(Phase.CANCELLED),
        IssueInvitation(
            invitation="inv-x", role=role, token_sha256=TOKEN_C, label="", venue=venue, signatory=signatory
        ),
    )


@pytest.mark.parametrize("phase", sorted(_LIVE_LINKS))
def test_unknown_venue_or_signatory_is_an_invalid_command(phase: Phase) -> None:
    log = log_in(phase)
    message = assert_refused(log, replace(VENUE_LINK, venue="hall-jp"), InvalidCommand)
    assert "hall-jp" in message
    message = assert_refused(log, replace(SIGNATORY_LINK, signatory="signer-jp"), InvalidCommand)
    assert "signer-jp" in message


@pytest.mark.parametrize(
    "command",
    [
        IssueInvitation(invitation="inv-x", role=Role.VENUE, token_sha256=TOKEN_C),  # a venue link without its venue
        IssueInvitation(
            invitation="inv-x", role=Role.SIGNATORY, token_sha256=TOKEN_C
        ),  # a signatory link without its signatory
        IssueInvitation(invitation="inv-x", role=Role.OBSERVER, token_sha256=TOKEN_C, venue="hall-kr"),
        IssueInvitation(invitation="inv-x", role=Role.HOST, token_sha256=TOKEN_C, signatory="signer-kr"),
        IssueInvitation(
            invitation="inv-x", role=Role.VENUE, token_sha256=TOKEN_C, venue="hall-kr", signatory="signer-kr"
        ),
        IssueInvitation(invitation="inv-x", role=Role.OBSERVER, token_sha256=TOKEN_C, label="x" * 201),
        IssueInvitation(invitation="inv-host", role=Role.OBSERVER, token_sha256=TOKEN_C),  # the id is taken
    ],
)
def test_malformed_links_are_invalid_commands(command: IssueInvitation) -> None:
    assert_refused(log_in(Phase.OPEN), command, InvalidCommand)


def test_an_issued_link_records_who_it_is_for_and_when() -> None:
    log = log_in(Phase.FROZEN)
    log.run(SIGNATORY_LINK)
    invitation = log.state.invitations["inv-new"]
    assert (invitation.role, invitation.signatory, invitation.venue) == (Role.SIGNATORY, "signer-cn", None)
    assert invitation.issued_at == log.envelopes[-1].at
    assert invitation.active
    assert log.state.invitation_by_token(TOKEN_B) == invitation
    assert log.state.invitation_by_token(TOKEN_C) is None


def test_revoke_twice_is_refused() -> None:
    log = log_in(Phase.OPEN)
    log.run(RevokeInvitation(invitation="inv-host"))
    revoked = log.state.invitations["inv-host"]
    assert not revoked.active
    assert revoked.revoked_at == log.envelopes[-1].at
    message = assert_refused(log, RevokeInvitation(invitation="inv-host"))
    assert "already revoked" in message


def test_revoking_an_unknown_link_is_an_invalid_command() -> None:
    message = assert_refused(log_in(Phase.OPEN), RevokeInvitation(invitation="inv-nope"), InvalidCommand)
    assert "inv-nope" in message


# ---- folding ----


def test_the_log_must_start_with_drafted_at_seq_1() -> None:
    drafted = CeremonyDrafted(definition=DEFINITION)
    with pytest.raises(CommandRefused):
        initial_state(Envelope(ceremony=CEREMONY, seq=2, at=T0, actor="operator", event=drafted))
    with pytest.raises(CommandRefused):
        initial_state(Envelope(ceremony=CEREMONY, seq=1, at=T0, actor="operator", event=RoomsOpened()))
    log = Log()
    with pytest.raises(CommandRefused):
        evolve(log.state, Envelope(ceremony=CEREMONY, seq=2, at=T0, actor="operator", event=drafted))


def test_replaying_the_envelopes_rebuilds_an_equal_state() -> None:
    log = log_in(Phase.SIGNING)
    log.run(VENUE_LINK)
    log.run(RevokeInvitation(invitation="inv-new"))
    log.run(StartSegment(segment=NEXT_SEGMENT))
    first, *rest = log.envelopes
    state = initial_state(first)
    for envelope in rest:
        state = evolve(state, envelope)
    assert snapshot(state) == snapshot(log.state)
    assert state.seq == len(log.envelopes)


def test_same_commands_same_events() -> None:
    script: list[Command] = [
        ReviseDefinition(definition=REVISED),
        Freeze(document_sha256=SHA, document_size=1),
        OpenRooms(),
        StartSegment(segment=NEXT_SEGMENT),
        StartSegment(segment="signing"),
        Seal(absent_ok=True),
    ]
    a, b = Log(), Log()
    for command in script:
        a.run(command)
        b.run(command)
    assert a.envelopes == b.envelopes
    assert a.state.phase is Phase.SEALED
    assert a.state.updated_at == T0 + timedelta(minutes=len(script))  # time came from the envelopes only


def test_a_consent_key_is_judged_at_the_callers_now() -> None:
    # The certificate's expiry is a rule of the state (it holds not_after), judged at the time
    # the caller passes: the same key is usable a second before it expires and refused after.
    log = log_in(Phase.SIGNING)
    log.run(IssueInvitation(invitation="inv-s", role=Role.SIGNATORY, token_sha256=TOKEN_B, signatory="signer-kr"))
    log.run(
        RequestEnrollment(
            enrollment="enr-1",
            signatory="signer-kr",
            invitation="inv-s",
            public_key="pk",
            fingerprint="fp",
            device="UA",
            address="127.0.0.1",
        ),
        actor="signatory:inv-s",
    )
    log.run(
        ApproveEnrollment(
            enrollment="enr-1", certificate="Y2VydA==", serial="0a", not_after="2020-06-05T00:00:00.000000Z"
        )
    )
    expiry = datetime(2020, 6, 5, tzinfo=UTC)
    assert consent_key(log.state, "signer-kr", expiry - timedelta(seconds=1)).serial == "0a"
    consent = COMMANDS["consent"]  # its statement names another ceremony: the rule after expiry refuses it
    assert isinstance(consent, RecordConsent)
    with pytest.raises(CommandRefused, match="expired"):
        decide(log.state, consent, now=expiry + timedelta(seconds=1))
    with pytest.raises(InvalidCommand, match="statement"):  # before expiry, the next rule speaks
        decide(log.state, consent, now=expiry - timedelta(seconds=1))


def test_the_challenge_book_counts_per_link_and_per_ceremony_and_frees_what_is_spent_or_expired() -> None:
    book = ChallengeBook(lifetime=10.0)
    held = [book.issue("c1", "link-a", "consent", now=0.0) for _ in range(PER_LINK)]
    with pytest.raises(LimitReached):
        book.issue("c1", "link-a", "consent", now=1.0)
    book.issue("c1", "link-b", "consent", now=1.0)  # another link of the same ceremony is not affected
    book.spend(held[0].value)
    book.issue("c1", "link-a", "consent", now=2.0)  # a spent one frees its place
    with pytest.raises(LimitReached):
        book.issue("c1", "link-a", "consent", now=2.0)
    assert book.issue("c1", "link-a", "consent", now=10.5)  # the first ones expired at 10.0


def test_one_ceremony_cannot_take_another_ceremonys_challenges() -> None:
    book = ChallengeBook()
    for n in range(PER_CEREMONY):
        book.issue("busy", f"link-{n // PER_LINK}", "consent", now=0.0)
    with pytest.raises(LimitReached):
        book.issue("busy", "a-new-link", "consent", now=0.0)
    assert book.issue("quiet", "quiet-link", "consent", now=0.0)
