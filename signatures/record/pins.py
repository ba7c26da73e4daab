"""What the person verifying trusts, and nothing else: the root they pin, and any external TSA's CA.

A CA certificate inside the zip never vouches for itself. `ca.pem` is only a
convenience: it is used when its fingerprint equals the one pinned (so an
archivist can carry 64 hex digits instead of a file), and `tsa-ca.pem` is
never used at all: an external TSA's CA is trusted only when given with
`--tsa-trust`. Without a pinned root the checks still run, so the report is
useful, but the verdict cannot be VALID. And as of when: `parse_moment`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

from ..pki import fingerprint
from .report import Report
from .validation import Anchors

_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Pins:
    root_pem: bytes | None = None
    root_fingerprint: str | None = None  # SHA-256 of the root's DER, hex (colons and spaces allowed)
    tsa_pems: tuple[bytes, ...] = ()


def parse_fingerprint(text: str) -> str | None:
    """'2A:1B:…' or '2a1b…' -> '2a1b…', or None if it is not a SHA-256 in hex."""
    cleaned = re.sub(r"[\s:]", "", text).lower()
    return cleaned if _HEX.fullmatch(cleaned) else None


def _short(value: str) -> str:
    return f"{value[:16]}…"


def resolve(report: Report, files: dict[str, bytes], pins: Pins) -> Anchors | None:
    """The anchors every later check rests on, with a report line for each; None if there is no root at all."""
    root = _root(report, files, pins)
    if root is None:
        return None
    report.root_fingerprint = fingerprint(root)
    where = "the pinned root" if report.pinned else "the record's own, unpinned root"
    names = {report.root_fingerprint: f"{where} (SHA-256 {_short(report.root_fingerprint)})"}
    tsa: list[x509.Certificate] = []
    for pem in pins.tsa_pems:
        try:
            loaded = x509.load_pem_x509_certificates(pem)
        except ValueError as exc:
            report.add("trust.tsa", "--tsa-trust", False, f"not a readable PEM certificate file: {exc}")
            continue
        for anchor in loaded:
            tsa.append(anchor)
            names[fingerprint(anchor)] = f"the pinned TSA anchor '{anchor.subject.rfc4514_string()}'"
            report.add(
                "trust.tsa",
                "--tsa-trust",
                True,
                f"timestamps may also rest on '{anchor.subject.rfc4514_string()}' "
                f"(SHA-256 {_short(fingerprint(anchor))}); nothing else does",
            )
    if "tsa-ca.pem" in files and not pins.tsa_pems:
        report.add(
            "trust.tsa",
            "tsa-ca.pem",
            True,
            "the record names an external TSA's CA; it is not trusted on its own word: "
            "obtain that CA independently and pass it with --tsa-trust",
        )
    return Anchors(root=root, tsa=tuple(tsa), names=names)


def _root(report: Report, files: dict[str, bytes], pins: Pins) -> x509.Certificate | None:
    if pins.root_pem is not None:
        try:
            root = x509.load_pem_x509_certificate(pins.root_pem)
        except ValueError as exc:
            report.add("trust.root", "--trust", False, f"not a readable PEM certificate: {exc}")
            return None
        report.pinned = True
        report.add(
            "trust.root", "--trust", True, f"pinned root {root.subject.rfc4514_string()}, SHA-256 {fingerprint(root)}"
        )
        _names_another(report, files, root)
        return root
    try:
        own = x509.load_pem_x509_certificate(files["ca.pem"])
    except (KeyError, ValueError) as exc:
        report.add("trust.root", "ca.pem", False, f"no root pinned, and the record's ca.pem is unreadable: {exc}")
        return None
    actual = fingerprint(own)
    if pins.root_fingerprint is not None:
        if actual == pins.root_fingerprint:
            report.pinned = True
            report.add("trust.root", "--trust", True, f"pinned root {own.subject.rfc4514_string()}, SHA-256 {actual}")
        else:
            report.add(
                "trust.root",
                "--trust",
                False,
                f"the record's ca.pem has SHA-256 {actual}, not the pinned {pins.root_fingerprint}: "
                "it is not under the root you trust",
            )
        return own
    report.add(
        "trust.root",
        "ca.pem",
        False,
        f"no root pinned: the checks below rest on the record's own ca.pem (SHA-256 {actual}); compare that "
        "fingerprint with one obtained independently, then run again with --trust FINGERPRINT (or a PEM file)",
    )
    return own


def _names_another(report: Report, files: dict[str, bytes], root: x509.Certificate) -> None:
    """Say first, and plainly, when the record was sealed under some other root than the one pinned."""
    try:
        named = x509.load_pem_x509_certificate(files["ca.pem"])
    except (KeyError, ValueError):
        return  # the manifest check reports a missing or damaged ca.pem
    if fingerprint(named) != fingerprint(root):
        report.add(
            "trust.root",
            "ca.pem",
            False,
            f"the record names another root, SHA-256 {fingerprint(named)}: it was not sealed under the root you "
            "pinned (another server's record, or a forgery); pin that one only if you know it to be the ceremony's",
        )


# A verification moment must leave room on both sides: the verifier adds tolerances and periods
# to it, and datetime overflows at the years 1 and 9999.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def parse_moment(text: str) -> datetime:
    """An ISO 8601 time (UTC when it names no zone) as UTC; ValueError saying why it will not do.

    `ceremony verify --at` and POST /api/verify's `at` both read it here, so both refuse the
    same times for the same reasons.
    """
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time such as 2046-12-31T00:00:00Z") from None
    try:
        # 0001-01-01T00:00:00+14:00 is a valid text whose UTC falls before the year 1.
        utc: datetime | None = (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"{text!r} is outside the years {EARLIEST.year} to {LATEST.year - 1} that can be checked")
    return utc
