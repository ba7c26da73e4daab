"""Everything in the page's language (issue 12): error pages, link errors, script errors and the verify report.

The server's own words (error reasons, the verifier's details) are English; a page shows them only as
secondary "technical detail" text, after what it says in Korean, Chinese or English by error code.
"""

from __future__ import annotations

import importlib
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from playwright.async_api import expect

from signatures.errors import AlreadySigning, KeyRetired, NotARecord, PdfSigningFailed, SignatureError, TimestampError
from tests.helpers import SHOTS, Server, check_page, new_page, server_sentences, start_server
from web.app import create_app
from web.errors import WebError
from web.i18n import Translator
from web.messages import MESSAGES
from web.settings import Settings

from .conftest import Demo

WEB = Path(__file__).resolve().parent.parent / "web"
# Three English words in a row: a sentence (or part of one) from the server, not a code or a file name.
ENGLISH = re.compile(r"\b[A-Za-z]{2,}(?:[ ,;:]+[A-Za-z]{2,}){2,}\b")
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1440, "height": 900}}


class _VisibleText(HTMLParser):
    """A page's text a person reads, split into the main text and what is inside `.technical-detail`."""

    SKIP = frozenset({"script", "style", "title", "noscript"})

    def __init__(self) -> None:
        super().__init__()
        self.main: list[str] = []
        self.detail: list[str] = []
        self._stack: list[str] = []  # the tag names open inside a skipped or detail element
        self._mode: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "meta", "link", "input", "img"):
            return
        if self._mode is None:
            classes = (dict(attrs).get("class") or "").split()
            if tag in self.SKIP:
                self._mode = "skip"
            elif "technical-detail" in classes:
                self._mode = "detail"
            else:
                return
        self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._mode is not None and self._stack and self._stack[-1] == tag:
            self._stack.pop()
            if not self._stack:
                self._mode = None

    def handle_data(self, data: str) -> None:
        if self._mode == "skip":
            return
        (self.detail if self._mode == "detail" else self.main).append(data)


def visible(html: str) -> tuple[str, str]:
    parser = _VisibleText()
    parser.feed(html)
    squeeze = lambda parts: re.sub(r"\s+", " ", " ".join(parts)).strip()  # noqa: E731
    return squeeze(parser.main), squeeze(parser.detail)


def english_sentences(text: str) -> list[str]:
    # "English" is the language switcher's own name for English, in every language.
    return [m for m in ENGLISH.findall(text.replace("English", ""))]


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> TestClient[Any, Any]:
    app = create_app(Settings(data_dir=tmp_path / "data", public_url="https://ceremony.test", create_demo=False))
    result: TestClient[Any, Any] = await aiohttp_client(app)
    return result


# ---------------------------------------------------------------- 1. error pages


@pytest.mark.parametrize("lang", ["ko", "zh"])
@pytest.mark.parametrize(
    ("path", "status", "code"),
    [("/console", 401, "unauthenticated"), ("/c/0123456789abcdef/host", 404, "not_found")],
)
async def test_error_pages_speak_the_page_language(
    client: TestClient[Any, Any], lang: str, path: str, status: int, code: str
) -> None:
    response = await client.get(path, headers={"Accept-Language": f"{lang},en;q=0.5"})
    assert response.status == status
    main, detail = visible(await response.text())
    t = Translator(lang)
    assert t(f"error.title.{status}") in main
    assert t(f"error.explain.{code}") in main
    assert t("error.detail") in detail
    # The server's English reason is there, as the technical detail, and nowhere else.
    english = (await (await client.get(path, headers={"Accept": "application/json"})).json())["reason"]
    assert english
    assert english in detail, detail
    assert english not in main
    assert english_sentences(main) == [], main


async def test_an_english_page_still_says_it_in_full(client: TestClient[Any, Any]) -> None:
    response = await client.get("/console", headers={"Accept-Language": "en"})
    main, detail = visible(await response.text())
    assert Translator("en")("error.explain.unauthenticated") in main
    assert "operator link" in detail


# ---------------------------------------------------------------- 5. every code said in each language


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


def codes_the_server_sends() -> set[str]:
    """As tests/test_i18n.py collects them: error classes, codes the middleware renders, aiohttp's refusals."""
    importlib.import_module("web.app")
    codes = {WebError.code} | {c.code for c in _subclasses(WebError)}
    rendered = re.compile(r'_render_error\(\s*request,\s*\d+,\s*"(\w+)"')
    codes |= set(rendered.findall((WEB / "middleware.py").read_text(encoding="utf-8")))
    refusals = (
        web.HTTPNotFound(),
        web.HTTPMethodNotAllowed("GET", ["POST"]),
        web.HTTPRequestEntityTooLarge(2, 1),
        web.HTTPBadRequest(),
    )
    return (codes | {e.reason.lower().replace(" ", "_") for e in refusals}) - {"script_failed"}


