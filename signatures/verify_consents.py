"""Record verification, the decisions: each signatory's certificate, signature, token, statement and files."""

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

from ceremony.canonical import canonicalize

from .cms import CmsError, check_issued_by, check_token
from .report import Mismatch, Report, Trust


def check_consents(
    report: Report, files: dict[str, bytes], evidence: dict[str, Any], trust: Trust
) -> dict[str, dt.datetime]:
    """Each decision's certificate, signature and token; returns the token times by signatory."""
    times: dict[str, dt.datetime] = {}
    signatories = {s["id"]: s for s in evidence["signatories"]}
    for consent in evidence["consents"]:
        who = consent["signatory"]
        statement = canonicalize(consent["statement"])
        entry = signatories.get(who, {})
        certificate = _certificate(report, who, entry, consent, trust.root)
        if certificate is not None:
            report.run("consent.signature", who, partial(_signature, certificate, statement, consent))

        def token(s: bytes = statement, v: dict[str, Any] = consent, w: str = who) -> str:
            info = check_token(base64.b64decode(v["timestamp_token"]), s, trust.tsa)
            times[w] = info.gen_time
            return f"RFC 3161 token over the statement, time {info.gen_time.isoformat()}"

        report.run("consent.timestamp", who, token)
        report.run("consent.statement", who, partial(_statement, consent, evidence))
        report.run("consent.files", who, partial(_consent_files, files, consent, statement, signatories))
    return times


def _certificate(
    report: Report, who: str, entry: dict[str, Any], consent: dict[str, Any], root: x509.Certificate
) -> x509.Certificate | None:
    try:
        info = entry["certificate"]
        certificate = x509.load_der_x509_certificate(base64.b64decode(info["der"]))
        if not format(certificate.serial_number, "x") == consent["certificate_serial"] == info["serial"]:
            raise Mismatch("the certificate's serial is not the one the consent names")
        if hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest() != info["fingerprint_sha256"]:
            raise Mismatch("the certificate does not match its recorded fingerprint")
        recorded = dt.datetime.fromisoformat(consent["timestamp"].replace("Z", "+00:00"))
        check_issued_by(certificate, root, recorded)
    except (CmsError, Mismatch, KeyError, TypeError, ValueError) as exc:
        report.add("consent.certificate", who, False, str(exc) or type(exc).__name__)
        return None
    report.add("consent.certificate", who, True, f"{certificate.subject.rfc4514_string()}, issued by the trusted root")
    return certificate


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
    expected = {
        "ceremony": evidence["ceremony"]["id"],
        "document_sha256": evidence["documents"]["original"]["sha256"],
        "signatory": consent["signatory"],
        "decision": consent["decision"],
    }
    for key, value in expected.items():
        if statement.get(key) != value:
            raise Mismatch(f"the statement's {key} is {statement.get(key)!r}, expected {value!r}")
    return f"{consent['decision']} to document {expected['document_sha256'][:16]}… of ceremony {expected['ceremony']}"


def _consent_files(
    files: dict[str, bytes], consent: dict[str, Any], statement: bytes, signatories: dict[str, Any]
) -> str:
    who = consent["signatory"]
    parts = {
        f"consents/{who}.statement.json": statement,
        f"consents/{who}.sig": base64.b64decode(consent["signature"]),
        f"consents/{who}.tsr": base64.b64decode(consent["timestamp_token"]),
    }
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
