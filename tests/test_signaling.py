"""The signaling protocol (docs/signaling.md) over the live WebSocket endpoint, and its sans-IO room.

Live tests run the real app (real SQLite log, real WeasyPrint freeze) under aiohttp's
test client and speak the protocol as a venue screen or the host console would.
The ceremony they use is built once per session (drafted, frozen, rooms opened, links
issued) and each test works on its own copy of that data directory.
Every wait below is a guard against a hang, never an assertion about speed.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.client import ClientWebSocketResponse
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from ceremony.commands import AdmitVenue, RevokeInvitation
from ceremony.core import decide
from ceremony.errors import InvalidCommand
from ceremony.events import Role, VenueAdmitted, type_name
from ceremony.model import LocalizedText
from ceremony.runtime.local import on_disk
from ceremony.runtime.service import CeremonyService
from ceremony.state import Phase
from signaling.errors import ProtocolError
from signaling.hub import TICK_SLICE, Hub, SignalSettings
from signaling.ice import IceConfig, IceConfigError, load_ice_config
from signaling.outlet import Outlet
from signaling.protocol import MAX_FRAME, CeremonyUpdated, parse, seq_of, to_wire
from signaling.room import OUTBOX_LIMIT, Effects, Joined, Room, sent_after
from signaling.server import HUB
from tests.helpers import (
    CANDIDATE,
    SDP,
    T0,
    Template,
    bearer,
    build_template,
    enter,
    log_in,
    raw_socket,
    start_server,
)
from web.app import create_app
from web.appkeys import SERVICE
from web.auth import role_cookie
from web.settings import Settings, utc_clock

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
WAIT = 10.0  # seconds before a test gives up waiting for a message it expects


# ------------------------------------------------------------------ the ceremony, built once


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return asyncio.run(build_template(tmp_path_factory.mktemp("signal-template") / "data"))


# ------------------------------------------------------------------ a protocol client for tests


class Socket:
    """One participant's signaling socket: sends JSON, reads with a backlog, answers pings."""

    def __init__(self, ws: ClientWebSocketResponse, *, answer_pings: bool = True) -> None:
        self.ws = ws
        self.answer_pings = answer_pings
        self.backlog: list[dict[str, Any]] = []
        self.seen: list[dict[str, Any]] = []  # everything received, in order, pings included
        self.close_code: int | None = None
        self.close_reason = ""
        self.welcome: dict[str, Any] = {}

    @property
    def peer(self) -> str:
        return str(self.welcome["peer"])

    async def send(self, **message: Any) -> None:
        await self.ws.send_str(json.dumps(message))

    async def _read_one(self, wait: float) -> dict[str, Any] | None:
        """The next message, or None once the socket is closed (close code recorded)."""
        if self.close_code is not None:
            return None
        try:
            msg = await self.ws.receive(wait)
        except TimeoutError:
            raise AssertionError(f"nothing more within the wait; got {self.seen}") from None
        if msg.type == WSMsgType.TEXT:
            value: dict[str, Any] = json.loads(msg.data)
            self.seen.append(value)
            if value.get("type") == "ping" and self.answer_pings:
                await self.send(type="pong", nonce=value.get("nonce"))
            return value
        if msg.type == WSMsgType.CLOSE:
            self.close_code, self.close_reason = int(msg.data), str(msg.extra or "")
        else:
            self.close_code = self.ws.close_code if self.ws.close_code is not None else -1
        return None

    async def expect(
        self,
        kind: str,
        wait: float = WAIT,
        about: str | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """The first message of `kind` whose fields match (from the backlog, else read on).

        `about` matches the id of the message's `peer` object (knock, peer-joined, peer-back);
        `where` is any further condition.
        """

        def matches(m: dict[str, Any]) -> bool:
            if about is not None and not (isinstance(m.get("peer"), dict) and m["peer"].get("id") == about):
                return False
            if where is not None and m.get("type") == kind and not where(m):
                return False
            return m.get("type") == kind and all(m.get(k) == v for k, v in fields.items())

        for m in self.backlog:
            if matches(m):
                self.backlog.remove(m)
                return m
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} {fields} within {wait} s; got {self.seen}")
            m = await self._read_one(left)
            if m is None:
                raise AssertionError(f"closed {self.close_code} {self.close_reason!r} before {kind}; got {self.seen}")
            if matches(m):
                return m
            if m.get("type") != "ping":
                self.backlog.append(m)

    async def closed(self, wait: float = WAIT) -> int:
        """Read (keeping messages) until the server closes this socket; its close code."""
        deadline = time.monotonic() + wait
        while self.close_code is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"still open after {wait} s; got {self.seen}")
            m = await self._read_one(left)
            if m is not None and m.get("type") != "ping":
                self.backlog.append(m)
        return self.close_code

    async def round_trip(self, nonce: str) -> None:
        """ping -> pong: everything the server sent before is now in the backlog."""
        await self.send(type="ping", nonce=nonce)
        await self.expect("pong", nonce=nonce)


@dataclass
class World:
    client: TestClient[Any, Any]
    template: Template

    @property
    def service(self) -> CeremonyService:
        service: CeremonyService = self.client.server.app[SERVICE]  # type: ignore[union-attr]
        return service

    @property
    def ceremony(self) -> str:
        return self.template.ceremony

    def path(self, ceremony: str | None = None) -> str:
        return f"/api/ceremonies/{ceremony or self.ceremony}/signal"

    async def open(
        self, who: str | None, *, ceremony: str | None = None, headers: dict[str, str] | None = None, **kw: Any
    ) -> Socket:
        """A socket, upgraded but not yet greeted."""
        h = dict(headers or {})
        if who is not None:
            h["Authorization"] = f"Bearer {self.template.tokens[who]}"
        ws = await self.client.ws_connect(self.path(ceremony), headers=h)
        return Socket(ws, **kw)

    async def join(self, who: str, *, ceremony: str | None = None, resume: dict[str, Any] | None = None) -> Socket:
        """A socket that said hello and got its welcome."""
        sock = await self.open(who, ceremony=ceremony)
        hello: dict[str, Any] = {"client": {"name": "test", "version": "1"}}
        if resume is not None:
            hello["resume"] = resume
        await sock.send(type="hello", **hello)
        sock.welcome = await sock.expect("welcome")
        return sock

    async def pair(self) -> tuple[Socket, Socket]:
        """The host, and the Chuncheon venue admitted by it."""
        host = await self.join("host")
        venue = await self.join("chuncheon")
        await host.expect("knock", about=venue.peer)
        await host.send(type="admit", peer=venue.peer, ref="admit-1")
        await host.expect("ack", ref="admit-1")
        await venue.expect("admitted")
        await host.expect("peer-joined", about=venue.peer)
        return host, venue


WorldFactory = Callable[..., Awaitable[World]]


@pytest.fixture
def make_world(aiohttp_client: ClientFactory, tmp_path: Path, template: Template) -> WorldFactory:
    copies = iter(range(100))

    async def make(**signal: Any) -> World:
        data = tmp_path / f"data-{next(copies)}"
        shutil.copytree(template.data, data)
        app = create_app(Settings(data_dir=data, create_demo=False, signal=SignalSettings(**signal)))
        return World(await aiohttp_client(app), template)

    return make


@pytest.fixture
async def world(make_world: WorldFactory) -> World:
    return await make_world()


