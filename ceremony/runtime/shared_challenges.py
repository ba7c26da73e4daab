"""Challenge books the consent desk uses: the in-memory one (one node), or one on the bus (several).

Both keep the rules of `ceremony.challenges`: a challenge is for one link and one purpose, lives
`LIFETIME_SECONDS`, is spent once, and a link (PER_LINK) or a ceremony (PER_CEREMONY) holds only
so many unanswered ones. On the bus those rules hold across nodes: a challenge issued by one node
is checked and spent by any other, exactly once, and the counts are the cluster's, not a node's,
so no node is a way around them.

Bus layout (every key with the bus's prefix, every one with a TTL):
  challenge:<value>          hash {ceremony, invitation, purpose}, expiring with the challenge;
  challenges:link:<inv>      sorted set of the link's open challenges, scored by expiry (ms);
  challenges:ceremony:<id>   the same per ceremony.
Counting is a sorted set rather than a counter so that an expired challenge leaves the count by
itself (pruned by score on the next issue) and a node dying between two steps leaves nothing
miscounted: issuing and spending are each one Lua script, atomic on the server, timed by the
server's clock (nodes' clocks are not compared).
"""

from __future__ import annotations

import secrets
import time
from typing import Protocol

from ..challenges import LIFETIME_SECONDS, PER_CEREMONY, PER_LINK, Challenge, ChallengeBook
from ..errors import InvalidCommand, LimitReached
from .bus import Bus
from .bus_calls import on_bus


class Challenges(Protocol):
    """What the consent desk asks of a challenge book."""

    async def issue(self, ceremony: str, invitation: str, purpose: str) -> Challenge: ...

    async def check(self, value: str, ceremony: str, invitation: str, purpose: str) -> None:
        """Nothing if `value` is open for exactly this; else InvalidCommand says why. Spends nothing."""

    async def spend(self, value: str, ceremony: str, invitation: str, purpose: str) -> bool:
        """Close the challenge: True for the one call that closed it, False if it was not open (for this)."""


class LocalChallenges:
    """The sans-IO book in this process's memory, on the monotonic clock: the default, one node."""

    def __init__(self, book: ChallengeBook | None = None) -> None:
        self.book = book or ChallengeBook()

    @property
    def lifetime(self) -> float:
        return self.book.lifetime

    @lifetime.setter
    def lifetime(self, seconds: float) -> None:
        self.book.lifetime = seconds

    async def issue(self, ceremony: str, invitation: str, purpose: str) -> Challenge:
        return self.book.issue(ceremony, invitation, purpose, time.monotonic())

    async def check(self, value: str, ceremony: str, invitation: str, purpose: str) -> None:
        self.book.check(value, ceremony, invitation, purpose, time.monotonic())

    async def spend(self, value: str, ceremony: str, invitation: str, purpose: str) -> bool:
        # Check and pop with no await between them: one event loop makes the pair atomic.
        try:
            self.book.check(value, ceremony, invitation, purpose, time.monotonic())
        except InvalidCommand:
            return False
        self.book.spend(value)
        return True


# KEYS: challenge, link set, ceremony set. ARGV: ceremony, invitation, purpose, value, lifetime ms,
# per-link limit, per-ceremony limit. Returns 0 (issued), 1 (link full) or 2 (ceremony full).
_ISSUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lifetime = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[6]) then return 1 end
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[7]) then return 2 end
redis.call('HSET', KEYS[1], 'ceremony', ARGV[1], 'invitation', ARGV[2], 'purpose', ARGV[3])
redis.call('PEXPIRE', KEYS[1], lifetime)
for i = 2, 3 do
  redis.call('ZADD', KEYS[i], now + lifetime, ARGV[4])
  redis.call('PEXPIRE', KEYS[i], lifetime)
end
return 0
"""

# KEYS: challenge, link set, ceremony set. ARGV: ceremony, invitation, purpose, value.
# Returns 1 if this call closed the open challenge, 0 if it was unknown, spent, expired or for
# something else (then it stays as it was: a wrong guess must not close someone's challenge).
_SPEND = """
local found = redis.call('HMGET', KEYS[1], 'ceremony', 'invitation', 'purpose')
if found[1] ~= ARGV[1] or found[2] ~= ARGV[2] or found[3] ~= ARGV[3] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[4])
return 1
"""


class SharedChallenges:
    """The book on the bus: the same rules for every node of the cluster."""

    def __init__(self, bus: Bus, lifetime: float = LIFETIME_SECONDS) -> None:
        self.bus = bus
        self.lifetime = lifetime
        self._issue = bus.redis.register_script(_ISSUE)
        self._spend = bus.redis.register_script(_SPEND)

    def _keys(self, value: str, ceremony: str, invitation: str) -> list[str]:
        return [
            self.bus.key("challenge", value),
            self.bus.key("challenges", "link", invitation),
            self.bus.key("challenges", "ceremony", ceremony),
        ]

    async def issue(self, ceremony: str, invitation: str, purpose: str) -> Challenge:
        value = secrets.token_urlsafe(32)
        lifetime_ms = max(1, round(self.lifetime * 1000))
        with on_bus("issuing a challenge"):
            outcome = await self._issue(
                keys=self._keys(value, ceremony, invitation),
                args=[ceremony, invitation, purpose, value, lifetime_ms, PER_LINK, PER_CEREMONY],
            )
        if outcome == 1:
            raise LimitReached(
                f"this link already holds {PER_LINK} unanswered challenges; "
                "use one, or wait a few minutes for them to expire"
            )
        if outcome == 2:
            raise LimitReached("this ceremony has too many unanswered challenges; try again in a few minutes")
        # `expires` is this node's monotonic reading, for the caller's information: Redis's TTL decides.
        return Challenge(
            value=value,
            ceremony=ceremony,
            invitation=invitation,
            purpose=purpose,
            expires=time.monotonic() + self.lifetime,
        )

    async def check(self, value: str, ceremony: str, invitation: str, purpose: str) -> None:
        with on_bus("checking a challenge"):
            found = await self.bus.redis.hmget(self.bus.key("challenge", value), ["ceremony", "invitation", "purpose"])
        if found[0] is None:
            # Expired and spent look the same here: Redis forgot both.
            raise InvalidCommand("the challenge is unknown, expired or was already used; ask for a new one")
        if [part.decode() if isinstance(part, bytes) else part for part in found] != [ceremony, invitation, purpose]:
            raise InvalidCommand("the challenge was issued for something else")

    async def spend(self, value: str, ceremony: str, invitation: str, purpose: str) -> bool:
        with on_bus("spending a challenge"):
            closed = await self._spend(
                keys=self._keys(value, ceremony, invitation), args=[ceremony, invitation, purpose, value]
            )
        return bool(closed == 1)
