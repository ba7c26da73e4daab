"""The event store as an operator handles it: moving a node to PostgreSQL, bad URLs, a database restart.

Real servers, a real PostgreSQL (the session's cluster, or one of the test's own when it is
restarted), the `ceremony` command as typed, and psql/sqlite3 for what an operator or an
attacker with the database's credentials would do.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ceremony.runtime.sqlite_store import DB_NAME
from tests.engines import Postgres
from tests.helpers import bearer, ceremony, cookie_header, enter, start_server

TIMEOUT = aiohttp.ClientTimeout(total=30)  # no request may hang longer, PostgreSQL away or not


def ok_lines(output: str) -> list[str]:
    """`log verify`'s per-ceremony lines (its last line names the store, which differs)."""
    return [line for line in output.splitlines() if line.startswith(("ok ", "BROKEN "))]


def event_rows(postgres: Postgres, url: str, where: str = "true") -> int:
    return int(postgres.psql(url.rsplit("/", 1)[1], f"SELECT count(*) FROM events WHERE {where}").strip())


# ---- ceremony store copy ----


async def test_a_single_node_moves_to_postgresql_with_its_state_links_and_sessions(
    tmp_path: Path, postgres: Postgres
) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    cid, host = server.demo_id, server.token(server.host_link)
    api = f"/api/ceremonies/{cid}"
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT, headers=bearer(host)) as http:
            for n in range(3):
                async with http.post(
                    f"{server.base}{api}/invitations", json={"role": "observer", "label": f"o-{n}"}
                ) as r:
                    assert r.status == 201, await r.text()
            async with http.post(f"{server.base}{api}/freeze") as r:
                assert r.status == 200, await r.text()
            async with http.get(f"{server.base}{api}") as r:
                before = await r.json()
            async with http.get(f"{server.base}{api}/document.pdf") as r:
                document = await r.read()
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            cookies = await enter(http, server.base, cid, host)  # a browser's session, stored in the log's database
    finally:
        assert server.stop() == 0
    assert before["state"] == "frozen" and before["document_sha256"]
    source = ceremony("log", "verify", "--data", str(data))
    assert source.returncode == 0, source.stdout + source.stderr

    target = postgres.new_database()
    copied = ceremony("store", "copy", "--from", f"sqlite:///{data / DB_NAME}", "--to", target)
    assert copied.returncode == 0, copied.stdout + copied.stderr
    assert "copied 1 ceremonies" in copied.stdout and "1 documents" in copied.stdout, copied.stdout
    moved = ceremony("log", "verify", "--store", target)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert ok_lines(moved.stdout) == ok_lines(source.stdout) and len(ok_lines(source.stdout)) == 1

    # The node on PostgreSQL (the same --data, for its PKI) serves the same ceremony to the same links.
    node = start_server(data, "--store", target)
    try:
        assert not any("Created the demo" in line for line in node.output)
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            async with http.get(f"{node.base}{api}", headers=bearer(host)) as r:
                assert r.status == 200
                assert await r.json() == before
            async with http.get(f"{node.base}{api}/document.pdf", headers=cookie_header(cookies)) as r:
                assert r.status == 200  # the session cookie, not the link: sessions came over too
                assert await r.read() == document
            async with http.post(
                f"{node.base}{api}/invitations", json={"role": "observer", "label": "after"}, headers=bearer(host)
            ) as r:
                assert r.status == 201, await r.text()  # and the chain goes on from the copied head
    finally:
        assert node.stop() == 0

    # Copying again is refused, and changes nothing.
    rows = event_rows(postgres, target)
    again = ceremony("store", "copy", "--from", f"sqlite:///{data / DB_NAME}", "--to", target)
    assert again.returncode == 2, again.stdout + again.stderr
    assert "already holds" in again.stderr and cid in again.stderr, again.stderr
    assert event_rows(postgres, target) == rows
    assert ceremony("log", "verify", "--store", target).returncode == 0


async def test_a_tampered_source_is_refused_naming_the_ceremony_and_event(tmp_path: Path, postgres: Postgres) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    cid, host = server.demo_id, server.token(server.host_link)
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT, headers=bearer(host)) as http:
            for label in ("first-guest", "other-guest"):
                url = f"{server.base}/api/ceremonies/{cid}/invitations"
                async with http.post(url, json={"role": "observer", "label": label}) as r:
                    assert r.status == 201, await r.text()
    finally:
        assert server.stop() == 0

    # Someone with the file rewrites a label (same length: only the chain can tell).
    db = sqlite3.connect(data / DB_NAME)
    try:
        db.execute("DROP TRIGGER IF EXISTS events_no_update")
        (seq,) = db.execute(
            "SELECT seq FROM events WHERE ceremony = ? AND CAST(body AS TEXT) LIKE '%first-guest%'", (cid,)
        ).fetchone()
        changed = db.execute(
            "UPDATE events SET body = CAST(replace(CAST(body AS TEXT), 'first-guest', 'forged-gst!') AS BLOB)"
            " WHERE ceremony = ? AND seq = ?",
            (cid, seq),
        )
        assert changed.rowcount == 1
        db.commit()
    finally:
        db.close()

    target = postgres.new_database()
    refused = ceremony("store", "copy", "--from", f"sqlite:///{data / DB_NAME}", "--to", target)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"ceremony {cid} is broken in the source at event {seq}" in refused.stderr, refused.stderr
    assert event_rows(postgres, target, f"ceremony = '{cid}'") == 0


