"""Record verification, the decisions: each signatory's certificate, signature, tokens, statement and files.

A consent's certificate is judged at the time the consent's first token proves,
as a signatory certificate (our purpose OID) under the pinned root, and its
subject must name the signatory it is listed for. Every token, the consent's
and those of further TSAs over each PDF signature, is judged at the time
evidence.json's token proves, since evidence.json covers them all.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from functools import partial
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ceremony.canonical import canonicalize
from ceremony.events import format_time

from ..pki import SIGNATORY, fingerprint
from .parts import token_name
from .report import Mismatch, Report
from .stamps import Stamp, check_stamp
from .validation import Anchors, Material, validate
from .verify_pdf import PdfResult


def _expected_tsa(stamp: Stamp, index: int, evidence_anchors: list[x509.Certificate | None]) -> None:
    """The index-th token must rest on the same anchor as evidence.json's index-th: one from each configured TSA."""
    if index >= len(evidence_anchors):
        raise Mismatch(f"token {index + 1} is more than the {len(evidence_anchors)} TSA(s) evidence.json lists")
    expected = evidence_anchors[index]
    if expected is not None and stamp.anchor != expected:
        raise Mismatch(f"token {index + 1} does not come from TSA {index + 1} of those evidence.json lists")


async def check_decisions(
    report: Report,
    files: dict[str, bytes],
    evidence: dict[str, Any],
    anchors: Anchors,
    material: Material,
    covered_at: dt.datetime,
    tsa_anchors: list[x509.Certificate | None],
) -> dict[str, dt.datetime]:
    """Each decision's certificate, signature, tokens; returns the first token's time by signatory."""
    times: dict[str, dt.datetime] = {}
    signatories = {s["id"]: s for s in evidence["signatories"]}
    count = len(evidence["trust"]["timestamping"])
    for consent in evidence["consents"]:
        who = consent["signatory"]
        statement = canonicalize(consent["statement"])
        stamps = consent["timestamps"]
        if len(stamps) != count:
            report.add("consent.timestamp", who, False, f"{len(stamps)} token(s), but {count} TSA(s) were configured")
        for i, stamp in enumerate(stamps):

            async def token(i: int = i, stamp: dict[str, Any] = stamp, who: str = who, data: bytes = statement) -> str:
                found = await check_stamp(
                    base64.b64decode(stamp["token"]),
                    judged_at=covered_at,
                    anchors=anchors,
                    material=material,
                    data=data,
                )
                if stamp["time"] != format_time(found.time):
                    raise Mismatch(
                        f"evidence.json gives the time as {stamp['time']}, the token says {found.time.isoformat()}"
                    )
                _expected_tsa(found, i, tsa_anchors)
                if i == 0:
                    times[who] = found.time
                return f"RFC 3161 token over the statement: {found.detail}"

            await report.run_async("consent.timestamp", token_name(f"consents/{who}", i), token)
        entry = signatories.get(who, {})
        certificate = await _certificate(report, who, entry, consent, evidence, anchors, material, times.get(who))
        if certificate is not None:
            report.run("consent.signature", who, partial(_signature, certificate, statement, consent))
        report.run("consent.statement", who, partial(_statement, consent, evidence))
        report.run("consent.files", who, partial(_consent_files, files, consent, statement, signatories))
    return times


async def _certificate(
    report: Report,
    who: str,
    entry: dict[str, Any],
    consent: dict[str, Any],
    evidence: dict[str, Any],
    anchors: Anchors,
    material: Material,
    proven: dt.datetime | None,
) -> x509.Certificate | None:
    try:
        info = entry["certificate"]
        certificate = x509.load_der_x509_certificate(base64.b64decode(info["der"]))
        if not format(certificate.serial_number, "x") == consent["certificate_serial"] == info["serial"]:
            raise Mismatch("the certificate's serial is not the one the consent names")
        if fingerprint(certificate) != info["fingerprint_sha256"]:
            raise Mismatch("the certificate does not match its recorded fingerprint")
        if format_time(certificate.not_valid_after_utc) != info["not_after"]:
            raise Mismatch("evidence.json gives another expiry than the certificate's")
        _names_signatory(certificate, entry, evidence)
        if proven is None:
            raise Mismatch("the consent has no valid timestamp, so there is no proven time to judge its certificate at")
        anchor = await validate(certificate, SIGNATORY, proven, anchors, material)
    except (Mismatch, KeyError, TypeError, ValueError) as exc:
        report.add("consent.certificate", who, False, str(exc) or type(exc).__name__)
        return None
    report.add(
        "consent.certificate",
        who,
        True,
        f"{certificate.subject.rfc4514_string()}, a signatory certificate valid at {proven.isoformat()} "
        f"under {anchors.describe(anchor)}",
    )
    return certificate


