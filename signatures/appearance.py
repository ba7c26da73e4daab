"""What a visible signature shows on the MOU, and the font it is shown in.

The appearance is part of the revision the signatory signs, so all of it is
known at prepare: the signatory's name in their own language, the moment of
prepare in their party's zone, and their certificate's serial. (The trusted
time comes later: the TSA stamps the signature value, which is made over this
appearance, so that time cannot be in it.)

PDF/A wants every font embedded, appearance streams included. The stamp is set
in Noto Sans CJK, the KR face for Korean and English and the SC face for
Chinese (the glyph forms readers of each expect), cut down with fontTools to
the ~120 glyphs a stamp may use, then subset again by pyHanko to those it does
use: a visible signature is ~5 KB larger than an invisible one (its font
~2.7 KB, ToUnicode map, appearance stream, widget). Cutting the 19 MB
collection takes 0.3-0.5 s, so each cut is cached by its character set; the
characters that vary between signatures (digits, Latin letters) are in every
cut, so a ceremony cuts once per signatory name and place.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.text import TextBox, TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp import BaseStamp, BaseStampStyle

from .errors import PdfSigningError

FONT_FILE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
FACES = {"ko": "Noto Sans CJK KR", "zh": "Noto Sans CJK SC", "en": "Noto Sans CJK KR"}
LANG_TAGS = {"ko": "ko", "zh": "zh-Hans", "en": "en"}

# A party's language and civil time, by its country; anyone else reads English and UTC.
LANGUAGE_OF_COUNTRY = {"KR": "ko", "CN": "zh"}
ZONE_OF_COUNTRY = {"KR": ("KST", "Asia/Seoul"), "CN": ("CST", "Asia/Shanghai")}
UTC_ZONE = ("UTC", "UTC")
SERIAL_LABELS = {"ko": "인증서 일련번호", "zh": "证书序列号", "en": "Certificate serial"}
PLACE_SEPARATORS = {"ko": ", ", "zh": "，", "en": ", "}

# Every cut holds these, so that only the name and the place decide which cut a stamp needs.
_ALWAYS = "".join(chr(c) for c in range(0x20, 0x7F)) + "".join((*SERIAL_LABELS.values(), *PLACE_SEPARATORS.values()))

# Points. pyHanko writes font sizes and leading as integers.
NAME_SIZE = 16
DETAIL_SIZE = 7
DETAIL_LEADING = 9
PADDING = 4
INDENT = 1.5  # the text lines up with the caption beneath the box's rule
NAME_COLOUR = (0.10, 0.10, 0.10)
DETAIL_COLOUR = (0.35, 0.34, 0.30)


@dataclass(frozen=True, slots=True)
class SignatureBox:
    """Where a signature's widget goes: a page (0-based) and a rectangle in PDF points (x1, y1, x2, y2)."""

    page: int
    rect: tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Stamp:
    """The text of a visible signature: the name large, the detail lines beneath it."""

    language: str  # ko, zh or en: picks the face
    name: str
    details: tuple[str, ...]
    signed_at: dt.datetime  # the server's clock at prepare, which also goes into the signature's /M

    @property
    def text(self) -> str:
        return "\n".join((self.name, *self.details))


@dataclass(frozen=True, slots=True)
class VisibleSignature:
    box: SignatureBox
    stamp: Stamp


def stamp_for(
    names: Mapping[str, str], places: Mapping[str, str], country: str, serial: int, now: dt.datetime
) -> Stamp:
    """The stamp of a signatory of a party in `country`: `names` and `places` by language (ko, zh, en)."""
    language = LANGUAGE_OF_COUNTRY.get(country, "en")
    label, zone = ZONE_OF_COUNTRY.get(country, UTC_ZONE)
    local = now.astimezone(ZoneInfo(zone))
    when = f"{places[language]}{PLACE_SEPARATORS[language]}{local:%Y-%m-%d %H:%M:%S} {label}"
    return Stamp(language, names[language], (when, f"{SERIAL_LABELS[language]} {serial:x}"), now)


def stamp_style(stamp: Stamp) -> BaseStampStyle:
    """The pyHanko stamp style that draws `stamp` (cuts its font on first use: 0.3-0.5 s)."""
    return _StampStyle(stamp=stamp, font=_cut(FACES[stamp.language], _characters(stamp.text)), border_width=0)


