"""The WebSocket edge: `GET /api/ceremonies/{ceremony}/signal` (docs/signaling.md).

Thin by design, in four steps: authenticate (the gate web hands to the hub),
read the hello, join the room (welcome and catch up), serve frames: parse them
in protocol.py, let the room decide, let the hub deliver. Problems become
`error` messages or close codes; no exception from a client's input escapes
this handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from ceremony.commands import StartSegment
from ceremony.errors import CeremonyError
from ceremony.events import Role
from ceremony.model import CeremonyDefinition, LocalizedText
from ceremony.state import CeremonyState, Invitation, Phase

from .errors import (
    FORBIDDEN,
    PROTOCOL_VIOLATION,
    RATE_LIMITED,
    TIMEOUT,
    AccessRefused,
    ProtocolError,
)
from .hub import Hub
from .protocol import (
    MAX_FRAME,
    Acknowledged,
    Admit,
    ClientMessage,
    End,
    Hello,
    IceServer,
    Leave,
    Ping,
    Pong,
    Ponged,
    Refused,
    Reject,
    Relay,
    StartSegmentRequest,
    Welcomed,
    encode,
    parse,
)
from .room import Joined, Member, Room

log = logging.getLogger(__name__)
HUB = web.AppKey("signaling_hub", Hub)
SIGNAL_ROLES = (Role.HOST, Role.VENUE, Role.OBSERVER, Role.SIGNATORY)
MAX_BAD_MESSAGES = 20

routes = web.RouteTableDef()


class TokenBucket:
    """Per-connection flood guard: `rate` messages a second, bursts of `burst`."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, burst, now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class Connection:
    ws: web.WebSocketResponse
    room: Room
    member: Member
    bucket: TokenBucket
    bad: int = 0


@routes.get("/api/ceremonies/{ceremony}/signal")
async def signal(request: web.Request) -> web.WebSocketResponse:
    # No permessage-deflate: signaling frames are small, and deflate costs ~100 KiB of memory
    # per connection and tens of microseconds per message (docs/benchmarks.md).
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, autoping=True, heartbeat=None, compress=False)
    await ws.prepare(request)
    hub = request.app[HUB]
    invitation = await _authenticate(request, ws, hub)
    if invitation is None:
        return ws
    hello = await _read_hello(ws, hub)
    if hello is None:
        return ws
    connection = await _join(hub, ws, request.match_info["ceremony"], invitation, hello)
    try:
        await _serve(hub, connection)
    finally:
        _part(hub, connection)
    return ws


async def _authenticate(request: web.Request, ws: web.WebSocketResponse, hub: Hub) -> Invitation | None:
    """The caller's invitation, checked by the gate web hands in; None once the socket is closed."""
    try:
        invitation = hub.gate(request, _wanted_roles(request))
        # The gate resolved the path's ceremony, so it exists.
        if hub.service.get(request.match_info["ceremony"]).phase is Phase.CANCELLED:
            raise AccessRefused(FORBIDDEN, "the ceremony was cancelled")
    except AccessRefused as exc:
        await ws.close(code=exc.close_code, message=exc.reason.encode()[:120])
        return None
    return invitation


def _wanted_roles(request: web.Request) -> tuple[Role, ...]:
    """`?role=venue` joins with that role's link when a browser holds several (host and venue)."""
    wanted = request.query.get("role")
    if wanted is None:
        return SIGNAL_ROLES
    matching = tuple(r for r in SIGNAL_ROLES if r.value == wanted)
    if not matching:
        raise AccessRefused(FORBIDDEN, f"'{wanted[:20]}' links cannot join the signaling room")
    return matching


async def _join(hub: Hub, ws: web.WebSocketResponse, ceremony: str, invitation: Invitation, hello: Hello) -> Connection:
    """Into the room (a new session or a resumed one), welcomed and caught up."""
    state = hub.service.get(ceremony)
    room = hub.room(ceremony)
    now = hub.clock()
    joined = room.join(
        role=invitation.role,
        invitation=invitation.id,
        venue=invitation.venue,
        name=_display_name(hub, state.definition, invitation),
        resume_session=hello.resume.session if hello.resume else None,
        last_seq=hello.resume.last_seq if hello.resume else 0,
        now=now,
    )
    if joined.replaced:
        await hub.replace(joined.member.peer)
    await _catch_up(hub, ws, joined.member, _welcome(hub, room, joined, state), joined.last_seq)
    await hub.apply(joined.effects)
    bucket = TokenBucket(hub.settings.rate_per_second, hub.settings.rate_burst, now)
    return Connection(ws, room, joined.member, bucket)


def _welcome(hub: Hub, room: Room, joined: Joined, state: CeremonyState) -> Welcomed:
    member, settings = joined.member, hub.settings
    return Welcomed(
        session=member.session,
        peer=member.peer,
        role=member.role.value,
        venue=member.venue,
        admitted=member.admitted,
        resumed=joined.resumed,
        ice_servers=tuple(IceServer.from_wire(s) for s in settings.ice.for_peer(member.peer, time.time())),
        peers=tuple(room.peers_for(member)),
        ceremony=hub.summary(state),
        heartbeat_interval=settings.heartbeat_interval,
        heartbeat_timeout=settings.heartbeat_timeout,
    )