def _names_signatory(certificate: x509.Certificate, entry: dict[str, Any], evidence: dict[str, Any]) -> None:
    """The subject is the signatory's English name, their party, its country, as the certificate was issued."""
    party = next((p for p in evidence["parties"] if p["id"] == entry["party"]), None)
    if party is None:
        raise Mismatch(f"{entry['id']} belongs to no party the record lists")
    expected = {
        NameOID.COMMON_NAME: entry["name"]["en"][:64],
        NameOID.ORGANIZATION_NAME: party["name"]["en"][:64],
        NameOID.COUNTRY_NAME: party["country"],
    }
    for oid, value in expected.items():
        found = [a.value for a in certificate.subject.get_attributes_for_oid(oid)]
        if found != [value]:
            raise Mismatch(
                f"the certificate names {found or 'nobody'} where the record lists {value!r} for {entry['id']}"
            )


def _signature(certificate: x509.Certificate, statement: bytes, consent: dict[str, Any]) -> str:
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise Mismatch("the signatory's key is not ECDSA")
    try:
        key.verify(base64.b64decode(consent["signature"]), statement, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Mismatch("the signature over the statement does not verify with the signatory's certificate") from None
    return f"ECDSA P-256 signature over the {consent['decision']} statement verifies"


def _statement(consent: dict[str, Any], evidence: dict[str, Any]) -> str:
    statement = consent["statement"]
    signatory = next((s for s in evidence["signatories"] if s["id"] == consent["signatory"]), None)
    if signatory is None:
        raise Mismatch(f"the consent names {consent['signatory']!r}, who is not among the signatories")
    expected = {
        "ceremony": evidence["ceremony"]["id"],
        "document_sha256": evidence["documents"]["original"]["sha256"],
        "signatory": consent["signatory"],
        "decision": consent["decision"],
        "party": signatory["party"],
        "venue": signatory["venue"],
    }
    for key, value in expected.items():
        if statement.get(key) != value:
            raise Mismatch(f"the statement's {key} is {statement.get(key)!r}, expected {value!r}")
    said = f"{consent['decision']} to document {expected['document_sha256'][:16]}… of ceremony {expected['ceremony']}"
    # A decline's reason is the signatory's own words, signed with the decision: the report quotes it.
    reason = statement.get("reason")
    if reason is not None and consent["decision"] != "decline":
        raise Mismatch("the statement gives a reason, which only a decline may")
    return f"{said}; reason given: {reason!r}" if reason else said


def _consent_files(
    files: dict[str, bytes], consent: dict[str, Any], statement: bytes, signatories: dict[str, Any]
) -> str:
    who = consent["signatory"]
    parts = {f"consents/{who}.statement.json": statement, f"consents/{who}.sig": base64.b64decode(consent["signature"])}
    for i, stamp in enumerate(consent["timestamps"]):
        parts[token_name(f"consents/{who}", i)] = base64.b64decode(stamp["token"])
    for name, value in parts.items():
        if files.get(name) != value:
            raise Mismatch(f"{name} is missing or differs from evidence.json")
    pem = files.get(f"certificates/{who}.pem", b"")
    der = base64.b64decode(signatories[who]["certificate"]["der"])
    try:
        if x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER) != der:
            raise Mismatch(f"certificates/{who}.pem is not the certificate evidence.json names")
    except ValueError:
        raise Mismatch(f"certificates/{who}.pem is missing or unreadable") from None
    return "the files for openssl match evidence.json"


async def check_signature_tokens(
    report: Report,
    files: dict[str, bytes],
    evidence: dict[str, Any],
    results: list[PdfResult],
    anchors: Anchors,
    material: Material,
    covered_at: dt.datetime,
    tsa_anchors: list[x509.Certificate | None],
) -> None:
    """Every TSA's token over each PDF signature's value (the first is the one in the PDF), and their files."""
    values = {r.field: r.value for r in results if r.value is not None}
    count = len(evidence["trust"]["timestamping"])
    for signature in evidence["pdf_signatures"]:
        who, value = signature["signatory"], values.get(signature["field"])
        stamps = signature["timestamps"]
        if value is None or len(stamps) != count:
            report.add("pdf.timestamps", who, False, f"{len(stamps)} token(s) for {count} TSA(s), or no such signature")
            continue
        if files.get(f"signatures/{who}.value") != value:
            report.add("pdf.timestamps", f"signatures/{who}.value", False, "is not the signature value in the PDF")
        for i, stamp in enumerate(stamps[1:], start=1):
            name = token_name(f"signatures/{who}", i)

            async def token(stamp: dict[str, Any] = stamp, i: int = i, name: str = name, value: bytes = value) -> str:
                der = base64.b64decode(stamp["token"])
                if files.get(name) != der:
                    raise Mismatch(f"{name} is missing or differs from evidence.json")
                digest = hashlib.sha256(value).digest()
                found = await check_stamp(der, judged_at=covered_at, anchors=anchors, material=material, digest=digest)
                if stamp["time"] != format_time(found.time):
                    raise Mismatch(
                        f"evidence.json gives the time as {stamp['time']}, the token says {found.time.isoformat()}"
                    )
                _expected_tsa(found, i, tsa_anchors)
                return f"RFC 3161 token over the signature value: {found.detail}"

            await report.run_async("pdf.timestamps", name, token)
        if files.get(token_name(f"signatures/{who}", 0)) != base64.b64decode(stamps[0]["token"]):
            report.add("pdf.timestamps", token_name(f"signatures/{who}", 0), False, "differs from the token in the PDF")
