"""The message catalogue for pages: key -> text in ko, zh and en.

The texts live in web/catalogue/{ko,zh,en}.json, one flat JSON object per
language (see web/catalogue/README.md for terms and placeholder rules). They are
read once, at import, and checked: the three files must have the same keys, and
every text must be a non-empty string.
"""

from __future__ import annotations

import json
from importlib.resources import files

from ceremony.model import LANGUAGES


class CatalogueError(ValueError):
    """The catalogue files are missing keys or carry an unusable text."""


def _load(lang: str) -> dict[str, str]:
    resource = files("web") / "catalogue" / f"{lang}.json"
    data: object = json.loads(resource.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise CatalogueError(f"catalogue/{lang}.json: expected a JSON object of key -> text")
    bad = [key for key, text in data.items() if not isinstance(text, str) or not text.strip()]
    if bad:
        raise CatalogueError(f"catalogue/{lang}.json: empty or non-string text for {', '.join(bad)}")
    return data


def _combine(texts: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Language -> key -> text into key -> language -> text, once every language has the same keys."""
    first = LANGUAGES[0]
    expected = set(texts[first])
    problems = []
    for lang in LANGUAGES[1:]:
        keys = set(texts[lang])
        if missing := sorted(expected - keys):
            problems.append(f"catalogue/{lang}.json lacks {', '.join(missing)} (in {first}.json)")
        if extra := sorted(keys - expected):
            problems.append(f"catalogue/{lang}.json has {', '.join(extra)} (not in {first}.json)")
    if problems:
        raise CatalogueError("the catalogue files do not have the same keys: " + "; ".join(problems))
    return {key: {lang: texts[lang][key] for lang in LANGUAGES} for key in texts[first]}


MESSAGES: dict[str, dict[str, str]] = _combine({lang: _load(lang) for lang in LANGUAGES})