@pytest.fixture(autouse=True)
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Whatever a client sends, nothing in the server may fail with a logged error or traceback."""
    caplog.set_level(logging.WARNING)
    yield
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not failures, [r.getMessage() for r in failures]


# ------------------------------------------------------------------ welcome, lobby, relay


async def test_welcome_describes_the_session(world: World) -> None:
    host = await world.join("host")
    w = host.welcome
    assert set(w) == {
        "type",
        "session",
        "peer",
        "role",
        "venue",
        "admitted",
        "resumed",
        "ice_servers",
        "peers",
        "ceremony",
        "heartbeat",
    }
    assert w["peer"].startswith("p-") and len(w["session"]) == 22
    assert (w["role"], w["venue"], w["admitted"], w["resumed"]) == ("host", None, True, False)
    assert w["ice_servers"] == []  # no configuration -> no servers, never a public default
    assert w["peers"] == []
    assert w["ceremony"]["id"] == world.ceremony and w["ceremony"]["state"] == "open"
    assert w["heartbeat"] == {"interval": 10.0, "timeout": 30.0}

    venue = await world.join("chuncheon")
    assert (venue.welcome["role"], venue.welcome["venue"], venue.welcome["admitted"]) == ("venue", "chuncheon", False)
    assert venue.welcome["peers"] == []  # the lobby sees nobody
    assert venue.welcome["session"] != w["session"] and venue.peer != host.peer


async def test_host_admits_a_knocking_venue_and_they_relay_with_opposite_politeness(world: World) -> None:
    host = await world.join("host")
    venue = await world.join("chuncheon")
    knock = await host.expect("knock")
    assert knock["seq"] == 1
    assert knock["peer"]["id"] == venue.peer
    assert knock["peer"]["role"] == "venue" and knock["peer"]["venue"] == "chuncheon"
    assert knock["peer"]["name"]["ko"] and knock["peer"]["name"]["zh"] and knock["peer"]["name"]["en"]

    await host.send(type="admit", peer=venue.peer, ref="let-in")
    ack = await host.expect("ack")
    assert ack["ref"] == "let-in"
    joined = await host.expect("peer-joined")
    assert joined["peer"]["id"] == venue.peer
    admitted = await venue.expect("admitted")
    assert [p["id"] for p in admitted["peers"]] == [host.peer]
    # Perfect negotiation: exactly one side of the pair is polite, the one whose id sorts greater.
    host_sees_venue_polite = joined["peer"]["polite"]
    venue_sees_host_polite = admitted["peers"][0]["polite"]
    assert host_sees_venue_polite != venue_sees_host_polite
    assert host_sees_venue_polite == (venue.peer > host.peer)

    await host.send(type="offer", to=venue.peer, sdp=SDP)
    offer = await venue.expect("offer")
    assert (offer["from"], offer["sdp"]) == (host.peer, SDP)
    await venue.send(type="answer", to=host.peer, sdp=SDP + "a=answer\r\n")
    answer = await host.expect("answer")
    assert (answer["from"], answer["sdp"]) == (venue.peer, SDP + "a=answer\r\n")
    await venue.send(type="candidate", to=host.peer, candidate=CANDIDATE)
    candidate = await host.expect("candidate")
    assert candidate["from"] == venue.peer
    assert candidate["candidate"]["candidate"] == CANDIDATE["candidate"]
    assert candidate["candidate"]["sdpMLineIndex"] == 0
    await host.send(type="candidate", to=venue.peer, candidate=None)
    end_of_candidates = await venue.expect("candidate")
    assert end_of_candidates["from"] == host.peer and end_of_candidates["candidate"] is None
    # Sequence numbers are per session and gapless.
    venue_seqs = [m["seq"] for m in venue.seen if m["type"] not in ("welcome", "ping", "pong")]
    assert venue_seqs == list(range(1, len(venue_seqs) + 1))


async def test_an_admitted_venue_that_reconnects_goes_straight_back_in(world: World) -> None:
    host, venue = await world.pair()
    await venue.send(type="leave")
    assert await venue.closed() == 1000
    left = await host.expect("peer-left", peer=venue.peer)
    assert left["reason"] == "left"
    again = await world.join("chuncheon")
    assert again.welcome["admitted"] is True and again.welcome["resumed"] is False
    assert [p["id"] for p in again.welcome["peers"]] == [host.peer]
    assert (await host.expect("peer-joined"))["peer"]["id"] == again.peer


async def test_admission_outlives_an_empty_room(world: World) -> None:
    host, venue = await world.pair()
    for sock in (venue, host):
        await sock.send(type="leave")
        assert await sock.closed() == 1000
    hub = world.client.server.app[HUB]  # type: ignore[union-attr]
    await hub.tick()  # what the hub's ticker does every second
    assert world.ceremony not in hub.rooms
    again = await world.join("chuncheon")
    assert again.welcome["admitted"] is True


async def test_ping_is_answered_with_the_same_nonce(world: World) -> None:
    observer = await world.join("observer")
    await observer.send(type="ping", nonce="n-42")
    pong = await observer.expect("pong")
    assert pong == {"type": "pong", "nonce": "n-42"}


# ------------------------------------------------------------------ stages


async def test_host_changes_the_stage_and_every_member_hears_it(world: World) -> None:
    host, venue = await world.pair()
    observer = await world.join("observer")
    signatory = await world.join("signatory")
    await host.send(type="segment", segment="next", ref="go")
    assert (await host.expect("ack"))["ref"] == "go"
    for sock in (host, venue, observer, signatory):
        update = await sock.expect("ceremony", where=lambda m: m["event"]["type"] == "segment.started")
        assert update["event"]["type"] == "segment.started"
        assert update["event"]["data"] == {"segment": "opening"}
        assert update["state"]["segment"] == "opening"
        assert isinstance(update["seq"], int)
    assert world.service.get(world.ceremony).segment == "opening"

    await host.send(type="segment", segment="signing", ref="sign")
    await host.expect("ack", ref="sign")
    assert (await observer.expect("ceremony"))["state"]["state"] == "signing"


async def test_a_stage_change_the_ceremony_refuses_is_an_error_and_changes_nothing(world: World) -> None:
    host = await world.join("host")
    await host.send(type="segment", segment="no-such-segment", ref="bad")
    error = await host.expect("error")
    assert (error["code"], error["ref"]) == ("refused", "bad")
    assert "no-such-segment" in error["reason"]
    assert world.service.get(world.ceremony).segment is None


# ------------------------------------------------------------------ role checks


@pytest.mark.parametrize("who", ["signatory", "observer"])
async def test_signatories_and_observers_cannot_signal_nor_run_the_ceremony(world: World, who: str) -> None:
    host, venue = await world.pair()
    sock = await world.join(who)
    assert sock.welcome["peers"] == [] and sock.welcome["admitted"] is False
    await sock.send(type="offer", to=venue.peer, sdp=SDP, ref="o")
    assert (await sock.expect("error", ref="o"))["code"] == "forbidden"
    await sock.send(type="candidate", to=host.peer, candidate=CANDIDATE, ref="c")
    assert (await sock.expect("error", ref="c"))["code"] == "forbidden"
    await sock.send(type="segment", segment="next", ref="s")
    assert (await sock.expect("error", ref="s"))["code"] == "forbidden"
    for kind, fields in (("admit", {"peer": venue.peer}), ("reject", {"peer": venue.peer}), ("end", {})):
        await sock.send(type=kind, ref=kind, **fields)
        assert (await sock.expect("error", ref=kind))["code"] == "forbidden"
    # Nothing happened: no stage change, the venue got no offer and is still connected.
    assert world.service.get(world.ceremony).segment is None
    await venue.round_trip("after")
    await host.round_trip("after")
    assert not [m for m in venue.backlog + host.backlog if m["type"] in ("offer", "candidate", "peer-left")]


async def test_a_venue_in_the_lobby_cannot_signal(world: World) -> None:
    host = await world.join("host")
    venue = await world.join("chuncheon")
    await host.expect("knock")
    await venue.send(type="offer", to=host.peer, sdp=SDP, ref="early")
    error = await venue.expect("error")
    assert (error["code"], error["ref"]) == ("not_admitted", "early")
    await venue.send(type="admit", peer=venue.peer, ref="self")
    assert (await venue.expect("error", ref="self"))["code"] == "forbidden"
    await host.round_trip("check")
    assert not [m for m in host.backlog if m["type"] == "offer"]


async def test_offers_to_unknown_peers_or_peers_of_another_ceremony_are_refused(world: World) -> None:
    host, venue = await world.pair()
    stranger = await world.join("other-host", ceremony=world.template.other)
    assert stranger.welcome["ceremony"]["id"] == world.template.other
    for to in ("p-000000000000", stranger.peer, host.peer):
        await host.send(type="offer", to=to, sdp=SDP, ref=to)
        error = await host.expect("error", ref=to)
        assert error["code"] == "no_such_peer", error
    await host.send(type="admit", peer=stranger.peer, ref="admit-stranger")
    assert (await host.expect("error", ref="admit-stranger"))["code"] == "no_such_peer"
    await stranger.round_trip("after")
    assert stranger.backlog == []  # nothing crossed over from the other ceremony
    # The pair is unaffected.
    await host.send(type="offer", to=venue.peer, sdp=SDP)
    assert (await venue.expect("offer"))["from"] == host.peer


# ------------------------------------------------------------------ capabilities at the upgrade


@pytest.mark.parametrize(
    ("who", "ceremony", "code"),
    [
        (None, None, 4401),
        ("garbage", None, 4403),
        ("revoked", None, 4403),
        ("archivist", None, 4403),
        ("other-host", None, 4403),  # a valid link, but of another ceremony
        ("host", "0000000000000000", 4404),
        ("host", "not-a-ceremony", 4404),
    ],
)
async def test_capability_failures_close_after_the_upgrade(
    world: World, who: str | None, ceremony: str | None, code: int
) -> None:
    sock = await world.open(who, ceremony=ceremony)
    assert await sock.closed() == code
    assert sock.close_reason  # a reason a browser script can show


async def test_revoking_a_connected_venues_link_closes_it(world: World) -> None:
    host, venue = await world.pair()
    await world.service.execute(
        world.ceremony, RevokeInvitation(invitation=world.template.invitations["chuncheon"]), "test"
    )
    assert await venue.closed() == 4403
    assert "revoked" in venue.close_reason
    left = await host.expect("peer-left", peer=venue.peer)
    assert left["reason"] == "revoked"
    again = await world.open("chuncheon")
    assert await again.closed() == 4403


async def test_host_rejects_a_venue(world: World) -> None:
    host = await world.join("host")
    venue = await world.join("nanjing")
    await host.expect("knock")
    await host.send(type="reject", peer=venue.peer, reason="wrong hall", ref="no")
    await host.expect("ack", ref="no")
    assert await venue.closed() == 4403
    assert venue.close_reason == "wrong hall"


async def test_cookie_auth_from_a_foreign_origin_is_refused(world: World) -> None:
    own = str(world.client.make_url("")).rstrip("/")
    # The session cookie the venue's browser got by opening its link (the jar is emptied: sent by hand only).
    session = await enter(world.client.session, own, world.ceremony, world.template.tokens["chuncheon"])
    world.client.session.cookie_jar.clear()
    cookie = {"Cookie": f"{role_cookie(world.ceremony, Role.VENUE)}={session[role_cookie(world.ceremony, Role.VENUE)]}"}
    good = await world.open(None, headers={**cookie, "Origin": own})
    await good.send(type="hello")
    assert (await good.expect("welcome"))["role"] == "venue"
    evil = await world.open(None, headers={**cookie, "Origin": "https://evil.example"})
    assert await evil.closed() == 4403
    # A bearer token is not ambient authority, so its Origin is not what protects it.
    bot = await world.open("chuncheon", headers={"Origin": "https://evil.example"})
    await bot.send(type="hello")
    await bot.expect("welcome")


# ------------------------------------------------------------------ protocol violations


async def test_hello_must_come_first(world: World) -> None:
    sock = await world.open("host")
    await sock.send(type="ping", nonce="too-early")
    assert await sock.closed() == 4400
    assert not [m for m in sock.seen if m["type"] == "pong"]


async def test_a_second_hello_is_a_bad_message(world: World) -> None:
    host = await world.join("host")
    await host.send(type="hello", ref="again")
    assert (await host.expect("error", ref="again"))["code"] == "bad_message"


async def test_no_hello_closes_with_4408(make_world: WorldFactory) -> None:
    world = await make_world(hello_timeout=0.3)
    sock = await world.open("host")
    assert await sock.closed() == 4408


async def test_a_frame_over_64_kib_closes_with_1009(world: World) -> None:
    host, venue = await world.pair()
    await venue.send(type="offer", to=host.peer, sdp="a" * (60 * 1024))  # under the limit: relayed
    assert len((await host.expect("offer"))["sdp"]) == 60 * 1024
    await venue.ws.send_str(json.dumps({"type": "offer", "to": host.peer, "sdp": "a" * (65 * 1024)}))
    assert await venue.closed() == 1009
    await host.round_trip("still-here")  # the other side is unaffected


async def test_a_flood_closes_with_4429(world: World) -> None:
    host, venue = await world.pair()
    for i in range(400):  # the bucket holds 200; refills at 50/s
        if venue.ws.closed:
            break
        await venue.send(type="candidate", to=host.peer, candidate=CANDIDATE, ref=str(i))
    assert await venue.closed() == 4429
    relayed = [m for m in [*host.backlog, await host.expect("candidate")] if m["type"] == "candidate"]
    assert relayed  # messages within the budget were relayed
    await host.round_trip("after-flood")
    assert len([m for m in host.seen if m["type"] == "candidate"]) < 400


async def test_twenty_malformed_messages_close_with_4400(world: World) -> None:
    observer = await world.join("observer")
    bad: list[str] = ["not json", "[]", "{}", '{"type": "nope"}', '{"type": "offer"}', '{"type": 7}']
    for i in range(20):
        await observer.ws.send_str(bad[i % len(bad)])
    assert await observer.closed() == 4400
    errors = [m for m in observer.backlog if m["type"] == "error"]
    assert len(errors) in (19, 20) and {e["code"] for e in errors} == {"bad_message"}


async def test_wrong_shapes_are_bad_messages_and_nothing_is_relayed(world: World) -> None:
    host, venue = await world.pair()
    cases: list[Any] = [
        {"type": "offer", "to": venue.peer},
        {"type": "offer", "to": venue.peer, "sdp": 5},
        {"type": "offer", "to": "venue", "sdp": SDP},
        {"type": "offer", "to": venue.peer, "sdp": SDP, "from": host.peer},
        {"type": "candidate", "to": venue.peer},
        {"type": "candidate", "to": venue.peer, "candidate": {"candidate": 1}},
        {"type": "candidate", "to": venue.peer, "candidate": {**CANDIDATE, "sdpMLineIndex": True}},
        {"type": "segment", "segment": ["next"]},
        {"type": "admit", "peer": None},
        {"type": "ping", "nonce": {"deep": 1}},
        {"type": "leave", "extra": 1},
        {"type": "hello"},
        {"type": "offer", "to": venue.peer, "sdp": SDP, "ref": "r" * 65},
    ]
    for case in cases:
        await host.ws.send_str(json.dumps(case))
        error = await host.expect("error")
        assert error["code"] == "bad_message", (case, error)
        assert isinstance(error["reason"], str) and error["reason"]
    await host.ws.send_bytes(b"\x00\x01")
    assert (await host.expect("error"))["code"] == "bad_message"
    await venue.round_trip("quiet")
    assert not [m for m in venue.backlog if m["type"] == "offer"]
    assert host.close_code is None and venue.close_code is None


async def test_a_bad_message_error_echoes_its_ref(world: World) -> None:
    host = await world.join("host")
    await host.send(type="offer", to="p-000000000000", ref="missing-sdp")
    error = await host.expect("error")
    assert (error["code"], error.get("ref")) == ("bad_message", "missing-sdp")


# ------------------------------------------------------------------ resume and presence


async def test_a_dropped_venue_resumes_gets_what_it_missed_and_the_host_hears_it_is_back(world: World) -> None:
    host, venue = await world.pair()
    await host.send(type="offer", to=venue.peer, sdp=SDP)
    await venue.expect("offer")
    last_seq = max(m["seq"] for m in venue.seen if "seq" in m)
    session, peer = venue.welcome["session"], venue.peer
    await venue.ws.close()  # a network drop: no leave
    await host.send(type="segment", segment="next", ref="while-away")
    await host.expect("ack", ref="while-away")
    await host.send(type="candidate", to=peer, candidate=CANDIDATE, ref="to-away")
    await host.round_trip("queued")
    assert not [m for m in host.backlog if m["type"] == "error"]  # the absent peer is still addressable

    back = await world.join("chuncheon", resume={"session": session, "last_seq": last_seq})
    assert back.welcome["resumed"] is True
    assert (back.peer, back.welcome["session"]) == (peer, session)
    missed = await back.expect("ceremony")
    assert missed["seq"] == last_seq + 1
    assert missed["event"]["data"] == {"segment": "opening"}
    candidate = await back.expect("candidate")
    assert (candidate["seq"], candidate["from"]) == (last_seq + 2, host.peer)
    returned = await host.expect("peer-back")
    assert returned["peer"]["id"] == peer
    # And it goes on as before.
    await back.send(type="answer", to=host.peer, sdp=SDP)
    assert (await host.expect("answer"))["from"] == peer
    assert not [m for m in host.seen if m["type"] == "peer-left"]


async def test_resume_replays_only_after_last_seq(world: World) -> None:
    host, venue = await world.pair()
    for i in range(3):
        await host.send(type="candidate", to=venue.peer, candidate={**CANDIDATE, "sdpMLineIndex": i})
    for _ in range(3):
        await venue.expect("candidate")
    seqs = [m["seq"] for m in venue.seen if m["type"] == "candidate"]
    await venue.ws.close()
    back = await world.join("chuncheon", resume={"session": venue.welcome["session"], "last_seq": seqs[0]})
    replayed = [await back.expect("candidate"), await back.expect("candidate")]
    assert [m["seq"] for m in replayed] == seqs[1:]
    assert [m["candidate"]["sdpMLineIndex"] for m in replayed] == [1, 2]


async def test_a_session_cannot_be_resumed_with_another_link(world: World) -> None:
    _, venue = await world.pair()
    await venue.ws.close()
    thief = await world.join("chuncheon-2", resume={"session": venue.welcome["session"], "last_seq": 0})
    assert thief.welcome["resumed"] is False and thief.peer != venue.peer
    # Admission belongs to the hall, so the other Chuncheon link is let in; the session is not its.
    assert thief.welcome["admitted"] is True


async def test_a_session_resumed_on_a_second_socket_closes_the_first_with_4409(world: World) -> None:
    host, venue = await world.pair()
    session = venue.welcome["session"]
    second = await world.join("chuncheon", resume={"session": session, "last_seq": 0})
    assert second.welcome["resumed"] is True
    assert await venue.closed() == 4409
    assert (await host.expect("peer-back"))["peer"]["id"] == venue.peer
    # The session lives on the second socket: relays reach it.
    await host.send(type="offer", to=second.peer, sdp=SDP)
    assert (await second.expect("offer"))["from"] == host.peer


async def test_after_the_resume_window_peers_get_peer_left_and_resume_starts_afresh(make_world: WorldFactory) -> None:
    world = await make_world(resume_window=0.5)
    host, venue = await world.pair()
    await venue.ws.close()
    left = await host.expect("peer-left", peer=venue.peer)
    assert left["reason"] == "gone"
    late = await world.join("chuncheon", resume={"session": venue.welcome["session"], "last_seq": 1})
    assert late.welcome["resumed"] is False and late.peer != venue.peer
    assert late.welcome["admitted"] is True  # admission is remembered for the link


async def test_a_silent_client_is_dropped_with_4408_and_peers_hear_it(make_world: WorldFactory) -> None:
    # The server's heartbeat ticker runs once a second, so the timeout leaves room for one tick.
    world = await make_world(heartbeat_interval=0.5, heartbeat_timeout=2.5, resume_window=0.5)
    host, venue = await world.pair()
    assert venue.welcome["heartbeat"] == {"interval": 0.5, "timeout": 2.5}
    venue.answer_pings = False
    code, left = await asyncio.gather(venue.closed(), host.expect("peer-left", peer=venue.peer))
    assert code == 4408 and left["reason"] == "timeout"
    assert any(m["type"] == "ping" and m["nonce"] for m in venue.seen)  # it was asked, and stayed silent
    assert host.close_code is None  # the host answers its pings and stays


async def test_peers_hear_of_a_heartbeat_drop_without_waiting_out_the_resume_window(make_world: WorldFactory) -> None:
    world = await make_world(heartbeat_interval=0.5, heartbeat_timeout=2.5, resume_window=60.0)
    host, venue = await world.pair()
    venue.answer_pings = False
    code, left = await asyncio.gather(venue.closed(), host.expect("peer-left", peer=venue.peer, wait=8.0))
    assert code == 4408 and left["peer"] == venue.peer


async def test_end_by_the_host_closes_everyone_with_4000(world: World) -> None:
    observer = await world.join("observer")
    lobby = await world.join("nanjing")
    host, venue = await world.pair()
    await host.send(type="end", reason="thank you")
    codes = await asyncio.gather(host.closed(), venue.closed(), observer.closed(), lobby.closed())
    assert codes == [4000, 4000, 4000, 4000]
    assert venue.close_reason == "thank you"
    again = await world.join("chuncheon")
    assert again.welcome["resumed"] is False  # a new session ...
    assert again.welcome["admitted"] is True  # ... of a hall admitted for the whole ceremony (venue.admitted)


async def test_end_closes_members_that_joined_after_the_host(world: World) -> None:
    host, venue = await world.pair()
    observer = await world.join("observer")
    await host.send(type="end", reason="thank you")
    codes = await asyncio.gather(host.closed(3.0), venue.closed(3.0), observer.closed(3.0))
    assert codes == [4000, 4000, 4000]


# ------------------------------------------------------------------ TURN credentials


def _hmac_sha1_b64(secret: str, message: str) -> str:
    mac = crypto_hmac.HMAC(secret.encode(), hashes.SHA1())  # noqa: S303 - coturn's REST scheme is HMAC-SHA1
    mac.update(message.encode())
    return base64.b64encode(mac.finalize()).decode()


def test_turn_credentials_follow_coturns_rest_scheme() -> None:
    config = load_ice_config(
        ["stun:turn.example.org:3478", "turn:turn.example.org:3478?transport=udp"],
        None,
        "coturn-shared-secret",
        3600,
    )
    servers = config.for_peer("p-0123456789ab", 1_700_000_000.0)
    assert servers[0] == {"urls": ["stun:turn.example.org:3478"]}  # STUN needs no credentials
    turn = servers[1]
    assert turn["urls"] == ["turn:turn.example.org:3478?transport=udp"]
    assert turn["username"] == "1700003600:p-0123456789ab"
    assert turn["credential"] == _hmac_sha1_b64("coturn-shared-secret", "1700003600:p-0123456789ab")


def test_fixed_turn_credentials_are_kept_and_no_secret_means_none() -> None:
    fixed = {"urls": ["turns:turn.example.org:443?transport=tcp"], "username": "u", "credential": "c"}
    with_secret = IceConfig((fixed,), "secret", 3600)
    assert with_secret.for_peer("p-0123456789ab", 0.0) == [fixed]
    without = IceConfig(({"urls": ["turn:turn.example.org:3478"]},), None)
    assert without.for_peer("p-0123456789ab", 0.0) == [{"urls": ["turn:turn.example.org:3478"]}]


@pytest.mark.parametrize(
    ("urls", "ttl"),
    [(["https://turn.example.org"], 3600), (["turn:turn.example.org"], 10), ([""], 3600)],
)
def test_bad_ice_configuration_is_refused(urls: list[str], ttl: int) -> None:
    with pytest.raises(IceConfigError):
        load_ice_config(urls, None, "secret", ttl)


async def test_welcome_carries_fresh_turn_credentials_for_the_peer(make_world: WorldFactory) -> None:
    ice = load_ice_config(["turn:127.0.0.1:3478?transport=udp"], None, "hall-secret", 600)
    world = await make_world(ice=ice)
    before = int(time.time())
    venue = await world.join("chuncheon")
    after = int(time.time())
    [server] = venue.welcome["ice_servers"]
    expiry, peer = server["username"].split(":")
    assert peer == venue.peer
    assert before + 600 <= int(expiry) <= after + 600
    assert server["credential"] == _hmac_sha1_b64("hall-secret", server["username"])


# ------------------------------------------------------------------ the room, without I/O


def _name(en: str) -> LocalizedText:
    return LocalizedText(ko=en, zh=en, en=en)


def _join(room: Room, role: Role, invitation: str, now: float = 0.0, **kw: Any) -> Joined:
    """Join as the WebSocket shell does: the member counts as connected once caught up."""
    joined = room.join(
        role=role,
        invitation=invitation,
        venue=kw.pop("venue", "chuncheon" if role is Role.VENUE else None),
        name=_name(invitation),
        resume_session=kw.pop("resume_session", None),
        last_seq=kw.pop("last_seq", 0),
        now=now,
    )
    joined.member.connected, joined.member.disconnected_at = True, None  # what server._join does
    return joined


def _admit(room: Room, host: str, venue: str) -> Any:
    """The host admits the hall of `venue`, as the server does: the room checks it, the log records
    it (AdmitVenue -> venue.admitted), and the hub tells the room."""
    return room.venue_admitted(room.admission(host, venue))


def _replay(joined: Joined) -> list[dict[str, Any]]:
    """What the shell sends after the welcome of a resumed session."""
    return [json.loads(text) for text in sent_after(joined.member, joined.last_seq)]


def _sent(effects: Effects) -> list[tuple[str, dict[str, Any]]]:
    """The messages `effects` delivers, decoded from their frames."""
    return [(peer, json.loads(text)) for peer, text in effects.send]


def _relay(kind: str, to: str, **payload: Any) -> Any:
    from signaling.protocol import Relay

    return Relay(kind=kind, to=to, payload=payload)


@pytest.fixture
def room() -> Room:
    return Room("0123456789abcdef", resume_window=60.0)


def test_room_lobby_admit_and_presence(room: Room) -> None:
    host = _join(room, Role.HOST, "inv-host")
    assert host.member.admitted and host.effects.send == [] and not host.resumed
    venue = _join(room, Role.VENUE, "inv-venue")
    assert not venue.member.admitted
    [(to, knock)] = _sent(venue.effects)
    assert to == host.member.peer and knock["type"] == "knock" and knock["seq"] == 1
    assert knock["peer"]["id"] == venue.member.peer
    assert room.lobby() == [venue.member]
    assert room.peers_for(venue.member) == []

    effects = _admit(room, host.member.peer, venue.member.peer)
    sent = dict(_sent(effects))
    assert sent[venue.member.peer]["type"] == "admitted"
    assert sent[venue.member.peer]["peers"][0]["id"] == host.member.peer
    assert sent[host.member.peer] == {
        "type": "peer-joined",
        "peer": venue.member.describe(host.member.peer),
        "seq": 2,
    }
    assert room.lobby() == []
    assert _admit(room, host.member.peer, venue.member.peer).send == []  # admitting twice does nothing
    a, b = venue.member.describe(host.member.peer), host.member.describe(venue.member.peer)
    assert a["polite"] != b["polite"]

    observer = _join(room, Role.OBSERVER, "inv-observer")
    assert observer.effects.send == []  # observers are not media peers: nobody is told
    assert room.peers_for(observer.member) == []
    # A host joining later hears of the venue already waiting.
    nanjing = _join(room, Role.VENUE, "inv-nanjing", venue="nanjing")
    late_host = _join(room, Role.HOST, "inv-host-2")
    # (queued in its outbox: the shell sends it right after the welcome)
    knocks = [m for m in map(json.loads, late_host.member.outbox) if m["type"] == "knock"]
    assert [k["peer"]["id"] for k in knocks] == [nanjing.member.peer]


def test_room_relay_checks_the_sender_and_the_target(room: Room) -> None:
    host = _join(room, Role.HOST, "h").member
    venue = _join(room, Role.VENUE, "v").member
    lobby = _join(room, Role.VENUE, "w", venue="nanjing").member
    observer = _join(room, Role.OBSERVER, "o").member
    _admit(room, host.peer, venue.peer)

    effects = room.relay(venue.peer, _relay("offer", host.peer, sdp="x"))
    [(to, message)] = _sent(effects)
    assert to == host.peer and message["type"] == "offer" and message["from"] == venue.peer
    assert message["sdp"] == "x"

    def code(sender: str, to: str) -> str:
        with pytest.raises(ProtocolError) as info:
            room.relay(sender, _relay("candidate", to, candidate=None))
        return info.value.code

    assert code(observer.peer, host.peer) == "forbidden"
    assert code(lobby.peer, host.peer) == "not_admitted"
    assert code(host.peer, lobby.peer) == "no_such_peer"  # not admitted yet: not a media peer
    assert code(host.peer, observer.peer) == "no_such_peer"
    assert code(host.peer, host.peer) == "no_such_peer"
    assert code(host.peer, "p-000000000000") == "no_such_peer"
    with pytest.raises(ProtocolError):
        room.admission(venue.peer, lobby.peer)  # only the host admits
    with pytest.raises(ProtocolError):
        room.end(observer.peer, "")


def test_the_recorder_comes_in_without_the_lobby_and_is_linked_to_the_halls_only(room: Room) -> None:
    host = _join(room, Role.HOST, "h").member
    venue = _join(room, Role.VENUE, "v").member
    _admit(room, host.peer, venue.peer)
    recorder = _join(room, Role.RECORDER, "r")
    assert recorder.member.admitted  # no knock: the server started it
    [(to, joined)] = _sent(recorder.effects)
    assert to == venue.peer and joined["type"] == "peer-joined" and joined["peer"]["role"] == "recorder"
    assert [p.id for p in room.peers_for(recorder.member)] == [venue.peer]
    assert recorder.member.peer not in [p.id for p in room.peers_for(host)]
    # A second hall admitted later is announced to the recorder; the host's camera never is.
    nanjing = _join(room, Role.VENUE, "n", venue="nanjing").member
    effects = _admit(room, host.peer, nanjing.peer)
    told = [to for to, m in _sent(effects) if m["type"] == "peer-joined"]
    assert sorted(told) == sorted([host.peer, venue.peer, recorder.member.peer])

    def code(sender: str, to: str) -> str:
        with pytest.raises(ProtocolError) as info:
            room.relay(sender, _relay("offer", to, sdp="x"))
        return info.value.code

    assert code(host.peer, recorder.member.peer) == "no_such_peer"
    assert code(recorder.member.peer, host.peer) == "no_such_peer"
    assert room.relay(venue.peer, _relay("offer", recorder.member.peer, sdp="x")).send
    # The recorder leaving is told to the halls, not to the host.
    left = room.leave(recorder.member.peer, "left")
    assert sorted(to for to, _ in left.send) == sorted([venue.peer, nanjing.peer])


def test_an_outbox_keeps_nothing_the_garbage_collector_tracks(room: Room) -> None:
    """A session's outbox holds up to 512 messages for minutes. Each message the room keeps is
    its frame's text, which the collector never tracks: filling outboxes neither brings
    collections sooner (they come after so many new tracked objects) nor makes one longer
    (every collection stops every socket)."""
    host = _join(room, Role.HOST, "h").member
    venue = _join(room, Role.VENUE, "v").member
    _admit(room, host.peer, venue.peer)
    room.disconnected(venue.peer, now=1.0)
    gc.collect()
    gc.disable()  # nothing is collected, or untracked, while the young generation is counted
    try:
        young = len(gc.get_objects(0))
        for i in range(200):
            room.relay(host.peer, _relay("candidate", venue.peer, candidate={**CANDIDATE, "sdpMLineIndex": i}))
        kept_tracked = len(gc.get_objects(0)) - young
    finally:
        gc.enable()
    assert len(venue.outbox) == 201 and kept_tracked < 20  # not one (or more) per message
    seqs = [json.loads(text)["seq"] for text in venue.outbox]
    assert seqs == [seq_of(text) for text in venue.outbox] == list(range(seqs[0], seqs[0] + 201))
    assert [json.loads(text)["candidate"]["sdpMLineIndex"] for text in sent_after(venue, seqs[-3])] == [198, 199]


def test_room_resume_replays_the_outbox_and_announces_peer_back(room: Room) -> None:
    host = _join(room, Role.HOST, "h", now=0.0).member
    venue = _join(room, Role.VENUE, "v", now=0.0).member
    _admit(room, host.peer, venue.peer)  # venue: admitted = seq 1
    room.disconnected(venue.peer, now=5.0)
    offline = room.relay(host.peer, _relay("offer", venue.peer, sdp="while away"))
    assert offline.send == []  # queued, not delivered
    back = _join(room, Role.VENUE, "v", now=10.0, resume_session=venue.session, last_seq=1)
    assert back.resumed and back.member is venue and not back.replaced
    assert [m["seq"] for m in _replay(back)] == [2] and _replay(back)[0]["sdp"] == "while away"
    [(to, peer_back)] = _sent(back.effects)
    assert to == host.peer and peer_back["type"] == "peer-back" and peer_back["peer"]["id"] == venue.peer
    # Resuming a session that is still connected replaces the old socket.
    again = _join(room, Role.VENUE, "v", now=11.0, resume_session=venue.session, last_seq=2)
    assert again.resumed and again.replaced and _replay(again) == []
    # A client claiming more than was ever sent gets everything from where the session really is.
    greedy = _join(room, Role.VENUE, "v", now=11.5, resume_session=venue.session, last_seq=10**6)
    assert greedy.last_seq == venue.next_seq - 1
    # Another link cannot take the session over.
    other = _join(room, Role.VENUE, "v2", now=12.0, resume_session=venue.session, last_seq=0)
    assert not other.resumed and other.member.peer != venue.peer


def test_room_tick_drops_the_silent_and_expires_the_gone(room: Room) -> None:
    host = _join(room, Role.HOST, "h", now=0.0).member
    venue = _join(room, Role.VENUE, "v", now=0.0).member
    _admit(room, host.peer, venue.peer)
    room.heard(host.peer, now=25.0)
    assert room.tick(now=30.0, timeout=30.0).close == []  # 30 s silent is not yet more than 30 s
    effects = room.tick(now=31.0, timeout=30.0)
    assert [(c.peer, c.code) for c in effects.close] == [(venue.peer, 4408)]
    [(to, left)] = _sent(effects)  # its peers hear of the drop at once ...
    assert to == host.peer and left["type"] == "peer-left" and left["peer"] == venue.peer
    assert left["reason"] == "timeout"
    assert not venue.connected and venue.peer in room.members  # ... yet it may still resume
    room.heard(host.peer, now=89.0)
    assert room.tick(now=90.0, timeout=30.0).send == []  # 59 s after the drop: within the window
    expired = room.tick(now=92.0, timeout=30.0)
    assert venue.peer not in room.members
    assert expired.send == []  # told once, at the drop


def test_room_a_session_whose_outbox_overflowed_cannot_resume(room: Room) -> None:
    host = _join(room, Role.HOST, "h", now=0.0).member
    venue = _join(room, Role.VENUE, "v", now=0.0).member
    _admit(room, host.peer, venue.peer)
    room.disconnected(venue.peer, now=1.0)
    for _ in range(OUTBOX_LIMIT + 1):
        room.relay(host.peer, _relay("candidate", venue.peer, candidate=None))
    fresh = _join(room, Role.VENUE, "v", now=2.0, resume_session=venue.session, last_seq=1)
    assert not fresh.resumed and fresh.member.admitted  # a new session; admission is remembered
    expired = room.tick(now=2.0, timeout=30.0)
    assert venue.peer not in room.members
    assert ("peer-left", venue.peer) in [(m["type"], m.get("peer")) for _, m in _sent(expired)]


def test_room_reject_end_and_revoke(room: Room) -> None:
    host = _join(room, Role.HOST, "h").member
    venue = _join(room, Role.VENUE, "v").member
    nanjing = _join(room, Role.VENUE, "n", venue="nanjing").member
    observer = _join(room, Role.OBSERVER, "o").member
    _admit(room, host.peer, venue.peer)

    rejected = room.reject(host.peer, nanjing.peer, "")  # a hall in the lobby
    assert [(c.peer, c.code) for c in rejected.close] == [(nanjing.peer, 4403)]
    assert nanjing.peer not in room.members
    assert not _join(room, Role.VENUE, "n", venue="nanjing").member.admitted  # it knocks again
    with pytest.raises(ProtocolError) as refused:
        room.reject(host.peer, venue.peer, "")  # an admitted hall is kept out by revoking its link
    assert refused.value.code == "refused" and venue.peer in room.members

    revoked = room.revoked("v")
    assert [(c.peer, c.code) for c in revoked.close] == [(venue.peer, 4403)]
    assert ("peer-left", venue.peer) in [(m["type"], m.get("peer")) for _, m in _sent(revoked)]

    ended = room.end(host.peer, "done")
    assert {c.code for c in ended.close} == {4000}
    assert observer.peer in {c.peer for c in ended.close}
    assert room.empty


def test_room_broadcast_is_shaped_per_role(room: Room) -> None:
    host = _join(room, Role.HOST, "h").member
    observer = _join(room, Role.OBSERVER, "o").member
    update = CeremonyUpdated(event={"type": "for hosts"}, state={"state": "open"})
    effects = room.broadcast({Role.HOST: update, Role.OBSERVER: None})
    assert [(to, m["type"], m["event"]) for to, m in _sent(effects)] == [(host.peer, "ceremony", {"type": "for hosts"})]
    assert observer.next_seq == 1


def test_room_encodes_a_message_for_many_members_once(room: Room) -> None:
    host = _join(room, Role.HOST, "h").member
    venue = _join(room, Role.VENUE, "v").member
    nanjing = _join(room, Role.VENUE, "n", venue="nanjing").member
    _admit(room, host.peer, venue.peer)
    _admit(room, host.peer, nanjing.peer)
    update = CeremonyUpdated(event={"type": "segment.started", "data": {"segment": "개회"}}, state={})
    sent = room.broadcast({Role.HOST: update, Role.VENUE: update}).send
    assert len(sent) == 3
    heads = {text[: text.rindex(',"seq":')] for _, text in sent}
    assert len(heads) == 1  # one encoding, shared: each frame only adds its seq
    for peer, text in sent:  # each frame is its own message, with its own seq, last
        seq = room.members[peer].next_seq - 1
        assert json.loads(text) == {**to_wire(update), "seq": seq} and seq_of(text) == seq
        assert list(json.loads(text))[-1] == "seq"
    left = room.leave(nanjing.peer, "left").send  # peer-left to the host and Chuncheon: one encoding too
    assert len({text[: text.rindex(',"seq":')] for _, text in left}) == 1 and len(left) == 2


# ------------------------------------------------------------------ hardening: revocation


async def test_revoking_a_link_over_http_closes_every_socket_of_it_and_ends_its_session(
    make_world: WorldFactory,
) -> None:
    world = await make_world(hello_timeout=600.0)  # a socket that never says hello stays open unless revoked
    host, venue = await world.pair()
    waiting = await world.open("chuncheon")  # upgraded with the link, no hello yet
    invitation = world.template.invitations["chuncheon"]
    response = await world.client.delete(
        f"/api/ceremonies/{world.ceremony}/invitations/{invitation}", headers=bearer(world.template.tokens["host"])
    )
    assert response.status == 200, await response.text()
    assert await venue.closed() == 4403 and "revoked" in venue.close_reason
    assert await waiting.closed() == 4403 and "revoked" in waiting.close_reason
    assert (await host.expect("peer-left", peer=venue.peer))["reason"] == "revoked"
    hub = world.client.server.app[HUB]  # type: ignore[union-attr]
    assert venue.peer not in hub.rooms[world.ceremony].members  # the session is gone: nothing to resume
    again = await world.open("chuncheon")
    assert await again.closed() == 4403  # and the link itself opens nothing any more


# ------------------------------------------------------------------ hardening: text that is not Unicode

LONE_SURROGATES = [
    '{"type": "offer", "to": "p-000000000000", "sdp": "v=0\\ud800"}',
    '{"type": "candidate", "to": "p-000000000000", "candidate": {"candidate": "\\udc00", "sdpMid": "0"}}',
    '{"type": "candidate", "to": "p-000000000000", "candidate": {"candidate": "c", "sdpMid": "\\udbff"}}',
    '{"type": "ping", "nonce": "\\ud800"}',
    '{"type": "ping", "nonce": "\\udc00\\ud800"}',  # a pair the wrong way round is two lone ones
    '{"type": "ping", "ref": "\\ud800"}',
    '{"type": "segment", "segment": "next\\udfff"}',
    '{"type": "reject", "peer": "p-000000000000", "reason": "\\ud800"}',
    '{"type": "hello", "client": {"name": "\\ud800"}}',
    '{"type": "ping", "\\ud800": 1}',
]


@pytest.mark.parametrize("frame", LONE_SURROGATES)
def test_the_parser_refuses_a_lone_surrogate_in_any_string(frame: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse(frame)
    assert refused.value.code == "bad_message" and "surrogate" in refused.value.reason
    assert refused.value.ref is None  # a poisoned ref is never echoed either
    # A pair that makes a character is text like any other.
    ping = parse('{"type": "ping", "nonce": "\\ud83d\\ude00", "ref": "r"}')
    assert ping == parse('{"type": "ping", "nonce": "😀", "ref": "r"}')


async def test_a_lone_surrogate_is_refused_never_relayed_and_never_replayed(world: World) -> None:
    host, venue = await world.pair()
    # json.dumps spells the lone surrogate as the escape "\\ud800", as a browser's JSON.stringify does.
    await host.ws.send_str(json.dumps({"type": "offer", "to": venue.peer, "sdp": "v=0\ud800", "ref": "poison"}))
    error = await host.expect("error", ref="poison")
    assert error["code"] == "bad_message" and "surrogate" in error["reason"]
    await venue.round_trip("after")
    # A resume replays all the session ever had: no offer among it.
    await venue.ws.close()
    back = await world.join("chuncheon", resume={"session": venue.welcome["session"], "last_seq": 0})
    assert back.welcome["resumed"] is True
    await back.round_trip("replayed")
    assert not [m for m in venue.seen + back.seen if m["type"] == "offer"]
    assert back.close_code is None and host.close_code is None


# ------------------------------------------------------------------ hardening: nobody waits for one socket


class FakeSocket:
    """A WebSocket and the transport under it, for the hub: one that `reads` takes every frame at
    once; one that does not never completes a send (its kernel buffer is full)."""

    def __init__(self, *, reads: bool = True) -> None:
        self.reads = reads
        self.drained = asyncio.Event()  # cleared: a send waits until it is set (the connection drains)
        self.drained.set()
        self.frames: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.aborted = False
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if not self.reads:
            await asyncio.Event().wait()  # never
        await self.drained.wait()
        self.frames.append(json.loads(data))

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self._closed, self.close_code = True, code
        return True

    def get_write_buffer_size(self) -> int:
        return 0 if self.reads else 1 << 20

    def abort(self) -> None:
        self.aborted = True

    def count(self, kind: str) -> int:
        return len([f for f in self.frames if f["type"] == kind])


async def test_a_send_that_waits_for_the_connection_to_drain_is_finished_and_the_rest_follows() -> None:
    """A send is started at once; one that must wait for the connection to drain is finished by
    the socket's writer task, and what was queued behind it follows, in order."""
    sock = FakeSocket()
    outlet = Outlet(sock, sock, limit=8, size=1 << 20, grace=1.0)
    try:
        await asyncio.sleep(0)  # the writer starts and waits for work
        sock.drained.clear()  # the connection's buffer is full
        for n in range(3):
            assert outlet.send(json.dumps({"type": "note", "n": n}))
        await asyncio.sleep(0.01)
        assert sock.frames == []
        sock.drained.set()
        await until(lambda: [f["n"] for f in sock.frames] == [0, 1, 2])
        assert outlet.send(json.dumps({"type": "note", "n": 3}))  # the writer is still there
        await until(lambda: [f["n"] for f in sock.frames] == [0, 1, 2, 3])
    finally:
        outlet.close(1000, "bye")
        await outlet.finish()
    assert sock.close_code == 1000


