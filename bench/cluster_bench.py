"""Several nodes (issue 14): cross-node relay beside same-node relay, capacity, and fail-over time.

Everything runs in one process clock against real engines started here: a PostgreSQL cluster
(Debian's initdb/pg_ctl), a redis-server and haproxy (`tests.engines`, the tests' own
throwaway engines), and `ceremony serve --store postgresql://... --bus redis://...` nodes.
The ceremonies are made on SQLite by `bench.signal_bench.prepare` (open, a host and a venue
link each) and moved to PostgreSQL with `copy_store`, so the single-node SQLite server and the
cluster serve the very same ceremonies and links. The client load is signal_bench's: every
participant sends `--rate` `candidate` messages a second, paced, with a window; latency is one
way, send to read, in this process.

1. Relay latency, in the same run, interleaved:
   - single node, SQLite: `ceremony serve --data ...` (signal_bench's server), for reference;
   - cluster, same node: host and venue of a ceremony on node 1, which holds the room;
   - cluster, cross node: the host on node 1 (first, so node 1 takes the room), the venue on
     node 2, which carries its socket to node 1 over Redis pub/sub;
   - floor, bare routed: signal_bench's bare aiohttp relay (JSON in, `from` added, JSON out);
   - floor, bare bus same / cross: two processes of the same bare relay joined by Redis pub/sub
     (`--bare-bus` mode below): a frame for a socket on the other process is published, batched
     in one pipeline as our relay does, to that process's channel, which sends it on. Cross
     minus same is what one pub/sub hop costs with nothing else around it.
   CPU per message counts the servers' processes together (both nodes and Redis for the cluster).
2. Capacity: `--idle` idle participants (hello, admitted, answering pings) on one node (node 1
   directly), then twice as many on two nodes through haproxy (round robin: a ceremony's host
   and venue often land on different nodes, so about half of them are carried). Each
   ceremony's host and venue links are each connected `--per-link` times (the server's limit
   is 4 sockets a link; each socket is a participant of its own, as a reload or a second screen
   is), so a ceremony holds 2 x `--per-link` idle participants, as many as a real one with a
   few signatories. RSS per idle peer from /proc, and the p99 of a small active load
   (`--active` ceremonies at `--rate`) before the idle peers connect and while they are.
   Beside it, the bare routed floor with the same idle and active load.
3. Fail-over: `--failover` ceremonies, each host through an haproxy entry that prefers node 1,
   each venue through one that prefers node 2 (`Haproxy(backup=...)`), as
   `signaling.bots.client.SignalingClient`s (they reconnect with backoff and resume), each
   sending its partner 10 candidates a second. Node 1, which holds every room, is killed with
   SIGKILL. Measured from the kill: every socket welcomed again with `resumed: true`; a
   candidate sent after the kill delivered, per pair and direction. The floors, in the same run:
   the rooms' leases lapsing in Redis (no node may take a room before; `signaling.relay`), and
   the balancer answering /healthz from node 2 through the entry that preferred node 1.

Run: PYTHONPATH=. .venv/bin/python -m bench.cluster_bench          (see --help; ~5 minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import WSMsgType, web

from bench.common import free_port, machine
from bench.signal_bench import (
    Ceremony,
    Connect,
    Pair,
    Participant,
    Result,
    ServerProcess,
    Stats,
    _hello,
    _merge,
    _until,
    bare_connector,
    close_all,
    connect_all,
    connect_ours,
    launch,
    load_average,
    prepare,
    read_relayed,
    relay_run,
    start,
)
from ceremony.runtime.copy import copy_store
from ceremony.runtime.stores import default_store, open_backing, parse_store_url
from signaling.bots.client import Backoff, SignalingClient
from signaling.protocol import CandidateReceived, Knocked, Welcomed
from signaling.relay import LEASE_SECONDS
from tests.engines import Haproxy, Postgres, Redis

ROOT = Path(__file__).resolve().parent.parent
PROFILE: dict[str, Path] = {}  # node name -> where its cProfile stats go (--profile)


# ------------------------------------------------------------------ the floor across processes: a bare relay on Redis


SOCKETS = web.AppKey("sockets", dict[tuple[str, str], web.WebSocketResponse])
OUTGOING: web.AppKey[asyncio.Queue[str]] = web.AppKey("outgoing")


async def _bus_socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=64 * 1024)
    await ws.prepare(request)
    room, who = request.match_info["room"], request.match_info["who"]
    local = request.app[SOCKETS]
    local[(room, who)] = ws
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            message = json.loads(msg.data)
            to = message.pop("to", "")
            message["from"] = who
            text = json.dumps(message, separators=(",", ":"))
            target = local.get((room, to))
            if target is not None:
                await target.send_str(text)
            else:  # on the other process: one publish, as our carrier does
                request.app[OUTGOING].put_nowait(f"{room}|{to}|{text}")
    finally:
        if local.get((room, who)) is ws:
            del local[(room, who)]
    return ws


def run_bare_bus(port: int, url: str, me: str, other: str) -> None:
    """A bare relay process `me`; frames for sockets it lacks go to process `other` over Redis."""

    async def publisher(app: web.Application, connection: aioredis.Redis) -> None:
        queue = app[OUTGOING]
        while True:  # batched in one pipeline, as signaling.relay publishes
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            async with connection.pipeline(transaction=False) as pipe:
                for text in batch:
                    pipe.publish(f"bench:{other}", text)
                await pipe.execute()

    async def listener(app: web.Application, connection: aioredis.Redis) -> None:
        async with connection.pubsub() as pubsub:
            await pubsub.subscribe(f"bench:{me}")
            async for item in pubsub.listen():
                if item["type"] != "message":
                    continue
                room, to, text = item["data"].decode().split("|", 2)
                target = app[SOCKETS].get((room, to))
                if target is not None:
                    with contextlib.suppress(ConnectionError):
                        await target.send_str(text)

    async def bus(app: web.Application) -> AsyncIterator[None]:
        connection = aioredis.from_url(url)
        tasks = [asyncio.create_task(publisher(app, connection)), asyncio.create_task(listener(app, connection))]
        yield
        for task in tasks:
            task.cancel()
        await connection.aclose()

    app = web.Application()
    app[SOCKETS] = {}
    app[OUTGOING] = asyncio.Queue()
    app.router.add_get("/bus/{room}/{who}", _bus_socket)
    app.cleanup_ctx.append(bus)
    web.run_app(app, host="127.0.0.1", port=port, print=lambda _: print("Serving on", port, flush=True))


# ------------------------------------------------------------------ processes


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@dataclass
class Group(ServerProcess):
    """A server reached at `port` whose CPU time counts `pids` too (the other node, Redis)."""

    pids: tuple[int, ...] = ()
    names: tuple[str, ...] = ()  # of the server and each of `pids`, for `split`
    readings: list[list[float]] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        each = [super().cpu_seconds(), *(cpu_of(pid) for pid in self.pids)]
        self.readings.append(each)  # relay_run reads before and after its measurement: `split` shows it
        return sum(each)

    def split(self, delivered: int) -> str:
        """Each process's CPU per delivered message between the last two readings."""
        before, after = self.readings[-2:]
        parts = zip(self.names, before, after, strict=True)
        return ", ".join(f"{name} {(b - a) / max(1, delivered) * 1e6:.0f}" for name, a, b in parts)


