"""Hostile and malformed signaling traffic against a live server, while a real pair keeps working.

A `ceremony serve` subprocess runs on a copy of the open ceremony built by
`build_template` (tests/helpers.py). Beside it, a well-behaved host and an admitted venue stay
connected for the whole run, trickle candidates to each other and answer pings. Then
hypothesis opens socket after socket with every kind of link (and with none, or a
forged one) and sends what it likes: random JSON, wrong field types, huge and deeply
nested frames, unicode, binary and invalid UTF-8 frames, messages addressed to real,
random and foreign peer ids, resumes of other people's sessions.

What must hold: every answer is a well-formed protocol message (an `error` with a
known code, a `pong`, ...) or a close with a documented code; the server process stays
up and logs no error or traceback; and the pair never sees an error or a close, its
relays and a stage change still arrive during and after the fuzzing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import WSMsgType
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from signaling.hub import SignalSettings
from tests.helpers import CANDIDATE, SDP, SERVER_TYPES, Server, Template, build_template, start_server

T = TypeVar("T")
WAIT = 10.0
ERROR_CODES = {"bad_message", "forbidden", "no_such_peer", "not_admitted", "refused"}
# 1000: the fuzzer said leave; 1007: invalid UTF-8 in a text frame (RFC 6455); 4000: a host of the
# other ceremony ended its own session; the rest are the documented refusals. 1006 is aiohttp's name
# for "the connection ended without a close frame reaching us": it happens when the server closes a
# socket (say 4403 for a forged token) while the fuzzer is still pushing a 64 KiB frame into it.
CLOSE_CODES = {1000, 1006, 1007, 1009, 4000, 4400, 4401, 4403, 4404, 4429}
TYPES = ["hello", "offer", "answer", "candidate", "ping", "pong", "segment", "admit", "reject", "end", "leave"]
FIELDS = ["to", "sdp", "candidate", "peer", "segment", "nonce", "ref", "reason", "resume", "client", "from", "seq"]


# ------------------------------------------------------------------ the pair that must keep working


@dataclass
class Participant:
    name: str
    ws: aiohttp.ClientWebSocketResponse
    welcome: dict[str, Any]
    partner: str = ""
    candidates_from_partner: int = 0
    problems: list[str] = field(default_factory=list)  # errors or closes this participant did not cause
    inbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    reader: asyncio.Task[None] | None = None

    @property
    def peer(self) -> str:
        return str(self.welcome["peer"])

    async def send(self, **message: Any) -> None:
        await self.ws.send_str(json.dumps(message))

    async def read_forever(self) -> None:
        async for msg in self.ws:
            if msg.type != WSMsgType.TEXT:
                self.problems.append(f"unexpected frame {msg.type}")
                continue
            m = json.loads(msg.data)
            kind = m.get("type")
            if kind == "ping":
                await self.send(type="pong", nonce=m.get("nonce"))
            elif kind == "error":
                self.problems.append(f"error {m}")
            elif kind == "candidate" and m.get("from") == self.partner:
                self.candidates_from_partner += 1
            elif kind in ("offer", "answer", "ceremony", "ack"):
                self.inbox.put_nowait(m)
        self.problems.append(f"closed {self.ws.close_code}")

    async def wait_for(self, predicate: Any) -> dict[str, Any]:
        async with asyncio.timeout(WAIT):
            while True:
                m = await self.inbox.get()
                if predicate(m):
                    return m


@dataclass
class Pair:
    session: aiohttp.ClientSession
    host: Participant
    venue: Participant
    chatter: asyncio.Task[None] | None = None
    probes: int = 0

    async def _chatter(self) -> None:
        """Candidates both ways, 25 a second from each side: within the rate limit."""
        i = 0
        while True:
            i += 1
            line = {**CANDIDATE, "sdpMLineIndex": i % 64}
            await self.host.send(type="candidate", to=self.venue.peer, candidate=line)
            await self.venue.send(type="candidate", to=self.host.peer, candidate=line)
            await asyncio.sleep(0.04)

    async def probe(self) -> None:
        """An offer one way and an answer back, each recognised by a marker in its SDP."""
        self.probes += 1
        marker = f"{SDP}a=probe:{self.probes}\r\n"
        await self.host.send(type="offer", to=self.venue.peer, sdp=marker)
        got = await self.venue.wait_for(lambda m: m["type"] == "offer" and m.get("sdp") == marker)
        assert got["from"] == self.host.peer
        await self.venue.send(type="answer", to=self.host.peer, sdp=marker)
        back = await self.host.wait_for(lambda m: m["type"] == "answer" and m.get("sdp") == marker)
        assert back["from"] == self.venue.peer

    async def stage(self) -> str:
        """The host moves the run-of-show on; the venue hears of it."""
        ref = f"stage-{self.probes}"
        self.probes += 1
        await self.host.send(type="segment", segment="next", ref=ref)
        await self.host.wait_for(lambda m: m["type"] == "ack" and m.get("ref") == ref)
        update = await self.venue.wait_for(
            lambda m: m["type"] == "ceremony" and m["event"]["type"] == "segment.started"
        )
        return str(update["state"]["segment"])

    def problems(self) -> list[str]:
        return self.host.problems + self.venue.problems


async def _join(session: aiohttp.ClientSession, url: str, token: str) -> tuple[aiohttp.ClientWebSocketResponse, Any]:
    ws = await session.ws_connect(url, headers={"Authorization": f"Bearer {token}"})
    await ws.send_str(json.dumps({"type": "hello", "client": {"name": "fuzz-pair"}}))
    async with asyncio.timeout(WAIT):
        while True:
            m = json.loads((await ws.receive()).data)
            if m["type"] == "welcome":
                return ws, m


async def _first(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        while True:
            msg = await ws.receive()
            assert msg.type == WSMsgType.TEXT, msg
            m: dict[str, Any] = json.loads(msg.data)
            if m["type"] == kind:
                return m
            if m["type"] == "ping":
                await ws.send_str(json.dumps({"type": "pong", "nonce": m.get("nonce")}))


async def connect_pair(base: str, t: Template) -> Pair:
    session = aiohttp.ClientSession()
    url = f"{base}/api/ceremonies/{t.ceremony}/signal"
    host_ws, host_welcome = await _join(session, url, t.tokens["host"])
    # Admission belongs to the hall: once Chuncheon is admitted, the fuzzer's sockets with the
    # second Chuncheon link are admitted media peers too, able to address the pair.
    venue_ws, venue_welcome = await _join(session, url, t.tokens["chuncheon"])
    await _first(host_ws, "knock")
    await host_ws.send_str(json.dumps({"type": "admit", "peer": venue_welcome["peer"]}))
    await _first(venue_ws, "admitted")
    host = Participant("host", host_ws, host_welcome)
    venue = Participant("venue", venue_ws, venue_welcome)
    host.partner, venue.partner = venue.peer, host.peer
    host.reader = asyncio.create_task(host.read_forever())
    venue.reader = asyncio.create_task(venue.read_forever())
    pair = Pair(session, host, venue)
    await pair.probe()
    pair.chatter = asyncio.create_task(pair._chatter())
    return pair


# ------------------------------------------------------------------ the arena: server, loop, pair


@dataclass
class Arena:
    server: Server
    template: Template
    loop: asyncio.AbstractEventLoop
    pair: Pair
    session: aiohttp.ClientSession
    foreign_peer: str  # a peer of the other ceremony
    closes: dict[int, int] = field(default_factory=dict)  # close code -> count, for the record
    errors: dict[str, int] = field(default_factory=dict)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT * 3)

    def url(self, ceremony: str | None = None) -> str:
        return f"{self.server.base}/api/ceremonies/{ceremony or self.template.ceremony}/signal"

    def server_failures(self) -> list[str]:
        return [
            line
            for line in self.server.output
            if "Traceback" in line or " ERROR " in line or " CRITICAL " in line or "Error handling" in line
        ]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return asyncio.run(build_template(tmp_path_factory.mktemp("fuzz-template") / "data"))


@pytest.fixture(scope="module")
def arena(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    shutil.copytree(template.data, data)
    server = start_server(data, "--no-demo", "--resume-window", "3")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(WAIT * 3)

    async def setup() -> tuple[Pair, aiohttp.ClientSession, str, aiohttp.ClientWebSocketResponse]:
        pair = await connect_pair(server.base, template)
        session = aiohttp.ClientSession()
        ws, welcome = await _join(
            session, f"{server.base}/api/ceremonies/{template.other}/signal", template.tokens["other-host"]
        )
        return pair, session, welcome["peer"], ws

    try:
        pair, session, foreign, foreign_ws = run(setup())
        arena = Arena(server, template, loop, pair, session, foreign)
        yield arena
    finally:

        async def teardown() -> None:
            with contextlib.suppress(Exception):
                await foreign_ws.close()
            with contextlib.suppress(Exception):
                if pair.chatter is not None:
                    pair.chatter.cancel()
                await pair.session.close()
                await session.close()

        with contextlib.suppress(Exception):
            run(teardown())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        server.stop()


# ------------------------------------------------------------------ strategies

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=16,
)


def peer_ids(arena_peers: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(arena_peers),
        st.from_regex(r"\Ap-[0-9a-f]{12}\Z"),
        st.text(max_size=24),
        json_values,
    )


def messages(arena_peers: list[str], sessions: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly protocol-shaped objects: a real or bogus type, real or bogus fields and values."""
    peer = peer_ids(arena_peers)
    candidate = st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {"candidate": st.text(max_size=80) | json_values},
            optional={
                "sdpMid": st.text(max_size=40) | json_values,
                "sdpMLineIndex": st.integers(-5, 100) | json_values,
                "usernameFragment": st.text(max_size=300) | json_values,
                "extra": json_values,
            },
        ),
        json_values,
    )
    resume = st.one_of(
        st.fixed_dictionaries(
            {
                "session": st.sampled_from(sessions) | st.text(max_size=30),
                "last_seq": st.integers(-1, 2**32) | json_values,
            }
        ),
        json_values,
    )
    values = {
        "to": peer,
        "peer": peer,
        "sdp": st.text(max_size=200) | json_values,
        "candidate": candidate,
        "segment": st.sampled_from(["next", "opening", "signing", "closing", ""]) | st.text(max_size=60) | json_values,
        "nonce": st.text(max_size=80) | json_values,
        "ref": st.text(max_size=80) | json_values,
        "reason": st.text(max_size=260) | json_values,
        "resume": resume,
        "client": st.dictionaries(st.sampled_from(["name", "version", "x"]), json_values, max_size=3) | json_values,
        "from": peer,
        "seq": json_values,
    }
    return st.builds(
        lambda kind, chosen, extra: {"type": kind, **chosen, **extra},
        st.sampled_from(TYPES) | st.text(max_size=12) | json_values,
        st.fixed_dictionaries({}, optional=values),
        st.dictionaries(st.text(max_size=8), json_values, max_size=2),
    )


