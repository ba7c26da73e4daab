"""Browser sessions and the end of access, attacked as an attacker would: raw HTTP against a live server.

What a capability cookie holds (a session id, never the link's token); signing out ends the
session on the server, and a copied cookie with it; revoking a link, signing out, or revoking
the operator links ends the SSE timelines opened with them (`event: revoked`, then the end of
the stream), before any further event; how long a session lives, by the service's clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ceremony.events import Role
from ceremony.runtime.sqlite_store import DB_NAME
from tests.helpers import Server, bearer, cookie_header, enter, start_server
from web.app import create_app
from web.appkeys import SERVICE
from web.demo.definition import demo_definition
from web.settings import Settings

GUARD = 30  # seconds: only so that a broken server fails the test instead of hanging it; never a measurement
EVIL = {"Origin": "https://evil.example"}
JSON = {"Accept": "application/json"}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "data")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # A dummy jar: cookies go only where a test puts them, as an attacker replaying one would.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(method, url, **kw) as r:
        return r.status, (await r.json() if r.content_type == "application/json" else await r.text())


async def next_message(stream: aiohttp.ClientResponse) -> dict[str, str] | None:
    """The next server-sent event's fields (comments skipped); None once the server has ended the stream."""
    fields: dict[str, str] = {}
    while True:
        line = await asyncio.wait_for(stream.content.readline(), GUARD)
        if not line:
            return fields or None
        text = line.decode().rstrip("\n")
        if not text:
            if fields:
                return fields
            continue
        if text.startswith(":"):
            continue
        name, _, value = text.partition(": ")
        fields[name] = value


def event_type(message: dict[str, str] | None) -> str:
    assert message is not None and message.get("event") == "ceremony", message
    kind: str = json.loads(message["data"])["event"]["type"]
    return kind


class Demo:
    """The served demo ceremony, with its printed host link (A) and a second host link (B)."""

    def __init__(self, site: Server, http: aiohttp.ClientSession) -> None:
        self.site, self.http = site, http
        self.ceremony = site.demo_id
        self.api = f"{site.base}/api/ceremonies/{self.ceremony}"
        self.host_a = site.token(site.host_link)
        self.host_b = ""

    async def start(self) -> Demo:
        self.host_b = (await self.issue(self.host_a, "host", "second host"))["token"]
        return self

    async def issue(self, host: str, role: str, label: str) -> dict[str, Any]:
        status, issued = await call(
            self.http, "POST", f"{self.api}/invitations", json={"role": role, "label": label}, headers=bearer(host)
        )
        assert status == 201, issued
        result: dict[str, Any] = issued
        return result

    async def invitation_of(self, token: str) -> str:
        status, detail = await call(self.http, "GET", self.api, headers=bearer(token))
        assert status == 200, detail
        return str(detail["you"]["actor"]).split(":", 1)[1]

    async def length(self) -> int:
        status, events = await call(self.http, "GET", f"{self.api}/events", headers=bearer(self.host_b))
        assert status == 200
        return int(events["length"])

    def stream(self, headers: dict[str, str], after: int) -> Any:
        return self.http.get(f"{self.api}/stream", headers={**headers, "Last-Event-ID": str(after)})


@pytest.fixture
async def demo(site: Server, http: aiohttp.ClientSession) -> Demo:
    return await Demo(site, http).start()


# ---------------------------------------------------------------- streams end with their access


async def test_revoking_a_host_link_ends_its_open_stream_before_any_host_only_event(demo: Demo) -> None:
    """The co-host whose link is revoked stops receiving at once: link events are host-only."""
    revoked = await demo.invitation_of(demo.host_a)
    async with demo.stream(bearer(demo.host_a), await demo.length()) as stream:
        assert stream.status == 200
        await demo.issue(demo.host_b, "observer", "press, before")
        assert event_type(await next_message(stream)) == "invitation.issued"  # the stream flows

        status, _ = await call(demo.http, "DELETE", f"{demo.api}/invitations/{revoked}", headers=bearer(demo.host_b))
        assert status == 200
        await demo.issue(demo.host_b, "observer", "press, after")  # host-only: must not reach the revoked host

        ended = await next_message(stream)
        assert ended is not None and ended["event"] == "revoked", ended
        assert json.loads(ended["data"]) == {"reason": "link_revoked"}
        assert await next_message(stream) is None  # the server closed the stream
    status, body = await call(demo.http, "GET", f"{demo.api}/stream", headers=bearer(demo.host_a))
    assert status == 403 and "revoked" in body["reason"]