def start_node(
    work: Path, name: str, store: str, bus: str, port: int, public: str, pki: Path | None = None
) -> ServerProcess:
    data = work / name
    if pki is not None:  # one PKI for the cluster (docs/deploy.md)
        shutil.copytree(pki, data / "pki")
    profile = PROFILE.get(name)
    prefix = [sys.executable, "-m", "cProfile", "-o", str(profile)] if profile else [sys.executable]
    command = [*prefix, "-m", "web.cli", "serve", "--no-demo", "--data", str(data), "--port", str(port)]
    command += ["--store", store, "--bus", bus, "--public-url", public]
    return launch("ours", command, work / f"{name}.log", port)


@dataclass
class Cluster:
    nodes: list[ServerProcess]
    redis: Redis
    ids: list[str]  # the nodes' ids, as /healthz names them

    def group(self, first: int = 0) -> Group:
        n = self.nodes[first]
        others = [p.process.pid for p in self.nodes if p is not n]
        assert self.redis.process is not None
        names = (f"node {first + 1}", f"node {2 - first}", "redis")
        return Group(n.kind, n.process, n.port, n.log, pids=(*others, self.redis.process.pid), names=names)

    def rss_kib(self) -> int:
        return sum(n.rss_kib() for n in self.nodes if n.process.poll() is None)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


