"""The host console's layout, "Issue all links" and its printable sheet, in real headless Chromium.

Against a real `ceremony serve` subprocess. The keys are requested by scripted signatories
(web/demo/scripted.py: the signing page's protocol with a `cryptography` key), so that the
keys list is long enough to scroll without six more browsers.
"""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.helpers import SHOTS, Api, Server, open_demo
from web.demo.scripted import Api as ScriptedApi
from web.demo.scripted import ScriptedSignatory
from web.links import qr_svg

pytestmark = pytest.mark.browser

DESK = {"width": 1440, "height": 900}
TABLET = {"width": 820, "height": 1180}
LOCALES = {"ko": "ko-KR", "zh": "zh-CN", "en": "en-US"}
FIRST_ZONE = {"ko": "KST", "zh": "CST"}


@pytest.fixture
def shots() -> Path:
    path = SHOTS / "host"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def console(browser: Any, server: Server, lang: str, viewport: dict[str, int]) -> tuple[Any, Page, list[str]]:
    context = await browser.new_context(viewport=viewport, locale=LOCALES[lang])
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(server.host_link)
    await page.wait_for_url(re.compile(r"/host$"))
    return context, page, errors


async def in_view(page: Page, selector: str) -> bool:
    """Whether the element's whole box lies inside the viewport."""
    box = await page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box is not None and size is not None, selector
    return box["y"] >= 0 and box["y"] + box["height"] <= size["height"] and box["x"] + box["width"] <= size["width"]


async def enroll_everyone(server: Server, call: Api, api: str, host: str) -> None:
    """Every signatory asks for a key through a link of its own: as many pending rows as signatories."""
    people = (await call("GET", api, host))["signatories"]
    async with aiohttp.ClientSession() as http:
        for person in people:
            link = await call(
                "POST", f"{api}/invitations", host, {"role": "signatory", "signatory": person["id"], "label": "tablet"}
            )
            scripted = ScriptedApi(http, server.base, server.demo_id, server.token(link["url"]))
            await ScriptedSignatory(scripted, person["id"]).enroll()


