"""The PDF signing step across two nodes (issue 14): prepared on one, finished on the other.

A signing session lives in the memory of the node that prepared it. Two in-process nodes share
one PostgreSQL database, one Redis and one PKI, as behind a round-robin balancer; the finish is
sent to the node that did not prepare it, which carries it over the bus to the one that did
(web/pdf_nodes.py, ceremony/runtime/node_calls.py). Nothing here asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from ceremony.runtime.bus import Bus
from ceremony.runtime.node_calls import CallRefused, NodeCalls, NodeGone, NodeSilent
from ceremony.runtime.stores import parse_store_url
from signatures.pdf_desk import NO_SESSION
from tests.engines import Postgres, Redis, signing_ceremony
from tests.helpers import pdfsig
from web.app import create_app
from web.appkeys import BUS
from web.demo.scripted import Api, ScriptedSignatory
from web.settings import Settings


@dataclass
class Cluster:
    tmp: Path
    http: aiohttp.ClientSession
    nodes: list[TestServer]
    ceremony: str
    tokens: dict[str, str]
    signatories: list[str]

    def api(self, node: int, who: str) -> Api:
        server = self.nodes[node]
        return Api(self.http, f"http://{server.host}:{server.port}", self.ceremony, self.tokens[who])

    def node_id(self, node: int) -> str:
        return self.nodes[node].app[BUS].node

    async def ready(self, signatory: str, node: int) -> ScriptedSignatory:
        """A signatory on `node` with an approved key (approved by the host on the other node) who consented."""
        signer = ScriptedSignatory(self.api(node, signatory), signatory)
        enrollment = await signer.enroll()
        await self.api(1 - node, "host").call("POST", f"/enrollments/{enrollment}/approve", {"code_confirmed": True})
        await signer.wait_for_certificate()
        await signer.decide("consent")
        return signer

    async def prepare(self, signer: ScriptedSignatory, node: int) -> tuple[str, bytes]:
        prepared = await self.api(node, signer.signatory).call("POST", "/pdf-signatures", {})
        return str(prepared["session"]), base64.b64decode(prepared["to_sign"])

    async def finish(self, signer: ScriptedSignatory, node: int, session: str, signature: str) -> tuple[int, Any]:
        """POST the finish to `node` as the page does: (status, JSON answer), whatever the status."""
        api = self.api(node, signer.signatory)
        headers = {"Authorization": f"Bearer {api.token}"}
        url = api.url(f"/pdf-signatures/{session}")
        async with self.http.post(url, json={"signature": signature}, headers=headers) as response:
            return response.status, await response.json()

    async def log_length(self) -> int:
        state = await self.api(1, "host").call("GET", "")
        return int(state["log"]["length"])


async def _ceremony(store: str, pdf: bytes) -> tuple[str, dict[str, str], list[str]]:
    """An open ceremony in its signing segment, in the shared database: (id, tokens, signatories)."""
    made = await signing_ceremony(store, pdf, signatories=2)
    return made.ceremony, made.tokens, made.signatories


@contextlib.asynccontextmanager
async def cluster(tmp_path: Path, postgres: Postgres, redis: Redis, pdf: bytes) -> AsyncIterator[Cluster]:
    store = postgres.new_database()
    ceremony, tokens, signatories = await _ceremony(store, pdf)

    def node(name: str) -> TestServer:
        settings = Settings(tmp_path / name, create_demo=False, store=parse_store_url(store), bus_url=redis.url)
        return TestServer(create_app(settings))

    nodes = [node("one")]
    try:
        await nodes[0].start_server()
        shutil.copytree(tmp_path / "one" / "pki", tmp_path / "two" / "pki")  # one PKI for the cluster (deploy.md)
        nodes.append(node("two"))
        await nodes[1].start_server()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            yield Cluster(tmp_path, http, nodes, ceremony, tokens, signatories)
    finally:
        for server in nodes:
            await server.close()


async def test_a_signature_prepared_on_one_node_is_finished_through_the_other(
    tmp_path: Path, postgres: Postgres, redis: Redis, original_pdf: bytes
) -> None:
    async with cluster(tmp_path, postgres, redis, original_pdf) as made:
        signer = await made.ready(made.signatories[0], 0)
        session, to_sign = await made.prepare(signer, 0)
        assert session.startswith(made.node_id(0) + ".")  # the session names the node that holds it

        status, answer = await made.finish(signer, 1, session, signer.sign(to_sign))
        assert status == 201, answer
        assert answer["signatory"] == signer.signatory

        # Both nodes see it, and the signed PDF (read through the other node) carries it, valid.
        me = await made.api(1, signer.signatory).call("GET", "/me")
        assert me["pdf_signature"]["sha256"] == answer["sha256"]
        headers = {"Authorization": f"Bearer {made.tokens[signer.signatory]}"}
        async with made.http.get(made.api(0, signer.signatory).url("/documents/signed"), headers=headers) as r:
            assert r.status == 200, await r.text()
            (tmp_path / "signed.pdf").write_bytes(await r.read())
        report = pdfsig(tmp_path / "signed.pdf", (tmp_path / "one" / "pki" / "root.pem").read_bytes(), tmp_path)
        assert report.count("Signature is Valid.") == 1, report
        assert report.count("Certificate is Trusted.") == 1, report
        assert signer.signatory in report


async def test_a_finish_carried_to_the_holder_is_refused_as_the_holder_refuses_it(
    tmp_path: Path, postgres: Postgres, redis: Redis, original_pdf: bytes
) -> None:
    async with cluster(tmp_path, postgres, redis, original_pdf) as made:
        signer = await made.ready(made.signatories[0], 0)
        session, to_sign = await made.prepare(signer, 0)
        # A value that is not the signature of to_sign, then one that is not even a signature: each
        # refused through the other node with the very status and body the holder gives itself.
        for wrong in (signer.sign(b"something else"), base64.b64encode(b"short").decode()):
            carried = await made.finish(signer, 1, session, wrong)
            local = await made.finish(signer, 0, session, wrong)
            assert carried == local, (carried, local)
            assert 400 <= carried[0] < 500, carried
        # A wrong value leaves the session open: the right one, through the other node, signs.
        status, answer = await made.finish(signer, 1, session, signer.sign(to_sign))
        assert status == 201, answer
        # Used now: refused alike on both nodes, as an expired session.
        carried = await made.finish(signer, 1, session, signer.sign(to_sign))
        assert carried == await made.finish(signer, 0, session, signer.sign(to_sign))
        assert carried == (400, {"error": "bad_request", "reason": NO_SESSION})


async def test_a_session_whose_node_is_gone_or_never_was_is_refused_as_expired(
    tmp_path: Path, postgres: Postgres, redis: Redis, original_pdf: bytes
) -> None:
    async with cluster(tmp_path, postgres, redis, original_pdf) as made:
        signer = await made.ready(made.signatories[0], 1)
        session, to_sign = await made.prepare(signer, 0)
        before = await made.log_length()
        await made.nodes[0].close()  # the holder goes, and its sessions with it

        expired = (400, {"error": "bad_request", "reason": NO_SESSION})
        assert await made.finish(signer, 1, session, signer.sign(to_sign)) == expired
        # Ids naming a node that never was, or nothing a node could be called, are refused alike.
        _holder, _, own = session.rpartition(".")
        for forged in ("n-000000000000." + own, "bad!node." + own, own):
            assert await made.finish(signer, 1, forged, signer.sign(to_sign)) == expired, forged
        assert await made.log_length() == before  # nothing was logged
        assert (await made.api(1, signer.signatory).call("GET", "/me"))["pdf_signature"] is None

        # What the signing page does next: prepare again (on the node left) and finish.
        assert (await signer.sign_pdf())["signatory"] == signer.signatory


# ------------------------------------------------------------------ calls between nodes, on their own


@pytest.fixture
async def calls(redis: Redis) -> AsyncIterator[tuple[NodeCalls, NodeCalls]]:
    """Two nodes' call ends on one Redis: `a` calls, `b` answers."""
    prefix = f"test-{secrets.token_hex(4)}:"
    buses = [Bus(redis.url, node=name, prefix=prefix) for name in ("a", "b")]
    ends = (NodeCalls(buses[0]), NodeCalls(buses[1]))
    for end in ends:
        await end.start()
    yield ends
    for end in ends:
        await end.close()
    for bus in buses:
        await bus.close()


