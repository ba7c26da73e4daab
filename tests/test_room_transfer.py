"""A room handed from one node to another (issue 14), without I/O: what the bus keeps of its
sessions (signaling/room_codec.py), and how a restored session resumes (room.Room.join).

Plus the one rule of the service that several nodes need: a command refused on what a node
knows is decided again once it has caught up with what another node wrote (a real PostgreSQL).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ceremony.commands import RevokeInvitation
from ceremony.errors import CeremonyError
from ceremony.events import Role
from ceremony.model import LocalizedText
from ceremony.runtime.stores import open_service, parse_store_url
from signaling.protocol import Acknowledged, MediaState, Relay, seq_of
from signaling.room import Effects, Joined, Member, Room, sent_after
from signaling.room_codec import member_from, member_text, renumbered, standing
from tests.engines import Postgres
from web.demo.definition import demo_definition
from web.settings import utc_clock

NAME = LocalizedText(ko="춘천", zh="春川", en="Chuncheon")
CANDIDATE = {"candidate": "candidate:1 1 UDP 2122252543 192.0.2.10 54321 typ host", "sdpMid": "0"}


def _room() -> tuple[Room, Member, Member]:
    """A host and an admitted hall, both connected, with some traffic between them."""
    room = Room("c1", resume_window=60.0, admitted=["chuncheon"])
    host = room.join(
        role=Role.HOST, invitation="i-h", venue=None, name=NAME, resume_session=None, last_seq=0, now=0.0
    ).member
    hall = room.join(
        role=Role.VENUE, invitation="i-v", venue="chuncheon", name=NAME, resume_session=None, last_seq=0, now=0.0
    ).member
    host.connected = hall.connected = True
    hall.media_state = MediaState(audio=True, video=False)
    for _ in range(3):
        room.relay(host.peer, Relay(kind="candidate", to=hall.peer, payload={"candidate": CANDIDATE}))
    return room, host, hall


def _moved(member: Member, now: float = 100.0) -> Member:
    """The member as the next node reads it back from what this one wrote."""
    return member_from(member_text(member), sent_after(member, 0), now)


def _resumed(room: Room, hall: Member, last_seq: int) -> Joined:
    """The hall's client resumes its session in `room`, having seen up to `last_seq`."""
    return room.join(
        role=Role.VENUE,
        invitation="i-v",
        venue="chuncheon",
        name=NAME,
        resume_session=hall.session,
        last_seq=last_seq,
        now=101.0,
    )


def _sent(effects: Effects, peer: str) -> list[dict[str, Any]]:
    return [_parsed(text) for p, text in effects.send if p == peer]


def _parsed(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def _ack() -> Acknowledged:
    return Acknowledged(ref="r1")


def test_a_session_crosses_nodes_with_its_identity_standing_and_outbox() -> None:
    _, _, hall = _room()
    moved = _moved(hall)
    assert (moved.peer, moved.session, moved.role, moved.invitation, moved.venue, moved.name) == (
        hall.peer,
        hall.session,
        hall.role,
        hall.invitation,
        hall.venue,
        hall.name,
    )
    assert standing(moved) == standing(hall)  # admitted, media state, next seq...
    assert list(moved.outbox) == list(hall.outbox)  # byte for byte on the wire, seq included
    assert not moved.connected and moved.disconnected_at == 100.0  # until its client resumes here


def test_only_what_is_new_is_written_again() -> None:
    _, host, hall = _room()
    written = hall.next_seq - 1
    assert sent_after(hall, written) == []
    room = Room("c1", 60.0, ["chuncheon"])
    room.restore([hall, host])
    room.send(hall.peer, _ack())
    assert [m["seq"] for m in map(_parsed, sent_after(hall, written))] == [written + 1]


@pytest.mark.parametrize("client_saw_more", [0, 2])
def test_a_restored_session_resumes_without_repeats_or_gaps(client_saw_more: int) -> None:
    """The old node wrote the session down at seq K; its client may have seen up to K + 2 before
    the node died. Messages queued here meanwhile follow what the client saw, exactly once."""
    _, host, hall = _room()
    written = hall.next_seq - 1
    room = Room("c1", 60.0, ["chuncheon"])
    room.restore([_moved(host), _moved(hall)])
    room.send(hall.peer, _ack())  # queued while the hall is away (the host, say, acked something)
    room.send(hall.peer, _ack())
    on_the_bus = standing(room.members[hall.peer])
    seen = written + client_saw_more
    joined = _resumed(room, hall, seen)
    assert joined.resumed
    # Renumbered, the copy on the bus is out of date: the next write replaces it whole.
    assert renumbered(on_the_bus, joined.member) is (client_saw_more > 0)
    replay = [_parsed(text) for text in sent_after(joined.member, joined.last_seq)]
    # The two queued here, right after what the client saw, in their frames as in their numbers.
    assert [m["seq"] for m in replay] == [seen + 1, seen + 2] and [m["type"] for m in replay] == ["ack", "ack"]
    kept = [seq_of(text) for text in joined.member.outbox]
    assert kept == sorted(set(kept))
    after = room.send(hall.peer, _ack())
    joined.member.connected = True
    later = room.send(hall.peer, _ack())
    assert not after.send and [m["seq"] for m in _sent(later, hall.peer)] == [seen + 4]


def test_a_client_that_saw_less_gets_the_kept_outbox_replayed() -> None:
    _, host, hall = _room()
    room = Room("c1", 60.0, ["chuncheon"])
    room.restore([_moved(host), _moved(hall)])
    joined = _resumed(room, hall, 1)
    replay = [_parsed(text)["seq"] for text in sent_after(joined.member, joined.last_seq)]
    assert replay == list(range(2, hall.next_seq))


async def test_a_command_refused_on_stale_knowledge_is_decided_again_after_catching_up(
    postgres: Postgres,
) -> None:
    """Node 2 has not heard of the link node 1 just issued; revoking it there must still work."""
    url = parse_store_url(postgres.new_database())
    one, one_backing = open_service(url, clock=utc_clock)
    try:
        state = await one.create(demo_definition(), "operator")
        two, two_backing = open_service(url, clock=utc_clock)  # knows the ceremony, not what follows
        try:
            link = await one.issue_link(state.id, Role.ARCHIVIST, "test")
            assert link.invitation not in two.get(state.id).invitations
            done = await two.execute(state.id, RevokeInvitation(invitation=link.invitation), "test")
            assert not done.state.invitations[link.invitation].active
            # A command that is wrong whatever anyone wrote stays refused, after one look.
            with pytest.raises(CeremonyError):
                await two.execute(state.id, RevokeInvitation(invitation="no-such-link"), "test")
        finally:
            await two.close()
            two_backing.close()
    finally:
        await one.close()
        one_backing.close()
