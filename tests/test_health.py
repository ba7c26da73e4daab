"""/healthz reports the node's store and bus, with 503 while either is away, and a real haproxy uses it.

Every engine is real and ours to stop: a PostgreSQL cluster, a redis-server and haproxy started
for the test (the session's shared cluster is never stopped here). Waits are polls with generous
deadlines; nothing asserts how fast a check turns.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.engines import Haproxy, Postgres, Redis
from tests.helpers import Server, start_server

TIMEOUT = aiohttp.ClientTimeout(total=15)
DEADLINE = 45.0  # seconds a check may take to turn: several probe timeouts, on a loaded machine


async def healthz(base: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.get(f"{base}/healthz") as response:
        return response.status, await response.json()


async def until(base: str, status: int) -> dict[str, Any]:
    """Poll /healthz until it answers `status`; its body then."""
    deadline = time.monotonic() + DEADLINE
    seen: tuple[int, dict[str, Any]] | None = None
    while time.monotonic() < deadline:
        seen = await healthz(base)
        if seen[0] == status:
            return seen[1]
        await asyncio.sleep(0.2)
    raise AssertionError(f"/healthz did not answer {status} within {DEADLINE} s; last: {seen}")


def with_password(url: str, password: str) -> str:
    """The same database, named with a password (the test cluster trusts loopback, so it is not checked)."""
    return url.replace("postgresql://ceremony@", f"postgresql://ceremony:{password}@")


async def test_a_single_node_on_sqlite_reports_its_store(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        status, body = await healthz(server.base)
    finally:
        server.stop()
    assert status == 200, body
    assert body == {
        "status": "ok",
        "node": None,
        "store": {"kind": "sqlite", "ok": True},
        "bus": None,
        "ceremonies": 1,
    }


async def test_a_node_whose_postgresql_goes_away_says_so_and_recovers(tmp_path: Path, own_postgres: Postgres) -> None:
    password = "hunter2-never-shown"
    server = start_server(tmp_path / "data", "--store", with_password(own_postgres.new_database(), password))
    try:
        status, body = await healthz(server.base)
        assert status == 200, body
        assert body["store"] == {"kind": "postgresql", "ok": True}
        assert body["status"] == "ok" and body["bus"] is None and body["ceremonies"] == 1

        own_postgres.stop("fast")
        down = await until(server.base, 503)
        assert down["status"] == "unavailable"
        assert down["store"]["kind"] == "postgresql" and down["store"]["ok"] is False
        assert down["store"]["reason"] == "the event store (postgresql) does not answer", down
        assert down["ceremonies"] == 1  # what the node knows, from memory
        # /healthz is public: neither the password nor where the database is (the log says that).
        assert password not in str(down) and str(own_postgres.port) not in str(down)
        assert any("takes no new work" in line and str(own_postgres.port) in line for line in server.output)
        assert not any(password in line for line in server.output)

        own_postgres.start()  # the same node, not restarted, finds it again
        up = await until(server.base, 200)
        assert up["store"] == {"kind": "postgresql", "ok": True}
        assert server.process.poll() is None
    finally:
        server.stop()
    assert password not in "\n".join(server.output)


async def test_a_node_whose_bus_goes_away_says_so_and_recovers(
    tmp_path: Path, postgres: Postgres, redis: Redis
) -> None:
    server = start_server(tmp_path / "data", "--store", postgres.new_database(), "--bus", redis.url)
    try:
        status, body = await healthz(server.base)
        assert status == 200, body
        assert body["bus"] == {"ok": True}
        assert isinstance(body["node"], str) and body["node"]

        redis.stop()
        down = await until(server.base, 503)
        assert down["status"] == "unavailable"
        assert down["bus"] == {"ok": False, "reason": "the bus (Redis) does not answer"}, down
        assert down["store"] == {"kind": "postgresql", "ok": True}  # only the bus is away
        assert down["node"] == body["node"]
        # Nor does it take signaling sockets: 1013, try again later (the balancer sends the retry elsewhere).
        assert await _signal_close(server) == 1013

        redis.start()  # same port
        up = await until(server.base, 200)
        assert up["bus"] == {"ok": True} and up["node"] == body["node"]
        assert await _signal_close(server) is None  # welcomed
    finally:
        server.stop()


async def _signal_close(server: Server) -> int | None:
    """Open the demo ceremony's signaling socket as its host: the close code, or None once welcomed."""
    token = server.token(server.host_link)
    url = f"{server.base}/api/ceremonies/{server.demo_id}/signal"
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as http,
        http.ws_connect(url, headers={"Authorization": f"Bearer {token}"}) as ws,
    ):
        await ws.send_json({"type": "hello"})
        first = await ws.receive(timeout=15)
        if first.type == aiohttp.WSMsgType.TEXT:
            assert json.loads(first.data)["type"] == "welcome"
            return None
        return ws.close_code


def _second_node(first: Server, data: Path, *args: str) -> Server:
    """Another node: the first one's PKI copied over (as docs/deploy.md says), its own data directory."""
    shutil.copytree(first.data / "pki", data / "pki")
    return start_server(data, "--no-demo", *args)


