"""One socket's send queue and the task that writes it.

Whatever the hub delivers (relays, ceremony updates, pings, closes) is only
queued here: the path that produced it (a relay, the log feed, the ticker)
never waits for a socket. The writer task sends in order, so a socket that
stops reading stalls nobody but itself; when its queue is full the hub drops
it (docs/signaling.md, close 4408), and a close that cannot get out within
`grace` seconds ends the connection without one.

A send that cannot wait is started at once, as Python 3.12's eager tasks do:
while nothing is queued, the writer is idle and the connection takes data,
aiohttp writes the frame synchronously and nothing else happens (no task
switch per message). Only a send that has to wait for the connection to drain
is left to the writer task, and everything after it queues behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Socket(Protocol):
    """What the outlet needs of a WebSocket (aiohttp's WebSocketResponse; tests use fakes)."""

    @property
    def closed(self) -> bool: ...

    async def send_str(self, data: str, compress: int | None = None) -> None: ...

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...


class Transport(Protocol):
    """The connection under it (asyncio's), to end it when a close cannot be sent."""

    def get_write_buffer_size(self) -> int: ...

    def abort(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    message: bytes


@dataclass(frozen=True, slots=True)
class _Started:
    """A send begun at once that had to wait (for the connection to drain): the writer finishes it."""

    send: Coroutine[Any, Any, None]
    waiting_for: Any  # what it yielded: the future it waits for


class Outlet:
    """Frames for one socket, written in order by its own task; `limit` frames (`size` characters) may wait."""

    def __init__(self, ws: Socket, transport: Transport | None, *, limit: int, size: int, grace: float) -> None:
        self.ws = ws
        self.limit = limit
        self.size = size
        self.grace = grace
        self.close_code: int | None = None  # once a close is asked for
        self.closing = False
        self.hello_at = 0.0  # when its hello arrived (the hub's clock): of two sockets of a session, the newer wins
        self.sent_any = False  # a frame was queued since the hub's heartbeat last looked (then it resets this)
        self._transport = transport
        self._queue: deque[str | _Close | _Started] = deque()
        self._queued = 0  # characters waiting
        self._idle = False  # the writer waits for work (nothing queued, nothing being sent)
        self._waiter: asyncio.Future[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._task = asyncio.create_task(self._write(), name="signaling outlet")

    def send(self, text: str, *, bounded: bool = True) -> bool:
        """Send or queue one frame; False (nothing queued) when `limit` frames or `size` characters already wait."""
        if self.closing:
            return True  # the socket is on its way out: what it misses stays in its outbox
        self.sent_any = True
        if self._idle and not self._queue:
            self._start(text)
            return True
        if bounded and self._queue and (len(self._queue) >= self.limit or self._queued + len(text) > self.size):
            return False
        self._queue.append(text)
        self._queued += len(text)
        self._wake()
        return True

    def close(self, code: int, reason: str) -> None:
        """Close after what is queued; if that cannot be sent within `grace` seconds, end the connection."""
        if self.closing:
            return
        self.close_code, self.closing = code, True
        self._queue.append(_Close(code, reason.encode()[:120]))
        self._wake()
        self._expiry = asyncio.get_running_loop().call_later(self.grace, self._expire)

    async def finish(self) -> None:
        """At the end of the socket's handler: let an asked-for close complete, else stop writing."""
        if not self.closing:
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._expiry is not None:
            self._expiry.cancel()

    def _start(self, text: str) -> None:
        """Run the send until it would wait; if it does, the writer takes it from there."""
        send = self.ws.send_str(text)
        try:
            waiting_for = _handed_over(send.send(None))
        except StopIteration:
            return  # written
        except ConnectionError:
            return  # the connection went away: the reader side notices
        self._queue.appendleft(_Started(send, waiting_for))
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _expire(self) -> None:
        """`grace` after a close was asked for: still writing with data stuck means the peer reads nothing."""
        self._expiry = None
        if self._task.done():
            return
        stuck = self._transport is None or self._transport.get_write_buffer_size() > 0 or not self.ws.closed
        if stuck:
            self._task.cancel()
            self._abort()

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    async def _write(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        try:
            while True:
                while not queue:
                    self._idle = True
                    self._waiter = loop.create_future()
                    await self._waiter
                    self._waiter = None
                self._idle = False
                item = queue.popleft()
                if isinstance(item, str):
                    self._queued -= len(item)
                    await self.ws.send_str(item)
                elif isinstance(item, _Started):
                    await _finish(item)
                else:
                    await self.ws.close(code=item.code, message=item.message)
                    return
        except ConnectionError:
            # The connection went away under us (the reader side notices too): nothing more to write.
            queue.clear()
            self._queued = 0
        finally:
            self._idle = False


async def _finish(started: _Started) -> None:
    """Drive a send begun outside this task to its end, as a task would (an eager start's remainder)."""
    send, waiting_for = started.send, started.waiting_for
    while True:
        error: BaseException | None = None
        try:
            if waiting_for is None:
                await asyncio.sleep(0)  # a bare yield
            else:
                await waiting_for
        except BaseException as exc:  # handed to the send, which decides; a cancel comes back out
            error = exc
        try:
            waiting_for = _handed_over(send.send(None) if error is None else send.throw(error))
        except StopIteration:
            return


def _handed_over(waiting_for: Any) -> Any:
    """What a send stepped by hand yielded, made fit to be awaited by the writer task.

    A future that yields from `await` is marked as blocking (`_asyncio_future_blocking`), and
    the task that steps the coroutine clears the mark before it waits, as asyncio's Task does.
    Left set, the writer's own `await` of it failed at once ("await wasn't used with future"),
    which ended the writer: a socket that once had to wait for its connection to drain got
    nothing more until it was dropped."""
    if getattr(waiting_for, "_asyncio_future_blocking", False):
        waiting_for._asyncio_future_blocking = False
    return waiting_for
