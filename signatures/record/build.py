"""Building a record: the sealed PDF, the files for standard tools, evidence.json with its manifest, the seal.

No aiohttp and no disk here: the shell (sealer.py) hands in the state, the log
rows and the current PDF, and gets the zip's bytes. Two steps, because events
may land between them: `seal_document` (the slow part, with the TSAs), then
`assemble` over the state as it is once the PDF is sealed.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader

from ceremony.canonical import canonicalize
from ceremony.chain import StoredEvent
from ceremony.state import CeremonyState

from ..cms import check_signed_data, sign_detached
from ..errors import KeyRetired
from ..pki import CeremonyPki, key_use_period
from ..timestamping import TimestampSet, Token
from .container import write_archive
from .evidence import SealedPdf, TrustNames, build_evidence, events_jsonl, with_manifest
from .lta import dss_material, seal_pdf
from .parts import EVIDENCE, SIGNED_PDF, ordered, token_name
from .validation import Anchors, Material


@dataclass(frozen=True, slots=True, kw_only=True)
class Renderers:
    """The human-readable parts, made by the web layer's templates and handed in."""

    completion: Callable[[dict[str, Any]], bytes]  # evidence -> completion.pdf
    instructions: Callable[[dict[str, Any], bool], str]  # evidence, external TSA? -> VERIFY.txt


@dataclass(frozen=True, slots=True, kw_only=True)
class SealKit:
    """What a record needs from the server: its PKI, its TSAs, its CRLs, its renderers."""

    pki: CeremonyPki
    tsas: TimestampSet
    crls: Callable[[dt.datetime], Sequence[bytes]]  # every CRL we publish, as of a moment
    renderers: Renderers
    tsa_anchors: tuple[x509.Certificate, ...] = ()  # external TSAs' CAs
    fetch: bool = False  # an external TSA's revocation data must be fetched from where it publishes it

    @property
    def anchors(self) -> Anchors:
        return Anchors(root=self.pki.root, tsa=self.tsa_anchors)


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    zip: bytes
    evidence_sha256: str
    signed_sha256: str
    signed_size: int
    log_length: int  # the events the record covers; the seal must come right after them


def signatory_certificates(state: CeremonyState) -> list[x509.Certificate]:
    """The certificates the decisions were made with, in the order of the decisions."""
    by_serial = {e.serial: e.certificate for e in state.enrollments.values() if e.serial and e.certificate}
    return [
        x509.load_der_x509_certificate(base64.b64decode(by_serial[c.event.certificate_serial]))
        for c in state.consents.values()
    ]


def check_seal_key(kit: SealKit, at: dt.datetime) -> None:
    """Refuse a seal made with the key outside its use period: the record would fail its own evidence.seal."""
    start, end = key_use_period(kit.pki.seal.certificate)
    if not start <= at <= end:
        raise KeyRetired(
            f"the record seal's key may sign only from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, "
            "so this record could never be verified; restart the server to replace the key, then seal again "
            "(nothing was recorded)"
        )


async def seal_document(pdf: bytes, state: CeremonyState, kit: SealKit, now: dt.datetime) -> SealedPdf:
    """The current PDF made B-LTA: validation data for every signature, then each TSA's document timestamp."""
    check_seal_key(kit, now)  # before the TSAs are asked and anything is stored
    pki = kit.pki
    material = Material(
        certificates=(
            pki.root,
            *pki.chain,
            pki.tsa.certificate,
            pki.seal.certificate,
            *kit.tsa_anchors,
            *signatory_certificates(state),
        ),
        crls=tuple(kit.crls(now)),
    )
    return await seal_pdf(pdf, kit.anchors, material, kit.tsas.members, now, fetch=kit.fetch)


async def assemble(state: CeremonyState, rows: list[StoredEvent], sealed: SealedPdf, kit: SealKit) -> Record:
    """The record of `state` (rows: its whole log) around the sealed PDF.

    Rendering the certificate of completion and deflating take ~0.3 s of CPU, so they
    run in threads; only the TSAs are asked from the event loop (their clients live there).
    """
    files = await asyncio.to_thread(sealed_files, state, rows, sealed, kit)
    evidence = files[EVIDENCE]
    tokens = await kit.tsas.timestamp(evidence)
    for token in tokens:  # the verifier judges the seal at these times, which may fall just past the end
        check_seal_key(kit, token.gen_time)
    archive = await asyncio.to_thread(finish, files, tokens, kit)
    return Record(
        zip=archive,
        evidence_sha256=hashlib.sha256(evidence).hexdigest(),
        signed_sha256=sealed.sha256,
        signed_size=len(sealed.data),
        log_length=state.seq,
    )


