"""The asyncio shell around rooms: sockets, the ceremony log feed, heartbeats, limits.

Rooms decide; the hub delivers. One task per room follows the ceremony's log
and pushes each event to the members, shaped per role; one ticker drives
heartbeats and session expiry for every room. Delivery only queues: each
socket has its own bounded queue and writer (outlet.py), so no shared path
(a relay, the feed, the ticker) ever waits for one socket, and a socket whose
queue is full is dropped like one whose heartbeat lapsed.

Limits belong to the link (invitation), not the socket: its message budget (a
token bucket on the hub's clock) survives reconnects and resumes, and it may
hold only so many sockets at once. Sockets that have not said hello yet are
capped per client address.

What belongs to the layer above (web/) is handed in, never imported: the
`view` that shapes a ceremony event per role, the `gate` that checks a
socket's capability, and the `summary` of a ceremony for the welcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSMessage, WSMsgType, web

from ceremony.events import CeremonyCancelled, Envelope, InvitationRevoked, Role, VenueAdmitted
from ceremony.limits import TokenBucket
from ceremony.model import LocalizedText
from ceremony.runtime.service import CeremonyService
from ceremony.state import CeremonyState, Invitation

from .errors import FORBIDDEN, REPLACED, TIMEOUT
from .ice import IceConfig
from .outlet import Outlet, Socket, Transport
from .protocol import CeremonyUpdated, Pinged, ServerMessage, encode
from .room import Effects, Member, Room

log = logging.getLogger(__name__)
Clock = Callable[[], float]
TICK_SECONDS = 1.0  # at most; shorter when the heartbeat interval is shorter
TICK_SLICE = 100  # rooms a tick walks before it lets the loop serve sockets again
SHUTDOWN_SECONDS = 2.0  # for the sockets' close frames when the server stops


@dataclass(frozen=True, slots=True)
class SignalSettings:
    ice: IceConfig = field(default_factory=IceConfig)
    heartbeat_interval: float = 10.0
    heartbeat_timeout: float = 30.0
    resume_window: float = 60.0
    hello_timeout: float = 10.0
    rate_per_second: float = 50.0  # messages per link, sustained ...
    rate_burst: float = 200.0  # ... and in a burst
    sockets_per_link: int = 4  # at once: a reload and a second screen fit
    unwelcomed_per_address: int = 64  # sockets of one client address that have not said hello yet
    send_queue: int = 1024  # frames waiting for one socket before it is dropped ...
    send_queue_size: int = 4 << 20  # ... or characters (a lone frame bigger than this is still sent)
    close_grace: float = 1.0  # seconds a close may take to get out before the connection is cut


# One ceremony event as the `ceremony` message each role may see (None: that role may not).
EventView = Callable[[Envelope], Mapping[Role, CeremonyUpdated | None]]
# The invitation a socket's request holds, among these roles, for the ceremony in its path;
# or errors.AccessRefused with the close code (NO_CEREMONY, UNAUTHENTICATED, FORBIDDEN) and reason.
Gate = Callable[[web.Request, tuple[Role, ...]], Invitation]
# A ceremony as the welcome's `ceremony` field shows it.
Summary = Callable[[CeremonyState], Mapping[str, Any]]
# The client address a request counts against (web knows which proxies to believe).
Address = Callable[[web.Request], str]


# Why this node should take no new socket now (its store or bus is away), or None.
Ready = Callable[[], Awaitable[str | None]]


# What Inbound.receive returns once a socket is going or gone: its reader stops there.
ENDED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED)


class Inbound(Socket, Protocol):
    """What a session reads from: the client's WebSocket, or one another node carries (relay.py)."""

    async def receive(self) -> WSMessage:
        """The next frame; CLOSE, CLOSING or CLOSED once the socket is going or gone."""


class Router(Protocol):
    """Several nodes (relay.py): each ceremony's room lives on one node, which the others carry sockets to."""

    node: str

    async def carry(
        self, ws: web.WebSocketResponse, outlet: Outlet, ceremony: str, invitation: str, first: str
    ) -> bool:
        """Carry the socket to the room's node until it ends (True); False when the room is this node's."""
        ...


def direct_peer(request: web.Request) -> str:
    return request.remote or ""


