"""The durable event log on real SQLite files, and the real server around it.

(a) a restart replays to an identical state; (b) `ceremony log verify` names the
first broken link of a tampered file, and replay refuses a broken chain; (c) a
SIGKILLed server loses no acknowledged command; (d) `ceremony invite` from the
CLI works against a running server; (e) file modes.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ceremony.chain import verify_chain
from ceremony.commands import NEXT_SEGMENT, OpenRooms, ReviseDefinition, RevokeInvitation, StartSegment
from ceremony.errors import CorruptLog, SequenceConflict
from ceremony.events import Role
from ceremony.model import CeremonyDefinition, LocalizedText
from ceremony.runtime.local import on_disk
from ceremony.runtime.service import CeremonyService
from ceremony.runtime.sqlite_store import DB_NAME
from ceremony.runtime.store import Session
from tests.engines import StoreBackend, store_heads
from tests.helpers import ROOT, Server, start_server
from web.demo.definition import demo_definition
from web.settings import utc_clock

TIMEOUT = aiohttp.ClientTimeout(total=30)


class SteppingClock:
    """A clock that advances one second per reading, so every event has a distinct, known time."""

    def __init__(self) -> None:
        self.now = datetime(2020, 5, 29, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def fake_pdf(definition: CeremonyDefinition, ceremony: str) -> bytes:
    return b"%PDF-1.7\n% not a real original, only bytes to hash\n" + ceremony.encode() + definition.title.en.encode()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


async def run_cli_async(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "web.cli",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
def store_server(backend: StoreBackend) -> Iterator[Server]:
    """`ceremony serve` on the store under test."""
    server = start_server(backend.data, *backend.store_args)
    try:
        yield server
    finally:
        server.stop()


# ---- (a) restart ----


async def _run_a_ceremony(service: CeremonyService) -> str:
    state = await service.create(demo_definition(), "operator")
    cid = state.id
    await service.issue_link(cid, Role.HOST, "operator", label="host")
    observer = await service.issue_link(cid, Role.OBSERVER, "host", label="press")
    d = demo_definition()
    revised = type(d)(
        title=LocalizedText(ko=d.title.ko, zh=d.title.zh, en=d.title.en + " (revised)"),
        schedule=d.schedule,
        venues=d.venues,
        parties=d.parties,
        signatories=d.signatories,
        run_of_show=d.run_of_show,
        document=d.document,
    )
    await service.execute(cid, ReviseDefinition(definition=revised), "host")
    await service.freeze(cid, "host", fake_pdf)
    await service.execute(cid, OpenRooms(), "host")
    await service.issue_link(cid, Role.VENUE, "host", venue="nanjing", label="Nanjing screen")
    await service.issue_link(cid, Role.SIGNATORY, "host", signatory="gangwon-governor", label="governor")
    for _ in range(3):
        await service.execute(cid, StartSegment(segment=NEXT_SEGMENT), "host")
    await service.execute(cid, RevokeInvitation(invitation=observer.invitation), "host")
    return cid


async def test_a_restart_replays_to_an_identical_state(backend: StoreBackend) -> None:
    first = backend.service(SteppingClock())
    cid = await _run_a_ceremony(first)
    other = await first.create(demo_definition(), "operator")  # a second chain in the same file
    before = first.get(cid)
    head = first.head(cid)
    history = await first.history(cid)
    await first.close()

    assert before.phase.value == "signing"
    assert before.segment == "signing"
    assert before.seq == 12
    assert before.definition.title.en.endswith("(revised)")

    second = backend.service(utc_clock)  # a new process would do exactly this at start-up
    try:
        after = second.get(cid)
        assert after.phase is before.phase
        assert after.segment == before.segment
        assert after.seq == before.seq
        assert dict(after.invitations) == dict(before.invitations)
        assert after.document_sha256 == before.document_sha256
        assert after == before
        assert second.head(cid) == head
        assert await second.history(cid) == history
        assert [s.id for s in second.ceremonies()] == [cid, other.id]
        # The replayed service continues the same chain.
        issued = await second.issue_link(cid, Role.ARCHIVIST, "host")
        assert issued.envelope.seq == before.seq + 1
        assert await second.document(before.document_sha256 or "") == fake_pdf(before.definition, cid)
    finally:
        await second.close()
    length, _ = store_heads(backend)[cid]
    assert length == before.seq + 1


async def test_two_writers_on_one_store_never_conflict_for_the_caller(backend: StoreBackend) -> None:
    """Like `ceremony invite` beside a server, or two nodes: the stale writer catches up and decides again."""
    a = backend.service(utc_clock)
    cid = (await a.create(demo_definition(), "operator")).id
    b = backend.service(utc_clock)
    try:
        first = await a.issue_link(cid, Role.OBSERVER, "a", label="from a")
        second = await b.issue_link(cid, Role.OBSERVER, "b", label="from b")  # b still believes seq is 1
        assert (first.envelope.seq, second.envelope.seq) == (2, 3)
        third = await a.issue_link(cid, Role.OBSERVER, "a", label="from a again")
        assert third.envelope.seq == 4
        await b.catch_up()
        assert a.get(cid) == b.get(cid)
        assert a.head(cid) == b.head(cid)
    finally:
        await a.close()
        await b.close()
    assert store_heads(backend)[cid] == (4, a.head(cid))


async def test_sessions_outlive_a_restart_and_a_sign_out_in_another_process_reaches_the_server(
    backend: StoreBackend,
) -> None:
    """Browser sessions live beside the log (not in it): kept across restarts, revoked for every process."""
    clock = SteppingClock()
    first = backend.service(clock)
    cid = (await first.create(demo_definition(), "operator")).id
    host = await first.issue_link(cid, Role.HOST, "operator")
    until = clock.now + timedelta(hours=12)
    kept = await first.open_session(until, ceremony=cid, invitation=host.invitation)
    ended = await first.open_session(until, ceremony=cid, invitation=host.invitation)
    operator = await first.open_session(until, operator_token_sha256="ab" * 32)
    digest = {name: hashlib.sha256(value.encode()).hexdigest() for name, value in [("kept", kept), ("ended", ended)]}
    assert await first.revoke_sessions([digest["ended"]]) == 1
    seq = first.get(cid).seq
    await first.close()

    second = backend.service(clock)  # a restart
    other = backend.service(clock)  # and another process on the same store (the CLI, another node)
    try:
        session = second.session(digest["kept"])
        assert session is not None and (session.ceremony, session.invitation) == (cid, host.invitation)
        assert session.expires_at == until
        assert second.session(digest["ended"]) is None
        assert second.session(hashlib.sha256(operator.encode()).hexdigest()) is not None
        assert second.get(cid).seq == seq  # no event was logged for any of it
        assert await other.revoke_sessions([digest["kept"]]) == 1
        await second.catch_up()
        assert second.session(digest["kept"]) is None
        clock.now = until  # and a live one ends at its expiry, by the service's clock
        assert second.session(hashlib.sha256(operator.encode()).hexdigest()) is None
    finally:
        await second.close()
        await other.close()


# ---- (b) tampering ----


async def _tamper_fixture(backend: StoreBackend) -> tuple[str, str]:
    """Two ceremonies; the first has five events, the third an observer link labelled 'press pool'."""
    service = backend.service(utc_clock)
    try:
        cid = (await service.create(demo_definition(), "operator")).id
        await service.issue_link(cid, Role.HOST, "operator", label="host")
        await service.issue_link(cid, Role.OBSERVER, "host", label="press pool")
        await service.issue_link(cid, Role.OBSERVER, "host", label="officials")
        await service.issue_link(cid, Role.ARCHIVIST, "host", label="archive")
        other = (await service.create(demo_definition(), "operator")).id
        await service.issue_link(other, Role.HOST, "operator", label="host")
    finally:
        await service.close()
    return cid, other


async def test_log_verify_passes_on_an_untouched_store(backend: StoreBackend) -> None:
    cid, other = await _tamper_fixture(backend)
    result = run_cli("log", "verify", *backend.args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok      {cid}  5 events" in result.stdout
    assert f"ok      {other}  2 events" in result.stdout
    assert "BROKEN" not in result.stdout


async def test_log_verify_names_an_altered_event(backend: StoreBackend) -> None:
    cid, other = await _tamper_fixture(backend)
    backend.alter_body(cid, 3, "press pool", "press poll")
    result = run_cli("log", "verify", *backend.args)
    assert result.returncode == 1, result.stdout + result.stderr
    (broken,) = [line for line in result.stdout.splitlines() if "BROKEN" in line]
    assert cid in broken
    assert "event 3" in broken
    assert "altered" in broken
    assert f"ok      {other}" in result.stdout  # the other chain is judged on its own


async def test_log_verify_names_a_deleted_event_as_a_gap(backend: StoreBackend) -> None:
    cid, _ = await _tamper_fixture(backend)
    backend.delete_event(cid, 2)
    result = run_cli("log", "verify", *backend.args)
    assert result.returncode == 1, result.stdout + result.stderr
    (broken,) = [line for line in result.stdout.splitlines() if "BROKEN" in line]
    assert cid in broken
    assert "event 2" in broken
    assert "sequence gap" in broken


async def test_the_append_only_triggers_stop_a_careless_update(backend: StoreBackend) -> None:
    cid, _ = await _tamper_fixture(backend)
    assert "append-only" in backend.careless(f"UPDATE events SET body = body || body WHERE ceremony = '{cid}'")
    assert "append-only" in backend.careless(f"DELETE FROM events WHERE ceremony = '{cid}'")
    if backend.kind == "postgresql":
        assert "append-only" in backend.careless("TRUNCATE events")
    assert store_heads(backend)[cid][0] == 5


async def test_replay_refuses_a_chain_with_a_deleted_event(backend: StoreBackend) -> None:
    cid, _ = await _tamper_fixture(backend)
    backend.delete_event(cid, 2)
    with pytest.raises(CorruptLog, match=f"ceremony {cid} event 3"):
        backend.service(utc_clock)


async def test_replay_refuses_a_chain_with_an_altered_event(backend: StoreBackend) -> None:
    cid, _ = await _tamper_fixture(backend)
    backend.alter_body(cid, 3, "press pool", "press poll")
    with pytest.raises(CorruptLog):
        backend.service(utc_clock)


# ---- (c) SIGKILL mid-stream ----


@dataclass
class Stream:
    """Observer invitations posted by several clients at once; what the server acknowledged."""

    url: str
    acked: dict[str, str] = field(default_factory=dict)  # invitation id -> label
    in_flight: int = 0
    sent: int = 0
    enough: asyncio.Event = field(default_factory=asyncio.Event)
    killed: bool = False

    async def client(self, session: aiohttp.ClientSession, name: str, kill_after: int, limit: int) -> None:
        n = 0
        while self.sent < limit:
            self.sent += 1
            n += 1
            label = f"{name}-{n}"
            self.in_flight += 1
            try:
                async with session.post(self.url, json={"role": "observer", "label": label}) as response:
                    body = await response.json()
                    assert response.status == 201, body
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError):
                if not self.killed:
                    raise
                return  # the server died under this request: its outcome is unknown, and that is allowed
            finally:
                self.in_flight -= 1
            assert body["label"] == label
            self.acked[body["id"]] = label
            if len(self.acked) >= kill_after:
                self.enough.set()


async def test_sigkill_loses_no_acknowledged_command(backend: StoreBackend) -> None:
    server = start_server(backend.data, *backend.store_args)
    try:
        cid = server.demo_id
        headers = {"Authorization": f"Bearer {server.token(server.host_link)}"}
        stream = Stream(f"{server.base}/api/ceremonies/{cid}/invitations")
        async with aiohttp.ClientSession(headers=headers, timeout=TIMEOUT) as session:
            clients = [
                asyncio.create_task(stream.client(session, f"c{k}", kill_after=200, limit=400)) for k in range(8)
            ]
            await asyncio.wait_for(stream.enough.wait(), 60)
            in_flight_at_kill = stream.in_flight
            stream.killed = True
            server.stop(signal.SIGKILL)
            await asyncio.gather(*clients)
        assert server.process.returncode == -signal.SIGKILL
        assert in_flight_at_kill > 0
        assert len(stream.acked) >= 200
        assert stream.sent < 400  # the kill really came mid-stream
    finally:
        server.stop(signal.SIGKILL)

    # The crashed store's chains hold.
    result = run_cli("log", "verify", *backend.args)
    assert result.returncode == 0, result.stdout + result.stderr

    restarted = start_server(backend.data, *backend.store_args)
    try:
        async with aiohttp.ClientSession(headers=headers, timeout=TIMEOUT) as session:
            async with session.get(f"{restarted.base}/api/ceremonies/{cid}/invitations") as response:
                assert response.status == 200
                present = {i["id"]: i["label"] for i in (await response.json())["invitations"]}
            lost = {i: label for i, label in stream.acked.items() if present.get(i) != label}
            assert not lost, f"{len(lost)} acknowledged invitations are missing after the crash: {lost}"
            # Unacknowledged ones may or may not have made it, but nothing else can appear.
            assert len(present) <= 1 + stream.sent
            async with session.post(stream.url.replace(server.base, restarted.base), json={"role": "observer"}) as r:
                assert r.status == 201  # and the recovered server appends again
    finally:
        assert restarted.stop() == 0
    result = run_cli("log", "verify", *backend.args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok      {cid}  {len(present) + 2} events" in result.stdout


# ---- (d) `ceremony invite` beside a running server ----


async def _poll_until_ok(session: aiohttp.ClientSession, url: str, token: str, within: float = 10.0) -> Any:
    """GET `url` with `token` until it answers 200 (the service polls SQLite every 0.5 s); its JSON."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
            if response.status == 200:
                return await response.json()
            assert response.status == 403, await response.text()
        assert loop.time() < deadline, f"the CLI's link did not work within {within} s"
        await asyncio.sleep(0.1)


