"""Offline verification of a sealed record (the zip an archivist downloads; docs/record.md).

Needs no server and no network: every check works from the zip's bytes and a
trusted root certificate (the record's own ca.pem unless one is given, which
the report says plainly). Each check is one line of the report; a failure says
what and where, and one failure never stops the other checks.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.misc import PdfError

from ceremony.canonical import canonicalize
from ceremony.chain import verify_chain
from ceremony.evidence import RECORD_TYPE, SIGNED_PDF, parse_events_jsonl

from .cms import CmsError, check_issued_by, check_signed_data, check_token
from .errors import NotARecord
from .verify_pdf import PdfSignatureResult, check_pdf

REQUIRED = ("evidence.json", "evidence.tsr", "evidence.p7s", "events.jsonl", "ca.pem", "completion.pdf", "VERIFY.txt")
T = TypeVar("T")
TOLERANCE = dt.timedelta(seconds=1)  # our TSA's stated accuracy


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: what was checked, where, and how it went."""

    name: str  # a stable id, e.g. "pdf.signature", "consent.token"
    subject: str  # where: a file, a signatory, a field
    ok: bool
    detail: str


@dataclass(slots=True)
class Report:
    checks: list[Check] = field(default_factory=list)
    root_fingerprint: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    def lines(self) -> list[str]:
        return [f"{'PASS' if c.ok else 'FAIL'}  {c.name:<20} {c.subject}: {c.detail}" for c in self.checks]

    def add(self, name: str, subject: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, subject, ok, detail))
        return ok

    def run(self, name: str, subject: str, check: Callable[[], str]) -> bool:
        """Run `check`; its return value is the detail of a pass, any error the detail of a failure."""
        try:
            return self.add(name, subject, True, check())
        except (CmsError, Mismatch, ValueError, KeyError, TypeError, InvalidSignature) as exc:
            return self.add(name, subject, False, str(exc) or type(exc).__name__)


class Mismatch(Exception):
    """A value in the record is not what another part of it says."""


def verify_record(data: bytes, trust_pem: bytes | None = None) -> Report:
    """Check a record zip; NotARecord when `data` is not a record at all."""
    files = _open(data)
    report = Report()
    root = _trust(report, files, trust_pem)
    if root is None:
        return report
    evidence = _evidence(report, files)
    if evidence is None:
        return report
    _files_present(report, files)
    _seal(report, files, evidence, root)
    pdf_times = _pdf(report, files, evidence, root)
    consent_times = _consents(report, files, evidence, root)
    log_times = _log(report, files, evidence)
    _order(report, evidence, log_times, consent_times, pdf_times, files, root)
    return report


def _open(data: bytes) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(i.file_size for i in archive.infolist()) > 512 * 1024 * 1024:
                raise NotARecord("the zip would unpack to more than 512 MiB; a ceremony record is far smaller")
            files = {i.filename: archive.read(i) for i in archive.infolist() if not i.is_dir()}
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise NotARecord(f"this is not a zip file ({exc}); a record is the .zip downloaded from the archive") from None
    except (zipfile.LargeZipFile, NotImplementedError, RuntimeError) as exc:
        raise NotARecord(f"the zip cannot be read: {exc}") from None
    missing = [name for name in ("evidence.json", SIGNED_PDF) if name not in files]
    if missing:
        raise NotARecord(f"this zip is not a ceremony record: it has no {' or '.join(missing)}")
    return files


def _trust(report: Report, files: dict[str, bytes], trust_pem: bytes | None) -> x509.Certificate | None:
    source = "the given trust anchor" if trust_pem is not None else "ca.pem in the record"
    try:
        root = x509.load_pem_x509_certificate(trust_pem if trust_pem is not None else files["ca.pem"])
    except (KeyError, ValueError) as exc:
        report.add("trust.root", source, False, f"no readable root certificate: {exc}")
        return None
    report.root_fingerprint = hashlib.sha256(root.public_bytes(Encoding.DER)).hexdigest()
    note = "" if trust_pem is not None else " (the record's own; compare this fingerprint with one known independently)"
    report.add("trust.root", source, True, f"{root.subject.rfc4514_string()}, SHA-256 {report.root_fingerprint}{note}")
    return root


