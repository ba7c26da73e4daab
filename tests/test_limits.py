"""Per-client limits of the public routes, tried the way an abuser tries them: raw sockets and
plain HTTP against a real server on loopback, each "client" a different loopback address.

The limits and deadlines are settings the test makes small; nothing here measures time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.helpers import openssl
from web.app import create_app
from web.limits import Limits, RateLimit
from web.settings import Settings

# A second and third client: Linux answers on all of 127.0.0.0/8, so a socket bound to
# 127.0.0.2 reaches the server as another address.
OTHER, THIRD = "127.0.0.2", "127.0.0.3"


async def serve(tmp_path: Path, limits: Limits) -> TestServer:
    server = TestServer(create_app(Settings(data_dir=tmp_path / "data", create_demo=False, limits=limits)))
    await server.start_server()
    return server


@pytest.fixture
async def tsa_server(tmp_path: Path) -> AsyncIterator[TestServer]:
    # Three tokens, then (in effect) no refill during the test.
    server = await serve(tmp_path, Limits(tsa_per_second=0.001, tsa_burst=3))
    yield server
    await server.close()


async def _stamp(server: TestServer, query: bytes, source: str = "127.0.0.1") -> aiohttp.ClientResponse:
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        response = await http.post(
            str(server.make_url("/tsa")), data=query, headers={"Content-Type": "application/timestamp-query"}
        )
        await response.read()
        return response


async def test_the_public_tsa_is_rate_limited_per_client(tmp_path: Path, tsa_server: TestServer) -> None:
    (tmp_path / "digest.bin").write_bytes(b"anything at all")
    openssl("ts", "-query", "-data", "digest.bin", "-sha256", "-cert", "-out", "q.tsq", cwd=tmp_path)
    query = (tmp_path / "q.tsq").read_bytes()
    assert [(await _stamp(tsa_server, query)).status for _ in range(3)] == [200, 200, 200]
    refused = await _stamp(tsa_server, query)
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
    # Another client is not held back by the first one's flood.
    assert (await _stamp(tsa_server, query, OTHER)).status == 200


def test_a_rate_limit_refills_with_time_and_forgets_idle_clients() -> None:
    limit = RateLimit(rate=2.0, burst=2.0, max_keys=4)
    assert limit.take("a", now=0.0) == 0.0 and limit.take("a", now=0.0) == 0.0
    assert limit.take("a", now=0.0) == pytest.approx(0.5)  # the next token in half a second
    assert limit.take("a", now=0.5) == 0.0
    # Memory stays bounded however many addresses come; one still in debt is not forgiven
    # while idle, full buckets are there to forget.
    assert limit.take("a", now=0.5) > 0.0
    for n in range(100):
        limit.take(f"client-{n}", now=100.0 + n)
    assert len(limit._buckets) <= 4


Upload = tuple[asyncio.StreamReader, asyncio.StreamWriter]  # the writer kept: dropping it closes the socket


async def _start_upload(server: TestServer, source: str, declared: int = 60 * 1024 * 1024) -> Upload:
    """An upload that declares a big body, sends one byte of it, then goes quiet."""
    reader, writer = await asyncio.open_connection(server.host, server.port, local_addr=(source, 0))
    writer.write(
        b"POST /api/verify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/zip\r\n"
        + f"Content-Length: {declared}\r\n\r\nP".encode()
    )
    await writer.drain()
    return reader, writer


async def _status(upload: Upload) -> int:
    line = await asyncio.wait_for(upload[0].readline(), 60)
    return int(line.split()[1])


async def test_a_trickling_upload_is_ended_and_frees_its_slot(tmp_path: Path) -> None:
    server = await serve(tmp_path, Limits(upload_idle_seconds=0.3, upload_seconds=30.0, uploads_per_client=1))
    try:
        slow = await _start_upload(server, "127.0.0.1")
        assert await _status(slow) == 408  # not a slot held for as long as the trickle lasts
        # The same client may upload again: its place was given back.
        again = await _start_upload(server, "127.0.0.1", declared=5)
        assert await _status(again) == 408
        for _, writer in (slow, again):
            writer.close()
    finally:
        await server.close()


async def test_one_client_holds_one_upload_and_cannot_take_everyones_slots(tmp_path: Path) -> None:
    server = await serve(tmp_path, Limits(upload_idle_seconds=60.0, upload_seconds=120.0, uploads_per_client=1))
    try:
        held = await _start_upload(server, "127.0.0.1")  # stays in hand
        second = await _start_upload(server, "127.0.0.1")
        assert await _status(second) == 429
        # Someone else still gets the verifier: an empty zip is not a record, a 400, not 429 or 503.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(OTHER, 0))) as http:
            response = await http.post(
                str(server.make_url("/api/verify")), data=b"PK", headers={"Content-Type": "application/zip"}
            )
            assert response.status == 400, await response.text()
        assert not held[0].at_eof()
        for _, writer in (held, second):
            writer.close()
    finally:
        await server.close()
