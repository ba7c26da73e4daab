"""The archivist's side: the sealed record, the records a browser may fetch, and the verifier.

GET  /api/ceremonies/{ceremony}/record   the record zip (archivist, host, operator)
GET  /api/archive                        the ceremonies this browser may archive
GET  /archive, /c/{ceremony}/archive     the same, as pages
GET  /verify, POST /api/verify           anyone: check a record zip; nothing is kept

What the pages show about a record (its files, hashes, who signed) is read from
the zip and its evidence.json as they stand: it is what the record *claims*.
Verifying it, here or offline, is what checks the claims.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import logging
import weakref
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ceremony.core import CeremonyState, Phase
from ceremony.events import Role
from ceremony.model import CeremonyDefinition
from signatures import errors as signature_errors
from signatures.verify import verify_record

from . import views
from .auth import ceremony_state, held_ceremonies, require
from .errors import BadRequest, Busy, Conflict, NotARecord, NotFound, TooLarge, Unauthenticated
from .i18n import Translator, ZonedTime, display_zones, negotiate, zoned_times
from .keys import RECORDS, SERVICE
from .pages import _page, _schedule
from .records import RecordStore

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

ARCHIVE_ROLES = (Role.ARCHIVIST, Role.HOST)
MAX_RECORD_BYTES = 64 * 1024 * 1024  # a record is a few MiB; this leaves room for recordings later
RECORD_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")
MAX_UPLOADS_IN_HAND = 3  # bodies held at once (each up to 64 MiB) while one is verified
EVIDENCE = "evidence.json"
MAX_EVIDENCE_BYTES = 16 * 1024 * 1024
MAX_PEM_BYTES = 64 * 1024
# What a damaged or hostile zip can raise while being read (zlib.error: a corrupt deflate stream).
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, NotImplementedError, zlib.error)
# What each file of a record is (docs/record.md), as message keys.
FILE_KEYS = {
    "mou-signed.pdf": "archive.file.signed_pdf",
    "evidence.json": "archive.file.evidence",
    "evidence.tsr": "archive.file.evidence_tsr",
    "evidence.p7s": "archive.file.evidence_p7s",
    "events.jsonl": "archive.file.events",
    "completion.pdf": "archive.file.completion",
    "ca.pem": "archive.file.ca",
    "tsa.pem": "archive.file.tsa",
    "seal.pem": "archive.file.seal",
    "VERIFY.txt": "archive.file.verify",
}
STATUSES = ("signed", "declined", "absent")


# ---------------------------------------------------------------- reading a record


@dataclass(frozen=True, slots=True)
class RecordFacts:
    """A record zip as stored, and what its evidence.json says ({} if it cannot be read)."""

    size: int
    sha256: str
    files: tuple[tuple[str, int], ...]
    evidence: dict[str, Any]

    @property
    def sealed_at(self) -> str | None:
        value = _dict(self.evidence.get("ceremony")).get("sealed_at")
        return value if isinstance(value, str) else None

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for signatory in _list(self.evidence.get("signatories")):
            status = _dict(signatory).get("status")
            if status in counts:
                counts[status] += 1
        return counts


def record_facts(data: bytes) -> RecordFacts:
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            files = tuple((i.filename, i.file_size) for i in archive.infolist() if not i.is_dir())
            evidence = _read_evidence(archive)
    except ZIP_ERRORS:
        # Our own record, so this means a damaged disk: show what we can, and let the verifier say what is wrong.
        log.error("stored record %s is not a readable zip", sha256)
        files, evidence = (), {}
    return RecordFacts(len(data), sha256, files, evidence)


def _member(archive: zipfile.ZipFile, name: str, limit: int) -> bytes | None:
    """A file of the zip, or None: absent, unreadable, or declared larger than `limit`.

    zipfile stops at the declared size, so checking it first keeps a zip bomb from filling memory.
    """
    try:
        info = archive.getinfo(name)
        return archive.read(info) if info.file_size <= limit else None
    except (KeyError, *ZIP_ERRORS):
        return None


def _read_evidence(archive: zipfile.ZipFile) -> dict[str, Any]:
    raw = _member(archive, EVIDENCE, MAX_EVIDENCE_BYTES)
    try:
        value = json.loads(raw) if raw is not None else None
    except ValueError:  # not JSON, or not UTF-8
        return {}
    return value if isinstance(value, dict) else {}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def record_filename(ceremony: str) -> str:
    return f"ceremony-{ceremony}-record.zip"


def record_url(ceremony: str) -> str:
    return f"/api/ceremonies/{ceremony}/record"


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


async def _archivable(request: web.Request) -> list[tuple[CeremonyState, RecordFacts | None]]:
    """The ceremonies this browser may archive, sealed first, newest first; 401 if none."""
    service = request.app[SERVICE]
    held = held_ceremonies(request, ARCHIVE_ROLES)
    if held is not None and not held:
        raise Unauthenticated("this needs an archivist or host link (or the operator link); ask the host for one")
    states = service.ceremonies() if held is None else [service.get(c) for c in sorted(held)]
    sealed = [s.id for s in states if s.phase is Phase.SEALED]
    facts = await asyncio.to_thread(_facts_of, request.app[RECORDS], sealed)
    rows = [(s, facts.get(s.id)) for s in states]
    rows.sort(key=lambda row: (row[0].phase is not Phase.SEALED, -row[0].definition.schedule.start.timestamp()))
    return rows


def _facts_of(store: RecordStore, ceremonies: list[str]) -> dict[str, RecordFacts]:
    found = {}
    for ceremony in ceremonies:
        data = store.read(ceremony)
        if data is not None:
            found[ceremony] = record_facts(data)
    return found


def _record_json(ceremony: str, facts: RecordFacts) -> dict[str, Any]:
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


# ---------------------------------------------------------------- pages


def size_text(size: int) -> str:
    """1536 -> "1.5 KiB": the same units as the limits in docs/api.md."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def _when(text: Any, definition: CeremonyDefinition) -> list[ZonedTime] | None:
    """An ISO time from evidence.json in the ceremony's zones (KST, CST, UTC), or None if it is not one."""
    if not isinstance(text, str):
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return zoned_times(at, display_zones(definition))


