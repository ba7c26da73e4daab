"""The WebSocket edge: `GET /api/ceremonies/{ceremony}/signal` (docs/signaling.md).

Thin by design, in four steps: authenticate (the gate web hands to the hub),
read the hello, join the room (welcome and catch up), serve frames: parse them
in protocol.py, let the room decide, let the hub deliver. Problems become
`error` messages or close codes; no exception from a client's input escapes
this handler. Everything sent after the gate goes through the socket's outlet
(hub.py), in order; the handler never waits for another socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from aiohttp import WSMessage, WSMsgType, web

from ceremony.commands import AdmitVenue, StartSegment
from ceremony.errors import CeremonyError
from ceremony.events import Role
from ceremony.model import CeremonyDefinition, LocalizedText
from ceremony.state import CeremonyState, Invitation, Phase

from .errors import (
    FORBIDDEN,
    PROTOCOL_VIOLATION,
    RATE_LIMITED,
    REPLACED,
    TIMEOUT,
    TOO_BIG,
    TRY_AGAIN,
    AccessRefused,
    ProtocolError,
    RelayUnavailable,
)
from .hub import ENDED, Hub, Inbound
from .outlet import Outlet
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
    SetMedia,
    StartSegmentRequest,
    Welcomed,
    encode,
    over_limit,
    parse,
)
from .room import Joined, Member, Room, sent_after

log = logging.getLogger(__name__)
HUB = web.AppKey("signaling_hub", Hub)
SIGNAL_ROLES = (Role.HOST, Role.VENUE, Role.OBSERVER, Role.SIGNATORY, Role.RECORDER)
MAX_BAD_MESSAGES = 20
# aiohttp reads a whole frame up to this size and then our own check (MAX_FRAME) closes with 1009
# after the close handshake. At aiohttp's own limit it stops reading mid-frame and closes, and the
# unread rest makes the kernel reset the connection (the client may see 1006, not 1009).
TRANSPORT_LIMIT = 4 * MAX_FRAME
SMALL_FRAME = MAX_FRAME // 4  # characters: within the limit however they encode
Recorded = StartSegmentRequest | Admit  # commands that go through the ceremony's log

routes = web.RouteTableDef()


@dataclass
class Connection:
    ws: Inbound
    outlet: Outlet
    room: Room
    member: Member
    bad: int = 0


@routes.get("/api/ceremonies/{ceremony}/signal")
async def signal(request: web.Request) -> web.WebSocketResponse:
    # No permessage-deflate: signaling frames are small, and deflate costs ~100 KiB of memory
    # per connection and tens of microseconds per message (docs/benchmarks.md).
    ws = web.WebSocketResponse(max_msg_size=TRANSPORT_LIMIT, autoping=True, heartbeat=None, compress=False)
    await ws.prepare(request)
    hub = request.app[HUB]
    address = hub.address(request)
    if not hub.unwelcomed(address):
        await _close(ws, RATE_LIMITED, "too many connections from this address have not said hello yet")
        return ws
    try:
        greeted = await _greet(request, ws, hub)
    finally:
        hub.welcomed(address)
    if greeted is None:
        return ws
    invitation, outlet, first = greeted
    outlet.hello_at = hub.clock()
    ceremony = request.match_info["ceremony"]
    if hub.relay is not None and first is not None:
        # Several nodes: the room lives on one of them; this node may only carry the socket there.
        try:
            if await hub.relay.carry(ws, outlet, ceremony, invitation.id, first):
                await _finish(hub, invitation, outlet)
                return ws
        except RelayUnavailable as exc:
            outlet.close(TRY_AGAIN, exc.reason)
            await _finish(hub, invitation, outlet)
            return ws
    await run_session(hub, ws, outlet, ceremony, invitation, first)
    return ws


async def run_session(
    hub: Hub, ws: Inbound, outlet: Outlet, ceremony: str, invitation: Invitation, first: str | None
) -> None:
    """From the first frame (the hello, None: nothing usable came) to the socket's end, in this node's room.

    `ws` is the client's socket here, or (several nodes) one another node carries to this one.
    """
    try:
        hello = _hello_of(first, outlet) if first is not None else None
        connection = _join(hub, ws, outlet, ceremony, invitation, hello) if hello else None
        if connection is not None:
            try:
                await _serve(hub, connection)
            finally:
                _part(hub, connection)
    finally:
        await _finish(hub, invitation, outlet)


async def _greet(
    request: web.Request, ws: web.WebSocketResponse, hub: Hub
) -> tuple[Invitation, Outlet, str | None] | None:
    """The caller's invitation, the socket's outlet and its first text frame (None: the outlet is
    closing); None once closed."""
    opened = await _open(request, ws, hub)
    if opened is None:
        return None
    invitation, outlet = opened
    try:
        return invitation, outlet, await _first_frame(ws, hub, outlet)
    except BaseException:
        await _finish(hub, invitation, outlet)
        raise


async def _open(request: web.Request, ws: web.WebSocketResponse, hub: Hub) -> tuple[Invitation, Outlet] | None:
    """The caller's invitation (checked by the gate web hands in) and the socket's outlet; None once closed."""
    try:
        invitation = hub.gate(request, _wanted_roles(request))
        # The gate resolved the path's ceremony, so it exists.
        if hub.service.get(request.match_info["ceremony"]).phase is Phase.CANCELLED:
            raise AccessRefused(FORBIDDEN, "the ceremony was cancelled")
    except AccessRefused as exc:
        await _close(ws, exc.close_code, exc.reason)
        return None
    if hub.ready is not None and (why := await hub.ready()) is not None:
        # Its store or bus is away: this node takes no new socket (the balancer sends it elsewhere).
        # The health probe logs the reason once when it changes; a socket refused is not news.
        log.debug("refusing a signaling socket: %s", why)
        await _close(ws, TRY_AGAIN, "this server cannot take new connections now; reconnect")
        return None
    outlet = hub.open(invitation.id, ws, request.transport)
    if outlet is None:
        limit = hub.settings.sockets_per_link
        await _close(ws, RATE_LIMITED, f"this link has {limit} connections open already; close one first")
        return None
    return invitation, outlet


async def _finish(hub: Hub, invitation: Invitation, outlet: Outlet) -> None:
    hub.release(invitation.id, outlet)
    await outlet.finish()


async def _close(ws: web.WebSocketResponse, code: int, reason: str) -> None:
    with contextlib.suppress(ConnectionError):
        await ws.close(code=code, message=reason.encode()[:120])


def _wanted_roles(request: web.Request) -> tuple[Role, ...]:
    """`?role=venue` joins with that role's link when a browser holds several (host and venue)."""
    wanted = request.query.get("role")
    if wanted is None:
        return SIGNAL_ROLES
    matching = tuple(r for r in SIGNAL_ROLES if r.value == wanted)
    if not matching:
        raise AccessRefused(FORBIDDEN, f"'{wanted[:20]}' links cannot join the signaling room")
    return matching


