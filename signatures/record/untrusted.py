"""JSON from a record or a receipt: bytes anyone may have written, read so that they fail as findings.

Python's parser accepts NaN and Infinity (not JSON), recurses once per nesting level
(a few thousand `[` raise RecursionError, which no check expects), and keeps lone
surrogates that RFC 8785 has no form for. Here each of those is a ValueError or a
plain "not canonical", like any other malformed file.
"""

from __future__ import annotations

import json
from typing import Any

from ceremony.canonical import NotCanonicalizable, canonicalize


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def load_json(raw: bytes | str) -> Any:
    """json.loads for hostile input: ValueError for anything but plain, reasonably nested JSON."""
    try:
        return json.loads(raw, parse_constant=_refuse)
    except RecursionError:
        raise ValueError("nested too deeply to be a record's JSON") from None


def is_canonical(value: Any, raw: bytes) -> bool:
    """Whether `raw` is the RFC 8785 form of `value` (False too where the value has none)."""
    try:
        return canonicalize(value) == raw
    except NotCanonicalizable:
        return False
