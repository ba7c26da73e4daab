"""The HTTP JSON API (docs/api.md). Each handler: check the role, parse, call the service, shape the answer."""

from __future__ import annotations

import asyncio
import json
import re
from array import array
from itertools import accumulate
from typing import Any

from aiohttp import web

from ceremony.commands import (
    NEXT_SEGMENT,
    AdmitVenue,
    Cancel,
    OpenRooms,
    ReviseDefinition,
    RevokeInvitation,
    Seal,
    StartSegment,
)
from ceremony.core import decide
from ceremony.definition import definition_to_json, parse_definition
from ceremony.events import Role
from ceremony.model import CeremonyDefinition
from ceremony.text import unsafe_character

from . import health, views
from .appkeys import RECORDERS, SEALER, SERVICE
from .auth import ALL_ROLES, ceremony_state, require, require_operator
from .errors import BadRequest, Conflict
from .links import ceremony_link, qr_svg
from .mou import render_mou_pdf
from .settings import MAX_JSON_DEPTH

routes = web.RouteTableDef()


def _render(definition: CeremonyDefinition, ceremony: str) -> bytes:
    return render_mou_pdf(definition, ceremony_id=ceremony)


# Python's parser recurses once per level (a few thousand `[` raise RecursionError), so the
# nesting is measured on the raw bytes first: strings cut out, then the running sum of brackets.
_JSON_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_SIGNS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def json_depth(raw: bytes) -> int:
    """How deeply `raw` nests arrays and objects, without parsing it (C loops only: ~20 ms a MiB)."""
    brackets = _JSON_STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS).translate(_BRACKET_SIGNS)
    return max(accumulate(array("b", brackets)), default=0)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