async def test_the_halls_stay_beside_the_keys_and_times_read_in_the_page_language(
    server: Server, browser: Any, shots: Path
) -> None:
    script = await browser.new_context()
    call = Api(server, script.request)
    api, host = await open_demo(call, server)
    await enroll_everyone(server, call, api, host)
    count = len((await call("GET", api, host))["signatories"])
    # A hall on camera (Chromium's fake one), admitted: its tile is what the host looks at while approving.
    hall = (await call("GET", api, host))["venues"][0]["id"]
    screen = await call("POST", f"{api}/invitations", host, {"role": "venue", "venue": hall, "label": "hall tv"})
    hall_context = await browser.new_context(viewport={"width": 1280, "height": 720}, locale="ko-KR")
    hall_page = await hall_context.new_page()
    await hall_page.goto(screen["url"])
    await hall_page.wait_for_url(re.compile(r"/venue$"))
    await call("POST", f"{api}/venues/{hall}/admit", host)

    for lang in ("ko", "zh"):
        context, page, errors = await console(browser, server, lang, DESK)
        rows = page.locator("#keys-body tr[data-enrollment]")
        await expect(rows).to_have_count(count)
        await expect(page.locator("#hall-grid .role-venue")).to_have_attribute("data-video", "on", timeout=30_000)
        # Rooms open: the keys are the tab shown, and the tab says how many wait.
        await expect(page.locator("#tab-keys")).to_have_attribute("aria-selected", "true")
        await expect(page.locator("#keys-pending")).to_contain_text(str(count))
        assert await in_view(page, "#halls") and await in_view(page, "#keys-body tr:first-child")
        # Down the list of keys: the halls (and the stage controls) stay in view beside the last one.
        await rows.last.scroll_into_view_if_needed()
        await page.screenshot(path=str(shots / f"host-keys-{lang}-1440x900.png"))
        assert await page.evaluate("window.scrollY") > 0
        assert await in_view(page, "#halls") and await in_view(page, "#keys-body tr:last-child")
        assert await in_view(page, "#hall-grid .role-venue")
        assert await in_view(page, "#controls-title")

        # The page language's zone first: in the schedule, the key table and the timeline.
        first = FIRST_ZONE[lang]
        await expect(page.locator(".facts .zoned-lines .zt-label").first).to_have_text(first)
        await expect(rows.first.locator(".zoned-lines .zt-label").first).to_have_text(first)
        await expect(page.locator("#timeline .tl-entry .zt-label").first).to_have_text(first)
        others = page.locator(".facts .zoned-lines .small .zt-label")
        await expect(others).to_have_text([z for z in ("KST", "CST", "UTC") if z != first])

        # ARIA tabs: arrows move between them, each shows its own panel.
        await page.locator("#tab-keys").focus()
        await page.keyboard.press("ArrowRight")
        await expect(page.locator("#tab-links")).to_be_focused()
        await expect(page.locator("#tab-links")).to_have_attribute("aria-selected", "true")
        await expect(page.locator("#panel-links")).to_be_visible()
        await expect(page.locator("#panel-keys")).to_be_hidden()
        await page.keyboard.press("End")
        await expect(page.locator("#panel-roster")).to_be_visible()
        await page.keyboard.press("ArrowRight")  # wraps round
        await expect(page.locator("#tab-keys")).to_be_focused()
        await expect(page.locator("#panel-keys")).to_be_visible()

        # A tablet stacks the columns: the controls and halls, then the keys; nothing sticks out sideways.
        await page.set_viewport_size(TABLET)
        halls = await page.locator("#halls").bounding_box()
        keys = await page.locator("#host-tabs").bounding_box()
        assert halls is not None and keys is not None and keys["y"] > halls["y"] + halls["height"]
        overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        assert await page.evaluate(overflow) <= 0
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(shots / f"host-keys-{lang}-820x1180.png"))
        assert errors == []
        await context.close()
    await hall_context.close()
    await script.close()