def _hub_of_fakes(
    tmp_path: Path, template: Template, settings: SignalSettings, now: list[float]
) -> tuple[Hub, CeremonyService]:
    """A hub (and the service under it) whose sockets are FakeSockets and whose clock is `now[0]`."""
    data = tmp_path / "data"
    shutil.copytree(template.data, data)
    service = on_disk(data, clock=utc_clock)
    hub = Hub(
        service,
        settings,
        lambda envelope: {},
        gate=lambda request, roles: pytest.fail("no sockets are upgraded here"),
        summary=lambda state: {},
        role_names={role: _name(role.value) for role in Role},
        clock=lambda: now[0],
    )
    return hub, service


def _seat(
    hub: Hub, room: Room, sock: FakeSocket, invitation: str, venue: str | None, now: float, role: Role | None = None
) -> Joined:
    """A member joined on `sock` and attached, as server._join leaves it (a host without `venue`)."""
    outlet = hub.open(invitation, sock, sock)
    assert outlet is not None
    joined = room.join(
        role=role or (Role.HOST if venue is None else Role.VENUE),
        invitation=invitation,
        venue=venue,
        name=_name(venue or invitation),
        resume_session=None,
        last_seq=0,
        now=now,
    )
    hub.attach(joined.member.peer, outlet)
    joined.member.connected = True
    return joined


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until `condition` holds (a guard against a hang, not a deadline)."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 - turns of the event loop, not a timed wait
            await asyncio.sleep(0)


