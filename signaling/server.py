"""The WebSocket edge: `GET /api/ceremonies/{ceremony}/signal` (docs/signaling.md).

Thin by design: check the capability, read frames, parse them in protocol.py,
let the room decide, let the hub deliver. Problems become `error` messages or
close codes; no exception from a client's input escapes this handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from ceremony.commands import StartSegment
from ceremony.errors import CeremonyError
from ceremony.events import Role
from ceremony.model import CeremonyDefinition, LocalizedText
from ceremony.state import Phase
from web.auth import require
from web.errors import Forbidden, NotFound, Unauthenticated, WebError
from web.views import summary

from .errors import (
    FORBIDDEN,
    NO_CEREMONY,
    PROTOCOL_VIOLATION,
    RATE_LIMITED,
    TIMEOUT,
    UNAUTHENTICATED,
    ProtocolError,
)
from .hub import Hub
from .protocol import (
    MAX_FRAME,
    Admit,
    ClientMessage,
    End,
    Hello,
    Leave,
    Ping,
    Pong,
    Reject,
    Relay,
    Stage,
    encode,
    parse,
)
from .room import Member, Room

log = logging.getLogger(__name__)
HUB = web.AppKey("signaling_hub", Hub)
SIGNAL_ROLES = (Role.HOST, Role.VENUE, Role.OBSERVER, Role.SIGNATORY)
MAX_BAD_MESSAGES = 20
HOST_NAME = LocalizedText("주최자", "主办方", "Host")
OBSERVER_NAME = LocalizedText("참관인", "观察员", "Observer")

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
    try:
        principal = require(request, _wanted_roles(request))
        _check_ws_origin(request)
    except NotFound as exc:
        await ws.close(code=NO_CEREMONY, message=exc.reason.encode()[:120])
        return ws
    except Unauthenticated as exc:
        await ws.close(code=UNAUTHENTICATED, message=exc.reason.encode()[:120])
        return ws
    except WebError as exc:
        await ws.close(code=FORBIDDEN, message=exc.reason.encode()[:120])
        return ws
    assert principal.invitation is not None and principal.ceremony is not None
    hub = request.app[HUB]
    if hub.service.get(principal.ceremony).phase is Phase.CANCELLED:
        await ws.close(code=FORBIDDEN, message=b"the ceremony was cancelled")
        return ws
    hello = await _read_hello(ws, hub)
    if hello is None:
        return ws
    state = hub.service.get(principal.ceremony)
    invitation = principal.invitation
    name = _display_name(state.definition, invitation.role, invitation.venue, invitation.signatory)
    room = hub.room(principal.ceremony)
    now = hub.clock()
    joined = room.join(
        role=invitation.role,
        invitation=invitation.id,
        venue=invitation.venue,
        name=name,
        resume_session=hello.resume.session if hello.resume else None,
        last_seq=hello.resume.last_seq if hello.resume else 0,
        now=now,
    )
    member = joined.member
    if joined.replaced:
        await hub.replace(member.peer)
    welcome = {
        "type": "welcome",
        "session": member.session,
        "peer": member.peer,
        "role": member.role.value,
        "venue": member.venue,
        "admitted": member.admitted,
        "resumed": joined.resumed,
        "ice_servers": hub.settings.ice.for_peer(member.peer, time.time()),
        "peers": room.peers_for(member),
        "ceremony": summary(state),
        "heartbeat": {"interval": hub.settings.heartbeat_interval, "timeout": hub.settings.heartbeat_timeout},
    }
    await _catch_up(hub, ws, member, welcome, joined.last_seq)
    await hub.apply(joined.effects)
    connection = Connection(ws, room, member, TokenBucket(hub.settings.rate_per_second, hub.settings.rate_burst, now))
    try:
        await _serve(hub, connection)
    finally:
        hub.detach(member.peer, ws)
        current = room.members.get(member.peer)
        if current is member and hub.sockets.get(member.peer) is None:
            room.disconnected(member.peer, hub.clock())
    return ws


def _wanted_roles(request: web.Request) -> tuple[Role, ...]:
    """`?role=venue` joins with that role's link when a browser holds several (host and venue)."""
    wanted = request.query.get("role")
    if wanted is None:
        return SIGNAL_ROLES
    matching = tuple(r for r in SIGNAL_ROLES if r.value == wanted)
    if not matching:
        raise Forbidden(f"'{wanted[:20]}' links cannot join the signaling room")
    return matching


def _check_ws_origin(request: web.Request) -> None:
    """Cookie-authenticated sockets must come from our own pages (cross-site WebSocket hijacking)."""
    if request.headers.get("Authorization"):
        return
    origin = request.headers.get("Origin")
    if origin is None:
        return
    proto = request.headers.get("X-Forwarded-Proto", request.scheme)
    if origin not in (f"{request.scheme}://{request.host}", f"{proto}://{request.host}"):
        raise Forbidden("cross-site connection refused")


async def _catch_up(hub: Hub, ws: web.WebSocketResponse, member: Member, welcome: dict[str, Any], seen: int) -> None:
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
    error: dict[str, object] = {"type": "error", "code": exc.code, "reason": exc.reason}
    if ref:
        error["ref"] = ref
    await hub.apply(c.room.send(c.member.peer, error))
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
            await c.ws.send_str(encode({"type": "pong", "nonce": nonce}))
        case Pong():
            pass  # being heard is all a pong is for
        case Stage(segment):
            if c.member.role is not Role.HOST:
                raise ProtocolError("forbidden", "only the host can change the stage")
            try:
                await hub.service.execute(room.ceremony, StartSegment(segment), f"host:{c.member.invitation}")
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
    message: dict[str, object] = {"type": "ack"}
    if ref:
        message["ref"] = ref
    await hub.apply(c.room.send(c.member.peer, message))


def _display_name(
    definition: CeremonyDefinition, role: Role, venue: str | None, signatory: str | None
) -> LocalizedText:
    if venue is not None and definition.has_venue(venue):
        return definition.venue(venue).name
    if signatory is not None and definition.has_signatory(signatory):
        return definition.signatory(signatory).name
    return HOST_NAME if role is Role.HOST else OBSERVER_NAME
