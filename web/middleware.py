"""The edge: map errors to status codes, add security headers, log without secrets."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from ceremony.canonical import NotCanonicalizable
from ceremony.errors import (
    AbsentSignatories,
    CeremonyError,
    CommandRefused,
    CorruptLog,
    InvalidCommand,
    InvalidDefinition,
    LimitReached,
    StoreError,
    UnknownCeremony,
)
from signatures.errors import (
    AlreadySigning,
    BadSubmission,
    KeyRetired,
    NotARecord,
    PdfSigningFailed,
    SignatureError,
    TimestampError,
    TurnTaken,
)

from .appkeys import SERVICE, SETTINGS, TEMPLATES
from .auth import cap_cookie_names
from .errors import AbsentParties, BadRequest, Conflict, NotFound, StoreUnavailable, TooManyRequests, WebError
from .i18n import Translator, negotiate
from .settings import MAX_BODY_BYTES

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HSTS = "max-age=31536000"
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; media-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def _as_web_error(exc: CeremonyError) -> WebError:
    match exc:
        case InvalidDefinition():
            # Each with its code and parameters, so that a page says it in its own language.
            return BadRequest("the ceremony definition is invalid", exc.problems)
        case InvalidCommand() | NotCanonicalizable():
            return BadRequest(str(exc))
        case AbsentSignatories():
            # Its own code, so the console can ask "seal anyway, recording them as absent?"
            return AbsentParties(str(exc), [{"field": who, "reason": "has not signed the MOU"} for who in exc.absent])
        case CommandRefused():
            return Conflict(str(exc))
        case UnknownCeremony():
            return NotFound(str(exc))
        case LimitReached():
            return TooManyRequests(str(exc), retry_after=30)
        case StoreError() if not isinstance(exc, CorruptLog):
            # The database is away (restarting, failing over): the command did not happen; the pages retry.
            return StoreUnavailable(str(exc), retry_after=2)
    log.error("ceremony error reached the edge: %s", exc)
    return WebError("the server could not complete this; nothing was changed")


def _wants_json(request: web.Request) -> bool:
    """Scripts get JSON errors; a person following a link gets a page."""
    return (
        request.path.startswith(("/api/", "/pki/"))
        or request.path in ("/healthz", "/tsa")
        or request.content_type == "application/json"
        or "json" in request.headers.get("Accept", "")
    )


def _status_reason(exc: web.HTTPException) -> str:
    if exc.status == 413:
        return f"the request body is larger than the {MAX_BODY_BYTES // 1024} KiB limit"
    if exc.status == 405:
        return f"{exc.reason}: this address does not accept that method"
    return exc.reason


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except WebError as exc:
        return _web_error(request, exc)
    except CeremonyError as exc:
        return _web_error(request, _as_web_error(exc))
    except TimestampError as exc:
        # The configured TSA failed: nothing was recorded, and we say so rather than use our own clock.
        return _render_error(request, 503, "timestamp_unavailable", f"{exc}; nothing was recorded, try again", [])
    except TurnTaken as exc:
        return _render_error(request, 503, "busy", str(exc), [])
    except KeyRetired as exc:
        # The server's own key is past its use: the operator restarts it (a new key), then the host retries.
        return _render_error(request, 503, "key_retired", str(exc), [])
    except PdfSigningFailed as exc:
        return _render_error(request, 503, "signing_failed", f"{exc}; nothing was recorded, try again", [])
    except NotARecord as exc:
        return _render_error(request, 400, "not_a_record", str(exc), [])
    except AlreadySigning as exc:
        return _render_error(request, 409, "signing_in_progress", str(exc), [])
    except BadSubmission as exc:
        return _render_error(request, 400, "bad_request", str(exc), [])
    except SignatureError as exc:
        return _render_error(request, 400, "bad_signature_input", str(exc), [])
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _render_error(request, exc.status, exc.reason.lower().replace(" ", "_"), _status_reason(exc), [])
    except ConnectionResetError:
        raise  # the client went away (mid-upgrade, say): nobody to answer, nothing failed here; aiohttp drops it
    except Exception:
        # Never a traceback to the user; the log has it, without request secrets.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _render_error(request, 500, "internal", "the server failed unexpectedly; nothing was changed", [])


def _web_error(request: web.Request, exc: WebError) -> web.Response:
    response = _render_error(request, exc.status, exc.code, exc.reason, exc.fields)
    if exc.close:
        response.force_close()
    if isinstance(exc, TooManyRequests | StoreUnavailable):
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return response


def _render_error(
    request: web.Request, status: int, code: str, reason: str, fields: list[dict[str, str | int]]
) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="ceremony"'} if status == 401 else None
    if _wants_json(request):
        body: dict[str, object] = {"error": code, "reason": reason}
        if fields:
            body["fields"] = fields
        return web.json_response(body, status=status, headers=headers)
    lang = negotiate(request)
    try:
        template = request.app[TEMPLATES].get_template("error.html")
        signed_in = bool(cap_cookie_names(request))  # a revoked link's page offers to clear its cookie
        html = template.render(
            lang=lang,
            t=Translator(lang),
            status=status,
            code=code,
            reason=reason,
            fields=fields,
            signed_in=signed_in,
        )
    except Exception:  # the error page must not fail in turn
        html = f"<!doctype html><title>{status}</title><p>{status}</p>"
    return web.Response(text=html, status=status, content_type="text/html", headers=headers)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    no_banner(response)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.app[SETTINGS].tls:
        # A browser that saw this once goes straight to https for a year, whatever link it is given.
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if request.path.startswith("/api/") or request.path.startswith("/c/") or request.path.startswith("/console"):
        response.headers.setdefault("Cache-Control", "no-store")


def no_banner(response: web.StreamResponse) -> None:
    """No `Server: Python/3.x aiohttp/3.y`: the versions help only someone looking for a known hole."""
    response.headers.popall("Server", None)


class QuietAccessLogger(AbstractAccessLogger):
    """Access log lines with the path only: no query string, no cookies, no tokens."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %d %.1fms", request.remote, request.method, request.path, response.status, time * 1000
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


@web.middleware
async def remember_language(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`?lang=ko` on any page also sticks for the next pages.

    A middleware, not an on_response_prepare hook: by the time those run,
    aiohttp has already written the Set-Cookie headers.
    """
    response = await handler(request)
    lang = request.query.get("lang")
    if lang in ("ko", "zh", "en") and request.cookies.get("lang") != lang and not response.prepared:
        response.set_cookie("lang", lang, samesite="Lax", path="/", max_age=60 * 60 * 24 * 365)
    return response


@web.middleware
async def caught_up(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Several nodes: an API request sees everything any node acknowledged before it was sent.

    A client may be told "201" by one node and send its next request to another (the balancer
    chose, or the first node died): the host approves on node 2 an enrollment made on node 1.
    Each node otherwise learns other nodes' commits a moment later (LISTEN/NOTIFY), so it asks
    the store first: one round trip, and nothing to do when nothing is new. A single node on
    SQLite is its store's only writer and skips this.
    """
    if request.path.startswith("/api/") and request.app[SETTINGS].store_url.sqlite_file is None:
        await request.app[SERVICE].catch_up()
    return await handler(request)
