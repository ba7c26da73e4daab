"""Single-use server challenges, without I/O (time is an argument).

A challenge is handed to one signatory's link for one purpose and may be
spent once, before it expires. The book lives in memory: after a restart the
old challenges are simply unknown, which keeps them single-use.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .errors import InvalidCommand

LIFETIME_SECONDS = 300.0
MAX_OUTSTANDING = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    value: str
    ceremony: str
    invitation: str
    purpose: str  # "enrollment" or "consent"
    expires: float


class ChallengeBook:
    def __init__(self, lifetime: float = LIFETIME_SECONDS) -> None:
        self.lifetime = lifetime
        self._open: dict[str, Challenge] = {}

    def issue(self, ceremony: str, invitation: str, purpose: str, now: float) -> Challenge:
        self._forget_expired(now)
        if len(self._open) >= MAX_OUTSTANDING:
            raise InvalidCommand("too many open challenges; try again in a few minutes")
        challenge = Challenge(
            value=secrets.token_urlsafe(32),
            ceremony=ceremony,
            invitation=invitation,
            purpose=purpose,
            expires=now + self.lifetime,
        )
        self._open[challenge.value] = challenge
        return challenge

    def check(self, value: str, ceremony: str, invitation: str, purpose: str, now: float) -> Challenge:
        """The matching open challenge, without spending it; InvalidCommand says why not."""
        challenge = self._open.get(value)
        if challenge is None:
            raise InvalidCommand("the challenge is unknown or was already used; ask for a new one")
        if challenge.expires < now:
            raise InvalidCommand("the challenge has expired; ask for a new one")
        if (challenge.ceremony, challenge.invitation, challenge.purpose) != (ceremony, invitation, purpose):
            raise InvalidCommand("the challenge was issued for something else")
        return challenge

    def spend(self, value: str) -> None:
        self._open.pop(value, None)

    def _forget_expired(self, now: float) -> None:
        for value in [v for v, c in self._open.items() if c.expires < now]:
            del self._open[value]
