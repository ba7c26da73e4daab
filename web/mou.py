"""The MOU as a document: the jinja2 environment, the print HTML and the PDF/A-3b original.

The PDF rendered here at freeze is "the document" every signatory consents to
(DESIGN.md section 4), so two properties matter more than looks:

- It is self-contained: the stylesheet is inlined and WeasyPrint may fetch no
  URL, so the HTML string alone determines the PDF.
- It is reproducible: the same definition and ceremony id give the same bytes
  (with the same WeasyPrint, HarfBuzz and font files), so anyone holding the
  definition can re-render the original and compare hashes.

Each signatory's signing line has a box for their signature's appearance.
WeasyPrint writes the box's id as a named destination, its top-left corner, so
the PDF itself says where each signature goes (`signature_box`).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import jinja2
from markupsafe import Markup, escape
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from ceremony.model import CeremonyDefinition
from signatures.appearance import SignatureBox

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
MOU_CSS = WEB_DIR / "static" / "mou.css"

# BCP 47 tags for the ceremony's language keys: the Chinese text is simplified
# Chinese, and `zh-Hans` is what makes browsers and WeasyPrint pick SC glyphs.
LANG_TAGS: dict[str, str] = {"ko": "ko", "zh": "zh-Hans", "en": "en"}

# The size of .mou-signature-box in static/mou.css: the destination gives only its corner.
SIGNATURE_BOX_WIDTH_MM = 72
SIGNATURE_BOX_HEIGHT_MM = 20
_POINTS_PER_MM = 72 / 25.4

_NUMBERED = re.compile(r"(\d{1,3}[.)])\s+(.*)", re.DOTALL)
_ZH_DIGITS = "零一二三四五六七八九"
_SPACES = re.compile(r"(\s+)")
_LONGEST_KEPT_WORD = 24  # longer tokens (URLs, ...) stay breakable so they cannot overflow a column


def paragraphs(text: str) -> list[tuple[str, str]]:
    """Split a definition text into paragraphs, one per non-blank line, as (marker, text).

    A line starting "1. " becomes ("1.", rest) so that templates can hang the
    number; any other line has an empty marker. Hosts paste text with CRLF.
    """
    result: list[tuple[str, str]] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.strip()
        if not line:
            continue
        match = _NUMBERED.fullmatch(line)
        result.append((match.group(1), match.group(2)) if match else ("", line))
    return result


def keep_words(text: str, lang: str) -> Markup:
    """Escape `text`, marking the words that must not be broken across lines.

    Korean breaks lines only between words, which browsers do with CSS
    `word-break: keep-all` but WeasyPrint does not support: it would split 수출
    into 수 / 출. So each Korean word goes in a no-wrap span. In English the
    words kept whole are those with hyphens (E-Commerce), which Pango would
    otherwise break after the hyphen. Chinese breaks anywhere and is left alone.
    """
    if lang not in ("ko", "en"):
        return escape(text)
    out: list[Markup] = []
    for i, token in enumerate(_SPACES.split(text)):
        keep = i % 2 == 0 and 1 < len(token) <= _LONGEST_KEPT_WORD and (lang == "ko" or "-" in token)
        out.append(Markup('<span class="mou-nobr">{}</span>').format(token) if keep else escape(token))
    return Markup("").join(out)


def zh_numeral(n: int) -> str:
    """1 -> 一, 10 -> 十, 21 -> 二十一, 105 -> 一百零五: article numbers in Chinese (第一条)."""
    if not 0 < n < 1000:
        return str(n)
    hundreds, rest = divmod(n, 100)
    tens, ones = divmod(rest, 10)
    out = ""
    if hundreds:
        out += _ZH_DIGITS[hundreds] + "百"
        if rest and tens == 0:
            out += "零"
    if tens:
        # 十一 rather than 一十一 below twenty, but 一百一十 after a hundred.
        out += ("" if tens == 1 and not hundreds else _ZH_DIGITS[tens]) + "十"
    if ones:
        out += _ZH_DIGITS[ones]
    return out


def template_environment() -> jinja2.Environment:
    """The one jinja2 environment for web pages and the print document (autoescaped everywhere)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["paragraphs"] = paragraphs
    env.filters["zh_numeral"] = zh_numeral
    env.filters["keep_words"] = keep_words
    env.globals["mou_lang_tags"] = LANG_TAGS
    return env


@cache
def _environment() -> jinja2.Environment:
    return template_environment()