async def test_a_call_returns_the_result_or_the_refusal_of_the_other_node(calls: tuple[NodeCalls, NodeCalls]) -> None:
    a, b = calls

    async def echo(payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("refuse"):
            raise CallRefused("BadSubmission", "refused there")
        if payload.get("fail"):
            raise RuntimeError("a bug there")
        return {"seen": payload, "by": b.node}

    b.register("echo", echo)
    assert await a.call("b", "echo", {"x": 1}, 5.0) == {"seen": {"x": 1}, "by": "b"}
    with pytest.raises(CallRefused) as refused:
        await a.call("b", "echo", {"refuse": True}, 5.0)
    assert (refused.value.kind, refused.value.reason) == ("BadSubmission", "refused there")
    with pytest.raises(CallRefused) as failed:
        await a.call("b", "echo", {"fail": True}, 5.0)
    assert failed.value.kind == "internal"  # the traceback stays in b's log
    with pytest.raises(CallRefused) as unknown:
        await a.call("b", "nothing", {}, 5.0)
    assert unknown.value.kind == "unknown_call"
    with pytest.raises(NodeGone):
        await a.call("c", "echo", {}, 5.0)  # nobody listens for c


async def test_a_node_that_leaves_mid_call_is_gone_and_one_that_keeps_quiet_is_silent(
    calls: tuple[NodeCalls, NodeCalls],
) -> None:
    a, b = calls
    entered = asyncio.Event()

    async def hang(payload: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        await asyncio.Event().wait()
        return {}

    b.register("hang", hang)
    with pytest.raises(NodeSilent):
        await a.call("b", "hang", {}, 0.3)
    entered.clear()
    pending = asyncio.create_task(a.call("b", "hang", {}, 600.0))
    await entered.wait()
    await b.close()  # b stops listening while it still owes the answer
    with pytest.raises(NodeGone, match="before it answered"):
        await pending