async def test_cli_invite_works_against_a_running_server(store_server: Server, backend: StoreBackend) -> None:
    server = store_server
    cid = server.demo_id
    host = {"Authorization": f"Bearer {server.token(server.host_link)}"}
    url = f"{server.base}/api/ceremonies/{cid}/invitations"
    statuses: list[int] = []
    cli_done = asyncio.Event()

    async def host_keeps_inviting(session: aiohttp.ClientSession) -> None:
        # Appends race the CLI's append, so one side must meet a stale sequence number and recover.
        n = 0
        while not cli_done.is_set() or n < 3:
            n += 1
            async with session.post(url, json={"role": "observer", "label": f"host-{n}"}, headers=host) as r:
                statuses.append(r.status)
                if r.status != 201:
                    raise AssertionError(await r.text())

    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        background = asyncio.create_task(host_keeps_inviting(session))
        try:
            code, out, err = await run_cli_async(
                "invite", cid, "observer", "--label", "from-cli", *backend.args, "--base-url", server.base
            )
        finally:
            cli_done.set()
        await background
        assert code == 0, out + err
        link = out.strip().splitlines()[-1]
        assert link.startswith(f"{server.base}/c/{cid}/enter#")
        token = server.token(link)

        seen = await _poll_until_ok(session, f"{server.base}/api/ceremonies/{cid}", token)
        assert seen["you"]["role"] == "observer"

        # The server appends after the CLI's event without a conflict reaching the client.
        async with session.post(url, json={"role": "observer", "label": "after"}, headers=host) as r:
            assert r.status == 201, await r.text()
        async with session.get(url, headers=host) as r:
            labels = [i["label"] for i in (await r.json())["invitations"]]
    assert statuses and set(statuses) == {201}
    assert labels.count("from-cli") == 1
    assert labels[-1] == "after"
    assert len(labels) == 1 + len(statuses) + 1 + 1  # demo host, the host's stream, the CLI's, "after"
    assert server.stop() == 0
    result = run_cli("log", "verify", *backend.args)
    assert result.returncode == 0, result.stdout + result.stderr