def _join(
    hub: Hub, ws: Inbound, outlet: Outlet, ceremony: str, invitation: Invitation, hello: Hello
) -> Connection | None:
    """Into the room (a new session or a resumed one), welcomed and caught up; None if the link went meanwhile."""
    state = hub.service.get(ceremony)
    current = state.invitations.get(invitation.id)
    if current is None or not current.active or state.phase is Phase.CANCELLED:
        # Revoked (or cancelled) between the upgrade and the hello: the feed may not have caught up.
        outlet.close(FORBIDDEN, "this link was revoked" if state.phase is not Phase.CANCELLED else "cancelled")
        return None
    room = hub.room(ceremony)
    if hello.resume is not None and _overtaken(hub, room, outlet, hello.resume.session):
        # This socket waited (its room was moving to another node) while its client gave up on it
        # and opened another one, already resumed: that one stays, this one is closed.
        outlet.close(REPLACED, "a newer connection of this session is open")
        return None
    joined = room.join(
        role=invitation.role,
        invitation=invitation.id,
        venue=invitation.venue,
        name=_display_name(hub, state.definition, invitation),
        resume_session=hello.resume.session if hello.resume else None,
        last_seq=hello.resume.last_seq if hello.resume else 0,
        now=hub.clock(),
    )
    if joined.replaced:
        hub.replace(joined.member.peer)
    # Welcome, then everything the session missed, then live delivery: queued in this order with
    # nothing in between, so nothing is missed, repeated or overtaken.
    member = joined.member
    outlet.send(encode(_welcome(hub, room, joined, state)), bounded=False)
    for text in sent_after(member, joined.last_seq):
        outlet.send(text, bounded=False)
    hub.attach(member.peer, outlet)
    member.connected, member.disconnected_at = True, None
    hub.apply(joined.effects, room)
    return Connection(ws, outlet, room, member)


