"""Several nodes carry one ceremony, and one of them dies mid-signing (issue 14).

Two `ceremony serve` processes share a PostgreSQL database (the log) and a Redis (the bus);
each hall enters through its own haproxy, which prefers "its" node and falls back to the other,
as a Korean and a Chinese entry point would. aiortc venues on different nodes must see each
other, the host on one node must see both, and a signatory on the other node consents and
signs. Then the node holding the room and most sockets is killed with SIGKILL while a consent
is in flight: every socket resumes its session on the survivor, media keeps flowing, the
consent is either acknowledged or retried as the page does, the record seals and verifies, and
`ceremony log verify --store` is clean. The times are printed and bounded only generously.

Everything is real: PostgreSQL, redis-server and haproxy from Debian, started by the tests on
free loopback ports; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from signaling.bots.client import SignalingClient
from signaling.bots.venue_bot import BotOptions, HostBot, MediaBot, VenueBot
from signaling.protocol import AdmittedToRoom, CeremonyUpdated, Ponged
from tests.engines import Haproxy, Postgres, Redis, SharedCeremony, signing_ceremony
from tests.helpers import ROOT, Server, free_port, start_server
from web.demo.definition import demo_definition
from web.demo.scripted import Api, ScriptedSignatory, ScriptError

WAIT = 30.0  # a guard against hangs, not a speed claim
FAILOVER_BOUND = 20.0  # kill to every socket resumed: generous (the lease is 3 s; the aim is 5 s)
FPS = 10.0  # three media peers encode and decode on two CPUs beside two servers
FRAMES = 20


async def _prepare(store: str, pdf: bytes, *, recording: bool = False) -> Prepared:
    """An open ceremony in its signing segment, in the shared database, with links for everyone."""
    return Prepared(store, await signing_ceremony(store, pdf, signatories=3, halls=True, recording=recording))


@dataclass(frozen=True)
class Prepared:
    store: str
    shared: SharedCeremony

    @property
    def ceremony(self) -> str:
        return self.shared.ceremony

    @property
    def tokens(self) -> dict[str, str]:
        return self.shared.tokens

    @property
    def signatories(self) -> list[str]:
        return self.shared.signatories


@dataclass
class Cluster:
    prepared: Prepared
    nodes: list[Server]
    entries: list[Haproxy]  # entries[k] prefers nodes[k]
    args: tuple[str, ...]  # every node's `ceremony serve` options
    ports: list[int]
    bots: list[MediaBot] = field(default_factory=list)

    def restart(self, k: int) -> Server:
        """Node k again (after it was killed), on its data directory and port."""
        self.nodes[k] = start_server(self.nodes[k].data, *self.args, port=self.ports[k])
        return self.nodes[k]

    def link(self, entry: int, who: str) -> str:
        return f"{self.entries[entry].url}/c/{self.prepared.ceremony}/enter#{self.prepared.tokens[who]}"

    def api(self, http: aiohttp.ClientSession, entry: int, who: str) -> Api:
        return Api(http, self.entries[entry].url, self.prepared.ceremony, self.prepared.tokens[who])


@contextlib.asynccontextmanager
async def cluster(tmp_path: Path, prepared: Prepared, redis: Redis, *flags: str) -> AsyncIterator[Cluster]:
    ports = [free_port(), free_port()]
    addresses = [f"127.0.0.1:{port}" for port in ports]
    entries = [Haproxy(addresses, backup=frozenset({1})), Haproxy(addresses, backup=frozenset({0}))]
    shared = ("--store", prepared.store, "--bus", redis.url, "--no-demo", "--public-url", entries[0].url, *flags)
    nodes: list[Server] = []
    made = Cluster(prepared, nodes, entries, shared, ports)
    try:
        nodes.append(start_server(tmp_path / "n1", *shared, port=ports[0]))
        shutil.copytree(nodes[0].data / "pki", tmp_path / "n2" / "pki")  # one PKI for the cluster (deploy.md)
        nodes.append(start_server(tmp_path / "n2", *shared, port=ports[1]))
        for entry, node in zip(entries, nodes, strict=True):
            await _settled(entry, node)
        yield made
    finally:
        for bot in reversed(made.bots):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(bot.stop(), 10)
        for entry in entries:
            entry.close()
        for node in nodes:
            node.stop(signal.SIGKILL)


async def _settled(entry: Haproxy, node: Server) -> None:
    """Until the entry's checks have found its preferred node up (and answer through it)."""
    async with aiohttp.ClientSession() as http:
        mine = await _node_id(http, node.base)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, KeyError):
                if await _node_id(http, entry.url) == mine:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"haproxy at {entry.url} never answered from {node.base}")


