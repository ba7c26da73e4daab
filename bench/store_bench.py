"""Throughput and acknowledgement latency of the event store, beside its floor, on SQLite and PostgreSQL.

What is measured, all in one run (SQLite on one temporary directory; PostgreSQL on a cluster the
bench starts on the same disk, or on `--pg-url`), for each engine `--store` names:

- floor: bare inserts of rows as large as the service's, one transaction per insert, synced.
  SQLite: the store's table and pragmas (WAL, synchronous=FULL). PostgreSQL: an `events`-shaped
  table, one autocommit INSERT (one round trip) with synchronous_commit=on, over one psycopg
  connection (bench/pg_store_bench.py). No store on that engine can acknowledge a synced event
  faster than this.
- service, sequential: `CeremonyService.issue_link` awaited N times on one ceremony, the service
  opened by `open_service(parse_store_url(url))` as `ceremony serve --store URL` opens it; each
  call returns only after its event is committed and synced.
- service, K clients: K tasks, each on its own ceremony, N/K calls each.
- parts of the overhead: the store's `append` alone; the floor's insert with the sync off (what
  the sync costs); and, once for both engines, the core's decide + link (RFC 8785 + SHA-256) +
  evolve without I/O and one round trip through a worker thread.

The scenarios of both engines run interleaved, in `--rounds` rounds of N/rounds operations
each, so that a disk or CPU busy with something else for a few seconds slows every floor and
service alike instead of whichever happened to run then.

Run: .venv/bin/python -m bench.store_bench --store both --n 2000 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from bench.common import machine
from ceremony.capabilities import new_invitation_id, new_token, token_hash
from ceremony.chain import GENESIS, StoredEvent, link
from ceremony.commands import IssueInvitation
from ceremony.core import decide, evolve, initial_state
from ceremony.events import CeremonyDrafted, Envelope, InvitationIssued, Role
from ceremony.runtime.sqlite_store import DB_NAME, SqliteStore
from ceremony.runtime.store import EventStore
from ceremony.runtime.stores import StoreUrl, open_service, parse_store_url
from ceremony.state import CeremonyState
from web.demo.definition import demo_definition
from web.settings import utc_clock

WARMUP = 20  # operations run and discarded by each scenario before measuring
CEREMONY = "0123456789abcdef"
ENGINES = {"sqlite": ("sqlite",), "postgresql": ("postgresql",), "both": ("sqlite", "postgresql")}


@dataclass(slots=True)
class Result:
    name: str
    ops: int = 0
    wall: float = 0.0  # seconds spent in measured batches
    latencies: list[float] = field(default_factory=list)  # seconds, one per operation

    @property
    def rate(self) -> float:
        return self.ops / self.wall

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index]


class Scenario(Protocol):
    name: str

    async def setup(self) -> None: ...

    async def batch(self, count: int, latencies: list[float]) -> int:
        """Run about `count` operations, appending each one's latency; return how many ran."""

    async def close(self) -> None: ...


def _invitation(seq: int) -> InvitationIssued:
    return InvitationIssued(
        invitation=new_invitation_id(), role=Role.OBSERVER, token_sha256=token_hash(new_token()), label=f"bench {seq}"
    )


def typical_row_size() -> int:
    """Bytes of the canonical body of one invitation.issued event, as the service writes it."""
    envelope = Envelope(
        ceremony=CEREMONY, seq=1234, at=datetime.now(UTC), actor="host:inv-0123456789ab", event=_invitation(1234)
    )
    return len(link(GENESIS, envelope).body)


# ---- the floor ----


class Floor:
    """Bare SQLite: one INSERT per transaction, the store's table and pragmas, nothing else."""

    def __init__(self, directory: Path, body_size: int, *, sync: bool = True) -> None:
        self.name = "floor: bare SQLite insert, 1 tx each" if sync else "part: the same insert, synchronous=OFF"
        self.db = sqlite3.connect(directory / f"floor-{'full' if sync else 'off'}.sqlite3", isolation_level=None)
        self.sync = sync
        self.body, self.digest = os.urandom(body_size), os.urandom(32)
        self.seq = 0

    async def setup(self) -> None:
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if self.sync else 'OFF'}")
        self.db.execute(
            "CREATE TABLE events (ceremony TEXT NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL,"
            " prev_hash BLOB NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (ceremony, seq)) WITHOUT ROWID"
        )

    async def batch(self, count: int, latencies: list[float]) -> int:
        for _ in range(count):
            self.seq += 1
            t0 = time.perf_counter()
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "INSERT INTO events (ceremony, seq, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?)",
                (CEREMONY, self.seq, self.body, self.digest, self.digest),
            )
            self.db.execute("COMMIT")
            latencies.append(time.perf_counter() - t0)
        return count

    async def close(self) -> None:
        self.db.close()


