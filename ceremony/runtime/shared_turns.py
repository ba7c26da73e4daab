"""A lock on the bus with a lease: one holder in the whole cluster, and none once it stops answering.

The holder sets the key only if it is free (SET NX PX) to a token of its own, and a task renews the
lease while it holds it. A node that dies (or loses Redis) stops renewing, so the key lapses after
at most one lease and the next waiter takes it: nothing is left to clean up by hand. Release and
renewal compare the token first (a Lua script), so a holder whose lease already lapsed can never
delete or extend the next holder's.

Waiting is polling, with a backoff that doubles up to a second: turns are rare and short (one
PDF signature, one seal), and a queue on the bus would have to be cleaned up after dead waiters.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Callable

from redis.exceptions import RedisError

from .bus import Bus
from .bus_calls import on_bus

LEASE_SECONDS = 10.0  # how long a dead node's turn blocks the others at most
FIRST_POLL = 0.05
LAST_POLL = 1.0

log = logging.getLogger(__name__)

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """A held lock: `release()` (not async, so any callback may hand the turn on) lets it go."""

    def __init__(self, locks: LeaseLocks, key: str, token: str) -> None:
        self.locks, self.key, self.token = locks, key, token
        self.renewal: asyncio.Task[None] = asyncio.create_task(self._renew(), name=f"lease {key}")

    async def _renew(self) -> None:
        lease_ms = round(self.locks.lease * 1000)
        while True:
            await asyncio.sleep(self.locks.lease / 3)
            try:
                renewed = await self.locks.renew_script(keys=[self.key], args=[self.token, lease_ms])
            except (RedisError, OSError) as exc:
                # Two more tries before the lease lapses; past it, another node may take the turn.
                log.warning("could not renew the lease of %s: %s", self.key, exc)
                continue
            if not renewed:
                # The process stalled, or Redis was away, for a whole lease. Nothing here can undo
                # what the other holder does meanwhile; the log says so for whoever reads it.
                log.error("the lease of %s lapsed while held: another node may hold it now", self.key)
                return

    def release(self, then: Callable[[], object] | None = None) -> None:
        """Stop renewing and delete the key if it is still ours; `then` runs once that is done (or failed)."""
        self.renewal.cancel()
        task = asyncio.create_task(self._let_go(then), name=f"release {self.key}")
        self.locks.releasing.add(task)
        task.add_done_callback(self.locks.releasing.discard)

    async def _let_go(self, then: Callable[[], object] | None) -> None:
        try:
            await self.locks.delete(self.key, self.token)
        finally:
            if then is not None:
                then()


class LeaseLocks:
    """Locks on one bus, each named by a key, with leases of `lease` seconds."""

    def __init__(self, bus: Bus, *, lease: float = LEASE_SECONDS) -> None:
        self.bus, self.lease = bus, lease
        self.renew_script = bus.redis.register_script(_RENEW)
        self.release_script = bus.redis.register_script(_RELEASE)
        self.releasing: set[asyncio.Task[None]] = set()

    async def try_acquire(self, key: str) -> Lease | None:
        token = f"{self.bus.node}:{secrets.token_hex(8)}"
        with on_bus("taking a lock"):
            taken = await self.bus.redis.set(key, token, nx=True, px=round(self.lease * 1000))
        return Lease(self, key, token) if taken else None

    async def acquire(self, key: str, wait: float) -> Lease | None:
        """The lock, polling for up to `wait` seconds; None if it stayed taken."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        pause = FIRST_POLL
        while (lease := await self.try_acquire(key)) is None:
            left = deadline - loop.time()
            if left <= 0:
                return None
            # Jitter, so that waiters on several nodes do not all ask at the same instant.
            await asyncio.sleep(min(left, pause * random.uniform(0.5, 1.0)))  # noqa: S311 - jitter, no secret
            pause = min(LAST_POLL, self.lease / 4, pause * 2)  # a lapsing lease is noticed soon
        return lease

    async def delete(self, key: str, token: str) -> None:
        try:
            await self.release_script(keys=[key], args=[token])
        except (RedisError, OSError) as exc:
            # Not an error anyone can act on: the lease lapses by itself within `lease` seconds.
            log.warning("could not release %s (it lapses within %.0f s): %s", key, self.lease, exc)

    async def close(self) -> None:
        """Wait for the releases under way, so that a node stopping hands its turns on at once."""
        if self.releasing:
            await asyncio.gather(*self.releasing, return_exceptions=True)
