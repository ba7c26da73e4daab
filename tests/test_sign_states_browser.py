"""The signing page's sticky dock, on a phone (390x844) and a tablet (820x1180), in real Chromium.

In every state (waiting for approval, approved, read and sign, signed, declined, sealed) the one
primary action is inside the first viewport, visible and not covered by anything; it stays in view
while the MOU is read further down. Decline is secondary (smaller than Sign, which is at least 48 px
tall), asks for a reason and turns Sign off while it is open. The status banner sits below the
header: it never covers the language switcher. Each state is photographed into SHOTS (tests.helpers).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.helpers import FREEZE_MS, SHOTS, Api, Server, open_demo, signing_device

PHONE = {"width": 390, "height": 844}
TABLET = {"width": 820, "height": 1180}
LOCALES = {"ko": "ko-KR", "zh": "zh-CN"}
REASONS = {"ko": "제3조에 대한 내부 검토가 끝나지 않았습니다.", "zh": "本备忘录第三条的内部审查尚未完成。"}

# Where an element is, and whether a tap at its centre reaches it (and not a banner or a sticky bar over it).
PLACE = """(selector) => {
  const el = document.querySelector(selector);
  const r = el.getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height,
          innerHeight, innerWidth, reached: !!hit && (hit === el || el.contains(hit))};
}"""


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


async def placed(page: Page, selector: str) -> dict[str, Any]:
    place: dict[str, Any] = await page.evaluate(PLACE, selector)
    return place


async def in_view(page: Page, selector: str, *, scroll_top: bool = True) -> dict[str, Any]:
    """Assert `selector` is visible, wholly inside the viewport and not covered; return where it is."""
    if scroll_top:
        await page.evaluate("window.scrollTo(0, 0)")
    await expect(page.locator(selector)).to_be_visible()
    place = await placed(page, selector)
    assert place["top"] >= 0 and place["bottom"] <= place["innerHeight"], (selector, place)
    assert place["left"] >= 0 and place["right"] <= place["innerWidth"], (selector, place)
    assert place["reached"], (selector, "covered", place)
    return place


@pytest.mark.browser
@pytest.mark.parametrize(("lang", "viewport"), [("ko", PHONE), ("zh", TABLET)], ids=["phone-ko", "tablet-zh"])
async def test_the_primary_action_is_in_the_first_viewport_in_every_state(
    server: Server, browser: Any, shots: Path, lang: str, viewport: dict[str, int]
) -> None:
    script = await browser.new_context()
    call = Api(server, script.request)
    api, host = await open_demo(call, server)
    people = (await call("GET", api, host))["signatories"]
    first = 0 if lang == "ko" else 3
    signer_id, decliner_id = people[first]["id"], people[first + 1]["id"]
    pages: dict[str, tuple[Any, Page, list[str]]] = {}
    for who in (signer_id, decliner_id):
        url = (await call("POST", f"{api}/invitations", host, {"role": "signatory", "signatory": who}))["url"]
        pages[who] = await signing_device(browser, url, lang, viewport)
    signer, decliner = pages[signer_id][1], pages[decliner_id][1]
    size = f"{viewport['width']}x{viewport['height']}"

    async def shot(page: Page, state: str) -> None:
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(shots / f"sign-state-{state}-{lang}-{size}.png"))

    # Waiting for approval: the step bar says so; the action is to read the MOU meanwhile.
    await expect(signer.locator("#sign-dock")).to_have_attribute("data-hint", "pending")
    await expect(signer.locator('#steps [data-step="approval"]')).to_have_attribute("aria-current", "step")
    await in_view(signer, "#read-button")
    await in_view(signer, "#safety-code")
    await shot(signer, "waiting")

    # Approved, before the signing segment: still "read", now on the second step.
    for who in (signer_id, decliner_id):
        (enrollment,) = [
            e for e in (await call("GET", f"{api}/enrollments", host))["enrollments"] if e["signatory"] == who
        ]
        await call("POST", f"{api}/enrollments/{enrollment['id']}/approve", host, {"code_confirmed": True})
    await expect(signer.locator("#sign-dock")).to_have_attribute("data-hint", "wait_segment")
    await expect(signer.locator('#steps [data-step="approved"]')).to_have_attribute("aria-current", "step")
    await in_view(signer, "#read-button")
    # The banner announcing it sits below the header: the language switcher stays reachable.
    await expect(signer.locator("#status-banner")).to_be_visible()
    await in_view(signer, ".langs a[hreflang='en']")
    banner, langs = await placed(signer, "#status-banner"), await placed(signer, ".langs")
    assert banner["top"] >= langs["bottom"], (banner, langs)
    await shot(signer, "approved")

    # "Read the MOU" unfolds it and brings it into view; the dock stays on screen all the way down.
    await signer.locator("#read-button").click()
    await expect(signer.locator("#mou-toggle")).to_have_attribute("aria-expanded", "true")
    await expect(signer.locator("#mou .mou-col-ko").first).to_be_visible()
    await signer.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    await in_view(signer, "#read-button", scroll_top=False)

    # Read and sign: Sign is big (at least 48 px), Decline beside it visibly smaller.
    await call("POST", f"{api}/segment", host, {"segment": "signing"})
    await expect(signer.locator('#steps [data-step="sign"]')).to_have_attribute("aria-current", "step")
    await in_view(signer, "#sign-button", scroll_top=False)  # still scrolled to the end of the MOU
    sign = await in_view(signer, "#sign-button")
    decline = await in_view(signer, "#decline-button")
    assert sign["height"] >= 48 and decline["height"] < sign["height"], (sign, decline)
    sign_box = await signer.locator("#sign-button").bounding_box()
    decline_box = await signer.locator("#decline-button").bounding_box()
    assert sign_box is not None and decline_box is not None
    assert decline_box["width"] * decline_box["height"] < sign_box["width"] * sign_box["height"] / 2
    await in_view(signer, "#consent-box")  # the box to tick is on the first screen too
    await shot(signer, "read-and-sign")

    # The signatory consents: signed, and the signed PDF to download is the action.
    await signer.locator("#consent-box").check()
    await signer.locator("#sign-button").click()
    await expect(signer.locator("#pdf-state")).to_have_attribute("data-state", "done", timeout=FREEZE_MS)
    await expect(signer.locator("#sign-dock")).to_have_attribute("data-hint", "signed")
    await expect(signer.locator("#dock-download")).to_have_attribute("href", re.compile(r"/documents/signed$"))
    await in_view(signer, "#dock-download")
    await shot(signer, "signed")

    # The other declines, with a reason: the receipt is the action; the last step says "declined".
    await decliner.locator("#decline-button").click()
    await decliner.locator("#decline-reason").fill(REASONS[lang])
    await decliner.locator("#decline-confirm").click()
    await expect(decliner.locator("#sign-dock")).to_have_attribute("data-hint", "declined")
    await expect(decliner.locator('#steps [data-step="done"]')).to_have_class(re.compile("step-declined"))
    await in_view(decliner, "#dock-receipt")
    await expect(decliner.locator("#confirmation-reason-text")).to_have_text(REASONS[lang])
    await shot(decliner, "declined")

    # Sealed: the record's signed PDF, for both of them.
    await call("POST", f"{api}/seal", host, {"absent_ok": True})
    for page in (signer, decliner):
        await expect(page.locator("#sign-dock")).to_have_attribute("data-hint", "sealed", timeout=FREEZE_MS)
        await expect(page.locator("#dock-download")).to_have_attribute("href", re.compile(r"/record/signed\.pdf$"))
        await in_view(page, "#dock-download")
    await shot(signer, "sealed")
    await shot(decliner, "sealed-declined")

    for context, _, errors in pages.values():
        assert errors == [], errors
        await context.close()
    await script.close()


@pytest.mark.browser
async def test_sign_is_off_while_the_decline_form_is_open(server: Server, browser: Any, shots: Path) -> None:
    script = await browser.new_context()
    call = Api(server, script.request)
    api, host = await open_demo(call, server, "signing")
    who = (await call("GET", api, host))["signatories"][0]["id"]
    url = (await call("POST", f"{api}/invitations", host, {"role": "signatory", "signatory": who}))["url"]
    context, page, errors = await signing_device(browser, url, "ko", PHONE)
    (enrollment,) = (await call("GET", f"{api}/enrollments", host))["enrollments"]
    await call("POST", f"{api}/enrollments/{enrollment['id']}/approve", host, {"code_confirmed": True})
    await page.locator("#consent-box").check()
    sign, decline = page.locator("#sign-button"), page.locator("#decline-button")
    await expect(sign).to_be_enabled()

    await decline.click()
    await expect(page.locator("#decline-box")).to_be_visible()
    await expect(decline).to_have_attribute("aria-expanded", "true")
    await expect(page.locator("#decline-reason")).to_be_focused()
    await expect(sign).to_be_disabled()
    await expect(page.locator("#sign-dock")).to_have_attribute("data-hint", "declining")
    # The reason shows its limit, and one the server would refuse is caught before anything is signed.
    await expect(page.locator("#decline-count")).to_contain_text("0/500")
    await page.locator("#decline-reason").fill("검토 중\u202e입니다")
    await expect(page.locator("#decline-count")).to_contain_text("8/500")
    await page.locator("#decline-confirm").click()
    await expect(page.locator("#decline-reason-error")).to_be_visible()
    await expect(page.locator("#decline-reason")).to_have_attribute("aria-invalid", "true")
    assert (await call("GET", f"{api}/consents", host))["consents"] == []
    await page.screenshot(path=str(shots / "sign-state-declining-ko-390x844.png"))

    # Cancelled (by Escape, from the keyboard): Sign is back, and focus returns to Decline.
    await page.locator("#decline-reason").press("Escape")
    await expect(page.locator("#decline-box")).to_be_hidden()
    await expect(decline).to_be_focused()
    await expect(sign).to_be_enabled()
    await decline.click()
    await expect(sign).to_be_disabled()
    await page.locator("#decline-cancel").click()
    await expect(sign).to_be_enabled()
    await sign.click()
    await expect(page.locator("#confirmation")).to_be_visible()
    consents = (await call("GET", f"{api}/consents", host))["consents"]
    assert [c["decision"] for c in consents] == ["consent"] and "reason" not in consents[0]["statement"]
    assert errors == []
    await context.close()
    await script.close()