def _raisers() -> dict[str, Callable[[str], BaseException]]:
    """For each code the server sends, an exception the server raises for it (with a given English reason)."""
    table: dict[str, Callable[[str], BaseException]] = {c.code: c for c in (WebError, *_subclasses(WebError))}
    table |= {
        "timestamp_unavailable": TimestampError,
        "key_retired": KeyRetired,
        "signing_failed": PdfSigningFailed,
        "not_a_record": NotARecord,
        "signing_in_progress": AlreadySigning,
        "bad_signature_input": SignatureError,
        "internal": RuntimeError,
        "method_not_allowed": lambda reason: web.HTTPMethodNotAllowed("GET", ["POST"]),
        "request_entity_too_large": lambda reason: web.HTTPRequestEntityTooLarge(2, 1),
    }
    return table


# The server's own sentence, given as every error's reason below: it must stay technical detail.
REASON = "this link is not valid: it may have been revoked, or mistyped; ask the host for a new one"


@pytest.fixture
async def raising(aiohttp_client: Any, tmp_path: Path) -> TestClient[Any, Any]:
    """The app with one more route, /raise/{code}, that raises what the server raises for that code."""
    app = create_app(Settings(data_dir=tmp_path / "data", create_demo=False))
    table = _raisers()

    async def handler(request: web.Request) -> web.StreamResponse:
        raise table[request.match_info["code"]](REASON)

    app.router.add_get("/raise/{code}", handler)
    result: TestClient[Any, Any] = await aiohttp_client(app)
    return result


@pytest.mark.parametrize("lang", ["ko", "zh"])
async def test_the_error_page_of_every_code_speaks_the_page_language(raising: TestClient[Any, Any], lang: str) -> None:
    """Every code the server sends, as the page a person gets: said in Korean or Chinese by its code,
    with none of the server's English sentences outside the technical detail."""
    assert REASON in server_sentences()
    codes = codes_the_server_sends()
    assert codes <= set(_raisers()), f"say which exception sends {codes - set(_raisers())}"
    t = Translator(lang)
    sentences = server_sentences()
    problems = []
    for code in sorted(codes):
        response = await raising.get(f"/raise/{code}", headers={"Accept-Language": f"{lang},en;q=0.5"})
        english = await (await raising.get(f"/raise/{code}", headers={"Accept": "application/json"})).json()
        main, detail = visible(await response.text())
        said = [t(k) for k in (f"error.explain.{code}", f"js.error.{code}") if t(k) != k]
        if english["error"] != code:
            problems.append(f"{code}: the server sent {english['error']}")
        if not said or not any(text in main for text in said):
            problems.append(f"{code}: the page does not say it in {lang}: {main!r}")
        if english["reason"] not in detail or english["reason"] in main:
            problems.append(f"{code}: the reason is not (only) technical detail: {main!r}")
        leaked = [s for s in sentences if s in main] + english_sentences(main)
        if leaked:
            problems.append(f"{code}: English in the {lang} page: {leaked}")
    assert problems == [], "\n".join(problems)


def test_every_server_error_code_is_said_in_korean_and_chinese() -> None:
    codes = codes_the_server_sends()
    assert {"unauthenticated", "forbidden", "busy", "internal", "method_not_allowed"} <= codes
    problems = []
    for code in sorted(codes):
        texts = MESSAGES.get(f"js.error.{code}")
        if texts is None:
            problems.append(f"{code}: no js.error.{code}")
            continue
        for lang in ("ko", "zh"):
            if not texts[lang].strip() or texts[lang] == texts["en"]:
                problems.append(f"{code}: {lang} is {texts[lang]!r}")
    assert problems == []
    explained = [k for k in MESSAGES if k.startswith("error.explain.")]
    assert len(explained) >= 6
    for key in explained:
        assert MESSAGES[key]["ko"] != MESSAGES[key]["en"] != MESSAGES[key]["zh"], key


# ---------------------------------------------------------------- browsers: error page, link errors, verify report


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("localized") / "data")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ko", "zh"])
async def test_error_page_in_chromium(site: Server, browser: Any, lang: str) -> None:
    context, page, errors = await new_page(browser, locale=lang)
    await page.goto(f"{site.base}/console")
    t = Translator(lang)
    await expect(page.locator("h1")).to_have_text(t("error.title.401"))
    await expect(page.locator(".technical-detail .detail-label")).to_have_text(t("error.detail") + ":")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in SIZES.items():
        await page.set_viewport_size(viewport)
        await page.screenshot(path=str(SHOTS / f"error-401-{lang}-{size}.png"), full_page=True)
    main = await page.evaluate(
        """() => { const c = document.querySelector('main').cloneNode(true);
                   c.querySelectorAll('.technical-detail').forEach((e) => e.remove()); return c.innerText; }"""
    )
    assert english_sentences(main) == [], main
    assert errors == []
    await context.close()


