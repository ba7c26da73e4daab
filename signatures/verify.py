"""Offline verification of a sealed record (the zip an archivist downloads; docs/record.md).

Needs no server and no network: every check works from the zip's bytes and a
trusted root certificate (the record's own ca.pem unless one is given, which
the report says plainly). Each check is one line of the report; a failure says
what and where, and one failure never stops the other checks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.misc import PdfError

from ceremony.canonical import canonicalize
from ceremony.evidence import RECORD_TYPE, SIGNED_PDF

from .cms import check_issued_by, check_signed_data, check_token
from .errors import NotARecord
from .report import TOLERANCE, Mismatch, Report, Trust
from .verify_consents import check_consents
from .verify_log import check_log, check_order
from .verify_pdf import PdfSignatureResult, check_pdf

REQUIRED = ("evidence.json", "evidence.tsr", "evidence.p7s", "events.jsonl", "ca.pem", "completion.pdf", "VERIFY.txt")
T = TypeVar("T")


def verify_record(data: bytes, trust_pem: bytes | None = None, tsa_trust_pem: bytes | None = None) -> Report:
    """Check a record zip; NotARecord when `data` is not a record at all.

    `tsa_trust_pem`: the CA certificate(s) of an external TSA the ceremony used (default: the
    record's tsa-ca.pem, if it has one); our own TSA is under the ceremony root.
    """
    files = _open(data)
    report = Report()
    trust = _trust(report, files, trust_pem, tsa_trust_pem)
    if trust is None:
        return report
    evidence = _evidence(report, files)
    if evidence is None:
        return report
    _files_present(report, files)
    sealed_at = _seal(report, files, evidence, trust)
    pdf_times = _pdf(report, files, evidence, trust)
    consent_times = check_consents(report, files, evidence, trust)
    log_times = check_log(report, files, evidence)
    check_order(report, evidence, log_times, consent_times, pdf_times, sealed_at)
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


def _trust(
    report: Report, files: dict[str, bytes], trust_pem: bytes | None, tsa_trust_pem: bytes | None
) -> Trust | None:
    source = "the given trust anchor" if trust_pem is not None else "ca.pem in the record"
    try:
        root = x509.load_pem_x509_certificate(trust_pem if trust_pem is not None else files["ca.pem"])
    except (KeyError, ValueError) as exc:
        report.add("trust.root", source, False, f"no readable root certificate: {exc}")
        return None
    report.root_fingerprint = hashlib.sha256(root.public_bytes(Encoding.DER)).hexdigest()
    note = "" if trust_pem is not None else " (the record's own; compare this fingerprint with one known independently)"
    report.add("trust.root", source, True, f"{root.subject.rfc4514_string()}, SHA-256 {report.root_fingerprint}{note}")
    tsa_pem = tsa_trust_pem if tsa_trust_pem is not None else files.get("tsa-ca.pem")
    if tsa_pem is None:
        return Trust(root, (root,))
    where = "the given TSA anchor" if tsa_trust_pem is not None else "tsa-ca.pem in the record"
    try:
        anchors = tuple(x509.load_pem_x509_certificates(tsa_pem))
    except ValueError as exc:
        report.add("trust.tsa", where, False, f"no readable TSA certificate: {exc}")
        return Trust(root, (root,))
    names = "; ".join(a.subject.rfc4514_string() for a in anchors)
    report.add("trust.tsa", where, True, f"timestamps may also chain to the external TSA's CA: {names}")
    return Trust(root, (root, *anchors))


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


def _seal(report: Report, files: dict[str, bytes], evidence: dict[str, Any], trust: Trust) -> dt.datetime | None:
    """The seal and the token over evidence.json; the token's time, if it verified."""
    body = files["evidence.json"]
    times: list[dt.datetime] = []

    def sealed() -> str:
        signed = check_signed_data(files["evidence.p7s"], detached=body)
        check_issued_by(signed.signer, trust.root, signed.signer.not_valid_before_utc + TOLERANCE)
        fingerprint = hashlib.sha256(signed.signer.public_bytes(Encoding.DER)).hexdigest()
        if fingerprint != evidence["seal_certificate"]["fingerprint_sha256"]:
            raise Mismatch("sealed by a certificate other than the one evidence.json names")
        return f"sealed by {signed.signer.subject.rfc4514_string()}"

    def stamped() -> str:
        info = check_token(files["evidence.tsr"], body, trust.tsa)
        times.append(info.gen_time)
        return f"RFC 3161 token over evidence.json, time {info.gen_time.isoformat()}"

    report.run("evidence.seal", "evidence.p7s", sealed)
    report.run("evidence.timestamp", "evidence.tsr", stamped)
    return times[0] if times else None


def _pdf(report: Report, files: dict[str, bytes], evidence: dict[str, Any], trust: Trust) -> list[PdfSignatureResult]:
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
        results = _run(check_pdf(pdf, trust.tsa))
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
