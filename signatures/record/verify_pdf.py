"""Record verification, the PDF: every PAdES signature the long-term way, every document timestamp, the layout.

PAdES B-LTA validation with explicit times, through pyHanko and its certvalidator:
each signature's signer is judged at the time its signature timestamp proves,
that timestamp's TSA at the time of the first document timestamp covering it,
each document timestamp at the time of the next one, and the newest at the
verification time; all with the revocation data the record carries. (pyHanko's
own AdES procedure, behind `pyhanko sign adesverify`, reads the wall clock for
part of its past validation, so its verdict would depend on when the verifier
runs rather than on the `at` given; VERIFY.txt still names that command.)
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms
from cryptography import x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis.policy_api import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureCoverageLevel

from ceremony.events import format_time

from ..pki import SIGNATORY
from .parts import SIGNED_PDF
from .report import Report
from .validation import Anchors, Material, context, outside_key_use
from .verify_files import Renewal

# Signatures are followed by the next signatory's field being filled; whether anything after the seal
# did more than add validation data and timestamps is the document timestamps' question (below).
ALLOWED_CHANGES = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES, ModificationLevel.FORM_FILLING)
# After the seal's first document timestamp, only validation data and further document timestamps
# may follow: a new field (a visible one can paint anything over the text) needs no key at all,
# and a renewal's timestamp from any TSA under the root would otherwise cover it.
AFTER_SEAL_CHANGES = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES)
READ_ERRORS = (PdfError, SignatureValidationError, ValueError, KeyError, TypeError, IndexError)


@dataclass(frozen=True, slots=True, kw_only=True)
class PdfResult:
    field: str
    ok: bool
    detail: str
    revision_sha256: str  # SHA-256 of the file up to the end of this signature's revision
    revision_size: int
    signer_fingerprint: str | None
    timestamp: dt.datetime | None  # the signature timestamp's (or the document timestamp's) time
    token: bytes | None  # that timestamp token, DER
    value: bytes | None  # a signature's value: what its timestamps' imprints hash
    is_document_timestamp: bool


async def read_pdf(pdf: bytes, anchors: Anchors, material: Material, at: dt.datetime) -> list[PdfResult]:
    """One result per signature in file order; PdfError & co. for a file pyHanko cannot read at all."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    embedded = list(reader.embedded_signatures)
    stamps = [e for e in embedded if e.sig_object.get("/Type") == "/DocTimeStamp"]
    results = []
    for signature in embedded:
        start, length = signature.byte_range[-2], signature.byte_range[-1]
        size = start + length
        revision = hashlib.sha256(pdf[:size]).hexdigest()
        # The next document timestamp over this revision fixes when its tokens' TSAs are judged.
        later = [s for s in stamps if s.byte_range[-2] + s.byte_range[-1] > size]
        covered_at = _stamp_time(later[0]) if later else at
        try:
            if signature in stamps:
                results.append(await _document_timestamp(signature, anchors, material, covered_at, revision, size))
            else:
                results.append(await _signature(signature, anchors, material, covered_at, revision, size))
        except READ_ERRORS as exc:
            kind = signature in stamps
            failure = f"cannot be validated: {exc}"
            results.append(
                PdfResult(
                    field=str(signature.field_name),
                    ok=False,
                    detail=failure,
                    revision_sha256=revision,
                    revision_size=size,
                    signer_fingerprint=None,
                    timestamp=None,
                    token=None,
                    value=None,
                    is_document_timestamp=kind,
                )
            )
    return results


def _stamp_time(signature: EmbeddedPdfSignature) -> dt.datetime:
    info = signature.signed_data["encap_content_info"]["content"].parsed
    value: dt.datetime = info["gen_time"].native
    return value


def _token(signature: EmbeddedPdfSignature) -> bytes | None:
    attributes = signature.signer_info["unsigned_attrs"]
    for attribute in attributes or ():
        if attribute["type"].native == "signature_time_stamp_token":
            token: bytes = attribute["values"][0].dump()
            return token
    return None