@dataclass(frozen=True, slots=True)
class RecordView:
    """What the one-ceremony archive page shows of its record, in the page language."""

    file: str
    size: int
    sha256: str
    sealed_at: list[ZonedTime] | None
    frozen_at: list[ZonedTime] | None
    files: list[dict[str, Any]]
    hashes: list[dict[str, Any]]
    signatories: list[dict[str, Any]]
    counts: dict[str, int]
    readable: bool  # False: evidence.json could not be read, so only the zip's own facts are shown


def record_view(state: CeremonyState, facts: RecordFacts, lang: str) -> RecordView:
    evidence, d = facts.evidence, state.definition
    ceremony = _dict(evidence.get("ceremony"))
    return RecordView(
        file=record_filename(state.id),
        size=facts.size,
        sha256=facts.sha256,
        sealed_at=_when(ceremony.get("sealed_at"), d),
        frozen_at=_when(ceremony.get("frozen_at"), d),
        files=[{"name": n, "size": s, "key": _file_key(n)} for n, s in facts.files],
        hashes=_hashes(evidence),
        signatories=_signatory_rows(evidence, d, lang),
        counts=facts.counts(),
        readable=bool(evidence),
    )


# The per-decision files, named after their signatory: (prefix, suffix) -> message key.
PART_KEYS = {
    ("consents/", ".statement.json"): "archive.file.statement",
    ("consents/", ".sig"): "archive.file.statement_sig",
    ("consents/", ".tsr"): "archive.file.statement_tsr",
    ("certificates/", ".pem"): "archive.file.certificate",
}


def _file_key(name: str) -> str | None:
    if name in FILE_KEYS:
        return FILE_KEYS[name]
    return next((key for (pre, suf), key in PART_KEYS.items() if name.startswith(pre) and name.endswith(suf)), None)


