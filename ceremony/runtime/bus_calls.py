"""One rule for every call a shared piece makes to the bus: Redis failing is a BusError.

The edge answers a BusError like a store that is away (503 store_unavailable, retried by the
pages): what needed the bus did not happen, and the request may simply be sent again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import RedisError

from .bus import BusError


@contextmanager
def on_bus(what: str) -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise BusError(f"{what}: the bus (Redis) failed: {exc}") from exc