def _overtaken(hub: Hub, room: Room, outlet: Outlet, session: str) -> bool:
    """Whether the session is attached to a socket whose hello came after this one's."""
    member = room.session(session)
    attached = hub.sockets.get(member.peer) if member is not None else None
    return attached is not None and attached.hello_at > outlet.hello_at


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
    hub.detach(c.member.peer, c.outlet)
    current = c.room.members.get(c.member.peer)
    if current is c.member and hub.sockets.get(c.member.peer) is None:
        c.room.disconnected(c.member.peer, hub.clock())


async def _first_frame(ws: web.WebSocketResponse, hub: Hub, outlet: Outlet) -> str | None:
    """The socket's first text frame (to be its hello); None when it closed or must close."""
    try:
        first = await asyncio.wait_for(ws.receive(), hub.settings.hello_timeout)
    except TimeoutError:
        outlet.close(TIMEOUT, "send hello first, within the time limit")
        return None
    if outlet.closing or first.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
        return None  # closed by the hub (a revoked link) or by the client
    if first.type != WSMsgType.TEXT:
        outlet.close(PROTOCOL_VIOLATION, "the first message must be a hello text frame")
        return None
    if over_limit(first.data):
        outlet.close(TOO_BIG, f"frame over {MAX_FRAME} bytes")
        return None
    return str(first.data)


def _hello_of(first: str, outlet: Outlet) -> Hello | None:
    try:
        message = parse(first)
    except ProtocolError as exc:
        outlet.close(PROTOCOL_VIOLATION, f"bad hello: {exc.reason}")
        return None
    if not isinstance(message, Hello):
        outlet.close(PROTOCOL_VIOLATION, "the first message must be hello")
        return None
    return message


async def _serve(hub: Hub, c: Connection) -> None:
    # Every socket waits here for its next frame, and a young garbage collection walks the waits
    # of all sockets that spoke since the previous one (2,000 sockets: about 20,000 objects). So a
    # wait holds as little as it can: the frame just handled is not bound here (it would live until
    # the next one came), and receive() is awaited itself (`async for` adds a coroutine per wait).
    receive = c.ws.receive
    while True:
        step = _take(hub, c, await receive())
        if step is True:
            return
        if step is not False:
            try:
                await _record(hub, c, step)
            except ProtocolError as exc:
                _refuse(hub, c, exc, step.ref)


