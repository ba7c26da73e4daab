"""Ceremony definitions <-> plain JSON values (schema: docs/definition.md).

Parsing collects *every* problem with its JSON path before refusing, so the
console can mark each bad field at once instead of one per round trip.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InvalidDefinition
from .model import (
    LANGUAGES,
    Article,
    CeremonyDefinition,
    Document,
    Language,
    LocalizedText,
    Party,
    Schedule,
    Segment,
    SegmentKind,
    Signatory,
    Venue,
)
from .text import unsafe_character

ID_PATTERN = re.compile(r"\A[a-z0-9][a-z0-9-]{0,47}\Z")  # \Z: `$` also matches before a final newline
ID_MAX = 48
MAX_TEXT = 20_000  # characters in one language of one field
MAX_ITEMS = 64  # venues, parties, signatories, segments, articles each

# The limits, by field path without list indices or language ("venues.name" for venues[1].name.zh).
# The editor page is given these (definition_limits), so a limit is stated in one place only.
TEXT_LIMITS: dict[str, int] = {
    "title": 300,
    "venues.name": 200,
    "venues.city": 200,
    "parties.name": 200,
    "signatories.name": 200,
    "signatories.title": 200,
    "run_of_show.title": 200,
    "document.title": 300,
    "document.preamble": MAX_TEXT,
    "document.articles.title": 300,
    "document.articles.body": MAX_TEXT,
    "document.closing": MAX_TEXT,
    "document.prevailing_clause": MAX_TEXT,
}
COUNT_LIMITS: dict[str, tuple[int, int]] = {
    "venues": (1, MAX_ITEMS),
    "parties": (2, MAX_ITEMS),
    "signatories": (1, MAX_ITEMS),
    "run_of_show": (1, MAX_ITEMS),
    "document.articles": (1, MAX_ITEMS),
}
NUMBER_LIMITS: dict[str, tuple[int, int]] = {
    "schedule.duration_minutes": (5, 1440),
    "run_of_show.minutes": (1, 600),
}

T = TypeVar("T")
Problem = dict[str, str | int]  # {"field": path, "code": code, "reason": English, **parameters}


def generic_path(path: str) -> str:
    """`path` without list indices and a final language: "venues[1].name.zh" -> "venues.name"."""
    bare = re.sub(r"\[\d+\]", "", path)
    return re.sub(r"\.(?:ko|zh|en)\Z", "", bare)


def definition_limits() -> dict[str, Any]:
    """The limits as the editor page is given them: maxlength, counters, allowed counts and ranges."""
    return {
        "text": dict(TEXT_LIMITS),
        "id": ID_MAX,
        "counts": {k: {"min": low, "max": high} for k, (low, high) in COUNT_LIMITS.items()},
        "numbers": {k: {"min": low, "max": high} for k, (low, high) in NUMBER_LIMITS.items()},
    }


class _Collector:
    """Accumulates problems (path, code, English reason, parameters) while walking an untrusted value.

    The code and parameters are for pages, which say each problem in their own language next to
    the field; the reason is the English sentence API clients and logs read.
    """

    def __init__(self, *, check_characters: bool = True) -> None:
        self.problems: list[Problem] = []
        self.check_characters = check_characters

    def add(self, path: str, code: str, reason: str, **params: str | int) -> None:
        self.problems.append({"field": path, "code": code, "reason": reason, **params})

    def obj(self, value: object, path: str) -> Mapping[str, Any] | None:
        if not isinstance(value, dict):
            self.add(path, "required" if value is None else "wrong_type", "must be an object")
            return None
        return value

    def text(self, value: object, path: str, *, limit: int, lines: bool = False) -> str:
        if not isinstance(value, str):
            self.add(path, "required" if value is None else "wrong_type", "must be a string")
            return ""
        if not value.strip():
            self.add(path, "required", "must not be empty")
        elif len(value) > limit:
            self.add(path, "too_long", f"must be at most {limit} characters", max=limit)
        elif self.check_characters and (unsafe := unsafe_character(value, lines=lines)) is not None:
            found = next(i for i, ch in enumerate(value) if unsafe_character(ch, lines=lines) is not None)
            self.add(path, "unsafe_character", unsafe, char=f"U+{ord(value[found]):04X}", at=found + 1)
        return value

    def localized(self, value: object, path: str, *, lines: bool = False) -> LocalizedText:
        mapping = self.obj(value, path)
        if mapping is None:
            return LocalizedText(ko="", zh="", en="")
        for key in mapping:
            if key not in LANGUAGES:
                self.add(f"{path}.{key}", "unknown_language", "unknown language (use ko, zh, en)", name=key)
        limit = TEXT_LIMITS[generic_path(path)]
        texts = [self.text(mapping.get(lang), f"{path}.{lang}", limit=limit, lines=lines) for lang in LANGUAGES]
        return LocalizedText(**dict(zip(LANGUAGES, texts, strict=True)))

    def ident(self, value: object, path: str) -> str:
        if value is None or value == "":
            self.add(path, "required", "must not be empty")
            return ""
        if not isinstance(value, str) or not ID_PATTERN.match(value):
            reason = f"must be 1-{ID_MAX} characters of a-z, 0-9 and '-', starting with a letter or digit"
            self.add(path, "bad_id", reason, max=ID_MAX)
            return ""
        return value

    def country(self, value: object, path: str) -> str:
        if value is None or value == "":
            self.add(path, "required", "must not be empty")
            return ""
        if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{2}", value):
            self.add(path, "bad_country", "must be a two-letter ISO 3166 country code such as KR or CN")
            return ""
        return value

    def integer(self, value: object, path: str) -> int:
        low, high = NUMBER_LIMITS[generic_path(path)]
        if value is None or value == "":
            self.add(path, "required", "must not be empty")
            return low
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.add(path, "bad_number", f"must be a whole number from {low} to {high}", min=low, max=high)
            return low
        return value

    def flag(self, value: object, path: str) -> bool:
        """An optional true/false: absent (or null) is false."""
        if value is None:
            return False
        if not isinstance(value, bool):
            self.add(path, "bad_flag", "must be true or false")
            return False
        return value

    def items(self, value: object, path: str, parse: Callable[[object, str], T]) -> tuple[T, ...]:
        if not isinstance(value, list):
            self.add(path, "required" if value is None else "wrong_type", "must be a list")
            return ()
        low, high = COUNT_LIMITS[path]
        if not low <= len(value) <= high:
            self.add(path, "count", f"must have {low} to {high} entries", min=low, max=high)
        return tuple(parse(item, f"{path}[{i}]") for i, item in enumerate(value[:high]))

    def field_failed(self, path: str) -> bool:
        return any(p["field"] == path for p in self.problems)

    def unique(self, ids: list[str], path: str) -> None:
        seen: set[str] = set()
        for i, ident in enumerate(ids):
            if ident and ident in seen:
                self.add(f"{path}[{i}].id", "duplicate_id", f"duplicate id '{ident}'", id=ident)
            seen.add(ident)


def _known(c: _Collector, mapping: Mapping[str, Any], path: str, allowed: set[str]) -> None:
    for key in mapping:
        if key not in allowed:
            c.add(f"{path}.{key}" if path else key, "unknown_field", "unknown field", name=key)


def _venue(c: _Collector, value: object, path: str) -> Venue:
    m = c.obj(value, path) or {}
    _known(c, m, path, {"id", "name", "city", "country", "timezone"})
    tz = m.get("timezone")
    if tz is None or tz == "":
        c.add(f"{path}.timezone", "required", "must not be empty")
        tz = "UTC"
    elif not isinstance(tz, str) or not _valid_zone(tz):
        c.add(f"{path}.timezone", "bad_zone", "must be an IANA time zone such as Asia/Seoul")
        tz = "UTC"
    return Venue(
        id=c.ident(m.get("id"), f"{path}.id"),
        name=c.localized(m.get("name"), f"{path}.name"),
        city=c.localized(m.get("city"), f"{path}.city"),
        country=c.country(m.get("country"), f"{path}.country"),
        timezone=tz,
    )


def _valid_zone(name: str) -> bool:
    if len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _party(c: _Collector, value: object, path: str) -> Party:
    m = c.obj(value, path) or {}
    _known(c, m, path, {"id", "name", "country"})
    return Party(
        id=c.ident(m.get("id"), f"{path}.id"),
        name=c.localized(m.get("name"), f"{path}.name"),
        country=c.country(m.get("country"), f"{path}.country"),
    )


def _signatory(c: _Collector, value: object, path: str) -> Signatory:
    m = c.obj(value, path) or {}
    _known(c, m, path, {"id", "name", "title", "party", "venue"})
    return Signatory(
        id=c.ident(m.get("id"), f"{path}.id"),
        name=c.localized(m.get("name"), f"{path}.name"),
        title=c.localized(m.get("title"), f"{path}.title"),
        party=c.ident(m.get("party"), f"{path}.party"),
        venue=c.ident(m.get("venue"), f"{path}.venue"),
    )


def _segment(c: _Collector, value: object, path: str) -> Segment:
    m = c.obj(value, path) or {}
    _known(c, m, path, {"id", "kind", "title", "minutes"})
    kind_value = m.get("kind")
    try:
        kind = SegmentKind(str(kind_value))
    except ValueError:
        names = ", ".join(k.value for k in SegmentKind)
        c.add(f"{path}.kind", "bad_choice", f"must be one of {names}")
        kind = SegmentKind.REMARKS
    return Segment(
        id=c.ident(m.get("id"), f"{path}.id"),
        kind=kind,
        title=c.localized(m.get("title"), f"{path}.title"),
        minutes=c.integer(m.get("minutes"), f"{path}.minutes"),
    )


def _article(c: _Collector, value: object, path: str) -> Article:
    m = c.obj(value, path) or {}
    _known(c, m, path, {"title", "body"})
    return Article(
        title=c.localized(m.get("title"), f"{path}.title"),
        body=c.localized(m.get("body"), f"{path}.body", lines=True),
    )


def _document(c: _Collector, value: object, path: str) -> Document:
    m = c.obj(value, path) or {}
    allowed = {"title", "preamble", "articles", "closing", "prevailing_language", "prevailing_clause"}
    _known(c, m, path, allowed)
    lang_value = m.get("prevailing_language")
    try:
        lang = Language(str(lang_value))
    except ValueError:
        c.add(f"{path}.prevailing_language", "bad_choice", "must be one of ko, zh, en")
        lang = Language.EN
    return Document(
        title=c.localized(m.get("title"), f"{path}.title"),
        preamble=c.localized(m.get("preamble"), f"{path}.preamble", lines=True),
        articles=c.items(m.get("articles"), f"{path}.articles", lambda v, p: _article(c, v, p)),
        closing=c.localized(m.get("closing"), f"{path}.closing", lines=True),
        prevailing_language=lang,
        prevailing_clause=c.localized(m.get("prevailing_clause"), f"{path}.prevailing_clause", lines=True),
    )


def _schedule(c: _Collector, value: object, path: str) -> Schedule:
    m = c.obj(value, path) or {}
    _known(c, m, path, {"start", "duration_minutes"})
    raw = m.get("start")
    start = datetime(2000, 1, 1).astimezone()
    try:
        if raw is None or raw == "":
            c.add(f"{path}.start", "required", "must not be empty")
        elif not isinstance(raw, str):
            raise ValueError
        else:
            start = datetime.fromisoformat(raw)
            if start.tzinfo is None:
                c.add(f"{path}.start", "no_offset", "must include a UTC offset, e.g. 2020-05-29T10:20:00+09:00")
    except ValueError:
        reason = "must be an ISO 8601 date-time with offset, e.g. 2020-05-29T10:20:00+09:00"
        c.add(f"{path}.start", "bad_time", reason)
    return Schedule(start=start, duration_minutes=c.integer(m.get("duration_minutes"), f"{path}.duration_minutes"))


def parse_definition(value: object, *, logged: bool = False) -> CeremonyDefinition:
    """Validate an untrusted JSON value; raise InvalidDefinition listing every problem.

    `logged`: a definition read back from the log, accepted then. Its texts are not held to the
    character rules (ceremony.text) again, so a log written before them still replays.
    """
    c = _Collector(check_characters=not logged)
    m = c.obj(value, "$") or {}
    allowed = {"title", "schedule", "venues", "parties", "signatories", "run_of_show", "document", "recording"}
    _known(c, m, "", allowed)
    definition = CeremonyDefinition(
        title=c.localized(m.get("title"), "title"),
        schedule=_schedule(c, m.get("schedule"), "schedule"),
        venues=c.items(m.get("venues"), "venues", lambda v, p: _venue(c, v, p)),
        parties=c.items(m.get("parties"), "parties", lambda v, p: _party(c, v, p)),
        signatories=c.items(m.get("signatories"), "signatories", lambda v, p: _signatory(c, v, p)),
        run_of_show=c.items(m.get("run_of_show"), "run_of_show", lambda v, p: _segment(c, v, p)),
        document=_document(c, m.get("document"), "document"),
        recording=c.flag(m.get("recording"), "recording"),
    )
    _cross_check(c, definition, logged=logged)
    if c.problems:
        raise InvalidDefinition(c.problems)
    return definition


def _cross_check(c: _Collector, d: CeremonyDefinition, *, logged: bool) -> None:
    c.unique([v.id for v in d.venues], "venues")
    c.unique([p.id for p in d.parties], "parties")
    c.unique([s.id for s in d.signatories], "signatories")
    c.unique([s.id for s in d.run_of_show], "run_of_show")
    venue_ids = {v.id for v in d.venues}
    party_ids = {p.id for p in d.parties}
    for i, s in enumerate(d.signatories):
        if s.party and s.party not in party_ids:
            c.add(f"signatories[{i}].party", "unknown_ref", f"no party with id '{s.party}'", id=s.party)
        if s.venue and s.venue not in venue_ids:
            c.add(f"signatories[{i}].venue", "unknown_ref", f"no venue with id '{s.venue}'", id=s.venue)
    signed = {s.party for s in d.signatories}
    for i, p in enumerate(d.parties):
        if p.id and p.id not in signed:
            c.add(f"parties[{i}]", "no_signatory", "has no signatory")
    signing = [s for s in d.run_of_show if s.kind is SegmentKind.SIGNING]
    if isinstance(d.run_of_show, tuple) and d.run_of_show and len(signing) != 1:
        c.add("run_of_show", "one_signing", "must contain exactly one segment of kind 'signing'", found=len(signing))
    # The recorder's programme shows two halls side by side (signaling/recording/programme.py).
    if d.recording and isinstance(d.venues, tuple) and d.venues and len(d.venues) != 2:
        reason = f"a recorded ceremony has exactly two venues (the programme shows both halls), not {len(d.venues)}"
        c.add("recording", "two_halls", reason, found=len(d.venues))
    # The run of show must end by the scheduled end. Not asked of a logged definition, which was accepted
    # before this rule, so that an old log still replays.
    total = sum(s.minutes for s in d.run_of_show)
    if not logged and total > d.schedule.duration_minutes and not c.field_failed("schedule.duration_minutes"):
        reason = f"the run of show takes {total} minutes, more than the {d.schedule.duration_minutes} scheduled"
        c.add("schedule.duration_minutes", "over_time", reason, total=total, duration=d.schedule.duration_minutes)


def _text(t: LocalizedText) -> dict[str, str]:
    return t.as_dict()


def definition_to_json(d: CeremonyDefinition) -> dict[str, Any]:
    """The inverse of parse_definition: parse_definition(definition_to_json(d)) == d."""
    value: dict[str, Any] = {
        "title": _text(d.title),
        "schedule": {"start": d.schedule.start.isoformat(), "duration_minutes": d.schedule.duration_minutes},
        "venues": [
            {"id": v.id, "name": _text(v.name), "city": _text(v.city), "country": v.country, "timezone": v.timezone}
            for v in d.venues
        ],
        "parties": [{"id": p.id, "name": _text(p.name), "country": p.country} for p in d.parties],
        "signatories": [
            {"id": s.id, "name": _text(s.name), "title": _text(s.title), "party": s.party, "venue": s.venue}
            for s in d.signatories
        ],
        "run_of_show": [
            {"id": s.id, "kind": s.kind.value, "title": _text(s.title), "minutes": s.minutes} for s in d.run_of_show
        ],
        "document": {
            "title": _text(d.document.title),
            "preamble": _text(d.document.preamble),
            "articles": [{"title": _text(a.title), "body": _text(a.body)} for a in d.document.articles],
            "closing": _text(d.document.closing),
            "prevailing_language": d.document.prevailing_language.value,
            "prevailing_clause": _text(d.document.prevailing_clause),
        },
    }
    # Only when on: a definition logged before the field existed re-serialises to the same bytes.
    if d.recording:
        value["recording"] = True
    return value
