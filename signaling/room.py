"""One ceremony's signaling room, without I/O.

The room knows who is present (members), who waits in the lobby, and each
session's outgoing messages with their sequence numbers, which is what makes
resume exact. Every operation takes `now` and returns Effects: messages to
deliver and sockets to close. The asyncio hub (hub.py) carries them out.

Messages are built as protocol.py's typed server messages and encoded once:
a session's outbox keeps each as the text frame it was sent as (which ends in
its `seq`), so that a resume replays exactly what was missed. A message for several
members (a ceremony update, a peer that left) is encoded once for all of them;
each member's frame only adds its own `seq`.

Admission belongs to a hall (venue), not to one socket or link: the host admits
it once, the ceremony's log records it (venue.admitted), and the hub tells the
room (`venue_admitted`); every link of that hall goes straight in from then on.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ceremony.events import Role
from ceremony.model import LocalizedText

from .errors import (
    ENDED_BY_HOST,
    FORBIDDEN,
    TIMEOUT,
    ProtocolError,
)
from .protocol import (
    AdmittedToRoom,
    CeremonyUpdated,
    Knocked,
    MediaChanged,
    MediaState,
    PeerBack,
    PeerInfo,
    PeerJoined,
    PeerLeft,
    Relay,
    ServerMessage,
    encode_head,
    frame,
    renumber,
    seq_of,
    to_wire,
)

MEDIA_ROLES = frozenset({Role.HOST, Role.VENUE, Role.RECORDER})
OUTBOX_LIMIT = 512  # messages kept for a disconnected session; beyond that it cannot resume


@dataclass
class Member:
    peer: str
    session: str
    role: Role
    invitation: str
    venue: str | None
    name: LocalizedText
    admitted: bool
    connected: bool
    last_heard: float
    disconnected_at: float | None = None
    next_seq: int = 1
    outbox: deque[str] = field(default_factory=lambda: deque(maxlen=OUTBOX_LIMIT))  # frames, by rising seq
    overflowed: bool = False
    left_announced: bool = False  # peers were told peer-left (a heartbeat drop); say it once
    media_state: MediaState | None = None  # microphone and camera, as the member last said (`media`)
    # Restored from the bus (another node hosted the room): the last seq that node had written
    # down. Its client may have seen a few more; see Room.join.
    restored_seq: int | None = None
    renumbered: int = 0  # times its outbox was renumbered (a copy of it elsewhere is then out of date)

    @property
    def media(self) -> bool:
        return self.role in MEDIA_ROLES

    def info(self, viewer: str) -> PeerInfo:
        # Perfect negotiation needs exactly one polite side per pair: the greater id is polite.
        return PeerInfo(
            id=self.peer,
            role=self.role.value,
            venue=self.venue,
            name=self.name.as_dict(),
            polite=self.peer > viewer,
            media=self.media_state,
        )

    def describe(self, viewer: str) -> dict[str, Any]:
        """This member as `viewer` sees it on the wire."""
        return self.info(viewer).to_wire()


@dataclass(frozen=True, slots=True)
class Close:
    peer: str
    code: int
    reason: str


@dataclass
class Effects:
    """What the hub must do: deliver `send` (a peer and a sequenced frame for it), close `close`."""

    send: list[tuple[str, str]] = field(default_factory=list)
    close: list[Close] = field(default_factory=list)

    def extend(self, other: Effects) -> None:
        self.send.extend(other.send)
        self.close.extend(other.close)


@dataclass(frozen=True, slots=True, kw_only=True)
class Joined:
    member: Member
    resumed: bool
    last_seq: int  # what the client has already seen of this session
    replaced: bool  # the session was still attached to another socket
    effects: Effects


def new_peer_id() -> str:
    return "p-" + secrets.token_hex(6)


def new_session_id() -> str:
    return secrets.token_urlsafe(16)


class Room:
    def __init__(self, ceremony: str, resume_window: float, admitted: Iterable[str] = ()) -> None:
        self.ceremony = ceremony
        self.resume_window = resume_window
        self.members: dict[str, Member] = {}
        self._sessions: dict[str, str] = {}  # session -> peer
        # The halls the host admitted (the ceremony's state.admitted_venues, then venue.admitted events).
        self._admitted: set[str] = set(admitted)
        self.fed = 0  # the ceremony log's sequence number up to which members were told (the hub's feed)

    def restore(self, members: Iterable[Member]) -> None:
        """Sessions kept by the node that hosted this room before (several nodes), all disconnected."""
        for member in members:
            self.members[member.peer] = member
            self._sessions[member.session] = member.peer

    # ---- delivery ----

    def _to(self, member: Member, message: ServerMessage, effects: Effects) -> None:
        self._sequence(member, _head(message), effects)

    def _to_all(self, members: list[Member], message: ServerMessage, effects: Effects) -> None:
        """The same message to several members: encoded once."""
        if members:
            head = _head(message)
            for member in members:
                self._sequence(member, head, effects)

    def _sequence(self, member: Member, head: str, effects: Effects) -> None:
        """Sequence a message (its encoded head) into the member's outbox; deliver it now if connected."""
        sent = frame(head, member.next_seq)
        member.next_seq += 1
        if len(member.outbox) == OUTBOX_LIMIT and not member.connected:
            member.overflowed = True
        member.outbox.append(sent)
        if member.connected:
            effects.send.append((member.peer, sent))

    def _media_peers(self, of: Member) -> list[Member]:
        """The admitted media peers `of` exchanges media with."""
        return [m for m in self.members.values() if m.media and m.admitted and _linked(of, m)]

    def _hosts(self) -> list[Member]:
        return [m for m in self.members.values() if m.role is Role.HOST]

    # ---- joining and leaving ----

    def join(
        self,
        *,
        role: Role,
        invitation: str,
        venue: str | None,
        name: LocalizedText,
        resume_session: str | None,
        last_seq: int,
        now: float,
    ) -> Joined:
        effects = Effects()
        existing = self.members.get(self._sessions.get(resume_session or "", ""))
        if existing is not None and existing.invitation == invitation and not existing.overflowed:
            replaced = existing.connected
            # Not marked connected yet: the shell does that once it has caught the socket up.
            existing.connected = False
            existing.last_heard = now
            existing.left_announced = False
            if existing.restored_seq is not None:
                _continue_after(existing, last_seq)
            if existing.media and existing.admitted:
                for other in self._media_peers(existing):
                    self._to(other, PeerBack(peer=existing.info(other.peer)), effects)
            return Joined(
                member=existing,
                resumed=True,
                last_seq=min(last_seq, existing.next_seq - 1),
                replaced=replaced,
                effects=effects,
            )

        member = Member(
            peer=new_peer_id(),
            session=new_session_id(),
            role=role,
            invitation=invitation,
            venue=venue,
            name=name,
            # The recorder is the server's own process: it needs no host to let it in.
            admitted=role in (Role.HOST, Role.RECORDER) or (role is Role.VENUE and venue in self._admitted),
            connected=False,  # until the shell has queued the welcome (see server._join)
            last_heard=now,
        )
        self.members[member.peer] = member
        self._sessions[member.session] = member.peer
        if member.media and member.admitted:
            self._announce(member, effects)
        elif member.role is Role.VENUE:
            for host in self._hosts():
                self._to(host, Knocked(peer=member.info(host.peer)), effects)  # `polite` differs per host
        if member.role is Role.HOST:
            for waiting in self.lobby():
                self._to(member, Knocked(peer=waiting.info(member.peer)), effects)
        return Joined(member=member, resumed=False, last_seq=0, replaced=False, effects=effects)

    def _announce(self, member: Member, effects: Effects) -> None:
        for other in self._media_peers(member):
            self._to(other, PeerJoined(peer=member.info(other.peer)), effects)

    def session(self, session: str) -> Member | None:
        """The member holding this session, if any."""
        return self.members.get(self._sessions.get(session, ""))

    def lobby(self) -> list[Member]:
        return [m for m in self.members.values() if m.role is Role.VENUE and not m.admitted]

    def peers_for(self, member: Member) -> list[PeerInfo]:
        if not (member.media and member.admitted):
            return []
        return [m.info(member.peer) for m in self._media_peers(member)]

    def disconnected(self, peer: str, now: float) -> None:
        """The socket closed without `leave`: keep the session for the resume window."""
        member = self.members.get(peer)
        if member is not None:
            member.connected = False
            if member.disconnected_at is None:
                member.disconnected_at = now

    def leave(self, peer: str, reason: str) -> Effects:
        effects = Effects()
        member = self.members.pop(peer, None)
        if member is None:
            return effects
        self._sessions.pop(member.session, None)
        self._announce_left(member, reason, effects)
        return effects

    def _announce_left(self, member: Member, reason: str, effects: Effects) -> None:
        if member.left_announced:
            return
        member.left_announced = True
        left = PeerLeft(peer=member.peer, reason=reason)
        if member.media and member.admitted:
            self._to_all(self._media_peers(member), left, effects)
        elif member.role is Role.VENUE:
            # A venue that leaves the lobby: the host's knock list must lose it.
            self._to_all(self._hosts(), left, effects)

    def drop(self, peer: str, now: float, *, code: int, why: str, reason: str) -> Effects:
        """Close a connection that stopped answering (`why` for its close, `reason` for its peers).

        The session stays for the resume window; its peers stop waiting for it now, and get
        peer-back if it resumes in time.
        """
        effects = Effects()
        member = self.members.get(peer)
        if member is None or not member.connected:
            return effects
        effects.close.append(Close(peer=peer, code=code, reason=why))
        self.disconnected(peer, now)
        self._announce_left(member, reason, effects)
        return effects

    def tick(self, now: float, timeout: float) -> Effects:
        """Drop silent connections and expire sessions whose resume window has passed."""
        effects = Effects()
        for member in list(self.members.values()):
            if member.connected and now - member.last_heard > timeout:
                why = f"nothing heard for {timeout:.0f} s"
                effects.extend(self.drop(member.peer, now, code=TIMEOUT, why=why, reason="timeout"))
            elif (
                not member.connected
                and member.disconnected_at is not None
                and (now - member.disconnected_at > self.resume_window or member.overflowed)
            ):
                effects.extend(self.leave(member.peer, "gone"))
        return effects

    def heard(self, peer: str, now: float) -> None:
        member = self.members.get(peer)
        if member is not None:
            member.last_heard = now

    # ---- messages ----

    def relay(self, sender: str, message: Relay) -> Effects:
        source = self.members[sender]
        if not source.media:
            raise ProtocolError("forbidden", f"a {source.role.value} link cannot exchange media")
        if not source.admitted:
            raise ProtocolError("not_admitted", "wait until the host admits this venue")
        target = self.members.get(message.to)
        if target is None or not target.media or not target.admitted or not _linked(source, target):
            raise ProtocolError("no_such_peer", f"no media peer '{message.to}' in this ceremony")
        effects = Effects()
        self._to(target, message.delivered(sender), effects)
        return effects

    def set_media(self, sender: str, state: MediaState) -> Effects:
        """A media peer's microphone/camera changed: kept (newcomers see it in its peer object), and
        told to the media peers present if it is in the room (a hall in the lobby tells no one yet)."""
        source = self.members[sender]
        if not source.media:
            raise ProtocolError("forbidden", f"a {source.role.value} link sends no media")
        effects = Effects()
        if source.media_state == state:
            return effects  # nothing changed: nobody needs telling again (a resent state after a resume)
        source.media_state = state
        if source.admitted:
            self._to_all(self._media_peers(source), MediaChanged(sender=sender, state=state), effects)
        return effects

    def admission(self, host: str, peer: str) -> str:
        """The hall a host's `admit` names: checked here; the caller records it (AdmitVenue)."""
        self._require_host(host)
        member = self.members.get(peer)
        if member is None or member.role is not Role.VENUE or member.venue is None:
            raise ProtocolError("no_such_peer", f"no venue '{peer}' is waiting")
        return member.venue

    def venue_admitted(self, venue: str) -> Effects:
        """The log says the host admitted this hall: its members in the lobby come in."""
        self._admitted.add(venue)
        effects = Effects()
        for member in [m for m in self.lobby() if m.venue == venue]:
            member.admitted = True
            self._to(member, AdmittedToRoom(peers=tuple(self.peers_for(member))), effects)
            self._announce(member, effects)
        return effects

    def reject(self, host: str, peer: str, reason: str) -> Effects:
        self._require_host(host)
        member = self.members.get(peer)
        if member is None or member.role is not Role.VENUE:
            raise ProtocolError("no_such_peer", f"no venue '{peer}' in this ceremony")
        if member.admitted:
            raise ProtocolError("refused", "this hall is admitted; revoking its link is what keeps it out")
        effects = self.leave(peer, "rejected")
        effects.close.append(Close(peer=peer, code=FORBIDDEN, reason=reason or "the host did not admit this venue"))
        return effects

    def end(self, host: str, reason: str) -> Effects:
        self._require_host(host)
        effects = self.close_all(reason or "the host ended the session")
        # The host's own socket last: closing it ends the task that is carrying out these effects.
        effects.close.sort(key=lambda close: close.peer == host)
        return effects

    def close_all(self, reason: str) -> Effects:
        """Everyone out, sessions gone (the host ended the session, or the ceremony was cancelled)."""
        effects = Effects()
        for member in list(self.members.values()):
            effects.close.append(Close(peer=member.peer, code=ENDED_BY_HOST, reason=reason))
            self.members.pop(member.peer)
            self._sessions.pop(member.session, None)
        return effects

    def revoked(self, invitation: str) -> Effects:
        """A link was revoked: its holders leave at once."""
        effects = Effects()
        for member in [m for m in self.members.values() if m.invitation == invitation]:
            effects.extend(self.leave(member.peer, "revoked"))
            effects.close.append(Close(peer=member.peer, code=FORBIDDEN, reason="this link was revoked"))
        return effects

    def broadcast(self, message_for: Mapping[Role, CeremonyUpdated | None]) -> Effects:
        """Push one ceremony update, shaped per role by the hub's view (None: that role may not see it)."""
        effects = Effects()
        heads: dict[Role, str] = {}  # encoded once per role, when a member of that role is here
        for member in self.members.values():
            message = message_for.get(member.role)
            if message is not None:
                head = heads.get(member.role) or heads.setdefault(member.role, _head(message))
                self._sequence(member, head, effects)
        return effects

    def send(self, peer: str, message: ServerMessage) -> Effects:
        """A message to one member (ack, error, pong), sequenced like the rest."""
        effects = Effects()
        member = self.members.get(peer)
        if member is not None:
            self._to(member, message, effects)
        return effects

    def _require_host(self, peer: str) -> None:
        member = self.members.get(peer)
        if member is None or member.role is not Role.HOST:
            raise ProtocolError("forbidden", "only the host can do this")

    @property
    def empty(self) -> bool:
        return not self.members


