"""Several nodes: each ceremony's room lives on one node, and the others carry sockets to it.

This is LiveKit's routing, on our Redis bus (ceremony.runtime.bus). A node that takes a room
holds a lease on it (`room:<id>:owner`, renewed every lease/3). A socket that reaches any
other node is gated there, then carried: its frames are published to the owner's channel,
where a `Carried` socket feeds them to the very same session code a local socket runs
(server.run_session), and what that session sends comes back on the carrying node's channel.
So the room, its sequence numbers, its limits and its heartbeats stay in one place, and a venue
on one node and a venue on another see each other exactly as on one node.

The owner writes its rooms' sessions to the bus a few times a second (room_codec.py). When it
dies its lease lapses; the next socket for that ceremony, on whichever node, claims the room,
reads the sessions back and the clients resume there. Sockets other nodes were carrying to the
dead owner are closed with 1012 (MOVED) as soon as the lease names another node or none, so
that they reconnect too. A node whose subscription to the bus broke (Redis restarted) may have
missed frames: it closes every socket it carries or is carried with 1012, and they resume.

Between nodes a message is `kind|conn|payload` on the receiving node's channel:
  o  open   carrier -> owner  payload: JSON {origin, ceremony, invitation, first}
  a  ack    owner -> carrier  payload: "1" (the session runs) or "0" (not the owner: route again)
  f  frame  carrier -> owner  payload: the client's text frame
  b  binary carrier -> owner  (a binary frame; the protocol refuses it)
  g  gone   carrier -> owner  the client's socket closed
  s  send   owner -> carrier  payload: a text frame for the client
  x  close  owner -> carrier  payload: "code|reason"
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMessage, WSMsgType, web
from redis.exceptions import RedisError

from ceremony.runtime.bus import Bus

from .errors import FORBIDDEN, MOVED, RATE_LIMITED, TIMEOUT, RelayUnavailable
from .hub import ENDED, Hub
from .outlet import Outlet
from .room import Room, sent_after
from .room_codec import member_from, member_text, renumbered, standing
from .server import run_session

log = logging.getLogger(__name__)

LEASE_SECONDS = 3.0  # a dead owner's rooms are free again this long after its last renewal
OPEN_SECONDS = 1.0  # an owner that does not answer an open within this is taken for dead
ROUTE_SECONDS = 6.0  # a socket waits at most this long for its room to have a live owner (a lease and more)
WRITE_SECONDS = 0.25  # how often an owner writes its rooms' sessions to the bus
_RENEW = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_CLOSED = WSMessage(WSMsgType.CLOSED, None, None)


@dataclass
class _Carrying:
    """A socket this node carries to another node's room."""

    owner: str
    ceremony: str
    outlet: Outlet
    answered: asyncio.Future[bool]
    cut: bool = False


@dataclass
class _Written:
    """What the bus holds of one member, as this node last wrote it."""

    standing: tuple[object, ...]
    seq: int  # outbox messages up to this seq are on the bus


class Carried:
    """The owner's end of a socket another node carries: a WebSocket to the session code (hub.Inbound)."""

    def __init__(self, relay: NodeRelay, conn: str, origin: str) -> None:
        self._relay = relay
        self._conn = conn
        self._origin = origin
        self._inbox: asyncio.Queue[WSMessage] = asyncio.Queue()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if self._closed:
            raise ConnectionResetError("the carried socket is closed")
        self._relay.publish(self._origin, "s", self._conn, data)

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        if self._closed:
            return False
        self._relay.publish(self._origin, "x", self._conn, f"{code}|{message.decode(errors='replace')}")
        self.gone()
        return True

    def feed(self, message: WSMessage) -> None:
        if not self._closed:
            self._inbox.put_nowait(message)

    def gone(self) -> None:
        """The client's socket (or the way to it) is gone: the session's reader ends."""
        if not self._closed:
            self._closed = True
            self._inbox.put_nowait(_CLOSED)

    async def receive(self) -> WSMessage:
        return await self._inbox.get()  # CLOSED last, once gone


