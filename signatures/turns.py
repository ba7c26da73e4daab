"""A ceremony's signing turn: one PAdES signature or one seal at a time.

A PAdES signature covers the whole revision it is made over, so two signers
cannot prepare over the same revision: the second to finish would have signed
a file that no longer exists. The seal takes the same turn, so no signature is
half-made while the record is built.

On one node the turn is an asyncio.Lock per ceremony (`Turns`). With several nodes
(`--bus`) it must hold across them: `SharedTurns` takes the node's own lock first (so
its waiters queue in order without asking Redis) and then a lock with a lease on the
bus (ceremony.runtime.shared_turns), which a node that dies lets go when the lease lapses.
Either way `acquire` hands back a `Turn` whose `release()` is not async, because the
PDF desk hands the turn on from a timer callback too.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from ceremony.runtime.bus import Bus
from ceremony.runtime.shared_turns import LEASE_SECONDS, Lease, LeaseLocks

from .errors import TurnTaken

WAIT_SECONDS = 60.0  # a signer waits this long for the turn before being told to retry
TAKEN = "other signatures are being applied to this MOU; try again in a moment"


class Turn(Protocol):
    """A held turn."""

    def release(self) -> None: ...


class Turns:
    """One asyncio.Lock per ceremony, shared by PDF signing and sealing."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, ceremony: str) -> asyncio.Lock:
        return self._locks.setdefault(ceremony, asyncio.Lock())

    async def acquire(self, ceremony: str, wait: float | None = None) -> Turn:
        lock = self.lock(ceremony)
        try:
            await asyncio.wait_for(lock.acquire(), WAIT_SECONDS if wait is None else wait)
        except TimeoutError:
            raise TurnTaken(TAKEN) from None
        return lock

    async def close(self) -> None:
        """Nothing to hand on: the locks end with the process."""


class SharedTurn:
    """The turn held on the bus and on this node; released in that order, so the next waiter here
    finds the bus free as soon as it gets the node's lock."""

    def __init__(self, lease: Lease, local: asyncio.Lock) -> None:
        self.lease, self.local = lease, local

    def release(self) -> None:
        self.lease.release(then=self.local.release)


class SharedTurns(Turns):
    """The turn across the nodes of one bus."""

    def __init__(self, bus: Bus, *, lease: float = LEASE_SECONDS) -> None:
        super().__init__()
        self.bus = bus
        self.leases = LeaseLocks(bus, lease=lease)

    async def acquire(self, ceremony: str, wait: float | None = None) -> Turn:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (WAIT_SECONDS if wait is None else wait)
        local = self.lock(ceremony)
        await super().acquire(ceremony, deadline - loop.time())
        try:
            lease = await self.leases.acquire(self.bus.key("turn", ceremony), max(0.0, deadline - loop.time()))
        except BaseException:
            local.release()
            raise
        if lease is None:
            local.release()
            raise TurnTaken(TAKEN)
        return SharedTurn(lease, local)

    async def close(self) -> None:
        await self.leases.close()
