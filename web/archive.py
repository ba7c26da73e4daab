"""The archivist's side: the sealed record and the records a browser may fetch.

GET  /api/ceremonies/{ceremony}/record   the record zip (archivist, host, operator)
GET  /api/ceremonies/{ceremony}/record/signed.pdf, …/record/completion.pdf
                                         one file of it (archivist, host, signatory, operator)
GET  /api/archive                        the ceremonies this browser may archive
GET  /archive, /c/{ceremony}/archive     the same, as pages

What the pages show about a record (its files, hashes, who signed) is read from
the zip and its evidence.json as they stand (web/record_view.py): it is what the
record *claims*. Verifying it, here (web/verify_api.py) or offline, checks the claims.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
import zipfile
from typing import Any

from aiohttp import web

from ceremony.events import Role
from ceremony.runtime.store import Records
from ceremony.state import CeremonyState, Phase
from signatures.record.parts import SIGNED_PDF

from . import views
from .appkeys import RECORDS, SERVICE
from .auth import ceremony_state, held_ceremonies, require
from .errors import Conflict, NotFound, Unauthenticated
from .i18n import Translator, ZonedTime, display_zones, negotiate, split_zoned, zoned_times
from .pages import _page, _schedule
from .record_view import (
    RecordListing,
    record_facts,
    record_filename,
    record_listing,
    record_url,
    record_view,
    size_text,
    zoned_when,
)

log = logging.getLogger(__name__)
COMPLETION_PDF = "completion.pdf"  # its row in signatures/record/parts.py
routes = web.RouteTableDef()

ARCHIVE_ROLES = (Role.ARCHIVIST, Role.HOST)


async def _stored_record(request: web.Request, state: CeremonyState) -> bytes:
    """The sealed ceremony's record, or 409 (not sealed; cancelled) / 404 (sealed, file lost)."""
    if state.phase is Phase.CANCELLED:
        raise Conflict("the ceremony was cancelled, so it has no record")
    if state.phase is not Phase.SEALED:
        raise Conflict("the ceremony is not sealed yet; the record is written when the host seals it")
    data = await asyncio.to_thread(request.app[RECORDS].read, state.id)
    if data is None:
        log.error("ceremony %s is sealed but its record file is missing", state.id)
        raise NotFound("the ceremony is sealed but its record is missing from this server; ask the operator")
    return data


# ---------------------------------------------------------------- record download and the list


@routes.get("/api/ceremonies/{ceremony}/record")
async def download_record(request: web.Request) -> web.Response:
    require(request, ARCHIVE_ROLES, operator=True)
    state = ceremony_state(request)
    data = await _stored_record(request, state)
    digest = hashlib.sha256(data).digest()
    return web.Response(
        body=data,
        content_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{record_filename(state.id)}"',
            "Cache-Control": "no-store",
            "ETag": f'"{digest.hex()}"',
            "X-Record-SHA256": digest.hex(),
            "Repr-Digest": f"sha-256=:{base64.b64encode(digest).decode()}:",  # RFC 9530
        },
    )


# ---------------------------------------------------------------- files of the record, one at a time


class NotSealed(Conflict):
    """409 with a code of its own, so a page can say it in its language: no record yet."""

    code = "not_sealed"


# The files a person may want without unzipping the record: route name -> (member, download name stem).
RECORD_FILES = {
    "signed.pdf": (SIGNED_PDF, "mou-signed"),
    "completion.pdf": (COMPLETION_PDF, "certificate-of-completion"),
}
FILE_ROLES = (Role.ARCHIVIST, Role.HOST, Role.SIGNATORY)


def record_file_url(ceremony: str, name: str) -> str:
    return f"/api/ceremonies/{ceremony}/record/{name}"


