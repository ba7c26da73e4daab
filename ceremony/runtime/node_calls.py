"""Calls from one node to another over the bus: a request run where its state lives.

Some state cannot leave the process that made it: a PDF signing session holds pyHanko objects
between `prepare` and `finish`. Behind a round-robin balancer the second request may reach another
node; that node carries it to the one holding the state and returns its answer (LiveKit routes
the same way: the message goes to the node, not the state to the message).

Each node listens on one channel, `<prefix>calls:<node>`. On it come calls and answers, JSON:
  {"call": id, "from": node, "name": name, "payload": {...}}
  {"answer": id, "result": {...}}  or  {"answer": id, "refused": {"kind": kind, "reason": text}}

A node that is gone (killed, closed, or never there) has no subscriber on its channel: PUBLISH
says so at once (0 receivers), and PUBSUB NUMSUB says so while an answer is awaited, so a caller
learns promptly that a dead node will not answer instead of waiting out the timeout.

    BusError (ceremony.runtime.bus)
    ├── NodeGone     nobody listens for the node called: it did not run the call, or died in it
    └── NodeSilent   the node is there but did not answer in time: whether it ran the call is unknown
    CallRefused (a CeremonyError)  the handler there refused: its kind and reason, for the caller to rebuild
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.exceptions import RedisError

from ..errors import CeremonyError
from .bus import Bus, BusError

log = logging.getLogger(__name__)

Json = dict[str, Any]
Handler = Callable[[Json], Awaitable[Json]]
T = TypeVar("T")

CHECK_SECONDS = 0.5  # while an answer is awaited, how often the callee's presence on the bus is checked
LISTEN_AGAIN_SECONDS = 0.5  # after this node's channel broke, before subscribing again


class NodeGone(BusError):
    """Nobody listens on the bus for the node called (it died, closed, or never was)."""


class NodeSilent(BusError):
    """The node called is on the bus but did not answer within the timeout."""


class CallRefused(CeremonyError):
    """The handler on the node called refused: `kind` names the refusal, `reason` says it (English)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


class NodeCalls:
    """This node's end of calls between nodes: it serves registered handlers and calls other nodes'."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.node = bus.node
        self._handlers: dict[str, Handler] = {}
        self._waiting: dict[str, asyncio.Future[Json]] = {}  # call id -> its answer
        self._serving: set[asyncio.Task[None]] = set()
        self._listening = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None

    def channel(self, node: str) -> str:
        return self.bus.key("calls", node)

    def register(self, name: str, handler: Handler) -> None:
        self._handlers[name] = handler

    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="node calls listener")
        # Calls are made only once this node hears its channel (else their answers would be lost).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 5.0)

    async def close(self) -> None:
        tasks = [*self._serving, *([self._listener] if self._listener is not None else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_waiting(BusError("this server is shutting down; the answer will not arrive"))

    async def call(self, node: str, name: str, payload: Json, within: float) -> Json:
        """Run `name` on `node` with `payload` and return its result.

        Raises CallRefused with what the handler there refused, NodeGone at once when nobody
        listens for `node` (or once it goes while we wait), NodeSilent after `within` seconds, and
        BusError when the bus itself fails.
        """
        if not self._listening.is_set():
            raise BusError("this server does not hear the bus now: an answer could not reach it")
        loop = asyncio.get_running_loop()
        call = secrets.token_hex(8)
        answer: asyncio.Future[Json] = loop.create_future()
        self._waiting[call] = answer
        message = json.dumps({"call": call, "from": self.node, "name": name, "payload": payload})
        try:
            if await self._redis(self.bus.redis.publish(self.channel(node), message)) == 0:
                raise NodeGone(f"server {node} is not on the bus")
            deadline = loop.time() + within
            while not answer.done():
                left = deadline - loop.time()
                if left <= 0:
                    raise NodeSilent(f"server {node} did not answer within {within:.0f} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(answer), min(left, CHECK_SECONDS))
                    break
                if not answer.done() and not await self._present(node):
                    raise NodeGone(f"server {node} left the bus before it answered")
            return _outcome(answer.result())
        finally:
            del self._waiting[call]
            if answer.done() and not answer.cancelled():
                answer.exception()  # failed by the listener after we stopped waiting: not "never retrieved"

    async def _present(self, node: str) -> bool:
        counts = await self._redis(self.bus.redis.pubsub_numsub(self.channel(node)))
        return any(count > 0 for _channel, count in counts)

    @staticmethod
    async def _redis(work: Awaitable[T]) -> T:
        try:
            return await work
        except (RedisError, OSError) as exc:
            raise BusError(f"the bus (Redis) does not answer: {exc}") from exc

    # ---- the channel ----

    async def _listen(self) -> None:
        while True:
            pubsub = self.bus.redis.pubsub()
            try:
                await pubsub.subscribe(self.channel(self.node))
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        if self._listening.is_set():
                            # redis-py subscribed again on a new connection: answers meanwhile are lost.
                            self._fail_waiting(BusError("the connection between servers was interrupted"))
                        self._listening.set()
                    elif message["type"] == "message":
                        self._on(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # RedisError, OSError: the bus is away, and the answers in flight with it
                log.warning("this node's call channel on the bus broke (%s); listening again", exc)
            finally:
                self._listening.clear()
                self._fail_waiting(BusError("the connection between servers was interrupted"))
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            await asyncio.sleep(LISTEN_AGAIN_SECONDS)

    def _on(self, data: bytes) -> None:
        try:
            message = json.loads(data)
            if not isinstance(message, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            log.warning("a message on this node's call channel is not a call or an answer (%s)", exc)
            return
        if "answer" in message:
            waiting = self._waiting.get(str(message["answer"]))
            if waiting is not None and not waiting.done():  # else: the caller gave up, or it is not ours
                waiting.set_result(message)
        elif "call" in message:
            task = asyncio.create_task(self._serve(message), name=f"node call {message.get('name')}")
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)

    async def _serve(self, message: Json) -> None:
        name, payload = str(message.get("name")), message.get("payload")
        handler = self._handlers.get(name)
        answer: Json
        if handler is None or not isinstance(payload, dict):
            answer = _refused("unknown_call", f"server {self.node} has no call {name!r} taking an object")
        else:
            try:
                answer = {"result": await handler(payload)}
            except CallRefused as exc:
                answer = _refused(exc.kind, exc.reason)
            except Exception:
                log.exception("call %s from server %s failed", name, message.get("from"))
                answer = _refused("internal", "the server that holds this failed unexpectedly")
        answer["answer"] = message["call"]
        try:
            await self.bus.redis.publish(self.channel(str(message.get("from"))), json.dumps(answer))
        except (RedisError, OSError) as exc:
            log.warning("the answer to call %s could not be sent (%s); the caller waits it out", name, exc)

    def _fail_waiting(self, error: BusError) -> None:
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(error)


def _refused(kind: str, reason: str) -> Json:
    return {"refused": {"kind": kind, "reason": reason}}


def _outcome(answer: Json) -> Json:
    refused = answer.get("refused")
    if isinstance(refused, dict):
        raise CallRefused(str(refused.get("kind")), str(refused.get("reason")))
    result = answer.get("result")
    if not isinstance(result, dict):
        raise BusError("an answer from another server had no result")
    return result