async def test_signing_out_ends_the_session_its_copied_cookie_and_its_stream(demo: Demo) -> None:
    cookies = await enter(demo.http, demo.site.base, demo.ceremony, demo.host_a)
    async with demo.stream(cookie_header(cookies), await demo.length()) as stream:
        await demo.issue(demo.host_b, "observer", "press")
        assert event_type(await next_message(stream)) == "invitation.issued"

        # Signing out from another site is refused (and changes nothing).
        status, body = await call(
            demo.http, "POST", f"{demo.site.base}/api/sessions/sign-out", headers={**cookie_header(cookies), **EVIL}
        )
        assert status == 403 and "cross-site" in body["reason"]
        # Nor from a no-referrer page's form there (Origin: null): the browser says it is cross-site.
        forged = {**cookie_header(cookies), "Origin": "null", "Sec-Fetch-Site": "cross-site"}
        status, body = await call(demo.http, "POST", f"{demo.site.base}/api/sessions/sign-out", headers=forged)
        assert status == 403 and "cross-site" in body["reason"]
        assert (await call(demo.http, "GET", demo.api, headers=cookie_header(cookies)))[0] == 200

        own = {"Origin": demo.site.base, **JSON, **cookie_header(cookies)}
        async with demo.http.post(f"{demo.site.base}/api/sessions/sign-out", headers=own) as r:
            assert r.status == 200 and await r.json() == {"signed_out": 1}
            cleared = r.cookies[f"cap-{demo.ceremony}-host"]
            assert cleared.value == "" and cleared["max-age"] == "0" and cleared["samesite"] == "Strict"

        ended = await next_message(stream)
        assert ended is not None and ended["event"] == "revoked", ended
        assert json.loads(ended["data"]) == {"reason": "session_ended"}
        assert await next_message(stream) is None
    # Whoever copied the cookie holds nothing now; the link itself still opens (a new session).
    status, body = await call(demo.http, "GET", demo.api, headers=cookie_header(cookies))
    assert status == 403 and "session has ended" in body["reason"]
    assert (await call(demo.http, "GET", demo.api, headers=bearer(demo.host_a)))[0] == 200


async def test_the_cookie_names_a_session_and_a_token_in_a_cookie_opens_nothing(demo: Demo) -> None:
    cookies = await enter(demo.http, demo.site.base, demo.ceremony, demo.host_a)
    name = f"cap-{demo.ceremony}-host"
    session = cookies[name]
    assert session != demo.host_a and len(session) == 43
    assert (await call(demo.http, "GET", demo.api, headers=cookie_header(cookies)))[0] == 200
    # The token itself in the cookie (what cookies held before sessions) is no session.
    status, body = await call(demo.http, "GET", demo.api, headers=cookie_header({name: demo.host_a}))
    assert status == 403 and "session has ended" in body["reason"]
    # Stored hashed, beside the log and not in it: neither the id nor the token is in the files.
    db = sqlite3.connect(f"file:{demo.site.data / DB_NAME}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT id_sha256, ceremony, invitation, expires_at FROM sessions").fetchall()
    finally:
        db.close()
    digest = hashlib.sha256(session.encode()).hexdigest()
    invitation = await demo.invitation_of(demo.host_a)
    assert [r[:3] for r in rows if r[0] == digest] == [(digest, demo.ceremony, invitation)]
    files = b"".join(p.read_bytes() for p in demo.site.data.glob(f"{DB_NAME}*"))
    assert session.encode() not in files and demo.host_a.encode() not in files
    status, events = await call(demo.http, "GET", f"{demo.api}/events", headers=bearer(demo.host_b))
    assert digest not in json.dumps(events)  # sessions are not ceremony events


async def test_a_revoked_link_ends_the_sessions_opened_with_it(demo: Demo) -> None:
    observer = await demo.issue(demo.host_a, "observer", "press")
    cookies = await enter(demo.http, demo.site.base, demo.ceremony, observer["token"])
    assert (await call(demo.http, "GET", demo.api, headers=cookie_header(cookies)))[0] == 200
    status, _ = await call(demo.http, "DELETE", f"{demo.api}/invitations/{observer['id']}", headers=bearer(demo.host_a))
    assert status == 200
    status, body = await call(demo.http, "GET", demo.api, headers=cookie_header(cookies))
    assert status == 403 and "the observer link was revoked" in body["reason"]