def _continue_after(member: Member, seen: int) -> None:
    """The first resume of a session restored from the bus: number what is new after what the client saw.

    The node that hosted the room before may have sent the client a few messages after it last
    wrote the session down (up to `seen`). What this node queued for the session since it took
    the room over was numbered from `restored_seq` on, and would collide with those: it is
    renumbered to follow `seen`, so the client takes it as new, with no gap and no repeat.
    """
    kept = member.restored_seq
    member.restored_seq = None
    if kept is None or seen <= kept:
        return
    new = sent_after(member, kept)
    older = list(member.outbox)[: len(member.outbox) - len(new)]
    queued = [renumber(sent, n) for n, sent in enumerate(new, seen + 1)]
    member.outbox.clear()
    member.outbox.extend(older + queued)
    member.next_seq = seen + 1 + len(queued)
    member.renumbered += 1


def sent_after(member: Member, seq: int) -> list[str]:
    """The member's kept frames sequenced after `seq`, oldest first.

    From the end: a resume misses a few messages, and the room's node writes every member's
    new ones to the bus four times a second (several nodes), so the rest are not parsed."""
    new = []
    for sent in reversed(member.outbox):
        if seq_of(sent) <= seq:
            break
        new.append(sent)
    new.reverse()
    return new


def _head(message: ServerMessage) -> str:
    return encode_head(to_wire(message))


def _linked(a: Member, b: Member) -> bool:
    """Whether two media peers exchange media: every pair but one with itself, except that the
    recorder records the halls only (no host camera, no other recorder) and so links to venues only."""
    if a.peer == b.peer:
        return False
    if Role.RECORDER in (a.role, b.role):
        return Role.VENUE in (a.role, b.role)
    return True