async def test_issue_all_links_prints_one_card_per_missing_link(server: Server, browser: Any, shots: Path) -> None:
    script = await browser.new_context()
    call = Api(server, script.request)
    api = f"/api/ceremonies/{server.demo_id}"
    host = server.token(server.host_link)
    sheet_url = f"{server.base}/c/{server.demo_id}/links/sheet"
    as_json = {"Authorization": f"Bearer {host}", "Accept": "application/json"}

    # A draft: only the archivist and observer links can exist yet; the rest are listed as skipped, with why.
    drafted = await (await script.request.post(sheet_url, headers=as_json)).json()
    assert sorted(i["role"] for i in drafted["issued"]) == ["archivist", "observer"]
    assert {s["code"] for s in drafted["skipped"]} == {"after_freeze"} and len(drafted["skipped"]) == 8

    api, host = await open_demo(call, server)
    venues = (await call("GET", api, host))["venues"]
    kept = await call("POST", f"{api}/invitations", host, {"role": "venue", "venue": venues[0]["id"], "label": "tv"})
    before = {i["id"] for i in (await call("GET", f"{api}/invitations", host))["invitations"]}

    context, page, errors = await console(browser, server, "ko", DESK)
    await page.locator("#tab-links").click()
    missing = page.locator("#missing-links")
    await expect(missing).to_contain_text(venues[1]["name"]["ko"])  # the other hall; the first has its link
    await expect(missing).not_to_contain_text(venues[0]["name"]["ko"])
    async with (
        context.expect_event("response", lambda r: "/links/sheet" in r.url) as answered,
        context.expect_page() as opened,
    ):
        await page.get_by_role("button", name="빠진 링크 모두 발급 및 인쇄").click()
    response = await answered.value
    assert response.status == 200 and response.headers["cache-control"] == "no-store"
    sheet = await opened.value
    await sheet.wait_for_load_state()

    # Every hall and signatory now has exactly one active link; the one issued before was not repeated.
    listed = (await call("GET", f"{api}/invitations", host))["invitations"]
    active = [i for i in listed if i["active"]]
    for venue in venues:
        assert sum(i["venue"] == venue["id"] for i in active) == 1
    for person in (await call("GET", api, host))["signatories"]:
        assert sum(i["signatory"] == person["id"] for i in active) == 1
    assert sum(i["role"] == "archivist" for i in active) == sum(i["role"] == "observer" for i in active) == 1
    # (The recorder's link is the server's own, issued when the rooms opened: not on the sheet.)
    new = {i["id"]: i for i in listed if i["id"] not in before and i["role"] != "recorder"}
    assert len(new) == 7 and kept["id"] not in new

    # One card per new link: its QR code is the code of the very address printed beside it.
    cards = sheet.locator(".link-card")
    await expect(cards).to_have_count(len(new))
    tokens = []
    for n in range(len(new)):
        card = cards.nth(n)
        invitation = new[str(await card.get_attribute("data-invitation"))]
        url = await card.locator(".link-url").inner_text()
        assert re.fullmatch(rf"{server.base}/c/{server.demo_id}/enter\?lang=(ko|zh|en)#[\w-]{{43}}", url), url
        src = str(await card.locator("img.card-qr").get_attribute("src"))
        assert src.startswith("data:image/svg+xml;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).decode("utf-8") == qr_svg(url)
        assert await card.get_attribute("data-role") == invitation["role"]
        subject = invitation["venue"] or invitation["signatory"]
        assert subject is not None
        tokens.append(url.split("#", 1)[1])
    await sheet.screenshot(path=str(shots / "sheet-ko-1440x900.png"), full_page=True)

    # On paper: one card a page, the page's own header and buttons left out.
    pdf = shots / "sheet-ko.pdf"
    await sheet.pdf(path=str(pdf), format="A4")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+7$", info, re.M), info
    text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True, text=True).stdout
    # pdftotext drops a hyphen that ends a line (as if it were hyphenation), and tokens may hold hyphens.
    assert "나눠 줄 링크" not in text
    assert tokens[0].replace("-", "") in "".join(text.split()).replace("-", "")
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "2", str(pdf), str(shots / "sheet-ko-page")])

    # A link from the sheet works: the observer's (from the draft's sheet) opens the observer's page.
    guest = await browser.new_context(viewport=DESK, locale="zh-CN")
    guest_page = await guest.new_page()
    (watcher,) = [i for i in drafted["issued"] if i["role"] == "observer"]
    await guest_page.goto(watcher["url"])
    await guest_page.wait_for_url(re.compile(r"/view$"))
    await guest.close()

    # Nothing was missing any more: the console says so, and a second issue makes nothing new.
    await expect(page.locator("#issue-all")).to_be_disabled()
    again = await script.request.post(sheet_url, headers=as_json)
    assert again.status == 200 and again.headers["cache-control"] == "no-store"
    assert (await again.json())["issued"] == []
    assert len((await call("GET", f"{api}/invitations", host))["invitations"]) == len(listed)

    # Only the host: no credentials is 401, another role's link 403. The secrets reach no log or timeline.
    assert (await script.request.post(sheet_url)).status == 401
    observer_token = server.token(watcher["url"])
    refused = await script.request.post(sheet_url, headers={"Authorization": f"Bearer {observer_token}"})
    assert refused.status == 403
    timeline = await page.locator("#timeline").inner_text()
    events = await (await script.request.get(f"{server.base}{api}/events", headers=as_json)).text()
    for token in tokens:
        assert token not in timeline and token not in events
        assert not any(token in line for line in server.output)
    assert errors == []
    await context.close()
    await script.close()
