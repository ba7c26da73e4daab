"""PAdES signatures made by a key the server never holds, and the document timestamp.

pyHanko's interrupted signing splits a signature in two: `prepare` reserves the
signature field in a new incremental revision, hashes the byte ranges and
builds the signed attributes; whoever holds the key signs those attributes'
DER (for WebCrypto: ECDSA P-256 with SHA-256, which hashes them itself);
`finish` embeds that value, asks for the RFC 3161 signature timestamp and
writes the CMS into the reserved space. Between the two the prepared state
lives in memory only, so a prepared signature is good for exactly one finish.

A signature is visible when the MOU has a box for it (signatures.appearance):
the widget and its appearance are part of the revision being signed. Every
revision stays PDF 1.7, the version the original's PDF/A-3b claim requires.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import math
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import constants
from pyhanko.sign.signers.pdf_cms import ExternalSigner
from pyhanko.sign.signers.pdf_signer import (
    PdfSignatureMetadata,
    PdfSigner,
    PdfSigningSession,
    PdfTBSDocument,
)
from pyhanko_certvalidator.registry import SimpleCertificateStore

from .appearance import SignatureBox, VisibleSignature, stamp_style
from .errors import PdfSigningError, PdfSigningFailed
from .timestamping import Timestamper, TokenSource

# Room for the CMS: the signer's, issuing CA's and root certificates, the signature and its
# timestamp token (with the TSA's and the issuing CA's certificates) come to ~4.5 KiB, which
# pyHanko writes as hex; this leaves room for an external TSA's longer chain.
SIGNATURE_BYTES = 16384
_ECDSA = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedPdf:
    data: bytes
    sha256: str
    timestamp: dt.datetime  # the TSA's time in the signature (or document) timestamp
    token: bytes  # that timestamp token (DER), whose signer is the TSA that stamped

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(slots=True)
class PreparedSignature:
    """A signature waiting for its value; `to_sign` is what the signer's key must sign."""

    to_sign: bytes
    base_sha256: str
    field_name: str
    certificate: x509.Certificate
    _state: dict[str, Any] = field(repr=False)


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureTexts:
    """What a signature says about itself in the PDF: its field, who, where, why."""

    field_name: str
    name: str
    location: str
    reason: str

    def metadata(self) -> PdfSignatureMetadata:
        """The PAdES settings every ceremony signature uses (SHA-256, ETSI.CAdES.detached)."""
        return PdfSignatureMetadata(
            field_name=self.field_name,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            name=self.name,
            location=self.location,
            reason=self.reason,
        )