async def node_id(http: aiohttp.ClientSession, base: str) -> str:
    async with http.get(base + "/healthz") as response:
        return str((await response.json())["node"])


async def start_cluster(work: Path, store: str, redis: Redis, tag: str) -> Cluster:
    ports = [free_port(), free_port()]
    public = f"http://127.0.0.1:{ports[0]}"  # one address for the cluster's PKI, as behind a balancer
    first = start_node(work, f"{tag}-n1", store, redis.url, ports[0], public)
    second = start_node(work, f"{tag}-n2", store, redis.url, ports[1], public, pki=work / f"{tag}-n1" / "pki")
    async with aiohttp.ClientSession() as http:
        ids = [await node_id(http, n.base) for n in (first, second)]
    return Cluster([first, second], redis, ids)


async def settled(entry: Haproxy, wanted: str) -> None:
    """Until the entry's health checks found node `wanted` up and it answers through it."""
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            with contextlib.suppress(aiohttp.ClientError, KeyError, ValueError):
                if await node_id(http, entry.url) == wanted:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"haproxy at {entry.url} never answered from {wanted}")


async def ceremonies_on_postgres(work: Path, pg: Postgres, count: int) -> tuple[list[Ceremony], str]:
    """`count` ceremonies on SQLite (signal_bench's), copied to a new PostgreSQL database."""
    ceremonies = await prepare(work / "sqlite", count)
    url = pg.new_database()
    source, target = open_backing(default_store(work / "sqlite")), open_backing(parse_store_url(url))
    try:
        await asyncio.to_thread(copy_store, source, target)
    finally:
        source.close()
        target.close()
    return ceremonies, url


# ------------------------------------------------------------------ connecting a pair across two entry points


def split_connector(host_base: str, venue_base: str) -> Connect:
    """Host through `host_base` first (its node takes the room), then the venue through `venue_base`."""

    async def connect(session: aiohttp.ClientSession, _base: str, c: Ceremony, compress: int) -> Pair:
        url = "{}/api/ceremonies/" + c.id + "/signal"
        host_ws, host_welcome = await _hello(session, url.format(host_base), c.host, compress)
        venue_ws, venue_welcome = await _hello(session, url.format(venue_base), c.venue, compress)
        if not venue_welcome["admitted"]:
            await _until(host_ws, "knock")
            await host_ws.send_str(json.dumps({"type": "admit", "peer": venue_welcome["peer"]}))
            await _until(venue_ws, "admitted")
        host, venue = host_welcome["peer"], venue_welcome["peer"]
        return Participant(ws=host_ws, peer=host), Participant(ws=venue_ws, peer=venue)

    return connect


def bus_connector(a_base: str, b_base: str) -> Connect:
    async def connect(session: aiohttp.ClientSession, _base: str, c: Ceremony, compress: int) -> Pair:
        a = await session.ws_connect(f"{a_base}/bus/{c.id}/a", compress=compress)
        b = await session.ws_connect(f"{b_base}/bus/{c.id}/b", compress=compress)
        return Participant(ws=a, peer="a"), Participant(ws=b, peer="b")

    return connect


# ------------------------------------------------------------------ 1. relay latency


def maximum(r: Result) -> float:
    return max(r.latencies, default=float("nan")) * 1000


def print_latency(results: list[Result]) -> None:
    header = f"{'server':<30}{'cer.':>5}{'msg/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'us/msg':>8}"
    header += f"{'p50 vs same':>13}{'p99 vs same':>13}"
    print(header)
    print("-" * len(header))
    same = {r.ceremonies: r for r in results if r.server == "cluster: same node"}
    bare_same = {r.ceremonies: r for r in results if r.server == "floor: bare bus, same"}
    for r in results:
        base = bare_same if r.server.startswith("floor: bare bus") else same
        ref = base.get(r.ceremonies)
        p50 = r.percentile(0.5) / ref.percentile(0.5) if ref else float("nan")
        p99 = r.percentile(0.99) / ref.percentile(0.99) if ref else float("nan")
        print(
            f"{r.server:<30}{r.ceremonies:>5}{r.rate:>8.0f}{r.percentile(0.5):>9.2f}{r.percentile(0.99):>9.2f}"
            f"{maximum(r):>9.2f}{r.cpu_us_per_message:>8.1f}{p50:>12.2f}x{p99:>12.2f}x"
        )
        for problem in sorted(set(r.problems))[:3]:
            print(f"    ! {problem} (x{r.problems.count(problem)})")