def _evidence(report: Report, files: dict[str, bytes]) -> dict[str, Any] | None:
    raw = files["evidence.json"]
    try:
        evidence = json.loads(raw)
        if not isinstance(evidence, dict) or evidence.get("type") != RECORD_TYPE:
            raise Mismatch(f"evidence.json is not a {RECORD_TYPE} document")
        if canonicalize(evidence) != raw:
            raise Mismatch("evidence.json is not in RFC 8785 canonical form (it was re-serialised or edited)")
    except (ValueError, Mismatch) as exc:
        report.add("evidence.format", "evidence.json", False, str(exc))
        return None
    report.add("evidence.format", "evidence.json", True, f"{RECORD_TYPE}, RFC 8785 canonical, {len(raw)} bytes")
    return evidence


def _files_present(report: Report, files: dict[str, bytes]) -> None:
    missing = [name for name in REQUIRED if name not in files]
    detail = f"missing: {', '.join(missing)}" if missing else f"{len(files)} files"
    report.add("record.files", "record.zip", not missing, detail)


def _seal(report: Report, files: dict[str, bytes], evidence: dict[str, Any], root: x509.Certificate) -> None:
    body = files["evidence.json"]

    def sealed() -> str:
        signed = check_signed_data(files["evidence.p7s"], detached=body)
        check_issued_by(signed.signer, root, signed.signer.not_valid_before_utc + TOLERANCE)
        fingerprint = hashlib.sha256(signed.signer.public_bytes(Encoding.DER)).hexdigest()
        if fingerprint != evidence["seal_certificate"]["fingerprint_sha256"]:
            raise Mismatch("sealed by a certificate other than the one evidence.json names")
        return f"sealed by {signed.signer.subject.rfc4514_string()}"

    def stamped() -> str:
        info = check_token(files["evidence.tsr"], body, root)
        return f"RFC 3161 token over evidence.json, time {info.gen_time.isoformat()}"

    report.run("evidence.seal", "evidence.p7s", sealed)
    report.run("evidence.timestamp", "evidence.tsr", stamped)


def _pdf(
    report: Report, files: dict[str, bytes], evidence: dict[str, Any], root: x509.Certificate
) -> list[PdfSignatureResult]:
    pdf = files[SIGNED_PDF]
    documents = evidence["documents"]
    actual = hashlib.sha256(pdf).hexdigest()
    report.add(
        "pdf.hash",
        SIGNED_PDF,
        actual == documents["signed"]["sha256"] and len(pdf) == documents["signed"]["size"],
        f"SHA-256 {actual}"
        + ("" if actual == documents["signed"]["sha256"] else " is not the one evidence.json names"),
    )
    original = documents["original"]
    prefix = hashlib.sha256(pdf[: original["size"]]).hexdigest()
    report.add(
        "pdf.original",
        SIGNED_PDF,
        prefix == original["sha256"],
        f"the first {original['size']} bytes "
        + ("are the frozen original" if prefix == original["sha256"] else f"hash to {prefix}, not the frozen original"),
    )
    try:
        results = _run(check_pdf(pdf, root))
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        report.add("pdf.signatures", SIGNED_PDF, False, f"the PDF cannot be read: {exc}")
        return []
    for result in results:
        name = "pdf.timestamp" if result.is_document_timestamp else "pdf.signature"
        report.add(name, result.field, result.ok, result.detail)
    _pdf_matches_evidence(report, results, evidence)
    return results