@pytest.mark.browser
async def test_a_refused_or_incomplete_link_is_said_in_korean(site: Server, browser: Any) -> None:
    context, page, errors = await new_page(browser, locale="ko-KR")
    t = Translator("ko")
    enter = site.host_link.split("#")[0]
    await page.goto(f"{enter}#{'x' * 43}")  # a link the server does not know: revoked, or mistyped
    await expect(page.locator("#enter-failed")).to_be_visible()
    await expect(page.locator("#enter-reason")).to_have_text(t("js.enter.invalid"))
    await expect(page.locator("#enter-detail")).to_be_visible()
    await expect(page.locator("#enter-detail-text")).to_contain_text("not valid")  # the server's words, secondary
    await page.goto("about:blank")
    await page.goto(enter)  # no fragment: an incomplete link
    await expect(page.locator("#enter-missing")).to_be_visible()
    await expect(page.locator("#enter-missing h2")).to_have_text(t("enter.missing"))
    assert errors == []
    await context.close()


def _one_byte_changed(demo: Demo) -> bytes:
    files = dict(demo.files)
    pdf = files["mou-signed.pdf"]
    files["mou-signed.pdf"] = pdf[:5000] + bytes([pdf[5000] ^ 0x01]) + pdf[5001:]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ko", "zh"])
async def test_verify_report_names_the_changed_pdf_as_the_cause(
    site: Server, browser: Any, demo: Demo, tmp_path: Path, lang: str
) -> None:
    record = tmp_path / "changed.zip"
    record.write_bytes(_one_byte_changed(demo))
    context, page, errors = await new_page(browser, locale=lang)
    await page.goto(f"{site.base}/verify")
    await page.locator("#trust").fill(demo.fingerprint)  # the demo's own root: only the change fails
    await page.locator("#record-file").set_input_files(str(record))
    await expect(page.locator("#report")).to_be_visible(timeout=120_000)
    t = Translator(lang)
    causes = page.locator(".report-cause")
    await expect(causes).to_have_count(1)
    await expect(causes.locator(".cause-headline")).to_have_text(t("js.verify.cause.pdf_changed"))
    # The same report as the page got, for the verifier's English details.
    answer = await page.request.post(
        f"{site.base}/api/verify?trust={demo.fingerprint}",
        data=record.read_bytes(),
        headers={"Content-Type": "application/zip", "Accept": "application/json"},
        timeout=120_000,
    )
    report = await answer.json()
    signatures = [c for c in report["checks"] if c["name"] == "pdf.signature" and not c["ok"]]
    assert len(signatures) == 6
    for check in signatures:  # each signature once, under the cause, not as a failure of its own
        await expect(causes.locator('li[data-check="pdf.signature"]', has_text=check["subject"])).to_have_count(1)
    await expect(page.locator("#report-checks tr.check-fail")).to_have_count(0)
    await expect(page.locator("#report-checks tbody tr").first).to_contain_text(t("js.verify.check.evidence.format"))

    shown = await page.evaluate(
        """() => { const c = document.getElementById('report').cloneNode(true);
                   c.querySelectorAll('.check-detail, .check-id').forEach((e) => e.remove()); return c.innerText; }"""
    )
    leaked = [c["detail"] for c in report["checks"] if c["detail"] in shown]
    assert leaked == [], leaked
    assert english_sentences(shown) == [], english_sentences(shown)
    assert "does not chain" not in shown and "signed bytes" not in shown

    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in SIZES.items():
        await page.set_viewport_size(viewport)
        await page.locator("#report").screenshot(path=str(SHOTS / f"verify-changed-pdf-{lang}-{size}.png"))
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths
    assert errors == []
    await context.close()


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ko", "zh"])
async def test_verify_page_says_every_refusal_by_its_code(
    site: Server, browser: Any, tmp_path: Path, lang: str
) -> None:
    """Whatever code the verifier refuses with, the page says it in its language (js.error.<code> or its own
    words); the server's English sentence is shown only as technical detail marked lang="en"."""
    context, page, errors = await new_page(browser, locale=lang)
    await page.goto(f"{site.base}/verify")
    t = Translator(lang)
    record = tmp_path / "record.zip"
    record.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    answer: dict[str, str] = {}
    await page.route("**/api/verify", lambda route: route.fulfill(status=409, json=answer))
    alert = page.locator("#verify-alert")
    for code in sorted(codes_the_server_sends()):
        answer.update(error=code, reason=REASON)
        await page.locator("#record-file").set_input_files(str(record))
        await expect(alert.locator(".technical-detail code")).to_have_text(code)
        await expect(alert.locator('.technical-detail[lang="en"]')).to_contain_text(REASON)
        said = t(f"js.error.{code}")
        own = {"busy", "too_large", "unsupported_encoding", "too_slow", "too_many_requests"}
        if code not in own:
            await expect(alert.locator(".alert-message")).to_contain_text(said)
        message = await alert.locator(".alert-message").inner_text()
        assert REASON not in message and english_sentences(message) == [], (code, message)
        found = await check_page(page, f"refused with {code}")
        assert [f for f in found if f.rule == "english-from-server"] == [], code
        await page.locator("#record-file").evaluate("(input) => { input.value = ''; }")
    assert errors == []
    await context.close()