@routes.get("/api/ceremonies/{ceremony}/record/{name:signed\\.pdf|completion\\.pdf}")
async def download_record_file(request: web.Request) -> web.Response:
    """One file of the sealed record (the signed MOU, the certificate of completion), as the zip holds it."""
    require(request, FILE_ROLES, operator=True)
    state = ceremony_state(request)
    if state.phase is not Phase.SEALED and state.phase is not Phase.CANCELLED:
        raise NotSealed("the ceremony is not sealed yet; its record's files exist once the host seals it")
    data = await _stored_record(request, state)
    member, stem = RECORD_FILES[request.match_info["name"]]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            body = await asyncio.to_thread(archive.read, member)
    except (KeyError, zipfile.BadZipFile):
        log.error("ceremony %s: its record holds no readable %s", state.id, member)
        raise NotFound(f"the record of this ceremony holds no {member}; ask the operator") from None
    digest = hashlib.sha256(body).hexdigest()
    return web.Response(
        body=body,
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{stem}-{state.id}.pdf"',
            "Cache-Control": "no-store",
            "X-Member": member,
            "X-Content-SHA256": digest,
        },
    )


async def _archivable(request: web.Request) -> list[tuple[CeremonyState, RecordListing | None]]:
    """The ceremonies this browser may archive, sealed first, newest first; 401 if none."""
    service = request.app[SERVICE]
    held = held_ceremonies(request, ARCHIVE_ROLES)
    if held is not None and not held:
        raise Unauthenticated("this needs an archivist or host link (or the operator link); ask the host for one")
    states = service.ceremonies() if held is None else [service.get(c) for c in sorted(held)]
    sealed = [s for s in states if s.phase is Phase.SEALED]
    listed = await asyncio.to_thread(_listings, request.app[RECORDS], sealed)
    rows = [(s, listed.get(s.id)) for s in states]
    rows.sort(key=lambda row: (row[0].phase is not Phase.SEALED, -row[0].definition.schedule.start.timestamp()))
    return rows


def _listings(store: Records, sealed: list[CeremonyState]) -> dict[str, RecordListing]:
    found = {}
    for state in sealed:
        size = store.size(state.id)
        listing = record_listing(state, size) if size is not None else None
        if listing is not None:
            found[state.id] = listing
    return found


def _record_json(ceremony: str, facts: RecordListing) -> dict[str, Any]:
    return {
        "url": record_url(ceremony),
        "file": record_filename(ceremony),
        "size": facts.size,
        "sha256": facts.sha256,
        "sealed_at": facts.sealed_at,
        "signatories": facts.counts(),
    }


@routes.get("/api/archive")
async def archive_list(request: web.Request) -> web.Response:
    rows = await _archivable(request)
    ceremonies = []
    for state, facts in rows:
        entry = views.summary(state)
        entry["page"] = f"/c/{state.id}/archive"
        entry["record"] = None if facts is None else _record_json(state.id, facts)
        ceremonies.append(entry)
    return web.json_response({"ceremonies": ceremonies}, headers={"Cache-Control": "no-store"})


def _private(response: web.Response) -> web.Response:
    # These pages list what this browser's links open: no shared cache may keep them.
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/archive")
async def archive_page(request: web.Request) -> web.Response:
    rows = await _archivable(request)
    shown = [
        (state, facts, zoned_times(state.definition.schedule.start, display_zones(state.definition)))
        for state, facts in rows
    ]
    return _private(
        _page(request, "archive.html", rows=shown, size_text=size_text, when=zoned_when, split=_splitter(request))
    )


def _splitter(request: web.Request) -> Any:
    """For the tables: a time's zones as (first line, second line) in the page's language."""
    lang = negotiate(request)

    def split(times: list[ZonedTime]) -> tuple[list[ZonedTime], list[ZonedTime]]:
        return split_zoned(times, lang)

    return split


@routes.get("/c/{ceremony}/archive")
async def ceremony_archive_page(request: web.Request) -> web.Response:
    require(request, ARCHIVE_ROLES, operator=True)
    state = ceremony_state(request)
    lang = negotiate(request)
    record, missing = None, False
    if state.phase is Phase.SEALED:
        data = await asyncio.to_thread(request.app[RECORDS].read, state.id)
        missing = data is None
        if data is not None:
            record = record_view(state, await asyncio.to_thread(record_facts, data), lang)
    messages = Translator(lang).catalogue("js.live.")
    data_block = {"ceremony": state.id, "state": state.phase.value, "seq": state.seq, "messages": messages}
    return _private(
        _page(
            request,
            "archive_ceremony.html",
            state=state,
            d=state.definition,
            schedule=_schedule(state.definition),
            record=record,
            missing=missing,
            record_url=record_url(state.id),
            size_text=size_text,
            data=data_block,
            split=_splitter(request),
        )
    )
