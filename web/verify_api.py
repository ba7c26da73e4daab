"""Verifying an uploaded record: the /verify page and POST /api/verify, open to anyone.

A verifier discloses nothing, so no capability is needed; what is guarded is the
machine: bodies up to 64 MiB, read in chunks, and one verification (about a
second of CPU) at a time with only a few uploads held meanwhile.
"""

from __future__ import annotations

import asyncio
import io
import logging
import weakref
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from signatures import errors as signature_errors
from signatures.verify import verify_record

from .errors import BadRequest, Busy, NotARecord, TooLarge
from .i18n import Translator, negotiate
from .pages import _page
from .record_view import EVIDENCE, ZIP_ERRORS, as_object, read_evidence, size_text

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

MAX_RECORD_BYTES = 64 * 1024 * 1024  # a record is a few MiB; this leaves room for recordings later
RECORD_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")
MAX_UPLOADS_IN_HAND = 3  # bodies held at once (each up to 64 MiB) while one is verified


@routes.get("/verify")
async def verify_page(request: web.Request) -> web.Response:
    t = Translator(negotiate(request))
    messages = {**t.catalogue("js.verify."), **{k: t(k) for k in ("js.network", "js.http", "js.unexpected")}}
    data = {"limit": MAX_RECORD_BYTES, "lang": negotiate(request), "messages": messages}
    return _page(request, "verify.html", data=data, limit=size_text(MAX_RECORD_BYTES))


@dataclass
class _Verifier:
    """One verification at a time (each is about a second of CPU), and only a few uploads held meanwhile."""

    cpu: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    in_hand: int = 0

    @contextmanager
    def admit(self) -> Iterator[None]:
        if self.in_hand >= MAX_UPLOADS_IN_HAND:
            raise Busy("the verifier is busy with other records; try again in a few seconds")
        self.in_hand += 1
        try:
            yield
        finally:
            self.in_hand -= 1


# Keyed by the app, not a plain global, so each server (and each test's app) has its own;
# created on first use, as app.py registers only this module's routes.
_VERIFIERS: weakref.WeakKeyDictionary[web.Application, _Verifier] = weakref.WeakKeyDictionary()


def _verifier(app: web.Application) -> _Verifier:
    verifier = _VERIFIERS.get(app)
    if verifier is None:
        verifier = _VERIFIERS[app] = _Verifier()
    return verifier


async def _read_upload(request: web.Request) -> bytes:
    """The raw body, up to MAX_RECORD_BYTES: the app-wide 1 MiB limit only covers read()/json()/post()."""
    too_large = TooLarge(
        f"the file is larger than {size_text(MAX_RECORD_BYTES)}, the most this server checks; "
        "verify it offline with `ceremony verify`"
    )
    if request.content_length is not None and request.content_length > MAX_RECORD_BYTES:
        raise too_large  # said before a byte is read; the server discards the rest
    chunks, total = [], 0
    try:
        while chunk := await request.content.read(1024 * 1024):
            total += len(chunk)
            if total > MAX_RECORD_BYTES:
                raise too_large
            chunks.append(chunk)
    except ConnectionResetError:
        # The uploader went away; no one hears the answer, but the log should not call it our failure.
        raise BadRequest("the upload stopped before the end of the file") from None
    return b"".join(chunks)


def _zip_members(data: bytes) -> set[str]:
    """The zip's file names, or 400: cheap checks, so that junk never waits for the verifier."""
    if not data:
        raise BadRequest("the body is empty: send the record zip itself as the body")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except ZIP_ERRORS:
        raise NotARecord("this is not a zip file, so it is not a ceremony record") from None
    if EVIDENCE not in names:
        raise NotARecord(f"this zip has no {EVIDENCE}, so it is not a ceremony record")
    return names


def _claimed_ceremony(data: bytes) -> dict[str, Any] | None:
    """The ceremony the record's evidence names (shown beside the report; the checks say if it holds)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            named = as_object(read_evidence(archive).get("ceremony"))
    except ZIP_ERRORS:
        return None
    return _named_ceremony(named)


def _named_ceremony(named: dict[str, Any]) -> dict[str, Any] | None:
    if not isinstance(named.get("id"), str):
        return None
    title = {lang: text for lang, text in as_object(named.get("title")).items() if isinstance(text, str)}
    return {"id": named["id"], "title": title}


def _verify(data: bytes) -> dict[str, Any]:
    try:
        report = verify_record(data)
    except signature_errors.NotARecord as exc:
        raise NotARecord(str(exc)) from None
    except Exception as exc:
        # Anyone may upload anything here: a verifier that trips over a file is a finding about
        # that file (and a bug report for us), not a server failure.
        log.exception("the verifier failed on an uploaded file")
        kind = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
        raise BadRequest(f"this file could not be checked: the verifier stopped ({kind})") from None
    ceremony = _claimed_ceremony(data)
    return {
        "ok": report.ok,
        "checks": [asdict(check) for check in report.checks],
        "root_ca_fingerprint": report.root_fingerprint or None,  # the ca.pem the verifier trusted
        "ceremony": ceremony,
    }


@routes.post("/api/verify")
async def verify(request: web.Request) -> web.Response:
    if request.content_type not in RECORD_TYPES:
        raise BadRequest("send the record zip as the body, with Content-Type: application/zip")
    verifier = _verifier(request.app)
    with verifier.admit():
        data = await _read_upload(request)
        _zip_members(data)
        async with verifier.cpu:
            answer = await asyncio.to_thread(_verify, data)
    return web.json_response(answer, headers={"Cache-Control": "no-store"})
