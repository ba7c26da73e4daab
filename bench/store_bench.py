"""Throughput and acknowledgement latency of the event store, beside its floor.

What is measured, all in one run and on one temporary directory:

- floor: bare SQLite inserts of rows as large as the service's, with the
  store's pragmas (WAL, synchronous=FULL) and one transaction per insert. No
  store can acknowledge a synced event faster than this on this disk.
- service, sequential: `CeremonyService.issue_link` awaited N times on one
  ceremony; each call returns only after its event is committed and synced.
- service, K clients: K tasks, each on its own ceremony, N/K calls each.
- parts of the overhead: `SqliteStore.append` alone; the floor's insert with
  synchronous=OFF (what the sync costs); the core's decide + link (RFC 8785 +
  SHA-256) + evolve without I/O; one round trip through a worker thread.

The scenarios run interleaved, in `--rounds` rounds of N/rounds operations
each, so that a disk or CPU busy with something else for a few seconds slows
the floor and the service alike instead of whichever happened to run then.

Run: .venv/bin/python -m bench.store_bench --n 2000 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ceremony.capabilities import new_invitation_id, new_token, token_hash
from ceremony.chain import GENESIS, StoredEvent, link
from ceremony.commands import IssueInvitation
from ceremony.core import decide, evolve, initial_state
from ceremony.events import CeremonyDrafted, Envelope, InvitationIssued, Role
from ceremony.runtime.local import on_disk
from ceremony.runtime.sqlite_store import SqliteStore
from ceremony.state import CeremonyState
from web.demo.definition import demo_definition
from web.settings import utc_clock

WARMUP = 20  # operations run and discarded by each scenario before measuring
CEREMONY = "0123456789abcdef"


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
        await self.batch(WARMUP, [])

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

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ceremony = ""
        self.n = 0

    async def setup(self) -> None:
        self.service = on_disk(self.directory, clock=utc_clock)
        self.ceremony = (await self.service.create(demo_definition(), "bench")).id
        await self.batch(WARMUP, [])

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

    def __init__(self, directory: Path, clients: int) -> None:
        self.name = f"service: issue_link, {clients} clients"
        self.directory = directory
        self.clients = clients
        self.ceremonies: list[str] = []

    async def setup(self) -> None:
        self.service = on_disk(self.directory, clock=utc_clock)
        for _ in range(self.clients):
            self.ceremonies.append((await self.service.create(demo_definition(), "bench")).id)
        await self.batch(WARMUP, [])

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
    """SqliteStore.append of one pre-linked row per call: the adapter with its sequence check, no asyncio."""

    name = "part: SqliteStore.append, synced"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def setup(self) -> None:
        self.store = SqliteStore(self.directory)
        drafted = Envelope(
            ceremony=CEREMONY,
            seq=1,
            at=datetime.now(UTC),
            actor="bench",
            event=CeremonyDrafted(definition=demo_definition()),
        )
        self.row = link(GENESIS, drafted)
        self.store.append(CEREMONY, [self.row])
        await self.batch(WARMUP, [])

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
        await self.batch(WARMUP, [])

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
        await self.batch(WARMUP, [])

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


async def run(n: int, clients: int, rounds: int, directory: Path) -> list[Result]:
    body_size = typical_row_size()
    print(f"rows of {body_size} bytes; N={n}; K={clients}; {rounds} interleaved rounds; in {directory}", flush=True)
    for sub in ("sequential", "concurrent", "adapter"):
        (directory / sub).mkdir()
    scenarios: list[Scenario] = [
        Floor(directory, body_size),
        Sequential(directory / "sequential"),
        Concurrent(directory / "concurrent", clients),
        Append(directory / "adapter"),
        Floor(directory, body_size, sync=False),
        Core(),
        ThreadHop(),
    ]
    results = [Result(s.name) for s in scenarios]
    try:
        for scenario in scenarios:
            await scenario.setup()
        per_round = max(1, n // rounds)
        for _ in range(rounds):
            for scenario, result in zip(scenarios, results, strict=True):
                t0 = time.perf_counter()
                result.ops += await scenario.batch(per_round, result.latencies)
                result.wall += time.perf_counter() - t0
    finally:
        for scenario in scenarios:
            await scenario.close()
    return results


def table(results: list[Result], base: Result) -> str:
    head = f"{'scenario':<40} {'ops':>6} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p50 / floor':>12}"
    lines = [head, "-" * len(head)]
    for r in results:
        ratio = r.percentile(50) / base.percentile(50)
        lines.append(
            f"{r.name:<40} {r.ops:>6} {r.rate:>9.0f} {r.percentile(50) * 1e3:>8.3f} "
            f"{r.percentile(99) * 1e3:>8.3f} {ratio:>11.2f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Event store throughput and ack latency beside bare SQLite.")
    parser.add_argument("--n", type=int, default=2000, help="operations per scenario (default 2000)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients on different ceremonies (default 8)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    parser.add_argument("--dir", type=Path, help="where to put the databases (default: a new temporary directory)")
    args = parser.parse_args(argv)
    if min(args.n, args.concurrency, args.rounds) < 1:
        parser.error("--n, --concurrency and --rounds must be positive")
    print(
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, {sys.platform}, "
        f"load average {os.getloadavg()[0]:.2f} at start",
        flush=True,
    )
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        directory = Path(tempfile.mkdtemp(prefix="store-bench-", dir=args.dir))
        results = asyncio.run(run(args.n, args.concurrency, args.rounds, directory))
    else:
        with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
            results = asyncio.run(run(args.n, args.concurrency, args.rounds, Path(tmp)))
    base, service = results[0], results[1]
    print()
    print(table(results, base))
    print()
    print(
        f"sequential service: {service.rate / base.rate:.2f}x the floor's throughput, "
        f"{service.percentile(50) / base.percentile(50):.2f}x its median latency; "
        f"load average {os.getloadavg()[0]:.2f} at the end"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
