"""Live timeline as server-sent events, resumable with Last-Event-ID.

Each message's id is the event's sequence number, so a browser's EventSource
reconnects by itself and receives exactly what it missed.

A stream lasts only as long as what opened it: once its link is revoked, or the
browser session it came with ends (signed out, expired), it sends `event: revoked`
and closes, before any further event.
"""

from __future__ import annotations

import json

from aiohttp import web

from ceremony.runtime.service import AccessChanged, CeremonyService, Follower

from . import views
from .api import sequence_number
from .appkeys import SERVICE
from .auth import ALL_ROLES, Principal, ceremony_state, require, standing

routes = web.RouteTableDef()
HEARTBEAT_SECONDS = 15.0


@routes.get("/api/ceremonies/{ceremony}/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    principal = require(request, ALL_ROLES, operator=True)
    state = ceremony_state(request)
    resume = sequence_number(
        request.headers.get("Last-Event-ID") or request.query.get("after") or "0", "Last-Event-ID (or 'after')"
    )
    service = request.app[SERVICE]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    try:
        async with service.follow(state.id, resume, access_news=True) as follower:
            await _follow(response, service, principal, follower)
    except ConnectionResetError:
        pass  # the browser went away; EventSource will resume with Last-Event-ID
    return response


async def _follow(
    response: web.StreamResponse, service: CeremonyService, principal: Principal, follower: Follower
) -> None:
    """Write what `principal` may see until the service ends `follower` or the principal's access ends."""
    while True:
        try:
            envelope = await follower.next(HEARTBEAT_SECONDS)
        except (TimeoutError, AccessChanged) as woken:
            if (why := standing(service, principal)) is not None:
                await _end(response, why)
                return
            if isinstance(woken, TimeoutError):
                await response.write(b": heartbeat\n\n")  # keeps proxies from closing an idle stream
            continue
        if envelope is None:
            return
        # Asked before every event (the state has folded it in already), so a revoked link's
        # stream is sent nothing after its revocation, not even the revocation itself.
        if (why := standing(service, principal)) is not None:
            await _end(response, why)
            return
        shown = views.envelope_json(envelope, principal)
        if shown is None:
            continue
        summary = views.summary(service.get(envelope.ceremony))
        payload = json.dumps({"event": shown, "state": summary}, ensure_ascii=False)
        await response.write(f"id: {envelope.seq}\nevent: ceremony\ndata: {payload}\n\n".encode())


async def _end(response: web.StreamResponse, why: str) -> None:
    """The documented last message of a stream whose access ended (docs/api.md); the handler then closes it."""
    await response.write(f"event: revoked\ndata: {json.dumps({'reason': why})}\n\n".encode())
