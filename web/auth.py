"""Capability checks at the HTTP edge.

A request proves a role with a token, from `Authorization: Bearer <token>`
(scripts), or with a browser session (pages). Links carry the token in the URL
*fragment* (`/c/<id>/enter#<token>`), which never reaches the server's or a
proxy's logs; the enter page posts it once (web/entry.py) and gets back an
HttpOnly, SameSite=Strict cookie holding a *session id*, never the token: a
session can be signed out and expires (web/sessions.py), and only its id's
SHA-256 is stored. A cookie counts while its session lives and the link it was
opened with is not revoked.

Cookies are per ceremony and role (`cap-<ceremony>-<role>`), so one browser
can hold, say, the host and an observer link of the same ceremony.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web

from ceremony.capabilities import CEREMONY_ID_PATTERN, looks_like_token, token_hash
from ceremony.errors import UnknownCeremony
from ceremony.events import Role
from ceremony.runtime.service import CeremonyService
from ceremony.runtime.store import Session
from ceremony.state import CeremonyState, Invitation

from .appkeys import SERVICE
from .client import forwarded_proto
from .errors import Forbidden, NotFound, Unauthenticated

OPERATOR_COOKIE = "cap-operator"
ALL_ROLES = frozenset(Role)
_ROLE_COOKIE = re.compile(r"^cap-(?P<ceremony>[0-9a-f]{16})-(?P<role>[a-z]+)\Z")  # what role_cookie() names


def role_cookie(ceremony: str, role: Role) -> str:
    return f"cap-{ceremony}-{role.value}"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: an operator (server-wide) or one invitation's holder."""

    ceremony: str | None
    role: Role | None  # None for the operator
    invitation: Invitation | None
    session: str | None = None  # the SHA-256 of the browser session it came with; None for a bearer token
    operator_token: str | None = None  # the operator's: the SHA-256 of the operator token behind it

    @property
    def is_operator(self) -> bool:
        return self.role is None

    @property
    def actor(self) -> str:
        """How the log names this principal (no secrets: an invitation id)."""
        if self.invitation is None:
            return "operator"
        return f"{self.invitation.role.value}:{self.invitation.id}"


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _candidates(request: web.Request, names: Iterable[str]) -> list[tuple[str, bool]]:
    """(token, from_cookie) pairs: the bearer token first, then matching cookies."""
    found: list[tuple[str, bool]] = []
    bearer = _bearer(request)
    if bearer is not None:
        found.append((bearer, False))
    for name in names:
        value = request.cookies.get(name)
        if value:
            found.append((value, True))
    return found


def ceremony_state(request: web.Request) -> CeremonyState:
    """The ceremony named in the path, or 404."""
    ceremony = request.match_info.get("ceremony", "")
    if not CEREMONY_ID_PATTERN.match(ceremony):
        raise NotFound(f"no ceremony '{ceremony[:40]}'")
    try:
        return request.app[SERVICE].get(ceremony)
    except UnknownCeremony as exc:
        raise NotFound(str(exc)) from exc


def operator_valid(service: CeremonyService, token: str) -> bool:
    return looks_like_token(token) and service.operator_token_valid(token_hash(token))


SESSION_ENDED = "this browser's session has ended (signed out, expired, or replaced): open the link again"


def _session(service: CeremonyService, session_id: str) -> Session | None:
    return service.session(token_hash(session_id)) if looks_like_token(session_id) else None


def _principal(
    service: CeremonyService, value: str, *, from_cookie: bool, state: CeremonyState | None
) -> Principal | None:
    """What one presented credential stands for (revoked invitations included: the caller says why), or None.

    A bearer value is a link's token: an operator's, or one of `state`'s invitations. A cookie's
    is a session id: its live session's link, which must belong to `state` when one is given.
    """
    if not from_cookie:
        if operator_valid(service, value):
            return Principal(state.id if state else None, None, None, operator_token=token_hash(value))
        invitation = state.invitation_by_token(token_hash(value)) if state and looks_like_token(value) else None
        return None if invitation is None else Principal(state.id if state else None, invitation.role, invitation)
    session = _session(service, value)
    if session is None:
        return None
    if session.operator_token_sha256 is not None:
        if not service.operator_token_valid(session.operator_token_sha256):
            return None
        return Principal(
            state.id if state else None,
            None,
            None,
            session=session.id_sha256,
            operator_token=session.operator_token_sha256,
        )
    if session.ceremony is None or (state is not None and session.ceremony != state.id):
        return None
    try:
        linked = state or service.get(session.ceremony)
    except UnknownCeremony:
        return None
    invitation = linked.invitations.get(session.invitation or "")
    if invitation is None:
        return None
    return Principal(linked.id, invitation.role, invitation, session=session.id_sha256)


def require_operator(request: web.Request) -> Principal:
    service = request.app[SERVICE]
    candidates = _candidates(request, [OPERATOR_COOKIE])
    if not candidates:
        raise Unauthenticated("this page needs the operator link printed by `ceremony serve`")
    for value, from_cookie in candidates:
        found = _principal(service, value, from_cookie=from_cookie, state=None)
        if found is not None and found.is_operator:
            _check_origin(request, from_cookie)
            return found
    raise Forbidden("this operator link is not valid (revoked, or from another server, or signed out)")


