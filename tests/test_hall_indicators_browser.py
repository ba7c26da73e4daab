"""The halls' tiles and the venue big screen (issue 12, "Halls"), in real headless Chromium.

A `ceremony serve` subprocess; the host console and two venue screens, each a Chromium
profile whose fake camera and microphone send a test pattern and a beep. What a tile says
is checked against what the receiving browser's own getStats() reports, and against what
the far side did (a mute button pressed, a key signed, the record sealed, the session ended).
Every wait is a guard against a hang, never an assertion about speed.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.helpers import SHOTS, Server, check_page
from web.demo.scripted import Api as ScriptedApi
from web.demo.scripted import ScriptedSignatory

pytestmark = pytest.mark.browser

HALL = {"width": 1280, "height": 720}
CONSOLE = {"width": 1440, "height": 900}
MEDIA_MS = 60_000  # ICE, DTLS, the first key frame and a few seconds of stats, on a loaded machine
CHUNCHEON = "Sky Convention, 2F Convention Hall"
NANJING = "Suning Novotel, Zhonghua Hall B"
NANJING_KO = "쑤닝 노보텔 중화청 B"

# The decoded size of the video from each remote peer (its venue id, or "host"), as getStats() says.
DECODED = """() => {
  const out = {};
  return Promise.all([...window.__ceremony.peers.values()].map(async (link) => {
    const stats = await link.pc.getStats();
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video' && r.frameWidth) {
        out[link.peer.venue || link.peer.role] = [r.frameWidth, r.frameHeight];
      }
    });
  })).then(() => out);
}"""


async def host_call(server: Server, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {server.token(server.host_link)}"}
    url = f"{server.base}/api/ceremonies/{server.demo_id}{path}"
    async with aiohttp.ClientSession() as http, http.request(method, url, json=body, headers=headers) as r:
        answer = await r.json()
        assert r.status < 300, answer
        return answer


async def open_rooms(server: Server) -> dict[str, str]:
    """Freeze and open the demo ceremony; a venue link for each hall."""
    await host_call(server, "POST", "/freeze")
    await host_call(server, "POST", "/open")
    return {
        venue: (await host_call(server, "POST", "/invitations", {"role": "venue", "venue": venue}))["url"]
        for venue in ("chuncheon", "nanjing")
    }


async def open_page(
    browser: Any, link: str, lands_on: str, locale: str, viewport: dict[str, int]
) -> tuple[Page, list[str]]:
    context = await browser.new_context(viewport=viewport, locale=locale)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(link)
    await page.wait_for_url(re.compile(lands_on))
    return page, errors


async def admit(host: Page, hall: str) -> None:
    waiting = host.locator("#lobby-list li", has_text=hall)
    await expect(waiting).to_be_visible(timeout=20_000)
    await waiting.get_by_role("button", name="Admit").click()
    await expect(waiting).to_be_hidden()


async def until(what: str, probe: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool]) -> Any:
    """Poll `probe` until `ok(value)`; a guard against a hang, not a timing assertion."""
    deadline = time.monotonic() + MEDIA_MS / 1000
    value = None
    while time.monotonic() < deadline:
        value = await probe()
        if ok(value):
            return value
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what}: last saw {value!r}")


async def test_tiles_show_mute_speaking_quality_and_pin_on_both_halls_and_the_console(
    server: Server, browser: Any
) -> None:
    links = await open_rooms(server)
    host, host_errors = await open_page(browser, server.host_link, r"/host$", "en-US", CONSOLE)
    chuncheon, chuncheon_errors = await open_page(browser, links["chuncheon"], r"/venue$", "ko-KR", HALL)
    await admit(host, CHUNCHEON)
    nanjing, nanjing_errors = await open_page(browser, links["nanjing"], r"/venue$", "zh-CN", HALL)
    await admit(host, NANJING)

    # Everyone sees both halls' pictures.
    at_host = {
        v: host.locator(f'#hall-grid .remote-tile[data-video="on"]:has-text("{n}")')
        for v, n in (("chuncheon", CHUNCHEON), ("nanjing", NANJING))
    }
    for hall_tile in at_host.values():
        await expect(hall_tile).to_have_count(1, timeout=MEDIA_MS)
    seen_by_chuncheon = chuncheon.locator('#remotes .remote-tile[data-video="on"]')
    seen_by_nanjing = nanjing.locator('#remotes .remote-tile[data-video="on"]')
    await expect(seen_by_chuncheon).to_have_count(1, timeout=MEDIA_MS)
    await expect(seen_by_nanjing).to_have_count(1, timeout=MEDIA_MS)

    # The quality badge: a level in words and the size and frame rate getStats() reports.
    badge = at_host["chuncheon"].locator(".quality-badge")
    await expect(badge).to_be_visible(timeout=MEDIA_MS)
    await expect(badge.locator(".q-word")).to_have_text(re.compile(r"^(Good|Fair|Poor)$"))
    await expect(badge).to_have_attribute("data-quality", re.compile(r"^(good|fair|poor)$"))

    async def badge_and_stats() -> tuple[list[int], list[int] | None, str]:
        size = [int(await badge.get_attribute("data-width") or 0), int(await badge.get_attribute("data-height") or 0)]
        decoded = (await host.evaluate(DECODED)).get("chuncheon")
        return size, decoded, await badge.inner_text()

    size, _, text = await until(
        "the badge shows the decoded size", badge_and_stats, lambda v: v[0][0] > 0 and v[0] == v[1]
    )
    assert f"{size[0]}×{size[1]}" in text and re.search(r"\b\d+ fps\b", text) and "% lost" in text, text
    assert int(await badge.get_attribute("data-fps") or 0) > 0
    # In Korean on the other hall's screen.
    await expect(seen_by_nanjing.locator(".q-word")).to_have_text(re.compile(r"^连接(良好|一般|较差)$"))
    await expect(seen_by_chuncheon.locator(".q-detail")).to_contain_text(re.compile(r"초당 \d+프레임"))

    # Speaking: the fake microphone's beep reaches the console and the other hall.
    await expect(at_host["chuncheon"]).to_have_attribute("data-speaking", "true", timeout=MEDIA_MS)
    await expect(at_host["chuncheon"].locator(".tile-speaking")).to_have_text("Speaking")
    await expect(seen_by_nanjing).to_have_attribute("data-speaking", "true", timeout=MEDIA_MS)
    await expect(seen_by_nanjing.locator(".tile-speaking")).to_contain_text("正在发言")

    # Nanjing mutes its microphone: Chuncheon's screen and the console show it, and it no longer speaks.
    nanjing_at_host = at_host["nanjing"]
    await expect(nanjing_at_host.locator(".mic-off")).to_be_hidden()
    await nanjing.locator("#mic-toggle").click()
    await expect(seen_by_chuncheon.locator(".mic-off")).to_be_visible()
    await expect(seen_by_chuncheon.locator(".mic-off")).to_have_text("마이크 꺼짐")
    await expect(seen_by_chuncheon).to_have_attribute("data-mic", "off")
    await expect(nanjing_at_host.locator(".mic-off")).to_have_text("Mic off")
    await expect(nanjing_at_host).to_have_attribute("data-speaking", "false", timeout=MEDIA_MS)
    await expect(nanjing_at_host.locator(".tile-speaking")).to_be_hidden()
    # ... and its camera: the picture is said to be off, not "waiting".
    await nanjing.locator("#cam-toggle").click()
    await expect(seen_by_chuncheon.locator(".cam-off")).to_have_text("카메라 꺼짐")
    await expect(seen_by_chuncheon.locator(".tile-waiting")).to_have_text("이 홀은 카메라를 껐습니다")
    await expect(seen_by_chuncheon.locator(".tile-waiting")).to_be_visible()
    await expect(nanjing_at_host.locator(".cam-off")).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    await chuncheon.screenshot(path=str(SHOTS / "venue-ko-other-hall-muted.png"))
    await host.screenshot(path=str(SHOTS / "host-halls-muted.png"))
    # Back on: the marks go.
    await nanjing.locator("#mic-toggle").click()
    await nanjing.locator("#cam-toggle").click()
    await expect(seen_by_chuncheon.locator(".mic-off")).to_be_hidden()
    await expect(nanjing_at_host.locator(".cam-off")).to_be_hidden()
    await expect(nanjing_at_host).to_have_attribute("data-mic", "on")

    # Pin, from the keyboard: pressed, the tile spans the grid; pinning the other unpins it.
    pin = at_host["chuncheon"].locator(".tile-pin")
    await expect(pin).to_have_attribute("aria-pressed", "false")
    await expect(pin).to_have_accessible_name(f"Enlarge {CHUNCHEON}")
    before = await at_host["chuncheon"].bounding_box()
    await pin.focus()
    await host.keyboard.press("Enter")
    await expect(pin).to_have_attribute("aria-pressed", "true")
    after = await at_host["chuncheon"].bounding_box()
    assert before and after and after["width"] > before["width"] * 1.5, (before, after)
    await check_page(host, "a hall pinned")
    other = nanjing_at_host.locator(".tile-pin")
    await other.focus()
    await host.keyboard.press("Space")
    await expect(other).to_have_attribute("aria-pressed", "true")
    await expect(pin).to_have_attribute("aria-pressed", "false")
    await host.keyboard.press("Space")
    await expect(other).to_have_attribute("aria-pressed", "false")
    # On a hall's screen too (the other hall, larger than the row of the rest).
    venue_pin = seen_by_chuncheon.locator(".tile-pin")
    await venue_pin.click()
    await expect(venue_pin).to_have_attribute("aria-pressed", "true")
    await expect(venue_pin).to_have_accessible_name(f"{NANJING_KO} 크게 보기")
    await chuncheon.screenshot(path=str(SHOTS / "venue-ko-tiles-1280x720.png"))
    await nanjing.screenshot(path=str(SHOTS / "venue-zh-tiles-1280x720.png"))

    assert host_errors == [] and chuncheon_errors == [] and nanjing_errors == []


async def test_the_big_screen_counts_signatures_seals_and_ends_with_the_camera_released(
    server: Server, browser: Any
) -> None:
    links = await open_rooms(server)
    host, host_errors = await open_page(browser, server.host_link, r"/host$", "en-US", CONSOLE)
    venue, venue_errors = await open_page(
        browser, links["chuncheon"], r"/venue$", "ko-KR", {"width": 1920, "height": 1080}
    )
    await admit(host, CHUNCHEON)
    await expect(venue.locator("#lobby")).to_be_hidden()
    await expect(venue.locator("#self-view")).to_have_attribute("data-video", "on", timeout=MEDIA_MS)
    count = venue.locator("#sign-count")
    await expect(count).to_have_text("6명 중 0명 서명")
    # A hall TV's side panel is read from across the room: no 14 px text at 1920x1080.
    size = await venue.evaluate("parseFloat(getComputedStyle(document.querySelector('#progress li')).fontSize)")
    assert size >= 20, size

    # Two signatories sign (scripted devices, as `ceremony demo` does): the count follows, live.
    detail = await host_call(server, "GET", "")
    async with aiohttp.ClientSession() as http:
        for n, person in enumerate(detail["signatories"][:2], start=1):
            link = await host_call(server, "POST", "/invitations", {"role": "signatory", "signatory": person["id"]})
            signer = ScriptedSignatory(ScriptedApi(http, server.base, server.demo_id, link["token"]), person["id"])
            enrollment = await signer.enroll()
            await host_call(server, "POST", f"/enrollments/{enrollment}/approve", {"code_confirmed": True})
            if n == 1:
                await host_call(server, "POST", "/segment", {"segment": "signing"})
            await signer.wait_for_certificate()
            await signer.decide()
            await expect(count).to_have_text(f"6명 중 {n - 1}명 서명")  # consent alone is not a signature
            await signer.sign_pdf()
            await expect(count).to_have_text(f"6명 중 {n}명 서명")
            await expect(count).to_have_attribute("data-signed", str(n))

    # Sealed: the moment takes the screen, with the count and the record's SHA-256 ...
    await host_call(server, "POST", "/seal", {"absent_ok": True})
    moment = venue.locator("#seal-moment-title")
    await expect(moment).to_be_visible()
    await expect(moment).to_have_text(re.compile("서명 및 봉인 완료"))
    await expect(venue.locator("#seal-count")).to_have_text("6명 중 2명 서명")
    await expect(venue.locator("#venue-body")).to_be_hidden()
    shown = await venue.locator("#record-sha").get_attribute("data-sha256")
    assert shown and re.fullmatch(r"[0-9a-f]{64}", shown)
    for width, height in ((1920, 1080), (3840, 2160), (1280, 720)):
        await venue.set_viewport_size({"width": width, "height": height})
        await venue.screenshot(path=str(SHOTS / f"venue-ko-sealed-{width}x{height}.png"))
        box = await venue.locator("#record-sha").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
    # ... the same value the archive shows.
    archivist = (await host_call(server, "POST", "/invitations", {"role": "archivist"}))["url"]
    archive, archive_errors = await open_page(browser, archivist, r"/archive$", "ko-KR", CONSOLE)
    await expect(archive.locator("#record-sha")).to_have_text(shown)
    # The video comes back on request; the seal stays above it as a band.
    toggle = venue.locator("#seal-view")
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(venue.locator("#venue-body")).to_be_visible()
    await expect(venue.locator("#seal-band")).to_be_visible()
    await check_page(venue, "sealed, as a band")

    # The host ends the session: one state, nothing left running.
    assert await venue.evaluate("[...window.__ceremony.tracks].filter((t) => t.readyState === 'live').length") >= 2
    await host.get_by_text("End session…").click()
    await host.get_by_role("button", name="End the session").click()
    ended = venue.locator("#ended")
    await expect(ended).to_be_visible()
    await expect(ended).to_contain_text("주최자가 영상 연결을 종료했습니다")
    await expect(venue.locator("#ended-released")).to_be_visible()
    for indicator in ("#signal-state", "#media-state"):
        await expect(venue.locator(indicator)).to_be_hidden()
    await expect(venue.locator(".controls-bar")).to_be_hidden()
    states = await venue.evaluate("[...window.__ceremony.tracks].map((t) => t.kind + ':' + t.readyState)")
    assert sorted(states) == ["audio:ended", "video:ended"], states
    assert await venue.evaluate("window.__ceremony.peers.size") == 0
    assert await venue.evaluate("document.getElementById('self-video').srcObject") is None
    await venue.set_viewport_size({"width": 1920, "height": 1080})
    await venue.screenshot(path=str(SHOTS / "venue-ko-ended-1920x1080.png"))
    # The console's own camera goes off too.
    await expect(host.locator("#host-self")).to_be_hidden()
    assert host_errors == [] and venue_errors == [] and archive_errors == []