def _stylesheet() -> Markup:
    # Our own file, not definition text: it goes into <style> verbatim because
    # HTML entities are not decoded there (escaping would break font names).
    css = MOU_CSS.read_text(encoding="utf-8")
    if "</style" in css.lower():
        raise ValueError("mou.css must not contain '</style'")
    return Markup(css)  # noqa: S704 - trusted static file, checked above


def render_mou_html(definition: CeremonyDefinition, *, ceremony_id: str) -> str:
    """The full, self-contained print document of the MOU (what the PDF is made from)."""
    # The PDF dates are the scheduled start, not the wall clock, so that
    # rendering is a pure function of the definition; the trusted times of the
    # ceremony live in the signatures' RFC 3161 tokens, not in PDF metadata.
    template = _environment().get_template("mou/print.html")
    return template.render(
        definition=definition,
        ceremony_id=ceremony_id,
        document_date=definition.schedule.start.isoformat(timespec="seconds"),
        mou_css=_stylesheet(),
    )


def render_mou_pdf(definition: CeremonyDefinition, *, ceremony_id: str) -> bytes:
    """The PDF/A-3b original of the MOU, fonts embedded, byte-for-byte reproducible."""
    html = render_mou_html(definition, ceremony_id=ceremony_id)
    # The first half of the trailer /ID stays the same through the incremental
    # updates that add signatures; WeasyPrint would hash its own output, we
    # hash the HTML so the ID names the content whatever renderer version made it.
    identifier = hashlib.sha256(html.encode("utf-8")).hexdigest()[:32]
    document = HTML(
        string=html,
        base_url=str(TEMPLATES_DIR),
        url_fetcher=URLFetcher(allowed_protocols=()),  # nothing outside the HTML may enter the original
    )
    pdf: bytes = document.write_pdf(pdf_variant="pdf/a-3b", pdf_identifier=identifier.encode("ascii"))
    return pdf


def signature_box_id(signatory: str) -> str:
    """The id of the signatory's box in templates/mou/document.html, and so its destination's name."""
    return f"sig-{signatory}"


def signature_box(pdf: bytes, signatory: str) -> SignatureBox | None:
    """Where the signatory's signature goes in `pdf` (any revision); None in an original without boxes."""
    key = signature_box_id(signatory)
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        names = reader.root.get("/Names")
        tree = None if names is None else names.get("/Dests")
        destination = None if tree is None else _look_up(tree, key)
        if destination is None:
            return None
        # [page /XYZ left top zoom]; items are read raw, as [] would resolve the page reference.
        page_ref, kind, left, top = (destination.raw_get(i) for i in range(4))
        if kind != "/XYZ" or not isinstance(page_ref, generic.IndirectObject):
            raise PdfError(f"destination {key} is not [page /XYZ left top zoom]")
        page = next(i for i, ref in enumerate(_pages(reader.root["/Pages"])) if ref == page_ref.reference)
    except (PdfError, KeyError, IndexError, TypeError, StopIteration) as exc:
        raise ValueError(f"the signature box of {signatory} cannot be read: {exc}") from exc
    x, y = float(left), float(top)
    width, height = SIGNATURE_BOX_WIDTH_MM * _POINTS_PER_MM, SIGNATURE_BOX_HEIGHT_MM * _POINTS_PER_MM
    return SignatureBox(page, (x, y - height, x + width, y))


def _look_up(node: generic.DictionaryObject, key: str) -> generic.ArrayObject | None:
    """`key` in a name tree (ISO 32000-1, 7.9.6), walked whole: WeasyPrint writes one flat node."""
    names = node.get("/Names")
    if names is not None:
        for i in range(0, len(names) - 1, 2):
            if str(names[i]) == key:
                value = names[i + 1]
                # A destination may also be a dictionary that holds it under /D.
                found: generic.ArrayObject = value["/D"] if isinstance(value, generic.DictionaryObject) else value
                return found
    for kid in node.get("/Kids", ()):
        found_below = _look_up(kid.get_object(), key)
        if found_below is not None:
            return found_below
    return None


def _pages(node: generic.DictionaryObject) -> Iterator[generic.Reference]:
    """References to the page tree's pages, in page order."""
    for kid in node["/Kids"].iterate():
        child = kid.get_object()
        if child["/Type"] == "/Pages":
            yield from _pages(child)
        else:
            yield kid.reference
