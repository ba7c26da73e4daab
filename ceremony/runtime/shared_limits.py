"""Token buckets on the bus: one budget per client for the whole cluster, not one per node.

The rule is ceremony.limits.TokenBucket's (`rate` a second, bursts of `burst`), run as one Lua
script so that two nodes taking from the same bucket at once cannot both spend its last token.
Time is Redis's own clock (TIME inside the script): the nodes' monotonic clocks are not
comparable, and their wall clocks need not agree. A bucket left alone until it is full again
holds nothing worth keeping, so its key expires then.

`SharedPlaces` is the other kind of limit: not a rate but how many things one client has in
hand at once (record uploads at the verifier), counted across the nodes.
"""

from __future__ import annotations

import math
import secrets

from .bus import Bus
from .bus_calls import on_bus

# KEYS: the bucket. ARGV: rate, burst, TTL (ms). Returns the seconds to wait, as text ("0": taken).
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens, stamp = tonumber(held[1]) or burst, tonumber(held[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'stamp', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return string.format('%.17g', wait)
"""


class SharedBuckets:
    """Buckets named `limit:<name>:<key>` on the bus."""

    def __init__(self, bus: Bus, name: str, *, rate: float, burst: float) -> None:
        self.bus, self.name, self.rate, self.burst = bus, name, rate, burst
        self._ttl_ms = math.ceil(burst / rate * 1000) + 1000  # empty to full, and a second
        self._take = bus.redis.register_script(_TAKE)

    async def take(self, key: str) -> float:
        """0.0 if `key` may go now (and one token is spent); else how many seconds until it may."""
        with on_bus("taking from a rate limit"):
            wait = await self._take(
                keys=[self.bus.key("limit", self.name, key)], args=[self.rate, self.burst, self._ttl_ms]
            )
        return float(wait)


# KEYS: the client's set. ARGV: a token, the limit, the lease (ms). Returns 1 if a place was taken.
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


class SharedPlaces:
    """At most `limit` things in hand per client across the nodes (e.g. record uploads being checked).

    Each place is a member of the client's sorted set scored by when its lease ends, so that a
    node dying with places taken gives them back when their leases end; `give_back` is the
    ordinary way.
    """

    def __init__(self, bus: Bus, name: str, *, lease: float) -> None:
        self.bus, self.name = bus, name
        self._lease_ms = math.ceil(lease * 1000)
        self._hold = bus.redis.register_script(_HOLD)

    def _key(self, client: str) -> str:
        return self.bus.key("places", self.name, client)

    async def take(self, client: str, limit: int) -> str | None:
        """A token for the place taken, or None if the client holds `limit` already."""
        token = secrets.token_hex(8)
        with on_bus("taking a place"):
            taken = await self._hold(keys=[self._key(client)], args=[token, limit, self._lease_ms])
        return token if taken == 1 else None

    async def give_back(self, client: str, token: str) -> None:
        with on_bus("giving a place back"):
            await self.bus.redis.zrem(self._key(client), token)
