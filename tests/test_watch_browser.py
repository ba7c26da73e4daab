"""An observer's page plays the live broadcast with hls.js, in real headless Chromium.

Debian's ffmpeg makes a real fragmented-MP4 HLS programme (H.264 + AAC, 2 s segments) of a
green marker frame; each segment is put where the recorder puts it and logged as the recorder
logs it (RecordSegment), so the page plays exactly what the real routes serve from the log.
Then the host console's "Recording and broadcast" panel: the tracks, the viewer, pause.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from ceremony.commands import Freeze, OpenRooms, RecordSegment
from ceremony.events import Role
from tests.helpers import SHOTS, Api, Server, new_page
from web.app import create_app
from web.appkeys import SERVICE
from web.demo.definition import demo_definition
from web.settings import Settings

pytestmark = pytest.mark.browser

FFMPEG = "/usr/bin/ffmpeg"
MARKER = (0x20, 0xC0, 0x40)  # the programme's colour: what the canvas must show
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1440, "height": 900}
LOCALES = {"ko": "ko-KR", "zh": "zh-CN"}
T0 = datetime(2026, 5, 29, 1, 0, tzinfo=UTC)


@pytest.fixture
def shots() -> Path:
    path = SHOTS / "watch"
    path.mkdir(parents=True, exist_ok=True)
    return path


def programme_hls(out: Path, seconds: int = 8) -> list[tuple[Path, float]]:
    """A real fMP4 HLS of a green frame and a tone: [(file, duration)], the init segment first (duration 0)."""
    assert shutil.which(FFMPEG), "Debian's ffmpeg is missing: `make setup` installs it"
    out.mkdir(parents=True)
    r, g, b = MARKER
    command = [
        FFMPEG, "-hide_banner", "-loglevel", "error",
        "-f", "lavfi", "-i", f"color=c=0x{r:02x}{g:02x}{b:02x}:size=320x240:rate=15",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(seconds),
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0",
        "-c:a", "aac", "-b:a", "64k",
        "-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "2", "-hls_list_size", "0",
        "-hls_fmp4_init_filename", "init.mp4", "-start_number", "1",
        "-hls_segment_filename", str(out / "%06d.m4s"), str(out / "ffmpeg.m3u8"),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    playlist = (out / "ffmpeg.m3u8").read_text().splitlines()
    durations = [float(line.split(":", 1)[1].rstrip(",")) for line in playlist if line.startswith("#EXTINF:")]
    files = [out / line for line in playlist if line.endswith(".m4s")]
    assert len(files) == len(durations) >= 3, playlist
    return [(out / "init.mp4", 0.0), *zip(files, durations, strict=True)]


async def record_programme(app: Any, ceremony: str, media: Path, made: list[tuple[Path, float]]) -> None:
    """Each file where the recorder writes it, then into the log, in order (as web/recording.py does)."""
    folder = media / ceremony / "programme"
    folder.mkdir(parents=True)
    start = 0.0
    for index, (path, duration) in enumerate(made):
        name = "init.mp4" if index == 0 else f"{index:06d}.m4s"
        data = path.read_bytes()
        (folder / name).write_bytes(data)
        command = RecordSegment(
            track="programme",
            index=index,
            name=f"programme/{name}",
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            media_start=round(start, 6),
            duration=round(duration, 6),
            wall_start=T0 + timedelta(seconds=start),
        )
        await app[SERVICE].execute(ceremony, command, "recorder")
        start += duration


async def open_link(browser: Any, base: str, ceremony: str, token: str, lang: str, viewport: dict[str, int]) -> Any:
    context = await browser.new_context(viewport=viewport, locale=LOCALES[lang])
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{base}/c/{ceremony}/enter?lang={lang}#{token}")
    await page.wait_for_url(re.compile(r"/(view|host)$"))
    return context, page, errors


async def frame_colour(page: Page) -> list[int]:
    """The video's current frame drawn to a canvas: the mean RGB of its middle."""
    colour: list[int] = await page.evaluate(
        """() => {
          const video = document.getElementById('watch-video');
          const canvas = document.createElement('canvas');
          canvas.width = video.videoWidth;
          canvas.height = video.videoHeight;
          const ctx = canvas.getContext('2d');
          ctx.drawImage(video, 0, 0);
          const {data} = ctx.getImageData(canvas.width / 4, canvas.height / 4, canvas.width / 2, canvas.height / 2);
          const sum = [0, 0, 0];
          for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) sum[c] += data[i + c];
          return sum.map((s) => Math.round(s / (data.length / 4)));
        }"""
    )
    return colour


