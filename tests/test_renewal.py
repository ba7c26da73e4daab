"""Renewal and revocation: a record outlives its last TSA certificate, and a key revoked later spoils nothing it signed.

The demo's server runs again on a copy of its data (and at its address, which its
certificates name as their CRL distribution point), so that revocation goes
through the real API and `ceremony renew` fetches the real CRLs and stamps with
the real public TSA. The decades-later renewal runs in process with the clock
moved: a new TSA key, certified as the server would certify it then.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import re
import shutil
import subprocess
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from signatures.crl import issue_crl, revoked_serials
from signatures.pki import TSA, issue_service
from signatures.pki_store import load_pair
from signatures.record.pins import Pins
from signatures.record.renew import RenewalRefused, renew_record
from signatures.record.verifier import verify_record
from signatures.timestamping import LocalTimestamper, TimestampSet
from signatures.tsa import TimeStampAuthority
from tests.helpers import ROOT, Server, start_server, zip_bytes

from .conftest import CEREMONY, Demo, verify

YEAR = dt.timedelta(days=365)
PYHANKO = str(ROOT / ".venv" / "bin" / "pyhanko")


def distribution_point(demo: Demo) -> str:
    certificate = x509.load_pem_x509_certificate(demo.files["certificates/gangwon-governor.pem"])
    points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    return str(points[0].full_name[0].value)  # type: ignore[index]


@pytest.fixture(scope="module")
def again(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo's server, on a copy of its data, at the address its certificates publish CRLs under."""
    data = tmp_path_factory.mktemp("again") / "data"
    shutil.copytree(demo.data, data, ignore=shutil.ignore_patterns("*.zip"))
    base = re.match(r"(http://[^/]+)/", distribution_point(demo)).group(1)  # type: ignore[union-attr]
    server = start_server(data, "--no-demo", "--public-url", base, port=int(base.rsplit(":", 1)[1]))
    try:
        yield server
    finally:
        server.stop()