async def test_a_tick_over_many_rooms_lets_the_sockets_in_between(tmp_path: Path, template: Template) -> None:
    """The heartbeat tick walks its rooms in slices: a relay arriving mid-tick is delivered before
    the tick ends, and the ping due is one frame for everyone, whoever reads or does not."""
    now = [1000.0]
    hub, service = _hub_of_fakes(
        tmp_path, template, SignalSettings(heartbeat_interval=10.0, heartbeat_timeout=30.0), now
    )
    rooms, pairs = 3 * TICK_SLICE, []
    try:
        for i in range(rooms):
            room = hub.rooms[f"{i:016x}"] = Room(f"{i:016x}", 60.0, ["chuncheon"])
            pair = []
            for who, reads in (("host", i % 7 != 0), ("chuncheon", True)):  # every 7th host reads nothing
                sock = FakeSocket(reads=reads)
                joined = _seat(hub, room, sock, f"{who}-{i}", None if who == "host" else who, now[0])
                pair.append((joined.member, sock))
            pairs.append(pair)
        now[0] += 10.0  # a ping is due for every socket: none was heard from since it joined
        [(last_host, _), (last_hall, last_hall_socket)] = pairs[-1]
        pinged_at_relay: list[int] = []

        async def relay_mid_tick() -> None:
            pinged_at_relay.append(sum(sock.count("ping") for pair in pairs for _, sock in pair))
            room = hub.rooms[f"{rooms - 1:016x}"]
            hub.apply(room.relay(last_host.peer, _relay("offer", last_hall.peer, sdp="mid-tick")), room)

        tick = asyncio.create_task(hub.tick())
        relay = asyncio.create_task(relay_mid_tick())
        await asyncio.gather(tick, relay)
        reading = [sock for pair in pairs for _, sock in pair if sock.reads]
        assert 0 < pinged_at_relay[0] < len(reading)  # the relay ran between the tick's slices ...
        assert [f["sdp"] for f in last_hall_socket.frames if f["type"] == "offer"] == ["mid-tick"]
        assert all(sock.count("ping") == 1 for sock in reading)  # ... and every reader was pinged once,
        assert len({json.dumps(f) for s in reading for f in s.frames if f["type"] == "ping"}) == 1  # alike
    finally:
        await hub.close()
        await service.close()