# ---- the service ----


class Sequential:
    """One client awaiting `issue_link` on one ceremony, over and over."""

    name = "service: issue_link, sequential"

    def __init__(self, url: StoreUrl) -> None:
        self.url = url
        self.ceremony = ""
        self.n = 0

    async def setup(self) -> None:
        self.service = open_service(self.url, clock=utc_clock)[0]
        self.ceremony = (await self.service.create(demo_definition(), "bench")).id

    async def batch(self, count: int, latencies: list[float]) -> int:
        for _ in range(count):
            self.n += 1
            t0 = time.perf_counter()
            await self.service.issue_link(self.ceremony, Role.OBSERVER, "bench", label=f"bench {self.n}")
            latencies.append(time.perf_counter() - t0)
        return count

    async def close(self) -> None:
        await self.service.close()


class Concurrent:
    """K clients at once, each awaiting `issue_link` on its own ceremony."""

    def __init__(self, url: StoreUrl, clients: int) -> None:
        self.name = f"service: issue_link, {clients} clients"
        self.url = url
        self.clients = clients
        self.ceremonies: list[str] = []

    async def setup(self) -> None:
        self.service = open_service(self.url, clock=utc_clock)[0]
        for _ in range(self.clients):
            self.ceremonies.append((await self.service.create(demo_definition(), "bench")).id)

    async def batch(self, count: int, latencies: list[float]) -> int:
        each = max(1, count // self.clients)

        async def client(ceremony: str) -> None:
            for i in range(each):
                t0 = time.perf_counter()
                await self.service.issue_link(ceremony, Role.OBSERVER, "bench", label=f"bench {i}")
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(client(c) for c in self.ceremonies))
        return each * self.clients

    async def close(self) -> None:
        await self.service.close()


# ---- parts of the overhead ----


class Append:
    """The store's append of one pre-linked row per call: the adapter with its sequence check, no asyncio."""

    def __init__(self, name: str, open_store: Callable[[], EventStore]) -> None:
        self.name = name
        self.open_store = open_store

    async def setup(self) -> None:
        self.store = self.open_store()
        drafted = Envelope(
            ceremony=CEREMONY,
            seq=1,
            at=datetime.now(UTC),
            actor="bench",
            event=CeremonyDrafted(definition=demo_definition()),
        )
        self.row = link(GENESIS, drafted)
        self.store.append(CEREMONY, [self.row])

    async def batch(self, count: int, latencies: list[float]) -> int:
        rows: list[StoredEvent] = []
        for _ in range(count):  # linked before timing: this measures the store only
            seq = self.row.seq + 1
            self.row = link(
                self.row.hash,
                Envelope(ceremony=CEREMONY, seq=seq, at=datetime.now(UTC), actor="bench", event=_invitation(seq)),
            )
            rows.append(self.row)
        for row in rows:
            t0 = time.perf_counter()
            self.store.append(CEREMONY, [row])
            latencies.append(time.perf_counter() - t0)
        return count

    async def close(self) -> None:
        self.store.close()


class Core:
    """decide + link + evolve for one invitation, as the service does it, without the store."""

    name = "part: core decide+link+evolve"

    async def setup(self) -> None:
        drafted = Envelope(
            ceremony=CEREMONY,
            seq=1,
            at=datetime.now(UTC),
            actor="bench",
            event=CeremonyDrafted(definition=demo_definition()),
        )
        self.state: CeremonyState = initial_state(drafted)
        self.head = link(GENESIS, drafted).hash

    async def batch(self, count: int, latencies: list[float]) -> int:
        for i in range(count):
            t0 = time.perf_counter()
            command = IssueInvitation(
                invitation=new_invitation_id(),
                role=Role.OBSERVER,
                token_sha256=token_hash(new_token()),
                label=f"bench {i}",
            )
            now = datetime.now(UTC)
            (event,) = decide(self.state, command, now=now)
            envelope = Envelope(ceremony=self.state.id, seq=self.state.seq + 1, at=now, actor="bench", event=event)
            self.head = link(self.head, envelope).hash
            self.state = evolve(self.state, envelope)
            latencies.append(time.perf_counter() - t0)
        return count

    async def close(self) -> None:
        pass


