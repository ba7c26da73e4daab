"""The live broadcast for observers: HLS from the log, the watch page, and the host's broadcast controls.

GET  /c/{id}/watch               the watch page (an observer or host link, or anybody once public)
GET  /c/{id}/watch/status        where the broadcast stands: off, waiting, live, paused, ended
GET  /c/{id}/watch/live.m3u8     the live playlist, written from the log (web/hls.py)
GET  /c/{id}/watch/init.mp4      the programme's init segment
GET  /c/{id}/watch/NNNNNN.m4s    a programme segment the log lists
GET  /api/ceremonies/{id}/broadcast   (host) recording per track, broadcast state, viewers, RTMP
POST /api/ceremonies/{id}/broadcast   (host) {"public": bool?, "paused": bool?}
GET  /static/vendor/hls.min.js   hls.js from node_modules (package-lock.json), never a CDN

Segments and playlists are plain bytes with cache headers, so an HTTP cache in front
(docs/deploy.md) carries the viewers. What the host sets here (public, paused) lives in
this process's memory and is no part of the evidence: pausing the broadcast stops the
playlist from advancing and the RTMP pushes, never the recording, which the recorder keeps
appending to the log until the seal or the end.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from ceremony.events import Role, SegmentRecorded, format_time
from ceremony.recording import HALL_PREFIX, PROGRAMME, hall_track
from ceremony.state import ENDED, CeremonyState

from . import hls
from .api import _object, read_json
from .appkeys import RECORDERS, RTMP, SETTINGS, TEMPLATES
from .auth import ceremony_state, require
from .client import address_of
from .errors import BadRequest, Forbidden, NotFound, NotRecorded, Unauthenticated
from .i18n import Translator, negotiate
from .links import base_url
from .pages import _page, _schedule, _zones

routes = web.RouteTableDef()

VIEWER_WINDOW = 15.0  # seconds: a viewer counts while its player reloaded the playlist this recently
MAX_TRACKED = 50_000  # distinct viewers remembered at once (a flood of addresses cannot grow memory)
WATCH_ROLES = (Role.OBSERVER, Role.HOST)
HLS_JS = Path(__file__).resolve().parent.parent / "node_modules" / "hls.js" / "dist" / "hls.min.js"
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_CACHE = "max-age=31536000, immutable"  # a logged segment never changes: its hash is in the record


@dataclass
class Broadcast:
    """One ceremony's broadcast controls and audience (web memory only, not evidence)."""

    public: bool = False
    paused_after: int | None = None  # paused: the last segment index observers may have
    seen: dict[str, float] = field(default_factory=dict)  # viewer key -> when it last fetched the playlist

    @property
    def paused(self) -> bool:
        return self.paused_after is not None

    def saw(self, viewer: str, now: float) -> None:
        self.seen[viewer] = now
        if len(self.seen) > MAX_TRACKED:
            self._forget(now)
            while len(self.seen) > MAX_TRACKED:  # all recent: drop the oldest (dicts keep insertion order)
                self.seen.pop(next(iter(self.seen)))

    def viewers(self, now: float) -> int:
        self._forget(now)
        return len(self.seen)

    def _forget(self, now: float) -> None:
        for key in [k for k, at in self.seen.items() if now - at > VIEWER_WINDOW]:
            del self.seen[key]


class Broadcasts:
    """The broadcasts of this server's ceremonies; `clock` (monotonic seconds) ages the viewer counts."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._by_ceremony: dict[str, Broadcast] = {}
        self.clock = clock

    def get(self, ceremony: str) -> Broadcast:
        return self._by_ceremony.setdefault(ceremony, Broadcast())


BROADCASTS = web.AppKey("broadcasts", Broadcasts)


def setup(app: web.Application, *, clock: Callable[[], float] = time.monotonic) -> None:
    """Register the broadcast's state and routes (before the /static/ resource)."""
    app[BROADCASTS] = Broadcasts(clock)
    app[TEMPLATES].globals["hls_js_url"] = hls_js_url  # view.html's observer player loads it too
    app.add_routes(routes)


# ------------------------------------------------------------------ reading the log


def recording_on(state: CeremonyState) -> bool:
    return state.definition.recording


def track_segments(state: CeremonyState, track: str) -> tuple[SegmentRecorded, ...]:
    """The track's `recording.segment` events from the log (empty before the first)."""
    return state.recording.track(track).segments


def _shown(segments: Sequence[SegmentRecorded], broadcast: Broadcast) -> list[SegmentRecorded]:
    """The programme segments observers may have: all of them, or up to the pause."""
    if broadcast.paused_after is None:
        return list(segments)
    return [s for s in segments if s.index <= broadcast.paused_after]


