"""Live media through our signaling server, with real components only.

A `ceremony serve` subprocess relays the negotiation; headless Chromium (its fake
camera sends a test pattern) runs the venue screen and the host console; an aiortc
venue (signaling.bots.venue_bot) is the other hall. Media flows peer to peer on loopback.
"Sees" means decoded frames: `getStats()` inbound-rtp `framesDecoded` in a browser,
frames returned by the decoder in aiortc.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect

from signaling.bots.peer import ReceiveStats
from signaling.bots.venue_bot import HEIGHT, WIDTH, BotOptions, HostBot, MediaBot, VenueBot
from tests.helpers import Server

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 720}
MEDIA_SECONDS = 45  # ICE, DTLS and the first key frame; generous for a loaded machine
FRAMES = 15  # "sees" = at least this many decoded frames (half a second of video at 30 fps)
BOT_FPS = 15.0

# Per remote peer (venue id, or "host"): decoded video frames and the size of the last one.
INBOUND_VIDEO = """async () => {
  const out = {};
  for (const link of window.__ceremony.peers.values()) {
    const stats = await link.pc.getStats();
    const seen = { frames: 0, width: 0, height: 0, state: link.state };
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') {
        seen.frames += r.framesDecoded || 0;
        if (r.frameWidth) { seen.width = r.frameWidth; seen.height = r.frameHeight; }
      }
    });
    out[link.peer.venue || link.peer.role] = seen;
  }
  return out;
}"""


@dataclass
class Ceremony:
    """The demo ceremony made ready for halls: frozen, rooms open, a venue link per hall."""

    server: Server
    id: str
    host_token: str
    venue_links: dict[str, str]

    @property
    def api(self) -> str:
        return f"{self.server.base}/api/ceremonies/{self.id}"

    async def host_post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.host_token}"}
        async with aiohttp.ClientSession() as http, http.post(f"{self.api}/{path}", json=body, headers=headers) as r:
            answer: dict[str, Any] = await r.json()
            assert r.status < 300, answer
            return answer


async def ready(server: Server) -> Ceremony:
    ceremony = Ceremony(server, server.demo_id, server.token(server.host_link), {})
    await ceremony.host_post("freeze")  # renders the original PDF: a few seconds
    await ceremony.host_post("open")
    for venue in ("chuncheon", "nanjing"):
        issued = await ceremony.host_post("invitations", {"role": "venue", "venue": venue, "label": f"{venue} screen"})
        ceremony.venue_links[venue] = issued["url"]
    return ceremony


async def open_page(browser: Any, link: str, lands_on: str, *, locale: str = "en-US") -> tuple[Any, Page, list[str]]:
    """A fresh browser profile (one capability cookie each) that opens `link`."""
    context = await browser.new_context(viewport=VIEWPORT, locale=locale)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(link)
    await page.wait_for_url(re.compile(lands_on))
    return context, page, errors


async def inbound_video(page: Page) -> dict[str, dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = await page.evaluate(INBOUND_VIDEO)
    return seen


async def wait_for_frames(page: Page, peer: str, at_least: int = FRAMES) -> dict[str, Any]:
    """Poll getStats() until the video from `peer` (a venue id or "host") has decoded `at_least` frames."""
    deadline = time.monotonic() + MEDIA_SECONDS
    seen: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        seen = await inbound_video(page)
        if seen.get(peer, {}).get("frames", 0) >= at_least:
            return seen[peer]
        await asyncio.sleep(0.25)
    raise AssertionError(f"no {at_least} decoded frames from {peer} within {MEDIA_SECONDS} s; saw {seen}")


async def received(bot: MediaBot, peer: str, at_least: int = FRAMES) -> ReceiveStats:
    """Wait until an aiortc bot has decoded `at_least` video frames from `peer` (a venue id or "host")."""
    async with asyncio.timeout(MEDIA_SECONDS):
        stats = (await bot.wait_link(peer, within=MEDIA_SECONDS)).stats
        await stats.video_frames.reached(at_least)
    return stats


async def admit_from_console(host: Page, hall_name: str) -> None:
    """The host sees the hall knock in the lobby list and admits it."""
    waiting = host.locator("#lobby-list li", has_text=hall_name)
    await expect(waiting).to_be_visible(timeout=15_000)
    await waiting.get_by_role("button", name="Admit").click()
    await expect(waiting).to_be_hidden()


async def test_browser_hall_and_aiortc_hall_see_each_other_and_the_host_sees_both(server: Server, browser: Any) -> None:
    ceremony = await ready(server)
    host_context, host, host_errors = await open_page(browser, server.host_link, r"/host$")
    await expect(host.locator("#signal-state")).to_have_attribute("data-state", "live")
    await expect(host.locator("#halls-empty")).to_be_visible()

    # The browser hall knocks and waits in the lobby until the host admits it.
    venue_context, venue, venue_errors = await open_page(browser, ceremony.venue_links["chuncheon"], r"/venue$")
    lobby = venue.locator("#lobby")
    await expect(lobby).to_be_visible()
    await expect(lobby).to_contain_text("Waiting for the host to admit this hall")
    await expect(venue.locator("#signal-state")).to_have_attribute("data-state", "live")
    await admit_from_console(host, "Sky Convention, 2F Convention Hall")
    await expect(lobby).to_be_hidden()

    # The aiortc hall does the same.
    bot = VenueBot(ceremony.venue_links["nanjing"], BotOptions(fps=BOT_FPS, name="nanjing-bot"))
    welcome = await bot.start()
    try:
        assert welcome.venue == "nanjing" and not welcome.admitted
        await admit_from_console(host, "Suning Novotel, Zhonghua Hall B")

        # (a) The halls see each other: the browser decodes the bot's 640x360 picture ...
        from_bot = await wait_for_frames(venue, "nanjing")
        assert (from_bot["width"], from_bot["height"]) == (WIDTH, HEIGHT)
        # ... and the bot decodes the browser's fake camera.
        from_browser = await received(bot, "chuncheon")
        assert from_browser.width > 0
        # The other hall fills the screen, with its name, connected.
        tile = venue.locator('#remotes .remote-tile[data-video="on"]')
        await expect(tile).to_have_count(1)
        await expect(tile).to_contain_text("Suning Novotel, Zhonghua Hall B")
        await expect(tile).to_have_attribute("data-state", "connected")
        await expect(venue.locator("#media-state")).to_have_attribute("data-state", "connected")
        await expect(venue.locator("#screen-empty")).to_be_hidden()

        # (b) The host console shows both halls live.
        await wait_for_frames(host, "chuncheon")
        from_bot_at_host = await wait_for_frames(host, "nanjing")
        assert (from_bot_at_host["width"], from_bot_at_host["height"]) == (WIDTH, HEIGHT)
        halls = host.locator('#hall-grid .role-venue[data-video="on"]')
        await expect(halls).to_have_count(2)
        await expect(host.locator("#hall-grid")).to_contain_text("Sky Convention, 2F Convention Hall")
        await expect(host.locator("#hall-grid")).to_contain_text("Suning Novotel, Zhonghua Hall B")
        await expect(host.locator("#lobby-box")).to_be_hidden()
        # The host's fake camera reaches both halls too.
        await wait_for_frames(venue, "host")
        await received(bot, "host")
    finally:
        await bot.stop()
    # The bot left: its tile goes, on the venue screen and in the console.
    await expect(venue.locator("#remotes .remote-tile")).to_have_count(0)
    await expect(venue.locator("#screen-empty")).to_be_visible()
    await expect(host.locator("#hall-grid .role-venue")).to_have_count(1)
    assert host_errors == [] and venue_errors == []
    await venue_context.close()
    await host_context.close()


async def test_venue_screen_resumes_after_a_socket_drop_and_shows_the_stage_it_missed(
    server: Server, browser: Any
) -> None:
    ceremony = await ready(server)
    # Admission by a host signaling client this time; it also receives the hall's video.
    host = HostBot(server.host_link)
    await host.start()
    try:
        context, venue, errors = await open_page(browser, ceremony.venue_links["chuncheon"], r"/venue$", locale="ko-KR")
        await expect(venue.locator("#lobby")).to_be_hidden(timeout=15_000)
        stage = venue.locator("#segment-now")
        await expect(stage).to_have_text("곧 시작합니다")
        hall = await received(host, "chuncheon")
        session = await venue.evaluate("window.__ceremony.signal.session")
        assert await venue.evaluate("window.__ceremony.signal.resumes") == 0

        # The hall's network goes away and its socket with it; while it is away the host
        # starts the first segment.
        await context.set_offline(True)
        await venue.evaluate("window.__ceremony.signal.ws.close()")
        await expect(venue.locator("#signal-state")).to_have_attribute("data-state", "reconnecting")
        await ceremony.host_post("segment", {"segment": "next"})
        await asyncio.sleep(1.5)
        # Still cut off (its retries fail), so nothing reached the page meanwhile.
        assert await venue.evaluate("window.__ceremony.signal.state") == "reconnecting"
        await expect(stage).to_have_text("곧 시작합니다")

        # Back online: the same session resumes and the missed update arrives.
        await context.set_offline(False)
        await expect(stage).to_have_text("개회 및 참석자 소개", timeout=30_000)
        await expect(venue.locator("#signal-state")).to_have_attribute("data-state", "live")
        assert await venue.evaluate("window.__ceremony.signal.session") == session
        assert await venue.evaluate("window.__ceremony.signal.resumes") == 1
        # Media never depended on the socket: the host still receives the hall.
        await received(host, "chuncheon", hall.video_frames.value + FRAMES)
        assert errors == []
        await context.close()
    finally:
        await host.stop()


async def test_host_rejects_a_hall_then_admits_it_and_ends_the_session(server: Server, browser: Any) -> None:
    ceremony = await ready(server)
    host_context, host, host_errors = await open_page(browser, server.host_link, r"/host$")
    await expect(host.locator("#signal-state")).to_have_attribute("data-state", "live")
    venue_context, venue, venue_errors = await open_page(browser, ceremony.venue_links["chuncheon"], r"/venue$")
    hall = "Sky Convention, 2F Convention Hall"

    # Rejected: the hall's screen says so and stops (no reconnecting in a loop).
    waiting = host.locator("#lobby-list li", has_text=hall)
    await waiting.get_by_role("button", name="Reject").click()
    await expect(host.locator("#lobby-box")).to_be_hidden()
    ended = venue.locator("#ended")
    await expect(ended).to_be_visible()
    await expect(ended).to_contain_text("The host did not admit this hall")
    await expect(venue.locator("#signal-state")).to_have_attribute("data-state", "closed")

    # The hall tries again and is admitted this time.
    await venue.get_by_role("button", name="Connect again").click()
    await admit_from_console(host, hall)
    await expect(venue.locator("#lobby")).to_be_hidden()
    await wait_for_frames(host, "chuncheon")
    await expect(host.locator('#hall-grid .role-venue[data-video="on"]')).to_have_count(1)

    # Ending the session disconnects everyone; the host can start a new one.
    await host.get_by_text("End session…").click()
    await host.get_by_role("button", name="End the session").click()
    await expect(ended).to_be_visible()
    await expect(ended).to_contain_text("The host ended the session.")
    await expect(host.locator("#halls-alert")).to_contain_text("The session was ended")
    await expect(host.locator("#hall-grid .remote-tile")).to_have_count(0)
    await host.get_by_role("button", name="Join again").click()
    await expect(host.locator("#signal-state")).to_have_attribute("data-state", "live")
    await expect(venue.locator("#signal-state")).to_have_attribute("data-state", "closed")
    assert host_errors == [] and venue_errors == []
    await venue_context.close()
    await host_context.close()