# ---- (e) file modes ----


async def test_the_store_and_documents_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    service = on_disk(data, clock=utc_clock)
    try:
        cid = (await service.create(demo_definition(), "operator")).id
        await service.freeze(cid, "host", fake_pdf)
        sha = service.get(cid).document_sha256
    finally:
        await service.close()
    assert (data / DB_NAME).stat().st_mode & 0o777 == 0o600
    assert (data / "documents").stat().st_mode & 0o777 == 0o700
    assert (data / "documents" / f"{sha}.pdf").stat().st_mode & 0o777 == 0o600
    assert data.stat().st_mode & 0o777 == 0o700
    assert not list((data / "documents").glob(".incoming-*"))


async def test_the_write_ahead_log_is_private_too(tmp_path: Path) -> None:
    data = tmp_path / "data"
    service = on_disk(data, clock=utc_clock)
    try:
        await service.create(demo_definition(), "operator")
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in data.glob(f"{DB_NAME}-*")}
    finally:
        await service.close()
    assert set(modes) == {f"{DB_NAME}-wal", f"{DB_NAME}-shm"}  # they exist while the store is open
    assert set(modes.values()) == {"0o600"}, modes


async def test_cli_revokes_every_operator_link_of_a_running_server(store_server: Server, backend: StoreBackend) -> None:
    server = store_server
    # A leaked operator link is ended from the server's own shell; the running server stops
    # accepting it once it has caught up with the store (it polls every 0.5 s), without a restart.
    url = f"{server.base}/api/ceremonies"
    operator = {"Authorization": f"Bearer {server.token(server.operator_link)}"}
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        async with session.get(url, headers=operator) as r:
            assert r.status == 200, await r.text()
        code, out, err = await run_cli_async("operator-link", "--revoke-all", *backend.args)
        assert code == 0 and "revoked 1 operator link" in out, out + err
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10.0
        while True:
            async with session.get(url, headers=operator) as r:
                if r.status == 403:
                    assert "revoked" in (await r.json())["reason"]
                    break
                assert r.status == 200, await r.text()
            assert loop.time() < deadline, "the revoked operator link still worked after 10 s"
            await asyncio.sleep(0.1)
        # The host's capability link is not an operator link: it keeps working.
        host = {"Authorization": f"Bearer {server.token(server.host_link)}"}
        async with session.get(f"{url}/{server.demo_id}", headers=host) as r:
            assert r.status == 200, await r.text()


