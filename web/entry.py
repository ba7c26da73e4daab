"""Opening a capability link: the fragment's token starts a browser session, named by an HttpOnly cookie.

GET  /c/{ceremony}/enter   a small page whose script posts location.hash
POST /c/{ceremony}/enter   {"token": ...} -> a session cookie (never the token) + where to go
(and the same under /console/enter for the operator link)
"""

from __future__ import annotations

from aiohttp import web

from ceremony.capabilities import token_hash
from ceremony.events import Role

from .api import _object, _string_field, read_json
from .appkeys import SERVICE, TEMPLATES
from .auth import OPERATOR_COOKIE, cap_cookie_names, ceremony_state, operator_valid, resolve_link, role_cookie
from .errors import Forbidden
from .i18n import Translator, negotiate
from .sessions import session_expiry, start_session

routes = web.RouteTableDef()


def page_for(ceremony: str, role: Role) -> str:
    """Where a role's link lands."""
    if role is Role.HOST:
        return f"/c/{ceremony}/host"
    if role is Role.VENUE:
        return f"/c/{ceremony}/venue"
    if role is Role.SIGNATORY:
        return f"/c/{ceremony}/sign"
    if role is Role.ARCHIVIST:
        return f"/c/{ceremony}/archive"
    return f"/c/{ceremony}/view"


def _enter_page(request: web.Request) -> web.Response:
    lang = negotiate(request)
    signed_in = bool(cap_cookie_names(request))
    t = Translator(lang)
    # A refused link is said by its error code in the page's language; the server's English reason is secondary.
    messages = {k: t(k) for k in ("js.network", "js.http")} | t.catalogue("js.error.") | t.catalogue("js.enter.")
    template = request.app[TEMPLATES].get_template("enter.html")
    html = template.render(lang=lang, t=t, signed_in=signed_in, messages=messages)
    return web.Response(text=html, content_type="text/html")


@routes.get("/c/{ceremony}/enter")
async def enter_page(request: web.Request) -> web.Response:
    ceremony_state(request)  # 404 for an unknown ceremony
    return _enter_page(request)


@routes.post("/c/{ceremony}/enter")
async def enter(request: web.Request) -> web.Response:
    state = ceremony_state(request)
    token = _string_field(_object(await read_json(request), {"token"}), "token") or ""
    invitation = resolve_link(request.app[SERVICE], state.id, token)
    if invitation is None:
        raise Forbidden("this link is not valid: it may have been revoked, or mistyped; ask the host for a new one")
    response = web.json_response({"redirect": page_for(state.id, invitation.role), "role": invitation.role.value})
    expires = session_expiry(state, invitation.role, request.app[SERVICE].clock())
    name = role_cookie(state.id, invitation.role)
    await start_session(request, response, name, expires, ceremony=state.id, invitation=invitation.id)
    return response


@routes.get("/console/enter")
async def console_enter_page(request: web.Request) -> web.Response:
    return _enter_page(request)


@routes.post("/console/enter")
async def console_enter(request: web.Request) -> web.Response:
    token = _string_field(_object(await read_json(request), {"token"}), "token") or ""
    if not operator_valid(request.app[SERVICE], token):
        raise Forbidden("this operator link is not valid (revoked, or from another server)")
    response = web.json_response({"redirect": "/console", "role": "operator"})
    expires = session_expiry(None, None, request.app[SERVICE].clock())
    await start_session(request, response, OPERATOR_COOKIE, expires, operator_token_sha256=token_hash(token))
    return response