# ---- URLs the commands refuse ----


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://x", "must start with sqlite:// or postgresql://"),
        ("postgresql://", "name the host and the database"),
        ("sqlite:///", "name the SQLite file"),
    ],
)
def test_log_verify_refuses_a_store_url_it_cannot_use(url: str, says: str) -> None:
    done = ceremony("log", "verify", "--store", url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("store", "bus", "says"),
    [
        (None, "redis://127.0.0.1:6379/0", "--bus joins nodes that share one database"),
        ("sqlite:///tmp/x.sqlite3", "redis://127.0.0.1:6379/0", "--bus joins nodes that share one database"),
        ("postgresql://ceremony@127.0.0.1:1/db", "http://127.0.0.1/", "give a Redis URL"),
    ],
)
def test_serve_refuses_a_bus_without_a_shared_store(tmp_path: Path, store: str | None, bus: str, says: str) -> None:
    store_args = [] if store is None else ["--store", store]
    done = ceremony("serve", "--data", str(tmp_path / "data"), "--port", "0", *store_args, "--bus", bus)
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "data" / "pki").exists()  # refused before anything was made


# ---- PostgreSQL restarted under load ----


@dataclass
class Load:
    """Observer invitations posted by several clients until told to stop; what the server answered."""

    url: str
    acked: dict[str, str] = field(default_factory=dict)  # invitation id -> label
    refused: int = 0  # 503 store_unavailable: nothing was done, a page would retry
    sent: int = 0
    stop: bool = False

    async def client(self, http: aiohttp.ClientSession, name: str) -> None:
        n = 0
        while not self.stop:
            n += 1
            self.sent += 1
            label = f"{name}-{n}"
            async with http.post(self.url, json={"role": "observer", "label": label}) as response:
                body: dict[str, Any] = await response.json()
                if response.status == 503:
                    assert body["error"] == "store_unavailable", body
                    assert int(response.headers["Retry-After"]) >= 1
                    self.refused += 1
                    await asyncio.sleep(0.05)  # as the pages do, if sooner than Retry-After
                    continue
                assert response.status == 201, (response.status, body)
            assert body["label"] == label
            self.acked[body["id"]] = label

    async def more(self, count: int, within: float = 60) -> None:
        """Wait until `count` more invitations are acknowledged (the node serves again)."""
        goal = len(self.acked) + count
        deadline = time.monotonic() + within
        while len(self.acked) < goal:
            assert time.monotonic() < deadline, f"only {len(self.acked)} of {goal} acknowledged"
            await asyncio.sleep(0.05)


async def test_postgresql_restarted_under_load_fails_commands_cleanly(tmp_path: Path, own_postgres: Postgres) -> None:
    url = own_postgres.new_database()
    server = start_server(tmp_path / "data", "--store", url)
    cid, host = server.demo_id, server.token(server.host_link)
    load = Load(f"{server.base}/api/ceremonies/{cid}/invitations")
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT, headers=bearer(host)) as http:
            clients = [asyncio.create_task(load.client(http, f"c{k}")) for k in range(8)]
            try:
                await load.more(40)
                await asyncio.to_thread(own_postgres.restart, "fast")  # sessions ended, a clean shutdown
                await load.more(40)  # the same node, not restarted, acknowledges again
                await asyncio.to_thread(own_postgres.restart, "immediate")  # a crash, recovery at start
                await load.more(40)
            finally:
                load.stop = True
                await asyncio.gather(*clients)  # a client's failed assertion fails the test here
            assert load.refused > 0  # the restarts really came mid-stream

            async with http.get(load.url) as response:
                assert response.status == 200
                present = {i["id"]: i["label"] for i in (await response.json())["invitations"]}
        lost = {i: label for i, label in load.acked.items() if present.get(i) != label}
        assert not lost, f"{len(lost)} acknowledged invitations are missing: {lost}"
        assert len(present) <= 1 + load.sent  # the host's, and at most one per request
    finally:
        assert server.stop() == 0

    # What the node showed is what the database holds: a fresh node reads the same invitations back.
    again = start_server(tmp_path / "data", "--store", url)
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT, headers=bearer(host)) as http,
            http.get(load.url.replace(server.base, again.base)) as r,
        ):
            durable = {i["id"]: i["label"] for i in (await r.json())["invitations"]}
    finally:
        assert again.stop() == 0
    assert durable == present
    verified = ceremony("log", "verify", "--store", url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # Each event is one whole invitation (the host's among them) after the draft: nothing half-applied.
    assert f"ok      {cid}  {len(present) + 1} events" in verified.stdout, verified.stdout