def call(server: Server, method: str, path: str, token: str, body: object = None) -> object:
    request = urllib.request.Request(  # noqa: S310 - our own server, on loopback
        f"{server.base}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - our own server, on loopback
        return json.loads(answer.read())


def host_token(demo: Demo, server: Server) -> str:
    ceremony = demo.evidence["ceremony"]["id"]
    done = subprocess.run(
        [*CEREMONY, "invite", ceremony, "host", "--data", str(server.data), "--base-url", server.base],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip().split("#", 1)[1]


def logged_so_far(server: Server) -> list[str]:
    """The server's log once every request made before this call is in it: a request for a unique
    path is answered (and logged) after them, so its line is waited for, not a guessed delay."""
    marker = f"/logged-so-far-{uuid.uuid4().hex}"
    try:
        urllib.request.urlopen(f"{server.base}{marker}", timeout=10)  # noqa: S310 - our own server, on loopback
    except urllib.error.HTTPError as refused:
        assert refused.code == 404
    for _ in range(200):
        if any(marker in line for line in server.output):
            return list(server.output)
        time.sleep(0.05)
    raise AssertionError(f"the server never logged {marker}")


def test_a_key_revoked_after_it_signed_is_on_the_crl_and_what_it_signed_still_verifies(
    demo: Demo, again: Server, tmp_path: Path
) -> None:
    ceremony = demo.evidence["ceremony"]["id"]
    token = host_token(demo, again)
    base = f"/api/ceremonies/{ceremony}"
    for _ in range(100):  # the running server reads links made by `ceremony invite` from the data directory
        try:
            enrollments = call(again, "GET", f"{base}/enrollments", token)
            break
        except urllib.error.HTTPError as refused:
            # Until the server has caught up with the store, the new link is one it does not know: 403.
            assert refused.code == 403, refused
            time.sleep(0.1)
    else:
        pytest.fail("the running server never accepted the link `ceremony invite` made")
    serial = demo.evidence["signatories"][0]["certificate"]["serial"]
    (lost,) = [e for e in enrollments["enrollments"] if e["serial"] == serial]  # type: ignore[index]
    revoked = call(again, "POST", f"{base}/enrollments/{lost['id']}/revoke", token, {"cause": "key_compromise"})
    assert revoked["revoked"] is True and revoked["cause"] == "key_compromise"  # type: ignore[index]

    # The CA's CRL, fetched where the certificate says, lists it (checked with openssl).
    with urllib.request.urlopen(distribution_point(demo), timeout=10) as answer:  # noqa: S310 - loopback
        crl = answer.read()
    (tmp_path / "issuing.crl").write_bytes(crl)
    text = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", "issuing.crl", "-noout", "-text"],
                          cwd=tmp_path, capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert serial.upper() in text.replace(":", "").upper() and "Key Compromise" in text

    # Renewing fetches that CRL into the record; the record still verifies: the signature came first.
    renewed = tmp_path / "renewed.zip"
    done = subprocess.run(
        [*CEREMONY, "renew", str(demo.record), "--trust", str(demo.trust), "--tsa-url", f"{again.base}/tsa",
         "--out", str(renewed)],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(renewed) as archive:
        crls = [archive.read(n) for n in archive.namelist() if n.startswith("renewals/1/") and n.endswith(".crl")]
    assert any(int(serial, 16) in revoked_serials(c) for c in crls)  # revoked, in the record's revocation data
    checked = verify(renewed, "--trust", str(demo.trust))
    assert checked.returncode == 0, checked.stdout
    assert "renewal.timestamp" in checked.stdout and "renewal.manifest" in checked.stdout
    where = tmp_path / "unzipped"
    with zipfile.ZipFile(renewed) as archive:
        archive.extractall(where)
    ades = subprocess.run([PYHANKO, "sign", "adesverify", "--trust", "ca.pem", "--trust-replace", "mou-signed.pdf"],
                          cwd=where, capture_output=True, text=True, check=False)  # fmt: skip
    assert ades.returncode == 0 and ades.stdout.count("INTACT:TRUSTED,TIMESTAMP_TOKEN<INTACT:TRUSTED>") == 6, (
        ades.stdout
    )


def _later_tsa(demo: Demo, at: dt.datetime) -> tuple[TimestampSet, list[bytes]]:
    """The server's TSA and CRLs as they would be at `at`: a new TSA key, certified by the issuing CA then."""
    pki = demo.data / "pki"
    issuing = load_pair(pki / "issuing.pem", pki / "issuing.key")
    root = load_pair(pki / "root.pem", pki / "root.key")
    tsa = issue_service(issuing, TSA, "Online Signing Ceremony", "http://127.0.0.1:9/pki/crl", at)
    stamper = LocalTimestamper(TimeStampAuthority(tsa, [issuing.certificate]), lambda: at)
    return TimestampSet([stamper]), [issue_crl(issuing, (), at), issue_crl(root, (), at)]


def test_a_renewal_carries_the_record_past_its_last_tsa_certificate(demo: Demo, tmp_path: Path) -> None:
    pins = Pins(root_pem=demo.root_pem)
    renewed_at = demo.sealed_at + 25 * YEAR
    tsas, crls = _later_tsa(demo, renewed_at)
    data = demo.record.read_bytes()
    renewed = asyncio.run(renew_record(data, pins, tsas, renewed_at, crls=crls))

    later = demo.sealed_at + 38 * YEAR  # the first TSA certificate expired at +30 years
    assert not verify_record(data, pins, at=later).ok
    report = verify_record(renewed, pins, at=later)
    assert report.ok, "\n".join(report.lines())
    evidence = next(c for c in report.checks if c.name == "evidence.timestamp")
    assert f"judged at {renewed_at.year}" in evidence.detail  # when the renewal proves, not in 38 years

    with zipfile.ZipFile(io.BytesIO(renewed)) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    assert {"renewals/1.json", "renewals/1.tsr"} <= set(files)
    for name, original in demo.files.items():  # nothing earlier changed; the PDF only grew
        assert files[name] == original if name != "mou-signed.pdf" else files[name].startswith(original)
    where = tmp_path / "renewed"
    for name, content in files.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_bytes(content)
    # pyHanko agrees after the renewal, while the first TSA certificate lives. (Past that, its AdES
    # procedure does not take a later archive timestamp's proof of existence for an earlier document
    # timestamp whose TSA certificate has expired, for its own `ltaupdate` output as for ours.)
    at = (renewed_at + YEAR).strftime("%Y-%m-%dT%H:%M:%SZ")
    ades = subprocess.run([PYHANKO, "sign", "adesverify", "--trust", "ca.pem", "--trust-replace",
                           "--validation-time", at, "mou-signed.pdf"], cwd=where, capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert ades.returncode == 0 and ades.stdout.count("INTACT:TRUSTED,TIMESTAMP_TOKEN<INTACT:TRUSTED>") == 6

    # A renewal binds everything before it: a file added afterwards, or its token removed, is caught.
    added = dict(files, **{"revocation/00000000000000000000000000000000.crl": crls[0]})
    found = {c.name for c in verify_record(zip_bytes(added), pins, at=later).failed}
    assert {"record.manifest", "renewal.manifest"} <= found
    stripped = {n: d for n, d in files.items() if n != "renewals/1.tsr"}
    assert "renewal.manifest" in {c.name for c in verify_record(zip_bytes(stripped), pins, at=later).failed}


def test_only_a_record_that_verifies_is_renewed(demo: Demo) -> None:
    files = dict(demo.files)
    files["VERIFY.txt"] = b"run this instead"
    tsas, crls = _later_tsa(demo, demo.sealed_at + YEAR)
    with pytest.raises(RenewalRefused, match=r"record\.manifest"):
        asyncio.run(
            renew_record(zip_bytes(files), Pins(root_pem=demo.root_pem), tsas, demo.sealed_at + YEAR, crls=crls)
        )


def test_renew_needs_a_pinned_root(demo: Demo) -> None:
    done = subprocess.run(
        [*CEREMONY, "renew", str(demo.record), "--tsa-url", "http://127.0.0.1:9/tsa"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    # Refused as it is parsed, so nothing the record names is fetched.
    assert done.returncode == 2 and "the following arguments are required: --trust" in done.stderr, done.stderr


def test_a_record_that_does_not_verify_is_refused_before_anything_is_fetched(
    demo: Demo, again: Server, tmp_path: Path
) -> None:
    """Its certificates are the uploader's word until it verifies: they must not choose what this machine fetches."""
    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(zip_bytes({**demo.files, "VERIFY.txt": b"run this instead"}))
    seen = len(again.output)
    renewed = tmp_path / "renewed.zip"
    done = subprocess.run(
        [*CEREMONY, "renew", str(tampered), "--trust", str(demo.trust), "--tsa-url", f"{again.base}/tsa",
         "--out", str(renewed)],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "only a record that verifies now is renewed" in done.stderr and "record.manifest" in done.stderr
    assert not renewed.exists()
    asked = [line for line in logged_so_far(again)[seen:] if "/pki/crl/" in line or "/tsa" in line]
    assert asked == [], asked
