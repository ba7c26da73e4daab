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