async def latency(args: argparse.Namespace, work: Path, cluster: Cluster, ceremonies: list[Ceremony]) -> None:
    redis_url = cluster.redis.url
    bare = start("bare", work, None)
    bus_ports = [free_port(), free_port()]
    buses = [
        launch(
            "bare",
            [sys.executable, "-m", "bench.cluster_bench", "--bare-bus", str(port), redis_url, me, other],
            work / f"bus-{me}.log",
            port,
        )
        for port, me, other in zip(bus_ports, ("one", "two"), ("two", "one"), strict=True)
    ]
    single = start("ours", work, work / "sqlite")
    assert cluster.redis.process is not None
    n1, n2 = cluster.nodes
    buses_group = Group(
        "bare",
        buses[0].process,
        buses[0].port,
        buses[0].log,
        pids=(buses[1].process.pid, cluster.redis.process.pid),
        names=("bare 1", "bare 2", "redis"),
    )
    kinds: list[tuple[ServerProcess, str, Connect]] = [
        (single, "single node, SQLite", connect_ours),
        (cluster.group(), "cluster: same node", connect_ours),
        (cluster.group(), "cluster: cross node", split_connector(n1.base, n2.base)),
        (bare, "floor: bare, routed", bare_connector("routed")),
        (buses_group, "floor: bare bus, same", bare_connector("bus")),
        (buses_group, "floor: bare bus, cross", bus_connector(buses[0].base, buses[1].base)),
    ]
    if args.only:
        kinds = [k for k in kinds if any(word in k[1] for word in args.only)]
    results: list[Result] = []
    failures: list[str] = []
    try:
        for n in args.ceremonies:
            for round_ in range(args.rounds):
                for server, label, connect in kinds if round_ % 2 == 0 else list(reversed(kinds)):
                    try:
                        result = await relay_run(server, label, connect, ceremonies[:n], args)
                    except (aiohttp.ClientError, ConnectionError) as exc:
                        # A socket the server closed under us (signal_bench's sender stops there): say so, go on.
                        failures.append(f"{label} n={n} round {round_ + 1}: {exc!r}")
                        print(f"  {label:<26} n={n:<4} FAILED: {exc!r} (see --keep)", flush=True)
                        continue
                    results.append(result)
                    print(
                        f"  {label:<26} n={n:<4} {result.rate:7.0f} msg/s  p50 {result.percentile(0.5):7.2f} ms"
                        f"  p99 {result.percentile(0.99):7.2f}  max {maximum(result):7.2f} ms"
                        f"  CPU {result.cpu_us_per_message:6.1f} us/msg"
                        + (f" ({server.split(result.delivered)})" if isinstance(server, Group) else ""),
                        flush=True,
                    )
    finally:
        for server in (bare, single, *buses):
            server.stop()
    print()
    print_latency(_merge(results))
    for failure in failures:
        print(f"  ! run failed: {failure}")


# ------------------------------------------------------------------ 2. capacity


@dataclass
class Capacity:
    label: str
    peers: int
    before_kib: int
    after_kib: int
    redis_kib: int  # Redis's RSS growth meanwhile (the sessions kept on the bus)
    connect_seconds: float
    alone: Result  # the active load before the idle peers connected
    active: Result  # ... and while they are

    @property
    def per_peer(self) -> float:
        return (self.after_kib - self.before_kib) / self.peers


