"""A node's connection to Redis (`--bus redis://…`): what several nodes share that is not durable.

The log and everything that must survive lives in the event store (PostgreSQL). The bus carries
what is live: which node hosts a ceremony's signaling room, the frames relayed to it, sessions a
socket may resume on another node, challenges, rate limits and the signing turn. All of it has a
TTL, so a node that dies leaves nothing behind that outlives its leases.

Every key starts with the bus's prefix and names its kind, e.g. `ceremony:room:<id>:owner`.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..errors import StoreError

CONNECT_SECONDS = 2.0
COMMAND_SECONDS = 5.0


class BusError(StoreError):
    """Redis is unreachable or failed: what needed it did not happen (503 at the edge, like the store)."""


def parse_bus_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise BusError(f"--bus {text!r}: give a Redis URL, e.g. redis://127.0.0.1:6379/0")
    return text


class Bus:
    def __init__(self, url: str, *, node: str | None = None, prefix: str = "ceremony:") -> None:
        self.url = parse_bus_url(url)
        self.node = node or "n-" + secrets.token_hex(6)  # this process, for as long as it runs
        self.prefix = prefix
        self.redis: aioredis.Redis = aioredis.from_url(
            url,
            socket_connect_timeout=CONNECT_SECONDS,
            socket_timeout=COMMAND_SECONDS,
            retry_on_timeout=False,
            health_check_interval=10,
        )

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @property
    def shown(self) -> str:
        """The URL without a password, for logs and /healthz."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()

    async def healthy(self) -> str | None:
        """None when Redis answers; else why not."""
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            return f"the bus (Redis) does not answer: {exc}"
        return None

    async def close(self) -> None:
        await self.redis.aclose()