async def test_operator_links_are_revoked_from_the_console_route_and_the_operator_session_ends(
    demo: Demo,
) -> None:
    site, http = demo.site, demo.http
    route = f"{site.base}/api/operator/revoke-all"
    operator = site.token(site.operator_link)
    operator_cookie = await enter(http, site.base, None, operator)
    host_cookie = await enter(http, site.base, demo.ceremony, demo.host_a)

    # Not the operator's: a host's session or token cannot.
    assert (await call(http, "POST", route, headers={**cookie_header(host_cookie), **JSON}))[0] == 401
    assert (await call(http, "POST", route, headers={**bearer(demo.host_a), **JSON}))[0] == 403
    # Another site cannot make the operator's browser do it.
    status, body = await call(http, "POST", route, headers={**cookie_header(operator_cookie), **EVIL})
    assert status == 403 and "cross-site" in body["reason"]
    assert (await call(http, "GET", f"{site.base}/api/ceremonies", headers=bearer(operator)))[0] == 200

    async with demo.stream(cookie_header(operator_cookie), await demo.length()) as stream:
        await demo.issue(demo.host_b, "observer", "press")
        assert event_type(await next_message(stream)) == "invitation.issued"
        own = {"Origin": site.base, **JSON, **cookie_header(operator_cookie)}
        async with http.post(route, headers=own) as r:
            assert r.status == 200 and (await r.json())["revoked"] >= 1
            assert r.cookies["cap-operator"]["max-age"] == "0"
        ended = await next_message(stream)
        assert ended is not None and ended["event"] == "revoked", ended
        assert await next_message(stream) is None

    for presented in (cookie_header(operator_cookie), bearer(operator)):
        assert (await call(http, "GET", f"{site.base}/api/ceremonies", headers=presented))[0] == 403
    assert (await call(http, "GET", demo.api, headers=cookie_header(host_cookie)))[0] == 200  # hosts go on


# ---------------------------------------------------------------- how long a session lives


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_session_lifetimes_follow_the_ceremony_and_the_server_enforces_them(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    start = datetime(2020, 5, 29, 1, 20, tzinfo=UTC)  # the demo's start (10:20 KST), for 60 minutes
    end = start + timedelta(minutes=60)
    clock = Clock(start - timedelta(days=1))
    app = create_app(Settings(data_dir=tmp_path / "data", create_demo=False), clock=clock)
    client = await aiohttp_client(app)
    service = app[SERVICE]
    state = await service.create(demo_definition(), "operator")
    host = (await service.issue_link(state.id, Role.HOST, "t")).token
    archivist = (await service.issue_link(state.id, Role.ARCHIVIST, "t")).token
    operator = await service.issue_operator_link()

    async def enter_at(path: str, token: str, lasts: timedelta) -> str:
        """Open a link now: its cookie must last `lasts`, and end when the server's session does."""
        r = await client.post(path, json={"token": token})
        assert r.status == 200, await r.text()
        (morsel,) = [m for name, m in r.cookies.items() if name.startswith("cap-")]
        client.session.cookie_jar.clear()  # cookies are sent by hand below
        assert int(morsel["max-age"]) == lasts.total_seconds()
        session = service.session(hashlib.sha256(morsel.value.encode()).hexdigest())
        assert session is not None and session.expires_at == clock.now + lasts  # the cookie and the server agree
        return f"{morsel.key}={morsel.value}"

    # The day before: until the scheduled end plus 12 hours.
    host_cookie = await enter_at(f"/c/{state.id}/enter", host, end + timedelta(hours=12) - clock.now)
    # Archivists come back for the record: 30 days; the operator: 12 hours.
    await enter_at(f"/c/{state.id}/enter", archivist, timedelta(days=30))
    await enter_at("/console/enter", operator, timedelta(hours=12))
    # A month ahead: at most 7 days.
    clock.now = start - timedelta(days=30)
    await enter_at(f"/c/{state.id}/enter", host, timedelta(days=7))

    # The first host session holds until its end by the service's clock, not after.
    api = f"/api/ceremonies/{state.id}"
    clock.now = end + timedelta(hours=12) - timedelta(seconds=1)
    assert (await client.get(api, headers={"Cookie": host_cookie})).status == 200
    clock.now = end + timedelta(hours=12)
    r = await client.get(api, headers={"Cookie": host_cookie})
    assert r.status == 403 and "session has ended" in (await r.json())["reason"]

    # Entered after the ceremony: 12 hours.
    clock.now = end + timedelta(days=2)
    await enter_at(f"/c/{state.id}/enter", host, timedelta(hours=12))
