"""The certificate of completion rendered from a realistic evidence.json, checked with poppler.

The evidence is built here from the demo definition. Its fingerprints, serials,
hashes and timestamps are made up: this tests the rendering, not the record,
so nothing in it has to verify. Rendering takes a few seconds, so the PDF is
rendered once per module.
"""

from __future__ import annotations

import copy
import hashlib
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ceremony.definition import definition_to_json
from signatures.record.evidence import RECORD_TYPE
from signatures.record.shape import check_shape
from tests.helpers import pdftotext, squeezed
from web.completion import hex_lines, render_completion_html, render_completion_pdf, signatory_rows, zoned
from web.demo.definition import demo_definition

CEREMONY_ID = "demo-2020-05-29"
# The consent this test converts by hand: 06:05 UTC is 15:05 in Chuncheon and 14:05 in Nanjing.
FIRST_CONSENT_AT = "2020-05-29T06:05:00.000Z"
HOSTILE_DEVICE = '<script>alert("x")</script> Mozilla/5.0'
STATUSES = ["signed", "signed", "declined", "signed", "absent", "signed"]


def _fake_hex(seed: str, length: int = 64) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _user_agent(n: int) -> str:
    return (
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/83.0.4103.{60 + n} Safari/537.36 Edg/83.0.478.{40 + n}"
    )


def _signatory(raw: dict[str, Any], status: str) -> dict[str, Any]:
    certificate = None
    if status != "absent":
        certificate = {
            "serial": _fake_hex("serial " + raw["id"], 32),
            "fingerprint_sha256": _fake_hex("cert " + raw["id"]),
            "not_after": "2020-05-30T06:00:00.000Z",
            "der": "MIIB",
        }
    return {**raw, "status": status, "certificate": certificate}


def _stamps(*times: str) -> list[dict[str, str]]:
    """One entry per TSA, as the record lists them: the token (made up) and the time it proves."""
    return [{"token": f"MIIE{n}", "time": t} for n, t in enumerate(times)]


def _consent(signatory: dict[str, Any], n: int) -> dict[str, Any]:
    recorded_at = f"2020-05-29T06:{5 + 2 * n:02d}:00.000Z"
    return {
        "signatory": signatory["id"],
        "decision": "decline" if signatory["status"] == "declined" else "consent",
        "statement": {"document_sha256": _fake_hex("original")},
        "signature": "MEUCIQ==",
        "certificate_serial": signatory["certificate"]["serial"],
        # Two TSAs, one per country: the certificate shows each one's time.
        "timestamps": _stamps(recorded_at.replace(":00.000Z", ":00.412Z"), recorded_at.replace(":00.000Z", ":00.530Z")),
        "recorded_at": recorded_at,
        "address": f"203.0.113.{10 + n}" if signatory["venue"] == "chuncheon" else f"198.51.100.{20 + n}",
        "device": HOSTILE_DEVICE if n == 1 else _user_agent(n),
    }


def _certificate(name: str) -> dict[str, str]:
    return {"fingerprint_sha256": _fake_hex(name), "subject": f"CN={name},O=Online Signing Ceremony"}


def build_evidence() -> dict[str, Any]:
    """A sealed record of the demo: four signed, one declined (Lee Young-hee), one absent (Li Si)."""
    definition = definition_to_json(demo_definition())
    signatories = [_signatory(raw, status) for raw, status in zip(definition["signatories"], STATUSES, strict=True)]
    present = [s for s in signatories if s["status"] != "absent"]
    consents = [_consent(s, n) for n, s in enumerate(present)]
    signed = [c for c in consents if c["decision"] == "consent"]
    pdf_signatures = [
        {
            "signatory": c["signatory"],
            "field": f"Signature-{n + 1}",
            "sha256": _fake_hex("pdf after " + c["signatory"]),
            "size": 180_000 + 9_000 * n,
            "certificate_serial": c["certificate_serial"],
            "timestamps": _stamps(
                c["recorded_at"].replace(":00.000Z", ":03.118Z"), c["recorded_at"].replace(":00.000Z", ":03.240Z")
            ),
        }
        for n, c in enumerate(signed)
    ]
    return {
        "type": RECORD_TYPE,
        "ceremony": {
            "id": CEREMONY_ID,
            "title": copy.deepcopy(definition["title"]),
            "frozen_at": "2020-05-29T06:00:00.000Z",
            "sealed_at": "2020-05-29T06:31:12.507Z",
        },
        "venues": definition["venues"],
        "parties": definition["parties"],
        "signatories": signatories,
        "consents": consents,
        "pdf_signatures": pdf_signatures,
        "documents": {
            "original": {"sha256": _fake_hex("original"), "size": 171_532},
            "signed": {"sha256": _fake_hex("signed"), "size": 236_918, "file": "mou-signed.pdf"},
        },
        "document_timestamps": [
            {"field": "Seal-Timestamp-1", "time": "2020-05-29T06:31:12.311Z"},
            {"field": "Seal-Timestamp-2", "time": "2020-05-29T06:31:12.507Z"},
        ],
        "log": {"length": 57, "head": _fake_hex("log head")},
        "trust": {
            "root": _certificate(f"Ceremony Root CA {CEREMONY_ID}"),
            "seal": _certificate(f"Ceremony Record Seal {CEREMONY_ID}"),
            "timestamping": [_certificate("Ceremony TSA"), _certificate("Nanjing TSA")],
        },
        "manifest": [{"name": "mou-signed.pdf", "size": 236_918, "sha256": _fake_hex("signed")}],
    }