async def capacity_run(
    label: str,
    server: ServerProcess,
    rss: Callable[[], int] | None,
    connect: Connect,
    idle: list[Ceremony],
    active: list[Ceremony],
    args: argparse.Namespace,
    redis_pid: int | None,
    passes: int,
) -> Capacity:
    """Idle pairs connected (and kept answering pings), RSS measured, then an active load run beside them."""
    measure = rss or server.rss_kib

    def redis_rss() -> int:
        return rss_of(redis_pid) if redis_pid else 0

    connector = aiohttp.TCPConnector(limit=0)
    alone = await relay_run(server, label, connect, active, args)
    async with aiohttp.ClientSession(connector=connector) as session:
        warm = await connect_all(connect, session, server.base, idle[:5], args.compress)
        await close_all(warm, ours=server.kind == "ours")
        await asyncio.sleep(1.0)
        before, redis_before = int(measure()), redis_rss()
        t0 = time.perf_counter()
        pairs: list[Pair] = []
        stats = Stats()
        for _ in range(passes):  # one pass per socket of a link: a batch never holds a ceremony twice
            made = await connect_all(connect, session, server.base, idle, args.compress)
            # Read (and answer the server's pings) at once: connecting thousands takes longer than
            # the heartbeat timeout (30 s), after which the server closes a silent socket.
            for a, b in made:
                a.reader = asyncio.create_task(read_relayed(a, b, stats))
                b.reader = asyncio.create_task(read_relayed(b, a, stats))
            pairs += made
        connected = time.perf_counter() - t0
        stats.measuring, stats.target = True, 2 * len(pairs)
        for a, b in pairs:  # each socket has sent and received something, as in signal_bench.idle_memory
            await a.ws.send_str(a.candidate())
            await b.ws.send_str(b.candidate())
        await asyncio.wait_for(stats.reached.wait(), 120)
        await asyncio.sleep(2.0)
        after, redis_after = int(measure()), redis_rss()
        try:
            result = await relay_run(server, label, connect, active, args)
        finally:
            await close_all(pairs, ours=server.kind == "ours")
        result.problems.extend(stats.problems)
    return Capacity(label, 2 * len(pairs), before, after, redis_after - redis_before, connected, alone, result)


async def add_row(rows: list[Capacity], run: Coroutine[Any, Any, Capacity]) -> None:
    try:
        rows.append(await run)
    except (aiohttp.ClientError, ConnectionError, TimeoutError, TypeError) as exc:
        # TypeError: signal_bench's hello read a close frame (its code) where it expected the welcome.
        print(f"  ! FAILED: {exc!r} (the servers' logs: --keep)", flush=True)
        return
    print(f"  {rows[-1].label}: connected in {rows[-1].connect_seconds:.1f} s", flush=True)


async def capacity(args: argparse.Namespace, work: Path, cluster: Cluster, ceremonies: list[Ceremony]) -> None:
    n_active = args.active
    active, rest = ceremonies[:n_active], ceremonies[n_active:]
    per_node = args.idle // (2 * args.per_link)
    one, two = rest[:per_node], rest[: 2 * per_node]
    assert cluster.redis.process is not None
    redis_pid = cluster.redis.process.pid
    rows: list[Capacity] = []
    # The bare relay's rooms hold one `a` and one `b`: its idle pairs get a room each.
    distinct = [Ceremony(f"{c.id}-{k}", c.host, c.venue) for k in range(args.per_link) for c in one]
    bare = start("bare", work, None)
    try:
        rows.append(
            await capacity_run(
                "floor: bare, routed", bare, None, bare_connector("routed"), distinct, active, args, None, 1
            )
        )
    finally:
        bare.stop()
    print(f"  {rows[-1].label}: connected in {rows[-1].connect_seconds:.1f} s", flush=True)
    group = cluster.group()
    await add_row(
        rows,
        capacity_run(
            "cluster: one node", group, group.rss_kib, connect_ours, one, active, args, redis_pid, args.per_link
        ),
    )
    entry = Haproxy([f"127.0.0.1:{n.port}" for n in cluster.nodes])
    try:
        await settled(entry, cluster.ids[0])
        behind = Group("ours", group.process, entry.port, group.log, pids=group.pids)
        await add_row(
            rows,
            capacity_run(
                "cluster: two nodes, haproxy",
                behind,
                cluster.rss_kib,
                connect_ours,
                two,
                active,
                args,
                redis_pid,
                args.per_link,
            ),
        )
    finally:
        entry.close()
    print()
    header = f"{'server':<30}{'idle':>6}{'RSS before':>12}{'RSS after':>11}{'KiB/peer':>10}{'Redis +MiB':>11}"
    header += f"{'act. msg/s':>11}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'p99 w/o idle':>14}"
    print(header)
    print("-" * len(header))
    for row in rows:
        r = row.active
        print(
            f"{row.label:<30}{row.peers:>6}{row.before_kib / 1024:>10.1f}Mi{row.after_kib / 1024:>9.1f}Mi"
            f"{row.per_peer:>10.1f}{row.redis_kib / 1024:>11.1f}{r.rate:>11.0f}{r.percentile(0.5):>8.2f}"
            f"{r.percentile(0.99):>8.2f}{maximum(r):>8.2f}{row.alone.percentile(0.99):>14.2f}"
        )
        for problem in sorted(set(r.problems))[:3]:
            print(f"    ! {problem} (x{r.problems.count(problem)})")


