"""Every kind of page, in Korean and Chinese, passes axe-core with no serious or critical violation (issue 12).

The `browser` fixture checks every page any browser test visits (tests/helpers.py `PageChecks`): at each
load, `page.goto` and `page.screenshot`, and where a test calls `check_page`. What it finds fails the test
at teardown. This module visits each page type on purpose, in both languages and at the phone, tablet and
desktop sizes, writing a screenshot of each into SHOTS (each screenshot is also a checked state), and
shows that the check does fail on a page with known violations.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect

from tests.helpers import (
    FREEZE_MS,
    SHOTS,
    Api,
    PageChecks,
    Server,
    ceremony,
    check_page,
    free_port,
    open_demo,
    server_sentences,
    start_server,
)

from .conftest import CHROMIUM, CHROMIUM_ARGS, Demo

LOCALES = {"ko": "ko-KR", "zh": "zh-CN"}
SIZES = {"phone": {"width": 390, "height": 844}, "tablet": {"width": 820, "height": 1180}}
DESKTOP = {"width": 1440, "height": 900}
LINK = re.compile(r"https?://\S+#\S+")


async def visit(page: Page, url: str | None, name: str, lang: str) -> None:
    """Open `url` (or stay), then a screenshot at each size: each one is a checked state."""
    if url is not None:
        await page.goto(url)
    await page.wait_for_load_state("networkidle")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in (*SIZES.items(), ("desktop", DESKTOP)):
        await page.set_viewport_size(viewport)
        await page.screenshot(path=str(SHOTS / f"a11y-{name}-{lang}-{size}.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)


async def fresh(browser: Any, lang: str) -> tuple[Any, Page, list[str]]:
    context = await browser.new_context(viewport=DESKTOP, locale=LOCALES[lang])
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("a11y") / "data")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory, demo: Demo) -> Iterator[tuple[Server, dict[str, str]]]:
    """A server on a copy of the demo's data (its ceremony sealed), with archivist and observer links."""
    data = tmp_path_factory.mktemp("a11y-sealed") / "data"
    shutil.copytree(demo.data, data)
    cid = demo.evidence["ceremony"]["id"]
    port = free_port()
    links = {}
    for role in ("archivist", "observer"):
        done = ceremony("invite", cid, role, "--data", str(data), "--base-url", f"http://127.0.0.1:{port}")
        assert done.returncode == 0, done.stdout + done.stderr
        found = LINK.search(done.stdout)
        assert found, done.stdout
        links[role] = found.group(0)
    srv = start_server(data, "--no-demo", port=port)
    try:
        yield srv, links | {"ceremony": cid}
    finally:
        srv.stop()


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ko", "zh"])
async def test_public_and_error_pages(site: Server, browser: Any, demo: Demo, lang: str) -> None:
    context, page, errors = await fresh(browser, lang)
    await visit(page, f"{site.base}/", "landing", lang)
    await visit(page, f"{site.base}/console", "error-401", lang)
    await visit(page, f"{site.base}/c/0123456789abcdef/host", "error-404-ceremony", lang)
    await visit(page, f"{site.base}/no-such-page", "error-404", lang)
    enter = site.host_link.split("#")[0]
    await page.goto(f"{enter}#{'x' * 43}")  # a link the server does not know
    await expect(page.locator("#enter-failed")).to_be_visible()
    await visit(page, None, "enter-bad-link", lang)
    await page.goto("about:blank")
    await page.goto(enter)  # no fragment: an incomplete link
    await expect(page.locator("#enter-missing")).to_be_visible()
    await visit(page, None, "enter-incomplete-link", lang)

    await visit(page, f"{site.base}/verify", "verify", lang)
    await page.locator("#trust").fill(demo.fingerprint)
    await page.locator("#record-file").set_input_files(str(demo.record))
    await expect(page.locator("#report")).to_be_visible(timeout=120_000)
    await visit(page, None, "verify-report", lang)
    assert errors == []
    await context.close()


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ko", "zh"])
async def test_pages_of_a_sealed_ceremony(sealed: tuple[Server, dict[str, str]], browser: Any, lang: str) -> None:
    srv, links = sealed
    cid = links["ceremony"]
    context, page, errors = await fresh(browser, lang)
    await page.goto(links["archivist"])
    await page.wait_for_url(re.compile(r"/archive$"), timeout=FREEZE_MS)
    await visit(page, None, "archive-ceremony-sealed", lang)
    await visit(page, f"{srv.base}/archive", "archive-list", lang)
    await visit(page, f"{srv.base}/c/{cid}/document", "document", lang)
    await context.close()

    context, page, more = await fresh(browser, lang)
    await page.goto(links["observer"])
    await page.wait_for_url(re.compile(r"/view$"), timeout=FREEZE_MS)
    await visit(page, None, "view-sealed", lang)
    assert errors + more == []
    await context.close()


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ko", "zh"])
async def test_pages_of_a_ceremony_in_progress(server: Server, browser: Any, lang: str) -> None:
    """Operator console, editor, host console, hall screen, signing page, observer view: their first states."""
    context, page, errors = await fresh(browser, lang)
    await page.goto(server.operator_link)
    await page.wait_for_url(re.compile(r"/console$"))
    await visit(page, None, "console", lang)
    await visit(page, f"{server.base}/console/new", "editor-new", lang)
    await page.goto(server.host_link)
    await page.wait_for_url(re.compile(r"/host$"))
    await visit(page, None, "host-draft", lang)

    call = Api(server, context.request)
    api, host = await open_demo(call, server, "signing")
    await page.reload()
    await visit(page, None, "host-signing", lang)
    await visit(page, f"{server.base}{api.replace('/api/ceremonies', '/c')}/document", "document-host", lang)
    first = (await call("GET", api, host))["signatories"][0]["id"]
    issued = {}
    for role, extra in (
        ("venue", {"venue": "chuncheon"}),
        ("signatory", {"signatory": first}),
        ("observer", {}),
    ):
        body = {"role": role, "label": f"a11y {role}", **extra}
        issued[role] = str((await call("POST", f"{api}/invitations", host, body))["url"])
    await context.close()

    for role, lands in (("venue", "/venue"), ("signatory", "/sign"), ("observer", "/view")):
        context, page, more = await fresh(browser, lang)
        await page.goto(issued[role])
        await page.wait_for_url(re.compile(lands + "$"), timeout=FREEZE_MS)
        await visit(page, None, f"{role}-signing", lang)
        errors += more
        await context.close()
    assert errors == []


