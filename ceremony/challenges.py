"""Single-use server challenges, without I/O (time is an argument).

A challenge is handed to one signatory's link for one purpose and may be
spent once, before it expires. The book lives in memory: after a restart the
old challenges are simply unknown, which keeps them single-use.

Limits are per link and per ceremony, not per server: one link that asks and
never answers fills only its own few places, and one busy ceremony cannot
crowd out another's signatories.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .errors import InvalidCommand, LimitReached

LIFETIME_SECONDS = 300.0
PER_LINK = 8  # a page asks for one at a time; a few reloads and a second tab fit
PER_CEREMONY = 1_000  # every signatory of a large ceremony, several times over


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
        self._per_link: dict[str, int] = {}
        self._per_ceremony: dict[str, int] = {}

    def issue(self, ceremony: str, invitation: str, purpose: str, now: float) -> Challenge:
        self._forget_expired(now)
        if self._per_link.get(invitation, 0) >= PER_LINK:
            raise LimitReached(
                f"this link already holds {PER_LINK} unanswered challenges; "
                "use one, or wait a few minutes for them to expire"
            )
        if self._per_ceremony.get(ceremony, 0) >= PER_CEREMONY:
            raise LimitReached("this ceremony has too many unanswered challenges; try again in a few minutes")
        challenge = Challenge(
            value=secrets.token_urlsafe(32),
            ceremony=ceremony,
            invitation=invitation,
            purpose=purpose,
            expires=now + self.lifetime,
        )
        self._open[challenge.value] = challenge
        self._count(challenge, +1)
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
        challenge = self._open.pop(value, None)
        if challenge is not None:
            self._count(challenge, -1)

    def _forget_expired(self, now: float) -> None:
        for value in [v for v, c in self._open.items() if c.expires < now]:
            self.spend(value)

    def _count(self, challenge: Challenge, step: int) -> None:
        for counts, key in ((self._per_link, challenge.invitation), (self._per_ceremony, challenge.ceremony)):
            counts[key] = counts.get(key, 0) + step
            if counts[key] == 0:
                del counts[key]
