"""Signaling relay throughput and latency beside a bare aiohttp WebSocket relay, and memory per idle peer.

What is measured, in one run, with the same client load against each server:

- ours: `ceremony serve` in a subprocess, on a data directory holding `--ceremonies`
  open ceremonies. Each ceremony has two participants, the host and an admitted venue,
  connected through the real protocol (hello, welcome, knock, admit), relaying
  `candidate` messages to each other (an ICE candidate line of the usual size).
- floor, routed: a tiny aiohttp app (`--bare` mode of this file, in its own
  subprocess): no capability, no validation, no sequence numbers; it parses each
  frame's JSON, looks up `to` in the room, adds `from` and re-encodes - the least a
  relay that addresses peers must do.
- floor, forward: the same app forwarding each frame's text unparsed to the other
  socket of the room: the cost of aiohttp's WebSocket alone.

The load is open-loop and paced per connection: every participant sends `--rate`
messages a second (default 40, under the server's 50/s sustained limit), or fewer so
that all of them together send `--total-rate` (default 4,000: 100 ceremonies at 20/s,
1,000 ceremonies at 2/s; the same load on every size, which differ in sockets and
rooms). Each participant starts at a random phase and sends a tick's worth (0.1 s) at
a time, and never has more than `--window` messages unanswered, so a stalled server
is not hit by a burst above its 200-message bucket when it catches up. Latency is
one way, from the sender's `send_str` to the receiver's read of the relayed message,
both in this process (one clock); p50, p99 and p99.9 over every message of every
round. Throughput is messages delivered per second of the measurement period; the
server's CPU time over the same period (from /proc) gives its CPU cost per relayed
message, a figure the client's own limits do not distort.

Where our server's time goes (`--trace FILE`): it runs under bench.loop_trace, which
records every event-loop callback over 3 ms (with the code it was in) and every garbage
collection; the bench prints those that fell inside our server's measured periods.
The trace costs the server some time of its own: its latencies are for finding causes,
the figures come from runs without it.

Memory: a fresh server of each kind, RSS from /proc/<pid>/status after a warm-up
(a few connections opened and closed), then again with `--idle` idle participants
connected (said hello, admitted, answering the server's pings; default 2,000).

Beside the recorder (`--beside-recorder`, our server only): one more ceremony on the same
server has a host and two venue bots sending media (in a subprocess of their own); it is
either recorded, so that the server runs its recorder process beside the relay, or not
(the same media, no recorder). The two alternate, a fresh ceremony each time, and the relay
measurement above runs meanwhile; the table gives the p99 beside the recorder over the p99
without it. The relay's own ceremonies are never recorded (in every mode).

Run: .venv/bin/python -m bench.signal_bench            (see --help)
     .venv/bin/python -m bench.signal_bench --ceremonies 500 --rounds 3 --idle 0 --parts 0 --trace /tmp/t.json
     .venv/bin/python -m bench.signal_bench --beside-recorder --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import os
import pstats
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from bench.common import free_port, machine
from ceremony.commands import OpenRooms
from ceremony.events import Role
from ceremony.model import CeremonyDefinition
from ceremony.runtime.local import on_disk
from web.demo.definition import demo_definition
from web.settings import utc_clock

ROOT = Path(__file__).resolve().parent.parent
TICK = 0.1  # seconds between a sender's batches
CONNECT_BATCH = 50  # ceremonies connected at once
WINDOWS: list[tuple[str, int, float, float]] = []  # measured periods: server, ceremonies, from, to (perf_counter)


# ------------------------------------------------------------------ the floor: a bare relay


ROOMS = web.AppKey("rooms", dict[str, dict[str, web.WebSocketResponse]])


async def _bare_socket(request: web.Request, routed: bool) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=64 * 1024)
    await ws.prepare(request)
    room_id, who = request.match_info["room"], request.match_info["who"]
    room = request.app[ROOMS].setdefault(room_id, {})
    room[who] = ws
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            if routed:
                message = json.loads(msg.data)
                target = room.get(message.pop("to", ""))
                if target is not None:
                    message["from"] = who
                    await target.send_str(json.dumps(message, separators=(",", ":")))
            else:
                for other, peer_ws in room.items():
                    if other != who:
                        await peer_ws.send_str(msg.data)
    finally:
        if room.get(who) is ws:
            del room[who]
    return ws


async def _routed(request: web.Request) -> web.WebSocketResponse:
    return await _bare_socket(request, routed=True)


async def _forward(request: web.Request) -> web.WebSocketResponse:
    return await _bare_socket(request, routed=False)


def bare_app() -> web.Application:
    app = web.Application()
    app[ROOMS] = {}
    app.router.add_get("/routed/{room}/{who}", _routed)
    app.router.add_get("/forward/{room}/{who}", _forward)
    return app


def run_bare(port: int) -> None:
    web.run_app(bare_app(), host="127.0.0.1", port=port, print=lambda _: print("Serving on", port, flush=True))


# ------------------------------------------------------------------ server subprocesses


@dataclass
class ServerProcess:
    kind: str  # "ours" | "bare"
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT if self.kind == "bare" else signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start(
    kind: str, workdir: Path, data: Path | None, profile: Path | None = None, trace: Path | None = None
) -> ServerProcess:
    port = free_port()
    log = workdir / f"{kind}-{port}.log"
    if kind == "ours":
        assert data is not None
        prefix = [sys.executable]
        if profile:
            prefix = [sys.executable, "-m", "cProfile", "-o", str(profile)]
        elif trace:
            prefix = [sys.executable, "-m", "bench.loop_trace", str(trace)]
        command = [*prefix, "-m", "web.cli", "serve", "--no-demo", "--data", str(data), "--port", str(port)]
    else:
        command = [sys.executable, "-m", "bench.signal_bench", "--bare", str(port)]
    server = launch(kind, command, log, port)
    if trace and kind == "ours":
        server.process.send_signal(signal.SIGUSR2)  # the trace starts now, after start-up
    return server


def launch(kind: str, command: list[str], log: Path, port: int) -> ServerProcess:
    """Run `command` (a server), its output in `log`, until it says it serves (at most 120 s)."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if "Serving on" in log.read_text(errors="replace"):
            return ServerProcess(kind=kind, process=process, port=port, log=log)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{kind} server did not start ({command}):\n{log.read_text(errors='replace')}")


