"""Per-client limits at the public edge: the RFC 3161 endpoint and the record verifier.

These routes answer anyone, so their limits are per client address (the one the
request's address logic trusts), never per server: one client that floods or
trickles uses up its own share and nobody else's. The bucket arithmetic is
sans-IO (time is an argument); the routes pass the loop's clock.

With several nodes (`--bus`) a client's budget is the cluster's: `SharedRateLimit` keeps the
buckets on the bus, so that N nodes behind a load balancer do not give a client N budgets.
The routes ask either kind the same way, `await limit.admit(key)`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from ceremony.limits import TokenBucket
from ceremony.runtime.bus import Bus
from ceremony.runtime.shared_limits import SharedBuckets


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The numbers, fixed at start-up (docs/api.md, "Limits"); tests pass small ones."""

    tsa_per_second: float = 5.0  # time-stamp tokens one client may ask for, sustained
    tsa_burst: float = 20.0
    uploads_per_client: int = 1  # record uploads one client may have in hand at once
    upload_seconds: float = 300.0  # a whole upload (64 MiB at ~220 KiB/s)
    upload_idle_seconds: float = 20.0  # no byte of an upload for this long ends it


class ClientLimit(Protocol):
    async def admit(self, key: str) -> float:
        """0.0 if `key` may go now (and one token is spent); else how many seconds until it may."""


@dataclass(slots=True)
class RateLimit:
    """Token buckets per key: `rate` a second sustained, bursts of `burst`."""

    rate: float
    burst: float
    max_keys: int = 10_000  # beyond it, full (idle) buckets are forgotten first
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def take(self, key: str, now: float) -> float:
        """0.0 if `key` may go now (and one token is spent); else how many seconds until it may."""
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        return bucket.take(now)

    async def admit(self, key: str) -> float:
        return self.take(key, asyncio.get_running_loop().time())

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self.max_keys:
            return
        full = [k for k, b in self._buckets.items() if b.full(now)]
        for key in full or list(self._buckets)[: self.max_keys // 10]:
            del self._buckets[key]


class SharedRateLimit:
    """The same buckets on the bus (ceremony.runtime.shared_limits), for every node of it."""

    def __init__(self, bus: Bus, name: str, *, rate: float, burst: float) -> None:
        self.buckets = SharedBuckets(bus, name, rate=rate, burst=burst)

    async def admit(self, key: str) -> float:
        return await self.buckets.take(key)