@pytest.mark.parametrize(("watchdog", "skipped"), [(30.0, True), (20.0, False)])
async def test_the_heartbeat_pings_only_peers_it_has_not_both_heard_and_told_this_interval(
    tmp_path: Path, template: Template, watchdog: float, skipped: bool
) -> None:
    """A peer the server heard from and sent to within the interval is not pinged: under load a
    tick's pings to everyone came back as hundreds of pongs at once. A peer quiet either way is.
    Unless the clients' watchdog (the heartbeat timeout) outlasts two intervals and a tick, everyone is."""
    now = [1000.0]
    hub, service = _hub_of_fakes(
        tmp_path, template, SignalSettings(heartbeat_interval=10.0, heartbeat_timeout=watchdog), now
    )
    room = hub.rooms["c"] = Room("c", 60.0, ["chuncheon", "nanjing", "gangneung"])
    members, sockets = {}, {}
    try:
        for who in ("talks-both-ways", "only-hears", "only-speaks"):
            sock = sockets[who] = FakeSocket()
            members[who] = _seat(hub, room, sock, who, None, now[0], role=Role.OBSERVER).member
        now[0] += 5.0
        for who in ("talks-both-ways", "only-hears"):
            hub.deliver(members[who].peer, {"type": "note"}, room)  # the server sends it something ...
        for who in ("talks-both-ways", "only-speaks"):
            room.heard(members[who].peer, now[0])  # ... and hears from it
        await until(lambda: all(sockets[w].count("note") for w in ("talks-both-ways", "only-hears")))
        now[0] += 5.0  # an interval since each attached
        await hub.tick()
        await until(lambda: all(sockets[w].count("ping") for w in ("only-hears", "only-speaks")))
        assert sockets["talks-both-ways"].count("ping") == (0 if skipped else 1)
        now[0] += 10.0  # another interval, with nothing either way: everyone is pinged
        await hub.tick()
        await until(
            lambda: all(s.count("ping") == (1 if skipped and w == "talks-both-ways" else 2) for w, s in sockets.items())
        )
    finally:
        await hub.close()
        await service.close()


