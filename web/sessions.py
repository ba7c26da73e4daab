"""Browser sessions: how long a capability cookie lives, and how a browser signs out.

POST /api/sessions/sign-out     end the sessions this browser's cookies name, and clear the cookies
POST /api/operator/revoke-all   revoke every operator link (the operator's own session ends with it)

Opening a link (web/entry.py) starts a session through `start_session`: the cookie
holds the session's random id, the store only its SHA-256 (web/auth.py resolves it).
Both routes answer a script (Accept: JSON) with JSON and a plain form post with a
303 to the landing page, which says what happened; so the header's sign-out is a
form that works on every page, scripts or not.

How long a session lives (docs/api.md, "Browser sessions"), by the link it was opened with:

- a ceremony link: until the ceremony's scheduled end plus SESSION_MARGIN, at least
  SESSION_MARGIN from now and at most MAX_SESSION (a host preparing weeks ahead opens
  the link again after a week);
- an archivist link: ARCHIVIST_SESSION, as the record is fetched after the seal, often
  days after the ceremony, and the link reads and downloads and can change nothing;
- an operator link: OPERATOR_SESSION, a working day: it may create and run any ceremony.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web

from ceremony.capabilities import looks_like_token, token_hash
from ceremony.events import Role
from ceremony.state import CeremonyState

from .appkeys import SERVICE
from .auth import OPERATOR_COOKIE, cap_cookie_names, clear_cap_cookie, require_operator, same_origin, set_cap_cookie
from .errors import Forbidden

routes = web.RouteTableDef()

SESSION_MARGIN = timedelta(hours=12)  # ceremonies run late; and the host looks back after the seal
MAX_SESSION = timedelta(days=7)
ARCHIVIST_SESSION = timedelta(days=30)
OPERATOR_SESSION = timedelta(hours=12)

SIGNED_OUT = "/?notice=signed-out"
OPERATOR_LINKS_REVOKED = "/?notice=operator-links-revoked"


def session_expiry(state: CeremonyState | None, role: Role | None, now: datetime) -> datetime:
    """When a session opened now with a link of `role` in `state` ends (role None: the operator's)."""
    if role is None or state is None:
        return now + OPERATOR_SESSION
    if role is Role.ARCHIVIST:
        return now + ARCHIVIST_SESSION
    schedule = state.definition.schedule
    end = schedule.start + timedelta(minutes=schedule.duration_minutes)
    return min(now + MAX_SESSION, max(now, end) + SESSION_MARGIN)


async def start_session(
    request: web.Request,
    response: web.StreamResponse,
    name: str,
    expires_at: datetime,
    *,
    ceremony: str | None = None,
    invitation: str | None = None,
    operator_token_sha256: str | None = None,
) -> None:
    """A new session for one link, in cookie `name`; a session the browser held under that name ends."""
    service = request.app[SERVICE]
    replaced = request.cookies.get(name, "")
    if looks_like_token(replaced):
        await service.revoke_sessions([token_hash(replaced)])
    session_id = await service.open_session(
        expires_at, ceremony=ceremony, invitation=invitation, operator_token_sha256=operator_token_sha256
    )
    max_age = int((expires_at - service.clock()).total_seconds())
    set_cap_cookie(response, request, name, session_id, max_age)


def _answer(request: web.Request, body: dict[str, int], landing: str) -> web.Response:
    """JSON for a script; for a form post, a 303 to the page that says what happened."""
    if "json" in request.headers.get("Accept", "") or request.content_type == "application/json":
        return web.json_response(body)
    return web.Response(status=303, headers={"Location": landing})


@routes.post("/api/sessions/sign-out")
async def sign_out(request: web.Request) -> web.Response:
    """End every session this browser's cookies name; streams opened with them end too."""
    if not same_origin(request):
        raise Forbidden("cross-site request refused")
    names = cap_cookie_names(request)
    ids = {token_hash(value) for name in names if looks_like_token(value := request.cookies[name])}
    count = await request.app[SERVICE].revoke_sessions(ids)
    response = _answer(request, {"signed_out": count}, SIGNED_OUT)
    for name in names:
        clear_cap_cookie(response, request, name)
    return response


@routes.post("/api/operator/revoke-all")
async def revoke_operator_links(request: web.Request) -> web.Response:
    """Revoke every operator link, this one too; a new one comes from `ceremony operator-link`."""
    require_operator(request)  # a cookie-authenticated call must come from our own pages
    count = await request.app[SERVICE].revoke_operator_links()
    response = _answer(request, {"revoked": count}, OPERATOR_LINKS_REVOKED)
    if OPERATOR_COOKIE in request.cookies:
        clear_cap_cookie(response, request, OPERATOR_COOKIE)
    return response