async def _node_id(http: aiohttp.ClientSession, base: str) -> str:
    async with http.get(base + "/healthz") as response:
        return str((await response.json())["node"])


def host_bot(made: Cluster, entry: int, name: str) -> HostBot:
    return HostBot(made.link(entry, "host"), BotOptions(send_media=False, name=name, fps=FPS))


def venue_bot(made: Cluster, entry: int, hall: str) -> VenueBot:
    return VenueBot(made.link(entry, hall), BotOptions(name=hall, fps=FPS))


async def eventually(check: Callable[[], bool], bound: float, what: Callable[[], object]) -> float:
    """Seconds until `check()` holds; fails with `what()` after `bound` seconds (a guard, not a speed claim)."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        assert time.monotonic() - started < bound, what()
        await asyncio.sleep(0.05)


async def start(made: Cluster, bot: MediaBot) -> MediaBot:
    made.bots.append(bot)
    await asyncio.wait_for(bot.start(), WAIT)
    return bot


async def frames(bot: MediaBot, label: str, count: int) -> int:
    """Until `bot` has decoded `count` verified frames of `label`; how many it has."""
    link = await bot.wait_link(label, within=WAIT)
    try:
        await asyncio.wait_for(link.stats.verified_frames.reached(count), WAIT)
    except TimeoutError:
        raise AssertionError(f"{label} -> {bot.client.name}: {link.stats.as_dict()} ({link.state})") from None
    return int(link.stats.verified_frames.value)


async def enrolled(host: Api, signer: ScriptedSignatory) -> None:
    enrollment = await signer.enroll()
    await host.call("POST", f"/enrollments/{enrollment}/approve", {"code_confirmed": True})
    await signer.wait_for_certificate()


async def consent_as_the_page_does(signer: ScriptedSignatory, survivor: Api) -> str:
    """A consent sent while its node may die: acknowledged, or found recorded, or sent again.

    What sign.js does on a failed send: ask the server (`/me`) whether the consent is in the log
    before offering to send it again, with a fresh challenge. Returns which of the three happened.
    """
    try:
        await signer.decide("consent")
        return "acknowledged"
    except (ScriptError, aiohttp.ClientError, TimeoutError):
        pass
    signer.api = survivor
    for _ in range(40):
        try:
            me = await survivor.call("GET", "/me")
            if me["consent"] is not None:
                return "found recorded"
            await signer.decide("consent")
            return "sent again"
        except (ScriptError, aiohttp.ClientError):
            await asyncio.sleep(0.5)  # the balancer has not taken the dead node out yet
    raise AssertionError("the consent could neither be found nor sent again")


async def test_two_nodes_carry_one_ceremony_and_a_killed_node_loses_nothing(
    tmp_path: Path, postgres: Postgres, redis: Redis, original_pdf: bytes
) -> None:
    prepared = await _prepare(postgres.new_database(), original_pdf)
    async with cluster(tmp_path, prepared, redis, "--heartbeat-interval", "1", "--heartbeat-timeout", "5") as made:
        # The host and Chuncheon enter through node 1 (the first socket makes it the room's node);
        # Nanjing through node 2, which carries its socket to node 1.
        host = await start(made, host_bot(made, 0, "host"))
        chuncheon = await start(made, venue_bot(made, 0, "chuncheon"))
        nanjing = await start(made, venue_bot(made, 1, "nanjing"))
        await frames(nanjing, "chuncheon", FRAMES)
        await frames(chuncheon, "nanjing", FRAMES)
        await frames(host, "chuncheon", FRAMES)
        await frames(host, "nanjing", FRAMES)

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            on_2 = made.api(http, 1, "host")
            # The host's timeline, read from node 2 directly all along: it must show every event,
            # whichever node recorded it (node 1's before its death included).
            timeline: list[int] = []
            reading = asyncio.create_task(_timeline(made.nodes[1].base, on_2, timeline))
            # A signatory on node 2 consents and signs while the room lives on node 1.
            first = ScriptedSignatory(made.api(http, 1, prepared.signatories[0]), prepared.signatories[0])
            await enrolled(on_2, first)
            await first.decide("consent")
            # The host, in node 1's room, hears of a consent node 2 recorded (the log, then the room's feed).
            await eventually(
                lambda: any(_consent_of(m, prepared.signatories[0]) for m in host.client.history),
                WAIT,
                lambda: "the host never heard of the consent made on the other node",
            )
            await first.sign_pdf()
            # Another on node 1 is ready; node 1 dies the moment its consent's request has left.
            killed = asyncio.Event()
            phone = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=20), trace_configs=[_killing(made.nodes[0], killed)]
            )
            second = ScriptedSignatory(made.api(phone, 0, prepared.signatories[1]), prepared.signatories[1])
            await enrolled(on_2, second)

            sessions = {bot.client.name: bot.client.welcome.session for bot in (host, chuncheon, nanjing)}  # type: ignore[union-attr]
            resumes = {bot.client.name: bot.client.resumes for bot in (host, chuncheon, nanjing)}
            seen = await frames(chuncheon, "nanjing", 1)
            in_flight = asyncio.create_task(
                consent_as_the_page_does(second, made.api(phone, 1, prepared.signatories[1]))
            )
            await asyncio.wait_for(killed.wait(), WAIT)
            killed_at = time.monotonic()

            # Every socket resumes its own session on node 2 (the sockets node 1 held, and the one
            # node 2 carried there), and the halls' media, peer to peer, never depended on node 1.
            bots = (host, chuncheon, nanjing)
            await eventually(
                lambda: all(bot.client.resumes > resumes[bot.client.name] for bot in bots),
                FAILOVER_BOUND,
                lambda: {bot.client.name: (bot.client.resumes, bot.client.sockets_opened) for bot in bots},
            )
            resumed_in = time.monotonic() - killed_at
            for bot in (host, chuncheon, nanjing):
                assert bot.client.welcome is not None and bot.client.welcome.resumed
                assert bot.client.welcome.session == sessions[bot.client.name]
            await frames(chuncheon, "nanjing", seen + FRAMES)
            await frames(nanjing, "chuncheon", FRAMES)
            media_in = time.monotonic() - killed_at
            outcome = await asyncio.wait_for(in_flight, WAIT)
            print(
                f"\nkill -9 of the room's node: sockets resumed in {resumed_in:.1f} s, "
                f"media checked after {media_in:.1f} s; the consent in flight: {outcome}"
            )

            # The signing goes on through the survivor: the second signs, a third enrolls and signs.
            await second.sign_pdf()
            await phone.close()
            third = ScriptedSignatory(made.api(http, 1, prepared.signatories[2]), prepared.signatories[2])
            await enrolled(on_2, third)
            await third.decide("consent")
            await third.sign_pdf()
            consents = (await on_2.call("GET", "/consents"))["consents"]
            assert sorted(c["signatory"] for c in consents) == sorted(prepared.signatories)  # once each

            # An ICE restart, a renegotiation: the room on node 2 carries signaling as node 1 did.
            await host.stop()
            made.bots.remove(host)
            late = await start(made, host_bot(made, 1, "late"))
            await frames(late, "chuncheon", FRAMES)
            await frames(late, "nanjing", FRAMES)

            logged = [e["seq"] for e in (await on_2.call("GET", "/events"))["events"]]
            await eventually(lambda: timeline[-len(logged) :] == logged, WAIT, lambda: (timeline, logged))
            reading.cancel()

            while (await on_2.call("GET", ""))["segment"] != demo_definition().run_of_show[-1].id:
                await on_2.call("POST", "/segment", {"segment": "next"})
            await on_2.call("POST", "/seal", {"absent_ok": True})
            archivist = made.api(http, 1, "archivist")
            async with http.get(archivist.url("/record"), headers={"Authorization": f"Bearer {archivist.token}"}) as r:
                assert r.status == 200, await r.text()
                record = tmp_path / "record.zip"
                record.write_bytes(await r.read())

    assert zipfile.is_zipfile(record)
    verified = _cli("verify", str(record), "--trust", str(tmp_path / "n2" / "pki" / "root.pem"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    logged = _cli("log", "verify", "--store", prepared.store)
    assert logged.returncode == 0, logged.stdout + logged.stderr


async def test_a_redis_restart_cuts_the_carried_sockets_and_they_resume(
    tmp_path: Path, postgres: Postgres, redis: Redis, original_pdf: bytes
) -> None:
    """Redis restarts empty: frames between nodes may have been lost, so the carried sockets are
    closed (1012) and resume; the room's node keeps the room and takes its lease back."""
    prepared = await _prepare(postgres.new_database(), original_pdf)
    async with cluster(tmp_path, prepared, redis) as made:
        host = SignalingClient(made.link(0, "host"), name="host")
        venue = SignalingClient(made.link(1, "chuncheon"), name="chuncheon")
        await asyncio.wait_for(host.start(), WAIT)
        await asyncio.wait_for(venue.start(), WAIT)  # carried from node 2 to node 1
        try:
            sessions = (host.welcome.session, venue.welcome.session)  # type: ignore[union-attr]
            # Junk on the nodes' channels (not from a node of ours) is dropped; nothing is cut.
            async with aiohttp.ClientSession() as http:
                channels = [f"ceremony:node:{await _node_id(http, node.base)}" for node in made.nodes]
            bus = aioredis.from_url(redis.url)
            for channel in channels:
                for junk in ("", "nonsense", "o|c1|not json", "s|no-such-conn|hello", "x|c2|not-a-code|why"):
                    await bus.publish(channel, junk)
            await bus.aclose()
            with venue.subscribe() as heard:
                await venue.send({"type": "ping", "nonce": "after-junk"})
                await heard.wait_for(Ponged, lambda m: m.nonce == "after-junk", within=WAIT)  # there and back
            assert venue.resumes == 0 and host.resumes == 0

            redis.restart()
            await eventually(lambda: venue.resumes > 0, WAIT, lambda: "the carried socket never resumed")
            assert venue.welcome is not None and venue.welcome.resumed and venue.welcome.session == sessions[1]
            # The room stayed on node 1 with its sessions: the host's socket there was never cut.
            assert host.resumes == 0 and host.welcome is not None and host.welcome.session == sessions[0]
            # And the room works across nodes again: the host on node 1 admits the hall on node 2.
            with venue.subscribe() as heard:
                await asyncio.wait_for(host.admit(venue.peer_id), WAIT)
                await heard.wait_for(AdmittedToRoom, within=WAIT)
        finally:
            await venue.close()
            await host.close()