class NodeRelay:
    """This node's part in routing rooms (hub.Router): leases, the channel, carried sockets."""

    def __init__(
        self, bus: Bus, hub: Hub, *, lease: float = LEASE_SECONDS, clock: Callable[[], float] = time.monotonic
    ):
        self.bus = bus
        self.hub = hub
        self.node = bus.node
        self.lease = lease
        self.clock = clock
        self._owned: dict[str, asyncio.Future[None]] = {}  # ceremony -> set once its room is ready here
        self._carrying: dict[str, _Carrying] = {}  # conn -> a socket this node carries elsewhere
        self._carried: dict[str, Carried] = {}  # conn -> a socket another node carries here
        self._sessions: set[asyncio.Task[None]] = set()
        # ceremony -> carried sessions opened here and not ended: their room must not be handed
        # back while one waits to join it (the hub makes the room when the session joins).
        self._using: dict[str, int] = {}
        self._written: dict[str, dict[str, _Written]] = {}  # ceremony -> peer -> what the bus holds
        self._outgoing: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._listening = asyncio.Event()
        self._ever_listened = False
        self._claims_from = 0.0  # no claim before this (clock): after the bus came back, owners re-assert first
        self._tasks: list[asyncio.Task[None]] = []
        self._renew = bus.redis.register_script(_RENEW)
        self._release = bus.redis.register_script(_RELEASE)

    # ---- keys ----

    def _owner_key(self, ceremony: str) -> str:
        return self.bus.key("room", ceremony, "owner")

    def _state_key(self, ceremony: str) -> str:
        return self.bus.key("room", ceremony, "sessions")

    def _outbox_key(self, ceremony: str, peer: str) -> str:
        return self.bus.key("room", ceremony, "outbox", peer)

    def _channel(self, node: str) -> str:
        return self.bus.key("node", node)

    @property
    def _ttl_ms(self) -> int:
        """Sessions outlive their room's node by the resume window (and the lease it takes to notice)."""
        return int((self.hub.settings.resume_window + self.lease) * 1000)

    # ---- life ----

    async def start(self) -> None:
        self.hub.relay = self
        self._tasks = [
            asyncio.create_task(self._listen(), name="relay listener"),
            asyncio.create_task(self._publish_forever(), name="relay publisher"),
            asyncio.create_task(self._keep_forever(), name="relay leases"),
            asyncio.create_task(self._write_forever(), name="relay sessions"),
        ]
        # Sockets arrive only once this node hears its channel (else answers to its opens are lost).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 5.0)

    async def close(self) -> None:
        """Hand the rooms back at once (the next node need not wait for the leases to lapse)."""
        try:
            await self._write_all()
            for ceremony in list(self._owned):
                await self._release(keys=[self._owner_key(ceremony)], args=[self.node])
        except (RedisError, OSError) as exc:
            log.warning("handing the rooms back failed (%s); their leases lapse instead", exc)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.hub.relay = None

    # ---- routing a socket ----

    async def carry(
        self, ws: web.WebSocketResponse, outlet: Outlet, ceremony: str, invitation: str, first: str
    ) -> bool:
        deadline = self.clock() + ROUTE_SECONDS
        while True:
            owner = await self._route(ceremony)
            ready = self._owned.get(ceremony)
            if owner == self.node and ready is not None:
                await ready
                if ceremony in self._owned:  # not given up (the bus failed while it was read back)
                    return False
                continue
            if await self._carry_to(owner, ws, outlet, ceremony, invitation, first):
                return True
            if self.clock() >= deadline:
                raise RelayUnavailable("the ceremony's room has no live server now; reconnect")
            await asyncio.sleep(self.lease / 6)

    async def _route(self, ceremony: str) -> str:
        """The node that hosts the ceremony's room: this one if it is free (claimed, and read back)."""
        for _ in range(100):
            if ceremony in self._owned:
                return self.node
            if not self._listening.is_set():
                raise RelayUnavailable("this server lost its bus; reconnect")
            key = self._owner_key(ceremony)
            try:
                if self.clock() < self._claims_from:
                    # Redis came back (perhaps empty): the room's owner renews its lease within lease/3;
                    # claiming it first would split the room in two.
                    owner = await self.bus.redis.get(key)
                    if owner is None:
                        await asyncio.sleep(self.lease / 6)
                        continue
                elif await self.bus.redis.set(key, self.node, nx=True, px=int(self.lease * 1000)):
                    await self._claimed(ceremony)
                    return self.node
                else:
                    owner = await self.bus.redis.get(key)
            except (RedisError, OSError) as exc:
                raise RelayUnavailable(f"the bus does not answer ({type(exc).__name__}); reconnect") from exc
            if owner is not None and _text(owner) != self.node:
                return _text(owner)
            # Released meanwhile (by its node, or by this one handing an empty room back): again.
            await asyncio.sleep(0.05)
        raise RelayUnavailable("the ceremony's room is changing servers; reconnect")

    async def _claimed(self, ceremony: str) -> None:
        ready = self._owned[ceremony] = asyncio.get_running_loop().create_future()
        try:
            await self._take_over(ceremony)
        except (RedisError, OSError) as exc:
            del self._owned[ceremony]
            with contextlib.suppress(RedisError, OSError):
                await self._release(keys=[self._owner_key(ceremony)], args=[self.node])
            raise RelayUnavailable(f"the bus does not answer ({type(exc).__name__}); reconnect") from exc
        finally:
            ready.set_result(None)

    async def _take_over(self, ceremony: str) -> None:
        """Read the sessions the room's previous node kept, and open the room with them."""
        if ceremony in self.hub.rooms:
            return
        redis = self.bus.redis
        kept = await redis.hgetall(self._state_key(ceremony))
        fed = kept.pop(b"fed", None)
        now = self.hub.clock()
        members = []
        written: dict[str, _Written] = {}
        peers = [_text(field) for field in kept]
        async with redis.pipeline(transaction=False) as pipe:  # one round trip for every outbox
            for peer in peers:
                pipe.lrange(self._outbox_key(ceremony, peer), 0, -1)
            outboxes = await pipe.execute()
        for peer, text, outbox in zip(peers, kept.values(), outboxes, strict=True):
            member = member_from(_text(text), [_text(t) for t in outbox], now)
            members.append(member)
            written[peer] = _Written(standing(member), member.next_seq - 1)
        self._written[ceremony] = written
        self.hub.adopt(ceremony, members, int(fed) if fed is not None else None)
        if members:
            log.info("room %s taken over with %d sessions to resume", ceremony, len(members))

    async def _carry_to(
        self, owner: str, ws: web.WebSocketResponse, outlet: Outlet, ceremony: str, invitation: str, first: str
    ) -> bool:
        """Carry one socket to `owner` until it closes (True); False when the owner did not take it."""
        conn = secrets.token_hex(8)
        carrying = _Carrying(owner, ceremony, outlet, asyncio.get_running_loop().create_future())
        self._carrying[conn] = carrying
        # How long the hello has waited here: the owner dates it back by as much (server._overtaken).
        waited = max(0.0, self.hub.clock() - outlet.hello_at)
        opened = {"origin": self.node, "ceremony": ceremony, "invitation": invitation, "first": first, "waited": waited}
        self.publish(owner, "o", conn, json.dumps(opened))
        try:
            try:
                taken = await asyncio.wait_for(asyncio.shield(carrying.answered), OPEN_SECONDS)
            except TimeoutError:
                taken = False
            if not taken:
                return False
            receive = ws.receive  # awaited itself, the frame not kept across the wait (server._serve)
            while self._pass_on(conn, carrying, await receive()):
                pass
            return True
        finally:
            del self._carrying[conn]
            self.publish(owner, "g", conn, "")  # an owner that no longer has it ignores it

    def _pass_on(self, conn: str, carrying: _Carrying, frame: WSMessage) -> bool:
        """One frame of a carried socket to its owner; False once the socket is done with."""
        if frame.type in ENDED or carrying.outlet.closing or carrying.cut:
            return False
        if frame.type == WSMsgType.TEXT:
            self.publish(carrying.owner, "f", conn, frame.data)
        elif frame.type == WSMsgType.BINARY:
            self.publish(carrying.owner, "b", conn, "")
        return True

    # ---- the channel ----

    def publish(self, node: str, kind: str, conn: str, payload: str) -> None:
        """Queued, and sent in order by one task: frames reach the other node in the order they came."""
        self._outgoing.put_nowait((self._channel(node), f"{kind}|{conn}|{payload}"))

    async def _publish_forever(self) -> None:
        queue = self._outgoing
        while True:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            try:
                async with self.bus.redis.pipeline(transaction=False) as pipe:
                    for channel, message in batch:
                        pipe.publish(channel, message)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                # Lost frames: every socket concerned resumes (the listener cuts them when the
                # bus comes back); until then nothing better can be done with them.
                log.warning("publishing %d frames to other nodes failed: %s", len(batch), exc)
                self._cut_all("the connection between servers was interrupted; reconnect")

    async def _listen(self) -> None:
        while True:
            pubsub = self.bus.redis.pubsub()
            try:
                await pubsub.subscribe(self._channel(self.node))
                subscribed = False
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        if subscribed:
                            # redis-py subscribed again on a new connection: what came meanwhile is lost.
                            self._cut_all("the connection between servers was interrupted; reconnect")
                        if subscribed or self._ever_listened:
                            self._claims_from = self.clock() + self.lease
                        subscribed = self._ever_listened = True
                        self._listening.set()
                    elif message["type"] == "message":
                        try:
                            self._on(message["data"].decode())
                        except (ValueError, KeyError, TypeError) as exc:
                            # Not from a node of ours (or a bug): dropped, the channel and its sockets stay.
                            log.warning("ignoring a malformed message on this node's channel: %r", exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # RedisError, OSError: the bus is away; so is whatever was in flight
                log.warning("this node's channel on the bus broke (%s); listening again", exc)
            finally:
                self._listening.clear()
                self._cut_all("the connection between servers was interrupted; reconnect")
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            await asyncio.sleep(self.lease / 6)

    def _on(self, text: str) -> None:
        kind, conn, payload = text.split("|", 2)
        if kind in ("s", "x", "a"):
            carrying = self._carrying.get(conn)
            if carrying is None:
                return
            if kind == "s":
                if not carrying.outlet.send(payload):
                    carrying.outlet.close(TIMEOUT, "too far behind: reconnect and resume")
            elif kind == "x":
                code, _, reason = payload.partition("|")
                carrying.outlet.close(int(code), reason)
            elif not carrying.answered.done():
                carrying.answered.set_result(payload == "1")
            return
        carried = self._carried.get(conn)
        if kind == "o":
            self._open(conn, json.loads(payload))
        elif carried is None:
            return
        elif kind == "f":
            carried.feed(WSMessage(WSMsgType.TEXT, payload, None))
        elif kind == "b":
            carried.feed(WSMessage(WSMsgType.BINARY, b"", None))
        elif kind == "g":
            carried.gone()

    def _open(self, conn: str, opened: dict[str, Any]) -> None:
        origin, ceremony = str(opened["origin"]), str(opened["ceremony"])
        ready = self._owned.get(ceremony)
        if ready is None:
            self.publish(origin, "a", conn, "0")
            return
        self.publish(origin, "a", conn, "1")
        self._using[ceremony] = self._using.get(ceremony, 0) + 1
        carried = self._carried[conn] = Carried(self, conn, origin)
        invitation, first = str(opened["invitation"]), str(opened["first"])
        hello_at = self.hub.clock() - float(opened.get("waited", 0.0))
        task = asyncio.create_task(self._run(conn, carried, ready, ceremony, invitation, first, hello_at))
        self._sessions.add(task)
        task.add_done_callback(self._sessions.discard)

    async def _run(
        self,
        conn: str,
        carried: Carried,
        ready: asyncio.Future[None],
        ceremony: str,
        invitation_id: str,
        first: str,
        hello_at: float,
    ) -> None:
        """A carried socket's session, here where its room is: the same code a local socket runs."""
        hub = self.hub
        try:
            await ready
            invitation = hub.service.get(ceremony).invitations.get(invitation_id)
            if invitation is None or not invitation.active:
                await carried.close(code=FORBIDDEN, message=b"this link was revoked")
                return
            outlet = hub.open(invitation.id, carried, None)
            if outlet is None:
                limit = hub.settings.sockets_per_link
                await carried.close(code=RATE_LIMITED, message=f"this link has {limit} connections open".encode())
                return
            outlet.hello_at = hello_at
            await run_session(hub, carried, outlet, ceremony, invitation, first)
        except Exception:
            log.exception("a carried signaling session failed")
            await carried.close(code=1011, message=b"server error; reconnect")
        finally:
            self._carried.pop(conn, None)
            left = self._using.pop(ceremony) - 1
            if left:
                self._using[ceremony] = left

    def _cut_all(self, reason: str) -> None:
        """Frames may have been lost: every socket this node carries or is carried resumes anew."""
        for carrying in self._carrying.values():
            carrying.cut = True
            carrying.outlet.close(MOVED, reason)
        for carried in self._carried.values():
            carried.gone()

    # ---- leases and the sessions on the bus ----

    async def _keep_forever(self) -> None:
        """Leases every lease/3 seconds: in a task of their own, so that writing many sessions (or a
        busy event loop) never delays a renewal past the lease (the room would go to another node)."""
        await _every(self.lease / 3, self._keep_leases, "renewing the rooms' leases")

    async def _keep_leases(self) -> None:
        await self._renew_leases()
        await self._watch_owners()

    async def _write_forever(self) -> None:
        await _every(WRITE_SECONDS, self._write_all, "writing the rooms' sessions")

    async def _renew_leases(self) -> None:
        """Every ready room's lease renewed, and empty rooms handed back, in one round trip."""
        ready = [c for c, claimed in self._owned.items() if claimed.done()]  # one being read back is seconds old
        # Everyone left and the sessions expired: the room is nobody's, and nothing is kept of it.
        empty = [c for c in ready if c not in self.hub.rooms and c not in self._using]
        live = [c for c in ready if c not in empty]
        if not ready:
            return
        for ceremony in empty:
            del self._owned[ceremony]
        lease_ms = int(self.lease * 1000)
        async with self.bus.redis.pipeline(transaction=False) as pipe:
            for ceremony in live:
                await self._renew(keys=[self._owner_key(ceremony)], args=[self.node, lease_ms], client=pipe)
            for ceremony in empty:
                await self._release(keys=[self._owner_key(ceremony)], args=[self.node], client=pipe)
                written = self._written.pop(ceremony, {})
                pipe.delete(self._state_key(ceremony), *(self._outbox_key(ceremony, peer) for peer in written))
            renewals = (await pipe.execute())[: len(live)]
        for ceremony, renewed in zip(live, renewals, strict=True):
            if renewed == 2:
                # The bus lost its keys (Redis restarted empty): the lease is ours again; write everything anew.
                self._written.pop(ceremony, None)
            elif renewed == 0 and ceremony in self._owned:
                log.warning("room %s is hosted by another node now; its sockets here reconnect there", ceremony)
                del self._owned[ceremony]
                self._written.pop(ceremony, None)
                self.hub.evict(ceremony, MOVED, "the room moved to another server; reconnect")

    async def _watch_owners(self) -> None:
        """Sockets carried to a node that lost its room: they reconnect (and resume) now.

        The room moved when its lease names another node. A lease that names nobody may only be
        late (its node busy for a moment: its next renewal takes it back), so those sockets are cut
        only if that node is gone from the bus too (nobody listens on its channel: it died).
        """
        carried = [c for c in self._carrying.values() if not c.cut]
        if not carried:
            return
        names = sorted({c.ceremony for c in carried})
        redis = self.bus.redis
        owners = dict(zip(names, await redis.mget([self._owner_key(c) for c in names]), strict=True))
        lapsed = {c.owner for c in carried if owners[c.ceremony] is None}
        listening = dict(await redis.pubsub_numsub(*(self._channel(o) for o in lapsed))) if lapsed else {}
        for carrying in carried:
            owner = owners[carrying.ceremony]
            gone = owner is None and not listening.get(self._channel(carrying.owner).encode(), 0)
            if gone or (owner is not None and _text(owner) != carrying.owner):
                carrying.cut = True
                carrying.outlet.close(MOVED, "the room moved to another server; reconnect")

    async def _write_all(self) -> None:
        """Each owned room's sessions, as far as they changed since the last write."""
        for ceremony in list(self._owned):
            room = self.hub.rooms.get(ceremony)
            if room is not None and self._owned[ceremony].done():
                await self._write(room)

    async def _write(self, room: Room) -> None:
        written = self._written.setdefault(room.ceremony, {})
        state_key = self._state_key(room.ceremony)
        ttl = self._ttl_ms
        now_written: dict[str, _Written] = {}
        async with self.bus.redis.pipeline(transaction=False) as pipe:
            for peer, member in room.members.items():
                before = written.get(peer)
                now = standing(member)
                if before is None or before.standing != now:
                    pipe.hset(state_key, peer, member_text(member))
                key = self._outbox_key(room.ceremony, peer)
                if renumbered(before.standing if before is not None else None, member):
                    pipe.delete(key)  # its first resume here renumbered what the bus holds of it
                    before = None
                new = sent_after(member, before.seq if before is not None else 0)
                if new:
                    pipe.rpush(key, *new)
                    pipe.ltrim(key, -len(member.outbox), -1)
                    pipe.pexpire(key, ttl)
                now_written[peer] = _Written(now, member.next_seq - 1)
            for peer in [p for p in written if p not in room.members]:
                pipe.hdel(state_key, peer)
                pipe.delete(self._outbox_key(room.ceremony, peer))
            pipe.hset(state_key, "fed", str(room.fed))
            pipe.pexpire(state_key, ttl)
            await pipe.execute()
        # Only once the bus has it: after a failed write, the next one writes all that changed since the last good one.
        self._written[room.ceremony] = now_written


async def _every(seconds: float, work: Callable[[], Awaitable[None]], what: str) -> None:
    """`work` every `seconds`, for ever: a failure is logged and the next round tries again."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except (RedisError, OSError) as exc:
            log.warning("%s on the bus failed: %s", what, exc)
        except Exception:
            log.exception("%s on the bus failed", what)


def _text(value: bytes | str) -> str:
    """Redis answers bytes (the bus does not decode): its keys and our frames are UTF-8."""
    return value.decode() if isinstance(value, bytes) else value
