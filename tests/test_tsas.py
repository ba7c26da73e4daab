"""External TSAs, and two at once (one in each country): every item then carries a token from each.

An external TSA is outside the system, so the tests stand one up: another
PKI's TSA behind a small aiohttp app that also publishes that PKI's CRLs at the
distribution points its certificates name (the server fetches them at the seal,
as it would from a real TSA's CA). Its tokens are trusted only under a CA the
archivist pins with --tsa-trust, never under the copy the record carries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509

from ceremony.canonical import canonicalize
from signatures.cms import sign_detached
from signatures.crl import CrlPublisher
from signatures.errors import TimestampError
from signatures.pki_store import load_or_create
from signatures.record.arrival import CheckedTimestamper
from signatures.record.pins import Pins
from signatures.record.validation import Anchors
from signatures.record.verifier import verify_record
from signatures.timestamping import RemoteTimestamper, imprint
from signatures.tsa import TimeStampAuthority
from tests.helpers import Room, make_room, ready, zip_bytes
from web.appkeys import PKI, RECORDS, SEALER
from web.demo.scripted import ScriptError

NOW = dt.datetime.now


@dataclass
class Outside:
    url: str
    root_pem: bytes
    root_file: Path


async def outside_tsa(aiohttp_server: Any, directory: Path, organisation: str) -> Outside:
    """A TSA of another PKI, with its CRLs where its certificates say."""
    held: dict[str, Any] = {}

    async def stamp(request: web.Request) -> web.Response:
        reply = held["tsa"].respond(await request.read(), NOW(dt.UTC))
        return web.Response(body=reply, content_type="application/timestamp-reply")

    async def crl(request: web.Request) -> web.Response:
        der = held["crls"].crl(request.match_info["key"], NOW(dt.UTC))
        return web.Response(body=der, content_type="application/pkix-crl") if der else web.Response(status=404)

    app = web.Application()
    app.router.add_post("/tsa", stamp)
    app.router.add_get("/crl/{key}.crl", crl)
    server = await aiohttp_server(app)
    pki = load_or_create(directory, NOW(dt.UTC), crl_base=str(server.make_url("/crl")), organisation=organisation)
    held["tsa"], held["crls"] = TimeStampAuthority(pki.tsa, pki.chain), CrlPublisher(pki, list)
    return Outside(str(server.make_url("/tsa")), pki.root_pem, directory / "root.pem")


async def sealed_room(room: Room, signers: int = 2) -> bytes:
    for signer in room.signers[:signers]:
        await ready(room, signer)
        await signer.sign_pdf()
    await room.host.call("POST", "/seal", {"absent_ok": True})
    data: bytes = room.app[RECORDS].read(room.ceremony)
    return data


def files_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def failed(data: bytes, pins: Pins) -> dict[str, str]:
    report = verify_record(data, pins, at=NOW(dt.UTC))
    return {c.name: c.detail for c in report.failed}


async def test_an_external_tsa_is_trusted_only_under_the_ca_the_archivist_pins(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    outside = await outside_tsa(aiohttp_server, tmp_path / "outside", "Outside Time Authority")
    room = await make_room(
        aiohttp_client, tmp_path, original_pdf, tsa_urls=(outside.url,), tsa_ca_files=(outside.root_file,)
    )
    data = await sealed_room(room, signers=1)
    root = room.app[PKI].root_pem
    report = verify_record(data, Pins(root_pem=root, tsa_pems=(outside.root_pem,)), at=NOW(dt.UTC))
    assert report.ok, "\n".join(report.lines())
    stamp = next(c for c in report.checks if c.name == "evidence.timestamp")
    assert "the pinned TSA anchor" in stamp.detail and "Outside Time Authority" in stamp.detail
    files = files_of(data)
    assert files["tsa-ca.pem"] == outside.root_pem and "--tsa-trust" in files["VERIFY.txt"].decode()
    # Its revocation data was fetched at the seal from where its certificates point: the record holds it.
    assert sum(name.startswith("revocation/") for name in files) == 4  # our two CRLs and the outside PKI's two

    # Without the pin, its copy in the zip is not trusted: every token fails and the report says how to fix it.
    unpinned = verify_record(data, Pins(root_pem=root), at=NOW(dt.UTC))
    found = {c.name: c.detail for c in unpinned.failed}
    assert {"evidence.timestamp", "consent.timestamp", "pdf.signature"} <= set(found)
    note = next(c for c in unpinned.checks if c.name == "trust.tsa")
    assert "not trusted on its own word" in note.detail and "--tsa-trust" in note.detail
    # Nor can its CA stand in for the ceremony root: the outside PKI's own seal certificate, pinned as a TSA
    # anchor, re-seals the very same evidence.json (openssl) and the seal fails; its timestamp still holds.
    work = tmp_path / "reseal"
    work.mkdir()
    files = files_of(data)
    (work / "evidence.json").write_bytes(files["evidence.json"])
    resealed = subprocess.run(
        ["openssl", "cms", "-sign", "-binary", "-md", "sha256", "-in", "evidence.json",
         "-signer", str(tmp_path / "outside" / "seal.pem"), "-inkey", str(tmp_path / "outside" / "seal.key"),
         "-certfile", str(tmp_path / "outside" / "issuing.pem"), "-outform", "DER", "-out", "evidence.p7s"],
        cwd=work, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert resealed.returncode == 0, resealed.stderr
    forged = zip_bytes({**files, "evidence.p7s": (work / "evidence.p7s").read_bytes()})
    found = failed(forged, Pins(root_pem=root, tsa_pems=(outside.root_pem,)))
    assert set(found) == {"evidence.seal"}, found

    # openssl agrees, with the CA the archivist obtained.
    where = tmp_path / "record"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(where)
    (where / "anchors.pem").write_bytes(root + outside.root_pem)
    who = room.signers[0].signatory
    done = subprocess.run(
        ["openssl", "ts", "-verify", "-in", f"consents/{who}.tsr", "-token_in", "-data",
         f"consents/{who}.statement.json", "-CAfile", "anchors.pem"],
        cwd=where, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "Verification: OK" in done.stdout, done.stderr


async def test_with_two_tsas_every_item_carries_a_token_from_each_and_all_are_required(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    outside = await outside_tsa(aiohttp_server, tmp_path / "nanjing-tsa", "Nanjing Time Authority")
    room = await make_room(
        aiohttp_client,
        tmp_path,
        original_pdf,
        tsa_urls=("builtin", outside.url),
        tsa_ca_files=(outside.root_file,),
    )
    data = await sealed_room(room)
    root = room.app[PKI].root_pem
    pins = Pins(root_pem=root, tsa_pems=(outside.root_pem,))
    report = verify_record(data, pins, at=NOW(dt.UTC))
    assert report.ok, "\n".join(report.lines())
    files = files_of(data)
    evidence = json.loads(files["evidence.json"])
    # Each TSA's name ends in the year its key was made (not read from the clock here: New Year's Eve runs pass).
    names = [t["subject"].split("CN=")[1].rsplit(" ", 1) for t in evidence["trust"]["timestamping"]]
    assert [name for name, _ in names] == [
        "Online Signing Ceremony Time-Stamping Authority",
        "Nanjing Time Authority Time-Stamping Authority",
    ]
    assert all(year.isdigit() and len(year) == 4 for _, year in names), names
    assert {"evidence.tsr", "evidence.2.tsr"} <= set(files)
    assert all(len(c["timestamps"]) == 2 for c in evidence["consents"])
    assert all(len(p["timestamps"]) == 2 for p in evidence["pdf_signatures"])
    assert [t["field"] for t in evidence["document_timestamps"]] == ["Seal-Timestamp-1", "Seal-Timestamp-2"]
    names = [c.name for c in report.checks]
    assert names.count("evidence.timestamp") == 2 and names.count("consent.timestamp") == 4
    assert names.count("pdf.timestamps") == 2 and names.count("pdf.timestamp") == 2

    # Each TSA's token checks with openssl under that TSA's own CA only.
    where = tmp_path / "record"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(where)
    (where / "outside.pem").write_bytes(outside.root_pem)
    (where / "ours.pem").write_bytes(root)
    who = room.signers[1].signatory
    for token, ca, ok in ((".2.tsr", "outside.pem", True), (".2.tsr", "ours.pem", False), (".tsr", "ours.pem", True)):
        for stem, data_file in (
            (f"consents/{who}", f"consents/{who}.statement.json"),
            (f"signatures/{who}", f"signatures/{who}.value"),
        ):
            done = subprocess.run(
                ["openssl", "ts", "-verify", "-in", stem + token, "-token_in", "-data", data_file, "-CAfile", ca,
                 "-untrusted", "chain.pem"],
                cwd=where, capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert ("Verification: OK" in done.stdout) is ok, (stem, token, ca, done.stdout, done.stderr)

    # Every configured TSA is required: drop the second evidence token...
    dropped = {n: d for n, d in files.items() if n != "evidence.2.tsr"}
    assert "record.evidence" in failed(zip_bytes(dropped), pins)
    # ...or have the operator re-seal evidence.json with one consent's second token left out.
    doctored = json.loads(files["evidence.json"])
    doctored["consents"][0]["timestamps"].pop()
    body = canonicalize(doctored)
    resealed = dict(files, **{"evidence.json": body, "evidence.p7s": sign_detached(body, room.app[PKI].seal)})
    for i, token in enumerate(await room.app[SEALER].kit.tsas.timestamp(body)):
        resealed["evidence.tsr" if i == 0 else f"evidence.{i + 1}.tsr"] = token.der
    found = failed(zip_bytes(resealed), pins)
    assert "consent.timestamp" in found and "2 TSA(s)" in found["consent.timestamp"]
    assert "evidence.seal" not in found and "evidence.timestamp" not in found  # genuine seal and tokens


async def test_a_failing_second_tsa_fails_the_consent_loudly_and_records_nothing(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    outside = await outside_tsa(aiohttp_server, tmp_path / "outside", "Outside Time Authority")
    broken = outside.url.replace("/tsa", "/nowhere")
    room = await make_room(
        aiohttp_client, tmp_path, original_pdf, tsa_urls=("builtin", broken), tsa_ca_files=(outside.root_file,)
    )
    signer = room.signers[0]
    enrollment = await signer.enroll()
    await room.host.call("POST", f"/enrollments/{enrollment}/approve", {"code_confirmed": True})
    before = room.state.seq
    with pytest.raises(ScriptError, match="HTTP 503"):
        await signer.decide()
    assert room.state.seq == before and signer.signatory not in room.state.consents


async def test_an_outside_token_is_checked_on_arrival_against_the_pinned_tsa_ca(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    """A token is taken only if it holds as the verifier will judge it: signed, over our digest, under the anchor."""
    outside = await outside_tsa(aiohttp_server, tmp_path / "outside", "Outside Time Authority")
    other = await outside_tsa(aiohttp_server, tmp_path / "other", "Other Time Authority")
    digest = hashlib.sha256(b"a consent statement").digest()
    async with aiohttp.ClientSession() as http:
        remote = RemoteTimestamper(outside.url, http)
        pinned = Anchors(root=x509.load_pem_x509_certificate(outside.root_pem))
        token = await CheckedTimestamper(remote, outside.url, pinned, http).timestamp_digest(digest)
        assert imprint(token.der) == digest
        # The same reply under another PKI's anchor: refused, naming the TSA and why.
        foreign = Anchors(root=x509.load_pem_x509_certificate(other.root_pem))
        with pytest.raises(TimestampError, match=r"does not hold: .*not a valid tsa certificate"):
            await CheckedTimestamper(remote, outside.url, foreign, http).timestamp_digest(digest)


async def test_an_outside_reply_is_read_only_up_to_64_kib(aiohttp_server: Any) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/timestamp-reply"})
        await response.prepare(request)  # chunked: no Content-Length to refuse it by
        for _ in range(100):
            await response.write(bytes(1024))
        return response

    app = web.Application()
    app.router.add_post("/tsa", endless)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(TimestampError, match="more than 64 KiB"):
            await RemoteTimestamper(str(server.make_url("/tsa")), http).timestamp(b"data")


async def test_an_outside_tsa_answering_under_another_pki_fails_the_consent_and_records_nothing(
    aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    """The URL answers, with good tokens even, but of a TSA the pinned --tsa-ca does not vouch for."""
    outside = await outside_tsa(aiohttp_server, tmp_path / "outside", "Outside Time Authority")
    impostor = await outside_tsa(aiohttp_server, tmp_path / "impostor", "Impostor Time Authority")
    room = await make_room(
        aiohttp_client,
        tmp_path,
        original_pdf,
        tsa_urls=("builtin", impostor.url),
        tsa_ca_files=(outside.root_file,),
    )
    signer = room.signers[0]
    enrollment = await signer.enroll()
    await room.host.call("POST", f"/enrollments/{enrollment}/approve", {"code_confirmed": True})
    before = room.state.seq
    with pytest.raises(ScriptError, match=r"HTTP 503: .*does not hold"):
        await signer.decide()
    assert room.state.seq == before and signer.signatory not in room.state.consents
