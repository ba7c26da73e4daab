"""The console pages in real headless Chromium against a real `ceremony serve` subprocess.

Each test does what a person does (opens a link, clicks, types) and asserts on
what the page then shows; Playwright's auto-waiting `expect` replaces sleeps.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.helpers import Server, new_page

pytestmark = pytest.mark.browser

FREEZE_SECONDS = 60_000  # rendering the original PDF takes a few seconds; a loaded CI machine more


def badge(page: Page) -> Any:
    return page.locator(".head-state [data-state-badge]")


async def test_operator_creates_freezes_and_runs_a_ceremony(server: Server, browser: Any) -> None:
    context, page, errors = await new_page(browser)
    await page.goto(server.operator_link)
    await page.wait_for_url(f"{server.base}/console")
    await expect(page.get_by_role("heading", name="Ceremonies")).to_be_visible()
    await expect(page.locator("#ceremonies")).to_contain_text("Gangwon–Nanjing")

    await page.get_by_role("link", name="New ceremony").click()
    await page.wait_for_url("**/console/new")
    await page.get_by_role("button", name="Start from the demo").click()
    title = page.locator('input[data-path="title.en"]')
    await expect(title).to_have_value(re.compile("Gangwon"))
    await expect(page.locator('input[data-path="venues[1].timezone"]')).to_have_value("Asia/Shanghai")
    await expect(page.locator("#start-preview")).to_contain_text("10:20 KST")
    await title.fill("Browser-made export MOU ceremony")
    await page.get_by_role("button", name="Create the ceremony").click()

    host_link = page.locator("#host-link")
    await expect(host_link).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/c/[0-9a-f]{16}/enter#[\w-]{43}$"))
    await expect(page.get_by_text("This link is shown only now")).to_be_visible()
    await page.get_by_role("link", name="Open host console").click()
    await page.wait_for_url(re.compile(r"/c/[0-9a-f]{16}/host$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Browser-made export MOU ceremony")
    await expect(badge(page)).to_have_text("Draft")
    await expect(page.get_by_role("button", name="Open rooms")).to_be_disabled()

    timeline = page.locator("#timeline")
    await expect(timeline).to_contain_text("Ceremony drafted: Browser-made export MOU ceremony")
    await page.get_by_role("button", name="Freeze").click()
    await expect(badge(page)).to_have_text("Frozen", timeout=FREEZE_SECONDS)
    sha = page.locator("#doc-sha")
    await expect(sha).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    await expect(timeline).to_contain_text("Frozen — original PDF SHA-256")
    await expect(page.get_by_role("link", name="Edit", exact=True)).to_be_hidden()
    # The hash shown is the hash of the PDF the download link serves.
    href = await page.locator("#doc-download").get_attribute("href")
    pdf = await page.request.get(f"{server.base}{href}")
    assert pdf.ok
    assert hashlib.sha256(await pdf.body()).hexdigest() == await sha.inner_text()

    await page.get_by_role("button", name="Open rooms").click()
    await expect(badge(page)).to_have_text("Rooms open")
    await expect(timeline).to_contain_text("Rooms opened")
    await page.get_by_role("button", name=re.compile("^Next segment")).click()
    newest = timeline.locator(".tl-entry").first
    await expect(newest).to_contain_text("Segment started: Opening and introduction of participants")
    await expect(newest).to_contain_text(re.compile(r"KST.*CST.*UTC"))
    await expect(page.locator("#stepper .current")).to_contain_text("Opening and introduction of participants")
    await expect(page.locator("#next-title")).to_have_text("Remarks by both sides")
    await expect(page.get_by_role("button", name="Seal")).to_be_disabled()
    assert errors == []
    await context.close()


async def test_editor_marks_the_fields_the_server_refuses(server: Server, browser: Any, demo_json: Any) -> None:
    context, page, errors = await new_page(browser)
    await page.goto(server.operator_link)
    await page.wait_for_url(f"{server.base}/console")
    await page.goto(f"{server.base}/console/new")
    # An uploaded definition that passes the page's checks but not the server's: a direction mark in the title.
    demo_json["title"]["en"] = "MOU\u202e signing"
    await page.locator("#upload").set_input_files(
        files=[{"name": "ceremony.json", "mimeType": "application/json", "buffer": _json_bytes(demo_json)}]
    )
    await expect(page.locator("#editor-alert")).to_contain_text("Loaded ceremony.json")
    await page.get_by_role("button", name="Create the ceremony").click()
    field = page.locator('.field-box:has(input[data-path="title.en"]) > .field-error')
    await expect(field).to_contain_text("The ceremony's title (English) contains an invisible control or direction")
    await expect(page.locator("#editor-alert")).to_contain_text("Fix these before saving")
    # A check the page makes itself, before anything is sent.
    await page.locator('input[data-path="parties[0].country"]').fill("kr")
    await page.get_by_role("button", name="Create the ceremony").click()
    await expect(page.locator('.field-box:has(input[data-path="parties[0].country"]) > .field-error')).to_contain_text(
        "two capital letters"
    )
    assert errors == []
    await context.close()


async def test_host_console_in_korean_shows_korean_labels_and_zoned_times(
    server: Server, browser: Any, demo_json: Any
) -> None:
    context, page, errors = await new_page(browser, locale="ko-KR")
    await page.goto(server.host_link)
    await page.wait_for_url(re.compile(r"/host$"))
    assert await page.locator("html").get_attribute("lang") == "ko"
    await expect(page.get_by_role("heading", level=1)).to_have_text(demo_json["title"]["ko"])
    await expect(badge(page)).to_have_text("초안")
    await expect(page.get_by_role("button", name="확정하기")).to_be_enabled()
    await expect(page.get_by_role("heading", name="진행 순서")).to_be_visible()
    await expect(page.locator("#stepper")).to_contain_text("양해각서 서명")
    schedule = page.locator(".schedule-facts")
    await expect(schedule).to_contain_text(re.compile(r"2020-05-29 10:20\s*KST"))
    await expect(schedule).to_contain_text(re.compile(r"2020-05-29 09:20\s*CST"))
    await expect(schedule).to_contain_text(re.compile(r"2020-05-29 01:20\s*UTC"))
    first_event = page.locator("#timeline .tl-entry").last
    await expect(first_event).to_contain_text("서명식 초안 작성")
    await expect(first_event).to_contain_text(re.compile(r"KST.*CST.*UTC"))
    await expect(page.locator("#live-status")).to_have_text("실시간")
    # On a phone the wide tables scroll inside their boxes; nothing widens the page itself.
    await page.set_viewport_size({"width": 390, "height": 844})
    await expect(page.locator("#links-body tr")).not_to_have_count(0)
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert await page.evaluate(overflow) <= 0

    # The switcher changes the language, and the choice sticks for the next page.
    await page.get_by_role("link", name="中文").click()
    await expect(badge(page)).to_have_text("草案")
    await page.goto(f"{server.base}/c/{server.demo_id}/document")
    await expect(page.locator(".page-head h1")).to_have_text("谅解备忘录")
    await expect(page.locator(".mou")).to_contain_text("韩国江原道与中国南京市")
    assert errors == []
    await context.close()


async def test_revoked_link_shows_why_it_cannot_be_opened(server: Server, browser: Any) -> None:
    context, host, errors = await new_page(browser)
    await host.goto(server.host_link)
    await host.wait_for_url(re.compile(r"/host$"))
    await host.get_by_label("Role").select_option("observer")
    await host.get_by_label("Label").fill("press pool")
    await host.get_by_role("button", name="Issue link").click()
    url_box = host.locator("#issued-url")
    await expect(url_box).to_have_value(re.compile(r"/c/[0-9a-f]{16}/enter#[\w-]{43}$"))
    await expect(host.locator("#issued-qr")).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    link = await url_box.input_value()
    row = host.locator("#links-body tr", has_text="press pool")
    await expect(row).to_contain_text("Active")

    # While valid, the link opens the participant page.
    guest_context, guest, guest_errors = await new_page(browser)
    await guest.goto(link)
    await guest.wait_for_url(re.compile(r"/view$"))
    await expect(guest.locator(".you")).to_contain_text("Observer")
    await expect(guest.locator("#timeline")).to_contain_text("Ceremony drafted")

    await row.get_by_role("button", name="Revoke").click()
    await expect(row).to_contain_text("Revoked")
    await expect(host.locator("#timeline")).to_contain_text("Link revoked: Observer (press pool)")

    # A fresh browser opening the revoked link is told why, on the enter page.
    late_context, late, late_errors = await new_page(browser)
    await late.goto(link)
    failed = late.locator("#enter-failed")
    await expect(failed).to_be_visible()
    await expect(failed).to_contain_text("This link cannot be opened")
    await expect(failed).to_contain_text("it may have been revoked")
    # The browser that had entered before is refused too, with the reason.
    await guest.reload()
    await expect(guest.get_by_text("the observer link was revoked")).to_be_visible()
    assert errors == [] and late_errors == [] and guest_errors == []
    for c in (context, guest_context, late_context):
        await c.close()


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")
