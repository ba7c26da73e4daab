"""The PDF half of record verification: every PAdES signature and the document timestamp, by pyHanko.

Validation is offline: the trust root is given, nothing is fetched, and our CA
publishes no revocation information (its certificates live seven days and the
record's timestamps prove when they were used), so revocation is not checked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis.policy_api import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

ALLOWED_CHANGES = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES, ModificationLevel.FORM_FILLING)


@dataclass(frozen=True, slots=True)
class PdfSignatureResult:
    field: str
    ok: bool
    detail: str
    revision_sha256: str  # SHA-256 of the file up to the end of this signature's revision
    signer_fingerprint: str | None
    timestamp: dt.datetime | None  # the signature timestamp's (or document timestamp's) time
    is_document_timestamp: bool


async def check_pdf(pdf: bytes, anchors: Sequence[x509.Certificate]) -> list[PdfSignatureResult]:
    """One result per signature in file order; raises PdfError for a file pyHanko cannot read at all.

    `anchors`: the ceremony root first (signers), then any external TSA's CA (timestamps).
    """
    trust = [asn1_x509.Certificate.load(a.public_bytes(Encoding.DER)) for a in anchors]
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    results = []
    for embedded in reader.embedded_signatures:
        context = ValidationContext(trust_roots=trust, allow_fetching=False, revocation_mode="soft-fail")
        start, length = embedded.byte_range[-2], embedded.byte_range[-1]
        revision = hashlib.sha256(pdf[: start + length]).hexdigest()
        is_timestamp = embedded.sig_object.get("/Type") == "/DocTimeStamp"
        try:
            if is_timestamp:
                results.append(await _document_timestamp(embedded, context, revision))
            else:
                results.append(await _signature(embedded, context, revision))
        except (SignatureValidationError, PdfError, ValueError, KeyError) as exc:
            results.append(
                PdfSignatureResult(
                    embedded.field_name, False, f"cannot be validated: {exc}", revision, None, None, is_timestamp
                )
            )
    return results


async def _signature(embedded: EmbeddedPdfSignature, context: ValidationContext, revision: str) -> PdfSignatureResult:
    status = await async_validate_pdf_signature(
        embedded, signer_validation_context=context, ts_validation_context=context
    )
    problems = []
    if not status.intact:
        problems.append("the signed bytes were changed")
    if not status.valid:
        problems.append("the signature value does not verify")
    if not status.trusted:
        problems.append("the signer's certificate does not chain to the trusted root")
    if status.coverage not in (SignatureCoverageLevel.ENTIRE_REVISION, SignatureCoverageLevel.ENTIRE_FILE):
        problems.append(f"it covers {status.coverage}, not its whole revision")
    if status.modification_level not in ALLOWED_CHANGES:
        problems.append(f"later revisions made changes not allowed after signing ({status.modification_level})")
    stamp = status.timestamp_validity
    if stamp is None:
        problems.append("it has no signature timestamp")
    elif not (stamp.intact and stamp.valid and stamp.trusted):
        problems.append("its signature timestamp does not verify under the trusted root")
    signer = status.signing_cert
    fingerprint = hashlib.sha256(signer.dump()).hexdigest() if signer is not None else None
    field = embedded.field_name
    when = stamp.timestamp if stamp is not None else None
    if problems or signer is None or when is None:
        detail = "; ".join(problems) or "no signer certificate"
        return PdfSignatureResult(field, False, detail, revision, fingerprint, when, False)
    detail = f"valid, signed by {signer.subject.human_friendly}, timestamped {when.isoformat()}"
    return PdfSignatureResult(field, True, detail, revision, fingerprint, when, False)


async def _document_timestamp(
    embedded: EmbeddedPdfSignature, context: ValidationContext, revision: str
) -> PdfSignatureResult:
    status = await async_validate_pdf_timestamp(embedded, validation_context=context)
    problems = []
    if not (status.intact and status.valid):
        problems.append("the document timestamp does not verify (the file changed after it, or the token is broken)")
    if not status.trusted:
        problems.append("the TSA does not chain to the trusted root")
    if status.coverage is not SignatureCoverageLevel.ENTIRE_FILE:
        problems.append("it does not cover the whole file: something was appended after the seal")
    field = embedded.field_name
    detail = "; ".join(problems) if problems else f"valid, covers the whole file, time {status.timestamp.isoformat()}"
    return PdfSignatureResult(field, not problems, detail, revision, None, status.timestamp, True)
