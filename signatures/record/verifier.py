"""Offline verification of a sealed record (the zip an archivist keeps; docs/record.md).

Needs no server and no network: every check works from the zip's bytes, the
anchors the person verifying pins, and the moment they verify at (`at`, which
tests move by decades). Each check is one line of the report; a failure says
what and where, and one failure never stops the other checks. The zip is read
by our own strict reader first: a record whose structure is doubtful is not
read any further.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from cryptography import x509

from ..errors import NotARecord
from .container import DEFAULT_LIMITS, Limits, open_archive
from .evidence import RECORD_TYPE
from .lta import dss_material
from .parts import EVIDENCE, SIGNED_PDF
from .pins import Pins, resolve
from .receipts import check_receipt
from .report import Mismatch, Report
from .shape import check_shape
from .untrusted import is_canonical, load_json
from .validation import Anchors, Material
from .verify_decisions import check_decisions, check_signature_tokens
from .verify_evidence import check_evidence, check_renewals
from .verify_files import Renewal, check_files
from .verify_log import check_log, check_order
from .verify_pdf import READ_ERRORS, PdfResult, check_layout, read_pdf

T = TypeVar("T")


def verify_record(
    data: bytes,
    pins: Pins,
    *,
    at: dt.datetime,
    receipts: Sequence[bytes] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> Report:
    """Check a record zip at `at`; NotARecord when `data` is not a ceremony record at all."""
    archive = open_archive(data, limits)
    report = Report()
    if archive.problems:
        for problem in archive.problems:
            report.add("zip.structure", "record.zip", False, problem)
        return report
    files = archive.files
    missing = [name for name in (EVIDENCE, SIGNED_PDF) if name not in files]
    if missing:
        raise NotARecord(f"this zip is not a ceremony record: it has no {' or '.join(missing)}")
    evidence = _evidence(report, files)
    anchors = resolve(report, files, pins)
    if evidence is None or anchors is None:
        return report
    return _run(_verify(report, files, evidence, anchors, at, receipts))


def _evidence(report: Report, files: dict[str, bytes]) -> dict[str, Any] | None:
    raw = files[EVIDENCE]
    try:
        evidence: dict[str, Any] = load_json(raw)
        kind = evidence.get("type") if isinstance(evidence, dict) else None
        if kind != RECORD_TYPE:
            earlier = " (made by an earlier version, before records carried long-term validation data)"
            raise Mismatch(f"evidence.json is a {kind!r} document, not {RECORD_TYPE}{earlier if kind else ''}")
        if not is_canonical(evidence, raw):
            raise Mismatch("evidence.json is not in RFC 8785 canonical form (it was re-serialised or edited)")
        check_shape(evidence)
    except (ValueError, Mismatch) as exc:
        report.add("evidence.format", EVIDENCE, False, str(exc))
        return None
    report.add("evidence.format", EVIDENCE, True, f"{RECORD_TYPE}, RFC 8785 canonical, {len(raw)} bytes")
    return evidence


def record_material(files: dict[str, bytes]) -> Material:
    """Every certificate and all revocation data the record carries: untrusted, only paths to anchors count."""
    certificates: list[x509.Certificate] = []
    crls, ocsps = [], []
    for name, data in files.items():
        if name.endswith(".pem"):
            try:
                certificates.extend(x509.load_pem_x509_certificates(data))
            except ValueError:
                continue  # a damaged PEM file is reported by the manifest check; here it only adds nothing
        elif name.endswith(".crl"):
            crls.append(data)
        elif name.endswith(".ocsp"):
            ocsps.append(data)
    own = Material(tuple(certificates), tuple(crls), tuple(ocsps))
    try:
        return own.plus(dss_material(files[SIGNED_PDF]))
    except READ_ERRORS:
        return own  # an unreadable PDF fails its own checks


async def _verify(
    report: Report,
    files: dict[str, bytes],
    evidence: dict[str, Any],
    anchors: Anchors,
    at: dt.datetime,
    receipts: Sequence[bytes],
) -> Report:
    renewals = check_files(report, files, evidence)
    material = record_material(files)
    renewal_times = await check_renewals(report, renewals, anchors, material, at)
    cover = next((t for t in renewal_times if t is not None), at) if renewals else at
    evidence_time, tsa_anchors = await check_evidence(report, files, evidence, anchors, material, cover)
    covered_at = evidence_time or at
    pdf = await _pdf(report, files, evidence, renewals, anchors, material, at)
    consent_times = await check_decisions(report, files, evidence, anchors, material, covered_at, tsa_anchors)
    await check_signature_tokens(report, files, evidence, pdf, anchors, material, covered_at, tsa_anchors)
    facts = check_log(report, files, evidence)
    check_order(report, evidence, facts, consent_times, pdf, evidence_time, renewal_times)
    for receipt in receipts:
        check_receipt(report, receipt, evidence)
    return report


async def _pdf(
    report: Report,
    files: dict[str, bytes],
    evidence: dict[str, Any],
    renewals: list[Renewal],
    anchors: Anchors,
    material: Material,
    at: dt.datetime,
) -> list[PdfResult]:
    pdf = files[SIGNED_PDF]
    for name, part in (("pdf.original", "original"), ("pdf.sealed", "signed")):
        document = evidence["documents"][part]
        prefix = hashlib.sha256(pdf[: document["size"]]).hexdigest()
        what = "the frozen original" if part == "original" else "the PDF as sealed"
        report.add(
            name,
            SIGNED_PDF,
            prefix == document["sha256"],
            f"the first {document['size']} bytes "
            + (f"are {what}" if prefix == document["sha256"] else f"hash to {prefix}, not {what}"),
        )
    try:
        results = await read_pdf(pdf, anchors, material, at)
    except READ_ERRORS as exc:
        report.add("pdf.signatures", SIGNED_PDF, False, f"the PDF cannot be read: {exc}")
        return []
    for result in results:
        report.add(
            "pdf.timestamp" if result.is_document_timestamp else "pdf.signature", result.field, result.ok, result.detail
        )
    check_layout(report, results, evidence, renewals, len(pdf))
    return results


def _run(job: Coroutine[Any, Any, T]) -> T:
    """Run the async validation to completion, also when called from inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(job)
    # asyncio.run cannot nest: inside a caller's loop the validation runs in a thread of its
    # own, and the caller waits for it as for any synchronous call.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, job).result()