def _take(hub: Hub, c: Connection, frame: WSMessage) -> bool | Recorded:
    """One frame, checked, parsed and acted on: True when the connection is finished, False when
    done with; a command the ceremony's log must record is returned (`_record` awaits it)."""
    if frame.type in ENDED or c.outlet.closing:
        return True  # the client's close, or the hub's (revoked, replaced, ended, too far behind)
    now = hub.clock()
    if frame.type != WSMsgType.TEXT:
        if frame.type == WSMsgType.BINARY:
            _refuse(hub, c, ProtocolError("bad_message", "binary frames are not part of the protocol"), None)
        return False
    if len(frame.data) > SMALL_FRAME and over_limit(frame.data):
        c.outlet.close(TOO_BIG, f"frame over {MAX_FRAME} bytes")
        return True
    if not hub.take(c.member.invitation, now):
        c.outlet.close(RATE_LIMITED, "too many messages with this link; slow down")
        return True
    c.room.heard(c.member.peer, now)
    try:
        message = parse(frame.data)
    except ProtocolError as exc:
        _refuse(hub, c, exc, exc.ref)
        return False
    if c.member.peer not in c.room.members:
        return True  # ended, rejected or revoked meanwhile
    if isinstance(message, Recorded):
        return message
    try:
        return _act(hub, c, message)
    except ProtocolError as exc:
        _refuse(hub, c, exc, message.ref)
        return False


def _refuse(hub: Hub, c: Connection, exc: ProtocolError, ref: str | None) -> None:
    hub.apply(c.room.send(c.member.peer, Refused(code=exc.code, reason=exc.reason, ref=ref)), c.room)
    if exc.code == "bad_message":
        c.bad += 1
        if c.bad >= MAX_BAD_MESSAGES:
            c.outlet.close(PROTOCOL_VIOLATION, "too many malformed messages")


def _act(hub: Hub, c: Connection, message: ClientMessage) -> bool:
    """Act on one message the room decides alone; True when this connection is finished."""
    peer, room = c.member.peer, c.room
    match message:
        case Relay():
            hub.apply(room.relay(peer, message), room)
        case SetMedia(state):
            hub.apply(room.set_media(peer, state), room)
        case Ping(nonce):
            hub.deliver(peer, Ponged(nonce=nonce), room)
        case Pong():
            pass  # being heard is all a pong is for
        case Reject(target, reason):
            hub.apply(room.reject(peer, target, reason), room)
            _ack(hub, c, message.ref)
        case End(reason):
            hub.apply(room.end(peer, reason), room)
            return True
        case Leave():
            hub.apply(room.leave(peer, "left"), room)
            c.outlet.close(1000, "bye")
            return True
        case Hello():
            raise ProtocolError("bad_message", "hello was already received")
    return False


async def _record(hub: Hub, c: Connection, command: Recorded) -> None:
    """A command the ceremony's log records first, acknowledged once it is in."""
    room = c.room
    match command:
        case StartSegmentRequest(segment):
            if c.member.role is not Role.HOST:
                raise ProtocolError("forbidden", "only the host moves the run-of-show")
            await _execute(hub, room, StartSegment(segment=segment), _actor(c))
        case Admit(target):
            # Recorded in the log (venue.admitted) like an admission over HTTP; the room lets the
            # hall in when the event reaches it (hub._feed), and remembers it after a restart.
            await _execute(hub, room, AdmitVenue(venue=room.admission(c.member.peer, target)), _actor(c))
    _ack(hub, c, command.ref)


def _actor(c: Connection) -> str:
    """How the log names this member's doing: its link ("host:<invitation>")."""
    return f"{c.member.role.value}:{c.member.invitation}"


async def _execute(hub: Hub, room: Room, command: StartSegment | AdmitVenue, actor: str) -> None:
    try:
        await hub.service.execute(room.ceremony, command, actor)
    except CeremonyError as exc:
        raise ProtocolError("refused", str(exc)) from None


def _ack(hub: Hub, c: Connection, ref: str | None) -> None:
    hub.apply(c.room.send(c.member.peer, Acknowledged(ref=ref)), c.room)


def _display_name(hub: Hub, definition: CeremonyDefinition, invitation: Invitation) -> LocalizedText:
    """How the room shows a member: its hall's or signatory's name, else its role's (web's catalogue)."""
    if invitation.venue is not None and definition.has_venue(invitation.venue):
        return definition.venue(invitation.venue).name
    if invitation.signatory is not None and definition.has_signatory(invitation.signatory):
        return definition.signatory(invitation.signatory).name
    return hub.role_names[invitation.role]
