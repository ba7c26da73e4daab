"""evidence.json: what a sealed record asserts, assembled from the state and the log, without I/O.

The format is in docs/record.md. Everything here comes from the log (through
the state) or is passed in by the shell (hashes of files it made, certificate
fingerprints), so the same inputs always give the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .canonical import canonicalize
from .chain import StoredEvent
from .core import CeremonyState
from .events import format_time
from .sealing import roll

RECORD_TYPE = "ceremony-record/1"
SIGNED_PDF = "mou-signed.pdf"


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    fingerprint_sha256: str
    subject: str

    def as_dict(self) -> dict[str, str]:
        return {"fingerprint_sha256": self.fingerprint_sha256, "subject": self.subject}


@dataclass(frozen=True, slots=True)
class SealInputs:
    """What the shell made or knows that the state does not: files, certificates, the seal time."""

    signed_sha256: str
    signed_size: int
    root_ca: CertificateInfo
    seal_certificate: CertificateInfo
    tsa_certificate: CertificateInfo
    sealed_at: datetime
    certificate_fingerprints: dict[str, str]  # serial -> SHA-256 of the DER certificate


def build_evidence(state: CeremonyState, rows: list[StoredEvent], inputs: SealInputs) -> dict[str, Any]:
    if not rows or rows[-1].seq != state.seq:
        raise ValueError("the rows must be the whole log up to the state they describe")
    if state.document_sha256 is None or state.document_size is None:
        raise ValueError("an unfrozen ceremony has no evidence")
    d = state.definition
    status = roll(state)
    return {
        "type": RECORD_TYPE,
        "ceremony": {
            "id": state.id,
            "title": d.title.as_dict(),
            "frozen_at": _frozen_at(rows),
            "sealed_at": format_time(inputs.sealed_at),
        },
        "venues": [
            {
                "id": v.id,
                "name": v.name.as_dict(),
                "city": v.city.as_dict(),
                "country": v.country,
                "timezone": v.timezone,
            }
            for v in d.venues
        ],
        "parties": [{"id": p.id, "name": p.name.as_dict(), "country": p.country} for p in d.parties],
        "signatories": [
            {
                "id": s.id,
                "name": s.name.as_dict(),
                "title": s.title.as_dict(),
                "party": s.party,
                "venue": s.venue,
                "status": "signed" if s.id in status.signed else "declined" if s.id in status.declined else "absent",
                "certificate": _certificate(state, s.id, inputs),
            }
            for s in d.signatories
        ],
        "consents": [
            {
                "signatory": c.signatory,
                "decision": c.decision,
                "statement": c.statement,
                "signature": c.signature,
                "certificate_serial": c.certificate_serial,
                "timestamp_token": c.timestamp_token,
                "timestamp": c.timestamp,
                "recorded_at": format_time(c.recorded_at),
                "address": c.address,
                "device": c.device,
            }
            for c in state.consents.values()
        ],
        "pdf_signatures": [
            {"signatory": p.signatory, "field": p.field, "sha256": p.sha256, "size": p.size, "timestamp": p.timestamp}
            for p in state.pdf_signatures.values()
        ],
        "documents": {
            "original": {"sha256": state.document_sha256, "size": state.document_size},
            "signed": {"sha256": inputs.signed_sha256, "size": inputs.signed_size, "file": SIGNED_PDF},
        },
        "log": {"length": state.seq, "head": rows[-1].hash.hex()},
        "root_ca": inputs.root_ca.as_dict(),
        "seal_certificate": inputs.seal_certificate.as_dict(),
        "tsa_certificate": inputs.tsa_certificate.as_dict(),
    }


def _certificate(state: CeremonyState, signatory: str, inputs: SealInputs) -> dict[str, str] | None:
    """The certificate the signatory's decision was made with (none for an absent signatory)."""
    consent = state.consents.get(signatory)
    if consent is None:
        return None
    enrollment = next(e for e in state.enrollments.values() if e.serial == consent.certificate_serial)
    assert enrollment.certificate is not None and enrollment.not_after is not None
    return {
        "serial": consent.certificate_serial,
        "fingerprint_sha256": inputs.certificate_fingerprints[consent.certificate_serial],
        "not_after": enrollment.not_after,
        "der": enrollment.certificate,
    }


def _frozen_at(rows: list[StoredEvent]) -> str | None:
    for row in rows:
        body = json.loads(row.body)
        if body["type"] == "ceremony.frozen":
            return str(body["at"])
    return None


def events_jsonl(rows: list[StoredEvent]) -> bytes:
    """The log for the record: one JSON line per event, the body exactly as it was hashed."""
    lines = [
        canonicalize(
            {"seq": r.seq, "prev_hash": r.prev_hash.hex(), "hash": r.hash.hex(), "body": r.body.decode("utf-8")}
        )
        for r in rows
    ]
    return b"\n".join(lines) + b"\n"


def parse_events_jsonl(data: bytes) -> list[StoredEvent]:
    """The inverse of events_jsonl, for the verifier; ValueError/KeyError on anything malformed."""
    rows: list[StoredEvent] = []
    for line in data.splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        body = str(item["body"]).encode("utf-8")
        ceremony = str(json.loads(body)["ceremony"])
        rows.append(
            StoredEvent(ceremony, int(item["seq"]), body, bytes.fromhex(item["prev_hash"]), bytes.fromhex(item["hash"]))
        )
    return rows
