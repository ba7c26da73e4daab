"""The signatory's page on a phone and a tablet, in real headless Chromium against `ceremony serve`.

Korean particles chosen by the final consonant. One device signs: once the host has rejected
one device's key and approved another's, only the approved device consents and signs the PDF;
the other shows, in its language, that another device is in use, and sends
no consent and no PDF-signature request (it would hold the signing turn).
Status changes are announced: a banner on top, a live region, a vibration.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from ceremony.consent import has_final_consonant, korean_particle
from tests.helpers import FREEZE_MS, SHOTS, Api, Server, open_demo, signing_device

PHONE = {"width": 390, "height": 844}
TABLET = {"width": 820, "height": 1180}
ELSEWHERE = {"ko": "다른 기기가 사용되고 있습니다", "zh": "另一台设备"}
LOCALES = {"ko": "ko-KR", "zh": "zh-CN"}


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


@pytest.mark.parametrize(
    ("word", "final", "topic", "subject", "object_"),
    [
        ("홍길동", True, "은", "이", "을"),
        ("김철수", False, "는", "가", "를"),
        ("강원도", False, "는", "가", "를"),
        ("남경시", False, "는", "가", "를"),
        ("대한민국", True, "은", "이", "을"),
        ("Nanjing", None, "은(는)", "이(가)", "을(를)"),
    ],
)
def test_korean_particles_follow_the_final_consonant(
    word: str, final: bool | None, topic: str, subject: str, object_: str
) -> None:
    assert has_final_consonant(word) is final
    assert korean_particle(word, "은", "는") == topic
    assert korean_particle(word, "이", "가") == subject
    assert korean_particle(word, "을", "를") == object_


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ko", "zh"])
async def test_a_rejected_phone_never_signs_and_the_approved_tablet_signs_the_pdf(
    server: Server, browser: Any, shots: Path, lang: str
) -> None:
    script = await browser.new_context()
    call = Api(server, script.request)
    api, host = await open_demo(call, server, "signing")
    who = (await call("GET", api, host))["signatories"][0 if lang == "ko" else 3]["id"]
    if lang == "ko":  # the governor and his province: particles chosen by the final consonant, not 은(는)/을(를)
        text = (await call("GET", f"{api}/consent-text?lang=ko&decision=consent&signatory={who}", host))["text"]
        assert "홍길동(강원도지사)은 강원도를 대표하여" in text, text

    async def link(label: str) -> str:
        body = {"role": "signatory", "signatory": who, "label": label}
        return str((await call("POST", f"{api}/invitations", host, body))["url"])

    # The phone enrolls; the host rejects its key.
    phone_context, phone, phone_errors = await signing_device(browser, await link("phone"), lang, PHONE)
    asked: list[str] = []
    signing_calls = re.compile(r"/(pdf-signatures|consents)")
    phone.on(
        "request",
        lambda r: asked.append(r.url) if r.method == "POST" and signing_calls.search(r.url) else None,
    )
    phone_fp = await phone.locator("#key-fingerprint").inner_text()
    listed = (await call("GET", f"{api}/enrollments", host))["enrollments"]
    (rejected,) = [e for e in listed if e["fingerprint"] == phone_fp]
    await call("POST", f"{api}/enrollments/{rejected['id']}/reject", host, {"reason": "wrong device"})
    await expect(phone.locator("#enrollment-state")).to_have_attribute("data-status", "rejected")
    await expect(phone.locator("#status-banner")).to_have_attribute("data-kind", "rejected")
    await phone.screenshot(path=str(shots / f"sign-announce-rejected-{lang}-390x844.png"))

    # The tablet enrolls and is approved: the phone now says another device is in use, and offers nothing.
    tablet_context, tablet, tablet_errors = await signing_device(browser, await link("tablet"), lang, TABLET)
    tablet_fp = await tablet.locator("#key-fingerprint").inner_text()
    listed = (await call("GET", f"{api}/enrollments", host))["enrollments"]
    (pending,) = [e for e in listed if e["fingerprint"] == tablet_fp]
    await call("POST", f"{api}/enrollments/{pending['id']}/approve", host, {"code_confirmed": True})
    await expect(tablet.locator("#enrollment-state")).to_have_attribute("data-status", "approved")
    note = phone.locator("#elsewhere-note")
    await expect(note).to_be_visible()
    await expect(note).to_contain_text(ELSEWHERE[lang])
    await expect(phone.locator("#sign-actions")).to_be_hidden()
    await expect(phone.locator("#retry-enroll")).to_be_hidden()

    # The tablet consents; the phone hears of it (its /me is read again) and still tries nothing.
    async with phone.expect_response(lambda r: r.url.endswith("/me"), timeout=FREEZE_MS):
        await tablet.locator("#consent-box").check()
        await tablet.locator("#sign-button").click()
    await expect(tablet.locator("#pdf-state")).to_have_attribute("data-state", "done", timeout=FREEZE_MS)
    await expect(tablet.locator("#sign-alert")).to_be_hidden()
    (signed,) = (await call("GET", f"{api}/pdf-signatures", host))["signatures"]
    assert signed["signatory"] == who
    await expect(note).to_be_visible()
    await expect(phone.locator("#confirmation")).to_be_hidden()
    await expect(phone.locator("#sign-alert")).to_be_hidden()
    assert await phone.evaluate("window.__signing.elsewhere") is True

    # Reopened, the phone still sends nothing.
    await phone.reload()
    await expect(phone.locator("#elsewhere-note")).to_be_visible()
    await phone.screenshot(path=str(shots / f"sign-elsewhere-{lang}-390x844.png"))
    await phone.set_viewport_size(TABLET)
    await phone.screenshot(path=str(shots / f"sign-elsewhere-{lang}-820x1180.png"))
    await tablet.screenshot(path=str(shots / f"sign-signed-{lang}-820x1180.png"))
    assert asked == [], asked
    assert phone_errors == [] and tablet_errors == []
    for context in (phone_context, tablet_context, script):
        await context.close()


VIBRATIONS = (
    "window.__vibrations = []; navigator.vibrate = (pattern) => { window.__vibrations.push(pattern); return true; };"
)


async def in_first_viewport(page: Page, selector: str, viewport: dict[str, int]) -> None:
    box = await page.locator(selector).bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], (selector, box)


@pytest.mark.browser
@pytest.mark.parametrize(("lang", "viewport"), [("ko", PHONE), ("zh", TABLET)])
async def test_status_changes_are_announced_on_top_aloud_and_by_vibration(
    server: Server, browser: Any, shots: Path, lang: str, viewport: dict[str, int]
) -> None:
    script = await browser.new_context()
    call = Api(server, script.request)
    api, host = await open_demo(call, server)
    who = (await call("GET", api, host))["signatories"][0 if lang == "ko" else 3]["id"]
    url = (await call("POST", f"{api}/invitations", host, {"role": "signatory", "signatory": who}))["url"]
    context = await browser.new_context(viewport=viewport, locale=LOCALES[lang], is_mobile=True, has_touch=True)
    await context.add_init_script(VIBRATIONS)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    await page.wait_for_url(re.compile(r"/sign$"))
    await expect(page.locator("#enrollment-state")).to_have_attribute("data-status", "pending")
    banner = page.locator("#status-banner")
    await expect(banner).to_have_attribute("aria-live", "polite")
    await expect(banner).to_be_hidden()  # nothing announced on arrival
    size = f"{viewport['width']}x{viewport['height']}"

    (enrollment,) = (await call("GET", f"{api}/enrollments", host))["enrollments"]
    await call("POST", f"{api}/enrollments/{enrollment['id']}/approve", host, {"code_confirmed": True})
    for kind, step in (("approved", None), ("signing", "signing")):
        if step:
            await call("POST", f"{api}/segment", host, {"segment": step})
        await expect(banner).to_have_attribute("data-kind", kind)
        await expect(banner).to_be_visible()
        await in_first_viewport(page, "#status-banner", viewport)
        if kind == "signing":  # the action is in the first viewport, on a phone and on a tablet
            await in_first_viewport(page, "#sign-button", viewport)
        await page.screenshot(path=str(shots / f"sign-announce-{kind}-{lang}-{size}.png"))
    await page.locator("#consent-box").check()
    await page.locator("#sign-button").click()
    await expect(banner).to_have_attribute("data-kind", "signed")
    await expect(banner).to_be_visible()
    await expect(page.locator("#pdf-state")).to_have_attribute("data-state", "done", timeout=FREEZE_MS)
    await page.screenshot(path=str(shots / f"sign-announce-signed-{lang}-{size}.png"))
    assert len(await page.evaluate("window.__vibrations")) == 3
    assert errors == []
    await context.close()
    await script.close()