def sealed_files(state: CeremonyState, rows: list[StoredEvent], sealed: SealedPdf, kit: SealKit) -> dict[str, bytes]:
    """Every file of the sealed layer, and evidence.json naming them all."""
    stampers = tuple(check_signed_data(t.token).signer for t in sealed.timestamps)
    trust = TrustNames(root=kit.pki.root, seal=kit.pki.seal.certificate, tsas=stampers)
    core = build_evidence(state, rows, sealed, trust)
    files: dict[str, bytes] = {
        SIGNED_PDF: sealed.data,
        "events.jsonl": events_jsonl(rows),
        "completion.pdf": kit.renderers.completion(core),
        "VERIFY.txt": kit.renderers.instructions(core, bool(kit.tsa_anchors)).encode("utf-8"),
        **_certificate_files(kit, stampers),
        **_revocation_files(sealed.data),
        **_decision_files(core),
        **_signature_files(core, sealed.data),
    }
    files[EVIDENCE] = canonicalize(with_manifest(core, files))
    return files


def finish(files: dict[str, bytes], tokens: Sequence[Token], kit: SealKit) -> bytes:
    """The evidence layer (each TSA's token, the seal) and the zip, in the table's order."""
    evidence = files[EVIDENCE]
    layer = {token_name("evidence", i): token.der for i, token in enumerate(tokens)}
    layer["evidence.p7s"] = sign_detached(evidence, kit.pki.seal, kit.pki.chain)
    every = {**files, **layer}
    return write_archive({name: every[name] for name in ordered(list(every))})


def _pem(certificates: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certificates)


def _certificate_files(kit: SealKit, stampers: Sequence[x509.Certificate]) -> dict[str, bytes]:
    """PEM files for openssl: the root (to compare, never to trust blindly), the chain, the TSAs, the seal."""
    files = {
        "ca.pem": _pem([kit.pki.root]),
        "chain.pem": _pem(kit.pki.chain),
        "tsa.pem": _pem(list({c.fingerprint(hashes.SHA256()): c for c in stampers}.values())),
        "seal.pem": _pem([kit.pki.seal.certificate]),
    }
    if kit.tsa_anchors:
        files["tsa-ca.pem"] = _pem(kit.tsa_anchors)
    return files


def _revocation_files(pdf: bytes) -> dict[str, bytes]:
    """Every CRL and OCSP response the PDF's DSS holds, also as files (openssl crl, and our verifier)."""
    found = dss_material(pdf)
    files = {f"revocation/{hashlib.sha256(c).hexdigest()[:32]}.crl": c for c in found.crls}
    files.update({f"revocation/{hashlib.sha256(o).hexdigest()[:32]}.ocsp": o for o in found.ocsps})
    return files


def _decision_files(evidence: dict[str, Any]) -> dict[str, bytes]:
    """Each decision's parts as separate files, so openssl can check them without any extraction."""
    files: dict[str, bytes] = {}
    certificates = {s["id"]: s["certificate"] for s in evidence["signatories"]}
    for consent in evidence["consents"]:
        who = consent["signatory"]
        files[f"consents/{who}.statement.json"] = canonicalize(consent["statement"])
        files[f"consents/{who}.sig"] = base64.b64decode(consent["signature"])
        for i, stamp in enumerate(consent["timestamps"]):
            files[token_name(f"consents/{who}", i)] = base64.b64decode(stamp["token"])
        der = base64.b64decode(certificates[who]["der"])
        files[f"certificates/{who}.pem"] = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
    return files


def signature_values(pdf: bytes) -> dict[str, bytes]:
    """Field name -> the signature value of each PAdES signature: what its timestamps' imprints hash."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return {str(s.field_name): bytes(s.signer_info["signature"].native) for s in reader.embedded_regular_signatures}


def _signature_files(evidence: dict[str, Any], pdf: bytes) -> dict[str, bytes]:
    """Each PDF signature's value and every TSA's token over it: `openssl ts -verify -data` checks them."""
    values = signature_values(pdf)
    files: dict[str, bytes] = {}
    for signature in evidence["pdf_signatures"]:
        who = signature["signatory"]
        files[f"signatures/{who}.value"] = values[signature["field"]]
        for i, stamp in enumerate(signature["timestamps"]):
            files[token_name(f"signatures/{who}", i)] = base64.b64decode(stamp["token"])
    return files