def require(request: web.Request, roles: Iterable[Role], *, operator: bool = False) -> Principal:
    """The principal for the path's ceremony holding one of `roles`, or 401/403/404.

    The checks run in an order that leaks nothing: an unknown ceremony is 404
    for everyone, which is fine as ceremony ids are not secrets; what they
    protect is the token.
    """
    state = ceremony_state(request)
    wanted = frozenset(roles)
    names = [role_cookie(state.id, role) for role in Role]
    if operator:
        names.append(OPERATOR_COOKIE)
    candidates = _candidates(request, names)
    if not candidates:
        raise Unauthenticated("this needs a capability link for this ceremony; ask the host for one")
    service = request.app[SERVICE]
    held: list[str] = []
    for value, from_cookie in candidates:
        found = _principal(service, value, from_cookie=from_cookie, state=state)
        if found is None:
            session = _session(service, value) if from_cookie else None
            if from_cookie and session is None:
                held.append(SESSION_ENDED)
            elif session is not None and session.operator_token_sha256 is not None:
                held.append("the operator link was revoked")
            continue
        if found.invitation is None:  # the operator
            if operator:
                _check_origin(request, from_cookie)
                return found
            continue
        invitation = found.invitation
        if not invitation.active:
            held.append(f"the {invitation.role.value} link was revoked")
            continue
        if invitation.role in wanted:
            _check_origin(request, from_cookie)
            return found
        held.append(f"a {invitation.role.value} link does not allow this")
    allowed = " or ".join(sorted(r.value for r in wanted)) or "operator"
    reason = "; ".join(held) if held else "the link is not valid for this ceremony"
    raise Forbidden(f"{reason} (needs a {allowed} link)")


def _check_origin(request: web.Request, from_cookie: bool) -> None:
    """CSRF guard: a cookie-authenticated write must come from our own pages.

    SameSite=Strict already keeps cookies off cross-site requests; checking
    Origin as well covers browsers or proxies that get SameSite wrong.
    """
    if not from_cookie or request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if not same_origin(request):
        raise Forbidden("cross-site request refused")


def same_origin(request: web.Request, *, missing_ok: bool = True) -> bool:
    """The one Origin rule (cookie-authenticated writes here, signaling sockets in signal_gate.py).

    No Origin header passes when `missing_ok` (not a browser's cross-site request);
    otherwise it must be this server's own origin, directly or behind a proxy that
    sets X-Forwarded-Proto. A form our pages post (sign-out) says `Origin: null`, as
    their referrer policy is no-referrer: the browser's own Sec-Fetch-Site, which no
    page can set, then vouches for it.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return missing_ok
    if origin == "null":
        return request.headers.get("Sec-Fetch-Site") == "same-origin"
    own = f"{request.scheme}://{request.host}"
    forwarded = forwarded_proto(request)
    alternatives = {own}
    if forwarded:
        alternatives.add(f"{forwarded}://{request.host}")
    return origin in alternatives


def _secure(request: web.Request) -> bool:
    return request.secure or forwarded_proto(request) == "https"


def set_cap_cookie(
    response: web.StreamResponse, request: web.Request, name: str, session_id: str, max_age: int
) -> None:
    """The cookie naming a browser session; `max_age` (seconds) ends it when the session expires."""
    response.set_cookie(
        name, session_id, httponly=True, samesite="Strict", secure=_secure(request), path="/", max_age=max_age
    )


def clear_cap_cookie(response: web.StreamResponse, request: web.Request, name: str) -> None:
    """Tell the browser to drop a capability cookie (Max-Age=0, with the attributes it was set with)."""
    response.del_cookie(name, path="/", secure=_secure(request), httponly=True, samesite="Strict")


def cap_cookie_names(request: web.Request) -> list[str]:
    """The capability cookies this browser sends (valid or not): what signing out clears."""
    return [name for name in request.cookies if name == OPERATOR_COOKIE or _ROLE_COOKIE.match(name)]


def standing(service: CeremonyService, principal: Principal) -> str | None:
    """Why `principal` no longer holds (`link_revoked`, `session_ended`), or None while it does.

    What a long-lived response (the SSE timeline) asks again as it goes on; a request asks
    require() once.
    """
    if principal.session is not None and service.session(principal.session) is None:
        return "session_ended"
    if principal.operator_token is not None:
        return None if service.operator_token_valid(principal.operator_token) else "link_revoked"
    if principal.invitation is None or principal.ceremony is None:
        return None  # built by hand (the signaling hub's role views), never from a request
    try:
        invitation = service.get(principal.ceremony).invitations.get(principal.invitation.id)
    except UnknownCeremony:
        return "link_revoked"
    return None if invitation is not None and invitation.active else "link_revoked"


def held_ceremonies(request: web.Request, roles: Iterable[Role]) -> set[str] | None:
    """The ceremonies this browser's cookies prove one of `roles` in; None for the operator (all of them).

    The same checks as require(), cookie by cookie, across ceremonies: a revoked,
    mistyped or other-role cookie is skipped silently, as a list has no single
    reason to give.
    """
    service = request.app[SERVICE]
    for value, from_cookie in _candidates(request, [OPERATOR_COOKIE]):
        found = _principal(service, value, from_cookie=from_cookie, state=None)
        if found is not None and found.is_operator:
            return None
    wanted = frozenset(roles)
    held: set[str] = set()
    for name, value in request.cookies.items():
        match = _ROLE_COOKIE.match(name)
        if match is None or match["role"] not in wanted:
            continue
        found = _principal(service, value, from_cookie=True, state=None)
        if found is None or found.ceremony != match["ceremony"]:
            continue  # a session counts only under its own ceremony's name
        invitation = found.invitation
        if invitation is not None and invitation.active and invitation.role in wanted:
            held.add(match["ceremony"])
    return held


def resolve_link(service: CeremonyService, ceremony: str, token: str) -> Invitation | None:
    """The active invitation a token from a link opens, if any."""
    if not looks_like_token(token):
        return None
    try:
        state = service.get(ceremony)
    except UnknownCeremony:
        return None
    invitation = state.invitation_by_token(token_hash(token))
    return invitation if invitation is not None and invitation.active else None
