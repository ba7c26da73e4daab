"""evidence.json: what a sealed record asserts, assembled from the state and the log, without I/O.

The format is in docs/record.md. Everything here comes from the log (through the
state) or from what the shell made and hands in (the sealed PDF's document
timestamps, the certificates), so the same inputs always give the same bytes.
Every time it states is a token's time or a log entry's, and the verifier
checks each against its source.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from ceremony.canonical import canonicalize
from ceremony.chain import StoredEvent
from ceremony.events import RecordingGap, SegmentRecorded, format_time
from ceremony.recording import RecordingState
from ceremony.safety import safety_code
from ceremony.state import CeremonyState, enrollment_with_serial, invitation_of, roll

from ..pki import fingerprint
from ..tsa import token_gen_time
from .parts import SIGNED_PDF
from .untrusted import load_json

RECORD_TYPE = "ceremony-record/2"


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentTimestamp:
    field: str
    time: datetime
    token: bytes  # DER, as embedded


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedPdf:
    """The MOU as sealed: every signature, the validation data, then one document timestamp per TSA."""

    data: bytes
    timestamps: tuple[DocumentTimestamp, ...]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustNames:
    """The certificates the record names: whose root, whose seal, which TSAs (in the configured order)."""

    root: x509.Certificate
    seal: x509.Certificate
    tsas: tuple[x509.Certificate, ...]


def certificate_summary(certificate: x509.Certificate) -> dict[str, str]:
    return {"fingerprint_sha256": fingerprint(certificate), "subject": certificate.subject.rfc4514_string()}


def stamps(primary: str, extra: Sequence[str]) -> list[dict[str, str]]:
    """One entry per TSA: the token and the time it proves (the verifier checks they agree)."""
    tokens = [primary, *extra] if primary else list(extra)
    return [{"token": t, "time": format_time(token_gen_time(base64.b64decode(t)))} for t in tokens]


def build_evidence(state: CeremonyState, rows: list[StoredEvent], pdf: SealedPdf, trust: TrustNames) -> dict[str, Any]:
    """evidence.json without its manifest (which needs the other files, made from this)."""
    if not pdf.timestamps:
        raise ValueError("a PDF without its document timestamp has no evidence")
    evidence = from_log(state, rows)
    evidence["ceremony"]["sealed_at"] = format_time(pdf.timestamps[-1].time)
    evidence["documents"]["signed"] = {"sha256": pdf.sha256, "size": len(pdf.data), "file": SIGNED_PDF}
    evidence["document_timestamps"] = [{"field": t.field, "time": format_time(t.time)} for t in pdf.timestamps]
    evidence["trust"] = {
        "root": certificate_summary(trust.root),
        "seal": certificate_summary(trust.seal),
        "timestamping": [certificate_summary(c) for c in trust.tsas],
    }
    return evidence


# What from_log states, so the verifier can compare exactly these with a replay of the record's log.
FROM_LOG = (
    "type",
    "ceremony",
    "venues",
    "parties",
    "signatories",
    "consents",
    "pdf_signatures",
    "documents",
    "log",
    "recording",
)


def from_log(state: CeremonyState, rows: list[StoredEvent]) -> dict[str, Any]:
    """Everything evidence.json says that the log alone determines (the verifier replays the log and compares)."""
    if not rows or rows[-1].seq != state.seq:
        raise ValueError("the rows must be the whole log up to the state they describe")
    if state.document_sha256 is None or state.document_size is None:
        raise ValueError("an unfrozen ceremony has no evidence")
    d = state.definition
    status = roll(state)
    evidence: dict[str, Any] = {
        "type": RECORD_TYPE,
        "ceremony": {"id": state.id, "title": d.title.as_dict(), "frozen_at": _frozen_at(rows)},
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
                "certificate": _certificate(state, s.id),
                "approval": approval(state, s.id),
            }
            for s in d.signatories
        ],
        "consents": [
            {
                "signatory": c.event.signatory,
                "decision": c.event.decision.value,
                "statement": c.event.statement.to_json(),
                "signature": c.event.signature,
                "certificate_serial": c.event.certificate_serial,
                "timestamps": stamps(c.event.timestamp_token, c.event.extra_timestamp_tokens),
                "recorded_at": format_time(c.recorded_at),
                "address": c.event.address,
                "device": c.event.device,
                # null when unknown: a record sealed before the field existed lacks it, which reads the same
                "device_summary": c.event.device_summary or None,
            }
            for c in state.consents.values()
        ],
        "pdf_signatures": [
            {
                "signatory": p.event.signatory,
                "field": p.event.field,
                "sha256": p.event.sha256,
                "size": p.event.size,
                "certificate_serial": p.event.certificate_serial,
                "timestamps": stamps(p.event.timestamp_token, p.event.extra_timestamp_tokens),
            }
            for p in state.pdf_signatures.values()
        ],
        "documents": {"original": {"sha256": state.document_sha256, "size": state.document_size}},
        "log": {"length": state.seq, "head": rows[-1].hash.hex()},
    }
    # Only for a recorded ceremony: a record sealed without a recording keeps its exact earlier form.
    if d.recording:
        evidence["recording"] = recording_manifest(state.recording)
    return evidence


def recording_manifest(recording: RecordingState) -> dict[str, Any]:
    """The recording as the log bound it: per track (sorted), every segment in order and every stated gap."""
    return {
        "tracks": [
            {
                "track": name,
                "recorded_seconds": track.recorded_seconds,
                "segments": [_segment(s) for s in track.segments],
                "gaps": [_gap(g) for g in track.gaps],
            }
            for name, track in sorted(recording.tracks.items())
        ]
    }


def _segment(s: SegmentRecorded) -> dict[str, Any]:
    return {
        "index": s.index,
        "name": s.name,
        "sha256": s.sha256,
        "size": s.size,
        "media_start": s.media_start,
        "duration": s.duration,
        "wall_start": format_time(s.wall_start),
    }


def _gap(g: RecordingGap) -> dict[str, Any]:
    return {
        "media_start": g.media_start,
        "media_end": g.media_end,
        "wall_start": format_time(g.wall_start),
        "wall_end": format_time(g.wall_end),
        "reason": g.reason,
    }


def with_manifest(evidence: dict[str, Any], files: Mapping[str, bytes]) -> dict[str, Any]:
    """The evidence naming every other file of the sealed layer by size and SHA-256."""
    return {**evidence, "manifest": manifest(files)}


def manifest(files: Mapping[str, bytes]) -> list[dict[str, Any]]:
    return [
        {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        for name, data in sorted(files.items())
    ]


def _certificate(state: CeremonyState, signatory: str) -> dict[str, str] | None:
    """The certificate the signatory's decision was made with (none for an absent signatory)."""
    consent = state.consents.get(signatory)
    if consent is None:
        return None
    enrollment = enrollment_with_serial(state, consent.event.certificate_serial)
    assert enrollment is not None and enrollment.certificate is not None and enrollment.not_after is not None
    der = base64.b64decode(enrollment.certificate)
    return {
        "serial": consent.event.certificate_serial,
        "fingerprint_sha256": hashlib.sha256(der).hexdigest(),
        "not_after": enrollment.not_after,
        "der": enrollment.certificate,
    }


