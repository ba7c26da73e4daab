"""The PostgreSQL half of `bench.store_bench`: a server to measure on, and its floor.

Run through `.venv/bin/python -m bench.store_bench --store postgresql` (or `both`). By default
the bench makes its own cluster with Debian's initdb and pg_ctl (the tests' `tests.engines.Postgres`),
on a free loopback port in a temporary directory on the same disk as the SQLite databases, with
fsync and synchronous commit on, as deployed; `--pg-url` measures an existing server instead.
Either way every scenario gets a database of its own, dropped at the end.

The floor is what no PostgreSQL store can beat on this server: one INSERT of a row as large as
the service's into a table shaped like `events` (no triggers), sent alone in autocommit mode, so
it is one round trip and one transaction whose commit is flushed to the WAL before the server
answers; over one psycopg connection, the driver the store uses.
"""

from __future__ import annotations

import os
import time
import uuid
from urllib.parse import urlsplit

import psycopg

FLOOR_CEREMONY = "fedcba9876543210"


class Databases:
    """Fresh databases on the server `server_url` names (any database there to connect to); dropped by close."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.made: list[str] = []

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.server_url, autocommit=True)  # CREATE DATABASE refuses a transaction

    def new(self) -> str:
        name = f"store_bench_{uuid.uuid4().hex[:12]}"
        with self._admin() as conn:
            conn.execute(f"CREATE DATABASE {name}".encode())
        self.made.append(name)
        return urlsplit(self.server_url)._replace(path=f"/{name}").geturl()

    def describe(self) -> str:
        """The server's version and the settings that decide what a commit costs."""
        names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes")
        with self._admin() as conn:
            shown = {name: _show(conn, name) for name in names}
        version = shown.pop("server_version").split()[0]
        settings = ", ".join(f"{k}={v}" for k, v in shown.items())
        return f"PostgreSQL {version} ({settings}), psycopg {psycopg.__version__}"

    def close(self) -> None:
        with self._admin() as conn:
            for name in self.made:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


def _show(conn: psycopg.Connection[tuple[object, ...]], setting: str) -> str:
    row = conn.execute(f"SHOW {setting}".encode()).fetchone()
    return "?" if row is None else str(row[0])


class PgFloor:
    """Bare PostgreSQL: one autocommit INSERT per transaction into an `events`-shaped table, nothing else."""

    def __init__(self, url: str, body_size: int, *, sync: bool = True) -> None:
        self.name = "floor: bare PostgreSQL insert, 1 tx each" if sync else "part: the same insert, sync commit off"
        self.url = url
        self.sync = sync
        self.body, self.digest = os.urandom(body_size), os.urandom(32)
        self.seq = 0

    async def setup(self) -> None:
        commit = "on" if self.sync else "off"
        self.conn = psycopg.connect(self.url, autocommit=True, options=f"-c synchronous_commit={commit}")
        self.conn.execute(
            "CREATE TABLE events (ceremony text NOT NULL, seq bigint NOT NULL, body bytea NOT NULL,"
            " prev_hash bytea NOT NULL, hash bytea NOT NULL, PRIMARY KEY (ceremony, seq))"
        )

    async def batch(self, count: int, latencies: list[float]) -> int:
        for _ in range(count):
            self.seq += 1
            t0 = time.perf_counter()
            self.conn.execute(
                "INSERT INTO events (ceremony, seq, body, prev_hash, hash) VALUES (%s, %s, %s, %s, %s)",
                (FLOOR_CEREMONY, self.seq, self.body, self.digest, self.digest),
            )
            latencies.append(time.perf_counter() - t0)
        return count

    async def close(self) -> None:
        self.conn.close()


class RoundTrip:
    """`SELECT 1` over the same kind of connection: what each extra statement of a transaction costs."""

    name = "part: one round trip (SELECT 1)"

    def __init__(self, url: str) -> None:
        self.url = url

    async def setup(self) -> None:
        self.conn = psycopg.connect(self.url, autocommit=True)

    async def batch(self, count: int, latencies: list[float]) -> int:
        for _ in range(count):
            t0 = time.perf_counter()
            self.conn.execute("SELECT 1").fetchone()
            latencies.append(time.perf_counter() - t0)
        return count

    async def close(self) -> None:
        self.conn.close()
