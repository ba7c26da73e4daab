"""The MOU original: the demo rendered to PDF/A-3b and checked with poppler and pypdf.

Rendering takes a few seconds, so the demo PDF is rendered once per module.
"""

from __future__ import annotations

import copy
import re
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from ceremony.definition import definition_to_json, parse_definition
from ceremony.model import CeremonyDefinition
from tests.helpers import pdftotext, squeezed
from web.demo.definition import DEMO_DEFINITION, demo_definition
from web.mou import keep_words, paragraphs, render_mou_html, render_mou_pdf, zh_numeral

CEREMONY_ID = "demo-2020-05-29"
PDFAID = "{http://www.aiim.org/pdfa/ns/id/}"
RDF_DESCRIPTION = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description"


@pytest.fixture(scope="module")
def demo() -> CeremonyDefinition:
    return demo_definition()


@pytest.fixture(scope="module")
def pdf_bytes(demo: CeremonyDefinition) -> bytes:
    return render_mou_pdf(demo, ceremony_id=CEREMONY_ID)


@pytest.fixture(scope="module")
def pdf_path(pdf_bytes: bytes, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mou") / "mou.pdf"
    path.write_bytes(pdf_bytes)
    return path


# A4 is 595 x 842 pt; pdftotext crops in points at its default 72 dpi. The
# crop leaves out the page header (top 22 mm) and footer (bottom 20 mm).
HALF_WIDTH = "298"
BODY = ("-y", "63", "-H", "722")


@pytest.fixture(scope="module")
def pdf_text(pdf_path: Path) -> str:
    return pdftotext(pdf_path)


@pytest.fixture(scope="module")
def left_text(pdf_path: Path) -> str:
    """The left half of every page: the Korean column (and the left half of English lines)."""
    return pdftotext(pdf_path, "-x", "0", "-W", HALF_WIDTH, *BODY)


@pytest.fixture(scope="module")
def right_text(pdf_path: Path) -> str:
    """The right half of every page: the Chinese column."""
    return pdftotext(pdf_path, "-x", HALF_WIDTH, "-W", HALF_WIDTH, *BODY)


# ---- the demo definition -------------------------------------------------------------------------------


def test_demo_reproduces_the_event(demo: CeremonyDefinition) -> None:
    assert demo.schedule.start.astimezone(UTC) == datetime(2020, 5, 29, 1, 20, tzinfo=UTC)
    assert demo.schedule.duration_minutes == 60
    assert {(v.id, v.timezone) for v in demo.venues} == {("chuncheon", "Asia/Seoul"), ("nanjing", "Asia/Shanghai")}
    assert [p.country for p in demo.parties] == ["KR"] * 3 + ["CN"] * 3
    assert len(demo.signatories) == 6
    assert {s.party for s in demo.signatories} == {p.id for p in demo.parties}
    assert [s.minutes for s in demo.run_of_show] == [5, 10, 20, 10, 5]
    assert len(demo.document.articles) == 10
    assert demo.document.prevailing_language.value == "en"
    # Round trip: what the console would save is what the demo is.
    assert parse_definition(definition_to_json(demo)) == demo


def test_demo_definition_is_independent_of_the_module_data() -> None:
    first = demo_definition()
    DEMO_DEFINITION["title"]["en"] += " (changed)"
    try:
        assert demo_definition().title.en.endswith("(changed)")
        assert not first.title.en.endswith("(changed)")
    finally:
        DEMO_DEFINITION["title"]["en"] = DEMO_DEFINITION["title"]["en"].removesuffix(" (changed)")


# ---- the template helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "一"),
        (9, "九"),
        (10, "十"),
        (11, "十一"),
        (20, "二十"),
        (64, "六十四"),
        (100, "一百"),
        (105, "一百零五"),
        (110, "一百一十"),
    ],
)
def test_zh_numeral(n: int, expected: str) -> None:
    assert zh_numeral(n) == expected


def test_paragraphs_split_lines_and_hang_numbers() -> None:
    text = "Preamble line\r\n\r\n1. First\n  2) Second  \n\n10. Tenth\n3 not numbered"
    assert paragraphs(text) == [
        ("", "Preamble line"),
        ("1.", "First"),
        ("2)", "Second"),
        ("10.", "Tenth"),
        ("", "3 not numbered"),
    ]


def test_keep_words_escapes_and_keeps_korean_words_whole() -> None:
    assert str(keep_words("수출 <b>협력</b>", "ko")) == (
        '<span class="mou-nobr">수출</span> <span class="mou-nobr">&lt;b&gt;협력&lt;/b&gt;</span>'
    )
    assert str(keep_words("cross-border e-commerce & more", "en")) == (
        '<span class="mou-nobr">cross-border</span> <span class="mou-nobr">e-commerce</span> &amp; more'
    )
    assert str(keep_words("跨境<电商>", "zh")) == "跨境&lt;电商&gt;"


# ---- the PDF -------------------------------------------------------------------------------------------


def test_every_font_is_embedded(pdf_path: Path) -> None:
    out = subprocess.run(["pdffonts", str(pdf_path)], capture_output=True, check=True, text=True).stdout
    lines = out.splitlines()
    header = lines[0]
    assert lines[1].startswith("---")
    emb = header.index("emb")
    fonts = [line for line in lines[2:] if line.strip()]
    # Regular and bold of the KR face (Korean, English) and the SC face (Chinese).
    assert len(fonts) >= 4
    for line in fonts:
        assert line[emb : emb + 3] == "yes", line
    names = " ".join(line.split()[0] for line in fonts)
    assert "Noto-Serif-CJK-KR" in names
    assert "Noto-Serif-CJK-SC" in names