# ---- rendered once per module ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evidence() -> dict[str, Any]:
    return build_evidence()


def test_the_made_up_evidence_has_the_shape_of_a_record(evidence: dict[str, Any]) -> None:
    check_shape(evidence)  # so that this renders what a record holds, field for field


@pytest.fixture(scope="module")
def pdf_bytes(evidence: dict[str, Any]) -> bytes:
    return render_completion_pdf(evidence)


@pytest.fixture(scope="module")
def pdf_path(pdf_bytes: bytes, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("completion") / "completion.pdf"
    path.write_bytes(pdf_bytes)
    return path


def _poppler(*command: str) -> str:
    return subprocess.run(command, capture_output=True, check=True).stdout.decode("utf-8")


@pytest.fixture(scope="module")
def pdf_text(pdf_path: Path) -> str:
    return pdftotext(pdf_path)


@pytest.fixture(scope="module")
def signatory_blocks(evidence: dict[str, Any]) -> list[str]:
    """The HTML of each signatory's block, in roster order."""
    html = render_completion_html(evidence)
    return html.split('<tbody class="cc-signatory')[1:]


# ---- the PDF ------------------------------------------------------------------------------------------


def test_every_signatory_is_named_in_three_languages(evidence: dict[str, Any], pdf_text: str) -> None:
    text = squeezed(pdf_text)
    for signatory in evidence["signatories"]:
        for lang in ("ko", "zh", "en"):
            assert squeezed(signatory["name"][lang]) in text, (signatory["id"], lang)
            assert squeezed(signatory["title"][lang]) in text, (signatory["id"], lang)


def test_the_first_consent_is_shown_in_kst_cst_and_utc(evidence: dict[str, Any], pdf_text: str) -> None:
    assert evidence["consents"][0]["recorded_at"] == FIRST_CONSENT_AT
    assert "KST 2020-05-29 15:05:00.000" in pdf_text
    assert "CST 2020-05-29 14:05:00.000" in pdf_text
    assert "UTC 2020-05-29 06:05:00.000" in pdf_text
    # Each TSA's time of that consent, and of the PDF signature that followed it.
    assert "2020-05-29 06:05:00.412 UTC" in pdf_text and "2020-05-29 06:05:00.530 UTC" in pdf_text
    assert "2020-05-29 06:05:03.118 UTC" in pdf_text and "2020-05-29 06:05:03.240 UTC" in pdf_text


def test_ceremony_title_id_and_times(evidence: dict[str, Any], pdf_text: str) -> None:
    text = squeezed(pdf_text)
    for lang in ("ko", "zh", "en"):
        assert squeezed(evidence["ceremony"]["title"][lang]) in text
    assert "서명 완료 확인서 · 签署完成证明 · Certificate of Completion" in pdf_text
    assert CEREMONY_ID in pdf_text
    assert "2020-05-29 15:00:00.000" in pdf_text  # frozen, KST
    assert "2020-05-29 06:31:12.507" in pdf_text  # sealed, UTC


def test_statuses_are_translated(pdf_text: str) -> None:
    for word in ("서명 완료", "已签署", "Signed", "서명 거부", "已拒绝", "Declined", "불참", "缺席", "Absent"):
        assert word in pdf_text, word


def test_addresses_devices_and_certificates(evidence: dict[str, Any], pdf_text: str) -> None:
    text = squeezed(pdf_text)
    assert "203.0.113.10" in pdf_text
    assert "198.51.100.24" in pdf_text
    assert "Chrome/83.0.4103.60" in text
    # Shown as text, not swallowed as markup.
    assert '<script>alert("x")</script>' in pdf_text
    for signatory in evidence["signatories"]:
        if signatory["certificate"] is not None:
            assert signatory["certificate"]["fingerprint_sha256"] in text, signatory["id"]
            assert signatory["certificate"]["serial"] in text, signatory["id"]


def test_hashes_and_trust_anchors(evidence: dict[str, Any], pdf_text: str) -> None:
    text = squeezed(pdf_text)
    trust = evidence["trust"]
    for certificate in (trust["root"], trust["seal"], *trust["timestamping"]):
        assert certificate["fingerprint_sha256"] in text, certificate["subject"]
        assert squeezed(certificate["subject"]) in text, certificate["subject"]
    assert evidence["documents"]["original"]["sha256"] in text
    assert evidence["documents"]["signed"]["sha256"] in text
    assert evidence["log"]["head"] in text
    assert "171,532" in pdf_text
    assert "236,918" in pdf_text
    # The root is pinned by the fingerprint printed here, never by the ca.pem inside the record.
    assert f"ceremony verify record.zip --trust {trust['root']['fingerprint_sha256']}" in pdf_text
    assert "VERIFY.txt" in pdf_text


def test_a4_pages_numbered_with_the_roster_header_repeated(pdf_path: Path) -> None:
    info = _poppler("pdfinfo", str(pdf_path))
    assert "(A4)" in info
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages >= 2
    for page in range(1, pages + 1):
        text = pdftotext(pdf_path, "-f", str(page), "-l", str(page))
        assert f"{page}/{pages}" in squeezed(text)
    second = pdftotext(pdf_path, "-f", "2", "-l", "2")
    assert "Signatory · title" in second


def test_every_font_is_embedded(pdf_path: Path) -> None:
    lines = _poppler("pdffonts", str(pdf_path)).splitlines()
    emb = lines[0].index("emb")
    fonts = [line for line in lines[2:] if line.strip()]
    assert fonts
    for line in fonts:
        assert line[emb : emb + 3] == "yes", line
    names = " ".join(line.split()[0] for line in fonts)
    assert "Noto-Sans-CJK-KR" in names  # Korean and English
    assert "Noto-Sans-CJK-SC" in names  # Chinese


def test_rendering_is_reproducible(evidence: dict[str, Any], pdf_bytes: bytes) -> None:
    assert render_completion_pdf(copy.deepcopy(evidence)) == pdf_bytes


# ---- the HTML -----------------------------------------------------------------------------------------


def test_hostile_text_is_escaped(evidence: dict[str, Any]) -> None:
    html = render_completion_html(evidence)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_declined_signatory_has_a_refusal_time_and_no_pdf_signature(signatory_blocks: list[str]) -> None:
    declined = signatory_blocks[STATUSES.index("declined")]
    assert "李英姬" in declined
    assert "Declined at" in declined
    assert "KST 2020-05-29 15:09:00.000" in " ".join(declined.replace("</span>", " ").split())
    assert re.search(r"PDF signature timestamp</span></div><div>—</div>", declined)


def test_absent_signatory_shows_dashes(signatory_blocks: list[str]) -> None:
    absent = signatory_blocks[STATUSES.index("absent")]
    assert "李四" in absent
    assert "198.51.100." not in absent
    assert "UTC</span> —" in absent
    assert absent.count("—") >= 9  # three clocks, TSA, PDF, address, device, serial, fingerprint


# ---- the helpers --------------------------------------------------------------------------------------


def test_zoned_converts_across_the_date_line() -> None:
    assert zoned("2026-11-28T23:15:04.982Z") == [
        ("KST", "2026-11-29 08:15:04.982"),
        ("CST", "2026-11-29 07:15:04.982"),
        ("UTC", "2026-11-28 23:15:04.982"),
    ]
    # ceremony.events.format_time writes microseconds; the certificate shows milliseconds.
    assert zoned("2020-05-29T06:05:00.123456Z")[0] == ("KST", "2020-05-29 15:05:00.123")
    assert zoned(None) == [("KST", "—"), ("CST", "—"), ("UTC", "—")]


def test_hex_lines_groups_a_sha256_into_two_even_lines() -> None:
    digest = "0123456789abcdef" * 4
    assert hex_lines(digest) == ["0123 4567 89ab cdef 0123 4567 89ab cdef"] * 2
    assert hex_lines(None) == ["—"]


def test_signatory_rows_join_roster_consents_and_signatures(evidence: dict[str, Any]) -> None:
    rows = signatory_rows(evidence)
    assert [row["signatory"]["id"] for row in rows] == [s["id"] for s in evidence["signatories"]]
    assert [row["signatory"]["status"] for row in rows] == STATUSES
    absent = rows[STATUSES.index("absent")]
    assert absent["consent"] == {} and absent["certificate"] == {} and absent["pdf_signature"] == {}
    declined = rows[STATUSES.index("declined")]
    assert declined["consent"]["decision"] == "decline" and declined["pdf_signature"] == {}
    assert rows[0]["venue"]["id"] == "chuncheon" and rows[0]["party"]["id"] == "gangwon-province"
