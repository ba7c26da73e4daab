"""Downloads in real headless Chromium (issue 12): the signing page offers the signed PDF once the
signatory has signed, and the record's PDFs once sealed; the archive page offers both beside the zip.
Screenshots of both pages in ko and zh, on a phone and on a desktop, go to SHOTS.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.helpers import FREEZE_MS, SHOTS, Api, Server, new_page, open_demo

pytestmark = pytest.mark.browser

SIZES = {"390x844": {"width": 390, "height": 844}, "1440x900": {"width": 1440, "height": 900}}
LOCALES = {"ko": "ko-KR", "zh": "zh-CN"}


async def _fetched(page: Any, href: str) -> tuple[int, bytes, dict[str, str]]:
    """What the link gives this browser (its cookies), as a click on it would download."""
    response = await page.context.request.get(href)
    return response.status, await response.body(), response.headers


async def test_the_signing_page_and_the_archive_page_offer_the_signed_pdfs(browser: Any, server: Server) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    script_context = await browser.new_context()
    call = Api(server, script_context.request)
    cid = server.demo_id
    api, host = await open_demo(call, server, "signing")
    first = (await call("GET", api, host))["signatories"][0]["id"]
    link = (await call("POST", f"{api}/invitations", host, {"role": "signatory", "signatory": first}))["url"]
    archivist = (await call("POST", f"{api}/invitations", host, {"role": "archivist"}))["url"]

    context, signer, errors = await new_page(browser, "ko-KR")
    await signer.goto(link)
    await signer.wait_for_url(re.compile(r"/sign$"))
    await expect(signer.locator("#enrollment-state")).to_have_attribute("data-status", "pending")
    await expect(signer.locator("#downloads")).to_be_hidden()
    (pending,) = (await call("GET", f"{api}/enrollments", host))["enrollments"]
    await call("POST", f"{api}/enrollments/{pending['id']}/approve", host, {"code_confirmed": True})
    await expect(signer.locator("#enrollment-state")).to_have_attribute("data-status", "approved")
    await signer.locator("#consent-box").check()
    await signer.locator("#sign-button").click()

    # Signed (consent and PDF): the signed PDF is offered, the record's files not yet.
    signed = signer.locator("#signed-download")
    await expect(signed).to_be_visible(timeout=FREEZE_MS)
    await expect(signer.locator("#record-signed-download")).to_be_hidden()
    status, body, headers = await _fetched(signer, server.base + (await signed.get_attribute("href") or ""))
    assert status == 200
    me = await call("GET", f"{api}/me", link.split("#", 1)[1])
    assert hashlib.sha256(body).hexdigest() == me["pdf_signature"]["sha256"] == headers["x-document-sha256"]
    status, _, _ = await _fetched(signer, server.base + f"{api}/record/signed.pdf")
    assert status == 409  # not sealed yet

    await call("POST", f"{api}/seal", host, {"absent_ok": True})
    for button in ("#record-signed-download", "#completion-download"):
        await expect(signer.locator(button)).to_be_visible(timeout=FREEZE_MS)
    for name, href in (
        ("mou-signed", f"{api}/record/signed.pdf"),
        ("certificate-of-completion", f"{api}/record/completion.pdf"),
    ):
        status, body, headers = await _fetched(signer, server.base + href)
        assert status == 200 and body.startswith(b"%PDF-")
        assert headers["x-content-sha256"] == hashlib.sha256(body).hexdigest()
        assert f"{name}-{cid}.pdf" in headers["content-disposition"]
    for lang in LOCALES:
        for size, viewport in SIZES.items():
            await signer.set_viewport_size(viewport)
            if lang != "ko" and not signer.url.endswith(f"?lang={lang}"):
                await signer.goto(f"{server.base}/c/{cid}/sign?lang={lang}")
                await expect(signer.locator("html")).to_have_attribute("lang", re.compile(rf"^{lang}"))
                await expect(signer.locator("#completion-download")).to_be_visible(timeout=FREEZE_MS)
            await signer.locator("#downloads").scroll_into_view_if_needed()
            await signer.screenshot(path=str(SHOTS / f"downloads-sign-{lang}-{size}.png"))
    assert not errors, errors
    await context.close()

    # The archive page: the zip, and beside it the signed PDF and the certificate.
    for lang, locale in LOCALES.items():
        archive_context, page, archive_errors = await new_page(browser, locale)
        await page.goto(archivist)
        await page.wait_for_url(re.compile(rf"/c/{cid}/archive$"))
        for button, name in (
            ("#signed-pdf-download", "mou-signed"),
            ("#completion-download", "certificate-of-completion"),
        ):
            target = page.locator(button)
            await expect(target).to_be_visible()
            status, body, headers = await _fetched(page, server.base + (await target.get_attribute("href") or ""))
            assert status == 200 and body.startswith(b"%PDF-"), button
            assert f"{name}-{cid}.pdf" in headers["content-disposition"]
        for size, viewport in SIZES.items():
            await page.set_viewport_size(viewport)
            await page.locator("#record-download").scroll_into_view_if_needed()
            await page.screenshot(path=str(SHOTS / f"downloads-archive-{lang}-{size}.png"))
        assert not archive_errors, archive_errors
        await archive_context.close()

    # Tables: the page language's zone on the first line (KST for ko, CST for zh), the others after.
    for lang, label in (("ko", "KST"), ("zh", "CST")):
        list_context, page, _ = await new_page(browser, LOCALES[lang])
        await page.goto(archivist)
        await page.wait_for_url(re.compile(rf"/c/{cid}/archive$"))
        cell = page.locator("#record-signatories .zoned-lines").first
        await expect(cell.locator(".zt-label").first).to_have_text(label)
        await expect(cell.locator(".zt-label")).to_have_count(3)
        await list_context.close()

    # The timeline names whose key was approved, not just "key approved".
    (signatory,) = [s for s in (await call("GET", api, host))["signatories"] if s["id"] == first]
    name = signatory["name"]["en"] if isinstance(signatory["name"], dict) else signatory["name"]
    console_context, console, _ = await new_page(browser, "en-US")
    await console.goto(server.host_link)
    await console.wait_for_url(re.compile(r"/host$"))
    approved = console.locator('#timeline li[data-type="enrollment.approved"] .tl-label')
    await expect(approved).to_have_count(1)
    await expect(approved).to_contain_text(name)
    await console_context.close()
    await script_context.close()
