"""The HTTP API through aiohttp's test client: flows, every role x route, bad input.

Real app, real SQLite files in tmp_path, real WeasyPrint rendering at freeze.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ceremony.events import Role
from tests.helpers import bearer
from web.app import create_app
from web.appkeys import SERVICE
from web.demo.definition import demo_definition
from web.settings import MAX_BODY_BYTES, Settings

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@dataclass
class World:
    client: TestClient[Any, Any]
    ceremony: str
    tokens: dict[str, str]  # principal name -> token

    @property
    def service(self) -> Any:
        return self.client.server.app[SERVICE]  # type: ignore[union-attr]

    def as_(self, who: str) -> dict[str, str]:
        return bearer(self.tokens[who]) if who in self.tokens else {}


@pytest.fixture
async def world(aiohttp_client: ClientFactory, tmp_path: Path) -> World:
    app = create_app(Settings(data_dir=tmp_path / "data", public_url="https://ceremony.test", create_demo=False))
    client = await aiohttp_client(app)
    service = app[SERVICE]
    state = await service.create(demo_definition(), "operator")
    other = await service.create(demo_definition(), "operator")
    tokens = {
        "operator": await service.issue_operator_link(),
        "host": (await service.issue_link(state.id, Role.HOST, "test")).token,
        "observer": (await service.issue_link(state.id, Role.OBSERVER, "test")).token,
        "archivist": (await service.issue_link(state.id, Role.ARCHIVIST, "test")).token,
        "other-host": (await service.issue_link(other.id, Role.HOST, "test")).token,
        "garbage": "x" * 43,
    }
    revoked = await service.issue_link(state.id, Role.HOST, "test")
    from ceremony.commands import RevokeInvitation

    await service.execute(state.id, RevokeInvitation(invitation=revoked.invitation), "test")
    tokens["revoked-host"] = revoked.token
    return World(client, state.id, tokens)


async def freeze(w: World) -> None:
    r = await w.client.post(f"/api/ceremonies/{w.ceremony}/freeze", headers=w.as_("host"))
    assert r.status == 200, await r.text()
    venue = await w.service.issue_link(w.ceremony, Role.VENUE, "test", venue="chuncheon")
    signatory = await w.service.issue_link(w.ceremony, Role.SIGNATORY, "test", signatory=_first_signatory(w))
    w.tokens["venue"] = venue.token
    w.tokens["signatory"] = signatory.token


def _first_signatory(w: World) -> str:
    signatory_id: str = w.service.get(w.ceremony).definition.signatories[0].id
    return signatory_id


# ---------------------------------------------------------------- flows


async def test_operator_creates_ceremony_and_gets_a_working_host_link(world: World, demo_json: dict[str, Any]) -> None:
    demo_json["title"]["en"] = "A second MOU"
    r = await world.client.post("/api/ceremonies", json=demo_json, headers=world.as_("operator"))
    assert r.status == 201, await r.text()
    body = await r.json()
    assert body["state"] == "draft"
    url = body["host_link"]["url"]
    assert url.startswith(f"https://ceremony.test/c/{body['id']}/enter#")
    host_token = url.split("#", 1)[1]
    detail = await (await world.client.get(f"/api/ceremonies/{body['id']}", headers=bearer(host_token))).json()
    assert detail["title"]["en"] == "A second MOU"
    assert detail["you"]["role"] == "host"
    assert len(detail["parties"]) == 6 and len(detail["venues"]) == 2
    listed = await (await world.client.get("/api/ceremonies", headers=world.as_("operator"))).json()
    assert body["id"] in [c["id"] for c in listed["ceremonies"]]


async def test_full_lifecycle_with_frozen_pdf(world: World, demo_json: dict[str, Any]) -> None:
    w, base = world, f"/api/ceremonies/{world.ceremony}"
    demo_json["title"]["en"] = "Revised title"
    r = await w.client.put(f"{base}/definition", json=demo_json, headers=w.as_("host"))
    assert r.status == 200, await r.text()
    await freeze(w)
    detail = await (await w.client.get(base, headers=w.as_("host"))).json()
    assert detail["state"] == "frozen" and detail["title"]["en"] == "Revised title"
    pdf = await w.client.get(f"{base}/document.pdf", headers=w.as_("observer"))
    data = await pdf.read()
    assert pdf.status == 200 and data.startswith(b"%PDF-")
    assert hashlib.sha256(data).hexdigest() == detail["document_sha256"] == pdf.headers["X-Document-SHA256"]

    # Nothing in the document or roster can change after freezing.
    r = await w.client.put(f"{base}/definition", json=demo_json, headers=w.as_("host"))
    assert r.status == 409 and "frozen" in (await r.json())["reason"]

    assert (await w.client.post(f"{base}/open", headers=w.as_("host"))).status == 200
    r = await w.client.post(f"{base}/segment", json={"segment": "next"}, headers=w.as_("host"))
    assert (await r.json())["segment"] == "opening"
    r = await w.client.post(f"{base}/segment", json={"segment": "signing"}, headers=w.as_("host"))
    assert (await r.json())["state"] == "signing"
    r = await w.client.post(f"{base}/segment", json={"segment": "opening"}, headers=w.as_("host"))
    assert r.status == 409 and "forward" in (await r.json())["reason"]
    # Nobody signed: sealing must be asked for with the parties recorded as absent.
    r = await w.client.post(f"{base}/seal", headers=w.as_("host"))
    answer = await r.json()
    assert r.status == 409 and answer["error"] == "absent_parties" and len(answer["fields"]) == 6
    r = await w.client.post(f"{base}/seal", json={"absent_ok": True}, headers=w.as_("host"))
    assert (await r.json())["state"] == "sealed"
    r = await w.client.post(f"{base}/cancel", json={"reason": "too late"}, headers=w.as_("host"))
    assert r.status == 409 and "sealed" in (await r.json())["reason"]


async def test_invitations_issue_list_revoke(world: World) -> None:
    w, base = world, f"/api/ceremonies/{world.ceremony}"
    r = await w.client.post(f"{base}/invitations", json={"role": "observer", "label": "press"}, headers=w.as_("host"))
    assert r.status == 201
    issued = await r.json()
    assert issued["qr_svg"].lstrip().startswith("<?xml") or "<svg" in issued["qr_svg"]
    token = issued["url"].split("#", 1)[1]
    assert len(token) >= 43  # >= 128 bits; ours are 256
    assert (await w.client.get(base, headers=bearer(token))).status == 200
    listed = await (await w.client.get(f"{base}/invitations", headers=w.as_("host"))).json()
    assert all("token" not in i and "token_sha256" not in i for i in listed["invitations"])
    r = await w.client.delete(f"{base}/invitations/{issued['id']}", headers=w.as_("host"))
    assert r.status == 200 and (await r.json())["active"] is False
    r = await w.client.get(base, headers=bearer(token))
    assert r.status == 403 and "revoked" in (await r.json())["reason"]
    # The log keeps only hashes.
    events = await (await w.client.get(f"{base}/events", headers=w.as_("host"))).json()
    assert token not in json.dumps(events)
    assert all("token_sha256" not in e["data"] for e in events["events"])


async def test_venue_links_wait_for_the_frozen_roster(world: World) -> None:
    base = f"/api/ceremonies/{world.ceremony}"
    r = await world.client.post(
        f"{base}/invitations", json={"role": "venue", "venue": "chuncheon"}, headers=world.as_("host")
    )
    assert r.status == 409 and "freeze" in (await r.json())["reason"]


async def test_browser_link_sets_cookie_and_cookie_writes_need_same_origin(world: World) -> None:
    w, base = world, f"/api/ceremonies/{world.ceremony}"
    r = await w.client.post(f"/c/{w.ceremony}/enter", json={"token": w.tokens["host"]})
    assert r.status == 200
    assert (await r.json())["redirect"] == f"/c/{w.ceremony}/host"
    cookie = r.cookies[f"cap-{w.ceremony}-host"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert (await w.client.get(base)).status == 200  # the cookie jar now carries the capability
    r = await w.client.post(f"{base}/open", headers={"Origin": "https://evil.example"})
    assert r.status == 403 and "cross-site" in (await r.json())["reason"]
    assert w.service.get(w.ceremony).phase.value == "draft"
    r = await w.client.post(f"/c/{w.ceremony}/enter", json={"token": w.tokens["revoked-host"]})
    assert r.status == 403 and "revoked" in (await r.json())["reason"]


async def test_timeline_stream_resumes_from_last_event_id(world: World) -> None:
    w, base = world, f"/api/ceremonies/{world.ceremony}"
    seq_before = w.service.get(w.ceremony).seq
    r = await w.client.post(f"{base}/invitations", json={"role": "observer"}, headers=w.as_("host"))
    assert r.status == 201
    headers = {**w.as_("host"), "Last-Event-ID": str(seq_before)}
    async with w.client.get(f"{base}/stream", headers=headers) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        first = await _next_sse(resp)
        assert first["id"] == seq_before + 1 and first["data"]["event"]["type"] == "invitation.issued"
        # A live event arrives on the open stream.
        await w.client.post(f"{base}/cancel", json={"reason": "weather"}, headers=w.as_("host"))
        live = await _next_sse(resp)
        assert live["data"]["event"]["type"] == "ceremony.cancelled"
        assert live["data"]["state"]["state"] == "cancelled"


async def test_non_hosts_do_not_see_link_events(world: World) -> None:
    events = await (
        await world.client.get(f"/api/ceremonies/{world.ceremony}/events", headers=world.as_("observer"))
    ).json()
    types = {e["type"] for e in events["events"]}
    assert "ceremony.drafted" in types and not any(t.startswith("invitation.") for t in types)
    detail = await (await world.client.get(f"/api/ceremonies/{world.ceremony}", headers=world.as_("observer"))).json()
    assert "invitations" not in detail


async def _next_sse(resp: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), 10)).decode().rstrip("\n")
        if line.startswith(":"):
            continue
        if not line and fields:
            return fields
        key, _, value = line.partition(": ")
        fields[key] = int(value) if key == "id" else json.loads(value) if key == "data" else value


# ---------------------------------------------------------------- role x route

EVERY_ROLE = {"operator", "host", "observer", "archivist", "venue", "signatory"}
ROUTES: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    # method, path (under the ceremony), body, who may
    ("GET", "", None, {"operator", "host", "observer", "archivist", "venue", "signatory"}),
    ("GET", "/definition", None, {"operator", "host", "observer", "archivist", "venue", "signatory"}),
    ("GET", "/events", None, {"operator", "host", "observer", "archivist", "venue", "signatory"}),
    ("GET", "/document.pdf", None, {"operator", "host", "observer", "archivist", "venue", "signatory"}),
    ("GET", "/invitations", None, {"operator", "host"}),
    ("POST", "/invitations", {"role": "observer"}, {"operator", "host"}),
    ("DELETE", "/invitations/inv-000000000000", None, {"operator", "host"}),
    ("PUT", "/definition", {}, {"operator", "host"}),
    ("POST", "/freeze", None, {"operator", "host"}),
    ("POST", "/open", None, {"operator", "host"}),
    ("POST", "/segment", {"segment": "next"}, {"operator", "host"}),
    ("POST", "/seal", None, {"operator", "host"}),
    ("POST", "/cancel", {"reason": "x"}, {"operator", "host"}),
    ("GET", "/preview.pdf", None, {"operator", "host"}),
    # signing (tests/test_signing.py covers what the allowed roles can do with them)
    ("GET", "/consent-text?lang=ko&signatory=gangwon-governor", None, EVERY_ROLE),
    ("GET", "/consents", None, EVERY_ROLE),
    ("GET", "/enrollments", None, {"operator", "host"}),
    ("GET", "/me", None, {"signatory"}),
    ("POST", "/challenges", {"purpose": "consent"}, {"signatory"}),
    ("POST", "/enrollments", {"public_key": "x", "challenge": "y", "signature": "z"}, {"signatory"}),
    ("POST", "/enrollments/enr-000000000000/approve", None, {"operator", "host"}),
    ("POST", "/enrollments/enr-000000000000/reject", {"reason": "x"}, {"operator", "host"}),
    ("POST", "/consents", {"statement": {}, "signature": "z"}, {"signatory"}),
    ("GET", "/pdf-signatures", None, EVERY_ROLE),
    ("POST", "/pdf-signatures", {}, {"signatory"}),
    ("POST", "/pdf-signatures/some-session", {"signature": "z"}, {"signatory"}),
]
PRINCIPALS = [
    "operator",
    "host",
    "observer",
    "archivist",
    "venue",
    "signatory",
    "other-host",
    "revoked-host",
    "garbage",
]


async def test_every_role_on_every_route(world: World) -> None:
    w = world
    await freeze(w)
    seq = w.service.get(w.ceremony).seq
    for method, suffix, body, allowed in ROUTES:
        path = f"/api/ceremonies/{w.ceremony}{suffix}"
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        r = await w.client.request(method, path, **kwargs)
        assert r.status == 401, (method, path, "anonymous", r.status)
        for who in PRINCIPALS:
            if who in allowed and method != "GET":
                continue  # allowed writes are exercised by the flow tests
            if who in allowed and suffix == "/preview.pdf":
                continue  # a render; covered in test_preview_pdf
            r = await w.client.request(method, path, headers=w.as_(who), **kwargs)
            expected = {200} if who in allowed else {403}
            assert r.status in expected, (method, path, who, r.status, await r.text())
            if r.status == 403:
                assert (await r.json())["reason"], (method, path, who)
    assert w.service.get(w.ceremony).seq == seq  # no refused request changed anything
    r = await w.client.get("/api/ceremonies", headers=w.as_("host"))
    assert r.status == 403
    assert (await w.client.get("/api/ceremonies")).status == 401
    assert (await w.client.get("/api/ceremonies/0123456789abcdef", headers=w.as_("host"))).status == 404
    assert (await w.client.get("/api/ceremonies/not-an-id", headers=w.as_("host"))).status == 404


async def test_preview_pdf_renders_the_draft(world: World) -> None:
    r = await world.client.get(f"/api/ceremonies/{world.ceremony}/preview.pdf", headers=world.as_("host"))
    assert r.status == 200 and (await r.read()).startswith(b"%PDF-")
    assert world.service.get(world.ceremony).phase.value == "draft"


# ---------------------------------------------------------------- bad input


async def test_bad_inputs_get_clear_4xx_and_change_nothing(world: World, demo_json: dict[str, Any]) -> None:
    w, base = world, f"/api/ceremonies/{world.ceremony}"
    count, seq = len(w.service.ceremonies()), w.service.get(w.ceremony).seq
    op = w.as_("operator")

    r = await w.client.post("/api/ceremonies", data=b"{not json", headers={**op, "Content-Type": "application/json"})
    assert r.status == 400 and "not valid JSON" in (await r.json())["reason"]

    r = await w.client.post("/api/ceremonies", data=b"{}", headers={**op, "Content-Type": "text/plain"})
    assert r.status == 400 and "Content-Type" in (await r.json())["reason"]

    bad = dict(demo_json)
    bad["signatories"] = [
        dict(demo_json["signatories"][0], party="nobody", venue="moon"),
        *demo_json["signatories"][1:],
    ]
    bad["venues"] = [dict(demo_json["venues"][0], timezone="Mars/Olympus"), *demo_json["venues"][1:]]
    bad["title"] = {"ko": "", "zh": "x", "en": "x", "fr": "x"}
    r = await w.client.post("/api/ceremonies", json=bad, headers=op)
    body = await r.json()
    assert r.status == 400
    fields = {f["field"] for f in body["fields"]}
    assert {"signatories[0].party", "signatories[0].venue", "venues[0].timezone", "title.ko", "title.fr"} <= fields
    assert all(f["reason"] for f in body["fields"])

    huge = b'{"title": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    r = await w.client.post("/api/ceremonies", data=huge, headers={**op, "Content-Type": "application/json"})
    assert r.status == 413 and "KiB" in (await r.json())["reason"]

    r = await w.client.put(f"{base}/definition", json=[1, 2], headers=w.as_("host"))
    assert r.status == 400

    r = await w.client.post(f"{base}/open", headers=w.as_("host"))
    assert r.status == 409 and "draft" in (await r.json())["reason"]
    r = await w.client.post(f"{base}/segment", json={"segment": "next"}, headers=w.as_("host"))
    assert r.status == 409
    r = await w.client.post(f"{base}/segment", json={"segment": 7}, headers=w.as_("host"))
    assert r.status == 400
    r = await w.client.post(f"{base}/segment", json={"bogus": 1}, headers=w.as_("host"))
    assert r.status == 400 and (await r.json())["fields"][0]["field"] == "bogus"
    r = await w.client.post(f"{base}/invitations", json={"role": "king"}, headers=w.as_("host"))
    assert r.status == 400 and "role" in (await r.json())["reason"]
    r = await w.client.post(
        f"{base}/invitations", json={"role": "observer", "venue": "chuncheon"}, headers=w.as_("host")
    )
    assert r.status == 400
    r = await w.client.delete(f"{base}/invitations/inv-nothere", headers=w.as_("host"))
    assert r.status == 400 and "no invitation" in (await r.json())["reason"]
    r = await w.client.post(f"{base}/cancel", json={"reason": "   "}, headers=w.as_("host"))
    assert r.status == 400
    r = await w.client.get(f"{base}/events?after=-1", headers=w.as_("host"))
    assert r.status == 400
    r = await w.client.get(f"{base}/document.pdf", headers=w.as_("host"))
    assert r.status == 409 and "not frozen" in (await r.json())["reason"]
    r = await w.client.patch(f"{base}/freeze", headers=w.as_("host"))
    assert r.status == 405 and (await r.json())["reason"]

    assert len(w.service.ceremonies()) == count
    assert w.service.get(w.ceremony).seq == seq
    assert (await w.client.get("/healthz")).status == 200


async def test_security_headers_on_pages_and_api(world: World) -> None:
    r = await world.client.get("/healthz")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Referrer-Policy"] == "no-referrer"
    r = await world.client.get(f"/api/ceremonies/{world.ceremony}", headers=world.as_("host"))
    assert r.headers["Cache-Control"] == "no-store"