def _part(hub: Hub, c: Connection) -> None:
    """The socket is gone: unless the session moved to another socket, keep it for resume."""
    hub.detach(c.member.peer, c.ws)
    current = c.room.members.get(c.member.peer)
    if current is c.member and hub.sockets.get(c.member.peer) is None:
        c.room.disconnected(c.member.peer, hub.clock())


async def _catch_up(hub: Hub, ws: web.WebSocketResponse, member: Member, welcome: Welcomed, seen: int) -> None:
    """Welcome first, then everything after `seen` in order, then live delivery.

    Messages for this member produced while we await the sends land in its
    outbox; the loop sends them too, and attaches the socket for live delivery
    only when nothing is pending, with no await in between, so nothing is
    missed, repeated or overtaken.
    """
    await ws.send_str(encode(welcome))
    while True:
        pending = [m for m in member.outbox if m["seq"] > seen]
        if not pending:
            hub.attach(member.peer, ws)
            member.connected, member.disconnected_at = True, None
            return
        for message in pending:
            await ws.send_str(encode(message))
            seen = message["seq"]


async def _read_hello(ws: web.WebSocketResponse, hub: Hub) -> Hello | None:
    try:
        first = await asyncio.wait_for(ws.receive(), hub.settings.hello_timeout)
    except TimeoutError:
        await ws.close(code=TIMEOUT, message=b"send hello first, within the time limit")
        return None
    if first.type != WSMsgType.TEXT:
        await ws.close(code=PROTOCOL_VIOLATION, message=b"the first message must be a hello text frame")
        return None
    try:
        message = parse(first.data)
    except ProtocolError as exc:
        await ws.close(code=PROTOCOL_VIOLATION, message=f"bad hello: {exc.reason}".encode()[:120])
        return None
    if not isinstance(message, Hello):
        await ws.close(code=PROTOCOL_VIOLATION, message=b"the first message must be hello")
        return None
    return message


async def _serve(hub: Hub, c: Connection) -> None:
    async for frame in c.ws:
        now = hub.clock()
        if frame.type != WSMsgType.TEXT:
            if frame.type == WSMsgType.BINARY:
                await _refuse(hub, c, ProtocolError("bad_message", "binary frames are not part of the protocol"), None)
            continue
        if not c.bucket.take(now):
            await c.ws.close(code=RATE_LIMITED, message=b"too many messages; slow down")
            return
        c.room.heard(c.member.peer, now)
        try:
            message = parse(frame.data)
        except ProtocolError as exc:
            await _refuse(hub, c, exc, exc.ref)
            continue
        if c.member.peer not in c.room.members:
            return  # ended, rejected or revoked meanwhile
        try:
            if await _dispatch(hub, c, message):
                return
        except ProtocolError as exc:
            await _refuse(hub, c, exc, message.ref)


async def _refuse(hub: Hub, c: Connection, exc: ProtocolError, ref: str | None) -> None:
    await hub.apply(c.room.send(c.member.peer, Refused(code=exc.code, reason=exc.reason, ref=ref)))
    if exc.code == "bad_message":
        c.bad += 1
        if c.bad >= MAX_BAD_MESSAGES:
            await c.ws.close(code=PROTOCOL_VIOLATION, message=b"too many malformed messages")


async def _dispatch(hub: Hub, c: Connection, message: ClientMessage) -> bool:
    """Act on one message; True when this connection is finished."""
    peer, room = c.member.peer, c.room
    match message:
        case Relay():
            await hub.apply(room.relay(peer, message))
        case Ping(nonce):
            await c.ws.send_str(encode(Ponged(nonce=nonce)))
        case Pong():
            pass  # being heard is all a pong is for
        case StartSegmentRequest(segment):
            if c.member.role is not Role.HOST:
                raise ProtocolError("forbidden", "only the host moves the run-of-show")
            try:
                await hub.service.execute(room.ceremony, StartSegment(segment=segment), f"host:{c.member.invitation}")
            except CeremonyError as exc:
                raise ProtocolError("refused", str(exc)) from None
            await _ack(hub, c, message.ref)
        case Admit(target):
            await hub.apply(room.admit(peer, target))
            await _ack(hub, c, message.ref)
        case Reject(target, reason):
            await hub.apply(room.reject(peer, target, reason))
            await _ack(hub, c, message.ref)
        case End(reason):
            effects = room.end(peer, reason)
            await hub.apply(effects)
            return True
        case Leave():
            await hub.apply(room.leave(peer, "left"))
            with contextlib.suppress(ConnectionError):
                await c.ws.close(code=1000, message=b"bye")
            return True
        case Hello():
            raise ProtocolError("bad_message", "hello was already received")
    return False


async def _ack(hub: Hub, c: Connection, ref: str | None) -> None:
    await hub.apply(c.room.send(c.member.peer, Acknowledged(ref=ref)))


def _display_name(hub: Hub, definition: CeremonyDefinition, invitation: Invitation) -> LocalizedText:
    """How the room shows a member: its hall's or signatory's name, else its role's (web's catalogue)."""
    if invitation.venue is not None and definition.has_venue(invitation.venue):
        return definition.venue(invitation.venue).name
    if invitation.signatory is not None and definition.has_signatory(invitation.signatory):
        return definition.signatory(invitation.signatory).name
    return hub.role_names[invitation.role]