class ThreadHop:
    """One round trip through a single worker thread, as every append makes."""

    name = "part: worker-thread round trip"

    async def setup(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1)

    async def batch(self, count: int, latencies: list[float]) -> int:
        loop = asyncio.get_running_loop()
        for _ in range(count):
            t0 = time.perf_counter()
            await loop.run_in_executor(self.pool, int)
            latencies.append(time.perf_counter() - t0)
        return count

    async def close(self) -> None:
        self.pool.shutdown(wait=True)


# ---- running and reporting ----


@dataclass(slots=True)
class Entry:
    scenario: Scenario
    engine: str  # "sqlite" or "postgresql"; "" for the parts that touch no store
    result: Result = field(init=False)

    def __post_init__(self) -> None:
        self.result = Result(self.scenario.name)


def sqlite_entries(directory: Path, body_size: int, clients: int) -> list[Entry]:
    for sub in ("sequential", "concurrent", "adapter"):
        (directory / sub).mkdir()
    return [
        Entry(Floor(directory, body_size), "sqlite"),
        Entry(Sequential(parse_store_url(f"sqlite:///{directory / 'sequential' / DB_NAME}")), "sqlite"),
        Entry(Concurrent(parse_store_url(f"sqlite:///{directory / 'concurrent' / DB_NAME}"), clients), "sqlite"),
        Entry(Append("part: SqliteStore.append, synced", lambda: SqliteStore(directory / "adapter")), "sqlite"),
        Entry(Floor(directory, body_size, sync=False), "sqlite"),
    ]


def postgres_entries(stack: ExitStack, server_url: str | None, body_size: int, clients: int) -> list[Entry]:
    """Our own cluster unless `server_url` names one; a new database per scenario, dropped at the end."""
    # Imported here: a SQLite-only run needs neither the driver nor a server.
    from bench.pg_store_bench import Databases, PgFloor, RoundTrip
    from ceremony.runtime.postgres_store import PostgresLink, PostgresStore
    from tests.engines import Postgres  # the tests' throwaway cluster: fsync and synchronous commit on

    if server_url is None:
        cluster = Postgres()
        stack.callback(cluster.close)
        server_url = cluster.server_url
    databases = Databases(server_url)
    stack.callback(databases.close)
    print(databases.describe(), flush=True)
    adapter = databases.new()
    return [
        Entry(PgFloor(databases.new(), body_size), "postgresql"),
        Entry(Sequential(parse_store_url(databases.new())), "postgresql"),
        Entry(Concurrent(parse_store_url(databases.new()), clients), "postgresql"),
        Entry(Append("part: PostgresStore.append, synced", lambda: PostgresStore(PostgresLink(adapter))), "postgresql"),
        Entry(PgFloor(databases.new(), body_size, sync=False), "postgresql"),
        Entry(RoundTrip(adapter), "postgresql"),
    ]