def approval(state: CeremonyState, signatory: str) -> dict[str, Any] | None:
    """How the key the signatory's decision was made with came to be certified (none for an absent signatory):
    the link it was enrolled through, who approved it, and whether they said its safety code was read aloud."""
    consent = state.consents.get(signatory)
    if consent is None:
        return None
    enrollment = enrollment_with_serial(state, consent.event.certificate_serial)
    assert enrollment is not None and enrollment.approved_by is not None and enrollment.approved_at is not None
    link = state.invitations.get(enrollment.invitation)
    approver = invitation_of(state, enrollment.approved_by)
    return {
        "enrollment": enrollment.id,
        "key_fingerprint": enrollment.fingerprint,
        "safety_code": safety_code(enrollment.fingerprint),
        "enrolled_through": {"invitation": enrollment.invitation, "label": link.label if link else None},
        "requested_at": format_time(enrollment.requested_at),
        "approved_by": {
            "actor": enrollment.approved_by,
            "invitation": approver.id if approver else None,
            "label": approver.label if approver else None,
        },
        "approved_at": format_time(enrollment.approved_at),
        "code_confirmed": enrollment.code_confirmed,
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
        item = load_json(line)
        body = str(item["body"]).encode("utf-8")
        ceremony = str(load_json(body)["ceremony"])
        rows.append(
            StoredEvent(
                ceremony=ceremony,
                seq=int(item["seq"]),
                body=body,
                prev_hash=bytes.fromhex(item["prev_hash"]),
                hash=bytes.fromhex(item["hash"]),
            )
        )
    return rows
