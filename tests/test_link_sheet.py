"""Which links "Issue all links" finds missing (web/link_sheet.py), on states stepped by hand."""

from __future__ import annotations

from ceremony.commands import IssueInvitation, RevokeInvitation
from ceremony.events import Role
from ceremony.state import Phase
from tests.helpers import DEFINITION, log_in
from web.link_sheet import Wanted, card_language, missing_links, skip_reason


def test_everyone_without_an_active_link_is_missing_in_roster_order() -> None:
    log = log_in(Phase.OPEN)
    assert missing_links(log.state) == [
        Wanted(Role.VENUE, venue="hall-kr"),
        Wanted(Role.VENUE, venue="hall-cn"),
        Wanted(Role.SIGNATORY, signatory="signer-kr"),
        Wanted(Role.SIGNATORY, signatory="signer-cn"),
        Wanted(Role.ARCHIVIST),
        Wanted(Role.OBSERVER),
    ]
    log.run(IssueInvitation(invitation="inv-tv", role=Role.VENUE, token_sha256="2" * 64, venue="hall-kr"))
    log.run(IssueInvitation(invitation="inv-press", role=Role.OBSERVER, token_sha256="3" * 64))
    assert Wanted(Role.VENUE, venue="hall-kr") not in missing_links(log.state)
    assert Wanted(Role.OBSERVER) not in missing_links(log.state)
    # A revoked link is no link: its hall is missing again.
    log.run(RevokeInvitation(invitation="inv-tv"))
    assert Wanted(Role.VENUE, venue="hall-kr") in missing_links(log.state)


def test_hall_and_signatory_links_wait_for_the_freeze_and_end_with_the_seal() -> None:
    hall, archivist = Wanted(Role.VENUE, venue="hall-cn"), Wanted(Role.ARCHIVIST)
    assert skip_reason(log_in(Phase.DRAFT).state, hall) == "after_freeze"
    assert skip_reason(log_in(Phase.SEALED).state, hall) == "sealed"
    assert skip_reason(log_in(Phase.FROZEN).state, hall) is None
    assert skip_reason(log_in(Phase.DRAFT).state, archivist) is None


def test_a_card_is_in_its_halls_language() -> None:
    assert card_language(DEFINITION, Wanted(Role.VENUE, venue="hall-kr"), "en") == "ko"
    assert card_language(DEFINITION, Wanted(Role.SIGNATORY, signatory="signer-cn"), "ko") == "zh"
    assert card_language(DEFINITION, Wanted(Role.OBSERVER), "zh") == "zh"
