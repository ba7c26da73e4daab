"""A token bucket, without I/O (time is an argument): the one rate rule every limit shares.

The signaling hub keeps one per link (its message budget), the public HTTP routes one
per client address (web/limits.py). Sans-IO, so tests step time instead of sleeping.
"""

from __future__ import annotations


class TokenBucket:
    """`rate` tokens a second, at most `burst` held; full at `now` when made."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, burst, now

    def take(self, now: float) -> float:
        """0.0 if a token was spent at `now`; else the seconds until one is there (nothing spent)."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def full(self, now: float) -> bool:
        """Whether it would hold `burst` at `now` (an idle client: forgetting it loses nothing)."""
        return self.tokens + (now - self.stamp) * self.rate >= self.burst