async def _signature(
    signature: EmbeddedPdfSignature,
    anchors: Anchors,
    material: Material,
    covered_at: dt.datetime,
    revision: str,
    size: int,
) -> PdfResult:
    """The signature, its signer judged at the time its signature timestamp proves, that timestamp's
    TSA at the time of the document timestamp covering it (PAdES B-LTA, with the record's data)."""
    token = _token(signature)
    value = bytes(signature.signer_info["signature"].native)
    signer = signature.signer_cert
    fingerprint = hashlib.sha256(signer.dump()).hexdigest()
    if token is None:
        problem = "it has no signature timestamp, so nothing proves when it was made"
        field = str(signature.field_name)
        return PdfResult(
            field=field,
            ok=False,
            detail=problem,
            revision_sha256=revision,
            revision_size=size,
            signer_fingerprint=fingerprint,
            timestamp=None,
            token=None,
            value=value,
            is_document_timestamp=False,
        )
    proven = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed["gen_time"].native
    status = await async_validate_pdf_signature(
        signature,
        signer_validation_context=context((anchors.root,), material, proven),
        ts_validation_context=context((anchors.root, *anchors.tsa), material, covered_at),
        key_usage_settings=KeyUsageConstraints(
            key_usage={"non_repudiation", "digital_signature"}, extd_key_usage={SIGNATORY.required.dotted_string}
        ),
    )
    problems = []
    if not status.intact:
        problems.append("the signed bytes were changed")
    if not status.valid:
        problems.append("the signature value does not verify")
    if not status.trusted:
        problems.append(f"its signer was not a valid signatory certificate at {proven.isoformat()}, when it signed")
    if status.coverage not in (SignatureCoverageLevel.ENTIRE_REVISION, SignatureCoverageLevel.ENTIRE_FILE):
        problems.append(f"it covers {status.coverage}, not its whole revision")
    if status.modification_level not in ALLOWED_CHANGES:
        problems.append(f"later revisions made changes not allowed after signing ({status.modification_level})")
    stamp = status.timestamp_validity
    if stamp is None or not (stamp.intact and stamp.valid and stamp.trusted):
        problems.append(
            f"its signature timestamp's TSA was not valid at {covered_at.isoformat()} under a pinned anchor"
        )
    if problems:
        detail = "; ".join(problems)
        field = str(signature.field_name)
        return PdfResult(
            field=field,
            ok=False,
            detail=detail,
            revision_sha256=revision,
            revision_size=size,
            signer_fingerprint=fingerprint,
            timestamp=proven,
            token=token,
            value=value,
            is_document_timestamp=False,
        )
    detail = (
        f"valid (PAdES B-LTA), signed by {signer.subject.human_friendly}, a signatory certificate valid at "
        f"{proven.isoformat()}, when its signature timestamp proves it signed; that timestamp's TSA judged at "
        f"{covered_at.isoformat()}, under {anchors.describe(anchors.root)}"
    )
    return PdfResult(
        field=str(signature.field_name),
        ok=True,
        detail=detail,
        revision_sha256=revision,
        revision_size=size,
        signer_fingerprint=fingerprint,
        timestamp=proven,
        token=token,
        value=value,
        is_document_timestamp=False,
    )