# ------------------------------------------------------------------ ceremonies to relay in


@dataclass(frozen=True)
class Ceremony:
    id: str
    host: str  # tokens
    venue: str


async def prepare(data: Path, count: int) -> list[Ceremony]:
    """`count` open ceremonies, each with a host and a Chuncheon venue link.

    The original PDF is rendered once and its bytes reused: rendering is not what is measured.
    """
    from web.mou import render_mou_pdf

    service = on_disk(data, clock=utc_clock)
    await service.start()
    pdf: list[bytes] = []

    def render(definition: CeremonyDefinition, ceremony: str) -> bytes:
        if not pdf:
            pdf.append(render_mou_pdf(definition, ceremony_id=ceremony))
        return pdf[0]

    # The demo definition is recorded; an open recorded ceremony gets a recorder process of its
    # own, so the relay's ceremonies are not: the relay is measured alone (see --beside-recorder).
    definition = dataclasses.replace(demo_definition(), recording=False)
    result: list[Ceremony] = []
    try:
        for _ in range(count):
            state = await service.create(definition, "bench")
            await service.freeze(state.id, "bench", render)
            await service.execute(state.id, OpenRooms(), "bench")
            host = await service.issue_link(state.id, Role.HOST, "bench")
            venue = await service.issue_link(state.id, Role.VENUE, "bench", venue="chuncheon")
            result.append(Ceremony(id=state.id, host=host.token, venue=venue.token))
    finally:
        await service.close()
    return result


# ------------------------------------------------------------------ the client load


@dataclass
class Stats:
    measuring: bool = False
    delivered: int = 0
    latencies: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # perf_counter at send, one per latency
    generator_stalls: list[tuple[float, float]] = field(default_factory=list)  # perf_counter, seconds late
    problems: list[str] = field(default_factory=list)
    target: int = 0  # when set, `reached` is set once that many messages were delivered
    reached: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Participant:
    ws: aiohttp.ClientWebSocketResponse
    peer: str
    partner: str = ""
    sent: dict[int, float] = field(default_factory=dict)  # message id -> perf_counter at send
    next_id: int = 0
    reader: asyncio.Task[None] | None = None

    def candidate(self) -> str:
        self.next_id += 1
        self.sent[self.next_id] = time.perf_counter()
        return candidate_frame(self.next_id, self.partner)