def watch_state(state: CeremonyState, broadcast: Broadcast) -> str:
    """off (not recorded), ended (sealed or cancelled), paused, live, or waiting (nothing logged yet)."""
    if not recording_on(state):
        return "off"
    segments = track_segments(state, PROGRAMME)
    playable = hls.has_init(segments) and bool(hls.media_segments(segments))
    if state.phase in ENDED:
        return "ended"
    if broadcast.paused:
        return "paused"
    return "live" if playable else "waiting"


# ------------------------------------------------------------------ access


def _viewer(request: web.Request, broadcast: Broadcast) -> str | None:
    """Who is watching (a key for the viewer count), or None for the host; 401/403 unless allowed.

    An observer or host link always may; anybody may once the host made the broadcast public.
    """
    try:
        principal = require(request, WATCH_ROLES, operator=True)
    except (Unauthenticated, Forbidden):
        if not broadcast.public:
            raise
        return f"address:{address_of(request)}"
    if principal.role is not Role.OBSERVER:
        return None  # the host's own look at the broadcast is no viewer
    if principal.session is not None:
        return f"session:{principal.session}"
    return f"invitation:{principal.invitation.id if principal.invitation else ''}"


def _playlist_cache(broadcast: Broadcast) -> str:
    # Public: any cache may keep it a second, so thousands of players cost the server one fetch a second.
    return "public, max-age=1" if broadcast.public else "private, no-store"


def _segment_cache(broadcast: Broadcast) -> str:
    return f"{'public' if broadcast.public else 'private'}, {SEGMENT_CACHE}"


def _broadcast(request: web.Request, state: CeremonyState) -> Broadcast:
    return request.app[BROADCASTS].get(state.id)


# ------------------------------------------------------------------ observers' routes


@routes.get("/c/{ceremony}/watch")
async def watch_page(request: web.Request) -> web.Response:
    """The broadcast alone: what a public link opens (observers also have it on their own page)."""
    state = ceremony_state(request)
    _viewer(request, _broadcast(request, state))
    lang = negotiate(request)
    t = Translator(lang)
    data = {
        "ceremony": state.id,
        "lang": lang,
        "zones": _zones(state.definition),
        "messages": t.catalogue("js.watch.") | t.catalogue("state."),
    }
    return _page(
        request, "watch.html", state=state, d=state.definition, schedule=_schedule(state.definition), data=data
    )


@routes.get("/c/{ceremony}/watch/status")
async def status(request: web.Request) -> web.Response:
    state = ceremony_state(request)
    broadcast = _broadcast(request, state)
    _viewer(request, broadcast)
    return web.json_response(
        {"state": watch_state(state, broadcast), "public": broadcast.public, "phase": state.phase.value},
        headers={"Cache-Control": _playlist_cache(broadcast)},
    )


@routes.get("/c/{ceremony}/watch/live.m3u8")
async def live(request: web.Request) -> web.Response:
    state = ceremony_state(request)
    broadcast = _broadcast(request, state)
    viewer = _viewer(request, broadcast)
    if viewer is not None:
        broadcast.saw(viewer, request.app[BROADCASTS].clock())
    segments = _shown(track_segments(state, PROGRAMME), broadcast)
    if not recording_on(state):
        raise NotRecorded("this ceremony is not recorded, so there is no broadcast")
    if not (hls.has_init(segments) and hls.media_segments(segments)):
        raise NotFound("the broadcast has not started: no programme segment is in the log yet")
    gaps = state.recording.track(PROGRAMME).gaps
    restarts = [g.media_start for g in gaps if g.reason == "recorder_restart"]
    body = hls.live_playlist(segments, ended=state.phase in ENDED, restarts=restarts)
    return web.Response(
        text=body, content_type=PLAYLIST_TYPE, charset="utf-8", headers={"Cache-Control": _playlist_cache(broadcast)}
    )


@routes.get("/c/{ceremony}/watch/{name}")
async def segment(request: web.Request) -> web.StreamResponse:
    state = ceremony_state(request)
    broadcast = _broadcast(request, state)
    _viewer(request, broadcast)
    name = request.match_info["name"]
    shown = _shown(track_segments(state, PROGRAMME), broadcast)
    if not hls.SEGMENT_FILE.match(name) or not hls.listed(shown, name):
        raise NotFound(f"no segment '{name[:40]}' in this ceremony's broadcast")
    path = request.app[SETTINGS].data_dir / "media" / state.id / PROGRAMME / name
    if not path.is_file():
        raise NotFound(f"segment '{name}' is in the log, but its file is not kept here (media retention)")
    content_type = "video/mp4" if name == hls.INIT_NAME else "video/iso.segment"
    return web.FileResponse(path, headers={"Cache-Control": _segment_cache(broadcast), "Content-Type": content_type})