async def _document_timestamp(
    signature: EmbeddedPdfSignature,
    anchors: Anchors,
    material: Material,
    judged_at: dt.datetime,
    revision: str,
    size: int,
) -> PdfResult:
    validation = context((anchors.root, *anchors.tsa), material, judged_at)
    status = await async_validate_pdf_timestamp(signature, validation_context=validation)
    problems = []
    if not (status.intact and status.valid):
        problems.append("the document timestamp does not verify (the file changed under it, or the token is broken)")
    if not status.trusted:
        problems.append(f"its TSA was not valid at {judged_at.isoformat()} under a pinned anchor")
    if status.coverage not in (SignatureCoverageLevel.ENTIRE_REVISION, SignatureCoverageLevel.ENTIRE_FILE):
        problems.append(f"it covers {status.coverage}, not its whole revision")
    if status.modification_level not in AFTER_SEAL_CHANGES:
        problems.append(
            f"later revisions changed the document ({status.modification_level}), where only validation data "
            "and document timestamps may follow the seal"
        )
    token = signature.pkcs7_content
    tsa = status.signing_cert
    if tsa is not None and outside_key_use(x509.load_der_x509_certificate(tsa.dump()), status.timestamp):
        problems.append("it was made outside the period in which its TSA's key could sign")
    detail = "; ".join(problems) or (
        f"valid, time {status.timestamp.isoformat()}, its TSA judged at {judged_at.isoformat()}"
    )
    return PdfResult(
        field=str(signature.field_name),
        ok=not problems,
        detail=detail,
        revision_sha256=revision,
        revision_size=size,
        signer_fingerprint=None,
        timestamp=status.timestamp,
        token=token,
        value=None,
        is_document_timestamp=True,
    )


def check_layout(
    report: Report, results: list[PdfResult], evidence: dict[str, Any], renewals: list[Renewal], pdf_size: int
) -> None:
    """Signatures as logged, then the seal's document timestamps ending the sealed PDF, then each renewal's."""
    expected = evidence["pdf_signatures"]
    signatures = [r for r in results if not r.is_document_timestamp]
    stamps = [r for r in results if r.is_document_timestamp]
    fingerprints = {
        s["id"]: s["certificate"]["fingerprint_sha256"] for s in evidence["signatories"] if s["certificate"]
    }
    problems = []
    if [r.field for r in signatures] != [e["field"] for e in expected]:
        problems.append(
            f"the PDF has signatures [{', '.join(r.field for r in signatures)}], "
            f"evidence.json names [{', '.join(e['field'] for e in expected)}]"
        )
    first_stamp = next((i for i, r in enumerate(results) if r.is_document_timestamp), len(results))
    if any(not r.is_document_timestamp for r in results[first_stamp:]):
        problems.append("a signature follows a document timestamp: only timestamps may come after the seal")
    for result, entry in zip(signatures, expected, strict=False):
        if result.revision_sha256 != entry["sha256"] or result.revision_size != entry["size"]:
            problems.append(f"{result.field}: its revision is not the one the log recorded")
        if result.signer_fingerprint != fingerprints.get(entry["signatory"]):
            problems.append(f"{result.field}: not signed with {entry['signatory']}'s certificate")
        first = entry["timestamps"][0] if entry["timestamps"] else {}
        if result.token is None or base64.b64decode(first.get("token", "")) != result.token:
            problems.append(f"{result.field}: its signature timestamp is not the token evidence.json lists")
        if result.timestamp is None or first.get("time") != format_time(result.timestamp):
            problems.append(
                f"{result.field}: evidence.json gives its time as {first.get('time')}, its token says otherwise"
            )
    layers = [evidence["document_timestamps"], *(r.body["document_timestamps"] for r in renewals)]
    listed = [entry for layer in layers for entry in layer]
    if [(s.field, format_time(s.timestamp) if s.timestamp else None) for s in stamps] != [
        (e["field"], e["time"]) for e in listed
    ]:
        problems.append(
            "the document timestamps in the PDF are not the ones evidence.json and the renewals list (fields and times)"
        )
    sealed = evidence["documents"]["signed"]["size"]
    sealed_count = len(evidence["document_timestamps"])
    if sealed_count == 0 or len(stamps) < sealed_count or stamps[sealed_count - 1].revision_size != sealed:
        problems.append("the seal's last document timestamp does not end the sealed PDF")
    if stamps and stamps[-1].revision_size != pdf_size:
        problems.append("bytes follow the last document timestamp: something was appended after it")
    detail = "; ".join(problems) or (
        f"{len(signatures)} signatures in signing order, then {sealed_count} document timestamp(s) of the seal"
        + (f" and {len(stamps) - sealed_count} of renewals" if len(stamps) > sealed_count else "")
    )
    report.add("pdf.layout", SIGNED_PDF, not problems, detail)