async def test_a_socket_that_reads_nothing_stalls_nobody_and_is_dropped(tmp_path: Path, template: Template) -> None:
    now = [1000.0]
    settings = SignalSettings(send_queue=4, close_grace=0.01, heartbeat_interval=10.0, heartbeat_timeout=30.0)
    hub, service = _hub_of_fakes(tmp_path, template, settings, now)
    try:
        room = hub.room(template.ceremony)
        for hall in ("chuncheon", "nanjing"):
            room.venue_admitted(hall)
        sockets = {who: FakeSocket(reads=who != "nanjing") for who in ("host", "chuncheon", "nanjing")}
        members = {}
        for who, sock in sockets.items():
            joined = _seat(hub, room, sock, template.invitations[who], None if who == "host" else who, now[0])
            hub.apply(joined.effects, room)
            members[who] = joined.member
        # A relay to Nanjing, whose first frame never gets out, then one to Chuncheon: it has it at once.
        host = members["host"].peer
        hub.apply(room.relay(host, _relay("offer", members["nanjing"].peer, sdp="to nanjing")), room)
        hub.apply(room.relay(host, _relay("offer", members["chuncheon"].peer, sdp="to chuncheon")), room)
        await until(lambda: [f["sdp"] for f in sockets["chuncheon"].frames if f["type"] == "offer"] == ["to chuncheon"])
        # Eight ceremony updates, one after another: delivering one waits for no socket, so those
        # who read have each at once, while Nanjing's first send never ends and its queue (4) overflows.
        update = CeremonyUpdated(event={"type": "segment.started"}, state={})
        for sent in range(1, 9):
            hub.apply(room.broadcast({Role.HOST: update, Role.VENUE: update}), room)
            await until(lambda n=sent: sockets["host"].count("ceremony") == sockets["chuncheon"].count("ceremony") == n)
        nanjing = members["nanjing"]
        assert nanjing.peer not in hub.sockets and not nanjing.connected and nanjing.peer in room.members
        for who in ("host", "chuncheon"):
            [left] = [f for f in sockets[who].frames if f["type"] == "peer-left"]
            assert (left["peer"], left["reason"]) == (nanjing.peer, "slow")
        await until(lambda: sockets["nanjing"].aborted)  # its close could not get out: the connection is cut
        # The ticker goes on: the host, silent since it joined, is pinged; then it answers, and
        # Chuncheon, silent past the timeout, is dropped.
        now[0] += 29.0
        await hub.tick()
        await until(lambda: sockets["host"].count("ping") == 1)
        now[0] += 2.0
        room.heard(members["host"].peer, now[0])
        await hub.tick()
        await until(lambda: sockets["chuncheon"].close_code == 4408)
        assert sockets["host"].close_code is None and (nanjing.session, nanjing.peer) != ("", "")
    finally:
        await hub.close()
        await service.close()


