"""The signaling socket's gate: web's capability check and Origin rule, as WebSocket close codes.

signaling/ sits below web/ and imports nothing from it; the app factory hands
`signal_gate` to the Hub (signaling.hub.Gate). Failures are reported after the
upgrade, with a close code a browser script can read (docs/signaling.md).
"""

from __future__ import annotations

from aiohttp import web

from ceremony.events import Role
from ceremony.state import Invitation
from signaling.errors import FORBIDDEN, NO_CEREMONY, UNAUTHENTICATED, AccessRefused

from .auth import require, same_origin
from .errors import NotFound, Unauthenticated, WebError


def signal_gate(request: web.Request, roles: tuple[Role, ...]) -> Invitation:
    """The invitation this request holds for the path's ceremony, among `roles`; or AccessRefused."""
    try:
        principal = require(request, roles)
    except NotFound as exc:
        raise AccessRefused(NO_CEREMONY, exc.reason) from None
    except Unauthenticated as exc:
        raise AccessRefused(UNAUTHENTICATED, exc.reason) from None
    except WebError as exc:
        raise AccessRefused(FORBIDDEN, exc.reason) from None
    # A socket upgrade is a GET, which require() does not Origin-check; a socket the browser's
    # cookie authenticates must come from our own pages (cross-site WebSocket hijacking), whatever
    # other headers it carries. Browsers always send Origin on a WebSocket upgrade, so a cookie
    # without one is refused too. A bearer token is not ambient authority: its Origin is not checked.
    if principal.session is not None and not same_origin(request, missing_ok=False):
        raise AccessRefused(FORBIDDEN, "cross-site connection refused (a browser's socket must come from our pages)")
    assert principal.invitation is not None  # roles, not operator=True: always an invitation
    return principal.invitation
