"""HTML pages: server-rendered views of a ceremony; their scripts do the live parts through the JSON API.

Each handler checks the role first (web/auth.py), then renders one template
with the page language. Data a script needs travels in a
`<script type="application/json">` block (never executed, so the strict CSP
holds), built here by `_script_data` and friends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ceremony.consent import Decision
from ceremony.definition import definition_limits, definition_to_json
from ceremony.events import Role
from ceremony.model import CeremonyDefinition, SegmentKind
from ceremony.state import CeremonyState, Phase
from web.demo.definition import demo_definition

from . import views
from .appkeys import SERVICE, TEMPLATES
from .auth import ALL_ROLES, Principal, cap_cookie_names, ceremony_state, require, require_operator
from .errors import Conflict
from .i18n import Translator, display_zones, negotiate, zoned_times

routes = web.RouteTableDef()

VIEWER_ROLES = (Role.VENUE, Role.SIGNATORY, Role.OBSERVER, Role.ARCHIVIST)
# Scripts receive the messages under these prefixes (labels they build at run time).
SCRIPT_MESSAGES = ("js.", "state.", "role.", "kind.", "event.", "actor.")
# Offered in the editor's time-zone lists; any IANA name may still be typed.
COMMON_ZONES = (
    "Asia/Seoul",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Asia/Hong_Kong",
    "Asia/Singapore",
    "Asia/Kolkata",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Australia/Sydney",
    "UTC",
)


def _page(request: web.Request, template: str, **context: Any) -> web.Response:
    lang = negotiate(request)
    router = request.app.router

    def static(name: str) -> str:
        # Versioned URLs (?v=<hash>), so a browser never runs yesterday's script.
        return str(router["static"].url_for(filename=name))

    signed_in = bool(cap_cookie_names(request))  # the header offers to sign out
    html = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(lang=lang, t=Translator(lang), static=static, signed_in=signed_in, **context)
    )
    return web.Response(text=html, content_type="text/html")


def _messages(request: web.Request) -> dict[str, str]:
    t = Translator(negotiate(request))
    return {k: v for prefix in SCRIPT_MESSAGES for k, v in t.catalogue(prefix).items()}


def _zones(definition: CeremonyDefinition) -> list[dict[str, str]]:
    """Each display zone with its label (KST, CST, UTC) at the scheduled start."""
    return [
        {"zone": z.zone, "label": z.label} for z in zoned_times(definition.schedule.start, display_zones(definition))
    ]


def _script_data(request: web.Request, state: CeremonyState, principal: Principal) -> dict[str, Any]:
    lang = negotiate(request)
    d = state.definition
    data: dict[str, Any] = {
        "ceremony": state.id,
        "lang": lang,
        "state": views.summary(state),
        "zones": _zones(d),
        "segments": [{"id": s.id, "kind": s.kind.value, "title": s.title.get(lang)} for s in d.run_of_show],
        "venues": [{"id": v.id, "name": v.name.get(lang)} for v in d.venues],
        "signatories": [
            {"id": s.id, "name": s.name.get(lang), "party": d.party(s.party).name.get(lang)} for s in d.signatories
        ],
        "messages": _messages(request),
    }
    if views.sees_links(principal):
        data["invitations"] = [views.invitation_json(i) for i in state.invitations.values()]
    return data


def _schedule(definition: CeremonyDefinition) -> dict[str, Any]:
    zones = display_zones(definition)
    return {"start": zoned_times(definition.schedule.start, zones), "minutes": definition.schedule.duration_minutes}


LANDING_NOTICES = ("signed-out", "operator-links-revoked")


@routes.get("/")
async def landing(request: web.Request) -> web.Response:
    """The front page; after signing out (web/sessions.py) it says so."""
    notice = request.query.get("notice")
    return _page(request, "landing.html", notice=notice if notice in LANDING_NOTICES else None)


@routes.get("/console")
async def console(request: web.Request) -> web.Response:
    require_operator(request)
    rows = [(s, zoned_times(s.definition.schedule.start, display_zones(s.definition))) for s in _newest_first(request)]
    return _page(request, "console.html", rows=rows, messages=_messages(request))


def _newest_first(request: web.Request) -> list[CeremonyState]:
    return list(reversed(request.app[SERVICE].ceremonies()))


@routes.get("/console/new")
async def new_ceremony(request: web.Request) -> web.Response:
    require_operator(request)
    return _page(request, "editor.html", **_editor_context(request, None))


@routes.get("/c/{ceremony}/edit")
async def edit_ceremony(request: web.Request) -> web.Response:
    require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    if state.phase is not Phase.DRAFT:
        t = Translator(negotiate(request))
        raise Conflict(t("editor.locked", state=t(f"state.{state.phase.value}")))
    return _page(request, "editor.html", **_editor_context(request, state))


def _editor_context(request: web.Request, state: CeremonyState | None) -> dict[str, Any]:
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "lang": negotiate(request),
        "zone_labels": {z.zone: z.label for z in zoned_times(now, list(COMMON_ZONES))},
        "mode": "new" if state is None else "edit",
        "ceremony": None if state is None else state.id,
        "demo": definition_to_json(demo_definition()) if state is None else None,
        "messages": _messages(request),
        "limits": definition_limits(),  # maxlength, counters and allowed counts come from the validator's own
    }
    kinds = [k.value for k in SegmentKind]
    return {"state": state, "data": data, "zones": COMMON_ZONES, "kinds": kinds, "limits": data["limits"]}


@routes.get("/c/{ceremony}/host")
async def host_console(request: web.Request) -> web.Response:
    principal = require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    return _page(
        request,
        "host.html",
        state=state,
        d=state.definition,
        schedule=_schedule(state.definition),
        data=_script_data(request, state, principal),
        roles=[r.value for r in Role if r is not Role.RECORDER],  # the server issues its recorder's link
        principal=principal,
    )


@routes.get("/c/{ceremony}/document")
async def document(request: web.Request) -> web.Response:
    principal = require(request, ALL_ROLES, operator=True)
    state = ceremony_state(request)
    back = f"/c/{state.id}/host" if views.sees_links(principal) else f"/c/{state.id}/view"
    if principal.role is Role.VENUE:
        back = f"/c/{state.id}/venue"
    if principal.role is Role.ARCHIVIST:
        back = f"/c/{state.id}/archive"
    return _page(request, "document.html", state=state, definition=state.definition, principal=principal, back=back)


@routes.get("/c/{ceremony}/view")
async def participant_view(request: web.Request) -> web.Response:
    principal = require(request, VIEWER_ROLES)
    state = ceremony_state(request)
    return _page(
        request,
        "view.html",
        state=state,
        d=state.definition,
        schedule=_schedule(state.definition),
        data=_script_data(request, state, principal),
        you=_you(request, state, principal),
        principal=principal,
    )


def _you(request: web.Request, state: CeremonyState, principal: Principal) -> str:
    """Whom this link names, in the page language: a venue's or a signatory's name."""
    lang = negotiate(request)
    invitation = principal.invitation
    d = state.definition
    if invitation is not None and invitation.venue is not None and d.has_venue(invitation.venue):
        return d.venue(invitation.venue).name.get(lang)
    if invitation is not None and invitation.signatory is not None and d.has_signatory(invitation.signatory):
        s = d.signatory(invitation.signatory)
        return f"{s.name.get(lang)}, {s.title.get(lang)}, {d.party(s.party).name.get(lang)}"
    return invitation.label if invitation is not None else ""


@routes.get("/c/{ceremony}/venue")
async def venue_screen(request: web.Request) -> web.Response:
    """A hall's big screen: the other hall live, its own preview, the current segment, the MOU, signing progress."""
    principal = require(request, [Role.VENUE])
    state = ceremony_state(request)
    invitation = principal.invitation
    assert invitation is not None  # a venue is always an invitation's holder
    data = _script_data(request, state, principal)
    data["venue"] = invitation.venue
    return _page(
        request,
        "venue.html",
        state=state,
        d=state.definition,
        data=data,
        you=_you(request, state, principal),
        here=_here(state.definition, invitation.venue),
        progress={s.id: _progress(state, s.id) for s in state.definition.signatories},
    )