def _run(job: Coroutine[Any, Any, T]) -> T:
    """Run pyHanko's async validation to completion, also when called from inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(job)
    # asyncio.run cannot nest: inside a caller's loop the validation runs in a thread of its
    # own, and the caller waits for it as for any synchronous call.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, job).result()


def _pdf_matches_evidence(report: Report, results: list[PdfSignatureResult], evidence: dict[str, Any]) -> None:
    expected = evidence["pdf_signatures"]
    signatures = [r for r in results if not r.is_document_timestamp]
    stamps = [r for r in results if r.is_document_timestamp]
    fingerprints = {
        s["id"]: s["certificate"]["fingerprint_sha256"] for s in evidence["signatories"] if s["certificate"]
    }
    problems = []
    if [r.field for r in signatures] != [e["field"] for e in expected]:
        names = ", ".join(r.field for r in signatures)
        problems.append(
            f"the PDF has signatures [{names}], evidence.json names [{', '.join(e['field'] for e in expected)}]"
        )
    for result, entry in zip(signatures, expected, strict=False):
        if result.revision_sha256 != entry["sha256"]:
            problems.append(f"{result.field}: its revision is not the one the log recorded")
        if result.signer_fingerprint != fingerprints.get(entry["signatory"]):
            problems.append(f"{result.field}: not signed with {entry['signatory']}'s certificate")
    if len(stamps) != 1 or results[-1] is not stamps[0]:
        problems.append("the file must end with exactly one document timestamp")
    detail = "; ".join(problems) or f"{len(signatures)} signatures in signing order, then the document timestamp"
    report.add("pdf.signatures", SIGNED_PDF, not problems, detail)


def _consents(
    report: Report, files: dict[str, bytes], evidence: dict[str, Any], root: x509.Certificate
) -> dict[str, dt.datetime]:
    """Each decision's certificate, signature and token; returns the token times by signatory."""
    times: dict[str, dt.datetime] = {}
    signatories = {s["id"]: s for s in evidence["signatories"]}
    for consent in evidence["consents"]:
        who = consent["signatory"]
        statement = canonicalize(consent["statement"])
        entry = signatories.get(who, {})
        certificate = _certificate(report, who, entry, consent, root)
        if certificate is not None:
            report.run("consent.signature", who, partial(_signature, certificate, statement, consent))

        def token(s: bytes = statement, v: dict[str, Any] = consent, w: str = who) -> str:
            info = check_token(base64.b64decode(v["timestamp_token"]), s, root)
            times[w] = info.gen_time
            return f"RFC 3161 token over the statement, time {info.gen_time.isoformat()}"

        report.run("consent.timestamp", who, token)
        report.run("consent.statement", who, partial(_statement, consent, evidence))
        report.run("consent.files", who, partial(_consent_files, files, consent, statement, signatories))
    return times


def _certificate(
    report: Report, who: str, entry: dict[str, Any], consent: dict[str, Any], root: x509.Certificate
) -> x509.Certificate | None:
    try:
        info = entry["certificate"]
        certificate = x509.load_der_x509_certificate(base64.b64decode(info["der"]))
        if not format(certificate.serial_number, "x") == consent["certificate_serial"] == info["serial"]:
            raise Mismatch("the certificate's serial is not the one the consent names")
        if hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest() != info["fingerprint_sha256"]:
            raise Mismatch("the certificate does not match its recorded fingerprint")
        recorded = dt.datetime.fromisoformat(consent["timestamp"].replace("Z", "+00:00"))
        check_issued_by(certificate, root, recorded)
    except (CmsError, Mismatch, KeyError, TypeError, ValueError) as exc:
        report.add("consent.certificate", who, False, str(exc) or type(exc).__name__)
        return None
    report.add("consent.certificate", who, True, f"{certificate.subject.rfc4514_string()}, issued by the trusted root")
    return certificate


def _signature(certificate: x509.Certificate, statement: bytes, consent: dict[str, Any]) -> str:
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Mismatch("the signatory's key is not ECDSA")
    try:
        key.verify(base64.b64decode(consent["signature"]), statement, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Mismatch("the signature over the statement does not verify with the signatory's certificate") from None
    return f"ECDSA P-256 signature over the {consent['decision']} statement verifies"


def _statement(consent: dict[str, Any], evidence: dict[str, Any]) -> str:
    statement = consent["statement"]
    expected = {
        "ceremony": evidence["ceremony"]["id"],
        "document_sha256": evidence["documents"]["original"]["sha256"],
        "signatory": consent["signatory"],
        "decision": consent["decision"],
    }
    for key, value in expected.items():
        if statement.get(key) != value:
            raise Mismatch(f"the statement's {key} is {statement.get(key)!r}, expected {value!r}")
    return f"{consent['decision']} to document {expected['document_sha256'][:16]}… of ceremony {expected['ceremony']}"


def _consent_files(
    files: dict[str, bytes], consent: dict[str, Any], statement: bytes, signatories: dict[str, Any]
) -> str:
    who = consent["signatory"]
    parts = {
        f"consents/{who}.statement.json": statement,
        f"consents/{who}.sig": base64.b64decode(consent["signature"]),
        f"consents/{who}.tsr": base64.b64decode(consent["timestamp_token"]),
    }
    for name, value in parts.items():
        if files.get(name) != value:
            raise Mismatch(f"{name} is missing or differs from evidence.json")
    pem = files.get(f"certificates/{who}.pem", b"")
    der = base64.b64decode(signatories[who]["certificate"]["der"])
    try:
        if x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER) != der:
            raise Mismatch(f"certificates/{who}.pem is not the certificate evidence.json names")
    except ValueError:
        raise Mismatch(f"certificates/{who}.pem is missing or unreadable") from None
    return "the files for openssl match evidence.json"