async def test_an_observer_plays_the_live_programme_and_the_host_sees_it_recorded(
    aiohttp_client: Any, browser: Any, tmp_path: Path, original_pdf: bytes, shots: Path
) -> None:
    made = programme_hls(tmp_path / "ffmpeg")
    data = tmp_path / "data"
    app = create_app(Settings(data_dir=data, create_demo=False))
    client = await aiohttp_client(app)
    base = str(client.make_url("")).rstrip("/")
    service = app[SERVICE]
    state = await service.create(replace(demo_definition(), recording=True), "operator")
    sha = await service.store_document(original_pdf)
    await service.execute(state.id, Freeze(document_sha256=sha, document_size=len(original_pdf)), "test")
    await service.execute(state.id, OpenRooms(), "test")
    await record_programme(app, state.id, data / "media", made)
    observer = (await service.issue_link(state.id, Role.OBSERVER, "t")).token
    host = (await service.issue_link(state.id, Role.HOST, "t")).token

    played_past = "(t) => document.getElementById('watch-video').currentTime > t"
    for lang in ("ko", "zh"):
        for viewport in (PHONE, DESK):
            context, page, errors = await open_link(browser, base, state.id, observer, lang, viewport)
            status = page.locator("#watch-status")
            await expect(status).to_have_attribute("data-state", "live", timeout=15_000)
            # hls.js plays it: the time moves on, and the frame is the programme's green, not black.
            await page.wait_for_function(played_past, arg=0.5, timeout=30_000)
            moved_from = await page.evaluate("document.getElementById('watch-video').currentTime")
            await page.wait_for_function(played_past, arg=moved_from + 0.5, timeout=30_000)
            red, green, blue = await frame_colour(page)
            assert green > 150 and red < 90 and blue < 110, (red, green, blue)
            assert await page.evaluate("typeof window.Hls") == "function"  # from our static files
            await expect(page.locator(".recording-notice")).to_be_visible()
            await expect(page.locator("#watch-last .zt-label").first).to_have_text("KST" if lang == "ko" else "CST")
            size = f"{viewport['width']}x{viewport['height']}"
            await page.screenshot(path=str(shots / f"observer-{lang}-{size}.png"))
            overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            assert await page.evaluate(overflow) <= 0
            assert errors == []
            await context.close()

    for lang in ("ko", "zh"):
        for viewport in (PHONE, DESK):
            context, page, errors = await open_link(browser, base, state.id, host, lang, viewport)
            panel = page.locator("#rec-panel")
            programme = panel.locator('#rec-tracks tr[data-track="programme"]')
            await expect(programme).to_contain_text(f"programme/{len(made) - 1:06d}.m4s", timeout=15_000)
            await expect(panel.locator("#rec-state")).to_have_attribute("data-state", "live", timeout=15_000)
            await expect(panel.locator("#rec-rtmp li")).to_have_count(1)  # "none configured"
            await panel.scroll_into_view_if_needed()
            size = f"{viewport['width']}x{viewport['height']}"
            await page.screenshot(path=str(shots / f"host-panel-{lang}-{size}.png"))
            if viewport is DESK and lang == "ko":
                # Pausing the broadcast: the observers' state says so; the recording has no such button.
                await panel.locator("#rec-pause").click()
                await expect(panel.locator("#rec-state")).to_have_attribute("data-state", "paused")
                await expect(panel.locator("#rec-pause")).to_have_attribute("aria-pressed", "true")
                await page.screenshot(path=str(shots / f"host-panel-paused-{lang}-{size}.png"))
                await panel.locator("#rec-pause").click()
                await expect(panel.locator("#rec-state")).to_have_attribute("data-state", "live")
                await panel.locator("#rec-public").check()
                await expect(panel.locator("#rec-public-url")).to_have_value(f"{base}/c/{state.id}/watch")
                # The public link, in a browser holding no link at all: the same player.
                anyone_context, anyone, anyone_errors = await new_page(browser, locale="ko-KR")
                await anyone.goto(f"{base}/c/{state.id}/watch?lang=ko")
                await expect(anyone.locator("#watch-status")).to_have_attribute("data-state", "live", timeout=15_000)
                await anyone.wait_for_function(played_past, arg=0.5, timeout=30_000)
                await anyone.screenshot(path=str(shots / "public-ko-1280x900.png"))
                assert anyone_errors == []
                await anyone_context.close()
            assert errors == []
            await context.close()


