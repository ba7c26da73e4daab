"""Verifying an uploaded record: the /verify page and POST /api/verify, open to anyone.

A verifier discloses nothing, so no capability is needed; what is guarded is the
machine: bodies up to 64 MiB, read in chunks, and one verification (about a
second of CPU) at a time with only a few uploads held meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from ceremony.events import format_time
from ceremony.runtime.shared_limits import SharedPlaces
from signatures import errors as signature_errors
from signatures.pki import fingerprint
from signatures.record.pins import Pins, parse_fingerprint, parse_moment
from signatures.record.verifier import verify_record

from .appkeys import BUS, PKI, SERVICE, SETTINGS
from .client import limit_key
from .errors import BadRequest, Busy, TooLarge, TooManyRequests, TooSlow, UnsupportedEncoding
from .i18n import Translator, negotiate
from .limits import Limits
from .pages import _page
from .record_view import as_object, record_facts, size_text

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

MAX_RECORD_BYTES = 64 * 1024 * 1024  # a record is a few MiB; this leaves room for recordings later
RECORD_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")
MAX_UPLOADS_IN_HAND = 3  # bodies held at once (each up to 64 MiB) while one is verified
VERIFY_SECONDS = 30.0  # generously, one verification's CPU on a loaded machine


@routes.get("/verify")
async def verify_page(request: web.Request) -> web.Response:
    t = Translator(negotiate(request))
    messages = {**t.catalogue("js.verify."), **{k: t(k) for k in ("js.network", "js.http", "js.unexpected")}}
    root = fingerprint(request.app[PKI].root)
    data = {"limit": MAX_RECORD_BYTES, "lang": negotiate(request), "messages": messages, "root": root}
    return _page(request, "verify.html", data=data, limit=size_text(MAX_RECORD_BYTES), root=root)


@dataclass
class _Verifier:
    """One verification at a time (each is about a second of CPU), and only a few uploads held meanwhile."""

    cpu: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    in_hand: int = 0
    per_client: dict[str, int] = field(default_factory=dict)
    # With several nodes (--bus) a client's places are counted on the bus, so that each node is
    # not one more place; the CPU and the bodies held stay this machine's own to guard.
    shared: SharedPlaces | None = None

    @asynccontextmanager
    async def admit(self, client: str, limit: int) -> AsyncIterator[None]:
        # Per client first: one address that trickles uploads holds its own place, not everyone's.
        place = None
        if self.shared is not None:
            place = await self.shared.take(client, limit)
            if place is None:
                raise TooManyRequests("this address already has a record being uploaded or checked; wait for it", 5)
        elif self.per_client.get(client, 0) >= limit:
            raise TooManyRequests("this address already has a record being uploaded or checked; wait for it", 5)
        try:
            if self.in_hand >= MAX_UPLOADS_IN_HAND:
                raise Busy("the verifier is busy with other records; try again in a few seconds")
            self.in_hand += 1
            self.per_client[client] = self.per_client.get(client, 0) + 1
            try:
                yield
            finally:
                self.in_hand -= 1
                self.per_client[client] -= 1
                if not self.per_client[client]:
                    del self.per_client[client]
        finally:
            if self.shared is not None and place is not None:
                await self.shared.give_back(client, place)


# Keyed by the app, not a plain global, so each server (and each test's app) has its own;
# created on first use, as app.py registers only this module's routes.
_VERIFIERS: weakref.WeakKeyDictionary[web.Application, _Verifier] = weakref.WeakKeyDictionary()


def _verifier(app: web.Application) -> _Verifier:
    verifier = _VERIFIERS.get(app)
    if verifier is None:
        bus = app.get(BUS)
        # A place lapses after the longest upload and a queue of verifications, should its node die.
        lease = app[SETTINGS].limits.upload_seconds + VERIFY_SECONDS * MAX_UPLOADS_IN_HAND
        shared = None if bus is None else SharedPlaces(bus, "verify", lease=lease)
        verifier = _VERIFIERS[app] = _Verifier(shared=shared)
    return verifier


async def _read_upload(request: web.Request, limits: Limits) -> bytes:
    """The raw body, up to MAX_RECORD_BYTES: the app-wide 1 MiB limit only covers read()/json()/post()."""
    too_large = TooLarge(
        f"the file is larger than {size_text(MAX_RECORD_BYTES)}, the most this server checks; "
        "verify it offline with `ceremony verify`"
    )
    if request.content_length is not None and request.content_length > MAX_RECORD_BYTES:
        raise too_large  # said before a byte is read; the server discards the rest
    chunks, total = [], 0
    try:
        # Deadlines for the whole body and for each wait on it: a trickle ends with 408, not a held slot.
        async with asyncio.timeout(limits.upload_seconds):
            while chunk := await asyncio.wait_for(request.content.read(1024 * 1024), limits.upload_idle_seconds):
                total += len(chunk)
                if total > MAX_RECORD_BYTES:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise TooSlow(
            f"the upload was too slow (the whole file within {limits.upload_seconds:g} s, and no pause "
            f"over {limits.upload_idle_seconds:g} s); try again, or verify offline with `ceremony verify`"
        ) from None
    except ConnectionResetError:
        # The uploader went away; no one hears the answer, but the log should not call it our failure.
        raise BadRequest("the upload stopped before the end of the file") from None
    return b"".join(chunks)


def _named_ceremony(named: dict[str, Any]) -> dict[str, Any] | None:
    """The ceremony the record's evidence names (shown beside the report; the checks say if it holds)."""
    if not isinstance(named.get("id"), str):
        return None
    title = {lang: text for lang, text in as_object(named.get("title")).items() if isinstance(text, str)}
    return {"id": named["id"], "title": title}