def _log(report: Report, files: dict[str, bytes], evidence: dict[str, Any]) -> dict[str, Any]:
    """Chain, head and length; that the log's decisions and signatures are the evidence's. Returns event times."""
    ceremony = evidence["ceremony"]["id"]
    try:
        rows = parse_events_jsonl(files.get("events.jsonl", b""))
    except (ValueError, KeyError, TypeError) as exc:
        report.add("log.chain", "events.jsonl", False, f"unreadable: {exc}")
        return {}
    chain = verify_chain(ceremony, rows)
    if chain.broken is not None:
        report.add("log.chain", "events.jsonl", False, f"event {chain.broken.seq}: {chain.broken.reason}")
        return {}
    log = evidence["log"]
    ok = chain.length == log["length"] and chain.head.hex() == log["head"] and len(rows) == chain.length
    detail = f"{chain.length} events, head {chain.head.hex()}"
    report.add(
        "log.chain",
        "events.jsonl",
        ok,
        detail if ok else f"{detail}; evidence.json says {log['length']} events, head {log['head']}",
    )
    events = [json.loads(r.body) for r in rows]
    return _log_matches(report, events, evidence)


def _log_matches(report: Report, events: list[dict[str, Any]], evidence: dict[str, Any]) -> dict[str, Any]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event)
    logged = [
        {k: e["data"][k] for k in ("signatory", "statement", "signature", "timestamp_token")}
        for e in by_type.get("consent.recorded", [])
    ]
    recorded = [
        {k: c[k] for k in ("signatory", "statement", "signature", "timestamp_token")} for c in evidence["consents"]
    ]
    signed = [{k: e["data"][k] for k in ("signatory", "field", "sha256")} for e in by_type.get("document.signed", [])]
    listed = [{k: p[k] for k in ("signatory", "field", "sha256")} for p in evidence["pdf_signatures"]]
    frozen = by_type.get("ceremony.frozen", [{}])[0]
    problems = []
    if logged != recorded:
        problems.append("the decisions in evidence.json are not the ones in the log")
    if signed != listed:
        problems.append("the PDF signatures in evidence.json are not the ones in the log")
    if frozen.get("data", {}).get("document_sha256") != evidence["documents"]["original"]["sha256"]:
        problems.append("the log froze a different original")
    detail = "; ".join(problems) or f"{len(logged)} decisions and {len(signed)} PDF signatures, as logged"
    report.add("log.evidence", "events.jsonl", not problems, detail)
    return {"frozen": frozen.get("at")}


def _order(
    report: Report,
    evidence: dict[str, Any],
    log_times: dict[str, Any],
    consent_times: dict[str, dt.datetime],
    pdf: list[PdfSignatureResult],
    files: dict[str, bytes],
    root: x509.Certificate,
) -> None:
    """frozen <= each decision <= its PDF signature, signatures in order, <= document timestamp <= evidence token."""
    problems: list[str] = []
    frozen_at = log_times.get("frozen")
    start = dt.datetime.fromisoformat(str(frozen_at).replace("Z", "+00:00")) if frozen_at else None
    for who, at in consent_times.items():
        if start is not None and at + TOLERANCE < start:
            problems.append(f"{who} decided before the document was frozen")
    by_field = {p["field"]: p["signatory"] for p in evidence["pdf_signatures"]}
    previous: dt.datetime | None = None
    for result in pdf:
        if result.timestamp is None:
            continue
        signer = by_field.get(result.field, "")
        if signer in consent_times and result.timestamp + TOLERANCE < consent_times[signer]:
            problems.append(f"{result.field} is timestamped before {signer}'s consent")
        if previous is not None and result.timestamp + TOLERANCE < previous:
            problems.append(f"{result.field} is timestamped before the signature preceding it")
        previous = result.timestamp
    try:
        sealed = check_token(files["evidence.tsr"], files["evidence.json"], root).gen_time
        if previous is not None and sealed + TOLERANCE < previous:
            problems.append("evidence.json was timestamped before the PDF's last timestamp")
    except (CmsError, KeyError):
        problems.append("no valid evidence timestamp to order against (see evidence.timestamp)")
    detail = "; ".join(problems) or "freeze <= decisions <= PDF signatures <= document timestamp <= evidence"
    report.add("time.order", "record", not problems, detail)