# ------------------------------------------------------------------ the host's controls


@routes.get("/api/ceremonies/{ceremony}/broadcast")
async def get_broadcast(request: web.Request) -> web.Response:
    require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    return web.json_response(_broadcast_json(request, state))


@routes.post("/api/ceremonies/{ceremony}/broadcast")
async def set_broadcast(request: web.Request) -> web.Response:
    require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    body = _object(await read_json(request), {"public", "paused"})
    flags = ("public", "paused")
    bad: list[dict[str, str | int]] = [
        {"field": k, "reason": "must be true or false"} for k in flags if not _bool_or_absent(body, k)
    ]
    if bad:
        raise BadRequest("'public' and 'paused' must be true or false", bad)
    if not recording_on(state):
        raise NotRecorded("this ceremony is not recorded, so there is no broadcast to change")
    broadcast = _broadcast(request, state)
    if "public" in body:
        broadcast.public = body["public"]
    if "paused" in body and body["paused"] != broadcast.paused:
        shown = hls.media_segments(track_segments(state, PROGRAMME))
        broadcast.paused_after = (shown[-1].index if shown else 0) if body["paused"] else None
        rtmp = request.app.get(RTMP)
        if rtmp is not None:  # the RTMP pushes stop with the broadcast (web/rtmp.py)
            rtmp.pause(state.id, broadcast.paused)
    return web.json_response(_broadcast_json(request, state))


def _bool_or_absent(body: Mapping[str, Any], key: str) -> bool:
    return key not in body or isinstance(body[key], bool)


def _broadcast_json(request: web.Request, state: CeremonyState) -> dict[str, Any]:
    broadcast = _broadcast(request, state)
    rtmp = request.app.get(RTMP)
    return {
        "recording": recording_on(state),
        # Said in every answer, as the console says it: the evidence recording has no pause.
        "recording_pausable": False,
        "recording_note": "the evidence recording cannot be paused; it stops only at the seal or the end",
        "state": watch_state(state, broadcast),
        "public": broadcast.public,
        "paused": broadcast.paused,
        "viewers": broadcast.viewers(request.app[BROADCASTS].clock()),
        "public_url": f"{base_url(request)}/c/{state.id}/watch",
        "tracks": [_track_json(state, track) for track in _tracks(state)],
        # Each {"target" (no stream key), "state", "attempts", "problem", "since"}: web/rtmp.py's.
        "rtmp": rtmp.status(state.id) if rtmp is not None else [],
        # The recorder process: starting, recording, stopping, stopped, or failed (restarted shortly).
        "recorder": request.app[RECORDERS].status(state.id),
    }


def _tracks(state: CeremonyState) -> list[str]:
    """The halls' tracks in the definition's order, then the programme."""
    return [hall_track(v.id) for v in state.definition.venues] + [PROGRAMME]


def _track_json(state: CeremonyState, track: str) -> dict[str, Any]:
    recorded = state.recording.track(track)
    media = hls.media_segments(recorded.segments)
    last = media[-1] if media else None
    return {
        "track": track,
        "venue": track.removeprefix(HALL_PREFIX) if track != PROGRAMME else None,
        "recorded_seconds": round(recorded.recorded_seconds, 3),
        "segments": len(media),
        "last": None if last is None else {"name": last.name, "wall_start": format_time(last.wall_start)},
        "gaps": len(recorded.gaps),
    }


# ------------------------------------------------------------------ hls.js, from node_modules


@dataclass(frozen=True)
class Vendored:
    body: bytes
    version: str


_VENDORED: dict[Path, Vendored] = {}


def vendored(path: Path = HLS_JS) -> Vendored:
    """hls.js as `npm ci` installed it (read once); 503-worthy if setup was skipped."""
    found = _VENDORED.get(path)
    if found is None:
        body = path.read_bytes()
        found = _VENDORED[path] = Vendored(body, hashlib.sha256(body).hexdigest()[:16])
    return found


def hls_js_url() -> str:
    """The versioned address pages load hls.js from (a new version, a new address: cached for a year)."""
    try:
        return f"/static/vendor/hls.min.js?v={vendored().version}"
    except OSError:
        return "/static/vendor/hls.min.js"


@routes.get("/static/vendor/hls.min.js")
async def hls_js(request: web.Request) -> web.Response:
    try:
        script = vendored()
    except OSError:
        raise NotFound("hls.js is not installed on this server: run `make setup` (npm ci)") from None
    cache = "public, max-age=31536000, immutable" if request.query.get("v") == script.version else "no-cache"
    return web.Response(
        body=script.body, content_type="text/javascript", charset="utf-8", headers={"Cache-Control": cache}
    )
