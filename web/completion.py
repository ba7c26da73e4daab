"""The certificate of completion: the human-readable page of a sealed ceremony record.

It is rendered from evidence.json (docs/record.md) into record.zip as
completion.pdf, in Korean, Chinese and English at once. It proves nothing by
itself: the signatures, tokens and hashes it shows are checked by
`ceremony verify` and the commands in VERIFY.txt. What it must be is faithful
and stable, so it is a pure function of the evidence (no wall clock, no URL
fetched): the same evidence gives the same PDF bytes, with the same
WeasyPrint, HarfBuzz and font files.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from signatures.pki import SEAL_PURPOSE
from web.mou import TEMPLATES_DIR, WEB_DIR, template_environment

COMPLETION_CSS = WEB_DIR / "static" / "completion.css"
MISSING = "—"

# The two venues' civil times and UTC: the parties read their own clock, an
# auditor compares UTC with the TSA's times.
ZONES: tuple[tuple[str, ZoneInfo], ...] = (
    ("KST", ZoneInfo("Asia/Seoul")),
    ("CST", ZoneInfo("Asia/Shanghai")),
    ("UTC", ZoneInfo("UTC")),
)


def _present(value: object) -> bool:
    # Absent signatories have no consent and no certificate: the template
    # reaches into missing objects and gets None or jinja2's Undefined.
    return value is not None and value != "" and not isinstance(value, jinja2.Undefined)


def _instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)


def _clock(moment: datetime) -> str:
    # Milliseconds kept: the TSA's time and the server's record can be close.
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def zoned(iso: object) -> list[tuple[str, str]]:
    """An ISO UTC time as [(KST, ...), (CST, ...), (UTC, ...)]; dashes when there is none."""
    if not (_present(iso) and isinstance(iso, str)):
        return [(label, MISSING) for label, _ in ZONES]
    moment = _instant(iso)
    return [(label, _clock(moment.astimezone(zone))) for label, zone in ZONES]


def utc(iso: object) -> str:
    """An ISO UTC time as "2020-05-29 06:05:00.412 UTC", or a dash."""
    if not (_present(iso) and isinstance(iso, str)):
        return MISSING
    return _clock(_instant(iso)) + " UTC"


def hex_lines(value: object) -> list[str]:
    """Hex as lines of eight groups of four: a SHA-256 is always two even lines, easy to compare by eye."""
    if not (_present(value) and isinstance(value, str)):
        return [MISSING]
    groups = [value[i : i + 4] for i in range(0, len(value), 4)]
    return [" ".join(groups[i : i + 8]) for i in range(0, len(groups), 8)]


def thousands(value: object) -> str:
    """A byte size or count as 1,234,567, or a dash."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else MISSING


def dash(value: object) -> object:
    """The value, or a dash when it is missing."""
    return value if _present(value) else MISSING


def tsa_row(certificate: dict[str, Any], label: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """A TSA certificate beside its label, for the table of certificates (one row per configured TSA)."""
    return certificate, label


@cache
def _environment() -> jinja2.Environment:
    env = template_environment()
    env.filters.update(zoned=zoned, utc=utc, hex_lines=hex_lines, thousands=thousands, dash=dash, tsa_row=tsa_row)
    return env


def _stylesheet() -> Markup:
    # Our own file, inlined verbatim (entities are not decoded inside <style>),
    # so it must not be able to close the element.
    css = COMPLETION_CSS.read_text(encoding="utf-8")
    if "</style" in css.lower():
        raise ValueError("completion.css must not contain '</style'")
    return Markup(css)  # noqa: S704 - trusted static file, checked above


def _by_key(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    # Later entries win: if a list ever held two for one signatory, the last is the one recorded last.
    return {item[key]: item for item in items}


def signatory_rows(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per signatory, in roster order, with its party, venue, consent and PDF signature joined in."""
    parties = _by_key(evidence["parties"], "id")
    venues = _by_key(evidence["venues"], "id")
    consents = _by_key(evidence["consents"], "signatory")
    pdf_signatures = _by_key(evidence["pdf_signatures"], "signatory")
    return [
        {
            "signatory": signatory,
            "party": parties.get(signatory["party"], {}),
            "venue": venues.get(signatory["venue"], {}),
            "consent": consents.get(signatory["id"], {}),
            "pdf_signature": pdf_signatures.get(signatory["id"], {}),
            "certificate": signatory.get("certificate") or {},
            "approval": signatory.get("approval") or {},
        }
        for signatory in evidence["signatories"]
    ]


def _document_date(evidence: dict[str, Any]) -> str:
    # The PDF's dates are the seal time, not the wall clock, so that rendering stays reproducible.
    sealed_at = evidence["ceremony"].get("sealed_at")
    return _instant(sealed_at).isoformat(timespec="seconds") if sealed_at else ""


def render_completion_html(evidence: dict[str, Any]) -> str:
    """The self-contained print document of the certificate of completion."""
    template = _environment().get_template("completion/certificate.html")
    return template.render(
        evidence=evidence,
        ceremony=evidence["ceremony"],
        rows=signatory_rows(evidence),
        zones=[label for label, _ in ZONES],
        document_date=_document_date(evidence),
        completion_css=_stylesheet(),
    )


def render_completion_pdf(evidence: dict[str, Any]) -> bytes:
    """completion.pdf: A4, fonts embedded, PDF/A-3b like the MOU, byte-for-byte reproducible."""
    html = render_completion_html(evidence)
    # PDF/A wants a trailer /ID, which WeasyPrint omits unless given one; from the HTML, it stays reproducible.
    identifier = hashlib.sha256(html.encode("utf-8")).hexdigest()[:32]
    document = HTML(
        string=html,
        base_url=str(TEMPLATES_DIR),
        url_fetcher=URLFetcher(allowed_protocols=()),  # evidence text must not make the renderer fetch anything
    )
    pdf: bytes = document.write_pdf(pdf_variant="pdf/a-3b", pdf_identifier=identifier.encode("ascii"))
    return pdf


def render_instructions(evidence: dict[str, Any], external_tsa: bool) -> str:
    """VERIFY.txt: the standard commands that check each part of this record."""
    template = template_environment().get_template("record/VERIFY.txt")
    return template.render(
        evidence=evidence,
        ceremony_id=evidence["ceremony"]["id"],
        sealed_at=evidence["ceremony"]["sealed_at"],
        root_fingerprint=evidence["trust"]["root"]["fingerprint_sha256"],
        original_size=evidence["documents"]["original"]["size"],
        original_sha256=evidence["documents"]["original"]["sha256"],
        log_length=evidence["log"]["length"],
        log_head=evidence["log"]["head"],
        consents=[c["signatory"] for c in evidence["consents"]],
        signatures=[p["signatory"] for p in evidence["pdf_signatures"]],
        tsa_count=len(evidence["trust"]["timestamping"]),
        seal_purpose=SEAL_PURPOSE.dotted_string,
        external_tsa=external_tsa,
    )