# ------------------------------------------------------------------ 3. fail-over


@dataclass
class Watched:
    """One SignalingClient and what it saw after the kill."""

    client: SignalingClient
    sent: dict[int, float] = field(default_factory=dict)  # candidate id -> perf_counter at send
    next_id: int = 0
    welcomed_after: float | None = None  # first welcome after the kill (perf_counter) ...
    resumed: bool | None = None  # ... and whether it resumed the session
    delivered_after: float | None = None  # first candidate sent after the kill, read here (perf_counter)
    killed_at: float | None = None


async def watch(me: Watched, partner: Watched) -> None:
    with me.client.subscribe() as messages:
        async for message in messages:
            now = time.perf_counter()
            killed = me.killed_at
            if isinstance(message, Welcomed) and killed is not None and me.welcomed_after is None:
                me.welcomed_after, me.resumed = now, message.resumed
            elif isinstance(message, CandidateReceived) and message.candidate is not None and killed is not None:
                message_id = int(message.candidate.candidate.split(" ", 1)[0][10:])
                sent = partner.sent.get(message_id)
                if sent is not None and sent >= killed and me.delivered_after is None:
                    me.delivered_after = now


async def keep_sending(me: Watched, to: str, period: float) -> None:
    while True:
        me.next_id += 1
        me.sent[me.next_id] = time.perf_counter()
        line = f"candidate:{me.next_id} 1 udp 2122260223 192.0.2.17 50000 typ host generation 0"
        await me.client.send({"type": "candidate", "to": to, "candidate": {"candidate": line, "sdpMid": "0"}})
        await asyncio.sleep(period)