def _verify(data: bytes, pins: Pins, at: datetime) -> dict[str, Any]:
    """The whole check, in a worker thread: reading the zip too, since a hostile one is costly to list."""
    try:
        report = verify_record(data, pins, at=at)
        ceremony = _named_ceremony(as_object(record_facts(data).evidence.get("ceremony"))) if report.checks else None
    except signature_errors.NotARecord:
        raise  # the verifier alone judges what a record is; the middleware says so (400 not_a_record)
    except Exception as exc:
        # Anyone may upload anything here: a verifier that trips over a file is a finding about
        # that file (and a bug report for us), not a server failure.
        log.exception("the verifier failed on an uploaded file")
        kind = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
        raise BadRequest(f"this file could not be checked: the verifier stopped ({kind})") from None
    return {
        "ok": report.ok,
        "pinned": report.pinned,
        "checks": [asdict(check) for check in report.checks],
        "root_ca_fingerprint": report.root_fingerprint or None,  # the root the checks rest on
        "verified_at": format_time(at),
        "ceremony": ceremony,
    }


def _pins(request: web.Request) -> Pins:
    """This server's own root, unless the person verifying names another root's fingerprint."""
    settings = request.app[SETTINGS]
    tsa = tuple(path.read_bytes() for path in settings.tsa_ca_files)
    wanted = request.query.get("trust")
    if wanted is None:
        return Pins(root_pem=request.app[PKI].root_pem, tsa_pems=tsa)
    fingerprint = parse_fingerprint(wanted)
    if fingerprint is None:
        raise BadRequest("trust must be a root certificate's SHA-256 fingerprint: 64 hexadecimal digits")
    return Pins(root_fingerprint=fingerprint, tsa_pems=tsa)


def _moment(request: web.Request) -> datetime:
    text = request.query.get("at")
    if text is None:
        return request.app[SERVICE].clock()  # the app's clock, as every other route's "now"
    try:
        return parse_moment(text)
    except ValueError as exc:
        raise BadRequest(f"at: {exc}") from None


@routes.post("/api/verify")
async def verify(request: web.Request) -> web.Response:
    if request.content_type not in RECORD_TYPES:
        raise BadRequest("send the record zip as the body, with Content-Type: application/zip")
    if request.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        # A compressed body would be inflated before any of our limits apply: send the zip as it is.
        raise UnsupportedEncoding("send the record zip as it is, without Content-Encoding: a zip is compressed already")
    pins, at = _pins(request), _moment(request)
    verifier = _verifier(request.app)
    limits = request.app[SETTINGS].limits
    async with verifier.admit(limit_key(request), limits.uploads_per_client):
        data = await _read_upload(request, limits)
        async with verifier.cpu:
            answer = await asyncio.to_thread(_verify, data, pins, at)
    return web.json_response(answer, headers={"Cache-Control": "no-store"})