# ------------------------------------------------------------------ hardening: limits of a link


async def test_the_message_budget_belongs_to_the_link_and_a_resume_does_not_refill_it(
    make_world: WorldFactory,
) -> None:
    world = await make_world(rate_per_second=0.001, rate_burst=3.0)
    first = await world.join("observer")
    for i in range(3):
        await first.round_trip(f"n{i}")  # the budget is spent
    await first.ws.close()
    back = await world.join("observer", resume={"session": first.welcome["session"], "last_seq": 0})
    assert back.welcome["resumed"] is True
    await back.send(type="ping", nonce="one-more")
    assert await back.closed() == 4429


async def test_a_link_holds_four_sockets_at_once_and_a_fifth_is_closed_before_it_can_knock(world: World) -> None:
    host = await world.join("host")
    screens = [await world.join("nanjing") for _ in range(4)]  # a hall's page, reloads, a second screen
    for screen in screens:
        await host.expect("knock", about=screen.peer)
    fifth = await world.open("nanjing")
    assert await fifth.closed() == 4429 and "4 connections" in fifth.close_reason
    await host.round_trip("after")
    assert len([m for m in host.seen if m["type"] == "knock"]) == 4
    await screens[0].send(type="leave")
    assert await screens[0].closed() == 1000
    again = await world.join("nanjing")  # one went: room for another
    await host.expect("knock", about=again.peer)


async def test_sockets_that_have_not_said_hello_are_capped_per_address(make_world: WorldFactory) -> None:
    world = await make_world(unwelcomed_per_address=2, hello_timeout=600.0)
    silent = [await world.open("observer"), await world.open("signatory")]
    third = await world.open("host")
    assert await third.closed() == 4429
    await silent[0].send(type="hello")
    await silent[0].expect("welcome")  # it said hello: it no longer counts
    host = await world.join("host")
    assert host.welcome["role"] == "host" and silent[1].close_code is None


