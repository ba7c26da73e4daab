"""The PDF's long-term validation: PAdES B-LTA at the seal, and each renewal after it.

At the seal, one incremental revision adds the Document Security Store: for
every signature (with a VRI entry keyed by it) the certificate paths of its
signer and of its signature timestamp, and the CRLs that show none was revoked.
Then each configured TSA adds a document timestamp over the whole file, each
with its own TSA's path and CRLs in the DSS. A renewal validates the newest
document timestamp, stores fresh validation data for it, and adds a new one,
as pyHanko's `ltaupdate` does.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

from cryptography import x509
from pyhanko.pdf_utils.generic import DecodePurpose  # type: ignore[attr-defined]
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper, TimestampDSSContentSettings
from pyhanko.sign.validation.dss import DocumentSecurityStore, collect_validation_info
from pyhanko.sign.validation.errors import ValidationInfoReadingError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, ValidationError

from ..errors import PdfSigningError
from ..timestamping import Timestamper, TokenSource
from .evidence import DocumentTimestamp, SealedPdf
from .validation import Anchors, Material, context

TIMESTAMP_BYTES = 12288  # a token with its TSA's chain, with room for a longer external chain
FIELD = "Seal-Timestamp-{n}"
_FAILURES = (PdfError, ValueError, KeyError, PathBuildingError, PathValidationError, ValidationError)


async def seal_pdf(
    pdf: bytes,
    anchors: Anchors,
    material: Material,
    timestampers: Sequence[Timestamper],
    now: dt.datetime,
    *,
    fetch: bool = False,
) -> SealedPdf:
    """B-LT for every signature in `pdf`, then a document timestamp by each TSA: B-LTA."""
    validation = context((anchors.root, *anchors.tsa), material, now, fetch=fetch)
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        data, stamps = pdf, []
        covered = list(reader.embedded_regular_signatures)
        for timestamper in timestampers:
            data, stamp = await _stamp(data, covered, timestamper, validation)
            stamps.append(stamp)
            covered = [PdfFileReader(io.BytesIO(data), strict=False).embedded_timestamp_signatures[-1]]
    except _FAILURES as exc:
        raise PdfSigningError(f"the PDF could not be given its validation data and document timestamp: {exc}") from exc
    return SealedPdf(data=data, timestamps=tuple(stamps))


async def renew_pdf(
    pdf: bytes,
    anchors: Anchors,
    material: Material,
    timestampers: Sequence[Timestamper],
    now: dt.datetime,
    *,
    fetch: bool = False,
) -> tuple[bytes, tuple[DocumentTimestamp, ...]]:
    """Fresh validation data for the newest document timestamp, then a new one from each TSA."""
    validation = context((anchors.root, *anchors.tsa), material, now, fetch=fetch)
    data, stamps = pdf, []
    try:
        for timestamper in timestampers:
            newest = PdfFileReader(io.BytesIO(data), strict=False).embedded_timestamp_signatures[-1]
            data, stamp = await _stamp(data, [newest], timestamper, validation)
            stamps.append(stamp)
    except (*_FAILURES, IndexError) as exc:
        raise PdfSigningError(f"the PDF's archive timestamp could not be renewed: {exc}") from exc
    return data, tuple(stamps)


async def _stamp(
    pdf: bytes, covered: Sequence[EmbeddedPdfSignature], timestamper: Timestamper, validation: ValidationContext
) -> tuple[bytes, DocumentTimestamp]:
    """One revision: validation data for `covered` (each with its VRI entry), then a document timestamp.

    The DSS goes in before the timestamp, in the same revision, so that every byte of the
    file is under its newest timestamp (pyHanko's default appends it afterwards).
    """
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    for signature in covered:
        paths = await collect_validation_info(signature, validation)
        DocumentSecurityStore.supply_dss_in_writer(
            writer, signature.pkcs7_content.hex().encode("ascii"), paths=paths, validation_context=validation
        )
    n = len(PdfFileReader(io.BytesIO(pdf), strict=False).embedded_timestamp_signatures) + 1
    source, output, field = TokenSource(timestamper), io.BytesIO(), FIELD.format(n=n)
    settings = TimestampDSSContentSettings(update_before_ts=True, include_vri=False)
    await PdfTimeStamper(source, field_name=field).async_timestamp_pdf(
        writer,
        "sha256",
        validation_context=validation,
        output=output,
        bytes_reserved=TIMESTAMP_BYTES,
        dss_settings=settings,
    )
    assert source.last is not None  # pyHanko asked for the token it embedded
    return output.getvalue(), DocumentTimestamp(field=field, time=source.last.gen_time, token=source.last.der)


def dss_material(pdf: bytes) -> Material:
    """The certificates and revocation data in the PDF's Document Security Store (none if it has none)."""
    try:
        dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(pdf), strict=False))
    except ValidationInfoReadingError:
        return Material()
    certificates = tuple(x509.load_der_x509_certificate(c.dump()) for c in dss.load_certs())
    crls = tuple(ref.get_object().read_data(DecodePurpose.CRL) for ref in dss.crls)
    ocsps = tuple(ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE) for ref in dss.ocsps)
    return Material(certificates, crls, ocsps)