def _progress(state: CeremonyState, signatory: str) -> str:
    """Where a signatory stands when the page loads (venue.js moves it on from the live events)."""
    if signatory in state.pdf_signatures:
        return "signed"
    consent = state.consents.get(signatory)
    if consent is None:
        return "waiting"
    return "declined" if consent.event.decision is Decision.DECLINE else "consented"


def _here(definition: CeremonyDefinition, venue: str | None) -> list[str]:
    """The ids of the signatories who sign in this hall (listed first in its progress panel)."""
    return [s.id for s in definition.signatories if s.venue == venue]


@routes.get("/c/{ceremony}/sign")
async def signing_page(request: web.Request) -> web.Response:
    """A signatory's own page: the frozen MOU, the consent text, their key, Sign or Decline."""
    principal = require(request, [Role.SIGNATORY])
    state = ceremony_state(request)
    invitation = principal.invitation
    assert invitation is not None and invitation.signatory is not None  # a signatory link names one
    lang = negotiate(request)
    d = state.definition
    signatory = d.signatory(invitation.signatory)
    data = _script_data(request, state, principal)
    data["signatory"] = signatory.id
    data["party"] = signatory.party
    data["venue"] = signatory.venue
    data["signing_segments"] = [s.id for s in d.run_of_show if s.kind is SegmentKind.SIGNING]
    return _page(
        request,
        "sign.html",
        state=state,
        d=d,
        definition=d,
        data=data,
        signatory={
            "name": signatory.name.get(lang),
            "title": signatory.title.get(lang),
            "party": d.party(signatory.party).name.get(lang),
            "venue": d.venue(signatory.venue).name.get(lang),
        },
    )
