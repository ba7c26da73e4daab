"""Is this node fit to serve: does its event store answer, and its bus (with --bus)?

Two readers ask. The load balancer's check (haproxy `option httpchk GET /healthz`) takes a node
that answers 503 out of rotation, and the signaling route calls `node_health` before it accepts a
socket, so a node cut off from PostgreSQL or Redis stops taking new work rather than taking it and
failing it. Both share one probe per app: at most one in flight, its verdict kept FRESH_SECONDS,
so a burst of checks or socket openings costs one store round trip, never a queue of probes in
the store's single worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from aiohttp import web

from ceremony.runtime.bus import Bus

from .appkeys import BUS, SERVICE, SETTINGS

log = logging.getLogger(__name__)
FRESH_SECONDS = 1.0  # a verdict this young is reused
PROBE_SECONDS = 2.0  # an engine that takes longer to answer counts as down: /healthz never hangs


@dataclass(frozen=True, slots=True)
class Health:
    """One probe's verdict; a reason is None when that part answered."""

    store_kind: str  # "sqlite" | "postgresql"
    store: str | None
    bus: str | None
    has_bus: bool
    node: str | None  # the bus's node id (several nodes); None for a single node
    checked_at: float  # time.monotonic()

    @property
    def ok(self) -> bool:
        return self.store is None and self.bus is None

    @property
    def reason(self) -> str | None:
        """Why the node should take no new work, or None."""
        return self.store or self.bus

    def as_json(self) -> dict[str, Any]:
        """What anyone may read (/healthz is public): which part is away, not the driver's words,
        which name hosts and ports of the network behind the node (the log has them)."""

        def part(reason: str | None, what: str) -> dict[str, Any]:
            return {"ok": True} if reason is None else {"ok": False, "reason": f"{what} does not answer"}

        return {
            "status": "ok" if self.ok else "unavailable",
            "node": self.node,
            "store": {"kind": self.store_kind, **part(self.store, f"the event store ({self.store_kind})")},
            "bus": part(self.bus, "the bus (Redis)") if self.has_bus else None,
        }


class HealthProbe:
    """The app's one probe: `check` returns a verdict at most FRESH_SECONDS old, or joins the one being made."""

    def __init__(self, app: web.Application) -> None:
        self.app = app  # the service and the bus appear at start-up, after the probe is made
        self._last: Health | None = None
        self._running: asyncio.Task[Health] | None = None

    async def check(self) -> Health:
        last = self._last
        if last is not None and time.monotonic() - last.checked_at < FRESH_SECONDS:
            return last
        if self._running is None:
            self._running = asyncio.create_task(self._probe())
            self._running.add_done_callback(self._finished)
        # Shielded: a caller that goes away (a closed socket) does not cancel the others' probe.
        return await asyncio.shield(self._running)

    def _finished(self, task: asyncio.Task[Health]) -> None:
        self._running = None
        if not task.cancelled() and task.exception() is None:
            found = task.result()
            if found.reason != (self._last.reason if self._last is not None else None):
                # Once per change, for the operator: the full reason (passwords already removed).
                if found.reason is None:
                    log.warning("this node's store and bus answer again")
                else:
                    log.warning("this node takes no new work: %s", found.reason)
            self._last = found

    async def _probe(self) -> Health:
        app = self.app
        settings = app[SETTINGS]
        bus = app.get(BUS)
        store_reason, bus_reason = await asyncio.gather(
            app[SERVICE].healthy(PROBE_SECONDS),
            _bus_health(bus) if bus is not None else _nothing(),
        )
        url = settings.store_url
        return Health(
            store_kind="sqlite" if url.sqlite_file is not None else "postgresql",
            store=_without_password(store_reason, url.text),
            bus=_without_password(bus_reason, bus.url) if bus is not None else None,
            has_bus=bus is not None,
            node=bus.node if bus is not None else None,
            checked_at=time.monotonic(),
        )


async def _bus_health(bus: Bus) -> str | None:
    try:
        return await asyncio.wait_for(bus.healthy(), PROBE_SECONDS)
    except TimeoutError:
        return f"the bus (Redis) did not answer within {PROBE_SECONDS:g} s"


async def _nothing() -> None:
    return None


def _without_password(reason: str | None, url: str) -> str | None:
    """A driver's message may quote its connection string; /healthz is public, the password is not."""
    if reason is None:
        return None
    password = urlsplit(url).password
    for secret in {password, unquote(password)} if password else ():
        reason = reason.replace(secret, "***")
    return reason


HEALTH = web.AppKey("health", HealthProbe)


def setup(app: web.Application) -> None:
    app[HEALTH] = HealthProbe(app)


async def check(app: web.Application) -> Health:
    """The node's health as of at most FRESH_SECONDS ago."""
    return await app[HEALTH].check()


async def node_health(app: web.Application) -> str | None:
    """None when the node may take new sockets; else why not (its store or its bus is away)."""
    return (await check(app)).reason
