"""Capability checks at the HTTP edge.

A request proves a role with a token, from `Authorization: Bearer <token>`
(scripts) or from a cookie set when a browser opened its link (pages). Links
carry the token in the URL *fragment* (`/c/<id>/enter#<token>`), which never
reaches the server's or a proxy's logs; the enter page posts it once and gets
an HttpOnly, SameSite=Strict cookie back.

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
from ceremony.state import CeremonyState, Invitation

from .appkeys import SERVICE
from .errors import Forbidden, NotFound, Unauthenticated

OPERATOR_COOKIE = "cap-operator"
ALL_ROLES = frozenset(Role)
_ROLE_COOKIE = re.compile(r"^cap-(?P<ceremony>[0-9a-f]{16})-(?P<role>[a-z]+)$")  # what role_cookie() names


def role_cookie(ceremony: str, role: Role) -> str:
    return f"cap-{ceremony}-{role.value}"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: an operator (server-wide) or one invitation's holder."""

    ceremony: str | None
    role: Role | None  # None for the operator
    invitation: Invitation | None

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


def require_operator(request: web.Request) -> Principal:
    service = request.app[SERVICE]
    candidates = _candidates(request, [OPERATOR_COOKIE])
    if not candidates:
        raise Unauthenticated("this page needs the operator link printed by `ceremony serve`")
    for token, from_cookie in candidates:
        if operator_valid(service, token):
            _check_origin(request, from_cookie)
            return Principal(None, None, None)
    raise Forbidden("this operator link is not valid (revoked, or from another server)")


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
    for token, from_cookie in candidates:
        if operator and operator_valid(service, token):
            _check_origin(request, from_cookie)
            return Principal(state.id, None, None)
        if not looks_like_token(token):
            continue
        invitation = state.invitation_by_token(token_hash(token))
        if invitation is None:
            continue
        if not invitation.active:
            held.append(f"the {invitation.role.value} link was revoked")
            continue
        if invitation.role in wanted:
            _check_origin(request, from_cookie)
            return Principal(state.id, invitation.role, invitation)
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


def same_origin(request: web.Request) -> bool:
    """The one Origin rule (cookie-authenticated writes here, signaling sockets in signal_gate.py).

    No Origin header passes (not a browser's cross-site request); otherwise it
    must be this server's own origin, directly or behind a proxy that sets
    X-Forwarded-Proto.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    own = f"{request.scheme}://{request.host}"
    forwarded = request.headers.get("X-Forwarded-Proto")
    alternatives = {own}
    if forwarded:
        alternatives.add(f"{forwarded}://{request.host}")
    return origin in alternatives


def set_cap_cookie(response: web.StreamResponse, request: web.Request, name: str, token: str) -> None:
    response.set_cookie(
        name,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.secure or request.headers.get("X-Forwarded-Proto") == "https",
        path="/",
        max_age=60 * 60 * 24 * 30,
    )


def held_ceremonies(request: web.Request, roles: Iterable[Role]) -> set[str] | None:
    """The ceremonies this browser's cookies prove one of `roles` in; None for the operator (all of them).

    The same checks as require(), cookie by cookie, across ceremonies: a revoked,
    mistyped or other-role cookie is skipped silently, as a list has no single
    reason to give.
    """
    service = request.app[SERVICE]
    if any(operator_valid(service, token) for token, _ in _candidates(request, [OPERATOR_COOKIE])):
        return None
    wanted = frozenset(roles)
    held: set[str] = set()
    for name, token in request.cookies.items():
        match = _ROLE_COOKIE.match(name)
        if match is None or match["role"] not in wanted:
            continue
        invitation = resolve_link(service, match["ceremony"], token)
        if invitation is not None and invitation.role in wanted:
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