class MemoryStore:
    """Another store behind the same protocol: a list per ceremony, with the store's one duty,
    the sequence check. If the service reached past `Store` into SQLite, this would not run."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Any]] = {}
        self.tokens: dict[str, datetime | None] = {}
        self.kept: dict[str, Session] = {}
        self.version = 0

    def append(self, ceremony: str, rows: Any) -> None:
        held = self.rows.setdefault(ceremony, [])
        if rows and rows[0].seq != len(held) + 1:
            raise SequenceConflict(f"expected seq {len(held) + 1}, got {rows[0].seq}")
        held.extend(rows)

    def read(self, ceremony: str, after_seq: int = 0) -> Any:
        return iter([row for row in self.rows.get(ceremony, []) if row.seq > after_seq])

    def ceremonies(self) -> list[str]:
        return list(self.rows)

    def data_version(self) -> int:
        return self.version

    def close(self) -> None:
        pass

    def add_operator_token(self, token_sha256: str, at: datetime) -> None:
        self.tokens[token_sha256] = None

    def operator_tokens(self) -> set[str]:
        return {t for t, revoked in self.tokens.items() if revoked is None}

    def revoke_operator_tokens(self, at: datetime) -> int:
        live = self.operator_tokens()
        self.tokens.update(dict.fromkeys(live, at))
        self.revoke_sessions([s.id_sha256 for s in self.kept.values() if s.operator_token_sha256], at)
        return len(live)

    def add_session(self, session: Session) -> None:
        self.kept[session.id_sha256] = session

    def sessions(self, now: datetime) -> list[Session]:
        return [s for s in self.kept.values() if s.live(now)]

    def revoke_sessions(self, ids_sha256: Any, at: datetime) -> int:
        live = [d for d in ids_sha256 if d in self.kept and self.kept[d].revoked_at is None]
        self.kept.update({d: replace(self.kept[d], revoked_at=at) for d in live})
        return len(live)


class MemoryDocuments:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self.files[sha] = data
        return sha

    def read(self, sha256: str) -> bytes:
        return self.files[sha256]


async def test_the_service_runs_on_any_store_that_keeps_the_protocol() -> None:
    store, documents = MemoryStore(), MemoryDocuments()
    service = CeremonyService(store, documents, clock=utc_clock)
    cid = (await service.create(demo_definition(), "operator")).id
    await service.issue_link(cid, Role.HOST, "operator", label="host")
    frozen = await service.freeze(cid, "operator", fake_pdf)
    assert frozen.state.document_sha256 in documents.files
    session = await service.open_session(utc_clock() + timedelta(hours=1), operator_token_sha256="ab" * 32)
    await service.close()
    # A second service over the same store replays to the same state, and its chain verifies.
    again = CeremonyService(store, documents, clock=utc_clock)
    assert again.get(cid) == frozen.state
    assert verify_chain(cid, list(store.read(cid))).ok
    digest = hashlib.sha256(session.encode()).hexdigest()
    assert again.session(digest) is not None
    assert await again.revoke_operator_links() == 0 and again.session(digest) is None
    await again.close()
