"""Sealing: the document timestamp, evidence.json, its token and CMS seal, the record zip, then the log.

Order matters as it does at the signing desk: every file is made and written
durably first, and `ceremony.sealed` (which names their hashes) is appended
last, so the log never points at a record that a crash lost. The ceremony's
signing turn is held throughout, so no PDF signature is half-made meanwhile;
if anything else reaches the log while the record is built, the core refuses
the seal and the record is built again from the new log.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ceremony.canonical import canonicalize
from ceremony.core import CeremonyState, decide
from ceremony.errors import CommandRefused
from ceremony.evidence import SIGNED_PDF, CertificateInfo, SealInputs, build_evidence, events_jsonl
from ceremony.sealing import Seal, current_pdf
from ceremony.service import CeremonyService
from signatures import pades
from signatures.cms import check_signed_data, sign_detached
from signatures.pki import CeremonyPki
from signatures.timestamping import Timestamper

from .completion import render_completion_pdf
from .mou import template_environment
from .pades_desk import Turns
from .records import RecordStore

ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Record:
    zip: bytes
    evidence_sha256: str
    signed_sha256: str
    signed_size: int
    log_length: int  # the events the record covers; the seal must come right after them


def _info(certificate: x509.Certificate) -> CertificateInfo:
    der = certificate.public_bytes(Encoding.DER)
    return CertificateInfo(hashlib.sha256(der).hexdigest(), certificate.subject.rfc4514_string())


class Sealer:
    def __init__(
        self,
        service: CeremonyService,
        pki: CeremonyPki,
        timestamper: Timestamper,
        turns: Turns,
        records: RecordStore,
        tsa_anchors: tuple[x509.Certificate, ...] = (),
    ) -> None:
        self.service, self.pki, self.timestamper = service, pki, timestamper
        self.turns, self.records = turns, records
        self.tsa_anchors = tsa_anchors  # an external TSA's CA(s); our own TSA is under the root

    async def seal(self, ceremony: str, actor: str, *, absent_ok: bool) -> CeremonyState:
        decide(self.service.get(ceremony), Seal(absent_ok))  # refuse now, before any work
        lock = await self.turns.acquire(ceremony)
        try:
            for attempt in range(ATTEMPTS):
                record = await self.build(self.service.get(ceremony))
                await asyncio.to_thread(self.records.write, ceremony, record.zip)
                command = Seal(
                    absent_ok,
                    record.log_length,
                    record.signed_sha256,
                    record.signed_size,
                    record.evidence_sha256,
                    hashlib.sha256(record.zip).hexdigest(),
                )
                try:
                    await self.service.execute(ceremony, command, actor)
                    break
                except CommandRefused:
                    if attempt == ATTEMPTS - 1 or self.service.get(ceremony).seq == record.log_length:
                        raise  # refused for a reason other than the log moving on
        finally:
            lock.release()
        return self.service.get(ceremony)

    async def build(self, state: CeremonyState) -> Record:
        """The record of `state` (the log as it is now), with a fresh document timestamp."""
        sha, _ = current_pdf(state)
        pdf = await self.service.document(sha)
        used = [_certificate(state, c.certificate_serial) for c in state.consents.values()]
        certificates = [self.pki.root.certificate, *self.tsa_anchors, *used]
        signed = await pades.add_document_timestamp(pdf, certificates, self.timestamper)
        tsa = check_signed_data(signed.token).signer  # the TSA that stamped: ours, or the external one
        await self.service.store_document(signed.data)
        # Events may have come meanwhile (a link issued, a stage moved; not a PDF signature: we hold
        # the turn). The record describes the newest state; its rows are stored before it is
        # published, so reading them after taking it finds them all (and perhaps newer ones, cut).
        state = self.service.get(state.id)
        rows = [row for row in await self.service.stored_events(state.id) if row.seq <= state.seq]
        inputs = SealInputs(
            signed.sha256,
            signed.size,
            _info(self.pki.root.certificate),
            _info(self.pki.seal.certificate),
            _info(tsa),
            signed.timestamp,
            {  # of the newest state: a decision may have landed meanwhile
                e.serial: hashlib.sha256(base64.b64decode(e.certificate)).hexdigest()
                for e in state.enrollments.values()
                if e.serial is not None and e.certificate is not None
            },
        )
        evidence = build_evidence(state, rows, inputs)
        evidence_bytes = canonicalize(evidence)
        token = await self.timestamper.timestamp(evidence_bytes)
        completion = await asyncio.to_thread(render_completion_pdf, evidence)
        files: dict[str, bytes] = {
            SIGNED_PDF: signed.data,
            "evidence.json": evidence_bytes,
            "evidence.tsr": token.der,
            "evidence.p7s": sign_detached(evidence_bytes, self.pki.seal),
            "events.jsonl": events_jsonl(rows),
            "completion.pdf": completion,
            "ca.pem": self.pki.root.certificate_pem,
            "tsa.pem": tsa.public_bytes(Encoding.PEM),
            "seal.pem": self.pki.seal.certificate_pem,
            **_consent_files(evidence),
            "VERIFY.txt": _verify_text(evidence, external_tsa=bool(self.tsa_anchors)).encode("utf-8"),
        }
        if self.tsa_anchors:
            files["tsa-ca.pem"] = b"".join(a.public_bytes(Encoding.PEM) for a in self.tsa_anchors)
        archive = await asyncio.to_thread(_zip, files)  # ~85 ms of deflate: not on the loop that relays signaling
        return Record(archive, hashlib.sha256(evidence_bytes).hexdigest(), signed.sha256, signed.size, state.seq)


def _certificate(state: CeremonyState, serial: str) -> x509.Certificate:
    der = next(e.certificate for e in state.enrollments.values() if e.serial == serial)
    assert der is not None  # a decision is only recorded with an approved (certified) enrollment
    return x509.load_der_x509_certificate(base64.b64decode(der))


def _consent_files(evidence: dict[str, Any]) -> dict[str, bytes]:
    """Each decision's parts as separate files, so openssl can check them without any extraction."""
    files: dict[str, bytes] = {}
    certificates = {s["id"]: s["certificate"] for s in evidence["signatories"]}
    for consent in evidence["consents"]:
        who = consent["signatory"]
        files[f"consents/{who}.statement.json"] = canonicalize(consent["statement"])
        files[f"consents/{who}.sig"] = base64.b64decode(consent["signature"])
        files[f"consents/{who}.tsr"] = base64.b64decode(consent["timestamp_token"])
        der = base64.b64decode(certificates[who]["der"])
        files[f"certificates/{who}.pem"] = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
    return files


def _verify_text(evidence: dict[str, Any], *, external_tsa: bool) -> str:
    template = template_environment().get_template("record/VERIFY.txt")
    return template.render(
        ceremony_id=evidence["ceremony"]["id"],
        sealed_at=evidence["ceremony"]["sealed_at"],
        root_fingerprint=evidence["root_ca"]["fingerprint_sha256"],
        original_size=evidence["documents"]["original"]["size"],
        original_sha256=evidence["documents"]["original"]["sha256"],
        log_length=evidence["log"]["length"],
        log_head=evidence["log"]["head"],
        consents=[c["signatory"] for c in evidence["consents"]],
        # Tokens of an external TSA chain to its own CA, which the record carries as tsa-ca.pem.
        anchors="anchors.pem" if external_tsa else "ca.pem",
        external_tsa=external_tsa,
    )


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            # A fixed date: the record's times are in its tokens, not in zip metadata.
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16  # readable files when unzipped (the default would be 0600)
            archive.writestr(info, data)
    return buffer.getvalue()
