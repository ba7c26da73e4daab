"""A signatory's receipt held against a record: what they kept must be exactly what the record says they did.

The receipt (GET /api/ceremonies/{id}/receipt, saved by the signing page) holds
the statement the signatory's own key signed, its signature and tokens, their
key's fingerprint and the SHA-256 of the MOU just after their PDF signature. A
record made up later, by anyone, must reproduce all of these byte for byte;
one that drops, changes or replaces this signatory's part fails here.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ceremony.errors import CommandRefused
from ceremony.state import CeremonyState, Enrollment, enrollment_with_serial

from .evidence import stamps
from .report import Mismatch, Report
from .untrusted import load_json

RECEIPT_TYPE = "ceremony-receipt/1"


def check_receipt(report: Report, data: bytes, evidence: dict[str, Any]) -> None:
    try:
        receipt = load_json(data)
        if not isinstance(receipt, dict) or receipt.get("type") != RECEIPT_TYPE:
            raise Mismatch(f"not a {RECEIPT_TYPE} file")
        who = str(receipt["signatory"]["id"])
    except (ValueError, KeyError, TypeError, Mismatch) as exc:
        report.add("receipt", "--receipt", False, f"unreadable receipt: {exc}")
        return
    report.run("receipt", who, lambda: _matches(receipt, evidence))


def _matches(receipt: dict[str, Any], evidence: dict[str, Any]) -> str:
    who = receipt["signatory"]["id"]
    ceremony = receipt["ceremony"]["id"]
    if ceremony != evidence["ceremony"]["id"]:
        raise Mismatch(f"the receipt is for ceremony {ceremony}, this record for {evidence['ceremony']['id']}")
    if receipt["document_sha256"] != evidence["documents"]["original"]["sha256"]:
        raise Mismatch("the record's original MOU is not the one on the receipt")
    consent = next((c for c in evidence["consents"] if c["signatory"] == who), None)
    if consent is None:
        raise Mismatch(f"the record holds no decision of {who}, who kept a receipt of one")
    for key in ("decision", "statement", "signature"):
        if consent[key] != receipt[key]:
            raise Mismatch(f"the record's {key} for {who} is not the one on their receipt")
    if [s["token"] for s in consent["timestamps"]] != [s["token"] for s in receipt["timestamps"]]:
        raise Mismatch(f"the record's timestamps of {who}'s decision are not those on their receipt")
    entry: dict[str, Any] = next((s for s in evidence["signatories"] if s["id"] == who), {})
    certificate = x509.load_der_x509_certificate(base64.b64decode(entry["certificate"]["der"]))
    spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if hashlib.sha256(spki).hexdigest() != receipt["key"]["fingerprint"]:
        raise Mismatch(f"the record names another key for {who} than the one on their receipt")
    signed = receipt.get("pdf_signature")
    if signed is not None:
        listed = next((p for p in evidence["pdf_signatures"] if p["signatory"] == who), None)
        if listed is None or (listed["sha256"], listed["size"]) != (signed["sha256"], signed["size"]):
            raise Mismatch(f"the record's MOU after {who}'s signature is not the one on their receipt")
    what = "decision and PDF signature" if signed is not None else "decision"
    return f"the record holds exactly the {what} on {who}'s receipt (key {receipt['key']['fingerprint'][:16]}…)"


def receipt_json(state: CeremonyState, signatory: str) -> dict[str, Any]:
    """What a signatory keeps of their own decision, to hold a sealed record against later.

    Everything in it is the log's own value, byte for byte (statement, signature, tokens,
    certificate): a record fabricated afterwards by whoever holds the server's keys cannot
    match a receipt that left the server when the signatory decided.
    """
    consent = state.consents.get(signatory)
    if consent is None:
        raise CommandRefused("there is no receipt yet: this signatory has neither signed nor declined")
    enrollment = _enrollment_with_serial(state, signatory, consent.event.certificate_serial)
    person = state.definition.signatory(signatory)
    party = state.definition.party(person.party)
    venue = state.definition.venue(person.venue)
    pdf = state.pdf_signatures.get(signatory)
    return {
        "type": RECEIPT_TYPE,
        "ceremony": {"id": state.id, "title": state.definition.title.as_dict()},
        "signatory": {"id": person.id, "name": person.name.as_dict(), "title": person.title.as_dict()},
        "party": {"id": party.id, "name": party.name.as_dict()},
        "venue": {"id": venue.id, "name": venue.name.as_dict()},
        "key": {
            "fingerprint": enrollment.fingerprint,
            "certificate": enrollment.certificate,
            "serial": enrollment.serial,
        },
        "decision": consent.event.decision.value,
        "statement": consent.event.statement.to_json(),
        "signature": consent.event.signature,
        "timestamps": stamps(consent.event.timestamp_token, consent.event.extra_timestamp_tokens),
        "document_sha256": state.document_sha256,
        "pdf_signature": None
        if pdf is None
        else {
            "field": pdf.event.field,
            "sha256": pdf.event.sha256,
            "size": pdf.event.size,
            "timestamp": pdf.event.timestamp,
            "timestamps": stamps(pdf.event.timestamp_token, pdf.event.extra_timestamp_tokens),
        },
    }


def _enrollment_with_serial(state: CeremonyState, signatory: str, serial: str) -> Enrollment:
    # By serial, not "the current one": a certificate revoked after the decision still made it.
    enrollment = enrollment_with_serial(state, serial)
    if enrollment is not None and enrollment.signatory == signatory:
        return enrollment
    raise CommandRefused(f"the log has no approved enrollment with certificate serial {serial}")