def spread(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    return f"min {ordered[0]:6.2f}  p50 {p50:6.2f}  max {ordered[-1]:6.2f} s"


async def failover(args: argparse.Namespace, work: Path, store: str, redis: Redis, ceremonies: list[Ceremony]) -> None:
    cluster = await start_cluster(work, store, redis, "failover")
    addresses = [f"127.0.0.1:{n.port}" for n in cluster.nodes]
    entries = [Haproxy(addresses, backup=frozenset({1})), Haproxy(addresses, backup=frozenset({0}))]
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    pairs: list[tuple[Watched, Watched]] = []
    tasks: list[asyncio.Task[None]] = []
    bus = aioredis.from_url(redis.url)
    try:
        for entry, wanted in zip(entries, cluster.ids, strict=True):
            await settled(entry, wanted)
        backoff = Backoff()
        for i in range(0, len(ceremonies), 25):  # under the per-address limit on sockets not yet welcomed
            batch = ceremonies[i : i + 25]
            made = await asyncio.gather(*(failover_pair(http, entries, c, backoff) for c in batch))
            pairs.extend(made)
        for host, venue in pairs:
            tasks += [asyncio.create_task(watch(host, venue)), asyncio.create_task(watch(venue, host))]
            tasks.append(asyncio.create_task(keep_sending(host, venue.client.peer_id, 1 / args.failover_rate)))
            tasks.append(asyncio.create_task(keep_sending(venue, host.client.peer_id, 1 / args.failover_rate)))
        await asyncio.sleep(2.0)
        ids = {c.id for c in ceremonies}
        keys = [k async for k in bus.scan_iter(match="*room:*:owner") if k.decode().split(":")[-2] in ids]
        owners = {text(v) for v in await bus.mget(keys) if v is not None}
        print(f"  {len(pairs)} pairs connected; {len(keys)} rooms, held by {sorted(owners)}", flush=True)
        if owners != {cluster.ids[0]}:
            print("  ! not every room is on node 1", flush=True)
        killed = time.perf_counter()
        for host, venue in pairs:
            host.killed_at = venue.killed_at = killed
        cluster.nodes[0].process.kill()
        lease_gone, balancer = await asyncio.gather(
            until_leases_lapse(bus, keys, cluster.ids[0], killed), until_balancer(http, entries[0], cluster.ids[1])
        )
        watched = [w for pair in pairs for w in pair]
        deadline = time.perf_counter() + args.failover_wait
        while time.perf_counter() < deadline:
            if all(w.welcomed_after is not None and w.delivered_after is not None for w in watched):
                break
            await asyncio.sleep(0.05)
        welcomed = [w.welcomed_after - killed for w in watched if w.welcomed_after is not None]
        delivered = [w.delivered_after - killed for w in watched if w.delivered_after is not None]
        not_resumed = sum(1 for w in watched if w.resumed is False)
        print(f"\nfail-over: {len(pairs)} pairs ({len(watched)} sockets), node 1 (every room) killed with SIGKILL")
        print(f"  floor: kill -> every room's lease lapsed in Redis   {lease_gone:6.2f} s  (lease {LEASE_SECONDS:g} s)")
        print(f"  floor: kill -> the balancer answers from node 2     {balancer:6.2f} s")
        print(f"  kill -> socket welcomed again:  {spread(welcomed)}  ({len(welcomed)}/{len(watched)} sockets,")
        print(f"      {len(welcomed) - not_resumed} with resumed=true, {not_resumed} as new sessions)")
        print(f"  kill -> first candidate sent after the kill delivered: {spread(delivered)}")
        print(f"      ({len(delivered)}/{len(watched)} directions)")
        hosts = [p[0].welcomed_after - killed for p in pairs if p[0].welcomed_after is not None]
        venues = [p[1].welcomed_after - killed for p in pairs if p[1].welcomed_after is not None]
        print(f"  hosts (were on node 1): {spread(hosts)};  venues (on node 2, carried): {spread(venues)}")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(w.client.close(leave=False) for pair in pairs for w in pair), return_exceptions=True)
        await http.close()
        await bus.aclose()
        for entry in entries:
            entry.close()
        for node in cluster.nodes:
            if node.process.poll() is None:
                node.process.kill()
                node.process.wait(10)


async def failover_pair(
    http: aiohttp.ClientSession, entries: list[Haproxy], c: Ceremony, backoff: Backoff
) -> tuple[Watched, Watched]:
    def client(entry: Haproxy, token: str, name: str) -> SignalingClient:
        return SignalingClient(f"{entry.url}/c/{c.id}/enter#{token}", name=name, http=http, backoff=backoff)

    host = client(entries[0], c.host, "bench host")
    venue = client(entries[1], c.venue, "bench venue")
    with host.subscribe() as seen:
        await host.start()
        welcome = await venue.start()
        if not welcome.admitted:
            knock = await seen.wait_for(Knocked, within=20)
            await host.admit(knock.peer.id)
    return Watched(host), Watched(venue)


async def until_leases_lapse(bus: aioredis.Redis, keys: list[bytes], dead: str, since: float) -> float:
    while True:
        values = await bus.mget(keys)
        if all(v is None or text(v) != dead for v in values):
            return time.perf_counter() - since
        await asyncio.sleep(0.01)


async def until_balancer(http: aiohttp.ClientSession, entry: Haproxy, wanted: str) -> float:
    since = time.perf_counter()
    while True:
        with contextlib.suppress(aiohttp.ClientError, KeyError, ValueError):
            if await node_id(http, entry.url) == wanted:
                return time.perf_counter() - since
        await asyncio.sleep(0.01)


# ------------------------------------------------------------------ main


