"""Pictures drawn with PIL: text bands (Noto CJK, so ko/zh/en all render) and the "signal lost" slate."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
LANGS = ("ko", "zh", "en")
SIGNAL_LOST = {"ko": "신호 끊김", "zh": "信号中断", "en": "signal lost"}
BAND = (16, 20, 28)  # dark blue-grey: text bands and the slate
INK = (240, 240, 240)

Rgb = npt.NDArray[np.uint8]  # height x width x 3
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.lru_cache(maxsize=16)
def font(size: int) -> Font:
    """Noto Sans CJK at `size` px, or PIL's default font when the system has no Noto CJK."""
    try:
        return ImageFont.truetype(str(FONT), size)
    except OSError:
        return ImageFont.load_default()


def trilingual(texts: Mapping[str, str]) -> str:
    """ko · zh · en on one line, skipping missing languages and repeats."""
    seen: list[str] = []
    for lang in LANGS:
        text = texts.get(lang, "").strip()
        if text and text not in seen:
            seen.append(text)
    return " · ".join(seen)


def text_band(width: int, height: int, lines: Sequence[str], *, size: int | None = None) -> Rgb:
    """`lines` centred on a dark band; each line shrinks until it fits the width."""
    image = Image.new("RGB", (width, height), BAND)
    draw = ImageDraw.Draw(image)
    lines = [line for line in lines if line] or [""]
    slot = height // len(lines)
    for i, line in enumerate(lines):
        px = size or max(8, int(slot * 0.6))
        face = font(px)
        while px > 8 and draw.textlength(line, font=face) > width - 16:
            px -= 2
            face = font(px)
        left, top, right, bottom = draw.textbbox((0, 0), line, font=face)
        x = (width - (right - left)) // 2 - left
        y = i * slot + (slot - (bottom - top)) // 2 - top
        draw.text((x, y), line, font=face, fill=INK)
    return np.asarray(image, dtype=np.uint8)


def slate(width: int, height: int, hall_name: str) -> Rgb:
    """What a hall's picture shows while its media is missing: the hall and "signal lost" thrice."""
    lines = [hall_name, *(SIGNAL_LOST[lang] for lang in LANGS)]
    return text_band(width, height, lines, size=max(10, height // 10))