class _Pdf17Signer(PdfSigner):
    """A PdfSigner that leaves the PDF version alone, and may date the signature with a given time."""

    def __init__(self, *args: Any, signing_time: dt.datetime | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signing_time = signing_time

    def register_extensions(self, pdf_out: BasePdfFileWriter, *, md_algorithm: str) -> None:
        # pyHanko raises /Version to 2.0 for ECDSA on P-256 (ISO 32002 defines those curves
        # for PDF 2.0), and the MOU would then contradict its PDF/A-3b claim, a PDF 1.7
        # profile. PDF 1.7 readers verify these signatures all the same; PAdES is declared
        # the PDF 1.7 way, by the ESIC extension.
        pdf_out.ensure_output_version(version=(1, 7))  # type: ignore[no-untyped-call]
        if self.signature_meta.subfilter is fields.SigSeedSubFilter.PADES:
            pdf_out.register_extension(constants.ESIC_EXTENSION_1)

    def init_signing_session(self, pdf_out: BasePdfFileWriter, existing_fields_only: bool = False) -> PdfSigningSession:
        session = super().init_signing_session(pdf_out, existing_fields_only)
        if self._signing_time is not None:
            # The stamp shows this time, so /M must say the same, not pyHanko's own reading of the clock.
            session.system_time = self._signing_time
        return session


def _field_spec(field_name: str, box: SignatureBox) -> fields.SigFieldSpec:
    x1, y1, x2, y2 = box.rect
    # Whole points, rounded inwards: the widget must stay inside the box drawn for it.
    rect = (math.ceil(x1), math.ceil(y1), math.floor(x2), math.floor(y2))
    return fields.SigFieldSpec(field_name, on_page=box.page, box=rect)


async def _signer(texts: SignatureTexts, placeholder: ExternalSigner, visible: VisibleSignature | None) -> PdfSigner:
    # No timestamper here: the timestamp is an unsigned attribute, fetched at finish.
    if visible is None:
        return _Pdf17Signer(texts.metadata(), signer=placeholder)
    # Cutting a font the first time takes 0.3-0.5 s: not on the event loop.
    style = await asyncio.to_thread(stamp_style, visible.stamp)
    return _Pdf17Signer(
        texts.metadata(),
        signer=placeholder,
        stamp_style=style,
        new_field_spec=_field_spec(texts.field_name, visible.box),
        signing_time=visible.stamp.signed_at,
    )


async def prepare(
    pdf: bytes,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
    texts: SignatureTexts,
    visible: VisibleSignature | None = None,
) -> PreparedSignature:
    """Reserve a signature field in a new revision of `pdf` and return what must be signed.

    With `visible`, the field's widget fills its box and shows its stamp; without, it is invisible.
    """
    signer_cert = _asn1(certificate)
    registry = SimpleCertificateStore.from_certs([_asn1(c) for c in chain])  # type: ignore[no-untyped-call]
    placeholder = ExternalSigner(signer_cert, registry, signature_value=72, signature_mechanism=_ECDSA)
    signer = await _signer(texts, placeholder, visible)
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        digest, tbs, output = await signer.async_digest_doc_for_signing(writer, bytes_reserved=SIGNATURE_BYTES)
        built = await placeholder.signed_attrs(digest.document_digest, "sha256", use_pades=True)
        # asn1crypto re-encodes values built from Python objects on every dump (~9 ms here, and
        # pyHanko dumps them twice more at finish); a value loaded from DER keeps its bytes.
        attributes = cms.CMSAttributes.load(built.dump())
    except (PdfError, ValueError, KeyError) as exc:
        raise PdfSigningError(f"the PDF could not be prepared for signing: {exc}") from exc
    state = {
        "digest": digest,
        "instructions": tbs.post_sign_instructions,
        "output": output,
        "attributes": attributes,
        "signer": signer_cert,
        "registry": registry,
    }
    return PreparedSignature(
        to_sign=attributes.dump(),
        base_sha256=hashlib.sha256(pdf).hexdigest(),
        field_name=texts.field_name,
        certificate=certificate,
        _state=state,
    )


async def finish(prepared: PreparedSignature, der_signature: bytes, timestamper: Timestamper) -> SignedPdf:
    """Embed the signer's value (DER ECDSA) and a signature timestamp; the new PDF revision."""
    public_key = prepared.certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise PdfSigningError("only ECDSA certificates sign here")
    try:
        public_key.verify(der_signature, prepared.to_sign, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        # Checked here: pyHanko would embed any bytes, and the PDF would carry a broken signature.
        raise PdfSigningError("the signature does not verify with the signatory's certificate") from exc
    state = prepared._state
    signer = ExternalSigner(
        state["signer"], state["registry"], signature_value=der_signature, signature_mechanism=_ECDSA
    )
    source = TokenSource(timestamper)
    cms_object = await signer.async_sign_prescribed_attributes(
        "sha256", signed_attrs=state["attributes"], timestamper=source
    )
    output = state["output"]
    try:
        await PdfTBSDocument.async_finish_signing(
            output,
            prepared_digest=state["digest"],
            signature_cms=cms_object,
            post_sign_instr=state["instructions"],
        )
    except SigningError as exc:  # e.g. a CMS larger than the space reserved for it
        raise PdfSigningFailed(f"the signature could not be written into the PDF: {exc}") from exc
    data = output.getvalue()
    assert source.last is not None  # async_sign_prescribed_attributes stamps exactly once
    return SignedPdf(
        data=data, sha256=hashlib.sha256(data).hexdigest(), timestamp=source.last.gen_time, token=source.last.der
    )
