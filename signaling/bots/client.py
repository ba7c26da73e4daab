"""An asyncio client of the signaling protocol (docs/signaling.md) over aiohttp.

Used by headless peers (`ceremony venue-bot`), tests and benchmarks. One
`SignalingClient` is one participant: it connects with the bearer token of a
capability link, says `hello`, keeps the last sequence number it has seen,
answers the server's `ping`, and after a socket drop reconnects (with backoff)
and resumes its session, so that it receives what it missed.

Server frames are parsed by signaling.protocol (`parse_server_message`), the
one definition of the wire, into frozen dataclasses (`ServerMessage`
subclasses, named in the past tense); consumers read them from a
`Subscription` (an async iterator) or wait for one kind with `wait_for`.

Errors (all under signaling.errors.SignalingError):

    ClientError
    ├── BadLink          the link is not a ceremony capability link
    ├── MalformedFrame   the server sent something that is not the protocol
    ├── SessionEnded     the server closed for good (close code and reason inside)
    ├── RequestRefused   the server answered a request with `error` (code, reason)
    └── NotConnected     a request could not be sent (the session is over)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import re
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from ..errors import ProtocolError, SignalingError
from ..protocol import (
    MAX_FRAME,
    Acknowledged,
    IceCandidateInit,
    Pinged,
    Refused,
    ServerMessage,
    Welcomed,
    parse_server_message,
)

log = logging.getLogger(__name__)

CLIENT_NAME = "ceremony-bot"
CLIENT_VERSION = "1"
HISTORY = 2048
OUTBOX_LIMIT = 256

# Close codes after which reconnecting cannot help (docs/signaling.md): the
# session was ended, refused or taken over. Anything else (1006 abnormal
# closure, 1001 server restart, 4408 heartbeat, 4429 rate) is retried.
FINAL_CLOSE_CODES = frozenset({1000, 1009, 4000, 4400, 4401, 4403, 4404, 4409})

_LINK_PATH = re.compile(r"^(?P<prefix>.*)/c/(?P<ceremony>[0-9a-f]{16})/enter/?$")


class ClientError(SignalingError):
    """Root of the client's errors."""


class BadLink(ClientError):
    pass


class MalformedFrame(ClientError):
    pass


class SessionEnded(ClientError):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"signaling session ended ({code}): {reason}")
        self.code = code
        self.reason = reason


class RequestRefused(ClientError):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class NotConnected(ClientError):
    pass


# ---------------------------------------------------------------------------
# Capability links