async def test_the_editor_sets_recording_and_pages_announce_it_before_joining_or_consenting(
    server: Server, browser: Any
) -> None:
    context, page, errors = await new_page(browser, locale="ko-KR")
    await page.goto(server.operator_link)
    await page.wait_for_url(f"{server.base}/console")
    await page.goto(f"{server.base}/console/new?lang=ko")
    box = page.locator('input[type="checkbox"][data-path="recording"]')
    await expect(box).not_to_be_checked()
    await page.locator("#start-demo").click()
    await expect(box).to_be_checked()  # the demo is recorded
    await page.locator("#submit").click()
    await expect(page.locator("#created")).to_be_visible(timeout=30_000)
    host_link = await page.locator("#host-link").input_value()
    ceremony = host_link.split("/c/", 1)[1].split("/", 1)[0]
    call = Api(server, context.request)
    api, host = f"/api/ceremonies/{ceremony}", server.token(host_link)
    assert (await call("GET", f"{api}/definition", host))["recording"] is True

    # Its edit page reads the box back; unticked, the definition is saved without recording.
    await page.goto(f"{server.base}/c/{ceremony}/edit?lang=ko")
    await expect(box).to_be_checked()
    await box.uncheck()
    await page.locator("#submit").click()
    await page.wait_for_url(re.compile(r"/host$"), timeout=30_000)  # saved
    assert "recording" not in await call("GET", f"{api}/definition", host)
    assert errors == []

    # The demo ceremony is recorded: its signing page says so before consent, its hall's page before joining.
    demo_api, demo_host = f"/api/ceremonies/{server.demo_id}", server.token(server.host_link)
    await call("POST", f"{demo_api}/freeze", demo_host)
    who = (await call("GET", demo_api, demo_host))["signatories"][0]["id"]
    hall = (await call("GET", demo_api, demo_host))["venues"][0]["id"]
    for lang, words in (("ko", "녹화본은 봉인된 기록의 일부"), ("zh", "录像是封存记录的一部分")):
        signer = await call("POST", f"{demo_api}/invitations", demo_host, {"role": "signatory", "signatory": who})
        sign_context, sign_page, sign_errors = await new_page(browser, locale="ko-KR" if lang == "ko" else "zh-CN")
        await sign_page.goto(signer["url"].replace("#", f"?lang={lang}#"))
        await sign_page.wait_for_url(re.compile(r"/sign$"))
        notice = sign_page.locator("#recording-notice")
        await expect(notice).to_contain_text(words)
        # Read before the consent box: above it, both measured at one moment (the consent text loads meanwhile).
        above = "() => document.getElementById('recording-notice').getBoundingClientRect().bottom <= "
        above += "document.getElementById('consent-box').getBoundingClientRect().top"
        assert await sign_page.evaluate(above)
        assert sign_errors == []
        await sign_context.close()
        venue = await call("POST", f"{demo_api}/invitations", demo_host, {"role": "venue", "venue": hall})
        hall_context, hall_page, _ = await new_page(browser, locale="ko-KR" if lang == "ko" else "zh-CN")
        await hall_page.goto(venue["url"].replace("#", f"?lang={lang}#"))
        await hall_page.wait_for_url(re.compile(r"/venue$"))
        await expect(hall_page.locator("[data-recording-notice]").first).to_contain_text(words)
        await hall_context.close()
    await context.close()
