"""Issue all links: every missing venue, signatory, archivist and observer link at once, on a printable sheet.

The server keeps only the SHA-256 of a link's token, so a link can be shown only when it is
issued. One POST therefore does both: it issues what is missing and answers with the sheet
(a page a person prints, or JSON for a script), once, with `Cache-Control: no-store`. A
second POST finds nothing missing and issues nothing: replacing a lost card means revoking
its link first. The tokens travel only in that answer: never in a log line, an event (the
log holds their hashes) or a URL the server sees (they ride in the fragment).

"Missing" means: a venue or a signatory with no active link of its own, or no active
archivist (observer) link at all. Venue and signatory links need a frozen roster and are
not issued once sealed (ceremony/core.py); those are listed as skipped, with why.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ceremony.errors import CommandRefused, InvalidCommand
from ceremony.events import Role
from ceremony.model import CeremonyDefinition
from ceremony.state import CeremonyState, Phase

from . import views
from .appkeys import SERVICE, TEMPLATES
from .auth import Principal, ceremony_state, require
from .i18n import Translator, negotiate
from .links import ceremony_link, qr_svg

routes = web.RouteTableDef()

# One bulk issue at a time: two clicks at once must not both find the same links missing.
ISSUE_LOCK = web.AppKey("link_sheet_lock", asyncio.Lock)
# The language a card (and the page its link opens) is in, by the hall's country; others get the host's.
COUNTRY_LANGUAGES = {"KR": "ko", "CN": "zh"}
MAX_LABEL = 200  # ceremony/core.py refuses longer labels


@dataclass(frozen=True, slots=True)
class Wanted:
    """A link that should exist and does not."""

    role: Role
    venue: str | None = None
    signatory: str | None = None


def missing_links(state: CeremonyState) -> list[Wanted]:
    """What `state` lacks, in sheet order: halls, signatories (roster order), then archivist and observer."""
    active = [i for i in state.invitations.values() if i.active]
    d = state.definition
    wanted = [Wanted(Role.VENUE, venue=v.id) for v in d.venues if not any(i.venue == v.id for i in active)]
    wanted += [
        Wanted(Role.SIGNATORY, signatory=s.id) for s in d.signatories if not any(i.signatory == s.id for i in active)
    ]
    wanted += [Wanted(role) for role in (Role.ARCHIVIST, Role.OBSERVER) if not any(i.role is role for i in active)]
    return wanted


def skip_reason(state: CeremonyState, wanted: Wanted) -> str | None:
    """Why `wanted` cannot be issued in this phase (a catalogue key's last part), or None."""
    if wanted.role not in (Role.VENUE, Role.SIGNATORY):
        return None
    if state.phase is Phase.DRAFT:
        return "after_freeze"
    if state.phase is Phase.SEALED:
        return "sealed"
    return None


def card_language(d: CeremonyDefinition, wanted: Wanted, fallback: str) -> str:
    venue = wanted.venue
    if wanted.signatory is not None:
        venue = next(s.venue for s in d.signatories if s.id == wanted.signatory)
    if venue is None:
        return fallback
    country = next(v.country for v in d.venues if v.id == venue)
    return COUNTRY_LANGUAGES.get(country, "en")


def subject_name(d: CeremonyDefinition, wanted: Wanted, lang: str) -> str:
    if wanted.venue is not None:
        return next(v.name.get(lang) for v in d.venues if v.id == wanted.venue)
    if wanted.signatory is not None:
        return next(s.name.get(lang) for s in d.signatories if s.id == wanted.signatory)
    return Translator(lang)(f"role.{wanted.role.value}")


async def issue_missing(request: web.Request, principal: Principal) -> dict[str, Any]:
    """Issue every missing link; per link either its secrets (once) or why it was not issued."""
    service = request.app[SERVICE]
    lang = negotiate(request)
    t = Translator(lang)
    issued: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    async with request.app[ISSUE_LOCK]:
        state = ceremony_state(request)
        for wanted in missing_links(state):
            what = {"role": wanted.role.value, "venue": wanted.venue, "signatory": wanted.signatory}
            if (reason := skip_reason(state, wanted)) is not None:
                skipped.append({**what, "code": reason})
                continue
            card_lang = card_language(state.definition, wanted, lang)
            label = t("sheet.link_label", name=subject_name(state.definition, wanted, lang))[:MAX_LABEL]
            try:
                link = await service.issue_link(
                    state.id, wanted.role, principal.actor, venue=wanted.venue, signatory=wanted.signatory, label=label
                )
            except (CommandRefused, InvalidCommand) as exc:  # e.g. cancelled meanwhile: say so, go on
                skipped.append({**what, "code": "refused", "reason": str(exc)})
                continue
            invitation = service.get(state.id).invitations[link.invitation]
            url = ceremony_link(request, state.id, link.token, lang=card_lang)
            issued.append(
                {
                    **views.invitation_json(invitation),
                    "lang": card_lang,
                    "url": url,
                    "token": link.token,
                    # ~20 ms each of pure Python: off the event loop, so live streams don't stall.
                    "qr_svg": await asyncio.to_thread(qr_svg, url),
                }
            )
    return {"issued": issued, "skipped": skipped}


def _card(d: CeremonyDefinition, link: dict[str, Any]) -> dict[str, Any]:
    """What one printed card says, in its holder's language."""
    lang = link["lang"]
    venue = link["venue"]
    title = party = ""
    if link["signatory"] is not None:
        s = next(s for s in d.signatories if s.id == link["signatory"])
        venue, title, party = s.venue, s.title.get(lang), d.party(s.party).name.get(lang)
    hall = next((v for v in d.venues if v.id == venue), None)
    wanted = Wanted(Role(link["role"]), venue=link["venue"], signatory=link["signatory"])
    return {
        "id": link["id"],
        "lang": lang,
        "t": Translator(lang),
        "role": link["role"],
        "name": subject_name(d, wanted, lang),
        "title": title,
        "party": party,
        "venue": f"{hall.name.get(lang)} · {hall.city.get(lang)}" if hall else "",
        "ceremony": d.title.get(lang),
        "url": link["url"],
        # Our own SVG as an image: an <img> never runs script, and the strict CSP allows data: images.
        "qr": "data:image/svg+xml;base64," + base64.b64encode(link["qr_svg"].encode("utf-8")).decode("ascii"),
    }


@routes.post("/c/{ceremony}/links/sheet")
async def link_sheet(request: web.Request) -> web.Response:
    """Issue every missing link; a printable sheet (or, asked for JSON, the same as data)."""
    principal = require(request, [Role.HOST], operator=True)  # a cookie's POST must come from our pages
    result = await issue_missing(request, principal)
    headers = {"Cache-Control": "no-store"}
    if "json" in request.headers.get("Accept", ""):
        return web.json_response(result, status=201 if result["issued"] else 200, headers=headers)
    state = ceremony_state(request)
    lang = negotiate(request)
    t = Translator(lang)
    d = state.definition
    skipped = [
        {
            "name": subject_name(d, Wanted(Role(s["role"]), venue=s["venue"], signatory=s["signatory"]), lang),
            "role": s["role"],
            "code": s["code"],
        }
        for s in result["skipped"]
    ]
    html = (
        request.app[TEMPLATES]
        .get_template("link_sheet.html")
        .render(
            lang=lang,
            t=t,
            static=lambda name: str(request.app.router["static"].url_for(filename=name)),
            state=state,
            title=d.title.get(lang),
            cards=[_card(d, link) for link in result["issued"]],
            skipped=skipped,
        )
    )
    return web.Response(text=html, content_type="text/html", headers=headers)


def setup(app: web.Application) -> None:
    app[ISSUE_LOCK] = asyncio.Lock()
    app.add_routes(routes)