@dataclass(frozen=True, slots=True)
class CapabilityLink:
    """`http://host[/prefix]/c/<ceremony>/enter#<token>` split into its parts."""

    base: str
    ceremony: str
    token: str = field(repr=False)

    @classmethod
    def parse(cls, link: str) -> CapabilityLink:
        parts = urlsplit(link.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadLink("a capability link starts with http:// or https://")
        match = _LINK_PATH.match(parts.path)
        if match is None:
            raise BadLink("a capability link looks like https://host/c/<ceremony id>/enter#<token>")
        if not parts.fragment:
            raise BadLink("the link has no token (the part after '#'); copy the whole link")
        base = urlunsplit((parts.scheme, parts.netloc, match["prefix"], "", ""))
        return cls(base, match["ceremony"], parts.fragment)

    @property
    def signal_url(self) -> str:
        return f"{self.base}/api/ceremonies/{self.ceremony}/signal"


# ---------------------------------------------------------------------------
# Messages that are not on the wire


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionLost(ServerMessage):
    """Not a wire message: our socket closed; we are reconnecting unless `final`."""

    code: int | None
    reason: str
    final: bool


def _parse(raw: str | bytes) -> ServerMessage:
    try:
        return parse_server_message(raw)
    except ProtocolError as exc:
        raise MalformedFrame(exc.reason) from None


# ---------------------------------------------------------------------------
# Subscriptions

M = TypeVar("M", bound=ServerMessage)


class Subscription:
    """Every message the client receives from the moment of subscribing, in order."""

    def __init__(self, owner: SignalingClient) -> None:
        self._owner = owner
        self._queue: asyncio.Queue[ServerMessage | None] = asyncio.Queue()
        self.seen: deque[ServerMessage] = deque(maxlen=32)  # the latest, for error messages

    def _put(self, message: ServerMessage | None) -> None:
        self._queue.put_nowait(message)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> ServerMessage:
        message = await self._queue.get()
        if message is None:
            raise StopAsyncIteration
        self.seen.append(message)
        return message

    async def wait_for(self, kind: type[M], where: Callable[[M], bool] | None = None, *, within: float = 10.0) -> M:
        """The next message of `kind` (matching `where`); TimeoutError names what came instead."""
        passed = 0
        try:
            async with asyncio.timeout(within):
                async for message in self:
                    if isinstance(message, kind) and (where is None or where(message)):
                        return message
                    passed += 1
        except TimeoutError:
            others = ", ".join(type(m).__name__ for m in list(self.seen)[-min(passed, 12) :]) if passed else "nothing"
            raise TimeoutError(f"no {kind.__name__} within {within} s; received: {others}") from None
        raise SessionEnded(None, f"the client stopped while waiting for {kind.__name__}")

    def close(self) -> None:
        self._owner._unsubscribe(self)
        self._put(None)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------
# The client


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnection delays: `first`, doubling up to `cap`, each with +-25 % jitter."""

    first: float = 0.2
    cap: float = 5.0

    def delay(self, attempt: int) -> float:
        base = min(self.cap, self.first * float(1 << min(attempt, 16)))
        jitter: float = random.uniform(0.75, 1.25)  # noqa: S311 - jitter, not security
        return base * jitter


class SignalingClient:
    """One participant's signaling session, kept alive across socket drops."""

    def __init__(
        self,
        link: CapabilityLink | str,
        *,
        name: str = CLIENT_NAME,
        http: aiohttp.ClientSession | None = None,
        backoff: Backoff | None = None,
        connect_timeout: float = 10.0,
        request_timeout: float = 15.0,
    ) -> None:
        self.link = link if isinstance(link, CapabilityLink) else CapabilityLink.parse(link)
        self.name = name
        self.backoff = backoff or Backoff()
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.welcome: Welcomed | None = None
        self.last_seq = 0
        self.sockets_opened = 0
        self.resumes = 0
        self.history: deque[ServerMessage] = deque(maxlen=HISTORY)
        # Cleared, the client stays offline after a drop until it is set again:
        # how a test (or an operator) holds a venue off the network.
        self.online = asyncio.Event()
        self.online.set()
        self.connected = asyncio.Event()
        self.ended: asyncio.Future[SessionEnded] | None = None
        self._http = http
        self._own_http = http is None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._subscribers: list[Subscription] = []
        self._requests: dict[str, asyncio.Future[Acknowledged]] = {}
        self._refs = itertools.count(1)
        self._outbox: deque[dict[str, Any]] = deque(maxlen=OUTBOX_LIMIT)
        self._send_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._first_welcome: asyncio.Future[Welcomed] | None = None
        self._last_heard = time.monotonic()
        self._leaving = False

    # ---- lifecycle ----

    async def start(self) -> Welcomed:
        """Connect and say hello; returns the first welcome or raises SessionEnded."""
        if self._task is not None:
            raise ClientError("the client was already started")
        loop = asyncio.get_running_loop()
        self.ended = loop.create_future()
        self._first_welcome = loop.create_future()
        if self._http is None:
            self._http = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run(), name=f"signaling {self.link.ceremony}")
        return await self._first_welcome

    async def close(self, *, leave: bool = True) -> None:
        """Leave (peers are told at once) and stop; `leave=False` just stops, like a crash."""
        task = self._task
        if leave and task is not None and not task.done() and self.connected.is_set():
            self._leaving = True
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                await self._send_now({"type": "leave"})
                # The server answers `leave` by closing the socket, which ends the loop.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), 5)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ws is not None:
            await self._ws.close()
        self._finish(SessionEnded(1000, "closed by this client"))
        if self._own_http and self._http is not None:
            await self._http.close()

    async def __aenter__(self) -> SignalingClient:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def peer_id(self) -> str:
        if self.welcome is None:
            raise NotConnected("not welcomed yet")
        return self.welcome.peer

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        self._subscribers.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscribers.remove(subscription)

    def drop(self) -> None:
        """Cut the TCP connection under the WebSocket, without `leave` or a close frame.

        What a network failure looks like to the server: the socket just ends
        (it gets a FIN, as when a NAT or proxy gives up). The client then
        reconnects and resumes, once `online` is set.
        """
        ws = self._ws
        if ws is None:
            return
        sock = ws.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # ---- sending ----

    async def send(self, message: dict[str, Any]) -> None:
        """Send now, or keep it for the resumed session if the socket is down."""
        if self._ws is None or self._ws.closed or not self.connected.is_set():
            self._outbox.append(message)
            return
        try:
            await self._send_now(message)
        except (ConnectionError, aiohttp.ClientError):
            self._outbox.append(message)

    async def offer(self, to: str, sdp: str) -> None:
        await self.send({"type": "offer", "to": to, "sdp": sdp})

    async def answer(self, to: str, sdp: str) -> None:
        await self.send({"type": "answer", "to": to, "sdp": sdp})

    async def candidate(self, to: str, candidate: IceCandidateInit | None) -> None:
        wire = None if candidate is None else candidate.to_wire()
        await self.send({"type": "candidate", "to": to, "candidate": wire})

    async def start_segment(self, segment: str = "next") -> Acknowledged:
        return await self.request({"type": "segment", "segment": segment})

    async def admit(self, peer: str) -> Acknowledged:
        return await self.request({"type": "admit", "peer": peer})

    async def reject(self, peer: str, reason: str = "") -> Acknowledged:
        return await self.request({"type": "reject", "peer": peer, "reason": reason})

    async def end(self, reason: str = "") -> SessionEnded:
        """End the session for everyone; returns how our own socket was closed."""
        if self.ended is None:
            raise NotConnected("not started")
        await self._send_now({"type": "end", "reason": reason})
        return await asyncio.wait_for(asyncio.shield(self.ended), 10)

    async def leave(self) -> None:
        await self.close(leave=True)

    async def request(self, message: dict[str, Any]) -> Acknowledged:
        """Send a message with a fresh `ref`; its `ack` returns, its `error` raises RequestRefused.

        Gives up after `request_timeout` (TimeoutError): a request sent just
        before a drop is answered after the resume, as the ack is replayed.
        """
        ref = f"r{next(self._refs)}"
        future: asyncio.Future[Acknowledged] = asyncio.get_running_loop().create_future()
        self._requests[ref] = future
        try:
            await self.send({**message, "ref": ref})
            return await asyncio.wait_for(future, self.request_timeout)
        finally:
            self._requests.pop(ref, None)

    async def _send_now(self, message: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            raise ConnectionError("no open signaling socket")
        async with self._send_lock:
            await ws.send_str(json.dumps(message, ensure_ascii=False, separators=(",", ":")))

    # ---- the connection loop ----

    async def _run(self) -> None:
        attempt = 0
        while True:
            await self.online.wait()
            welcomed = False
            try:
                welcomed = await self._one_socket()
            except SessionEnded as exc:
                self._finish(exc)
                return
            except (aiohttp.ClientError, OSError, TimeoutError, MalformedFrame) as exc:
                log.warning("signaling connection to %s failed: %r", self.link.base, exc)
            except Exception:
                # A bug of ours must not silently end a hall's session: log it, reconnect.
                log.exception("signaling connection to %s broke", self.link.base)
            if self._leaving:
                self._finish(SessionEnded(1000, "left"))
                return
            attempt = 0 if welcomed else attempt + 1
            await asyncio.sleep(self.backoff.delay(attempt))

    async def _one_socket(self) -> bool:
        """One WebSocket from connect to close; True when it got as far as a welcome."""
        assert self._http is not None
        ws = await self._http.ws_connect(
            self.link.signal_url,
            headers={"Authorization": f"Bearer {self.link.token}"},
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
            max_msg_size=MAX_FRAME,
            autoping=True,
        )
        self._ws = ws
        self.sockets_opened += 1
        welcomed = False
        reason = ""
        watchdog: asyncio.Task[None] | None = None
        try:
            await self._send_now({"type": "hello", "resume": self._resume_field(), "client": self._client_field()})
            async with asyncio.timeout(self.connect_timeout):
                first = await ws.receive()
            if first.type == aiohttp.WSMsgType.TEXT:
                welcome = _parse(first.data)
                if not isinstance(welcome, Welcomed):
                    raise MalformedFrame(f"expected welcome first, got {type(welcome).__name__}")
                welcomed = True
                await self._on_welcome(welcome)
                watchdog = asyncio.create_task(self._watch(ws, welcome.heartbeat_timeout))
                reason = await self._read(ws)
            else:
                reason = str(first.extra or "")
        finally:
            if watchdog is not None:
                watchdog.cancel()
            self.connected.clear()
            self._ws = None
            await ws.close()
        code = ws.close_code
        final = code in FINAL_CLOSE_CODES
        log.info("signaling socket closed (%s %s)%s", code, reason, "" if final else "; reconnecting")
        self._emit(ConnectionLost(code=code, reason=reason, final=final))
        if final:
            raise SessionEnded(code, reason)
        return welcomed

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        """Dispatch frames until the socket closes; returns the close reason."""
        while True:
            frame = await ws.receive()
            if frame.type == aiohttp.WSMsgType.TEXT:
                self._last_heard = time.monotonic()
                await self._on_frame(frame.data)
            elif frame.type == aiohttp.WSMsgType.ERROR:
                return repr(frame.data)
            elif frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                return str(frame.extra or "")

    async def _watch(self, ws: aiohttp.ClientWebSocketResponse, limit: float) -> None:
        """The server pings every interval: silence for `limit` seconds means the path is dead."""
        while not ws.closed:
            silent = time.monotonic() - self._last_heard
            if silent > limit:
                log.info("nothing from the server for %.1f s; reconnecting", silent)
                self.drop()
                await ws.close()
                return
            await asyncio.sleep(max(0.5, limit - silent))

    def _resume_field(self) -> dict[str, Any] | None:
        if self.welcome is None:
            return None
        return {"session": self.welcome.session, "last_seq": self.last_seq}

    def _client_field(self) -> dict[str, str]:
        return {"name": self.name, "version": CLIENT_VERSION}

    async def _on_welcome(self, welcome: Welcomed) -> None:
        self._last_heard = time.monotonic()
        if self.welcome is not None:
            if welcome.resumed:
                self.resumes += 1
            else:
                # A new session: whatever we queued was addressed from our old self.
                log.info("session %s could not be resumed; now peer %s", self.welcome.session, welcome.peer)
                self._outbox.clear()
                self.last_seq = 0
        self.welcome = welcome
        self.connected.set()
        self._emit(welcome)
        if self._first_welcome is not None and not self._first_welcome.done():
            self._first_welcome.set_result(welcome)
        while self._outbox and self._ws is not None:
            await self._send_now(self._outbox.popleft())

    async def _on_frame(self, data: str) -> None:
        try:
            message = _parse(data)
        except MalformedFrame as exc:
            log.warning("ignoring a malformed server frame: %s", exc)
            return
        if message.seq is not None:
            if message.seq <= self.last_seq:
                return  # already seen before a resume
            self.last_seq = message.seq
        match message:
            case Pinged(nonce=nonce):
                with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                    await self._send_now({"type": "pong", "nonce": nonce})
            case Acknowledged(ref=ref) if ref in self._requests:
                future = self._requests[ref]
                if not future.done():
                    future.set_result(message)
            case Refused(ref=ref, code=code, reason=reason) if ref in self._requests:
                future = self._requests[ref]
                if not future.done():
                    future.set_exception(RequestRefused(code, reason))
            case Refused(code=code, reason=reason):
                log.warning("server refused a message: %s: %s", code, reason)
        self._emit(message)

    def _emit(self, message: ServerMessage) -> None:
        self.history.append(message)
        for subscription in self._subscribers:
            subscription._put(message)

    def _finish(self, ended: SessionEnded) -> None:
        self.connected.clear()
        if self.ended is not None and not self.ended.done():
            self.ended.set_result(ended)
        if self._first_welcome is not None and not self._first_welcome.done():
            self._first_welcome.set_exception(ended)
        for future in self._requests.values():
            if not future.done():
                future.set_exception(NotConnected(str(ended)))
        for subscription in list(self._subscribers):
            subscription.close()