class Hub:
    def __init__(
        self,
        service: CeremonyService,
        settings: SignalSettings,
        view: EventView,
        *,
        gate: Gate,
        summary: Summary,
        role_names: Mapping[Role, LocalizedText],
        address: Address = direct_peer,
        clock: Clock = time.monotonic,
        ready: Ready | None = None,
    ):
        self.service = service
        self.settings = settings
        self.gate = gate
        self.summary = summary
        self.address = address
        self.role_names = role_names  # a host's or observer's name in the room, from web's catalogue
        self.clock = clock
        self.ready = ready
        self.relay: Router | None = None  # several nodes: set by relay.NodeRelay
        self._view = view
        self.rooms: dict[str, Room] = {}
        self.sockets: dict[str, Outlet] = {}  # peer -> the socket its session is attached to
        self._links: dict[str, set[Outlet]] = {}  # invitation -> its open sockets, welcomed or not
        self._buckets: dict[str, TokenBucket] = {}  # invitation -> its message budget
        self._unwelcomed: dict[str, int] = {}  # client address -> sockets that have not said hello
        self._heartbeat_at: dict[str, float] = {}  # peer -> when its heartbeat was last due
        self._feeds: dict[str, asyncio.Task[None]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_forever())

    async def close(self) -> None:
        """Stop the feeds and the ticker; every socket gets 1001 (at most SHUTDOWN_SECONDS for them all)."""
        if self._closed:
            return
        self._closed = True
        tasks = [t for t in (self._ticker, *self._feeds.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        outlets = [o for sockets in self._links.values() for o in sockets]
        for outlet in outlets:
            outlet.close(1001, "server shutting down")
        if outlets:
            await asyncio.wait([asyncio.ensure_future(o.finish()) for o in outlets], timeout=SHUTDOWN_SECONDS)

    def room(self, ceremony: str) -> Room:
        room = self.rooms.get(ceremony)
        if room is None:
            room = self.adopt(ceremony, (), None)
        return room

    def adopt(self, ceremony: str, members: Iterable[Member], fed: int | None) -> Room:
        """The ceremony's room, with sessions another node kept (relay.py) and its log feed from `fed`.

        The feed starts where the room's members were last told (`fed`), so what the old node had
        not pushed yet reaches them; None: from the log's end (a new room).
        """
        state = self.service.get(ceremony)
        room = self.rooms[ceremony] = Room(ceremony, self.settings.resume_window, state.admitted_venues)
        room.restore(members)
        room.fed = state.seq if fed is None else min(fed, state.seq)
        self._feeds[ceremony] = asyncio.create_task(self._feed(room, room.fed))
        return room

    def evict(self, ceremony: str, code: int, reason: str) -> None:
        """The room moved to another node: close its sockets here (they reconnect there), keep no state."""
        room = self.rooms.pop(ceremony, None)
        feed = self._feeds.pop(ceremony, None)
        if feed is not None:
            feed.cancel()
        for peer in list(room.members) if room is not None else ():
            outlet = self.sockets.pop(peer, None)
            self._heartbeat_at.pop(peer, None)
            if outlet is not None:
                outlet.close(code, reason)

    # ---- sockets and their limits ----

    def unwelcomed(self, address: str) -> bool:
        """Count a new socket from `address` until it has said hello; False when too many already wait."""
        waiting = self._unwelcomed.get(address, 0)
        if waiting >= self.settings.unwelcomed_per_address:
            return False
        self._unwelcomed[address] = waiting + 1
        return True

    def welcomed(self, address: str) -> None:
        """That socket said hello (or went away)."""
        waiting = self._unwelcomed.get(address, 0) - 1
        if waiting > 0:
            self._unwelcomed[address] = waiting
        else:
            self._unwelcomed.pop(address, None)

    def open(self, invitation: str, ws: Socket, transport: Transport | None) -> Outlet | None:
        """A socket of this link, with its outlet; None when the link holds its limit of sockets."""
        sockets = self._links.setdefault(invitation, set())
        if len(sockets) >= self.settings.sockets_per_link:
            return None
        settings = self.settings
        outlet = Outlet(
            ws, transport, limit=settings.send_queue, size=settings.send_queue_size, grace=settings.close_grace
        )
        sockets.add(outlet)
        return outlet

    def release(self, invitation: str, outlet: Outlet) -> None:
        sockets = self._links.get(invitation)
        if sockets is not None:
            sockets.discard(outlet)
            if not sockets:
                del self._links[invitation]

    def take(self, invitation: str, now: float) -> bool:
        """One message of this link's budget (shared by its sockets, kept across reconnects)."""
        bucket = self._buckets.get(invitation)
        if bucket is None:
            bucket = self._buckets[invitation] = TokenBucket(
                self.settings.rate_per_second, self.settings.rate_burst, now
            )
        return bucket.take(now) == 0.0

    def close_link(self, invitation: str, code: int, reason: str) -> None:
        """Every socket of a link, welcomed or not (a revoked link)."""
        for outlet in list(self._links.get(invitation, ())):
            outlet.close(code, reason)

    def attach(self, peer: str, outlet: Outlet) -> None:
        self.sockets[peer] = outlet
        self._heartbeat_at[peer] = self.clock()

    def replace(self, peer: str) -> None:
        """A session resumed elsewhere: close the socket that still held it."""
        outlet = self.sockets.pop(peer, None)
        self._heartbeat_at.pop(peer, None)
        if outlet is not None:
            outlet.close(REPLACED, "this session was resumed on another connection")

    def detach(self, peer: str, outlet: Outlet) -> None:
        if self.sockets.get(peer) is outlet:
            del self.sockets[peer]
            self._heartbeat_at.pop(peer, None)

    # ---- delivery: queue only ----

    def apply(self, effects: Effects, room: Room) -> None:
        """Deliver `room`'s effects (sends, then closes); a socket too far behind is dropped and its peers hear it."""
        behind: list[str] = []
        sockets = self.sockets
        for peer, text in effects.send:
            outlet = sockets.get(peer)  # none: not connected, and the session's outbox keeps it for resume
            if outlet is not None and not outlet.send(text):
                behind.append(peer)
        for close in effects.close:
            outlet = sockets.pop(close.peer, None)
            self._heartbeat_at.pop(close.peer, None)
            if outlet is not None:
                outlet.close(close.code, close.reason)
        for peer in behind:
            self.apply(self._drop(room, peer), room)

    def deliver(self, peer: str, message: ServerMessage | Mapping[str, Any], room: Room) -> None:
        """One message outside the room's sequence (ping, pong)."""
        self._deliver_text(peer, encode(message), room)

    def _deliver_text(self, peer: str, text: str, room: Room) -> None:
        outlet = self.sockets.get(peer)
        if outlet is not None and not outlet.send(text):
            self.apply(self._drop(room, peer), room)

    def _drop(self, room: Room, peer: str) -> Effects:
        """The peer's socket has `send_queue` frames waiting: close it; its session may resume."""
        log.info("dropping peer %s of %s: %d frames wait for it", peer, room.ceremony, self.settings.send_queue)
        why = "too far behind: reconnect and resume"
        outlet = self.sockets.pop(peer, None)
        self._heartbeat_at.pop(peer, None)
        if outlet is not None:
            outlet.close(TIMEOUT, why)
        return room.drop(peer, self.clock(), code=TIMEOUT, why=why, reason="slow")

    # ---- the log feed and the ticker ----

    async def _feed(self, room: Room, after: int) -> None:
        """Push every new event of the ceremony to the room, shaped per role."""
        try:
            async with self.service.follow(room.ceremony, after) as follower:
                while (envelope := await follower.next()) is not None:
                    event = envelope.event
                    effects = room.broadcast(self._view(envelope))
                    room.fed = envelope.seq
                    if isinstance(event, VenueAdmitted):
                        effects.extend(room.venue_admitted(event.venue))
                    elif isinstance(event, InvitationRevoked):
                        effects.extend(room.revoked(event.invitation))
                    elif isinstance(event, CeremonyCancelled):
                        effects.extend(room.close_all("the ceremony was cancelled"))
                    self.apply(effects, room)
                    if isinstance(event, InvitationRevoked):
                        # Its sockets that have not said hello yet, too.
                        self.close_link(event.invitation, FORBIDDEN, "this link was revoked")
                    # Events can come in a batch (another process's appends); let the sockets' writers
                    # take each one before the next, so that a batch is not mistaken for a slow reader.
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the log feed of room %s stopped", room.ceremony)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_seconds())
            try:
                await self.tick()
            except Exception:
                log.exception("signaling tick failed")

    def _tick_seconds(self) -> float:
        return min(TICK_SECONDS, self.settings.heartbeat_interval / 2)

    async def tick(self) -> None:
        """Heartbeats and expiry for every room; it never waits for a socket.

        In slices of TICK_SLICE rooms, with the loop's other work between them: with a thousand
        rooms, one pass over them all (and the pings due) was a stall every socket felt
        (docs/benchmarks.md, issue 15). The ping due at this tick is encoded once for all.

        A peer is pinged once an interval unless frames went both ways in it: heard from, it is
        alive; sent to, its client heard the server. A client may then hear nothing for two
        intervals and a tick, so busy peers go unpinged only when `heartbeat_timeout` (its
        watchdog's) is longer than that. Pinging busy peers too made a tick's pongs come back
        at once, hundreds together: stalls of 20-40 ms with 2,000 peers.
        """
        now = self.clock()
        interval = self.settings.heartbeat_interval
        skip_busy = 2 * interval + self._tick_seconds() < self.settings.heartbeat_timeout
        ping: str | None = None
        for n, (ceremony, room) in enumerate(list(self.rooms.items()), 1):
            if n % TICK_SLICE == 0:
                await asyncio.sleep(0)
            if self.rooms.get(ceremony) is not room:
                continue  # it moved to another node, or emptied and went, while the loop served others
            self.apply(room.tick(now, self.settings.heartbeat_timeout), room)
            for peer, member in list(room.members.items()):
                if member.connected and now - self._heartbeat_at.get(peer, now) >= interval:
                    self._heartbeat_at[peer] = now
                    outlet = self.sockets.get(peer)
                    if outlet is None:
                        continue
                    both_ways = outlet.sent_any and now - member.last_heard < interval
                    if not (skip_busy and both_ways):
                        ping = ping or encode(Pinged(nonce=f"{now:.3f}"))
                        self._deliver_text(peer, ping, room)
                    outlet.sent_any = False
            if room.empty:
                del self.rooms[ceremony]
                self._feeds.pop(ceremony).cancel()