def well_formed(arena_peers: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Messages the parser accepts, so that the role, admission and addressing checks are reached."""
    peer = st.sampled_from(arena_peers) | st.from_regex(r"\Ap-[0-9a-f]{12}\Z")
    text = st.text(min_size=1, max_size=200)
    line = st.none() | st.fixed_dictionaries(
        {
            "candidate": st.text(max_size=200),
            "sdpMid": st.none() | st.text(max_size=8),
            "sdpMLineIndex": st.integers(0, 63),
        }
    )
    body = st.one_of(
        st.builds(
            lambda k, to, sdp: {"type": k, "to": to, "sdp": sdp}, st.sampled_from(["offer", "answer"]), peer, text
        ),
        st.builds(lambda to, c: {"type": "candidate", "to": to, "candidate": c}, peer, line),
        st.builds(lambda seg: {"type": "segment", "segment": seg}, st.sampled_from(["next", "signing"]) | text),
        st.builds(lambda p: {"type": "admit", "peer": p}, peer),
        st.builds(lambda p, r: {"type": "reject", "peer": p, "reason": r}, peer, st.text(max_size=200)),
        st.builds(lambda r: {"type": "end", "reason": r}, st.text(max_size=200)),
        st.builds(lambda n: {"type": "ping", "nonce": n}, st.text(min_size=1, max_size=64)),
        st.just({"type": "pong"}),
        st.just({"type": "leave"}),
    )
    return st.builds(lambda m, ref: {**m, "ref": ref} if ref else m, body, st.none() | st.text(max_size=64))


Frame = tuple[str, Any]  # ("text", str) | ("bytes", bytes) | ("raw-text", bytes)


def frames(arena_peers: list[str], sessions: list[str]) -> st.SearchStrategy[Frame]:
    nested = st.integers(1, 40_000).map(lambda n: "[" * n + "]" * n)
    nested_in_field = st.integers(500, 1200).map(
        lambda n: '{"type": "hello", "client": {"name": ' + "[" * n + "]" * n + "}}"
    )
    huge = st.builds(
        lambda n, ch, wrap: json.dumps({"type": "offer", "to": "p-000000000000", "sdp": ch * n}) if wrap else ch * n,
        st.integers(60_000, 70_000),
        st.sampled_from(["a", "가", "😀", "\u0000"]),
        st.booleans(),
    )
    # (kind, weight): hypothesis' one_of does not pick branches evenly, so choose the branch explicitly.
    branches: list[tuple[st.SearchStrategy[Frame], int]] = [
        (well_formed(arena_peers).map(lambda m: ("text", json.dumps(m, ensure_ascii=False))), 5),
        (messages(arena_peers, sessions).map(lambda m: ("text", json.dumps(m, ensure_ascii=False))), 2),
        (messages(arena_peers, sessions).map(lambda m: ("text", json.dumps(m))), 1),
        (json_values.map(lambda v: ("text", json.dumps(v))), 1),
        (st.text(max_size=300).map(lambda s: ("text", s)), 1),
        (st.binary(max_size=300).map(lambda b: ("bytes", b)), 1),
        (st.binary(min_size=1, max_size=40).map(lambda b: ("raw-text", b"\xff" + b)), 1),  # not UTF-8
        (nested.map(lambda s: ("text", s)), 1),
        (nested_in_field.map(lambda s: ("text", s)), 1),
        (huge.map(lambda s: ("text", s)), 1),
    ]
    weighted = [strategy for strategy, weight in branches for _ in range(weight)]
    return st.integers(0, len(weighted) - 1).flatmap(lambda i: weighted[i])


# ------------------------------------------------------------------ one hostile socket


async def hostile(arena: Arena, who: str | None, ceremony: str | None, first: Frame | None, rest: list[Frame]) -> None:
    headers = {"Authorization": f"Bearer {arena.template.tokens[who]}"} if who is not None else {}
    ws = await arena.session.ws_connect(arena.url(ceremony), headers=headers, max_msg_size=0)
    received: list[dict[str, Any]] = []
    try:
        sends = ([first] if first is not None else [("text", json.dumps({"type": "hello"}))]) + rest
        for kind, payload in sends:
            if ws.closed:
                break
            with contextlib.suppress(ConnectionError):
                if kind == "text":
                    await ws.send_str(payload)
                elif kind == "bytes":
                    await ws.send_bytes(payload)
                else:
                    await ws.send_frame(payload, WSMsgType.TEXT)
        if not ws.closed:
            with contextlib.suppress(ConnectionError):
                await ws.send_str(json.dumps({"type": "ping", "nonce": "fuzz-end"}))
        async with asyncio.timeout(WAIT):
            while True:
                msg = await ws.receive()
                if msg.type == WSMsgType.TEXT:
                    m = json.loads(msg.data)
                    assert isinstance(m, dict) and m.get("type") in SERVER_TYPES, m
                    received.append(m)
                    if m["type"] == "error":
                        assert m["code"] in ERROR_CODES, m
                        assert isinstance(m["reason"], str) and m["reason"], m
                        arena.errors[m["code"]] = arena.errors.get(m["code"], 0) + 1
                    if m["type"] == "pong" and m.get("nonce") == "fuzz-end":
                        break
                    if m["type"] == "ping":
                        await ws.send_str(json.dumps({"type": "pong", "nonce": m.get("nonce")}))
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                    code = ws.close_code if ws.close_code is not None else -1
                    assert code in CLOSE_CODES, (code, msg, received)
                    arena.closes[code] = arena.closes.get(code, 0) + 1
                    break
                else:
                    raise AssertionError(f"unexpected frame from the server: {msg}")
        if who in (None, "garbage", "revoked", "archivist") or (who == "other-host" and ceremony is None):
            assert not [m for m in received if m["type"] == "welcome"], received  # never let in
    finally:
        await ws.close()


def _identities() -> st.SearchStrategy[tuple[str | None, str | None]]:
    return st.sampled_from(
        [
            ("observer", None),
            ("signatory", None),
            ("nanjing", None),  # a venue left in the lobby
            ("chuncheon-2", None),  # an admitted venue of the same ceremony
            ("chuncheon-2", None),
            ("chuncheon-2", None),
            ("other-host", "OTHER"),  # the host of another ceremony, on its own ceremony
            ("other-host", "OTHER"),
            ("other-host", None),  # ... knocking at ours
            ("archivist", None),
            ("revoked", None),
            ("garbage", None),
            (None, None),
            ("host", "0000000000000000"),
        ]
    )


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
def test_hostile_traffic_never_breaks_the_server_or_the_pair(arena: Arena) -> None:
    pair = arena.pair
    peers = [pair.host.peer, pair.venue.peer, arena.foreign_peer]
    sessions = [pair.host.welcome["session"], pair.venue.welcome["session"]]
    before = pair.venue.candidates_from_partner
    offer_to = {"type": "offer", "sdp": SDP}

    @settings(
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
        derandomize=False,
    )
    # Cases every run covers, whatever hypothesis draws besides.
    @example(identity=("nanjing", None), first=None, rest=[("text", json.dumps({**offer_to, "to": peers[0]}))])
    @example(
        identity=("observer", None), first=None, rest=[("text", json.dumps({"type": "segment", "segment": "next"}))]
    )
    @example(identity=("chuncheon-2", None), first=None, rest=[("text", json.dumps({**offer_to, "to": peers[2]}))])
    @example(identity=("chuncheon-2", None), first=None, rest=[("text", json.dumps({**offer_to, "to": peers[1]}))])
    @example(identity=("signatory", None), first=None, rest=[("text", "[" * 70_000)])
    @example(identity=("observer", None), first=("text", json.dumps({"type": "ping"})), rest=[])
    @example(
        identity=("other-host", "OTHER"), first=None, rest=[("text", json.dumps({"type": "segment", "segment": "x"}))]
    )
    @given(
        identity=_identities(),
        first=st.tuples(st.sampled_from([True, True, True, False]), frames(peers, sessions)).map(
            lambda t: None if t[0] else t[1]  # mostly a proper hello first
        ),
        rest=st.lists(frames(peers, sessions), max_size=6),
    )
    def one_socket(identity: tuple[str | None, str | None], first: Frame | None, rest: list[Frame]) -> None:
        who, ceremony = identity
        if ceremony == "OTHER":
            ceremony = arena.template.other
        arena.run(hostile(arena, who, ceremony, first, rest))
        assert arena.server.process.poll() is None, "the server exited"
        assert arena.server_failures() == []
        assert pair.problems() == []
        arena.run(pair.probe())

    one_socket()

    # During the fuzzing the pair kept trickling candidates to each other.
    assert pair.venue.candidates_from_partner > before
    assert pair.host.candidates_from_partner > 0
    # And afterwards it still works, stage changes included.
    arena.run(pair.probe())
    assert arena.run(pair.stage()) == "opening"
    assert pair.problems() == []
    assert arena.server_failures() == []
    # The fuzzer did reach the refusals it was meant to (a record of what it covered).
    assert {"bad_message", "forbidden", "no_such_peer", "not_admitted", "refused"} <= set(arena.errors), arena.errors
    assert {4400, 4403, 1009} <= set(arena.closes), arena.closes


def test_sockets_past_a_links_cap_or_an_addresss_are_closed_and_the_pair_keeps_working(arena: Arena) -> None:
    """Five sockets of one link at once (the cap is four); then sockets without a link that read nothing,
    so that each stays in its close handshake, not welcomed, one more than may wait per address."""
    waiting = SignalSettings().unwelcomed_per_address  # what the arena's server runs with

    async def crowd() -> tuple[list[int | None], list[int | None]]:
        token = {"Authorization": f"Bearer {arena.template.tokens['nanjing']}"}  # a hall left in the lobby
        screens = await asyncio.gather(*(arena.session.ws_connect(arena.url(), headers=token) for _ in range(5)))
        for ws in screens:
            with contextlib.suppress(ConnectionError):
                await ws.send_str(json.dumps({"type": "hello"}))
        per_link = [await _fate(ws) for ws in screens]
        for ws in screens:
            await ws.close()
        silent = [await arena.session.ws_connect(arena.url()) for _ in range(waiting + 1)]
        per_address = [await _fate(ws, hello=False) for ws in (silent[-1], silent[0])]
        for ws in silent:
            await ws.close()
        return per_link, per_address

    per_link, per_address = arena.run(crowd())
    assert sorted(per_link, key=str) == [4429, None, None, None, None], per_link  # None: welcomed
    assert per_address == [4429, 4401]  # the last one over the cap; the first refused for want of a link
    arena.run(arena.pair.probe())
    assert arena.pair.problems() == []
    assert arena.server_failures() == []


async def _fate(ws: aiohttp.ClientWebSocketResponse, *, hello: bool = True) -> int | None:
    """None once welcomed (when `hello`), else the code the server closed the socket with."""
    async with asyncio.timeout(WAIT):
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.TEXT and hello and json.loads(msg.data)["type"] == "welcome":
                return None
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                return ws.close_code


def test_plain_http_at_the_signal_endpoint_is_a_client_error(arena: Arena) -> None:
    async def probe() -> list[int]:
        statuses = []
        token = {"Authorization": f"Bearer {arena.template.tokens['host']}"}
        for method, headers in (("GET", {}), ("GET", token), ("POST", token), ("GET", {"Upgrade": "websocket"})):
            async with arena.session.request(method, arena.url(), headers=headers) as r:
                statuses.append(r.status)
        return statuses

    statuses = arena.run(probe())
    assert all(400 <= s < 500 for s in statuses), statuses
    assert arena.server_failures() == []
