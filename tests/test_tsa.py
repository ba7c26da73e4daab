"""The ceremony PKI and the built-in RFC 3161 TSA, checked by the real `openssl` binary."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from asn1crypto import tsp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from signatures.errors import PkiError, TimestampError
from signatures.pki import CeremonyPki
from signatures.pki_store import load_or_create, load_pair
from signatures.timestamping import RemoteTimestamper
from signatures.tsa import POLICY, TimeStampAuthority, TimeStampResponse, token_gen_time
from tests.helpers import ROOT, Server, free_port, openssl, start_server

# The PKI is made on the morning of the ceremony, so that NOW lies in the TSA key's usage period.
MADE = dt.datetime(2020, 5, 29, 0, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2020, 5, 29, 1, 20, 0, 123456, tzinfo=dt.UTC)
CRL_BASE = "http://127.0.0.1:8080/pki/crl"


@pytest.fixture
def pki(tmp_path: Path) -> CeremonyPki:
    return load_or_create(tmp_path / "pki", MADE, crl_base=CRL_BASE)


def test_pki_files_are_private_and_reloaded_unchanged(tmp_path: Path, pki: CeremonyPki) -> None:
    directory = tmp_path / "pki"
    assert directory.stat().st_mode & 0o777 == 0o700
    for stem in ("root", "tsa", "seal"):
        assert (directory / f"{stem}.key").stat().st_mode & 0o777 == 0o600
    again = load_or_create(directory, NOW, crl_base=CRL_BASE)
    assert again.root == pki.root
    assert again.issuing.certificate == pki.issuing.certificate
    assert again.tsa.certificate == pki.tsa.certificate
    assert again.seal.certificate == pki.seal.certificate


def test_tsa_certificate_has_critical_timestamping_eku(pki: CeremonyPki) -> None:
    eku = pki.tsa.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert pki.tsa.certificate.issuer == pki.issuing.certificate.subject


def test_a_key_that_does_not_match_its_certificate_is_refused(tmp_path: Path, pki: CeremonyPki) -> None:
    with pytest.raises(PkiError, match="does not belong"):
        load_pair(tmp_path / "pki" / "tsa.pem", tmp_path / "pki" / "seal.key")


def test_openssl_query_reply_verify(tmp_path: Path, pki: CeremonyPki) -> None:
    (tmp_path / "data.txt").write_text("2020-05-29 Gangwon-Nanjing MOU\n")
    (tmp_path / "root.pem").write_bytes(pki.root_pem)
    (tmp_path / "tsa.pem").write_bytes(pki.tsa.certificate_pem)
    assert (
        openssl("ts", "-query", "-data", "data.txt", "-sha256", "-cert", "-out", "req.tsq", cwd=tmp_path).returncode
        == 0
    )
    reply = TimeStampAuthority(pki.tsa, pki.chain).respond((tmp_path / "req.tsq").read_bytes(), NOW)
    (tmp_path / "resp.tsr").write_bytes(reply)
    result = openssl(
        "ts", "-verify", "-in", "resp.tsr", "-queryfile", "req.tsq", "-CAfile", "root.pem", "-untrusted", "tsa.pem",
        cwd=tmp_path,
    )  # fmt: skip
    assert "Verification: OK" in result.stdout, result.stdout + result.stderr
    text = openssl("ts", "-reply", "-in", "resp.tsr", "-text", cwd=tmp_path).stdout
    assert f"Policy OID: {POLICY}" in text and "Time stamp: May 29 01:20:00.123 2020 GMT" in text

    # The same token, checked against the data itself, fails for other data.
    (tmp_path / "other.txt").write_text("2020-05-29 Gangwon-Nanjing MOU, amended\n")
    result = openssl(
        "ts", "-verify", "-in", "resp.tsr", "-data", "other.txt", "-CAfile", "root.pem", "-untrusted", "tsa.pem",
        cwd=tmp_path,
    )  # fmt: skip
    assert "Verification: OK" not in result.stdout


def test_token_over_a_digest_verifies_and_another_root_does_not(tmp_path: Path, pki: CeremonyPki) -> None:
    digest = hashlib.sha256(b"consent statement").digest()
    stamp = TimeStampAuthority(pki.tsa, pki.chain).stamp(digest, NOW)
    assert token_gen_time(stamp.token) == NOW.replace(microsecond=123000)
    (tmp_path / "token.der").write_bytes(stamp.token)
    (tmp_path / "root.pem").write_bytes(pki.root_pem)
    (tmp_path / "tsa.pem").write_bytes(pki.tsa.certificate_pem)
    args = ["ts", "-verify", "-token_in", "-in", "token.der", "-digest", digest.hex(), "-untrusted", "tsa.pem"]
    assert "Verification: OK" in openssl(*args, "-CAfile", "root.pem", cwd=tmp_path).stdout
    stranger = load_or_create(tmp_path / "other-pki", dt.datetime.now(dt.UTC), crl_base=CRL_BASE)
    (tmp_path / "stranger.pem").write_bytes(stranger.root_pem)
    assert "Verification: OK" not in openssl(*args, "-CAfile", "stranger.pem", cwd=tmp_path).stdout


def test_refusals_are_rfc3161_rejections(tmp_path: Path, pki: CeremonyPki) -> None:
    tsa = TimeStampAuthority(pki.tsa, pki.chain)
    garbage = TimeStampResponse.load(tsa.respond(b"not der at all", NOW))
    assert garbage["status"]["status"].native == "rejection"
    assert garbage["status"]["fail_info"].native == {"bad_request"}
    (tmp_path / "data.txt").write_text("x")
    openssl("ts", "-query", "-data", "data.txt", "-sha1", "-out", "sha1.tsq", cwd=tmp_path)
    sha1 = TimeStampResponse.load(tsa.respond((tmp_path / "sha1.tsq").read_bytes(), NOW))
    assert sha1["status"]["fail_info"].native == {"bad_alg"}
    openssl("ts", "-query", "-data", "data.txt", "-sha256", "-tspolicy", "1.2.3.4", "-out", "pol.tsq", cwd=tmp_path)
    policy = TimeStampResponse.load(tsa.respond((tmp_path / "pol.tsq").read_bytes(), NOW))
    assert policy["status"]["fail_info"].native == {"unaccepted_policy"}


async def test_post_tsa_on_a_running_server_verifies_with_openssl(tmp_path: Path, server: Server) -> None:
    (tmp_path / "mou.pdf").write_bytes(b"%PDF-1.7 pretend")
    openssl("ts", "-query", "-data", "mou.pdf", "-sha256", "-cert", "-out", "q.tsq", cwd=tmp_path)
    async with aiohttp.ClientSession() as http:
        r = await http.post(
            f"{server.base}/tsa",
            data=(tmp_path / "q.tsq").read_bytes(),
            headers={"Content-Type": "application/timestamp-query"},
        )
        assert r.status == 200 and r.headers["Content-Type"] == "application/timestamp-reply"
        (tmp_path / "r.tsr").write_bytes(await r.read())
        (tmp_path / "ca.pem").write_bytes(await (await http.get(f"{server.base}/ca.pem")).read())
        (tmp_path / "tsa.pem").write_bytes(await (await http.get(f"{server.base}/tsa.pem")).read())
        wrong = await http.post(f"{server.base}/tsa", data=b"x", headers={"Content-Type": "text/plain"})
        assert wrong.status == 400 and "timestamp-query" in (await wrong.json())["reason"]
    result = openssl(
        "ts", "-verify", "-in", "r.tsr", "-queryfile", "q.tsq", "-CAfile", "ca.pem", "-untrusted", "tsa.pem",
        cwd=tmp_path,
    )  # fmt: skip
    assert "Verification: OK" in result.stdout, result.stdout + result.stderr
    assert (server.data / "pki" / "tsa.key").stat().st_mode & 0o777 == 0o600


async def test_remote_timestamper_against_our_tsa_and_failing_ones(
    tmp_path: Path, pki: CeremonyPki, aiohttp_server: Any
) -> None:
    """A stand-in external TSA (outside the system, so a small aiohttp app) answering well or badly."""
    tsa = TimeStampAuthority(pki.tsa, pki.chain)
    behaviour = {"mode": "good"}

    async def handle(request: web.Request) -> web.Response:
        query = await request.read()
        if behaviour["mode"] == "500":
            return web.Response(status=500)
        if behaviour["mode"] == "junk":
            return web.Response(body=b"\x30\x03\x02\x01\x00", content_type="application/timestamp-reply")
        if behaviour["mode"] == "replay":
            other = tsp.TimeStampReq.load(query).copy()
            other["nonce"] = 12345
            return web.Response(body=tsa.respond(other.dump(), NOW), content_type="application/timestamp-reply")
        return web.Response(body=tsa.respond(query, NOW), content_type="application/timestamp-reply")

    app = web.Application()
    app.router.add_post("/tsa", handle)
    srv = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        remote = RemoteTimestamper(str(srv.make_url("/tsa")), session, timeout=5)
        token = await remote.timestamp(b"consent")
        assert token.gen_time == NOW.replace(microsecond=123000)
        (tmp_path / "t.der").write_bytes(token.der)
        (tmp_path / "root.pem").write_bytes(pki.root_pem)
        (tmp_path / "tsa.pem").write_bytes(pki.tsa.certificate_pem)
        digest = hashlib.sha256(b"consent").hexdigest()
        verify = ["ts", "-verify", "-token_in", "-in", "t.der", "-digest", digest, "-CAfile", "root.pem"]
        assert "Verification: OK" in openssl(*verify, "-untrusted", "tsa.pem", cwd=tmp_path).stdout
        for mode, words in [("500", "HTTP 500"), ("junk", "not a valid"), ("replay", "nonce")]:
            behaviour["mode"] = mode
            with pytest.raises(TimestampError, match=words):
                await remote.timestamp(b"consent")
        closed = RemoteTimestamper(f"http://127.0.0.1:{free_port()}/tsa", session, timeout=5)
        with pytest.raises(TimestampError, match="could not be reached"):
            await closed.timestamp(b"consent")


async def test_serve_with_the_operators_own_ca(tmp_path: Path) -> None:
    own = load_or_create(
        tmp_path / "own", dt.datetime.now(dt.UTC), crl_base=CRL_BASE, organisation="Gangwon Provincial Office"
    )
    flags = ["--ca-cert", str(tmp_path / "own" / "root.pem"), "--ca-key", str(tmp_path / "own" / "root.key")]
    srv = start_server(tmp_path / "data", *flags)
    try:
        async with aiohttp.ClientSession() as http:
            served = await (await http.get(f"{srv.base}/ca.pem")).read()
            tsa_pem = await (await http.get(f"{srv.base}/tsa.pem")).read()
        assert served == own.root_pem  # the operator's CA, not a generated one
        tsa = x509.load_pem_x509_certificate(tsa_pem)
        issuing = x509.load_pem_x509_certificate((tmp_path / "data" / "pki" / "issuing.pem").read_bytes())
        assert issuing.issuer == own.root.subject and tsa.issuer == issuing.subject  # issued under it
    finally:
        srv.stop()
    mismatched = subprocess.run(
        [sys.executable, "-m", "web.cli", "serve", "--data", str(tmp_path / "other"),
         "--ca-cert", str(tmp_path / "own" / "root.pem"), "--ca-key", str(tmp_path / "own" / "tsa.key")],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip
    assert mismatched.returncode == 2 and "does not belong" in mismatched.stderr