async def bench(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    pg = Postgres()
    redis = Redis()
    try:
        wanted = {
            "latency": max(args.ceremonies),
            "capacity": args.active + args.idle // args.per_link,
            "failover": args.failover,
        }
        most = max(wanted[part] for part in args.parts)
        print(f"preparing {most} open ceremonies (SQLite, then copied to PostgreSQL) ...", flush=True)
        t0 = time.perf_counter()
        ceremonies, store = await ceremonies_on_postgres(work, pg, most)
        print(f"  {time.perf_counter() - t0:.0f} s")
        # This process's own full collections (~100-200 ms here once the ceremonies are made)
        # would show as relay latency: what exists now is never collected.
        gc.collect()
        gc.freeze()
        print(machine(f"aiohttp {aiohttp.__version__}"))
        print(f"load average at the start: {load_average()}")
        print(
            f"load: 2 participants per ceremony, each sending {args.rate:g} candidate msgs/s "
            f"(window {args.window}); {args.warmup:g} s warm-up + {args.seconds:g} s measured; "
            f"{args.rounds} round(s); clients offer permessage-deflate {args.compress or 'no'}\n",
            flush=True,
        )
        if "latency" in args.parts:
            print("1. relay latency, same node / cross node, beside the floors", flush=True)
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                PROFILE.update({f"latency-n{k}": args.profile / f"node{k}.prof" for k in (1, 2)})
            cluster = await start_cluster(work, store, redis, "latency")
            try:
                await latency(args, work, cluster, ceremonies)
            finally:
                cluster.stop()
            for name, path in PROFILE.items():
                print(f"\ncProfile of {name} ({path}), by internal time:")
                pstats.Stats(str(path)).sort_stats("tottime").print_stats(args.profile_lines)
            PROFILE.clear()
            print(f"load average: {load_average()}\n", flush=True)
        if "capacity" in args.parts:
            print(f"2. capacity: {args.idle} idle peers on one node, {2 * args.idle} on two, beside the floor")
            print(f"   active load meanwhile: {args.active} ceremonies ({2 * args.active} participants)", flush=True)
            cluster = await start_cluster(work, store, redis, "capacity")
            try:
                await capacity(args, work, cluster, ceremonies)
            finally:
                cluster.stop()
            print(f"load average: {load_average()}\n", flush=True)
        if "failover" in args.parts:
            print("3. fail-over", flush=True)
            await failover(args, work, store, redis, ceremonies[: args.failover])
            print(f"load average at the end: {load_average()}", flush=True)
    finally:
        redis.close()
        pg.close()
        if args.keep:
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--bare-bus", nargs=4, metavar=("PORT", "REDIS", "ME", "OTHER"), help=argparse.SUPPRESS)
    parser.add_argument("--parts", nargs="+", default=["latency", "capacity", "failover"])
    parser.add_argument("--ceremonies", type=int, nargs="+", default=[1, 25], help="relay ceremonies (latency)")
    parser.add_argument("--rate", type=float, default=40.0, help="messages/s each participant sends (limit: 50)")
    parser.add_argument(
        "--total-rate", type=float, default=0.0, help="messages/s all participants send at most (0: each sends --rate)"
    )
    parser.add_argument("--window", type=int, default=8, help="unanswered messages a participant may have")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--idle", type=int, default=2000, help="idle participants per node")
    parser.add_argument("--per-link", type=int, default=4, help="idle sockets per link (server limit: 4)")
    parser.add_argument("--active", type=int, default=10, help="active ceremonies beside the idle peers")
    parser.add_argument("--failover", type=int, default=50, help="host + venue pairs killed under")
    parser.add_argument("--failover-rate", type=float, default=10.0, help="candidates/s each fail-over client sends")
    parser.add_argument("--failover-wait", type=float, default=30.0, help="seconds to wait for every socket")
    parser.add_argument("--profile", type=Path, help="latency: run both nodes under cProfile, stats in this directory")
    parser.add_argument("--profile-lines", type=int, default=25)
    parser.add_argument("--keep", action="store_true", help="keep the working directory (the servers' logs)")
    parser.add_argument(
        "--only", nargs="+", help="latency: only the servers whose label contains one of these (e.g. cross)"
    )
    parser.add_argument("--compress", type=int, default=0, help="permessage-deflate bits clients offer (0: none)")
    args = parser.parse_args()
    if args.bare_bus:
        port, url, me, other = args.bare_bus
        run_bare_bus(int(port), url, me, other)
        return
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
