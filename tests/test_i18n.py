"""The message catalogue and language choice: complete in ko, zh and en, and every key in use exists."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from ceremony.commands import REVOCATION_CAUSES
from ceremony.events import EVENT_TYPES, Role
from ceremony.model import LANGUAGES, SegmentKind
from ceremony.state import Phase
from web.i18n import Translator, from_accept_language
from web.messages import MESSAGES

WEB = Path(__file__).resolve().parent.parent / "web"
# A literal key as the whole first argument; keys built at run time ("state." ~ phase) are
# checked by test_keys_built_at_run_time_exist instead.
TEMPLATE_KEY = re.compile(r"""\bt\(\s*["']([\w.]+)["']\s*[,)]""")
SCRIPT_KEY = re.compile(r"""\btr\(\s*["'`]([\w.]+)["'`]\s*[,)]""")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_every_message_has_all_three_languages() -> None:
    for key, texts in MESSAGES.items():
        assert set(texts) == set(LANGUAGES), key
        for lang in LANGUAGES:
            assert texts[lang].strip(), f"{key} is empty in {lang}"


def test_translations_keep_the_placeholders() -> None:
    for key, texts in MESSAGES.items():
        names = {lang: sorted(PLACEHOLDER.findall(text)) for lang, text in texts.items()}
        assert names["ko"] == names["zh"] == names["en"], key


def test_korean_and_chinese_are_translated() -> None:
    """A Korean or Chinese text identical to the English one is a missed translation (codes aside)."""
    hangul = re.compile(r"[\uac00-\ud7a3]")
    han = re.compile(r"[\u4e00-\u9fff]")
    for key, texts in MESSAGES.items():
        if not re.search(r"[A-Za-z]{3}", PLACEHOLDER.sub("", texts["en"])):
            continue  # e.g. "= {times}"
        assert hangul.search(texts["ko"]), f"{key}: no Korean in {texts['ko']!r}"
        assert han.search(texts["zh"]), f"{key}: no Chinese in {texts['zh']!r}"


def _keys_used(pattern: re.Pattern[str], files: list[Path]) -> set[tuple[str, str]]:
    found = set()
    for path in files:
        for key in pattern.findall(path.read_text(encoding="utf-8")):
            found.add((path.name, key))
    return found


def test_every_template_key_exists() -> None:
    templates = sorted((WEB / "templates").rglob("*.html"))
    used = _keys_used(TEMPLATE_KEY, templates)
    assert len(used) > 50  # the regex does find the calls
    missing = sorted(f"{name}: {key}" for name, key in used if key not in MESSAGES)
    assert missing == []


def test_every_script_key_exists_and_reaches_the_scripts() -> None:
    from web.pages import SCRIPT_MESSAGES

    scripts = sorted((WEB / "static").glob("*.js"))
    used = _keys_used(SCRIPT_KEY, scripts)
    assert len(used) > 20
    missing = sorted(f"{name}: {key}" for name, key in used if key not in MESSAGES)
    assert missing == []
    unsent = sorted(f"{name}: {key}" for name, key in used if not key.startswith(SCRIPT_MESSAGES))
    assert unsent == []


def test_keys_built_at_run_time_exist() -> None:
    """Templates and scripts build these from enum values: t("state." ~ phase) and the like."""
    expected = [f"state.{p.value}" for p in Phase]
    expected += [f"role.{r.value}" for r in Role]
    expected += [f"kind.{k.value}" for k in SegmentKind]
    expected += [f"event.{name}" for name in EVENT_TYPES]
    expected += [f"js.hint.{p.value}" for p in Phase]
    expected += [f"js.live.{s}" for s in ("live", "reconnecting", "closed", "ended")]
    expected += [f"js.{kind}.{cause}" for kind in ("sign.revoked", "cause") for cause in REVOCATION_CAUSES]
    expected += [f"error.title.{s}" for s in (400, 401, 403, 404, 409, 413, 500)]
    sections = ("venues", "parties", "signatories", "run_of_show")
    expected += [f"editor.section.{s}{suffix}" for s in sections for suffix in ("", "_help")]
    assert [k for k in expected if k not in MESSAGES] == []


# Raised by the scripted client (web/demo/scripted.py) on its own side, never sent by the server.
CLIENT_SIDE = {"script_failed"}
RENDERED = re.compile(r'_render_error\(\s*request,\s*\d+,\s*"(\w+)"')


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


def _codes_the_server_sends() -> set[str]:
    """Every `{"error": code}` the edge answers with, found where the codes are made rather than listed by hand."""
    from aiohttp import web

    from web.errors import WebError

    importlib.import_module("web.app")  # every route module, so every error class a route raises is defined

    codes = {WebError.code} | {c.code for c in _subclasses(WebError)}
    rendered = set(RENDERED.findall((WEB / "middleware.py").read_text(encoding="utf-8")))
    assert {"timestamp_unavailable", "signing_failed", "busy", "internal"} <= rendered  # the regex finds them
    # aiohttp's own refusals (no route, another method, a body over client_max_size), coded as middleware does.
    refusals = (
        web.HTTPNotFound(),
        web.HTTPMethodNotAllowed("GET", ["POST"]),
        web.HTTPRequestEntityTooLarge(2, 1),
        web.HTTPBadRequest(),
    )
    return (codes | rendered | {e.reason.lower().replace(" ", "_") for e in refusals}) - CLIENT_SIDE


def test_every_error_code_the_server_sends_is_said_in_each_language() -> None:
    codes = _codes_the_server_sends()
    assert {"busy", "signing_failed", "not_decided", "absent_parties"} <= codes
    assert sorted(c for c in codes if f"js.error.{c}" not in MESSAGES) == []


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("ko-KR,ko;q=0.9,en;q=0.8", "ko"),
        ("zh-CN,zh;q=0.9", "zh"),
        ("zh-Hans-CN", "zh"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR,fr;q=0.9", "en"),
        ("", "en"),
        ("de;q=0.9,zh;q=0.5,ko;q=0.7", "ko"),
    ],
)
def test_accept_language(header: str, lang: str) -> None:
    assert from_accept_language(header) == lang


def test_translator_fills_placeholders_and_shows_unknown_keys() -> None:
    assert Translator("ko")("schedule.minutes", n=20) == "20분"
    assert Translator("zh")("state.sealed") == "已封存"
    assert Translator("en")("no.such.key") == "no.such.key"
    assert set(Translator("en").catalogue("state.")) == {f"state.{p.value}" for p in Phase}


CATALOGUE = WEB / "catalogue"


def _read_catalogue(lang: str) -> list[tuple[str, str]]:
    """The file's key -> text pairs in file order, duplicates kept (json.loads would keep only the last)."""
    text = (CATALOGUE / f"{lang}.json").read_text(encoding="utf-8")
    pairs: list[tuple[str, str]] = json.loads(text, object_pairs_hook=list)
    return pairs


def test_catalogue_files_have_the_same_keys_in_order_and_the_same_placeholders() -> None:
    files = {lang: _read_catalogue(lang) for lang in LANGUAGES}
    for lang, pairs in files.items():
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), f"{lang}.json repeats {sorted({k for k in keys if keys.count(k) > 1})}"
    orders = {lang: [key for key, _ in pairs] for lang, pairs in files.items()}
    first = LANGUAGES[0]
    for lang in LANGUAGES[1:]:
        assert orders[lang] == orders[first], f"{lang}.json and {first}.json differ in keys or their order"
    texts = {lang: dict(pairs) for lang, pairs in files.items()}
    missing = [
        f"{key}: {{{name}}} is in {lang} but not in {other}"
        for key in orders[first]
        for lang in LANGUAGES
        for name in sorted(set(PLACEHOLDER.findall(texts[lang][key])))
        for other in LANGUAGES
        if other != lang and f"{{{name}}}" not in texts[other][key]
    ]
    assert missing == []
