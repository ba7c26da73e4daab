"""What several nodes share on the bus: challenge books, rate limits, places and the signing turn (issue 14).

Each piece is tried against a real redis-server with two `Bus` connections standing for two
nodes, then once end to end: two `ceremony serve` processes on one PostgreSQL database and one
Redis, where a challenge one node issued is answered on the other and a replay to the first is
refused. Leases in the turn tests are short and passed in; nothing asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ceremony.challenges import PER_CEREMONY, PER_LINK
from ceremony.commands import Freeze
from ceremony.errors import InvalidCommand, LimitReached
from ceremony.events import Role
from ceremony.runtime.bus import Bus
from ceremony.runtime.shared_challenges import SharedChallenges
from ceremony.runtime.shared_limits import SharedPlaces
from ceremony.runtime.stores import open_service, parse_store_url
from signatures.consent_desk import possession_message
from signatures.errors import TurnTaken
from signatures.keys import der_to_raw
from signatures.turns import SharedTurn, SharedTurns
from tests.engines import Redis
from tests.helpers import free_port, openssl, start_server
from web.app import create_app
from web.demo.definition import demo_definition
from web.limits import Limits, SharedRateLimit
from web.settings import Settings, utc_clock

LEASE = 0.4  # seconds: short, so that a dead holder's turn lapses within the test


@pytest.fixture
async def nodes(redis: Redis) -> AsyncIterator[tuple[Bus, Bus]]:
    """Two nodes' connections to one Redis, under a prefix of this test's own."""
    prefix = f"test-{secrets.token_hex(4)}:"
    a, b = Bus(redis.url, node="a", prefix=prefix), Bus(redis.url, node="b", prefix=prefix)
    yield a, b
    await a.close()
    await b.close()


# ------------------------------------------------------------------ challenge books


async def test_a_challenge_issued_on_one_node_is_spent_on_the_other_exactly_once(nodes: tuple[Bus, Bus]) -> None:
    a, b = SharedChallenges(nodes[0]), SharedChallenges(nodes[1])
    challenge = await a.issue("c1", "inv-1", "consent")
    await b.check(challenge.value, "c1", "inv-1", "consent")
    # Asked for something else, it is refused and stays open for what it was issued for.
    with pytest.raises(InvalidCommand, match="something else"):
        await b.check(challenge.value, "c1", "inv-1", "enrollment")
    assert not await b.spend(challenge.value, "c1", "inv-2", "consent")
    assert await b.spend(challenge.value, "c1", "inv-1", "consent")
    assert not await a.spend(challenge.value, "c1", "inv-1", "consent")  # the replay, on the first node
    with pytest.raises(InvalidCommand, match="already used"):
        await a.check(challenge.value, "c1", "inv-1", "consent")


async def test_two_nodes_spending_one_challenge_at_once_close_it_once(nodes: tuple[Bus, Bus]) -> None:
    a, b = SharedChallenges(nodes[0]), SharedChallenges(nodes[1])
    for _ in range(20):
        value = (await a.issue("c1", "inv-1", "enrollment")).value
        spent = await asyncio.gather(*(book.spend(value, "c1", "inv-1", "enrollment") for book in (a, b, a, b)))
        assert sorted(spent) == [False, False, False, True]


async def test_the_per_link_limit_counts_both_nodes_and_frees_a_place_when_one_is_spent(
    nodes: tuple[Bus, Bus],
) -> None:
    a, b = SharedChallenges(nodes[0]), SharedChallenges(nodes[1])
    issued = [await (a if n % 2 else b).issue("c1", "inv-1", "consent") for n in range(PER_LINK)]
    for book in (a, b):
        with pytest.raises(LimitReached, match="this link"):
            await book.issue("c1", "inv-1", "consent")
    await b.issue("c1", "inv-2", "consent")  # another link of the same ceremony is not held back
    assert await a.spend(issued[0].value, "c1", "inv-1", "consent")
    await b.issue("c1", "inv-1", "consent")


async def test_the_per_ceremony_limit_counts_both_nodes(nodes: tuple[Bus, Bus]) -> None:
    a, b = SharedChallenges(nodes[0]), SharedChallenges(nodes[1])
    per = PER_LINK // 2
    for start in range(0, PER_CEREMONY, 50):  # in batches: a connection pool has its limit
        await asyncio.gather(
            *((a if n % 2 else b).issue("c1", f"inv-{n // per}", "enrollment") for n in range(start, start + 50))
        )
    for book in (a, b):
        with pytest.raises(LimitReached, match="this ceremony"):
            await book.issue("c1", "a-new-link", "enrollment")
    await a.issue("c2", "a-new-link", "enrollment")  # another ceremony is not held back


async def test_expired_challenges_are_unknown_and_leave_the_counts(nodes: tuple[Bus, Bus]) -> None:
    brief, b = SharedChallenges(nodes[0], lifetime=0.001), SharedChallenges(nodes[1])
    issued = [await brief.issue("c1", "inv-1", "consent") for _ in range(PER_LINK)]
    await asyncio.sleep(0.05)  # fifty lifetimes
    with pytest.raises(InvalidCommand, match="expired"):
        await b.check(issued[-1].value, "c1", "inv-1", "consent")
    assert not await b.spend(issued[-1].value, "c1", "inv-1", "consent")
    for _ in range(PER_LINK):
        await b.issue("c1", "inv-1", "consent")


# ------------------------------------------------------------------ rate limits


async def test_a_rate_limit_on_the_bus_is_one_budget_for_all_nodes(nodes: tuple[Bus, Bus]) -> None:
    # Three tokens and (in effect) no refill: two nodes together grant three, not six.
    a, b = (SharedRateLimit(bus, "tsa", rate=0.001, burst=3) for bus in nodes)
    waits = [await limit.admit("127.0.0.1") for limit in (a, b, a, b, a, b)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert all(wait > 1.0 for wait in waits[3:]), waits
    assert await b.admit("127.0.0.2") == 0.0  # another client has its own budget
    # Two nodes taking the same client's last tokens at once still grant exactly the burst.
    c, d = (SharedRateLimit(bus, "verify", rate=0.001, burst=5) for bus in nodes)
    waits = await asyncio.gather(*(limit.admit("10.0.0.9") for limit in (c, d) * 10))
    assert waits.count(0.0) == 5


async def test_places_in_hand_are_counted_across_nodes_and_lapse_with_a_dead_node(nodes: tuple[Bus, Bus]) -> None:
    a, b = (SharedPlaces(bus, "verify", lease=300) for bus in nodes)
    place = await a.take("127.0.0.1", 1)
    assert place is not None
    assert await b.take("127.0.0.1", 1) is None  # the second node is not a second place
    assert await b.take("127.0.0.2", 1) is not None  # another client's place is its own
    await a.give_back("127.0.0.1", place)
    assert await b.take("127.0.0.1", 1) is not None
    # A node that dies holding a place gives it back when its lease ends.
    dying = SharedPlaces(nodes[0], "verify", lease=0.001)
    assert await dying.take("127.0.0.3", 1) is not None
    await asyncio.sleep(0.05)  # fifty leases
    assert await b.take("127.0.0.3", 1) is not None


# ------------------------------------------------------------------ the signing turn


async def test_a_turn_held_on_one_node_is_refused_on_the_other_until_released(nodes: tuple[Bus, Bus]) -> None:
    a, b = SharedTurns(nodes[0], lease=LEASE), SharedTurns(nodes[1], lease=LEASE)
    held = await a.acquire("c1")
    # Waiting several leases: the holder's renewals keep the turn its own all along.
    with pytest.raises(TurnTaken):
        await b.acquire("c1", wait=4 * LEASE)
    other = await b.acquire("c2", wait=0.05)  # another ceremony's turn is its own
    other.release()
    waiting = asyncio.create_task(b.acquire("c1", wait=30))
    held.release()
    (await waiting).release()
    await a.close()
    await b.close()


async def test_waiters_on_one_node_take_the_turn_in_turn(nodes: tuple[Bus, Bus]) -> None:
    a = SharedTurns(nodes[0], lease=LEASE)
    first = await a.acquire("c1")
    second = asyncio.create_task(a.acquire("c1", wait=30))
    await asyncio.sleep(0)
    assert not second.done()
    first.release()
    (await second).release()
    await a.close()


async def test_a_dead_holders_turn_is_taken_by_the_other_node_once_its_lease_lapses(nodes: tuple[Bus, Bus]) -> None:
    a, b = SharedTurns(nodes[0], lease=LEASE), SharedTurns(nodes[1], lease=LEASE)
    held = await a.acquire("c1")
    assert isinstance(held, SharedTurn)
    # The node dies: nothing renews its lease, and nothing releases it.
    held.lease.renewal.cancel()
    taken = await b.acquire("c1", wait=30)
    # The dead node's late release (it was only stalled) must not end the new holder's turn.
    held.release()
    await a.close()
    with pytest.raises(TurnTaken):
        await SharedTurns(nodes[0], lease=LEASE).acquire("c1", wait=0.05)
    taken.release()
    await b.close()
    later = SharedTurns(nodes[0], lease=LEASE)
    (await later.acquire("c1", wait=0.05)).release()
    await later.close()


# ------------------------------------------------------------------ two nodes, end to end


async def _post(server: TestServer, path: str, body: bytes, content_type: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(str(server.make_url(path)), data=body, headers={"Content-Type": content_type}) as response,
    ):
        await response.read()
        return response.status


async def _until(server: TestServer, status: int) -> bool:
    """Post a zip that is no record until the verifier answers `status` (400: admitted, and not a record)."""
    for _ in range(200):
        if await _post(server, "/api/verify", b"PK", "application/zip") == status:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_two_nodes_give_a_client_one_tsa_budget_and_one_upload_in_hand(
    tmp_path: Path, postgres: Any, redis: Redis
) -> None:
    store = parse_store_url(postgres.new_database())
    limits = Limits(tsa_per_second=0.001, tsa_burst=3, uploads_per_client=1, upload_idle_seconds=60.0)
    servers = [
        TestServer(
            create_app(
                Settings(data_dir=tmp_path / name, create_demo=False, limits=limits, store=store, bus_url=redis.url)
            )
        )
        for name in ("one", "two")
    ]
    for server in servers:
        await server.start_server()
    try:
        (tmp_path / "digest.bin").write_bytes(b"anything at all")
        openssl("ts", "-query", "-data", "digest.bin", "-sha256", "-cert", "-out", "q.tsq", cwd=tmp_path)
        query = (tmp_path / "q.tsq").read_bytes()
        statuses = [await _post(servers[n % 2], "/tsa", query, "application/timestamp-query") for n in range(4)]
        assert statuses == [200, 200, 200, 429]
        # An upload held open on one node is the client's one place on the other node too.
        upload = await asyncio.open_connection(servers[0].host, servers[0].port)
        upload[1].write(
            b"POST /api/verify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/zip\r\n"
            b"Content-Length: 1000000\r\n\r\nP"
        )
        await upload[1].drain()
        # Probing the second node before the first has taken the place would race it for that place.
        bus = Bus(redis.url)
        try:
            for _ in range(400):
                if await bus.redis.zcard(bus.key("places", "verify", "127.0.0.1")):
                    break
                await asyncio.sleep(0.05)
        finally:
            await bus.close()
        assert await _post(servers[1], "/api/verify", b"PK", "application/zip") == 429
        upload[1].close()  # the upload ends: its place is given back, on the bus too
        assert await _until(servers[1], 400), "the place was never given back"
    finally:
        for server in servers:
            await server.close()


def _key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, base64.b64encode(spki).decode()


async def _prepare(store: str) -> tuple[str, str, str]:
    """A frozen ceremony in the shared database and one signatory's link: (ceremony, signatory, token)."""
    service, backing = open_service(parse_store_url(store), clock=utc_clock)
    try:
        state = await service.create(demo_definition(), "operator")
        await service.execute(
            state.id, Freeze(document_sha256=hashlib.sha256(b"the original").hexdigest(), document_size=12), "test"
        )
        # Rooms stay closed: enrolling needs none, and a live ceremony would start each node's recorder.
        signatory = state.definition.signatories[0].id
        link = await service.issue_link(state.id, Role.SIGNATORY, "t", signatory=signatory)
    finally:
        await service.close()
        backing.close()
    return state.id, signatory, link.token


