"""The demo ceremony end to end, and its record checked now and decades later, by us and by standard tools.

`ceremony demo` runs as a subprocess: a real server, a host bot and two aiortc
venue bots exchanging media, six scripted signatories with their own P-256
keys. Its record must verify now, in 8 days, 10 and 20 years (the clock is a
parameter; once also under libfaketime), pass `pyhanko sign adesverify` with
revocation checks on, `openssl ts/cms/verify` at the times the record proves,
and pdfsig. Tampering is in tests/test_forgeries.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import subprocess
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from signatures.record.pins import Pins
from signatures.record.verifier import verify_record
from tests.helpers import ROOT

from .conftest import Demo, verify

PYHANKO = str(ROOT / ".venv" / "bin" / "pyhanko")
YEAR = dt.timedelta(days=365)


def unpack(demo: Demo, into: Path) -> Path:
    for name, data in demo.files.items():
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        (into / name).write_bytes(data)
    return into


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, check=False)


def epoch(iso: str) -> str:
    return str(int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()))


def test_the_demo_runs_end_to_end_and_shows_its_progress(demo: Demo) -> None:
    for step in range(1, 10):
        assert f"[{step}/9]" in demo.output
    # The demo is recorded: its media is downloaded beside the record and held to the sealed manifest.
    assert "media VALID" in demo.output and "record-media.zip" in demo.output
    assert "chuncheon decoded" in demo.output and "nanjing decoded" in demo.output  # the halls saw each other
    assert demo.output.count("PAdES signature Signature-") == 6
    assert "FAIL" not in demo.output and demo.output.rstrip().splitlines()[-1].startswith("VALID")
    # The server's copy names people, their addresses and devices: private to the service account.
    (stored,) = (demo.data / "records").glob("*/record.zip")
    assert stored.read_bytes() == demo.record.read_bytes()
    assert stored.stat().st_mode & 0o777 == 0o600 and stored.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("later", [dt.timedelta(0), dt.timedelta(days=8), 10 * YEAR, 20 * YEAR])
def test_the_record_verifies_now_in_a_week_and_in_ten_and_twenty_years(demo: Demo, later: dt.timedelta) -> None:
    at = demo.sealed_at + later + dt.timedelta(minutes=1)
    report = verify_record(demo.record.read_bytes(), Pins(root_pem=demo.root_pem), at=at)
    assert report.ok, "\n".join(report.lines())
    names = [c.name for c in report.checks]
    assert names.count("pdf.signature") == 6 and names.count("pdf.timestamp") == 1
    for name in ("consent.certificate", "consent.signature", "consent.timestamp", "consent.files"):
        assert names.count(name) == 6, name
    # Judged at the times the record proves, not at `at`: the signatories' certificates lived a week.
    certificate = next(c for c in report.checks if c.name == "consent.certificate")
    assert f"valid at {demo.sealed_at.year}" in certificate.detail and "under the pinned root" in certificate.detail


def test_past_its_tsa_certificate_the_record_needs_renewal(demo: Demo) -> None:
    # The TSA's certificate lives 30 years: beyond that the newest token can no longer be trusted,
    # which is what `ceremony renew` is for (tests/test_renewal.py).
    report = verify_record(demo.record.read_bytes(), Pins(root_pem=demo.root_pem), at=demo.sealed_at + 31 * YEAR)
    assert not report.ok
    (evidence,) = [c for c in report.checks if c.name == "evidence.timestamp"]
    assert not evidence.ok and "tsa certificate" in evidence.detail


def test_ceremony_verify_prints_only_its_lines_also_under_libfaketime(demo: Demo) -> None:
    done = verify(demo.record, "--trust", str(demo.trust), prefix=("faketime", "+8 days"))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1].startswith(f"{demo.record}: VALID at ")
    at = dt.datetime.fromisoformat(lines[-1].split("VALID at ")[1])
    assert at - dt.datetime.now(dt.UTC) > dt.timedelta(days=7)  # the clock it ran under was a week ahead
    assert all(re.match(r"(PASS|FAIL)  \S+ +\S", line) for line in lines[:-1]), done.stdout
    assert done.stderr == ""  # no library log lines, warnings or tracebacks


def test_the_root_is_pinned_by_file_or_fingerprint_and_never_taken_on_its_own_word(demo: Demo) -> None:
    unpinned = verify(demo.record)
    assert unpinned.returncode == 1 and "NOT VALID" in unpinned.stdout.splitlines()[-1]
    assert re.search(r"FAIL  trust\.root .*no root pinned.*" + demo.fingerprint, unpinned.stdout)
    pinned = verify(demo.record, "--trust", demo.fingerprint.upper())
    assert pinned.returncode == 0, pinned.stdout
    colons = ":".join(demo.fingerprint[i : i + 2] for i in range(0, 64, 2))
    assert verify(demo.record, "--trust", colons).returncode == 0
    other = verify(demo.record, "--trust", "ab" * 32)
    assert other.returncode == 1 and "not the pinned" in other.stdout


@pytest.mark.parametrize(("years", "clock"), [(0, None), (10, None), (20, None), (0, "+8 days"), (0, "+20 years")])
def test_pyhanko_adesverify_with_revocation_checks_judges_every_signature_valid(
    demo: Demo, tmp_path: Path, years: int, clock: str | None
) -> None:
    where = unpack(demo, tmp_path)
    at = (demo.sealed_at + years * YEAR + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    timing = ["--validation-time", at] if years else []
    faked = ("faketime", clock) if clock else ()  # its clock really moved, not only its validation time
    done = run(
        *faked,
        PYHANKO,
        "sign",
        "adesverify",
        "--trust",
        "ca.pem",
        "--trust-replace",
        *timing,
        "mou-signed.pdf",
        cwd=where,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    verdicts = [line for line in done.stdout.splitlines() if line.startswith("Signature-")]
    assert len(verdicts) == 6 and all(":INTACT:TRUSTED,TIMESTAMP_TOKEN<INTACT:TRUSTED>" in v for v in verdicts)
    assert all("ACCEPTABLE_MODIFICATIONS" in v for v in verdicts), done.stdout


def test_openssl_checks_each_token_seal_and_certificate_at_the_times_the_record_proves(
    demo: Demo, tmp_path: Path
) -> None:
    where = unpack(demo, tmp_path)
    evidence = demo.evidence
    crls = b"".join(
        run("openssl", "crl", "-inform", "DER", "-in", name, cwd=where).stdout.encode()
        for name in demo.files
        if name.startswith("revocation/") and name.endswith(".crl")
    )
    assert crls.count(b"BEGIN X509 CRL") == 2  # the root's (for the issuing CA) and the issuing CA's
    # OpenSSL takes CRLs from the -CAfile; -crl_check_all then demands one for every certificate.
    (where / "anchors.pem").write_bytes(demo.files["ca.pem"] + crls)
    revocation = ["-crl_check_all"]
    tokens = [("evidence.tsr", "evidence.json")] + [
        (f"consents/{c['signatory']}.tsr", f"consents/{c['signatory']}.statement.json") for c in evidence["consents"]
    ]
    tokens += [
        (f"signatures/{p['signatory']}.tsr", f"signatures/{p['signatory']}.value") for p in evidence["pdf_signatures"]
    ]
    assert len(tokens) == 13
    for token, data in tokens:
        done = run(
            "openssl", "ts", "-verify", "-in", token, "-token_in", "-data", data, "-CAfile", "anchors.pem",
            "-untrusted", "chain.pem", *revocation, "-attime", epoch(evidence["ceremony"]["sealed_at"]), cwd=where,
        )  # fmt: skip
        assert done.returncode == 0 and "Verification: OK" in done.stdout, (token, done.stdout, done.stderr)
    done = run(
        "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "evidence.p7s", "-content", "evidence.json",
        "-CAfile", "anchors.pem", *revocation, "-attime", epoch(evidence["ceremony"]["sealed_at"]), "-out", "/dev/null",
        cwd=where,
    )  # fmt: skip
    assert done.returncode == 0 and "Verification successful" in done.stderr, done.stderr
    without_crls = run(
        "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "evidence.p7s", "-content", "evidence.json",
        "-CAfile", "ca.pem", *revocation, "-out", "/dev/null", cwd=where,
    )  # fmt: skip
    assert without_crls.returncode != 0 and "unable to get certificate CRL" in without_crls.stderr  # it does check
    sealed = epoch(evidence["ceremony"]["sealed_at"])
    for consent in evidence["consents"]:
        who, proven = consent["signatory"], epoch(consent["timestamps"][0]["time"])
        certificate = f"certificates/{who}.pem"
        # OpenSSL applies no CRL issued after its -attime, so: unrevoked at the seal, valid when the token says.
        done = run("openssl", "verify", "-CAfile", "anchors.pem", "-untrusted", "chain.pem", *revocation,
                   "-attime", sealed, certificate, cwd=where)  # fmt: skip
        assert done.returncode == 0, (who, done.stdout, done.stderr)
        done = run("openssl", "verify", "-CAfile", "ca.pem", "-untrusted", "chain.pem", "-attime", proven,
                   certificate, cwd=where)  # fmt: skip
        assert done.returncode == 0, (who, done.stdout, done.stderr)
        # A week later the certificate has expired: only the time the token proves makes it valid.
        later = str(int(proven) + 8 * 86400)
        assert run("openssl", "verify", "-CAfile", "ca.pem", "-untrusted", "chain.pem", "-attime", later,
                   certificate, cwd=where).returncode != 0  # fmt: skip
        key = run("openssl", "x509", "-in", certificate, "-pubkey", "-noout", cwd=where).stdout
        (where / f"{who}.pub").write_text(key)
        done = run(
            "openssl", "dgst", "-sha256", "-verify", f"{who}.pub", "-signature", f"consents/{who}.sig",
            f"consents/{who}.statement.json", cwd=where,
        )  # fmt: skip
        assert "Verified OK" in done.stdout, (who, done.stdout, done.stderr)


def test_pdfsig_shows_each_signature_valid_today(demo: Demo, tmp_path: Path) -> None:
    where = unpack(demo, tmp_path)
    (where / "nss").mkdir()
    assert run("certutil", "-N", "-d", "sql:nss", "--empty-password", cwd=where).returncode == 0
    add = ["certutil", "-A", "-d", "sql:nss", "-n", "root", "-t", "CT,C,C", "-i", "ca.pem"]
    assert run(*add, cwd=where).returncode == 0
    done = run("pdfsig", "-nssdir", "sql:nss", "mou-signed.pdf", cwd=where)
    report = done.stdout + done.stderr
    assert report.count("Signature is Valid.") == 6, report
    assert report.count("Certificate is Trusted.") == 6, report
    # What poppler cannot check (VERIFY.txt says so): the document timestamp is listed, not validated.
    assert "Seal-Timestamp-1" in report and "Unable to validate this type of signature" in report


def test_the_dss_holds_every_chain_and_crl_with_a_vri_per_signature(demo: Demo) -> None:
    reader = PdfFileReader(io.BytesIO(demo.files["mou-signed.pdf"]), strict=False)
    dss = DocumentSecurityStore.read_dss(reader)
    subjects = {c.subject.human_friendly for c in dss.load_certs()}
    for who in ("Root CA", "Issuing CA", "Time-Stamping Authority", "Hong Gil-dong", "Wang Wu"):
        assert any(who in s for s in subjects), (who, subjects)
    assert len(dss.crls) == 2 and len(dss.vri_entries) >= 6
    for signature in reader.embedded_regular_signatures:
        vri = DocumentSecurityStore.sig_content_identifier(signature.pkcs7_content.hex().encode("ascii"))
        assert vri in dss.vri_entries, signature.field_name
    # The file stays PDF 1.7, as its PDF/A-3b claim requires, after the seal too.
    assert demo.files["mou-signed.pdf"].startswith(b"%PDF-1.7") and b"/Version /2.0" not in demo.files["mou-signed.pdf"]


def test_verify_txt_names_the_commands_the_fingerprint_and_what_poppler_cannot_check(demo: Demo) -> None:
    text = demo.files["VERIFY.txt"].decode()
    assert demo.fingerprint in text and f"--trust {demo.fingerprint}" in text
    for command in ("openssl cms -verify", "openssl ts -verify", "pdfsig", "pyhanko sign adesverify", "-crl_check_all"):
        assert command in text, command
    assert text.count("openssl dgst -sha256 -verify") == 6
    assert "does not validate the document" in text and "curl" not in text
    # The demo is recorded: VERIFY.txt says where the media is and how to check it beside the record.
    assert "--media record-media.zip" in text and "ffprobe" in text
    for track in demo.evidence["recording"]["tracks"]:
        assert track["track"] in text


def test_the_manifest_binds_every_other_file(demo: Demo) -> None:
    evidence = demo.evidence
    listed = {m["name"]: m for m in evidence["manifest"]}
    unbound = {"evidence.json", "evidence.tsr", "evidence.p7s"}
    assert set(listed) == set(demo.files) - unbound
    for name, entry in listed.items():
        assert (
            entry["size"] == len(demo.files[name]) and entry["sha256"] == hashlib.sha256(demo.files[name]).hexdigest()
        )
