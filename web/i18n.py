"""Language choice and time display for pages (ko, zh, en).

The message catalogue lives in messages.py; this module picks the language
(?lang=, then the `lang` cookie, then Accept-Language, then English) and
formats instants in each venue's zone plus UTC, labelled KST/CST/UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from ceremony.events import Role
from ceremony.model import LANGUAGES, CeremonyDefinition, LocalizedText

from .messages import MESSAGES

DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "lang"


def negotiate(request: web.Request) -> str:
    for candidate in (request.query.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return from_accept_language(request.headers.get("Accept-Language", ""))


def from_accept_language(header: str) -> str:
    """Best of ko/zh/en by q-value; 'zh-CN', 'zh-Hans' and 'ko-KR' count as their base."""
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        base = tag.strip().lower().split("-")[0]
        # Earlier entries win ties, as browsers list them in preference order.
        if base in LANGUAGES and q > best_q and q > 0:
            best, best_q = base, q - position * 1e-6
    return best


class Translator:
    """`t("key")` in templates; unknown keys show the key, which tests catch."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __call__(self, key: str, **values: object) -> str:
        entry = MESSAGES.get(key)
        if entry is None:
            return key
        text = entry[self.lang]
        return text.format(**values) if values else text

    def catalogue(self, prefix: str = "") -> dict[str, str]:
        """Messages for client-side scripts (passed as a JSON data block)."""
        return {k: v[self.lang] for k, v in MESSAGES.items() if k.startswith(prefix)}


def role_names() -> dict[Role, LocalizedText]:
    """Each role's name in the three languages, from the catalogue (`role.<role>`)."""
    return {role: LocalizedText(**{lang: MESSAGES[f"role.{role.value}"][lang] for lang in LANGUAGES}) for role in Role}


@dataclass(frozen=True, slots=True)
class ZonedTime:
    label: str  # KST, CST, UTC...
    zone: str  # IANA name
    text: str  # 2020-05-29 10:20


def display_zones(definition: CeremonyDefinition | None) -> list[str]:
    """The venues' zones in roster order, then UTC; KST and CST for the demo."""
    zones: list[str] = []
    if definition is not None:
        for venue in definition.venues:
            if venue.timezone not in zones and venue.timezone != "UTC":
                zones.append(venue.timezone)
    if not zones:
        zones = ["Asia/Seoul", "Asia/Shanghai"]
    return [*zones, "UTC"]


def zoned_times(at: datetime, zones: list[str]) -> list[ZonedTime]:
    result = []
    for zone in zones:
        local = at.astimezone(UTC if zone == "UTC" else ZoneInfo(zone))
        result.append(ZonedTime(local.tzname() or zone, zone, local.strftime("%Y-%m-%d %H:%M")))
    return result


# The zone each page language reads first: KST for ko, CST for zh, both for en (UTC always after).
LANGUAGE_ZONES: dict[str, tuple[str, ...]] = {
    "ko": ("Asia/Seoul",),
    "zh": ("Asia/Shanghai",),
    "en": ("Asia/Seoul", "Asia/Shanghai"),
}


def split_zoned(times: list[ZonedTime], lang: str) -> tuple[list[ZonedTime], list[ZonedTime]]:
    """(first line, second line): the page language's zone(s) first, the others after, in their order.

    A ceremony whose venues are elsewhere (no zone of the language among them) keeps its first zone first.
    """
    wanted = LANGUAGE_ZONES.get(lang, ())
    first = [z for z in times if z.zone in wanted] or times[:1]
    return first, [z for z in times if z not in first]
