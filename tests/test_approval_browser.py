"""The safety code in real headless Chromium: the signatory's phone and the host console show the same code.

Against a real `ceremony serve` subprocess. The signing page derives the code from the key
WebCrypto made on the device; the console from the enrollment the server logged; Python's
ceremony.safety from the fingerprint. All three must agree, and the console's Approve button
stays disabled until the host ticks that the signatory read the code aloud on camera.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from ceremony.safety import safety_code, spoken
from tests.helpers import SHOTS, Api, Server, open_demo

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
TABLET = {"width": 820, "height": 1180}
DESK = {"width": 1440, "height": 900}
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
APPROVE = {"ko": "승인", "zh": "批准", "en": "Approve"}


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


async def open_page(browser: Any, url: str, locale: str, viewport: dict[str, int]) -> tuple[Any, Page, list[str]]:
    mobile = viewport["width"] < 1000
    context = await browser.new_context(viewport=viewport, locale=locale, is_mobile=mobile, has_touch=mobile)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    return context, page, errors


async def signing_page(browser: Any, link: str, lang: str, shots: Path) -> tuple[Any, Page, list[str], str, str]:
    """The signatory's page on a phone, then a tablet, while the key waits: screenshots of both."""
    context, page, errors = await open_page(browser, link, {"ko": "ko-KR", "zh": "zh-CN"}[lang], PHONE)
    await page.wait_for_url(re.compile(r"/sign$"))
    await expect(page.locator("#enrollment-state")).to_have_attribute("data-status", "pending")
    fingerprint = await page.locator("#key-fingerprint").inner_text()
    band = page.locator("#safety-band")
    await expect(band).to_be_visible()
    shown = await page.locator("#safety-code").inner_text()
    assert shown == spoken(safety_code(fingerprint)), (shown, fingerprint)  # the page's arithmetic is the core's
    await expect(page.locator("#key-safety-code")).to_have_text(shown)
    # On top, where a phone shows it first; nothing sticks out sideways.
    box = await band.bounding_box()
    assert box is not None and box["y"] + box["height"] < PHONE["height"], box
    assert await page.evaluate(OVERFLOW) <= 0
    await page.screenshot(path=str(shots / f"sign-code-{lang}-390x844.png"))
    await page.set_viewport_size(TABLET)
    await expect(band).to_be_visible()
    assert await page.evaluate(OVERFLOW) <= 0
    await page.screenshot(path=str(shots / f"sign-code-{lang}-820x1180.png"))
    return context, page, errors, fingerprint, shown


async def test_the_signatory_and_the_host_see_the_same_code_and_approve_waits_for_the_tick(
    server: Server, browser: Any, shots: Path
) -> None:
    script = await browser.new_context()
    call = Api(server, script.request)
    api, host = await open_demo(call, server)
    people = (await call("GET", api, host))["signatories"]
    contexts = [script]
    for lang, who, label in (("ko", people[0]["id"], "governor's tablet"), ("zh", people[3]["id"], "市长的平板")):
        issued = await call("POST", f"{api}/invitations", host, {"role": "signatory", "signatory": who, "label": label})
        signer_context, signer, signer_errors, fingerprint, code = await signing_page(
            browser, issued["url"], lang, shots
        )

        # The host console, in the same language, lists the key with the same code, its link and device.
        console_context, console, console_errors = await open_page(
            browser, server.host_link, {"ko": "ko-KR", "zh": "zh-CN"}[lang], DESK
        )
        contexts += [signer_context, console_context]
        await console.wait_for_url(re.compile(r"/host$"))
        row = console.locator(f'#keys-body tr[data-fingerprint="{fingerprint}"]')
        await expect(row.locator(".safety-code")).to_have_text(code)
        await expect(row.locator(".link-line")).to_contain_text(f"{label} ({issued['id']})")
        await expect(row.locator(".device")).to_have_attribute("title", re.compile("HeadlessChrome"))  # the full UA
        approve = row.get_by_role("button", name=APPROVE[lang], exact=True)
        box = row.locator("input.code-confirmed")
        await expect(approve).to_be_disabled()
        await box.check()
        await expect(approve).to_be_enabled()
        await box.uncheck()
        await expect(approve).to_be_disabled()
        await box.check()
        await console.locator("#keys").scroll_into_view_if_needed()
        # The halls' video stays beside the key being approved (the console's sticky stage column).
        for shown in (console.locator("#halls"), approve):
            box = await shown.bounding_box()
            assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= DESK["height"], box
        await console.screenshot(path=str(shots / f"host-code-{lang}-1440x900.png"))
        await console.locator("#keys").screenshot(path=str(shots / f"host-keys-code-{lang}.png"))
        await approve.click()

        # Approved: the signatory's band goes; the log says the host confirmed the code.
        await expect(signer.locator("#enrollment-state")).to_have_attribute("data-status", "approved")
        await expect(signer.locator("#safety-band")).to_be_hidden()
        (listed,) = [
            e for e in (await call("GET", f"{api}/enrollments", host))["enrollments"] if e["fingerprint"] == fingerprint
        ]
        assert listed["code_confirmed"] is True and listed["approved_by"]["actor"].startswith("host:")
        assert listed["invitation"]["id"] == issued["id"] and listed["safety_code"] == code.replace(" ", "")
        await expect(row.locator(".approved-by")).to_be_visible()
        assert signer_errors == [] and console_errors == []

    # A key whose link is revoked before approval: the console says why and offers no Approve.
    issued = await call(
        "POST", f"{api}/invitations", host, {"role": "signatory", "signatory": people[1]["id"], "label": "lost link"}
    )
    late_context, late, late_errors = await open_page(browser, issued["url"], "en-US", PHONE)
    contexts.append(late_context)
    await expect(late.locator("#enrollment-state")).to_have_attribute("data-status", "pending")
    fingerprint = await late.locator("#key-fingerprint").inner_text()
    await call("DELETE", f"{api}/invitations/{issued['id']}", host)
    console_context, console, console_errors = await open_page(browser, server.host_link, "en-US", DESK)
    contexts.append(console_context)
    row = console.locator(f'#keys-body tr[data-fingerprint="{fingerprint}"]')
    await expect(row.locator(".link-warning")).to_have_text(re.compile("was revoked: it cannot be approved"))
    await expect(row.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
    await expect(row.get_by_role("button", name="Reject", exact=True)).to_be_enabled()
    assert console_errors == [] and late_errors == []
    for context in contexts:
        await context.close()