def _characters(text: str) -> str:
    return "".join(sorted(set(text.replace("\n", "")) | set(_ALWAYS)))


@lru_cache(maxsize=64)
def _cut(family: str, characters: str) -> bytes:
    """The face `family` of FONT_FILE reduced to `characters`, as an OpenType (CFF) font."""
    try:
        with TTCollection(str(FONT_FILE), lazy=True) as collection:
            number = next(i for i, f in enumerate(collection.fonts) if f["name"].getDebugName(1) == family)
    except (OSError, StopIteration) as exc:
        raise PdfSigningError(f"the signature font {family} ({FONT_FILE}) is not installed") from exc
    options = subset.Options()
    # pyHanko shapes with HarfBuzz but embeds plain CFF glyph programs; local subroutines
    # shared with glyphs that are cut away would only be dead weight in every signature.
    options.desubroutinize = True
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    out = io.BytesIO()
    with TTFont(str(FONT_FILE), fontNumber=number, lazy=True) as font:
        subsetter.subset(font)
        font.save(out)
    return out.getvalue()


class _OneEngine(FontEngineFactory):
    """One glyph accumulator for both text boxes of a stamp, so that the font is embedded once."""

    def __init__(self, font: bytes, lang: str) -> None:
        self._font, self._lang = font, lang
        self._engine: GlyphAccumulator | None = None

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream: object = None) -> GlyphAccumulator:
        if self._engine is None:
            if obj_stream is None and writer.stream_xrefs:
                obj_stream = writer.prepare_object_stream()  # type: ignore[no-untyped-call]
            self._engine = GlyphAccumulator(
                writer, io.BytesIO(self._font), NAME_SIZE, bcp47_lang_code=self._lang, obj_stream=obj_stream
            )
        return self._engine


@dataclass(frozen=True, kw_only=True)
class _StampStyle(BaseStampStyle):
    stamp: Stamp
    font: bytes

    def create_stamp(
        self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict[str, str]
    ) -> _Stamp:
        return _Stamp(writer, self, box)


class _Stamp(BaseStamp):
    """The name on the upper part of the box, shrunk if it is too wide; date, time and serial below it."""

    style: _StampStyle

    def _render_inner_content(self) -> list[bytes]:
        stamp = self.style.stamp
        engine = _OneEngine(self.style.font, LANG_TAGS[stamp.language])
        width, height = self.box.width - 2 * INDENT, self.box.height - 2 * PADDING
        details_height = DETAIL_LEADING * len(stamp.details)
        name_height = max(height - details_height - PADDING, 1)
        # Each text box sets the shared engine's size and shapes its text at once, so they may share it.
        details = _text_box(self, engine, "\n".join(stamp.details), DETAIL_SIZE, DETAIL_LEADING, DETAIL_COLOUR)
        details.box = layout.BoxConstraints(width=width, height=details_height)
        name = _text_box(self, engine, stamp.name, NAME_SIZE, NAME_SIZE, NAME_COLOUR)
        name.box = layout.BoxConstraints(width=width, height=name_height)
        # The last detail line's descenders stay clear of the box's bottom rule; the name sits on the details.
        return [
            _placed(details, INDENT, PADDING + DETAIL_SIZE / 4),
            _placed(name, INDENT, 2 * PADDING + details_height),
        ]


def _text_box(
    stamp: _Stamp, engine: _OneEngine, text: str, size: int, leading: int, colour: tuple[float, float, float]
) -> TextBox:
    """Left-aligned lines at the bottom of the box they will be given, shrunk to fit it if need be."""
    rule = layout.SimpleBoxLayoutRule(
        x_align=layout.AxisAlignment.ALIGN_MIN,
        y_align=layout.AxisAlignment.ALIGN_MIN,
        margins=layout.Margins.uniform(0),  # type: ignore[no-untyped-call]
        inner_content_scaling=layout.InnerScaling.SHRINK_TO_FIT,
    )
    style = TextBoxStyle(font=engine, font_size=size, leading=leading, text_color=colour, box_layout_rule=rule)
    text_box = TextBox(style, stamp.writer, resources=stamp.resources)
    text_box.content = text
    return text_box


def _placed(text_box: TextBox, x: float, y: float) -> bytes:
    rendered: bytes = text_box.render()  # type: ignore[no-untyped-call]
    return b"q 1 0 0 1 %g %g cm %s Q" % (x, y, rendered)
