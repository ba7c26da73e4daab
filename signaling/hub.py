"""The asyncio shell around rooms: sockets, the ceremony log feed, heartbeats.

Rooms decide; the hub delivers. One task per room follows the ceremony's log
and pushes each event to the members, shaped per role; one ticker drives
heartbeats and session expiry for every room.

What belongs to the layer above (web/) is handed in, never imported: the
`view` that shapes a ceremony event per role, the `gate` that checks a
socket's capability, and the `summary` of a ceremony for the welcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ceremony.events import CeremonyCancelled, Envelope, InvitationRevoked, Role
from ceremony.model import LocalizedText
from ceremony.runtime.service import CeremonyService
from ceremony.state import CeremonyState, Invitation

from .errors import REPLACED
from .ice import IceConfig
from .protocol import CeremonyUpdated, Pinged, ServerMessage, encode
from .room import Effects, Room

log = logging.getLogger(__name__)
Clock = Callable[[], float]
TICK_SECONDS = 1.0  # at most; shorter when the heartbeat interval is shorter


@dataclass(frozen=True, slots=True)
class SignalSettings:
    ice: IceConfig = field(default_factory=IceConfig)
    heartbeat_interval: float = 10.0
    heartbeat_timeout: float = 30.0
    resume_window: float = 60.0
    hello_timeout: float = 10.0
    rate_per_second: float = 50.0
    rate_burst: float = 200.0


# One ceremony event as the `ceremony` message each role may see (None: that role may not).
EventView = Callable[[Envelope], Mapping[Role, CeremonyUpdated | None]]
# The invitation a socket's request holds, among these roles, for the ceremony in its path;
# or errors.AccessRefused with the close code (NO_CEREMONY, UNAUTHENTICATED, FORBIDDEN) and reason.
Gate = Callable[[web.Request, tuple[Role, ...]], Invitation]
# A ceremony as the welcome's `ceremony` field shows it.
Summary = Callable[[CeremonyState], Mapping[str, Any]]


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
        clock: Clock = time.monotonic,
    ):
        self.service = service
        self.settings = settings
        self.gate = gate
        self.summary = summary
        self.role_names = role_names  # a host's or observer's name in the room, from web's catalogue
        self.clock = clock
        self._view = view
        self.rooms: dict[str, Room] = {}
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self._last_ping: dict[str, float] = {}
        self._feeds: dict[str, asyncio.Task[None]] = {}
        self._admitted: dict[str, set[str]] = {}  # per ceremony, outlives its room
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_forever())

    async def close(self) -> None:
        tasks = [t for t in (self._ticker, *self._feeds.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for ws in list(self.sockets.values()):
            await ws.close(code=1001, message=b"server shutting down")

    def room(self, ceremony: str) -> Room:
        room = self.rooms.get(ceremony)
        if room is None:
            admitted = self._admitted.setdefault(ceremony, set())
            room = self.rooms[ceremony] = Room(ceremony, self.settings.resume_window, admitted)
            self._feeds[ceremony] = asyncio.create_task(self._feed(room, self.service.get(ceremony).seq))
        return room

    def attach(self, peer: str, ws: web.WebSocketResponse) -> None:
        self.sockets[peer] = ws
        self._last_ping[peer] = self.clock()

    async def replace(self, peer: str) -> None:
        """A session resumed elsewhere: close the socket that still held it."""
        ws = self.sockets.pop(peer, None)
        self._last_ping.pop(peer, None)
        if ws is not None:
            with contextlib.suppress(ConnectionError):
                await ws.close(code=REPLACED, message=b"this session was resumed on another connection")

    def detach(self, peer: str, ws: web.WebSocketResponse) -> None:
        if self.sockets.get(peer) is ws:
            del self.sockets[peer]
            self._last_ping.pop(peer, None)

    async def apply(self, effects: Effects) -> None:
        for peer, message in effects.send:
            await self.deliver(peer, message)
        for close in effects.close:
            ws = self.sockets.pop(close.peer, None)
            if ws is not None:
                with contextlib.suppress(ConnectionError):
                    await ws.close(code=close.code, message=close.reason.encode()[:120])

    async def deliver(self, peer: str, message: ServerMessage | Mapping[str, Any]) -> None:
        ws = self.sockets.get(peer)
        if ws is None or ws.closed:
            return  # kept in the session's outbox for resume
        # On a broken socket the reader side notices and marks the session disconnected.
        with contextlib.suppress(ConnectionError):
            await ws.send_str(encode(message))

    async def _feed(self, room: Room, after: int) -> None:
        """Push every new event of the ceremony to the room, shaped per role."""
        try:
            async with self.service.follow(room.ceremony, after) as follower:
                while (envelope := await follower.next()) is not None:
                    effects = room.broadcast(self._view(envelope))
                    if isinstance(envelope.event, InvitationRevoked):
                        effects.extend(room.revoked(envelope.event.invitation))
                    elif isinstance(envelope.event, CeremonyCancelled):
                        effects.extend(room.close_all("the ceremony was cancelled"))
                    await self.apply(effects)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the log feed of room %s stopped", room.ceremony)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(min(TICK_SECONDS, self.settings.heartbeat_interval / 2))
            try:
                await self.tick()
            except Exception:
                log.exception("signaling tick failed")

    async def tick(self) -> None:
        now = self.clock()
        for ceremony, room in list(self.rooms.items()):
            await self.apply(room.tick(now, self.settings.heartbeat_timeout))
            for peer, member in room.members.items():
                if member.connected and now - self._last_ping.get(peer, now) >= self.settings.heartbeat_interval:
                    self._last_ping[peer] = now
                    await self.deliver(peer, Pinged(nonce=f"{now:.3f}"))
            if room.empty:
                del self.rooms[ceremony]
                self._feeds.pop(ceremony).cancel()