async def test_a_connection_that_never_completes_a_request_is_closed(tmp_path: Path, template: Template) -> None:
    data = tmp_path / "data"
    shutil.copytree(template.data, data)
    server = start_server(data, "--no-demo", "--idle-timeout", "0.5")
    writers = []
    try:
        port = int(server.base.rsplit(":", 1)[1])
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)  # says nothing at all
        slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", port)
        writers = [idle_writer, slow_writer]
        path = f"/api/ceremonies/{template.ceremony}/signal"
        slow_writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n".encode())  # no end
        await slow_writer.drain()
        async with asyncio.timeout(WAIT):
            assert await idle_reader.read() == b""
            assert await slow_reader.read() == b""
    finally:
        for writer in writers:
            writer.close()
        server.stop()


# ------------------------------------------------------------------ hardening: frames


async def test_a_frame_of_64_kib_is_read_and_a_bigger_one_gets_close_1009_after_a_handshake(world: World) -> None:
    server = world.client.server
    raw = await raw_socket(server.host, server.port, world.path(), bearer(world.template.tokens["host"]))
    try:
        await raw.send(b'{"type": "hello"}')
        assert json.loads((await raw.frame())[1])["type"] == "welcome"
        shell = '{"type": "offer", "to": "p-000000000000", "ref": "%s", "sdp": "%s"}'
        exact = (shell % ("exact", "a" * (MAX_FRAME - len(shell % ("exact", ""))))).encode()
        assert len(exact) == MAX_FRAME  # the limit is inclusive: read, parsed, refused for its long sdp
        await raw.send(exact)
        opcode, payload = await raw.frame()
        assert opcode == 0x1, (opcode, payload)  # a text frame, not a close
        error = json.loads(payload)
        assert (error["type"], error["code"], error["ref"]) == ("error", "bad_message", "exact")
        bigger = (shell % ("over", "a" * (3 * MAX_FRAME))).encode()
        await raw.send(bigger)
        assert await raw.close_code() == 1009
    finally:
        raw.close()


async def test_unmasked_client_frames_are_read_as_masked_ones(world: World) -> None:
    """RFC 6455 wants them refused; aiohttp reads them, and so does the server (docs/signaling.md)."""
    server = world.client.server
    raw = await raw_socket(server.host, server.port, world.path(), bearer(world.template.tokens["observer"]))
    try:
        await raw.send(b'{"type": "hello"}', masked=False)
        assert json.loads((await raw.frame())[1])["type"] == "welcome"
        await raw.send(b'{"type": "ping", "nonce": "bare"}', masked=False)
        assert json.loads((await raw.frame())[1]) == {"type": "pong", "nonce": "bare"}
    finally:
        raw.close()


# ------------------------------------------------------------------ hardening: Origin


async def test_a_cookie_socket_is_origin_checked_whatever_else_it_carries(world: World) -> None:
    own = str(world.client.make_url("")).rstrip("/")
    session = await enter(world.client.session, own, world.ceremony, world.template.tokens["chuncheon"])
    world.client.session.cookie_jar.clear()
    name = role_cookie(world.ceremony, Role.VENUE)
    cookie = {"Cookie": f"{name}={session[name]}"}
    # An Authorization header that authenticates nothing does not switch the check off ...
    forged = await world.open(
        None, headers={**cookie, "Authorization": "Bearer not-a-token", "Origin": "https://evil.example"}
    )
    assert await forged.closed() == 4403
    # ... and browsers always send Origin on an upgrade: a cookie without one is refused.
    bare = await world.open(None, headers=cookie)
    assert await bare.closed() == 4403 and "cross-site" in bare.close_reason
    good = await world.open(None, headers={**cookie, "Origin": own})
    await good.send(type="hello")
    assert (await good.expect("welcome"))["role"] == "venue"


# ------------------------------------------------------------------ hardening: admission in the log


def test_the_core_records_a_hall_admitted_once_and_only_halls_of_the_ceremony() -> None:
    log = log_in(Phase.OPEN)
    assert log.run(AdmitVenue(venue="hall-kr")) == [VenueAdmitted(venue="hall-kr")]
    assert log.state.admitted_venues == {"hall-kr"}
    assert log.run(AdmitVenue(venue="hall-kr")) == []  # again: nothing new to record
    with pytest.raises(InvalidCommand):
        decide(log.state, AdmitVenue(venue="nowhere"), now=T0)


async def test_a_socket_admit_is_recorded_in_the_log(world: World) -> None:
    await world.pair()
    history = await world.service.history(world.ceremony)
    admitted = [e for e in history if type_name(e.event) == "venue.admitted"]
    assert [(e.event, e.actor) for e in admitted] == [
        (VenueAdmitted(venue="chuncheon"), f"host:{world.template.invitations['host']}")
    ]


async def test_admission_over_http_is_logged_and_outlives_a_restart(
    aiohttp_client: ClientFactory, tmp_path: Path, template: Template
) -> None:
    data = tmp_path / "data"
    shutil.copytree(template.data, data)
    world = World(await aiohttp_client(create_app(Settings(data_dir=data, create_demo=False))), template)
    host = await world.join("host")
    venue = await world.join("chuncheon")
    await host.expect("knock", about=venue.peer)
    admit = f"/api/ceremonies/{world.ceremony}/venues/%s/admit"
    response = await world.client.post(admit % "chuncheon", headers=bearer(template.tokens["host"]))
    assert response.status == 200, await response.text()
    assert await response.json() == {"venue": "chuncheon", "admitted": ["chuncheon"]}
    await venue.expect("admitted")
    await host.expect("peer-joined", about=venue.peer)
    assert (await world.client.post(admit % "nowhere", headers=bearer(template.tokens["host"]))).status == 400
    refused = await world.client.post(admit % "nanjing", headers=bearer(template.tokens["chuncheon"]))
    assert refused.status == 403  # the host's decision alone
    await world.client.close()

    # The server restarts on the same data: the hall comes straight back in, with no knock.
    again = World(await aiohttp_client(create_app(Settings(data_dir=data, create_demo=False))), template)
    host = await again.join("host")
    back = await again.join("chuncheon")
    assert back.welcome["admitted"] is True and back.welcome["resumed"] is False
    await host.expect("peer-joined", about=back.peer)
    await host.round_trip("after")
    assert not [m for m in host.seen if m["type"] == "knock"]


# ------------------------------------------------------------------ microphone and camera state (`media`)


async def test_a_hall_says_its_microphone_is_off_and_the_others_see_it_now_and_on_arrival(world: World) -> None:
    host, venue = await world.pair()
    await venue.send(type="media", audio=False, video=True)
    told = await host.expect("media")
    assert told == {"type": "media", "from": venue.peer, "audio": False, "video": True, "seq": told["seq"]}
    # Said again unchanged (as a page does after a resume): nobody is told twice.
    await venue.send(type="media", audio=False, video=True)
    await venue.send(type="media", audio=False, video=False)
    assert (await host.expect("media"))["video"] is False
    await host.round_trip("after-media")
    assert not [m for m in host.backlog if m["type"] == "media"]
    # A host that arrives later reads it from the hall's peer object, without waiting for news.
    await host.send(type="leave")
    late = await world.join("host")
    [hall] = [p for p in late.welcome["peers"] if p["id"] == venue.peer]
    assert hall["media"] == {"audio": False, "video": False}
    assert (await venue.expect("peer-joined", about=late.peer))["peer"]["media"] is None  # the host has not said


async def test_media_state_is_two_booleans_from_a_media_peer(world: World) -> None:
    host, venue = await world.pair()
    for bad in (
        {"audio": "off", "video": True},
        {"audio": False},
        {"audio": 0, "video": 1},
        {"audio": True, "video": True, "x": 1},
    ):
        await venue.send(type="media", ref="m", **bad)
        assert (await venue.expect("error", ref="m"))["code"] == "bad_message", bad
    observer = await world.join("observer")
    await observer.send(type="media", audio=True, video=True, ref="o")
    assert (await observer.expect("error", ref="o"))["code"] == "forbidden"
    await host.round_trip("after-refusals")
    assert not [m for m in host.backlog if m["type"] == "media"]


def test_room_keeps_a_lobby_halls_media_state_for_its_admission(room: Room) -> None:
    from signaling.protocol import MediaState

    host = _join(room, Role.HOST, "h").member
    venue = _join(room, Role.VENUE, "v").member
    assert room.set_media(venue.peer, MediaState(audio=False, video=True)).send == []  # in the lobby: no one told
    effects = _admit(room, host.peer, venue.peer)
    joined = dict(_sent(effects))[host.peer]
    assert joined["type"] == "peer-joined" and joined["peer"]["media"] == {"audio": False, "video": True}
    [(to, told)] = _sent(room.set_media(venue.peer, MediaState(audio=True, video=True)))
    assert to == host.peer and told["type"] == "media" and told["from"] == venue.peer and told["audio"] is True
