"""Broadcast delay (capture -> observer), with a clock burnt into the frames; bytes per minute of the recording.

One run, on a `ceremony serve` subprocess with a recorded ceremony (the demo definition,
`"recording": true`), its rooms open, so that the server runs its recorder process:

- two `VenueBot`s send the venue bot's synthetic picture with, in its middle, three rows of
  16 black/white blocks: the wall-clock time at capture in milliseconds (modulo 2**32, two
  rows) and a check row. Blocks this big survive VP8, scaling into the programme and H.264.
- an observer, in this process, plays the live playlist as a player would: it reloads
  `/c/{id}/watch/live.m3u8` every `--reload` seconds, fetches each new segment (with the
  init segment), decodes it with PyAV and reads the clock of each hall back from the
  programme picture. Per segment: (when the playlist first listed it, i.e. when a player
  could fetch it) minus (capture time of its first and of its last frame).
- the floor, in the same run and on the same frames: a `HostBot` receiving both halls over
  aiortc (venue bot -> host bot through the server's signaling, media peer to peer) reads
  the clock from every decoded frame: capture -> decoded, what WebRTC alone costs. It runs
  in this process; the venues run in a subprocess of their own (`--bots`), so that their
  encoders and its decoders do not share one GIL and event loop.
- a real player, unless `--no-browser`: the observer page in headless Chromium (hls.js as
  configured by web/static/watch.js); on every presented frame the page draws the video to a
  canvas, reads the clocks and keeps Date.now() minus the newer one (one machine, one clock).

A player does not play the newest frame when it gets it: hls.js on our observer page
(web/static/watch.js) holds `liveSyncDuration` seconds behind the live edge. The delay a
viewer sees is therefore (capture -> listed, newest frame) + that hold-back + up to one
playlist reload; the figures printed say which is which.

Size: the sum of the logged segment sizes of each track over its recorded seconds (from
`GET /api/ceremonies/{id}/events?include=recording`), in bytes per minute.

Run: .venv/bin/python -m bench.broadcast_bench --seconds 45
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
from av import VideoFrame

from bench.common import machine
from bench.media_bench import Server, load_average, start_server
from ceremony.commands import OpenRooms
from ceremony.events import Role
from ceremony.model import CeremonyDefinition
from ceremony.runtime.local import on_disk
from signaling.bots.peer import FrameSink
from signaling.bots.venue_bot import (
    HEIGHT,
    WIDTH,
    BotOptions,
    ColourBars,
    HostBot,
    LocalMedia,
    MediaBot,
    SineTone,
    VenueBot,
)
from signaling.protocol import PeerInfo
from signaling.recording.programme import FOOT_H, NAME_H, TITLE_H
from web.demo.definition import demo_definition
from web.links import link_for
from web.settings import utc_clock

ROOT = Path(__file__).resolve().parent.parent
HALLS = ("chuncheon", "nanjing")
FPS = 15.0  # the recorder's rate (signaling/bots/recorder_bot.py)
WAIT = 60.0  # seconds before a step counts as failed
BITS = 16
CLOCK_ROWS = ((100, 140), (150, 190), (200, 240))  # high 16 bits, low 16 bits, check; under venue_bot's band
CHECK = 0xA5A5
WRAP = 1 << 32
HOLD_BACK_RE = re.compile(r"liveSyncDuration:\s*([0-9.]+)")


# ------------------------------------------------------------------ the clock in the picture


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def paint_clock(picture: np.ndarray[Any, Any], ms: int) -> None:
    """Burn `ms` (mod 2**32) into an RGB 640x360 picture: three rows of 16 blocks, white = 1."""
    high, low = (ms >> 16) & 0xFFFF, ms & 0xFFFF
    block = WIDTH // BITS
    for (top, bottom), value in zip(CLOCK_ROWS, (high, low, high ^ low ^ CHECK), strict=True):
        for bit in range(BITS):
            on = (value >> (BITS - 1 - bit)) & 1
            picture[top:bottom, bit * block + 4 : (bit + 1) * block - 4] = 255 if on else 0


@dataclass(frozen=True)
class Box:
    """Where a 640x360 hall picture sits in a decoded frame (all of it, or a programme half)."""

    top: int
    left: int
    width: int
    height: int


def read_clock(frame: VideoFrame, box: Box) -> int | None:
    """The burnt-in milliseconds (mod 2**32) inside `box`, or None if a block is unclear or the check fails."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    plane = frame.planes[0]
    luma, stride = memoryview(plane), plane.line_size
    sx, sy = box.width / WIDTH, box.height / HEIGHT
    block = WIDTH // BITS
    values = []
    for top, bottom in CLOCK_ROWS:
        y = box.top + int((top + bottom) / 2 * sy)
        value = 0
        for bit in range(BITS):
            x = box.left + int((bit * block + block // 2) * sx)
            level = luma[y * stride + x]
            if 70 <= level <= 185:
                return None
            value = (value << 1) | (level > 128)
        values.append(value)
    high, low, check = values
    return (high << 16 | low) if high ^ low ^ CHECK == check else None


def age_ms(code: int, at_ms: int) -> int:
    """How long before `at_ms` the frame stamped `code` was captured (the stamp wraps every 49 days)."""
    return (at_ms - code) % WRAP


class ClockBars(ColourBars):
    """The venue bot's colour bars (its tag and frame-number marker kept) with the capture time burnt in."""

    async def recv(self) -> VideoFrame:
        frame = await super().recv()  # paced in real time; this is the moment the frame is handed on
        picture = frame.to_ndarray(format="rgb24")
        paint_clock(picture, now_ms())
        stamped = VideoFrame.from_ndarray(picture, format="rgb24")
        stamped.pts, stamped.time_base = frame.pts, frame.time_base
        return stamped


def programme_boxes(frame: VideoFrame) -> list[Box]:
    """The two halls' pictures in a programme frame, placed as signaling/recording/programme.py `fit`s them."""
    half_w, half_h = frame.width // 2, frame.height - TITLE_H - NAME_H - FOOT_H

    def even(x: float) -> int:
        return max(2, round(x / 2) * 2)

    scale = min(half_w / WIDTH, half_h / HEIGHT)
    w, h = min(half_w, even(WIDTH * scale)), min(half_h, even(HEIGHT * scale))
    top, left = TITLE_H + (half_h - h) // 4 * 2, (half_w - w) // 4 * 2
    return [Box(top, left + side * half_w, w, h) for side in (0, 1)]


# ------------------------------------------------------------------ the floor: WebRTC alone


class ClockedHost(HostBot):
    """The host console's receiving side: reads the clock from every decoded frame of every hall."""

    def __init__(self, link: str, options: BotOptions) -> None:
        super().__init__(link, options)
        self.delays_ms: list[int] = []
        self.measuring = False

    def frame_sink(self, peer: PeerInfo) -> FrameSink | None:
        return self._decoded

    def _decoded(self, frame: Any) -> None:
        if not self.measuring or not isinstance(frame, VideoFrame):
            return
        code = read_clock(frame, Box(0, 0, frame.width, frame.height))
        if code is not None:
            self.delays_ms.append(age_ms(code, now_ms()))


# ------------------------------------------------------------------ the observer


@dataclass
class Seen:
    """One programme segment as the observer got it."""

    name: str
    listed_ms: int  # wall clock when a reloaded playlist first listed it
    first_ms: int | None = None  # delay of its first readable frame
    last_ms: int | None = None  # delay of its last readable frame
    frames: int = 0
    readable: int = 0


@dataclass
class Observer:
    http: aiohttp.ClientSession
    base: str
    ceremony: str
    token: str
    reload: float
    segments: list[Seen] = field(default_factory=list)
    init: bytes | None = None
    skipped: int = 0  # segments already listed at the first playlist (when they appeared is unknown)

    async def _get(self, name: str) -> tuple[int, bytes]:
        url = f"{self.base}/c/{self.ceremony}/watch/{name}"
        async with self.http.get(url, headers={"Authorization": f"Bearer {self.token}"}) as response:
            return response.status, await response.read()

    async def run(self, seconds: float) -> None:
        known: set[str] = set()
        missing_before = False  # a 404 seen: the next playlist's segments appeared since then
        first = True
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            tick = time.monotonic()
            status, body = await self._get("live.m3u8")
            listed_at = now_ms()
            if status == 404:
                missing_before = True
            elif status == 200:
                names = [line for line in body.decode().splitlines() if line.endswith(".m4s")]
                new = [n for n in names if n not in known]
                known.update(new)
                if first and not missing_before:
                    self.skipped += len(new)
                    new = []
                first = False
                for name in new:
                    await self._take(name, listed_at)
            else:
                raise RuntimeError(f"live.m3u8: HTTP {status}: {body[:200]!r}")
            await asyncio.sleep(max(0.0, self.reload - (time.monotonic() - tick)))

    async def _take(self, name: str, listed_at: int) -> None:
        if self.init is None:
            status, self.init = await self._get("init.mp4")
            assert status == 200, status
        status, data = await self._get(name)
        assert status == 200, (name, status)
        self.segments.append(await asyncio.to_thread(decode, name, self.init + data, listed_at))


def decode(name: str, data: bytes, listed_at: int) -> Seen:
    """The segment's frames, decoded, each with the clock of the newer hall in it."""
    seen = Seen(name=name, listed_ms=listed_at)
    ages: list[int] = []
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(video=0):
            seen.frames += 1
            codes = [c for c in (read_clock(frame, box) for box in programme_boxes(frame)) if c is not None]
            if codes:
                seen.readable += 1
                ages.append(min(age_ms(c, listed_at) for c in codes))  # the newer hall in the frame
    if ages:
        seen.first_ms, seen.last_ms = ages[0], ages[-1]
    return seen


# ------------------------------------------------------------------ a real player: hls.js in headless Chromium

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # runs as root here
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--autoplay-policy=no-user-gesture-required",
]
# Installed in the observer page: on every frame the video presents (requestVideoFrameCallback),
# draw it to a canvas, read both halls' clocks as read_clock does, and keep Date.now() minus the
# newer one. The page's clock and ours are the same machine's clock.
READER_JS = """(cfg) => {
  const video = document.getElementById('watch-video');
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  window.__clock = [];
  window.__tries = 0;
  window.__stalls = 0;
  video.addEventListener('waiting', () => { window.__stalls += 1; });
  const even = (x) => Math.max(2, Math.round(x / 2) * 2);
  const boxes = (w, h) => {
    const halfW = Math.floor(w / 2), halfH = h - cfg.titleH - cfg.nameH - cfg.footH;
    const scale = Math.min(halfW / cfg.W, halfH / cfg.H);
    const bw = Math.min(halfW, even(cfg.W * scale)), bh = Math.min(halfH, even(cfg.H * scale));
    const top = cfg.titleH + Math.floor((halfH - bh) / 4) * 2, left = Math.floor((halfW - bw) / 4) * 2;
    return [0, 1].map((side) => ({top, left: left + side * halfW, width: bw, height: bh}));
  };
  const read = (data, w, box) => {
    const sx = box.width / cfg.W, sy = box.height / cfg.H, block = cfg.W / cfg.bits;
    const values = [];
    for (const [t, b] of cfg.rows) {
      const y = box.top + Math.floor((t + b) / 2 * sy);
      let v = 0;
      for (let bit = 0; bit < cfg.bits; bit++) {
        const i = (y * w + box.left + Math.floor((bit * block + block / 2) * sx)) * 4;
        const level = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
        if (level >= 70 && level <= 185) return null;
        v = v * 2 + (level > 128 ? 1 : 0);
      }
      values.push(v);
    }
    const [high, low, check] = values;
    return (high ^ low ^ cfg.check) === check ? high * 65536 + low : null;
  };
  const sample = () => {
    const w = video.videoWidth, h = video.videoHeight;
    if (!w || !h || video.paused) return;
    window.__tries += 1;
    const at = Date.now();
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    ctx.drawImage(video, 0, 0);
    const {data} = ctx.getImageData(0, 0, w, h);
    const codes = boxes(w, h).map((box) => read(data, w, box)).filter((c) => c !== null);
    if (codes.length) {
      const ages = codes.map((c) => (((at % cfg.wrap) - c) % cfg.wrap + cfg.wrap) % cfg.wrap);
      const b = video.buffered;
      const ahead = b.length ? b.end(b.length - 1) - video.currentTime : 0;
      window.__clock.push([at, Math.min(...ages), ahead]);
    }
  };
  if ('requestVideoFrameCallback' in video) {
    const each = () => { sample(); video.requestVideoFrameCallback(each); };
    video.requestVideoFrameCallback(each);
  } else {
    setInterval(sample, 100);
  }
  return 'requestVideoFrameCallback' in video;
}"""


@dataclass
class Shown:
    """What the browser saw after settling: capture -> on screen (ms), buffer ahead of the playhead (s)."""

    delays_ms: list[float]
    ahead_s: list[float]
    stalls: int


async def watch_in_chromium(base: str, ceremony: str, token: str, until: float, settle: float) -> Shown:
    """What hls.js on the observer page shows, from `settle` s after it began playing, until `until` (monotonic)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            await page.goto(f"{base}/c/{ceremony}/enter?lang=en#{token}")
            await page.wait_for_url(re.compile(r"/view$"), timeout=WAIT * 1000)
            playing = "() => { const v = document.getElementById('watch-video'); return v && v.currentTime > 0; }"
            await page.wait_for_function(playing, timeout=WAIT * 1000)
            config = {
                "rows": CLOCK_ROWS,
                "bits": BITS,
                "W": WIDTH,
                "H": HEIGHT,
                "titleH": TITLE_H,
                "nameH": NAME_H,
                "footH": FOOT_H,
                "check": CHECK,
                "wrap": WRAP,
            }
            began = now_ms()
            per_frame = await page.evaluate(READER_JS, config)
            print(f"  chromium: playing; sampling {'every presented frame' if per_frame else 'every 100 ms'}")
            await asyncio.sleep(max(0.0, until - time.monotonic()))
            samples: list[list[float]] = await page.evaluate("window.__clock")
            tries, stalls = await page.evaluate("[window.__tries, window.__stalls]")
            print(f"  chromium: {len(samples)} of {tries} frames drawn had a readable clock; {stalls} stalls")
        finally:
            await browser.close()
    kept = [(age, ahead) for at, age, ahead in samples if at - began >= settle * 1000]
    return Shown([age for age, _ in kept], [ahead for _, ahead in kept], stalls)


# ------------------------------------------------------------------ setup


@dataclass(frozen=True)
class Prepared:
    ceremony: str
    tokens: dict[str, str]
    definition: CeremonyDefinition


async def prepare(data: Path) -> Prepared:
    from web.mou import render_mou_pdf

    definition = demo_definition()
    assert definition.recording, "the demo definition is expected to be recorded"
    service = on_disk(data, clock=utc_clock)
    await service.start()
    try:
        state = await service.create(definition, "bench")
        await service.freeze(state.id, "bench", lambda d, c: render_mou_pdf(d, ceremony_id=c))
        tokens = {
            "host": (await service.issue_link(state.id, Role.HOST, "bench")).token,
            "admitter": (await service.issue_link(state.id, Role.HOST, "bench")).token,
            "observer": (await service.issue_link(state.id, Role.OBSERVER, "bench")).token,
            **{h: (await service.issue_link(state.id, Role.VENUE, "bench", venue=h)).token for h in HALLS},
        }
        await service.execute(state.id, OpenRooms(), "bench")
    finally:
        await service.close()
    return Prepared(state.id, tokens, definition)


def hold_back_seconds() -> float:
    """hls.js's `liveSyncDuration` as our observer page configures it."""
    found = HOLD_BACK_RE.search((ROOT / "web" / "static" / "watch.js").read_text())
    if found is None:
        raise RuntimeError("web/static/watch.js sets no liveSyncDuration: read the hold-back there by hand")
    return float(found.group(1))


async def recording_events(http: aiohttp.ClientSession, base: str, prepared: Prepared) -> list[dict[str, Any]]:
    url = f"{base}/api/ceremonies/{prepared.ceremony}/events?include=recording"
    async with http.get(url, headers={"Authorization": f"Bearer {prepared.tokens['host']}"}) as response:
        assert response.status == 200, await response.text()
        listed = await response.json()
    return [e["data"] for e in listed["events"] if e["type"] == "recording.segment"]


# ------------------------------------------------------------------ figures


def spread(values: Sequence[float]) -> str:
    if not values:
        return "no data"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"{statistics.median(ordered) / 1000:6.2f} {p90 / 1000:6.2f} {ordered[-1] / 1000:6.2f}  (n={len(ordered)})"


def print_sizes(segments: list[dict[str, Any]]) -> None:
    print(f"\n{'track':<20}{'segments':>9}{'seconds':>9}{'MB':>8}{'MB/min':>9}{'Mbit/s':>8}")
    for track in sorted({s["track"] for s in segments}):
        mine = [s for s in segments if s["track"] == track]
        media = [s for s in mine if s["index"] > 0]
        seconds = sum(float(s["duration"]) for s in media)
        size = sum(int(s["size"]) for s in mine)  # the init segment counts: it is stored and served
        per_minute = size / seconds * 60 if seconds else float("nan")
        print(
            f"{track:<20}{len(media):>9}{seconds:>9.1f}{size / 1e6:>8.2f}{per_minute / 1e6:>9.2f}"
            f"{per_minute * 8 / 60 / 1e6:>8.2f}"
        )


async def run_bots(base: str, ceremony: str, tokens: Sequence[str]) -> None:
    """`--bots` mode, in its own process (its own event loop and GIL, as the halls' machines would
    be): a host that only admits, and two venues sending the clocked picture; stop on a line on stdin."""
    host_token, *venue_tokens = tokens
    options = BotOptions(send_media=False, connect_media=False, name="bench-admitter")
    bots: list[MediaBot] = [HostBot(link_for(base, ceremony, host_token), options)]
    try:
        await asyncio.wait_for(bots[0].start(), WAIT)
        for hall, token in zip(HALLS, venue_tokens, strict=True):
            venue = VenueBot(link_for(base, ceremony, token), BotOptions(fps=FPS, name=f"bench {hall}"))
            venue.media = LocalMedia([SineTone(), ClockBars(hall, fps=FPS)])  # kept by the bot at its welcome
            bots.append(venue)
            await asyncio.wait_for(venue.start(), WAIT)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    finally:
        await asyncio.gather(*(bot.stop() for bot in bots), return_exceptions=True)


async def start_bots(base: str, ceremony: str, tokens: Sequence[str], log: Path) -> asyncio.subprocess.Process:
    """The `--bots` subprocess for `ceremony` (tokens: host, Chuncheon, Nanjing), once its halls are in."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.broadcast_bench",
        # One argument, with '=': a token may begin with '-', which argparse would take for an option.
        "--bots=" + ",".join([base, ceremony, *tokens]),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=log.open("wb"),
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), WAIT * 2)
    if line.strip() != b"ready":
        said = await asyncio.to_thread(log.read_text, errors="replace")
        raise RuntimeError(f"the bots did not start ({line!r}):\n{said[-3000:]}")
    return process


async def stop_bots(process: asyncio.subprocess.Process) -> None:
    assert process.stdin is not None
    process.stdin.write(b"stop\n")
    await process.stdin.drain()
    await asyncio.wait_for(process.wait(), WAIT)


async def bench(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="broadcast-bench-"))
    server: Server | None = None
    bots: asyncio.subprocess.Process | None = None
    host: ClockedHost | None = None
    try:
        prepared = await prepare(work / "data")
        server = start_server(work / "data", work / "server.log")
        print(machine(f"PyAV {av.__version__}"))
        print(f"nproc {os.cpu_count()}; load average at the start: {load_average()}", flush=True)
        hold_back = hold_back_seconds()
        # The floor's receiver: the host console's side, in this process (which otherwise only polls
        # and waits for Chromium), apart from the venues' encoders.
        link = link_for(server.base, prepared.ceremony, prepared.tokens["host"])
        host = ClockedHost(link, BotOptions(send_media=False, fps=FPS, name="bench-host"))
        host.auto_admit = False  # the bots' own host admits them
        await asyncio.wait_for(host.start(), WAIT)
        tokens = [prepared.tokens[who] for who in ("admitter", *HALLS)]
        bots = await start_bots(server.base, prepared.ceremony, tokens, work / "bots.log")
        async with aiohttp.ClientSession() as http:
            observer = Observer(http, server.base, prepared.ceremony, prepared.tokens["observer"], args.reload)
            host.measuring = True
            started = time.monotonic()
            player: asyncio.Task[Shown] | None = None
            if not args.no_browser:
                player = asyncio.create_task(
                    watch_in_chromium(
                        server.base, prepared.ceremony, prepared.tokens["observer"], started + args.seconds, args.settle
                    )
                )
            await observer.run(args.seconds)
            shown = await player if player is not None else None
            host.measuring = False
            floor = [float(d) for d in host.delays_ms]
            await stop_bots(bots)
            bots = None
            print(f"observed {time.monotonic() - started:.0f} s; load average at the end: {load_average()}")
            segments = await recording_events(http, server.base, prepared)

        got = [s for s in observer.segments if s.last_ms is not None]
        unread = sum(s.frames - s.readable for s in observer.segments)
        print(
            f"\nprogramme segments measured: {len(got)} (skipped {observer.skipped} already listed at the first reload;"
            f" {unread} of {sum(s.frames for s in observer.segments)} frames without a readable clock)"
        )
        print(f"hls.js hold-back on the observer page (web/static/watch.js liveSyncDuration): {hold_back:g} s")
        print(f"playlist reload interval here: {args.reload:g} s\n")
        print(f"{'seconds':<52}{'median':>7}{'p90':>7}{'max':>7}")
        print("-" * 80)
        firsts = [float(s.first_ms) for s in got if s.first_ms is not None]
        lasts = [float(s.last_ms) for s in got if s.last_ms is not None]
        print(f"{'floor: capture -> decoded, aiortc venue -> host':<52}{spread(floor)}")
        print(f"{'capture -> segment listed, its first frame':<52}{spread(firsts)}")
        print(f"{'capture -> segment listed, its last frame':<52}{spread(lasts)}")
        player_label = f"player: last frame + hold-back {hold_back:g} s"
        print(f"{player_label:<52}{spread([x + hold_back * 1000 for x in lasts])}")
        if shown is not None:
            print(f"{'hls.js in Chromium: capture -> on screen':<52}{spread(shown.delays_ms)}")
            third = len(shown.delays_ms) * 2 // 3
            print(f"{'  the last third of the run only':<52}{spread(shown.delays_ms[third:])}")
            print(f"{'  its buffer ahead of the playhead':<52}{spread([a * 1000 for a in shown.ahead_s])}")
        print_sizes(segments)
        if not got:
            raise RuntimeError(f"no programme segment was measured; server log: {work / 'server.log'}")
    finally:
        if bots is not None and bots.returncode is None:
            bots.terminate()
            await bots.wait()
        if host is not None:
            await host.stop()
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="broadcast delay capture -> observer, and bytes per minute")
    parser.add_argument("--seconds", type=float, default=45.0, help="how long the observer watches")
    parser.add_argument("--reload", type=float, default=1.0, help="seconds between playlist reloads")
    parser.add_argument("--no-browser", action="store_true", help="skip the headless Chromium player")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds of Chromium playback not counted")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (server log, media)")
    parser.add_argument("--bots", help=argparse.SUPPRESS)  # the bots' subprocess: base,ceremony,host,venue,venue
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        if args.bots is not None:
            base, ceremony, *tokens = args.bots.split(",")
            asyncio.run(run_bots(base, ceremony, tokens))
        else:
            asyncio.run(bench(args))


if __name__ == "__main__":
    main()
