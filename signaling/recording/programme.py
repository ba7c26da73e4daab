"""The programme picture: both halls side by side between text bands, composed in yuv420p.

Layout (width = 2 x half width):

    title (ko · zh · en)                       TITLE_H
    hall A | hall B                            half height, pictures fitted, never cropped
    name A | name B                            NAME_H
    run-of-show caption / signed: names        FOOT_H

The canvas is kept in the encoder's own format (yuv420p planes), so a tick only copies the
halls' planes in: no RGB round trip of the whole picture. The bands are drawn with PIL, and
converted, only when their text changes. A hall's picture is scaled, not overlaid, so a flat
colour stays that colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt

from signaling.recording.slate import Rgb, text_band, trilingual

TITLE_H = 56
NAME_H = 32
FOOT_H = 72
SIGNED = {"ko": "서명", "zh": "已签署", "en": "signed"}
Plane = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Yuv:
    """A yuv420p picture as views on one buffer laid out as PyAV's `to_ndarray` lays it out."""

    buffer: Plane  # (height * 3 // 2, width)
    y: Plane
    u: Plane
    v: Plane

    @classmethod
    def over(cls, buffer: Plane) -> Yuv:
        width, height = buffer.shape[1], buffer.shape[0] * 2 // 3
        flat = buffer.reshape(-1)
        quarter = width * height // 4
        y = flat[: width * height].reshape(height, width)
        u = flat[width * height : width * height + quarter].reshape(height // 2, width // 2)
        v = flat[width * height + quarter :].reshape(height // 2, width // 2)
        return cls(buffer, y, u, v)

    @classmethod
    def black(cls, width: int, height: int) -> Yuv:
        planes = cls.over(np.empty((height * 3 // 2, width), np.uint8))
        planes.y[:] = 16  # limited-range black
        planes.u[:] = planes.v[:] = 128
        return planes

    @classmethod
    def of(cls, frame: av.VideoFrame) -> Yuv:
        """The planes of `frame` (converted to yuv420p if needed; even sizes)."""
        return cls.over(np.asarray(frame.reformat(format="yuv420p").to_ndarray(), dtype=np.uint8))

    @classmethod
    def from_rgb(cls, rgb: Rgb) -> Yuv:
        return cls.of(av.VideoFrame.from_ndarray(rgb, format="rgb24"))

    def put(self, top: int, left: int, picture: Yuv) -> None:
        """Copy `picture` in at (top, left): both even, so the chroma planes line up."""
        h, w = picture.y.shape
        self.y[top : top + h, left : left + w] = picture.y
        self.u[top // 2 : (top + h) // 2, left // 2 : (left + w) // 2] = picture.u
        self.v[top // 2 : (top + h) // 2, left // 2 : (left + w) // 2] = picture.v

    def frame(self) -> av.VideoFrame:
        return av.VideoFrame.from_ndarray(self.buffer, format="yuv420p")


def even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def fit(frame: av.VideoFrame, width: int, height: int) -> Yuv:
    """`frame` scaled to fit width x height, aspect kept, black bars where it does not fill."""
    scale = min(width / frame.width, height / frame.height)
    w, h = min(width, even(frame.width * scale)), min(height, even(frame.height * scale))
    picture = Yuv.of(frame.reformat(width=w, height=h, format="yuv420p"))
    if (w, h) == (width, height):
        return picture
    out = Yuv.black(width, height)
    out.put((height - h) // 4 * 2, (width - w) // 4 * 2, picture)
    return out


class Programme:
    """Keeps the composite canvas; `set_*` re-draw a band only if its text changed."""

    def __init__(self, half: tuple[int, int], title: Mapping[str, str], hall_names: Sequence[str]) -> None:
        self.half_w, self.half_h = half
        self.width = 2 * self.half_w
        self.height = TITLE_H + self.half_h + NAME_H + FOOT_H
        self.canvas = Yuv.black(self.width, self.height)
        self._texts: dict[str, tuple[str, ...]] = {}
        self._draw("title", 0, 0, self.width, TITLE_H, (trilingual(title),))
        for side, name in enumerate(hall_names[:2]):
            self._draw(f"name{side}", TITLE_H + self.half_h, side * self.half_w, self.half_w, NAME_H, (name,))
        self._caption = ""
        self._signed = ""
        self._draw_foot()

    def set_caption(self, texts: Mapping[str, str]) -> None:
        self._caption = trilingual(texts)
        self._draw_foot()

    def set_signed(self, names: Sequence[str]) -> None:
        self._signed = f"{trilingual(SIGNED)}: {', '.join(names)}" if names else ""
        self._draw_foot()

    def put(self, side: int, picture: Yuv) -> None:
        """Place a half-sized picture (from `fit` or a slate) on the left (0) or right (1)."""
        self.canvas.put(TITLE_H, side * self.half_w, picture)

    def frame(self) -> av.VideoFrame:
        return self.canvas.frame()

    def _draw_foot(self) -> None:
        top = TITLE_H + self.half_h + NAME_H
        self._draw("foot", top, 0, self.width, FOOT_H, (self._caption, self._signed))

    def _draw(self, key: str, top: int, left: int, width: int, height: int, lines: tuple[str, ...]) -> None:
        if self._texts.get(key) == lines:
            return
        self._texts[key] = lines
        self.canvas.put(top, left, Yuv.from_rgb(text_band(width, height, lines)))