def test_text_has_the_articles_and_parties_in_every_language(demo: CeremonyDefinition, pdf_text: str) -> None:
    text = squeezed(pdf_text)
    articles = demo.document.articles
    for article in (articles[1], articles[3], articles[4], articles[7], articles[9]):
        assert squeezed(article.title.ko) in text
        assert squeezed(article.title.zh) in text
        assert squeezed(article.title.en) in text
    for party in demo.parties:
        for name in (party.name.ko, party.name.zh, party.name.en):
            assert squeezed(name) in text, name
    for signatory in demo.signatories:
        for name in (signatory.name.ko, signatory.name.zh, signatory.name.en):
            assert squeezed(name) in text, name
    for heading in ("제1조", "제10조", "第一条", "第十条", "Article1", "Article10"):
        assert heading in text
    assert squeezed(demo.document.prevailing_clause.en) in text
    assert "Signaturesareapplieddigitally" in text


def test_korean_is_on_the_left_and_chinese_on_the_right(
    demo: CeremonyDefinition, left_text: str, right_text: str
) -> None:
    left, right = squeezed(left_text), squeezed(right_text)
    document = demo.document
    for text in (document.title, document.articles[2].title, document.articles[5].title, document.prevailing_clause):
        assert squeezed(text.ko) in left
        assert squeezed(text.zh) in right
        assert squeezed(text.ko) not in right
        assert squeezed(text.zh) not in left
    # Whole paragraphs, not only titles: the first paragraph of Article 2 in each column.
    assert squeezed(document.articles[1].body.ko.splitlines()[0]) in left
    assert squeezed(document.articles[1].body.zh.splitlines()[0]) in right


def test_pdf_identifies_itself_as_pdf_a_3b(demo: CeremonyDefinition, pdf_bytes: bytes, pdf_path: Path) -> None:
    assert pdf_bytes.startswith(b"%PDF-1.7")
    reader = PdfReader(pdf_path)
    root: Any = reader.trailer["/Root"]  # a PDF dictionary: its values' types depend on the key

    xmp = root["/Metadata"].get_object().get_data()
    packet = re.search(rb"<rdf:RDF.*</rdf:RDF>", xmp, re.DOTALL)
    assert packet is not None
    rdf = ET.fromstring(packet.group(0))  # noqa: S314 - our own freshly rendered file
    ids = {
        key.removeprefix(PDFAID): value
        for description in rdf.iter(RDF_DESCRIPTION)
        for key, value in description.attrib.items()
        if key.startswith(PDFAID)
    }
    assert ids == {"part": "3", "conformance": "B"}

    intents = root["/OutputIntents"]
    assert len(intents) == 1
    intent = intents[0].get_object()
    assert intent["/S"] == "/GTS_PDFA1"
    assert intent["/DestOutputProfile"].get_object().get_data()[36:40] == b"acsp"  # an ICC profile

    # Meaningful Info: the MOU's title and the scheduled start as both dates.
    info = reader.metadata
    assert info is not None
    assert info.title == demo.document.title.en
    assert info.creation_date == demo.schedule.start
    assert info.modification_date == demo.schedule.start
    assert CEREMONY_ID in (info.subject or "")
    assert root["/Lang"] == "en"


def test_page_margins_carry_title_and_page_numbers(demo: CeremonyDefinition, pdf_path: Path) -> None:
    reader = PdfReader(pdf_path)
    pages = len(reader.pages)
    assert pages >= 2
    for number in (1, pages):
        page = pdftotext(pdf_path, "-f", str(number), "-l", str(number))
        assert re.search(rf"^{number}\s*/\s*{pages}$", page, re.MULTILINE), page[-200:]
        assert demo.title.en in page
        assert CEREMONY_ID in page


def test_rendering_is_deterministic(demo: CeremonyDefinition, pdf_bytes: bytes) -> None:
    again = render_mou_pdf(demo_definition(), ceremony_id=CEREMONY_ID)
    assert again == pdf_bytes
    # ...and the output does depend on its input.
    assert render_mou_html(demo, ceremony_id="other") != render_mou_html(demo, ceremony_id=CEREMONY_ID)


# ---- the HTML ------------------------------------------------------------------------------------------


class _LangCollector(HTMLParser):
    """Records the lang attribute of each paragraph and heading inside the MOU article."""

    def __init__(self) -> None:
        super().__init__()
        self.in_mou = False
        self.langs: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "article" and attributes.get("class") == "mou":
            self.in_mou = True
        elif self.in_mou and tag in {"p", "h1", "h2"}:
            self.langs.append(attributes.get("lang"))


def test_every_text_element_has_a_language(demo: CeremonyDefinition) -> None:
    collector = _LangCollector()
    collector.feed(render_mou_html(demo, ceremony_id=CEREMONY_ID))
    assert len(collector.langs) > 100
    assert set(collector.langs) == {"ko", "zh-Hans", "en"}


def test_definition_text_is_escaped() -> None:
    value = copy.deepcopy(DEMO_DEFINITION)
    script = "<script>alert(1)</script>"
    value["document"]["title"] = {"ko": f"제목 {script}", "zh": f"标题{script}", "en": f"Title {script}"}
    value["document"]["articles"][0]["body"]["ko"] = f"1. 본문 {script} 끝"
    value["parties"][0]["name"]["en"] = f"Gangwon {script}"
    value["signatories"][0]["name"]["zh"] = f"洪{script}"
    definition = parse_definition(value)

    html = render_mou_html(definition, ceremony_id="x")
    assert "<script" not in html
    # Title in three languages, article body, party name, signatory name; plus the <title> and running head.
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6
