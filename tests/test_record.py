"""The demo ceremony end to end, and its record checked by `ceremony verify`, openssl, pdfsig and pyHanko.

`ceremony demo` runs as a subprocess: a real server, a host bot and two aiortc
venue bots exchanging media, six scripted signatories with their own P-256
keys. Then every tamper the issue lists must make `ceremony verify` fail and
name the check that caught it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from ceremony.canonical import canonicalize
from signatures.keys import issue_signatory_certificate
from signatures.pki import make_root
from web.app import create_app
from web.settings import Settings

from .conftest import ROOT, zip_bytes

CEREMONY = [sys.executable, "-m", "web.cli"]


@dataclass(frozen=True)
class Demo:
    record: Path
    trust: Path
    output: str
    files: dict[str, bytes]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    data = tmp_path_factory.mktemp("demo")
    done = subprocess.run(
        [*CEREMONY, "demo", "--data", str(data)], cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    record = Path(re.search(r"^Record: (.+)$", done.stdout, re.M).group(1))  # type: ignore[union-attr]
    with zipfile.ZipFile(record) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return Demo(record, data / "pki" / "root.pem", done.stdout, files)


def verify(record: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CEREMONY, "verify", str(record), *extra], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def unpack(demo: Demo, into: Path) -> Path:
    for name, data in demo.files.items():
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        (into / name).write_bytes(data)
    return into


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, check=False)


def test_the_demo_runs_end_to_end_and_shows_its_progress(demo: Demo) -> None:
    for step in range(1, 9):
        assert f"[{step}/8]" in demo.output
    assert "chuncheon decoded" in demo.output and "nanjing decoded" in demo.output  # the halls saw each other
    assert demo.output.count("PAdES signature Signature-") == 6
    assert "FAIL" not in demo.output and demo.output.rstrip().splitlines()[-1].startswith("VALID")
    # The server's copy names people, their addresses and devices: private to the service account.
    (stored,) = (demo.trust.parent.parent / "records").glob("*/record.zip")
    assert stored.read_bytes() == demo.record.read_bytes()
    assert stored.stat().st_mode & 0o777 == 0o600 and stored.parent.stat().st_mode & 0o777 == 0o700


def test_ceremony_verify_passes_every_check(demo: Demo) -> None:
    done = verify(demo.record, "--trust", str(demo.trust))
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert lines[-1].endswith("VALID")
    checks = [line.split()[1] for line in lines[:-1]]
    assert all(line.startswith("PASS") for line in lines[:-1])
    assert checks.count("pdf.signature") == 6 and checks.count("pdf.timestamp") == 1
    for name in ("consent.certificate", "consent.signature", "consent.timestamp", "consent.files"):
        assert checks.count(name) == 6, name
    for name in ("evidence.seal", "evidence.timestamp", "pdf.hash", "pdf.original", "log.chain", "time.order"):
        assert name in checks
    # Without --trust the verifier says whose root it trusted.
    assert "the record's own" in verify(demo.record).stdout


def test_openssl_checks_every_token_signature_and_the_seal(demo: Demo, tmp_path: Path) -> None:
    where = unpack(demo, tmp_path)
    evidence = json.loads(demo.files["evidence.json"])
    tokens = [("evidence.tsr", "evidence.json")] + [
        (f"consents/{c['signatory']}.tsr", f"consents/{c['signatory']}.statement.json") for c in evidence["consents"]
    ]
    assert len(tokens) == 7
    for token, data in tokens:
        done = run("openssl", "ts", "-verify", "-in", token, "-token_in", "-data", data, "-CAfile", "ca.pem", cwd=where)
        assert done.returncode == 0 and "Verification: OK" in done.stdout, (token, done.stdout, done.stderr)
    done = run(
        "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "evidence.p7s",
        "-content", "evidence.json", "-CAfile", "ca.pem", "-out", "/dev/null", cwd=where,
    )  # fmt: skip
    assert done.returncode == 0 and "Verification successful" in done.stderr, done.stderr
    for consent in evidence["consents"]:
        who = consent["signatory"]
        assert run("openssl", "verify", "-CAfile", "ca.pem", f"certificates/{who}.pem", cwd=where).returncode == 0
        key = run("openssl", "x509", "-in", f"certificates/{who}.pem", "-pubkey", "-noout", cwd=where).stdout
        (where / f"{who}.pub").write_text(key)
        done = run(
            "openssl", "dgst", "-sha256", "-verify", f"{who}.pub", "-signature", f"consents/{who}.sig",
            f"consents/{who}.statement.json", cwd=where,
        )  # fmt: skip
        assert "Verified OK" in done.stdout, (who, done.stdout, done.stderr)


def test_pdfsig_and_pyhanko_report_every_signature_valid(demo: Demo, tmp_path: Path) -> None:
    where = unpack(demo, tmp_path)
    (where / "nss").mkdir()
    assert run("certutil", "-N", "-d", "sql:nss", "--empty-password", cwd=where).returncode == 0
    assert (
        run("certutil", "-A", "-d", "sql:nss", "-n", "root", "-t", "CT,C,C", "-i", "ca.pem", cwd=where).returncode == 0
    )
    report = run("pdfsig", "-nssdir", "sql:nss", "mou-signed.pdf", cwd=where).stdout
    assert report.count("Signature is Valid.") == 6, report
    assert report.count("Certificate is Trusted.") == 6, report
    pyhanko = ROOT / ".venv" / "bin" / "pyhanko"
    done = run(
        str(pyhanko), "sign", "validate", "--trust", "ca.pem", "--trust-replace", "--no-revocation-check",
        "--executive-summary", "mou-signed.pdf", cwd=where,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.count(":VALID") == 6, done.stdout + done.stderr


def test_verify_txt_names_the_commands_and_the_root(demo: Demo) -> None:
    text = demo.files["VERIFY.txt"].decode()
    evidence = json.loads(demo.files["evidence.json"])
    assert evidence["root_ca"]["fingerprint_sha256"] in text
    for command in ("ceremony verify", "openssl cms -verify", "openssl ts -verify", "pdfsig", "pyhanko sign validate"):
        assert command in text
    assert text.count("openssl dgst -sha256 -verify") == 6


# ------------------------------------------------------------------ tampering


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def edit_evidence(files: dict[str, bytes], change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    evidence = json.loads(files["evidence.json"])
    change(evidence)
    files["evidence.json"] = canonicalize(evidence)


def drop_last_signature(files: dict[str, bytes]) -> None:
    """Cut the PDF back to the revision before the last signature (and its document timestamp)."""
    pdf = files["mou-signed.pdf"]
    evidence = json.loads(files["evidence.json"])
    files["mou-signed.pdf"] = pdf[: evidence["pdf_signatures"][-2]["size"]]


def drop_line(data: bytes, index: int) -> bytes:
    lines = data.splitlines(keepends=True)
    return b"".join(lines[:index] + lines[index + 1 :])


def swap_lines(data: bytes, a: int, b: int) -> bytes:
    lines = data.splitlines(keepends=True)
    lines[a], lines[b] = lines[b], lines[a]
    return b"".join(lines)


def foreign_certificate(files: dict[str, bytes]) -> None:
    """Replace a signatory's certificate with one for the same name from another CA (and fix the fingerprint)."""
    other = make_root("Impostor CA", dt.datetime.now(dt.UTC))
    certificate = issue_signatory_certificate(
        other, ec.generate_private_key(ec.SECP256R1()).public_key(), name="Hong Gil-dong", organisation="X",
        country="KR", now=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    der = certificate.public_bytes(Encoding.DER)

    def change(evidence: dict) -> None:  # type: ignore[type-arg]
        entry = evidence["signatories"][0]["certificate"]
        entry["der"] = base64.b64encode(der).decode()
        entry["fingerprint_sha256"] = hashlib.sha256(der).hexdigest()

    edit_evidence(files, change)
    files["certificates/gangwon-governor.pem"] = certificate.public_bytes(Encoding.PEM)


def change_consent(evidence: dict) -> None:  # type: ignore[type-arg]
    evidence["consents"][0]["statement"]["client_time"] = "2020-05-29T15:31:00+09:00"


TAMPERS: dict[str, tuple[Callable[[dict[str, bytes]], None], set[str]]] = {
    "a byte of the signed PDF": (
        lambda f: f.update({"mou-signed.pdf": flip(f["mou-signed.pdf"], 5000)}),
        {"pdf.hash", "pdf.original", "pdf.signature"},
    ),
    "a byte of evidence.json": (
        lambda f: f.update({"evidence.json": f["evidence.json"].replace(b'"ko"', b'"kO"', 1)}),
        {"evidence.seal", "evidence.timestamp"},
    ),
    "a byte of the evidence token": (
        lambda f: f.update({"evidence.tsr": flip(f["evidence.tsr"], len(f["evidence.tsr"]) - 10)}),
        {"evidence.timestamp"},
    ),
    "a byte of a consent's token": (
        lambda f: f.update({"consents/gangwon-governor.tsr": flip(f["consents/gangwon-governor.tsr"], 60)}),
        {"consent.files"},
    ),
    "a consent's statement": (lambda f: edit_evidence(f, change_consent), {"consent.signature", "evidence.seal"}),
    "a PDF signature removed": (drop_last_signature, {"pdf.hash", "pdf.signatures"}),
    "an event removed": (
        lambda f: f.update({"events.jsonl": drop_line(f["events.jsonl"], 5)}),
        {"log.chain"},
    ),
    "two events reordered": (lambda f: f.update({"events.jsonl": swap_lines(f["events.jsonl"], 3, 4)}), {"log.chain"}),
    "a certificate from another CA": (foreign_certificate, {"consent.certificate", "evidence.seal"}),
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_every_tamper_fails_verification_and_names_the_check(demo: Demo, tmp_path: Path, tamper: str) -> None:
    change, expected = TAMPERS[tamper]
    files = dict(demo.files)
    change(files)
    record = tmp_path / "tampered.zip"
    record.write_bytes(zip_bytes(files))
    done = verify(record, "--trust", str(demo.trust))
    assert done.returncode == 1, done.stdout + done.stderr
    failed = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("FAIL")}
    assert expected <= failed, (tamper, failed, done.stdout)
    assert "NOT VALID" in done.stdout.splitlines()[-1]


def test_another_trust_anchor_fails_every_chain(demo: Demo, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(make_root("Someone Else", dt.datetime.now(dt.UTC)).certificate_pem)
    done = verify(demo.record, "--trust", str(other))
    assert done.returncode == 1
    failed = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert {"evidence.seal", "evidence.timestamp", "pdf.signature", "consent.certificate"} <= set(failed)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"%PDF-1.7 not a zip", "not a zip file"),
        (b"", "not a zip file"),
        (None, "not a ceremony record"),  # a zip without evidence.json
    ],
)
def test_what_is_not_a_record_gets_a_clear_error(tmp_path: Path, content: bytes | None, reason: str) -> None:
    path = tmp_path / "upload.zip"
    path.write_bytes(content if content is not None else zip_bytes({"hello.txt": b"hi"}))
    done = verify(path)
    assert done.returncode == 2 and reason in done.stderr and "Traceback" not in done.stderr, done.stderr
    missing = verify(tmp_path / "nowhere.zip")
    assert missing.returncode == 2 and "cannot read" in missing.stderr


async def test_the_verify_api_checks_a_real_record(demo: Demo, aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(Settings(data_dir=tmp_path / "data", create_demo=False)))
    headers = {"Content-Type": "application/zip"}
    r = await client.post("/api/verify", data=demo.record.read_bytes(), headers=headers)
    answer = await r.json()
    assert r.status == 200 and answer["ok"] is True, answer
    evidence = json.loads(demo.files["evidence.json"])
    assert answer["root_ca_fingerprint"] == evidence["root_ca"]["fingerprint_sha256"]
    assert len(answer["checks"]) > 40 and all(c["ok"] for c in answer["checks"])

    files = dict(demo.files)
    drop_last_signature(files)
    r = await client.post("/api/verify", data=zip_bytes(files), headers=headers)
    answer = await r.json()
    assert r.status == 200 and answer["ok"] is False
    failed = {c["name"] for c in answer["checks"] if not c["ok"]}
    assert {"pdf.hash", "pdf.signatures"} <= failed
