"""Signing out and revoking operator links in real headless Chromium against a real `ceremony serve`.

A person clicks the header's sign-out, or the console's revoke-all and its confirm step; the
tests assert on what the pages then show and on what the browser still holds.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.helpers import SHOTS, Api, Server, new_page

pytestmark = pytest.mark.browser

SIGN_OUT = {"en": "Sign out", "ko": "로그아웃", "zh": "退出登录"}


async def test_sign_out_in_the_header_ends_the_session_and_the_other_tabs_live_timeline(
    server: Server, browser: Any
) -> None:
    call = Api(server, (await browser.new_context()).request)
    host = server.token(server.host_link)
    issued = await call("POST", f"/api/ceremonies/{server.demo_id}/invitations", host, {"role": "observer"})

    context, page, errors = await new_page(browser)
    await page.goto(issued["url"])
    await page.wait_for_url(re.compile(r"/view$"))
    other = await context.new_page()  # the same browser, a second tab on the live timeline
    await other.goto(page.url)
    await expect(other.locator("#live-status")).to_have_attribute("data-state", "live")

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{server.base}/?notice=signed-out")
    await expect(page.locator("#landing-notice")).to_contain_text("You are signed out in this browser")
    await expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert [c["name"] for c in await context.cookies() if c["name"].startswith("cap-")] == []
    # The server ended the other tab's stream: it says so rather than reconnecting.
    await expect(other.locator("#live-status")).to_have_attribute("data-state", "ended")
    await expect(other.locator("#live-status")).to_contain_text("this browser signed out")
    response = await other.reload()
    assert response is not None and response.status == 401
    assert errors == []
    await context.close()


async def test_the_operator_revokes_every_operator_link_from_the_console(server: Server, browser: Any) -> None:
    context, page, errors = await new_page(browser)
    await page.goto(server.operator_link)
    await page.wait_for_url(f"{server.base}/console")
    confirm = page.get_by_role("button", name="Revoke them all and sign out")
    await expect(confirm).to_be_hidden()  # the confirm step: nothing happens on the first click
    await page.get_by_text("Revoke every operator link…").click()
    await confirm.click()
    await page.wait_for_url(f"{server.base}/?notice=operator-links-revoked")
    await expect(page.locator("#landing-notice")).to_contain_text("Every operator link is revoked")
    assert [c["name"] for c in await context.cookies() if c["name"] == "cap-operator"] == []

    response = await page.goto(f"{server.base}/console")
    assert response is not None and response.status == 401
    fetched = await context.request.get(
        f"{server.base}/api/ceremonies", headers={"Authorization": f"Bearer {server.token(server.operator_link)}"}
    )
    assert fetched.status == 403  # the link itself, not only this browser's session
    assert errors == []
    await context.close()


@pytest.mark.parametrize("lang", ["ko", "zh"])
async def test_the_sign_out_fits_the_header_on_a_phone_and_a_desktop(server: Server, browser: Any, lang: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    context, page, errors = await new_page(browser, locale=lang)
    await page.goto(server.host_link)
    await page.wait_for_url(re.compile(r"/host$"))
    for width, height in ((390, 844), (1440, 900)):
        await page.set_viewport_size({"width": width, "height": height})
        button = page.get_by_role("button", name=SIGN_OUT[lang])
        await expect(button).to_be_visible()
        box = await button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
        overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, (lang, width, overflow)
        await page.screenshot(path=str(SHOTS / f"sign-out-{lang}-{width}x{height}.png"))
    assert errors == []
    await context.close()
