"""Consent submitted -> acknowledged, against the bare operations in the same run.

The service path: HTTP POST /consents through the real app (aiohttp test server
on loopback): shape checks, challenge, certificate, ECDSA verify, a dry run of
the core, an RFC 3161 token from the built-in TSA, the synced append, then the
201. The floor: the same three operations done directly on the same machine,
one after another: ECDSA-P256 verify + token + a synced SQLite insert.

    .venv/bin/python -m bench.consent_bench --n 300
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import hashlib
import platform
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ceremony.canonical import canonicalize
from ceremony.commands import Freeze, OpenRooms, StartSegment
from ceremony.consent import consent_text, text_sha256
from ceremony.definition import parse_definition
from ceremony.events import Role
from ceremony.runtime.service import CeremonyService
from signatures.pki_store import load_or_create
from signatures.tsa import TimeStampAuthority
from web.app import create_app
from web.appkeys import SERVICE
from web.demo.definition import DEMO_DEFINITION
from web.settings import Settings


def raw_signature(key: ec.EllipticCurvePrivateKey, data: bytes) -> str:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()


def many_signatories(n: int) -> dict[str, Any]:
    """The demo with n signatories (one party each), so n consents can be given."""
    definition = dict(DEMO_DEFINITION)
    base_party = DEMO_DEFINITION["parties"][0]
    base_signatory = DEMO_DEFINITION["signatories"][0]
    definition["parties"] = [dict(base_party, id=f"p{i}") for i in range(n)]
    definition["signatories"] = [dict(base_signatory, id=f"s{i}", party=f"p{i}") for i in range(n)]
    return definition


PER_CEREMONY = 60  # a definition holds at most 64 parties


async def service_run(n: int, workdir: Path) -> list[float]:
    app = create_app(Settings(data_dir=workdir / "service", create_demo=False))
    latencies: list[float] = []
    async with TestClient(TestServer(app)) as client:
        while len(latencies) < n:
            latencies += await one_ceremony(client, app[SERVICE], min(PER_CEREMONY, n - len(latencies)))
    return latencies


async def one_ceremony(client: TestClient[Any, Any], service: CeremonyService, n: int) -> list[float]:
    definition = parse_definition(many_signatories(max(n, 2)))
    state = await service.create(definition, "bench")
    sha = hashlib.sha256(b"original").hexdigest()
    await service.execute(state.id, Freeze(document_sha256=sha, document_size=8), "bench")
    await service.execute(state.id, OpenRooms(), "bench")
    host = (await service.issue_link(state.id, Role.HOST, "bench")).token
    prepared = []
    for signatory in definition.signatories:
        link = (await service.issue_link(state.id, Role.SIGNATORY, "bench", signatory=signatory.id)).token
        key = ec.generate_private_key(ec.SECP256R1())
        spki = base64.b64encode(
            key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        ).decode()
        headers = {"Authorization": f"Bearer {link}"}
        url = f"/api/ceremonies/{state.id}"
        challenge = (
            await (await client.post(f"{url}/challenges", json={"purpose": "enrollment"}, headers=headers)).json()
        )["challenge"]
        pop = canonicalize(
            {
                "type": "ceremony-enrollment/1",
                "ceremony": state.id,
                "signatory": signatory.id,
                "challenge": challenge,
                "public_key": spki,
            }
        )
        enrolled = await (
            await client.post(
                f"{url}/enrollments",
                json={"public_key": spki, "challenge": challenge, "signature": raw_signature(key, pop)},
                headers=headers,
            )
        ).json()
        await client.post(
            f"{url}/enrollments/{enrolled['id']}/approve",
            json={"code_confirmed": True},
            headers={"Authorization": f"Bearer {host}"},
        )
        prepared.append((signatory, key, headers))
    await service.execute(state.id, StartSegment(segment="signing"), "bench")
    latencies = []
    for signatory, key, headers in prepared[:n]:
        challenge = (
            await (await client.post(f"{url}/challenges", json={"purpose": "consent"}, headers=headers)).json()
        )["challenge"]
        text = consent_text(definition, signatory, "en", sha, "consent")
        statement = {
            "type": "ceremony-consent/1", "decision": "consent", "ceremony": state.id, "document_sha256": sha,
            "consent_text_sha256": text_sha256(text), "language": "en", "party": signatory.party,
            "signatory": signatory.id, "venue": signatory.venue, "challenge": challenge,
            "client_time": "2020-05-29T10:40:00+09:00",
        }  # fmt: skip
        body = {"statement": statement, "signature": raw_signature(key, canonicalize(statement))}
        started = time.perf_counter()
        response = await client.post(f"{url}/consents", json=body, headers=headers)
        latencies.append(time.perf_counter() - started)
        assert response.status == 201, await response.text()
    return latencies


def floor_run(n: int, workdir: Path) -> list[float]:
    pki = load_or_create(workdir / "pki", dt.datetime.now(dt.UTC), crl_base=Settings(data_dir=workdir).crl_base)
    tsa = TimeStampAuthority(pki.tsa, pki.chain)  # as the server's: its tokens carry the issuing CA
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    db = sqlite3.connect(workdir / "floor.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    latencies = []
    for i in range(n):
        statement = canonicalize({"n": i, "pad": "x" * 400})
        signature = key.sign(statement, ec.ECDSA(hashes.SHA256()))
        started = time.perf_counter()
        public.verify(signature, statement, ec.ECDSA(hashes.SHA256()))
        token = tsa.stamp(hashlib.sha256(statement).digest(), dt.datetime.now(dt.UTC)).token
        db.execute("BEGIN")
        db.execute("INSERT INTO events (seq, body) VALUES (?, ?)", (i, statement + token + signature))
        db.execute("COMMIT")
        latencies.append(time.perf_counter() - started)
    db.close()
    return latencies


def summary(name: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    rate = len(ordered) / sum(ordered)
    return f"{name:<46} {len(ordered):>5} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="consents (one signatory each)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        floor = floor_run(args.n, workdir)
        service = asyncio.run(service_run(args.n, workdir))
    print(f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, N={args.n}, sequential")
    print(f"{'scenario':<46} {'ops':>5} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    print(summary("floor: ECDSA verify + RFC 3161 token + synced insert", floor))
    print(summary("service: POST /consents -> 201", service))
    ratio = statistics.median(service) / statistics.median(floor)
    print(f"service p50 = {ratio:.2f}x the floor's p50")


if __name__ == "__main__":
    main()
