"""The ceremony's vocabulary: frozen values with no behaviour beyond lookups.

Everything here is immutable so that a state built by replaying the log can be
shared freely between the store, the web layer and templates without copies.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

LANGUAGES: tuple[str, ...] = ("ko", "zh", "en")


class Language(enum.StrEnum):
    KO = "ko"
    ZH = "zh"
    EN = "en"


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalizedText:
    """One text in the three ceremony languages; none may be empty."""

    ko: str
    zh: str
    en: str

    def get(self, lang: str | Language) -> str:
        value: str = getattr(self, str(lang))
        return value

    def as_dict(self) -> dict[str, str]:
        return {"ko": self.ko, "zh": self.zh, "en": self.en}


@dataclass(frozen=True, slots=True, kw_only=True)
class Venue:
    """A hall with a screen and cameras; `timezone` is an IANA zone name."""

    id: str
    name: LocalizedText
    city: LocalizedText
    country: str  # ISO 3166-1 alpha-2
    timezone: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Party:
    id: str
    name: LocalizedText
    country: str  # ISO 3166-1 alpha-2


@dataclass(frozen=True, slots=True, kw_only=True)
class Signatory:
    """A person who signs for one party, from one venue."""

    id: str
    name: LocalizedText
    title: LocalizedText
    party: str  # Party.id
    venue: str  # Venue.id


class SegmentKind(enum.StrEnum):
    """Kinds of run-of-show segment; exactly one segment must be SIGNING."""

    OPENING = "opening"
    REMARKS = "remarks"
    SIGNING = "signing"
    EXCHANGE = "exchange"
    CLOSING = "closing"


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    id: str
    kind: SegmentKind
    title: LocalizedText
    minutes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Article:
    """A numbered article of the MOU; its number is its 1-based position."""

    title: LocalizedText
    body: LocalizedText


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """The MOU text: what is rendered to the original PDF at freeze."""

    title: LocalizedText
    preamble: LocalizedText
    articles: tuple[Article, ...]
    closing: LocalizedText
    prevailing_language: Language
    prevailing_clause: LocalizedText


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    start: datetime  # timezone-aware
    duration_minutes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CeremonyDefinition:
    """What the host defines while the ceremony is a draft, locked at freeze."""

    title: LocalizedText
    schedule: Schedule
    venues: tuple[Venue, ...]
    parties: tuple[Party, ...]
    signatories: tuple[Signatory, ...]
    run_of_show: tuple[Segment, ...]
    document: Document
    # The rooms are recorded from their opening to the seal, each segment bound into the log (docs/record.md).
    recording: bool = False

    def venue(self, venue_id: str) -> Venue:
        return next(v for v in self.venues if v.id == venue_id)

    def party(self, party_id: str) -> Party:
        return next(p for p in self.parties if p.id == party_id)

    def signatory(self, signatory_id: str) -> Signatory:
        return next(s for s in self.signatories if s.id == signatory_id)

    def has_venue(self, venue_id: str) -> bool:
        return any(v.id == venue_id for v in self.venues)

    def has_signatory(self, signatory_id: str) -> bool:
        return any(s.id == signatory_id for s in self.signatories)
