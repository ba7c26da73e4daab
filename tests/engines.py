"""Real database engines for the tests, started from Debian's packages on free loopback ports.

A `Postgres` is one cluster (initdb in a temporary directory, pg_ctl start on 127.0.0.1),
made once per test session; each test gets its own database in it (`new_database`), so tests
share the cluster's start-up cost and nothing else. PostgreSQL refuses to run as root, so
as root (CI) the cluster belongs to Debian's `postgres` user and its commands run as that user.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from ceremony.chain import verify_chain
from ceremony.commands import Freeze, OpenRooms, StartSegment
from ceremony.events import Role
from ceremony.runtime.service import CeremonyService, Clock
from ceremony.runtime.sqlite_store import DB_NAME
from ceremony.runtime.stores import Backing, open_backing, open_service, parse_store_url
from tests.helpers import free_port
from web.demo.definition import demo_definition
from web.settings import utc_clock


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"{name} not found: install Debian's postgresql (make setup does)")
    return found


class Postgres:
    """One throwaway PostgreSQL cluster on 127.0.0.1:`port`, with fsync and synchronous commit on (as deployed)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ceremony-pg-"))
        self.data = self.root / "cluster"
        self.port = free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._run(
            _pg_bin("initdb"), "-D", str(self.data), "-U", "ceremony", "--auth=trust", "-E", "UTF8", "--no-locale"
        )
        self.start()

    @property
    def server_url(self) -> str:
        return f"postgresql://ceremony@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://ceremony@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> str:
        done = subprocess.run([*self._as_user, *argv], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=on -c synchronous_commit=on"
        self._run(
            _pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends sessions and shuts down cleanly; `immediate` is a crash (recovery at the next start)."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def psql(self, database: str, sql: str) -> str:
        """`sql` through Debian's psql client (a tool outside our code, as an operator or attacker would use)."""
        return self._run("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.url(database), "-c", sql)

    def new_database(self) -> str:
        """A new empty database's URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.psql("postgres", f"CREATE DATABASE {name}")
        return self.url(name)

    def close(self) -> None:
        with suppress(RuntimeError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class StoreBackend:
    """One event store under test: SQLite in the data directory, or a fresh PostgreSQL database.

    The node's data directory (PKI, media) is `data` either way. Tampering goes through the
    engine's own tools (sqlite3, psql) as someone with the database's credentials would.
    """

    kind: str  # "sqlite" | "postgresql"
    data: Path
    url: str
    postgres: Postgres | None = None

    @property
    def store_args(self) -> list[str]:
        return [] if self.postgres is None else ["--store", self.url]

    @property
    def args(self) -> list[str]:
        """The command-line options that name this store (`ceremony serve`, `log verify`, `invite`)."""
        return ["--data", str(self.data), *self.store_args]

    def service(self, clock: Clock) -> CeremonyService:
        return open_service(parse_store_url(self.url), clock=clock)[0]

    def backing(self) -> Backing:
        return open_backing(parse_store_url(self.url))

    def sql(self, statement: str) -> str:
        """Run `statement` with the engine's own client, with the append-only triggers out of the way."""
        if self.postgres is None:
            db = sqlite3.connect(self.data / DB_NAME)
            try:
                db.execute("DROP TRIGGER IF EXISTS events_no_update")
                db.execute("DROP TRIGGER IF EXISTS events_no_delete")
                cursor = db.execute(statement)
                assert cursor.rowcount == 1, statement
                db.commit()
            finally:
                db.close()
            return ""
        database = self.url.rsplit("/", 1)[1]
        return self.postgres.psql(database, f"ALTER TABLE events DISABLE TRIGGER USER; {statement}")

    def careless(self, statement: str) -> str:
        """Run `statement` as is (triggers in place); the engine's error text if it refused."""
        if self.postgres is None:
            db = sqlite3.connect(self.data / DB_NAME)
            try:
                db.execute(statement)
                db.commit()
            except sqlite3.DatabaseError as exc:
                return str(exc)
            finally:
                db.close()
            return ""
        try:
            self.postgres.psql(self.url.rsplit("/", 1)[1], statement)
        except RuntimeError as exc:
            return str(exc)
        return ""

    def alter_body(self, ceremony: str, seq: int, old: str, new: str) -> None:
        """Replace text inside one event's canonical JSON (same length: only the hash can tell)."""
        if self.postgres is None:
            self.sql(
                f"UPDATE events SET body = CAST(replace(CAST(body AS TEXT), '{old}', '{new}') AS BLOB)"
                f" WHERE ceremony = '{ceremony}' AND seq = {seq}"
            )
        else:
            self.sql(
                f"UPDATE events SET body = convert_to(replace(convert_from(body, 'UTF8'), '{old}', '{new}'), 'UTF8')"
                f" WHERE ceremony = '{ceremony}' AND seq = {seq}"
            )

    def delete_event(self, ceremony: str, seq: int) -> None:
        self.sql(f"DELETE FROM events WHERE ceremony = '{ceremony}' AND seq = {seq}")


class Redis:
    """A throwaway redis-server (Debian's) on 127.0.0.1:`port`, no persistence; `restart` keeps the port."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ceremony-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
                "--logfile",
                str(self.root / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class Haproxy:
    """Debian's haproxy in front of `nodes` ("127.0.0.1:PORT"), checking each on GET /healthz.

    Health checks every 500 ms take a node out after two failures (a dead one, or one whose store
    or bus is away and answers 503) and back after one success. Timeouts suit WebSockets: a tunnel
    (an upgraded socket) may stay idle for an hour; requests and connects fail fast.
    """

    def __init__(self, nodes: list[str], *, balance: str = "roundrobin", backup: frozenset[int] = frozenset()) -> None:
        """`backup`: the nodes (by index) that take traffic only while every other one is down, as
        a hall's own entry point sends it to its nearest node and to the far one only in need."""
        self.root = Path(tempfile.mkdtemp(prefix="ceremony-haproxy-"))
        self.port = free_port()
        servers = "\n".join(
            f"    server n{k} {address} check inter 500ms fall 2 rise 1{' backup' if k - 1 in backup else ''}"
            for k, address in enumerate(nodes, 1)
        )
        self.config = self.root / "haproxy.cfg"
        self.config.write_text(
            f"""global
    maxconn 4096

defaults
    mode http
    option redispatch
    retries 3
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout http-request 10s

frontend ceremony
    bind 127.0.0.1:{self.port}
    default_backend nodes

backend nodes
    balance {balance}
    option httpchk GET /healthz
    http-check expect status 200
{servers}
"""
        )
        self.log = self.root / "haproxy.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                ["/usr/sbin/haproxy", "-f", str(self.config), "-db"], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited: {self.log.read_text(errors='replace')}")
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.05)
        self.close()
        raise RuntimeError(f"haproxy did not listen on port {self.port}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class SharedCeremony:
    """A ceremony several nodes serve: its id, who holds which link (name -> token), its signatories."""

    ceremony: str
    tokens: dict[str, str]
    signatories: list[str]


async def signing_ceremony(
    store: str, pdf: bytes, *, signatories: int, halls: bool = False, recording: bool = False
) -> SharedCeremony:
    """The demo ceremony in a shared store, frozen over `pdf`, open, in its signing segment; links
    for the host, an archivist, the first `signatories` signatories and (with `halls`) both halls.
    Unrecorded unless asked: two CPUs run the nodes and the engines already."""
    service, backing = open_service(parse_store_url(store), clock=utc_clock)
    await service.start()
    try:
        definition = dataclasses.replace(demo_definition(), recording=recording)
        state = await service.create(definition, "operator")
        sha = await service.store_document(pdf)
        await service.execute(state.id, Freeze(document_sha256=sha, document_size=len(pdf)), "test")
        await service.execute(state.id, OpenRooms(), "test")
        await service.execute(state.id, StartSegment(segment="signing"), "test")
        tokens = {
            "host": (await service.issue_link(state.id, Role.HOST, "t")).token,
            "archivist": (await service.issue_link(state.id, Role.ARCHIVIST, "t")).token,
        }
        for hall in ("chuncheon", "nanjing") if halls else ():
            tokens[hall] = (await service.issue_link(state.id, Role.VENUE, "t", venue=hall)).token
        chosen = [s.id for s in definition.signatories[:signatories]]
        for signatory in chosen:
            tokens[signatory] = (await service.issue_link(state.id, Role.SIGNATORY, "t", signatory=signatory)).token
    finally:
        await service.close()
        backing.close()
    return SharedCeremony(state.id, tokens, chosen)


def store_heads(backend: StoreBackend) -> dict[str, tuple[int, bytes]]:
    """(length, head) of every chain in the store, read with a fresh connection."""
    store = backend.backing().store
    try:
        reports = {c: verify_chain(c, store.read(c)) for c in store.ceremonies()}
    finally:
        store.close()
    assert all(r.ok for r in reports.values()), reports
    return {c: (r.length, r.head) for c, r in reports.items()}