async def test_haproxy_takes_a_killed_node_out_and_the_other_answers(
    tmp_path: Path, postgres: Postgres, redis: Redis
) -> None:
    shared = ("--store", postgres.new_database(), "--bus", redis.url)
    first = start_server(tmp_path / "n1", *shared)
    nodes = [first]
    balancer: Haproxy | None = None
    try:
        nodes.append(_second_node(first, tmp_path / "n2", *shared))
        ids = [(await healthz(node.base))[1]["node"] for node in nodes]
        assert ids[0] != ids[1]
        balancer = Haproxy([node.base.removeprefix("http://") for node in nodes])

        # Both nodes answer through the balancer once its checks have passed.
        seen: set[str] = set()
        deadline = time.monotonic() + DEADLINE
        while seen != set(ids) and time.monotonic() < deadline:
            status, body = await healthz(balancer.url)
            if status == 200:
                seen.add(body["node"])
            await asyncio.sleep(0.1)
        assert seen == set(ids)

        first.stop(signal.SIGKILL)
        body = await settle_on(balancer, ids[1])  # soon every answer comes from the survivor
        assert body["store"] == {"kind": "postgresql", "ok": True} and body["ceremonies"] == 1
    finally:
        if balancer is not None:
            balancer.close()
        for node in nodes:
            node.stop(signal.SIGKILL)


async def settle_on(balancer: Haproxy, node: str) -> dict[str, Any]:
    """Poll /healthz through haproxy until twenty answers in a row are 200 from `node`; the last one."""
    in_a_row, last = 0, None
    deadline = time.monotonic() + DEADLINE
    while in_a_row < 20 and time.monotonic() < deadline:
        try:
            last = await healthz(balancer.url)
        except aiohttp.ClientError as exc:
            last = (0, {"error": str(exc)})
        in_a_row = in_a_row + 1 if last[0] == 200 and last[1]["node"] == node else 0
        await asyncio.sleep(0.05)
    assert in_a_row == 20, f"haproxy did not settle on node {node}; last: {last}"
    return last[1] if last else {}


async def test_haproxy_takes_out_a_node_cut_off_from_its_bus_and_takes_it_back(
    tmp_path: Path, postgres: Postgres, redis: Redis
) -> None:
    """A node whose Redis is away answers 503, so the balancer sends everything to the other.

    Each node has its own redis-server here, so that one of them can lose its bus alone, as a
    network split between that node and Redis would look.
    """
    store = postgres.new_database()
    own = Redis()
    first = start_server(tmp_path / "n1", "--store", store, "--bus", own.url)
    nodes = [first]
    balancer: Haproxy | None = None
    try:
        nodes.append(_second_node(first, tmp_path / "n2", "--store", store, "--bus", redis.url))
        ids = [(await healthz(node.base))[1]["node"] for node in nodes]
        balancer = Haproxy([node.base.removeprefix("http://") for node in nodes])

        own.stop()
        await settle_on(balancer, ids[1])
        assert first.process.poll() is None  # alive, and out of rotation: its /healthz says why
        status, body = await healthz(first.base)
        assert status == 503 and body["bus"]["ok"] is False

        own.start()
        seen: set[str] = set()
        deadline = time.monotonic() + DEADLINE
        while ids[0] not in seen and time.monotonic() < deadline:
            status, body = await healthz(balancer.url)
            if status == 200:
                seen.add(body["node"])
            await asyncio.sleep(0.1)
        assert ids[0] in seen  # back in rotation, not restarted
    finally:
        if balancer is not None:
            balancer.close()
        for node in nodes:
            node.stop(signal.SIGKILL)
        own.close()


async def test_node_health_says_why_a_node_should_take_no_sockets(
    aiohttp_client: Any, tmp_path: Path, own_postgres: Postgres, redis: Redis
) -> None:
    """`node_health` (what the signaling route asks before accepting a socket): None, or the reason."""
    from ceremony.runtime.stores import parse_store_url
    from web import health
    from web.app import create_app
    from web.settings import Settings

    settings = Settings(
        data_dir=tmp_path / "data",
        create_demo=False,
        store=parse_store_url(own_postgres.new_database()),
        bus_url=redis.url,
    )
    app = create_app(settings)
    await aiohttp_client(app)
    assert await health.node_health(app) is None

    # Callers at once share one probe: one verdict, not a queue of probes in the store's thread.
    verdicts = await asyncio.gather(*(health.check(app) for _ in range(50)))
    assert len({id(v) for v in verdicts}) == 1

    own_postgres.stop("immediate")
    deadline = time.monotonic() + DEADLINE
    while (reason := await health.node_health(app)) is None:
        assert time.monotonic() < deadline, "the store is down and node_health still says nothing"
        await asyncio.sleep(0.2)
    assert "PostgreSQL" in reason

    own_postgres.start()
    redis.stop()
    deadline = time.monotonic() + DEADLINE
    while (reason := await health.node_health(app)) is None or "Redis" not in reason:
        assert time.monotonic() < deadline, reason
        await asyncio.sleep(0.2)

    redis.start()
    deadline = time.monotonic() + DEADLINE
    while (reason := await health.node_health(app)) is not None:
        assert time.monotonic() < deadline, reason
        await asyncio.sleep(0.2)