async def run(entries: list[Entry], n: int, rounds: int) -> None:
    ready: list[Scenario] = []
    try:
        for entry in entries:
            await entry.scenario.setup()
            ready.append(entry.scenario)
            await entry.scenario.batch(WARMUP, [])
        per_round = max(1, n // rounds)
        for _ in range(rounds):
            for entry in entries:
                t0 = time.perf_counter()
                entry.result.ops += await entry.scenario.batch(per_round, entry.result.latencies)
                entry.result.wall += time.perf_counter() - t0
    finally:
        for scenario in reversed(ready):
            await scenario.close()


def floors(entries: list[Entry]) -> dict[str, Result]:
    """Each engine's floor (its first entry); the store-less parts are set beside the first engine's."""
    found: dict[str, Result] = {}
    for entry in entries:
        found.setdefault(entry.engine, entry.result)
    found[""] = next(iter(found.values()))
    return found


def table(entries: list[Entry]) -> str:
    base = floors(entries)
    head = (
        f"{'scenario':<42} {'ops':>6} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ms/op':>7}"
        f" {'p50/floor':>10} {'ms/op/floor':>12}"
    )
    lines = [head]
    engine = None
    for entry in entries:
        if entry.engine != engine:
            engine = entry.engine
            title = engine or "no store (ratios against the first floor)"
            lines.append(f"-- {title} " + "-" * (len(head) - len(title) - 4))
        r, floor = entry.result, base[entry.engine]
        lines.append(
            f"{r.name:<42} {r.ops:>6} {r.rate:>8.0f} {r.percentile(50) * 1e3:>8.3f} {r.percentile(99) * 1e3:>8.3f}"
            f" {1e3 / r.rate:>7.3f} {r.percentile(50) / floor.percentile(50):>9.2f}x {floor.rate / r.rate:>11.2f}x"
        )
    return "\n".join(lines)


def concurrent_label(result: Result) -> str:
    return result.name.rsplit(", ", 1)[1]  # "8 clients"


def summary(entries: list[Entry]) -> list[str]:
    """Per engine: the service beside its floor; then the engines beside each other."""
    by_engine: dict[str, list[Result]] = {}
    for entry in entries:
        if entry.engine:
            by_engine.setdefault(entry.engine, []).append(entry.result)
    lines = []
    for engine, (floor, sequential, concurrent, *_) in by_engine.items():
        lines.append(
            f"{engine}: sequential service {sequential.rate / floor.rate:.2f}x the floor's throughput"
            f" ({sequential.percentile(50) / floor.percentile(50):.2f}x its median latency);"
            f" {concurrent_label(concurrent)}: {concurrent.rate / floor.rate:.2f}x its throughput,"
            f" {floor.rate / concurrent.rate:.2f}x its time per acknowledged command"
        )
    if len(by_engine) == 2:
        sqlite, pg = by_engine["sqlite"], by_engine["postgresql"]
        labels = ("floor", "sequential service", concurrent_label(sqlite[2]))
        ratios = (f"{label} {b.rate / a.rate:.2f}x" for label, a, b in zip(labels, sqlite, pg[:3], strict=False))
        lines.append("postgresql / sqlite throughput: " + ", ".join(ratios))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Event store throughput and ack latency beside bare synced inserts.")
    parser.add_argument("--store", choices=sorted(ENGINES), default="sqlite", help="engine(s) to measure")
    parser.add_argument("--n", type=int, default=2000, help="operations per scenario (default 2000)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients on different ceremonies (default 8)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    parser.add_argument(
        "--dir", type=Path, help="where to put the SQLite databases (default: a new temporary directory)"
    )
    parser.add_argument(
        "--pg-url",
        help="a PostgreSQL server to measure (postgresql://user@host:port/db, allowed to CREATE DATABASE);"
        " default: a cluster of our own, started and stopped here",
    )
    args = parser.parse_args(argv)
    if min(args.n, args.concurrency, args.rounds) < 1:
        parser.error("--n, --concurrency and --rounds must be positive")
    engines = ENGINES[args.store]
    print(machine(f"SQLite {sqlite3.sqlite_version}"), flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
    body_size = typical_row_size()
    with ExitStack() as stack:
        if args.dir is not None:  # kept afterwards, to be looked at
            args.dir.mkdir(parents=True, exist_ok=True)
            directory = Path(tempfile.mkdtemp(prefix="store-bench-", dir=args.dir))
        else:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="store-bench-")))
        entries: list[Entry] = []
        if "sqlite" in engines:
            entries += sqlite_entries(directory, body_size, args.concurrency)
        if "postgresql" in engines:
            entries += postgres_entries(stack, args.pg_url, body_size, args.concurrency)
        entries += [Entry(Core(), ""), Entry(ThreadHop(), "")]
        print(
            f"rows of {body_size} bytes; N={args.n}; K={args.concurrency}; {args.rounds} interleaved rounds"
            + (f"; SQLite in {directory}" if "sqlite" in engines else ""),
            flush=True,
        )
        started = time.perf_counter()
        asyncio.run(run(entries, args.n, args.rounds))
        elapsed = time.perf_counter() - started
    print()
    print(table(entries))
    print()
    for line in summary(entries):
        print(line)
    print(f"measured in {elapsed:.0f} s; load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