async def test_a_recorded_ceremony_has_one_recorder_in_the_cluster_and_another_node_takes_it_over(
    tmp_path: Path, postgres: Postgres, redis: Redis, original_pdf: bytes
) -> None:
    """Each node watches for live recorded ceremonies; the recorder lease on the bus lets one run it."""
    prepared = await _prepare(postgres.new_database(), original_pdf, recording=True)
    async with cluster(tmp_path, prepared, redis) as made:
        await eventually(lambda: sum(map(_recorders, made.nodes)) > 0, WAIT, lambda: "no recorder started")
        await asyncio.sleep(3)  # three more rounds of each node's watch: a second one would have started
        counts = [_recorders(node) for node in made.nodes]
        assert sorted(counts) == [0, 1], counts
        k = counts.index(1)
        holder, other = made.nodes[k], made.nodes[1 - k]
        holder.stop(signal.SIGKILL)
        took = await eventually(
            lambda: _recorders(other) == 1, WAIT, lambda: "the surviving node never started the recorder"
        )
        print(f"\nthe recorder moved to the surviving node {took:.1f} s after the kill (lease 10 s)")

        # The killed node comes back, and the host cancels through it: the recorder, on the other
        # node, is stopped (its last segments logged) before the cancellation is, and none restarts.
        back = made.restart(k)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            await Api(http, back.base, prepared.ceremony, prepared.tokens["host"]).call(
                "POST", "/cancel", {"reason": "test"}
            )
        assert (_recorders(other), _recorders(back)) == (0, 0)
        await asyncio.sleep(3)
        assert (_recorders(other), _recorders(back)) == (0, 0)


