"""A ceremony's signing turn: one PAdES signature or one seal at a time.

A PAdES signature covers the whole revision it is made over, so two signers
cannot prepare over the same revision: the second to finish would have signed
a file that no longer exists. The seal takes the same turn, so no signature is
half-made while the record is built.
"""

from __future__ import annotations

import asyncio

from .errors import TurnTaken

WAIT_SECONDS = 60.0  # a signer waits this long for the turn before being told to retry


class Turns:
    """One asyncio.Lock per ceremony, shared by PDF signing and sealing."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, ceremony: str) -> asyncio.Lock:
        return self._locks.setdefault(ceremony, asyncio.Lock())

    async def acquire(self, ceremony: str, wait: float | None = None) -> asyncio.Lock:
        lock = self.lock(ceremony)
        try:
            await asyncio.wait_for(lock.acquire(), WAIT_SECONDS if wait is None else wait)
        except TimeoutError:
            raise TurnTaken("other signatures are being applied to this MOU; try again in a moment") from None
        return lock
