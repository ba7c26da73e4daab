"""Live timeline as server-sent events, resumable with Last-Event-ID.

Each message's id is the event's sequence number, so a browser's EventSource
reconnects by itself and receives exactly what it missed.
"""

from __future__ import annotations

import json

from aiohttp import web

from . import views
from .appkeys import SERVICE
from .auth import ALL_ROLES, ceremony_state, require
from .errors import BadRequest

routes = web.RouteTableDef()
HEARTBEAT_SECONDS = 15.0


@routes.get("/api/ceremonies/{ceremony}/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    principal = require(request, ALL_ROLES, operator=True)
    state = ceremony_state(request)
    resume = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    if not resume.isdigit() or len(resume) > 12:
        raise BadRequest("Last-Event-ID must be a sequence number")
    service = request.app[SERVICE]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    try:
        async with service.follow(state.id, int(resume)) as follower:
            while True:
                try:
                    envelope = await follower.next(HEARTBEAT_SECONDS)
                except TimeoutError:
                    await response.write(b": heartbeat\n\n")  # keeps proxies from closing an idle stream
                    continue
                if envelope is None:
                    break
                shown = views.envelope_json(envelope, principal)
                if shown is None:
                    continue
                summary = views.summary(service.get(state.id))
                payload = json.dumps({"event": shown, "state": summary}, ensure_ascii=False)
                await response.write(f"id: {envelope.seq}\nevent: ceremony\ndata: {payload}\n\n".encode())
    except ConnectionResetError:
        pass  # the browser went away; EventSource will resume with Last-Event-ID
    return response