async def read_json(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise BadRequest("send the body as JSON with Content-Type: application/json")
    raw = await request.read()  # client_max_size turns an oversized body into 413 here
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise BadRequest(f"the body is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(raw, parse_constant=_not_json)
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:  # NaN, a number of over 4300 digits
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def _object(value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise BadRequest("unknown fields in the body", [{"field": key, "reason": "unknown field"} for key in unknown])
    return value


def _string_field(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(
            f"'{name}' must be a non-empty string", [{"field": name, "reason": "must be a non-empty string"}]
        )
    return value


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """200 while the store (and the bus) answer; 503 otherwise, so the load balancer takes the node out."""
    found = await health.check(request.app)
    body = {**found.as_json(), "ceremonies": len(request.app[SERVICE].ceremonies())}
    return web.json_response(body, status=200 if found.ok else 503)


@routes.get("/api/ceremonies")
async def list_ceremonies(request: web.Request) -> web.Response:
    require_operator(request)
    return web.json_response({"ceremonies": [views.summary(s) for s in request.app[SERVICE].ceremonies()]})


@routes.post("/api/ceremonies")
async def create_ceremony(request: web.Request) -> web.Response:
    require_operator(request)
    definition = parse_definition(await read_json(request))
    service = request.app[SERVICE]
    state = await service.create(definition, "operator")
    issued = await service.issue_link(state.id, Role.HOST, "operator", label="host")
    body = views.summary(service.get(state.id))
    body["host_link"] = {"invitation": issued.invitation, "url": ceremony_link(request, state.id, issued.token)}
    return web.json_response(body, status=201)


@routes.get("/api/ceremonies/{ceremony}")
async def get_ceremony(request: web.Request) -> web.Response:
    principal = require(request, ALL_ROLES, operator=True)
    state = ceremony_state(request)
    return web.json_response(views.detail(state, principal, request.app[SERVICE].head(state.id)))


@routes.get("/api/ceremonies/{ceremony}/definition")
async def get_definition(request: web.Request) -> web.Response:
    require(request, ALL_ROLES, operator=True)
    return web.json_response(definition_to_json(ceremony_state(request).definition))


@routes.put("/api/ceremonies/{ceremony}/definition")
async def revise_definition(request: web.Request) -> web.Response:
    principal = require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    definition = parse_definition(await read_json(request))
    await request.app[SERVICE].execute(state.id, ReviseDefinition(definition=definition), principal.actor)
    return _state_response(request)


@routes.post("/api/ceremonies/{ceremony}/freeze")
async def freeze(request: web.Request) -> web.Response:
    principal = require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    await request.app[SERVICE].freeze(state.id, principal.actor, _render)
    return _state_response(request)


@routes.post("/api/ceremonies/{ceremony}/open")
async def open_rooms(request: web.Request) -> web.Response:
    principal = require(request, [Role.HOST], operator=True)
    await request.app[SERVICE].execute(ceremony_state(request).id, OpenRooms(), principal.actor)
    return _state_response(request)


@routes.post("/api/ceremonies/{ceremony}/segment")
async def start_segment(request: web.Request) -> web.Response:
    principal = require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    body = _object(await read_json(request), {"segment"})
    segment = _string_field(body, "segment") or NEXT_SEGMENT
    await request.app[SERVICE].execute(state.id, StartSegment(segment=segment), principal.actor)
    return _state_response(request)


@routes.post("/api/ceremonies/{ceremony}/seal")
async def seal(request: web.Request) -> web.Response:
    principal = require(request, [Role.HOST], operator=True)
    body = _object(await read_json(request), {"absent_ok"}) if request.body_exists else {}
    absent_ok = body.get("absent_ok", False)
    if not isinstance(absent_ok, bool):
        raise BadRequest("'absent_ok' must be true or false")
    state = ceremony_state(request)
    decide(state, Seal(absent_ok=absent_ok), now=request.app[SERVICE].clock())  # a refusal stops nothing
    # The evidence recording ends here: its last segments go into the log, and so into the record.
    async with request.app[RECORDERS].ending(state.id):
        await request.app[SEALER].seal(state.id, principal.actor, absent_ok=absent_ok)
    return _state_response(request)


@routes.post("/api/ceremonies/{ceremony}/cancel")
async def cancel(request: web.Request) -> web.Response:
    principal = require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    body = _object(await read_json(request), {"reason"})
    reason = _string_field(body, "reason") or ""
    decide(state, Cancel(reason=reason), now=request.app[SERVICE].clock())  # a refusal stops nothing
    async with request.app[RECORDERS].ending(state.id):
        await request.app[SERVICE].execute(state.id, Cancel(reason=reason), principal.actor)
    return _state_response(request)


@routes.get("/api/ceremonies/{ceremony}/invitations")
async def list_invitations(request: web.Request) -> web.Response:
    require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    return web.json_response({"invitations": [views.invitation_json(i) for i in state.invitations.values()]})


# The roles a host hands out links for.
ISSUABLE_ROLES = tuple(r for r in Role if r is not Role.RECORDER)


@routes.post("/api/ceremonies/{ceremony}/invitations")
async def issue_invitation(request: web.Request) -> web.Response:
    principal = require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    body = _object(await read_json(request), {"role", "venue", "signatory", "label"})
    role_name = _string_field(body, "role")
    try:
        role = Role(str(role_name))
        if role not in ISSUABLE_ROLES:
            raise ValueError(role)  # the recorder's link is the server's own (web/recording.py)
    except ValueError:
        names = ", ".join(r.value for r in ISSUABLE_ROLES)
        raise BadRequest(
            f"'role' must be one of {names}", [{"field": "role", "reason": f"must be one of {names}"}]
        ) from None
    label = body.get("label", "")
    if not isinstance(label, str):
        raise BadRequest("'label' must be a string", [{"field": "label", "reason": "must be a string"}])
    if (unsafe := unsafe_character(label)) is not None:
        raise BadRequest(f"'label' {unsafe}", [{"field": "label", "reason": unsafe}])
    issued = await request.app[SERVICE].issue_link(
        state.id,
        role,
        principal.actor,
        venue=_string_field(body, "venue", required=False),
        signatory=_string_field(body, "signatory", required=False),
        label=label,
    )
    invitation = request.app[SERVICE].get(state.id).invitations[issued.invitation]
    url = ceremony_link(request, state.id, issued.token)
    answer = views.invitation_json(invitation)
    # ~20 ms of pure Python: off the event loop, so live streams don't stall.
    answer.update({"url": url, "token": issued.token, "qr_svg": await asyncio.to_thread(qr_svg, url)})
    return web.json_response(answer, status=201)


@routes.delete("/api/ceremonies/{ceremony}/invitations/{invitation}")
async def revoke_invitation(request: web.Request) -> web.Response:
    principal = require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    invitation = request.match_info["invitation"]
    held = state.invitations.get(invitation)
    if held is not None and held.role is Role.RECORDER:
        # Revoking it would stop the evidence recording, which only the seal or the end may do.
        raise Conflict("the recorder's link is the server's own: the recording stops only at the seal or the end")
    await request.app[SERVICE].execute(state.id, RevokeInvitation(invitation=invitation), principal.actor)
    return web.json_response(views.invitation_json(request.app[SERVICE].get(state.id).invitations[invitation]))


@routes.post("/api/ceremonies/{ceremony}/venues/{venue}/admit")
async def admit_venue(request: web.Request) -> web.Response:
    """Let a hall into the signaling room, as the socket's `admit` does (docs/signaling.md, "Lobby")."""
    principal = require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    venue = request.match_info["venue"]
    done = await request.app[SERVICE].execute(state.id, AdmitVenue(venue=venue), principal.actor)
    return web.json_response({"venue": venue, "admitted": sorted(done.state.admitted_venues)})


@routes.get("/api/ceremonies/{ceremony}/document.pdf")
async def document_pdf(request: web.Request) -> web.Response:
    require(request, ALL_ROLES, operator=True)
    state = ceremony_state(request)
    if state.document_sha256 is None:
        raise Conflict("the ceremony is not frozen yet, so there is no original; use preview.pdf for a draft")
    data = await request.app[SERVICE].document(state.document_sha256)
    return web.Response(
        body=data,
        content_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="mou-{state.id}.pdf"',
            "X-Document-SHA256": state.document_sha256,
        },
    )


@routes.get("/api/ceremonies/{ceremony}/preview.pdf")
async def preview_pdf(request: web.Request) -> web.Response:
    """The draft rendered exactly as freezing would render it (not stored)."""
    require(request, [Role.HOST], operator=True)
    state = ceremony_state(request)
    data = await request.app[SERVICE].render(state.definition, state.id, _render)
    return web.Response(
        body=data,
        content_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="mou-{state.id}-preview.pdf"'},
    )


@routes.get("/api/ceremonies/{ceremony}/events")
async def list_events(request: web.Request) -> web.Response:
    principal = require(request, ALL_ROLES, operator=True)
    state = ceremony_state(request)
    after = sequence_number(request.query.get("after", "0"), "'after'")
    envelopes = await request.app[SERVICE].history(state.id, after)
    recording = request.query.get("include") == "recording"  # the recorder's segment and gap events too
    shown = [v for e in envelopes if (v := views.envelope_json(e, principal, recording=recording)) is not None]
    return web.json_response({"events": shown, "length": state.seq})


_SEQUENCE = re.compile(r"[0-9]{1,12}")  # ASCII only: str.isdigit() passes '²', which int() refuses


def sequence_number(text: str, name: str) -> int:
    if not _SEQUENCE.fullmatch(text):
        raise BadRequest(f"{name} must be a sequence number (0 or more)")
    return int(text)


def _state_response(request: web.Request) -> web.Response:
    state = ceremony_state(request)
    return web.json_response(views.summary(state))