def _hashes(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """(label key, SHA-256, what else to say) for each hash evidence.json names."""
    documents = _dict(evidence.get("documents"))
    rows = []
    for key, part in (("archive.hash.original", "original"), ("archive.hash.signed", "signed")):
        doc = _dict(documents.get(part))
        rows.append(_hash_row(key, doc.get("sha256"), note=_size_note(doc.get("size"))))
    chain = _dict(evidence.get("log"))
    rows.append(_hash_row("archive.hash.log", chain.get("head"), events=chain.get("length")))
    for key, name in (
        ("archive.hash.root_ca", "root_ca"),
        ("archive.hash.seal", "seal_certificate"),
        ("archive.hash.tsa", "tsa_certificate"),
    ):
        cert = _dict(evidence.get(name))
        rows.append(_hash_row(key, cert.get("fingerprint_sha256"), note=cert.get("subject")))
    return [row for row in rows if isinstance(row["sha256"], str)]


def _hash_row(key: str, sha256: Any, *, note: Any = None, events: Any = None) -> dict[str, Any]:
    return {
        "key": key,
        "sha256": sha256,
        "note": note if isinstance(note, str) else None,
        "events": events if isinstance(events, int) else None,
    }


def _size_note(size: Any) -> str | None:
    return size_text(size) if isinstance(size, int) else None


def _signatory_rows(evidence: dict[str, Any], definition: CeremonyDefinition, lang: str) -> list[dict[str, Any]]:
    parties = {p.get("id"): p for p in map(_dict, _list(evidence.get("parties")))}
    venues = {v.get("id"): v for v in map(_dict, _list(evidence.get("venues")))}
    times = {c.get("signatory"): c.get("timestamp") for c in map(_dict, _list(evidence.get("consents")))}
    rows = []
    for s in map(_dict, _list(evidence.get("signatories"))):
        certificate = _dict(s.get("certificate"))
        rows.append(
            {
                "name": _text(s.get("name"), lang),
                "title": _text(s.get("title"), lang),
                "party": _text(_dict(parties.get(s.get("party"))).get("name"), lang) or s.get("party"),
                "venue": _text(_dict(venues.get(s.get("venue"))).get("name"), lang) or s.get("venue"),
                "status": s.get("status") if s.get("status") in STATUSES else None,
                "at": _when(times.get(s.get("id")), definition),
                "fingerprint": certificate.get("fingerprint_sha256"),
            }
        )
    return rows


def _text(value: Any, lang: str) -> str:
    """A {ko, zh, en} text from evidence.json in the page language (or as it is, if it is a plain string)."""
    if isinstance(value, dict):
        text = value.get(lang) or value.get("en") or ""
        return text if isinstance(text, str) else ""
    return value if isinstance(value, str) else ""


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
    return _private(_page(request, "archive.html", rows=shown, size_text=size_text, when=_when))


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
        )
    )


@routes.get("/verify")
async def verify_page(request: web.Request) -> web.Response:
    t = Translator(negotiate(request))
    messages = {**t.catalogue("js.verify."), **{k: t(k) for k in ("js.network", "js.http", "js.unexpected")}}
    data = {"limit": MAX_RECORD_BYTES, "lang": negotiate(request), "messages": messages}
    return _page(request, "verify.html", data=data, limit=size_text(MAX_RECORD_BYTES))


# ---------------------------------------------------------------- verification


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


def _claims(data: bytes) -> tuple[str | None, dict[str, Any] | None]:
    """The record's root CA fingerprint (SHA-256 of ca.pem's DER) and the ceremony its evidence names."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            pem = _member(archive, "ca.pem", MAX_PEM_BYTES)
            named = _dict(_read_evidence(archive).get("ceremony"))
    except ZIP_ERRORS:
        return None, None
    return _fingerprint(pem), _named_ceremony(named)


def _fingerprint(pem: bytes | None) -> str | None:
    try:
        return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex() if pem else None
    except ValueError:
        return None


def _named_ceremony(named: dict[str, Any]) -> dict[str, Any] | None:
    if not isinstance(named.get("id"), str):
        return None
    title = {lang: text for lang, text in _dict(named.get("title")).items() if isinstance(text, str)}
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
    fingerprint, ceremony = _claims(data)
    return {
        "ok": report.ok,
        "checks": [asdict(check) for check in report.checks],
        "root_ca_fingerprint": fingerprint,
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
