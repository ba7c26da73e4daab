"""Free text people read (names, titles, labels, reasons): the characters it may not hold.

A bidirectional override or isolate (U+202A-U+202E, U+2066-U+2069) or mark (U+200E,
U+200F, U+061C) reorders what is displayed after it: "Hong Gil-dong" followed by U+202E
shows the rest of a line backwards, in the console, the certificate of completion and
the MOU itself. Control characters (C0, DEL, C1) are terminal escapes and line breaks
where none belongs; lone surrogates have no UTF-8 form. None of them is text anyone
types, so they are refused, with the character named, rather than silently removed.
"""

from __future__ import annotations

import re
import unicodedata

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# One line: every control character, the line and paragraph separators, bidi controls, surrogates.
_UNSAFE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}\ud800-\udfff]")
# Several lines (a document's body): the same, but line feed and tab are allowed.
_UNSAFE_LINES = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029{_BIDI}\ud800-\udfff]")


def unsafe_character(text: str, *, lines: bool = False) -> str | None:
    """Why `text` may not be shown as it is (naming its first such character), or None if it may."""
    found = (_UNSAFE_LINES if lines else _UNSAFE_LINE).search(text)
    if found is None:
        return None
    char = found.group()
    named = f"U+{ord(char):04X} {unicodedata.name(char, '')}".rstrip()
    return f"must not contain control or bidirectional formatting characters ({named} at character {found.start() + 1})"


def without_unsafe(text: str) -> str:
    """`text` with every character `unsafe_character` would name removed (for what browsers send, not people)."""
    return _UNSAFE_LINE.sub("", text)