def _recorders(node: Server) -> int:
    """The node's recorder processes that run (`ceremony recorder`, its children; /proc)."""
    if node.process.poll() is not None:
        return 0
    count = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError):
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            if fields.get("PPid", "").strip() == str(node.process.pid) and fields.get("State", "")[:1] != "Z":
                cmdline = (status.parent / "cmdline").read_bytes()
                count += b"recorder" in cmdline
    return count


async def _timeline(base: str, host: Api, seen: list[int]) -> None:
    """Read the host's event stream (SSE) on one node from the start, appending each event's id."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{base}/api/ceremonies/{host.ceremony}/stream?after=0",
            headers={"Authorization": f"Bearer {host.token}"},
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        ) as response,
    ):
        assert response.status == 200
        async for line in response.content:
            if line.startswith(b"id: "):
                seen.append(int(line[4:]))


def _killing(node: Server, killed: asyncio.Event) -> aiohttp.TraceConfig:
    """A client trace that SIGKILLs `node` once a consent's request headers are on their way to it."""

    async def sent(_: aiohttp.ClientSession, __: object, params: aiohttp.TraceRequestHeadersSentParams) -> None:
        if params.method == "POST" and params.url.path.endswith("/consents") and not killed.is_set():
            node.process.send_signal(signal.SIGKILL)
            killed.set()

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(sent)
    return trace


def _consent_of(message: object, signatory: str) -> bool:
    if not isinstance(message, CeremonyUpdated):
        return False
    event = message.event
    return str(event.get("type", "")).startswith("consent") and signatory in json.dumps(event)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=180, check=False
    )
