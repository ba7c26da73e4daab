"""What a stored record zip says about itself, shaped for the archive pages (no I/O, no aiohttp).

Everything here reads the zip and its evidence.json defensively: it is what the
record *claims*, shown to people; checking the claims is signatures/verify.py's job.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ceremony.events import format_time
from ceremony.model import CeremonyDefinition
from ceremony.state import CeremonyState
from signatures.errors import NotARecord
from signatures.record.container import open_archive
from signatures.record.parts import EVIDENCE, part_of
from signatures.record.untrusted import load_json

from .i18n import ZonedTime, display_zones, zoned_times

log = logging.getLogger(__name__)

STATUSES = ("signed", "declined", "absent")


@dataclass(frozen=True, slots=True)
class RecordFacts:
    """A record zip as stored, and what its evidence.json says ({} if it cannot be read)."""

    size: int
    sha256: str
    files: tuple[tuple[str, int], ...]
    evidence: dict[str, Any]

    @property
    def sealed_at(self) -> str | None:
        value = as_object(self.evidence.get("ceremony")).get("sealed_at")
        return value if isinstance(value, str) else None

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for signatory in as_list(self.evidence.get("signatories")):
            status = as_object(signatory).get("status")
            if status in counts:
                counts[status] += 1
        return counts


@dataclass(frozen=True, slots=True)
class RecordListing:
    """A sealed record as the archive list shows it: from the log's ceremony.sealed and the file's size.

    The list does not read the zips: the log already names each record's SHA-256 and who
    signed, declined or was absent (the one-ceremony page reads its record in full).
    """

    size: int
    sha256: str
    sealed_at: str
    tally: tuple[int, int, int]  # signed, declined, absent

    def counts(self) -> dict[str, int]:
        return dict(zip(STATUSES, self.tally, strict=True))


def record_listing(state: CeremonyState, size: int) -> RecordListing | None:
    sealed, at = state.sealed, state.sealed_at
    if sealed is None or at is None:
        return None
    tally = (len(sealed.signed), len(sealed.declined), len(sealed.absent))
    return RecordListing(size, sealed.record_sha256, format_time(at), tally)


def record_facts(data: bytes) -> RecordFacts:
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        archive = open_archive(data)
    except NotARecord:
        archive = None
    if archive is None or archive.problems:
        # Our own record, so this means a damaged disk: show what we can, and let the verifier say what is wrong.
        log.error("stored record %s is not a readable zip", sha256)
        return RecordFacts(len(data), sha256, (), {})
    listing = tuple((name, len(content)) for name, content in archive.files.items())
    return RecordFacts(len(data), sha256, listing, _evidence(archive.files))


def _evidence(files: dict[str, bytes]) -> dict[str, Any]:
    try:
        value = load_json(files.get(EVIDENCE, b""))  # an uploaded record's: nested 100,000 deep, say
    except ValueError:  # not JSON, not UTF-8, or too deeply nested
        return {}
    return value if isinstance(value, dict) else {}


def as_object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def record_filename(ceremony: str) -> str:
    return f"ceremony-{ceremony}-record.zip"


def record_url(ceremony: str) -> str:
    return f"/api/ceremonies/{ceremony}/record"


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


def zoned_when(text: Any, definition: CeremonyDefinition) -> list[ZonedTime] | None:
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
    ceremony = as_object(evidence.get("ceremony"))
    return RecordView(
        file=record_filename(state.id),
        size=facts.size,
        sha256=facts.sha256,
        sealed_at=zoned_when(ceremony.get("sealed_at"), d),
        frozen_at=zoned_when(ceremony.get("frozen_at"), d),
        files=[{"name": n, "size": s, "key": _file_key(n)} for n, s in facts.files],
        hashes=_hashes(evidence),
        signatories=_signatory_rows(evidence, d, lang),
        counts=facts.counts(),
        readable=bool(evidence),
    )


def _file_key(name: str) -> str | None:
    part = part_of(name)
    return part.key if part is not None else None


def _hashes(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """(label key, SHA-256, what else to say) for each hash evidence.json names."""
    documents = as_object(evidence.get("documents"))
    rows = []
    for key, part in (("archive.hash.original", "original"), ("archive.hash.signed", "signed")):
        doc = as_object(documents.get(part))
        rows.append(_hash_row(key, doc.get("sha256"), note=_size_note(doc.get("size"))))
    chain = as_object(evidence.get("log"))
    rows.append(_hash_row("archive.hash.log", chain.get("head"), events=chain.get("length")))
    trust = as_object(evidence.get("trust"))
    certificates = [("archive.hash.root_ca", trust.get("root")), ("archive.hash.seal", trust.get("seal"))]
    certificates += [("archive.hash.tsa", tsa) for tsa in as_list(trust.get("timestamping"))]
    for key, value in certificates:
        cert = as_object(value)
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
    parties = {p.get("id"): p for p in map(as_object, as_list(evidence.get("parties")))}
    venues = {v.get("id"): v for v in map(as_object, as_list(evidence.get("venues")))}
    times = {c.get("signatory"): _first_time(c) for c in map(as_object, as_list(evidence.get("consents")))}
    rows = []
    for s in map(as_object, as_list(evidence.get("signatories"))):
        certificate = as_object(s.get("certificate"))
        rows.append(
            {
                "name": _text(s.get("name"), lang),
                "title": _text(s.get("title"), lang),
                "party": _text(as_object(parties.get(s.get("party"))).get("name"), lang) or s.get("party"),
                "venue": _text(as_object(venues.get(s.get("venue"))).get("name"), lang) or s.get("venue"),
                "status": s.get("status") if s.get("status") in STATUSES else None,
                "at": zoned_when(times.get(s.get("id")), definition),
                "fingerprint": certificate.get("fingerprint_sha256"),
            }
        )
    return rows


def _first_time(consent: dict[str, Any]) -> Any:
    """The time the first TSA's token gives a decision (what the archive page shows)."""
    stamps = as_list(consent.get("timestamps"))
    return as_object(stamps[0]).get("time") if stamps else None


def _text(value: Any, lang: str) -> str:
    """A {ko, zh, en} text from evidence.json in the page language (or as it is, if it is a plain string)."""
    if isinstance(value, dict):
        text = value.get(lang) or value.get("en") or ""
        return text if isinstance(text, str) else ""
    return value if isinstance(value, str) else ""