async def test_a_challenge_from_one_node_enrolls_on_the_other_and_not_again(
    tmp_path: Path, postgres: Any, redis: Redis
) -> None:
    store = postgres.new_database()
    ceremony, signatory, token = await _prepare(store)
    port = free_port()
    # Both behind one address, as behind a load balancer: the certificates name its CRLs.
    shared = ("--store", store, "--bus", redis.url, "--no-demo", "--public-url", f"http://127.0.0.1:{port}")
    first = start_server(tmp_path / "one", *shared, port=port)
    try:
        shutil.copytree(first.data / "pki", tmp_path / "two" / "pki")  # both nodes sign under one PKI
        second = start_server(tmp_path / "two", *shared)
        try:
            key, public_key = _key()
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=30)) as http:
                api = f"/api/ceremonies/{ceremony}"
                async with http.post(first.base + api + "/challenges", json={"purpose": "enrollment"}) as r:
                    assert r.status == 201, await r.text()
                    challenge = (await r.json())["challenge"]
                message = possession_message(ceremony, signatory, challenge, public_key)
                signature = base64.b64encode(der_to_raw(key.sign(message, ec.ECDSA(hashes.SHA256())))).decode()
                body = {"public_key": public_key, "challenge": challenge, "signature": signature}
                async with http.post(second.base + api + "/enrollments", json=body) as r:
                    assert r.status == 201, await r.text()
                async with http.post(first.base + api + "/enrollments", json=body) as r:
                    refused = await r.json()
                    assert r.status == 400 and "challenge" in refused["reason"], refused
                async with http.get(second.base + api + "/me") as r:  # the node that logged it
                    me = await r.json()
            assert len(me["enrollments"]) == 1, me  # the replay left nothing behind
        finally:
            second.stop()
    finally:
        first.stop()
