"""PAdES signatures made by a key the server never holds, and the document timestamp.

pyHanko's interrupted signing splits a signature in two: `prepare` reserves the
signature field in a new incremental revision, hashes the byte ranges and
builds the signed attributes; whoever holds the key signs those attributes'
DER (for WebCrypto: ECDSA P-256 with SHA-256, which hashes them itself);
`finish` embeds that value, asks for the RFC 3161 signature timestamp and
writes the CMS into the reserved space. Between the two the prepared state
lives in memory only, so a prepared signature is good for exactly one finish.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
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
from pyhanko.sign import fields, timestamps
from pyhanko.sign.signers.pdf_cms import ExternalSigner
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner, PdfTBSDocument, PdfTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator.registry import SimpleCertificateStore

from .errors import PdfSigningError, TimestampError
from .timestamping import Timestamper, Token

# Room for the CMS: signer and root certificates, the signature and its timestamp
# token (with the TSA's certificate) come to ~2.5 KiB; this leaves space for longer chains.
SIGNATURE_BYTES = 8192
TIMESTAMP_FIELD = "Seal-DocumentTimestamp"
_ECDSA = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})


class _TokenSource(timestamps.TimeStamper):
    """pyHanko's timestamper interface over ours; remembers the last token for the log."""

    def __init__(self, timestamper: Timestamper) -> None:
        super().__init__(include_nonce=False)  # type: ignore[no-untyped-call]
        self._timestamper = timestamper
        self.last: Token | None = None

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        if md_algorithm != "sha256":
            raise TimestampError(f"only SHA-256 imprints are stamped, not {md_algorithm}")
        token = await self._timestamper.timestamp_digest(message_digest)
        self.last = token
        return cms.ContentInfo.load(token.der)


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


async def prepare(
    pdf: bytes, certificate: x509.Certificate, chain: list[x509.Certificate], texts: SignatureTexts
) -> PreparedSignature:
    """Reserve a signature field in a new revision of `pdf` and return what must be signed."""
    signer_cert = _asn1(certificate)
    registry = SimpleCertificateStore.from_certs([_asn1(c) for c in chain])  # type: ignore[no-untyped-call]
    placeholder = ExternalSigner(signer_cert, registry, signature_value=72, signature_mechanism=_ECDSA)
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        # No timestamper here: the timestamp is an unsigned attribute, fetched at finish.
        signer = PdfSigner(texts.metadata(), signer=placeholder)
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
    return PreparedSignature(attributes.dump(), hashlib.sha256(pdf).hexdigest(), texts.field_name, certificate, state)


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
    source = _TokenSource(timestamper)
    cms_object = await signer.async_sign_prescribed_attributes(
        "sha256", signed_attrs=state["attributes"], timestamper=source
    )
    output = state["output"]
    await PdfTBSDocument.async_finish_signing(
        output,
        prepared_digest=state["digest"],
        signature_cms=cms_object,
        post_sign_instr=state["instructions"],
    )
    data = output.getvalue()
    assert source.last is not None  # async_sign_prescribed_attributes stamps exactly once
    return SignedPdf(data, hashlib.sha256(data).hexdigest(), source.last.gen_time, source.last.der)


async def add_document_timestamp(
    pdf: bytes, certificates: list[x509.Certificate], timestamper: Timestamper
) -> SignedPdf:
    """Store `certificates` in the DSS and seal the whole file with a document timestamp."""
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        # The DSS lets a validator build every chain from the file alone, years later.
        DocumentSecurityStore.supply_dss_in_writer(writer, None, certs=[_asn1(c) for c in certificates])
        source = _TokenSource(timestamper)
        output = io.BytesIO()
        await PdfTimeStamper(source, field_name=TIMESTAMP_FIELD).async_timestamp_pdf(
            writer, "sha256", output=output, bytes_reserved=SIGNATURE_BYTES
        )
    except (PdfError, ValueError, KeyError) as exc:
        raise PdfSigningError(f"the document timestamp could not be added: {exc}") from exc
    data = output.getvalue()
    assert source.last is not None
    return SignedPdf(data, hashlib.sha256(data).hexdigest(), source.last.gen_time, source.last.der)