@pytest.mark.browser
async def test_certificate_of_completion(site: Server, browser: Any, demo: Demo) -> None:
    """The certificate's HTML (what completion.pdf is printed from, in ko, zh and en at once), as a page."""
    from web.completion import render_completion_html

    context, page, errors = await fresh(browser, "ko")
    url = f"{site.base}/a11y/completion"  # not a route of the server's: the page is served to this test alone
    await page.route(url, serve(render_completion_html(demo.evidence)))
    await visit(page, url, "completion-certificate", "all")
    assert errors == []
    await context.close()


def serve(html: str) -> Any:
    async def fulfil(route: Any) -> None:
        await route.fulfill(body=html, content_type="text/html")

    return fulfil


BROKEN = """<!doctype html><html lang="ko"><head><meta charset="utf-8"><title>깨진 쪽</title></head>
<body><main><h1>깨진 쪽</h1>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<button type="button"></button>
<p>오류: {sentence}</p>
<p lang="en">{sentence}</p>
<a id="next" href="/second">다음</a>
</main></body></html>"""


SECOND = """<!doctype html><html lang="zh-Hans"><head><meta charset="utf-8"><title>第二页</title></head>
<body><main><h1>第二页</h1><input type="text"></main></body></html>"""


@pytest.mark.browser
async def test_the_check_fails_on_known_violations() -> None:
    """A page with an image without alt, a nameless button and a server sentence in Korean text is caught,
    at goto and at a load after a click (in the background); text marked lang="en" is not blamed."""
    sentence = next(s for s in server_sentences() if "operator link" in s or "not valid" in s)
    base = "http://a11y.invalid"

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        checks = PageChecks()
        checks.watch(b)
        try:
            context = await b.new_context()
            page = await context.new_page()
            await page.route(
                f"{base}/first", lambda r: r.fulfill(body=BROKEN.format(sentence=sentence), content_type="text/html")
            )
            await page.route(f"{base}/second", lambda r: r.fulfill(body=SECOND, content_type="text/html"))
            await page.goto(f"{base}/first")
            found = {f.rule: f for f in checks.findings.values()}
            assert {"image-alt", "button-name", "english-from-server"} <= set(found), checks.report()
            assert found["image-alt"].targets == ("img",)
            assert found["image-alt"].state == "loaded"
            assert found["english-from-server"].targets == (sentence,)
            assert "오류:" in found["english-from-server"].why  # the Korean paragraph, not the lang="en" one

            await page.locator("#next").click()  # a load no goto waits for: checked in the background
            await page.wait_for_url(f"{base}/second")
            await context.close()  # waits for that check
            assert any(f.rule == "label" and f.url == f"{base}/second" for f in checks.findings.values())

            report = checks.report()
            for expected in (
                "[critical] image-alt",
                "button-name",
                "label",
                f"{base}/first",
                "state: loaded",
                sentence,
            ):
                assert expected in report, report

            # An explicit state check on a page no fixture watches fails at once.
            unwatched = await type(b).new_context(b)  # the class's own method: not the watching one
            lone = await unwatched.new_page()
            await lone.route(
                f"{base}/first", lambda r: r.fulfill(body=BROKEN.format(sentence="x"), content_type="text/html")
            )
            await lone.goto(f"{base}/first")
            with pytest.raises(AssertionError, match="image-alt"):
                await check_page(lone, "a state")
        finally:
            await b.close()


@pytest.mark.browser
async def test_a_navigation_or_a_closed_page_is_not_an_error(site: Server, browser: Any) -> None:
    """Checks cut short by the next document or by closing the page end quietly; the next document is checked."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{site.base}/verify")
    for n in range(3):  # loads back to back: each background check may meet a document already replaced
        await page.evaluate(f"location.href = '/?n={n}'")
        await page.wait_for_url(f"{site.base}/?n={n}")
    await check_page(page, "after reloads")
    await page.close()  # closing waits for what is still running, and a closed page is skipped
    assert await check_page(page, "closed") == []
    await context.close()