def candidate_frame(message_id: int, to: str) -> str:
    """A `candidate` message with a host candidate line as browsers send it; the foundation is our id."""
    line = (
        f"candidate:{message_id} 1 udp 2122260223 192.0.2.17 {50000 + message_id % 10000} typ host "
        "generation 0 ufrag Ab3d network-id 1 network-cost 10"
    )
    candidate = {"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0}
    return json.dumps({"type": "candidate", "to": to, "candidate": candidate})


async def read_relayed(me: Participant, sender: Participant, stats: Stats) -> None:
    """Time every candidate from `sender`; answer pings; record anything that should not happen."""
    async for msg in me.ws:
        if msg.type != WSMsgType.TEXT:
            continue
        m = json.loads(msg.data)
        kind = m.get("type")
        if kind == "candidate":
            message_id = int(m["candidate"]["candidate"].split(" ", 1)[0][10:])
            t0 = sender.sent.pop(message_id, None)
            if t0 is not None and stats.measuring:
                stats.delivered += 1
                stats.latencies.append(time.perf_counter() - t0)
                stats.sent_at.append(t0)
                if stats.target and stats.delivered >= stats.target:
                    stats.reached.set()
        elif kind == "ping":
            await me.ws.send_str(json.dumps({"type": "pong", "nonce": m.get("nonce")}))
        elif kind == "error":
            stats.problems.append(f"error {m.get('code')}: {m.get('reason')}")
    if me.ws.close_code not in (None, 1000):
        stats.problems.append(f"closed {me.ws.close_code}")


async def send_paced(me: Participant, rate: float, window: int, until: float, phase: float) -> None:
    """`rate` messages a second: a batch of about TICK's worth at a time, the first `phase` (0..1)
    of a period in; a rate under one message per TICK sends one at a time, less often.

    Participants start at random phases, as independent clients do: the load is smooth rather
    than every socket sending in the same instant (a burst that would be queueing the bench
    made, on the floor as on ours), and a slow sender wakes only when it has something to send
    (2,000 of them waking ten times a second were the load generator's own bottleneck).
    """
    batch = max(1, round(rate * TICK))
    period = batch / rate
    next_at = time.perf_counter() + period * phase
    while next_at < until:
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        for _ in range(batch):
            if len(me.sent) >= window:
                break  # skipped, not owed: an open-loop load that never bursts to catch up
            await me.ws.send_str(me.candidate())
        next_at = max(next_at + period, time.perf_counter())  # never catch up in a burst


Pair = tuple[Participant, Participant]


async def _hello(
    session: aiohttp.ClientSession, url: str, token: str, compress: int
) -> tuple[aiohttp.ClientWebSocketResponse, Any]:
    ws = await session.ws_connect(url, headers={"Authorization": f"Bearer {token}"}, compress=compress)
    await ws.send_str(json.dumps({"type": "hello", "client": {"name": "signal-bench"}}))
    first = await ws.receive()
    if first.type != WSMsgType.TEXT:  # refused or cut: say how, not a TypeError from json.loads
        raise RuntimeError(f"socket ended before its welcome: {first.type.name} {ws.close_code} {first.extra!r}")
    welcome = json.loads(first.data)
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def _until(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        msg = await ws.receive()
        if msg.type != WSMsgType.TEXT:
            raise RuntimeError(f"socket ended while waiting for {kind}: {msg}")
        m: dict[str, Any] = json.loads(msg.data)
        if m["type"] == kind:
            return m


async def connect_ours(session: aiohttp.ClientSession, base: str, c: Ceremony, compress: int) -> Pair:
    url = f"{base}/api/ceremonies/{c.id}/signal"
    host_ws, host_welcome = await _hello(session, url, c.host, compress)
    venue_ws, venue_welcome = await _hello(session, url, c.venue, compress)
    if not venue_welcome["admitted"]:  # the first time; later the link's admission is remembered
        await _until(host_ws, "knock")
        await host_ws.send_str(json.dumps({"type": "admit", "peer": venue_welcome["peer"]}))
        await _until(venue_ws, "admitted")
    return Participant(ws=host_ws, peer=host_welcome["peer"]), Participant(ws=venue_ws, peer=venue_welcome["peer"])


Connect = Callable[[aiohttp.ClientSession, str, Ceremony, int], Awaitable[Pair]]


def bare_connector(route: str) -> Connect:
    async def connect(session: aiohttp.ClientSession, base: str, c: Ceremony, compress: int) -> Pair:
        a = await session.ws_connect(f"{base}/{route}/{c.id}/a", compress=compress)
        b = await session.ws_connect(f"{base}/{route}/{c.id}/b", compress=compress)
        return Participant(ws=a, peer="a"), Participant(ws=b, peer="b")

    return connect


async def connect_all(
    connect: Connect, session: aiohttp.ClientSession, base: str, ceremonies: list[Ceremony], compress: int
) -> list[Pair]:
    pairs: list[Pair] = []
    for i in range(0, len(ceremonies), CONNECT_BATCH):
        batch = ceremonies[i : i + CONNECT_BATCH]
        pairs.extend(await asyncio.gather(*(connect(session, base, c, compress) for c in batch)))
    for a, b in pairs:
        a.partner, b.partner = b.peer, a.peer
    return pairs


async def close_all(pairs: list[Pair], ours: bool) -> None:
    async def close(p: Participant) -> None:
        with contextlib.suppress(Exception):
            if ours and not p.ws.closed:
                await p.ws.send_str(json.dumps({"type": "leave"}))
            await p.ws.close()
        if p.reader is not None:
            p.reader.cancel()
            with contextlib.suppress(BaseException):
                await p.reader

    await asyncio.gather(*(close(p) for pair in pairs for p in pair))


@dataclass(kw_only=True)
class Result:
    server: str
    ceremonies: int
    seconds: float
    delivered: int
    latencies: list[float]
    cpu_seconds: float
    problems: list[str]
    client_cpu_seconds: float = 0.0
    sent_at: list[float] = field(default_factory=list)  # seconds into the measured period, per latency
    generator_stalls: list[tuple[float, float]] = field(default_factory=list)  # (when, seconds late)

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def slowest_moments(self, bucket: float = 0.05) -> str:
        """When the slowest 1 % were sent, in `bucket`-second steps: a stall shows as one step
        holding many, spread work as many steps holding a few."""
        if not self.latencies:
            return ""
        p99 = self.percentile(0.99) / 1000
        steps: dict[int, list[float]] = {}
        for at, latency in zip(self.sent_at, self.latencies, strict=True):
            if latency >= p99:
                steps.setdefault(int(at / bucket), []).append(latency)
        busiest = sorted(steps.items(), key=lambda step: -len(step[1]))[:6]
        return ", ".join(f"{k * bucket:.2f} s: {len(v)} up to {max(v) * 1000:.0f} ms" for k, v in sorted(busiest))

    @property
    def cpu_us_per_message(self) -> float:
        return self.cpu_seconds / max(1, self.delivered) * 1e6


def participant_rate(args: argparse.Namespace, pairs: int) -> float:
    """Messages a second each participant sends: `--rate`, or less so that all send `--total-rate`."""
    if not args.total_rate:
        return float(args.rate)
    return min(float(args.rate), float(args.total_rate) / (2 * pairs))


async def watch_lag(stats: Stats) -> None:
    """The load generator's own stalls while it measures: a 2 ms sleep that wakes 5 ms late or more.

    A stall here delays what this process reads as much as one in the server, so the slowest
    messages of a round that fall in one are the bench's (or the machine's), not the server's."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(0.002)
        late = time.perf_counter() - before - 0.002
        if late >= 0.005 and stats.measuring:
            stats.generator_stalls.append((before, late))


async def relay_run(
    server: ServerProcess,
    label: str,
    connect: Connect,
    ceremonies: list[Ceremony],
    args: argparse.Namespace,
) -> Result:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        pairs = await connect_all(connect, session, server.base, ceremonies, args.compress)
        stats = Stats()
        for a, b in pairs:
            a.reader = asyncio.create_task(read_relayed(a, b, stats))
            b.reader = asyncio.create_task(read_relayed(b, a, stats))
        # The load generator's own garbage collections would stop all its sockets at once, and
        # show as latency of whichever server runs then (with 2,000 sockets, tens of ms): none
        # while it sends. A few seconds' garbage waits for the collection after the run.
        gc.collect()
        gc.disable()
        lag: asyncio.Task[None] | None = None
        try:
            start = time.perf_counter()
            until = start + args.warmup + args.seconds
            rate = participant_rate(args, len(pairs))
            phases = random.Random(len(pairs))  # the same phases for every server of a size
            senders = [
                asyncio.create_task(send_paced(p, rate, args.window, until, phases.random()))
                for pair in pairs
                for p in pair
            ]
            await asyncio.sleep(args.warmup)
            lag = asyncio.create_task(watch_lag(stats)) if args.tail else None
            cpu0, own0, t0 = server.cpu_seconds(), time.process_time(), time.perf_counter()
            stats.measuring = True
            await asyncio.sleep(args.seconds)
            stats.measuring = False
            cpu1, own1, t1 = server.cpu_seconds(), time.process_time(), time.perf_counter()
            WINDOWS.append((label, len(ceremonies), t0, t1))
            await asyncio.gather(*senders)
        finally:
            if lag is not None:
                lag.cancel()
            gc.enable()
        await close_all(pairs, ours=server.kind == "ours")
    return Result(
        server=label,
        ceremonies=len(ceremonies),
        seconds=t1 - t0,
        delivered=stats.delivered,
        latencies=stats.latencies,
        sent_at=[at - t0 for at in stats.sent_at],
        generator_stalls=[(at - t0, late) for at, late in stats.generator_stalls],
        cpu_seconds=cpu1 - cpu0,
        problems=stats.problems,
        client_cpu_seconds=own1 - own0,
    )


# ------------------------------------------------------------------ memory per idle peer


async def idle_memory(
    server: ServerProcess, label: str, connect: Connect, ceremonies: list[Ceremony], compress: int
) -> tuple[int, int]:
    """(RSS before, RSS with all the idle participants connected), in KiB.

    Every participant sends its partner one candidate first, so that on either server each
    socket has sent something (our server sends welcome, knock, admitted anyway): with
    permessage-deflate, a socket's compressor exists from its first message on.
    """
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        warm = await connect_all(connect, session, server.base, ceremonies[:5], compress)
        await close_all(warm, ours=server.kind == "ours")
        await asyncio.sleep(1.0)
        before = server.rss_kib()
        pairs = await connect_all(connect, session, server.base, ceremonies, compress)
        stats = Stats()
        for a, b in pairs:
            a.reader = asyncio.create_task(read_relayed(a, b, stats))
            b.reader = asyncio.create_task(read_relayed(b, a, stats))
        stats.measuring, stats.target = True, 2 * len(pairs)
        for a, b in pairs:
            await a.ws.send_str(a.candidate())
            await b.ws.send_str(b.candidate())
        await asyncio.wait_for(stats.reached.wait(), 60)
        await asyncio.sleep(2.0)  # idle: only the server's pings and our pongs from here on
        after = server.rss_kib()
        await close_all(pairs, ours=server.kind == "ours")
        if stats.problems:
            print(f"  {label}: {stats.problems[:3]}", flush=True)
    return before, after


# ------------------------------------------------------------------ parts, without I/O


def parts(n: int) -> list[tuple[str, float]]:
    """CPU microseconds per message of each step of a relay, sans I/O, beside the floor's JSON work."""
    from ceremony.limits import TokenBucket
    from ceremony.model import LocalizedText
    from signaling.protocol import Relay, encode_head, parse, to_wire
    from signaling.room import Room

    room = Room("0" * 16, 60.0)
    name = LocalizedText(ko="a", zh="b", en="c")
    joined = [
        room.join(role=r, invitation=r.value, venue=v, name=name, resume_session=None, last_seq=0, now=0.0)
        for r, v in ((Role.HOST, None), (Role.VENUE, "chuncheon"))
    ]
    host, venue = (j.member for j in joined)
    for member in (host, venue):
        member.connected = True  # as the WebSocket edge does once the welcome is out
    room.venue_admitted(room.admission(host.peer, venue.peer))  # as the server does once AdmitVenue is logged
    frame = candidate_frame(1, venue.peer)
    message = parse(frame)
    assert isinstance(message, Relay)
    bucket = TokenBucket(1e9, 1e9, 0.0)
    delivered = message.delivered(host.peer)

    def floor_json() -> None:
        m = json.loads(frame)
        m.pop("to")
        m["from"] = host.peer
        json.dumps(m, separators=(",", ":"))

    def heard(now: float) -> None:
        bucket.take(now)
        room.heard(host.peer, now)

    steps: list[tuple[str, Callable[[], object]]] = [
        ("floor: json.loads + json.dumps", floor_json),
        ("ours: TokenBucket.take + Room.heard", lambda: heard(1.0)),
        ("ours: protocol.parse", lambda: parse(frame)),
        ("ours: Room.relay (sequence, encode, outbox)", lambda: room.relay(host.peer, message)),
        ("  of which the encoding", lambda: encode_head(to_wire(delivered))),
    ]
    result = []
    for label, step in steps:
        t0 = time.process_time()
        for _ in range(n):
            step()
        result.append((label, (time.process_time() - t0) / n * 1e6))
    return result


# ------------------------------------------------------------------ beside the recorder


@dataclass(frozen=True)
class Hall:
    """A ceremony with two halls and a host for the media bots; recorded or not."""

    id: str
    recorded: bool
    tokens: tuple[str, str, str]  # host, Chuncheon, Nanjing


async def prepare_halls(data: Path, rounds: int) -> list[Hall]:
    """Per round one recorded and one unrecorded ceremony, frozen; their rooms are opened one at a time."""
    from web.mou import render_mou_pdf

    service = on_disk(data, clock=utc_clock)
    await service.start()
    result: list[Hall] = []
    try:
        for _ in range(rounds):
            for recorded in (False, True):
                definition = dataclasses.replace(demo_definition(), recording=recorded)
                state = await service.create(definition, "bench")
                await service.freeze(state.id, "bench", lambda d, c: render_mou_pdf(d, ceremony_id=c))
                host = await service.issue_link(state.id, Role.HOST, "bench")
                venues = [
                    await service.issue_link(state.id, Role.VENUE, "bench", venue=v) for v in ("chuncheon", "nanjing")
                ]
                result.append(Hall(state.id, recorded, (host.token, venues[0].token, venues[1].token)))
    finally:
        await service.close()
    return result


async def host_call(session: aiohttp.ClientSession, base: str, hall: Hall, method: str, path: str) -> Any:
    url = f"{base}/api/ceremonies/{hall.id}{path}"
    body = {"reason": "bench"} if path == "/cancel" else None
    async with session.request(method, url, headers={"Authorization": f"Bearer {hall.tokens[0]}"}, json=body) as r:
        if r.status != 200:
            raise RuntimeError(f"{method} {path}: {r.status} {await r.text()}")
        return await r.json()


async def programme_segments(session: aiohttp.ClientSession, base: str, hall: Hall) -> int:
    listed = await host_call(session, base, hall, "GET", "/events?include=recording")
    return sum(1 for e in listed["events"] if e["type"] == "recording.segment" and e["data"]["track"] == "programme")


def recorder_cpu(ceremony: str) -> float:
    """CPU seconds so far of the server's recorder process for `ceremony` (0 if there is none)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            command = (entry / "cmdline").read_bytes().split(b"\0")
            if b"recorder" in command and any(ceremony.encode() in part for part in command):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def beside_recorder_run(
    server: ServerProcess, hall: Hall, ceremonies: list[Ceremony], args: argparse.Namespace, work: Path
) -> tuple[Result, float, int, float]:
    """The relay measured while two media bots are in `hall`, recorded or not.

    Returns the result, the recorder's cores, its programme segments meanwhile, and the server's
    cores before the relay load started (what the media ceremony alone costs the server).
    """
    from bench.broadcast_bench import start_bots, stop_bots

    label = "ours, beside recorder" if hall.recorded else "ours, no recorder"
    async with aiohttp.ClientSession() as session:
        await host_call(session, server.base, hall, "POST", "/open")
        bots = await start_bots(server.base, hall.id, hall.tokens, work / f"bots-{hall.id}.log")
        try:
            await asyncio.sleep(args.media_warmup / 2)  # media flowing; the recorder (if any) past its first segments
            idle0, idle_t0 = server.cpu_seconds(), time.perf_counter()
            await asyncio.sleep(args.media_warmup / 2)  # the server's own CPU with the media, without the relay load
            idle = (server.cpu_seconds() - idle0) / (time.perf_counter() - idle_t0)
            segments0, cpu0, t0 = (
                await programme_segments(session, server.base, hall),
                recorder_cpu(hall.id),
                time.perf_counter(),
            )
            result = await relay_run(server, label, connect_ours, ceremonies, args)
            segments1, cpu1, t1 = (
                await programme_segments(session, server.base, hall),
                recorder_cpu(hall.id),
                time.perf_counter(),
            )
        finally:
            await stop_bots(bots)
            await host_call(session, server.base, hall, "POST", "/cancel")  # the recorder stops here
    if hall.recorded and segments1 <= segments0:
        raise RuntimeError(f"the recorder wrote no segment during the measurement; see {server.log}")
    return result, (cpu1 - cpu0) / (t1 - t0), segments1 - segments0, idle


async def bench_beside_recorder(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="signal-bench-rec-"))
    try:
        sizes = args.ceremonies or [1, 20]
        print(f"preparing {max(sizes)} relay ceremonies and {2 * args.rounds} two-hall ceremonies ...", flush=True)
        ceremonies = await prepare(work / "data", max(sizes))
        halls = await prepare_halls(work / "data", args.rounds * len(sizes))
        print(machine(f"aiohttp {aiohttp.__version__}"))
        print(f"nproc {os.cpu_count()}; load average at the start: {load_average()}")
        print(
            f"load: 2 participants per relay ceremony, each sending {args.rate:g} candidate msgs/s "
            f"(window {args.window}); {args.warmup:g} s warm-up + {args.seconds:g} s measured; "
            f"{args.rounds} round(s);\n"
            "beside it one more ceremony with a host and two media venue bots (own process), "
            "recorded (the server runs its recorder) or not\n",
            flush=True,
        )
        server = start("ours", work, work / "data", args.profile)
        results: list[Result] = []
        recorder: list[float] = []
        try:
            pending = iter(halls)
            for n in sizes:
                for round_ in range(args.rounds):
                    pair = [next(pending), next(pending)]  # unrecorded, recorded
                    for hall in pair if round_ % 2 == 0 else reversed(pair):
                        result, cores, segments, idle = await beside_recorder_run(
                            server, hall, ceremonies[:n], args, work
                        )
                        results.append(result)
                        if hall.recorded:
                            recorder.append(cores)
                        p50, p99 = result.percentile(0.5), result.percentile(0.99)
                        print(
                            f"  {result.server:<24} n={n:<4} {result.rate:8.0f} msg/s  p50 {p50:7.2f} ms"
                            f"  p99 {p99:7.2f} ms  server CPU {result.cpu_us_per_message:6.1f} us/msg"
                            f" (before the load: {idle * 100:3.0f}% of a core)"
                            + (
                                f"  recorder {cores * 100:3.0f}% of a core, {segments} programme segments"
                                if hall.recorded
                                else ""
                            ),
                            flush=True,
                        )
        finally:
            server.stop()
        print(f"\nload average at the end: {load_average()}")
        merged = _merge(results)
        print(f"{'server':<24}{'cer.':>5}{'msg/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'us/msg':>8}{'p99 vs no recorder':>20}")
        print("-" * 83)
        alone = {r.ceremonies: r for r in merged if r.server == "ours, no recorder"}
        for r in merged:
            ratio = r.percentile(0.99) / alone[r.ceremonies].percentile(0.99)
            print(
                f"{r.server:<24}{r.ceremonies:>5}{r.rate:>8.0f}{r.percentile(0.5):>9.2f}{r.percentile(0.99):>9.2f}"
                f"{r.cpu_us_per_message:>8.1f}{ratio:>19.2f}x"
            )
            for problem in sorted(set(r.problems))[:3]:
                print(f"    ! {problem} (x{r.problems.count(problem)})")
        if recorder:
            print(f"recorder process: {sum(recorder) / len(recorder) * 100:.0f}% of a core on average while measured")
        if args.profile:
            print(f"\ncProfile of our server ({args.profile}), by cumulative time:")
            pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(40)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------ main


def print_results(results: list[Result]) -> None:
    """Throughput as measured, and the server's capacity: messages per second of its own CPU time."""
    header = (
        f"{'server':<24}{'cer.':>5}{'msg/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}{'srv CPU':>9}{'cli CPU':>9}"
        f"{'us/msg':>8}{'p50 vs routed':>15}{'p99 vs routed':>15}{'capacity vs routed':>20}"
    )
    print(header)
    print("-" * len(header))
    floors = {r.ceremonies: r for r in results if r.server == "floor: bare, routed"}
    for r in results:
        floor = floors.get(r.ceremonies)
        nan = float("nan")
        p50_ratio = r.percentile(0.5) / floor.percentile(0.5) if floor else nan
        p99_ratio = r.percentile(0.99) / floor.percentile(0.99) if floor else nan
        capacity_ratio = floor.cpu_us_per_message / r.cpu_us_per_message if floor else nan
        print(
            f"{r.server:<24}{r.ceremonies:>5}{r.rate:>8.0f}{r.percentile(0.5):>9.2f}{r.percentile(0.99):>9.2f}"
            f"{r.percentile(0.999):>10.2f}"
            f"{r.cpu_seconds / r.seconds * 100:>8.0f}%{r.client_cpu_seconds / r.seconds * 100:>8.0f}%"
            f"{r.cpu_us_per_message:>8.1f}{p50_ratio:>14.2f}x{p99_ratio:>14.2f}x"
            f"{capacity_ratio:>19.2f}x"
        )
        for problem in sorted(set(r.problems))[:3]:
            print(f"    ! {problem} (x{r.problems.count(problem)})")


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


async def bench(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="signal-bench-"))
    try:
        most = max(max(args.ceremonies), args.idle // 2)
        print(f"preparing {most} open ceremonies ...", flush=True)
        ceremonies = await prepare(work / "data", most)
        print(machine(f"aiohttp {aiohttp.__version__}"))
        print(f"load average at the start: {load_average()}")
        print(
            f"load: 2 participants per ceremony, each sending {args.rate:g} candidate msgs/s, "
            f"{args.total_rate:g} msgs/s at most in all (each sending less when there are more), "
            f"at random phases (window {args.window});\n{args.warmup:g} s warm-up + {args.seconds:g} s measured; "
            f"{args.rounds} round(s)\n",
            flush=True,
        )
        kinds: list[tuple[str, str, Connect]] = [
            ("ours", "ours: ceremony serve", connect_ours),
            ("bare", "floor: bare, routed", bare_connector("routed")),
            ("bare", "floor: bare, forward", bare_connector("forward")),
        ]
        servers = {
            "ours": start("ours", work, work / "data", args.profile, args.trace),
            "bare": start("bare", work, None),
        }
        results: list[Result] = []
        try:
            for n in args.ceremonies:
                for round_ in range(args.rounds):
                    order = kinds if round_ % 2 == 0 else list(reversed(kinds))
                    for kind, label, connect in order:
                        result = await relay_run(servers[kind], label, connect, ceremonies[:n], args)
                        results.append(result)
                        print(
                            f"  {label:<24} n={n:<4} {result.rate:8.0f} msg/s  p50 {result.percentile(0.5):7.2f} ms"
                            f"  p99 {result.percentile(0.99):7.2f} ms  p99.9 {result.percentile(0.999):7.2f} ms"
                            f"  CPU {result.cpu_us_per_message:6.1f} us/msg",
                            flush=True,
                        )
                        if args.tail:
                            print(f"    slowest 1 % sent at: {result.slowest_moments()}", flush=True)
                            stalls = ", ".join(
                                f"{at:.2f} s: {late * 1000:.0f} ms" for at, late in result.generator_stalls
                            )
                            print(f"    the load generator's own stalls: {stalls or 'none'}", flush=True)
        finally:
            for server in servers.values():
                server.stop()
        print(f"\nload average at the end: {load_average()}")
        print_results(_merge(results))
        if args.trace:
            from bench.loop_trace import summary

            report = json.loads(args.trace.read_text())
            print(f"\nevent-loop trace of our server ({args.trace}):")
            print(summary(report))
            print("collections inside our server's measured periods (count, total and longest pause, by generation):")
            for label, n, t0, t1 in WINDOWS:
                if label.startswith("ours"):
                    by_gen: dict[int, list[float]] = {}
                    for g, ms, at in report["gc_all"]:
                        if t0 <= at <= t1:
                            by_gen.setdefault(g, []).append(ms)
                    counted = [f"gen {g}: {len(v)}x, {sum(v):.0f} ms, longest {max(v):.1f}" for g, v in by_gen.items()]
                    print(f"  n={n:<5} " + ("; ".join(sorted(counted)) or "none"))
                    for young in [y for y in report["young_collections"] if t0 <= y["at"] <= t1][:2]:
                        kinds = ", ".join(f"{k} {v}" for k, v in list(young["types"].items())[:8])
                        print(f"           a gen {young['generation']} one walked {young['objects']} objects: {kinds}")
            print("the longest callbacks inside them:")
            for label, n, t0, t1 in WINDOWS:
                if label.startswith("ours"):
                    for entry in [e for e in report["longest"] if t0 <= e["at"] <= t1][:8]:
                        print(f"  n={n:<5} {entry['ms']:7.1f} ms  {entry['what']}")
                        print("".join(f"                    {w}\n" for w in entry["where"][:2]), end="")
        if args.profile:
            print(f"\ncProfile of our server ({args.profile}), by internal time:")
            pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(25)
        if args.parts:
            print(f"\nper message, without I/O (CPU time over {args.parts} calls):")
            for label, us in parts(args.parts):
                print(f"  {label:<40}{us:8.2f} us")
        if args.idle:
            print(f"\nmemory with {args.idle} idle participants ({args.idle // 2} ceremonies, host + venue each):")
            for kind, label, connect in kinds[:2]:
                server = start(kind, work, work / "data" if kind == "ours" else None)
                try:
                    before, after = await idle_memory(
                        server, label, connect, ceremonies[: args.idle // 2], args.compress
                    )
                finally:
                    server.stop()
                per_peer = (after - before) / args.idle
                print(
                    f"  {label:<24} RSS {before / 1024:7.1f} MiB -> {after / 1024:7.1f} MiB: {per_peer:6.1f} KiB/peer"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _merge(results: list[Result]) -> list[Result]:
    """Rounds of one (server, ceremonies) pooled into one row."""
    merged: dict[tuple[str, int], Result] = {}
    for r in results:
        key = (r.server, r.ceremonies)
        if key not in merged:
            merged[key] = Result(
                server=r.server,
                ceremonies=r.ceremonies,
                seconds=0.0,
                delivered=0,
                latencies=[],
                cpu_seconds=0.0,
                problems=[],
            )
        m = merged[key]
        m.seconds += r.seconds
        m.delivered += r.delivered
        m.latencies.extend(r.latencies)
        m.cpu_seconds += r.cpu_seconds
        m.client_cpu_seconds += r.client_cpu_seconds
        m.problems.extend(r.problems)
    return list(merged.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--bare", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the floor's subprocess
    parser.add_argument(
        "--ceremonies",
        type=int,
        nargs="+",
        help="relay ceremonies per run (default 100 500 1000; 1 20 beside the recorder)",
    )
    parser.add_argument("--rate", type=float, default=40.0, help="messages/s each participant sends (limit: 50)")
    parser.add_argument(
        "--total-rate",
        type=float,
        default=4000.0,
        help="messages/s all participants send together at most (each sends less than --rate "
        "when there are many; 0: no cap). 8,000 with 1,000 ceremonies saturates 2 cores shared "
        "by the server and this load generator: latency is then queueing, on every server",
    )
    parser.add_argument("--window", type=int, default=8, help="unanswered messages a participant may have")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=int, default=2000, help="idle participants for the memory figure (0: skip)")
    parser.add_argument("--parts", type=int, default=20000, help="calls per step for the per-part figures (0: skip)")
    parser.add_argument(
        "--beside-recorder",
        action="store_true",
        help="only our server, with and without a recorder process beside it (two media venues in one more ceremony)",
    )
    parser.add_argument("--media-warmup", type=float, default=8.0, help="seconds of media before measuring (beside)")
    parser.add_argument("--profile", type=Path, help="run our server under cProfile, write the stats here")
    parser.add_argument(
        "--trace", type=Path, help="run our server under bench.loop_trace (long callbacks, GC pauses), JSON here"
    )
    parser.add_argument(
        "--tail", action="store_true", help="per round, when the slowest 1 %% were sent (a stall: many at once)"
    )
    parser.add_argument(
        "--compress",
        type=int,
        default=15,
        help="permessage-deflate window bits the clients offer (15, as browsers do; 0: none)",
    )
    args = parser.parse_args()
    if args.bare is not None:
        run_bare(args.bare)
        return
    if args.beside_recorder:
        asyncio.run(bench_beside_recorder(args))
        return
    args.ceremonies = args.ceremonies or [100, 500, 1000]
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
