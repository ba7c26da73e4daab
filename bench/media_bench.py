"""Join -> first remote video frame for two aiortc venues through our server, beside a direct exchange.

Scenarios, run interleaved for `--rounds` rounds in one process:

- direct: two RTCPeerConnections in this process, each sending the venue bot's synthetic
  video and audio (`LocalMedia.synthetic`); the offer and answer are handed over by
  function call. Nothing is faster than this with aiortc on this machine: the floor.
- server, admitted: two `VenueBot`s (signaling/bots/venue_bot.py) join one ceremony on a
  `ceremony serve` subprocess at the same moment, as two halls reconnecting after a
  break would. Their links were admitted earlier (the server remembers it; an observer
  stays connected so that the room, and with it that memory, lives on), so only the
  two venues negotiate: hello, welcome, offer, answer through the server, the perfect
  negotiation roles it assigns, then media.
- server, full room: the real opening of a ceremony: a `HostBot` (the host console,
  receiving both halls) is connected, both venues join with fresh links, knock, are
  admitted from the lobby, and each negotiates with the host and with the other venue.

The figure for each run is the time from the start (bots started, or connections
created) until *both* venues have decoded a first video frame from the other one.

Run: .venv/bin/python -m bench.media_bench --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiortc
from aiortc import MediaStreamTrack, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from bench.common import free_port, machine
from ceremony.commands import OpenRooms
from ceremony.events import Role
from ceremony.model import CeremonyDefinition
from ceremony.runtime.local import on_disk
from signaling.bots.client import SignalingClient
from signaling.bots.peer import ice_configuration
from signaling.bots.venue_bot import BotOptions, HostBot, LocalMedia, MediaBot, VenueBot
from signaling.protocol import AdmittedToRoom
from web.demo.definition import demo_definition
from web.links import link_for
from web.settings import utc_clock

ROOT = Path(__file__).resolve().parent.parent
WAIT = 30.0  # seconds before a run counts as failed


# ------------------------------------------------------------------ the server subprocess


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_server(data: Path, log: Path) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "web.cli", "serve", "--no-demo", "--data", str(data), "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if "Serving on" in log.read_text(errors="replace"):
            return Server(process=process, base=f"http://127.0.0.1:{port}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the server did not start:\n{log.read_text(errors='replace')}")


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


@dataclass(frozen=True, kw_only=True)
class Links:
    ceremony: str
    host: str
    observer: str
    admitted: tuple[str, str]  # tokens of the Chuncheon and Nanjing links admitted once, up front
    fresh: list[tuple[str, str]]  # one pair of never-admitted venue links per full-room round


async def prepare(data: Path, rounds: int) -> Links:
    from web.mou import render_mou_pdf

    service = on_disk(data, clock=utc_clock)
    await service.start()

    def render(definition: CeremonyDefinition, ceremony: str) -> bytes:
        return render_mou_pdf(definition, ceremony_id=ceremony)

    try:
        state = await service.create(demo_definition(), "bench")
        await service.freeze(state.id, "bench", render)
        await service.execute(state.id, OpenRooms(), "bench")

        async def venue(name: str) -> str:
            return (await service.issue_link(state.id, Role.VENUE, "bench", venue=name)).token

        host = (await service.issue_link(state.id, Role.HOST, "bench")).token
        observer = (await service.issue_link(state.id, Role.OBSERVER, "bench")).token
        admitted = (await venue("chuncheon"), await venue("nanjing"))
        fresh = [(await venue("chuncheon"), await venue("nanjing")) for _ in range(rounds)]
    finally:
        await service.close()
    return Links(ceremony=state.id, host=host, observer=observer, admitted=admitted, fresh=fresh)


# ------------------------------------------------------------------ the floor: a direct exchange


async def first_video(track: MediaStreamTrack, seen: asyncio.Future[float]) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            if isinstance(frame, VideoFrame) and not seen.done():
                seen.set_result(time.monotonic())


async def direct_run() -> float:
    loop = asyncio.get_running_loop()
    t0 = time.monotonic()
    media = [LocalMedia.synthetic("chuncheon"), LocalMedia.synthetic("nanjing")]
    pcs = [RTCPeerConnection(ice_configuration(())) for _ in media]
    seen: list[asyncio.Future[float]] = [loop.create_future() for _ in pcs]
    readers: list[asyncio.Task[None]] = []
    for pc, local, got in zip(pcs, media, seen, strict=True):
        for track in local.tracks():
            pc.addTrack(track)

        def on_track(track: MediaStreamTrack, got: asyncio.Future[float] = got) -> None:
            if track.kind == "video":
                readers.append(asyncio.create_task(first_video(track, got)))

        pc.on("track", on_track)
    try:
        offerer, answerer = pcs
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)
        async with asyncio.timeout(WAIT):
            done = await asyncio.gather(*seen)
        return max(done) - t0
    finally:
        for reader in readers:
            reader.cancel()
        for pc in pcs:
            await pc.close()
        for local in media:
            local.close()


# ------------------------------------------------------------------ through the server


async def venues_see_each_other(bots: list[VenueBot], t0: float) -> float:
    async with asyncio.timeout(WAIT):
        links = [await bots[0].wait_link("nanjing", within=WAIT), await bots[1].wait_link("chuncheon", within=WAIT)]
        await asyncio.gather(*(link.stats.video_frames.reached(1) for link in links))
    firsts = [link.stats.first_video_at for link in links]
    assert all(f is not None for f in firsts)
    return max(f for f in firsts if f is not None) - t0


async def server_run(base: str, ceremony: str, venue_tokens: tuple[str, str], host_token: str | None) -> float:
    host = None
    if host_token is not None:
        host = HostBot(link_for(base, ceremony, host_token), BotOptions(send_media=False, name="bench-host"))
        await host.start()
    bots = [VenueBot(link_for(base, ceremony, token), BotOptions(name="bench-venue")) for token in venue_tokens]
    try:
        t0 = time.monotonic()
        await asyncio.gather(*(bot.start() for bot in bots))
        return await venues_see_each_other(bots, t0)
    finally:
        # All at once: each bot stops its dispatcher before any of them says `leave`. One by one,
        # a bot could be told `peer-left` while stopping; MediaBot.stop() then never returns
        # (PeerLink.close swallows the cancellation of its caller, see docs/benchmarks.md).
        everyone: list[MediaBot] = [*bots, *([host] if host is not None else [])]
        await asyncio.gather(*(bot.stop() for bot in everyone), return_exceptions=True)


async def admit_once(base: str, links: Links) -> None:
    """Let the two `admitted` venue links in once; the server remembers it for those links."""
    host = HostBot(link_for(base, links.ceremony, links.host), BotOptions(connect_media=False, send_media=False))
    await host.start()
    venues = [SignalingClient(link_for(base, links.ceremony, t), name="bench-admit") for t in links.admitted]
    try:
        subscriptions = [venue.subscribe() for venue in venues]
        await asyncio.gather(*(venue.start() for venue in venues))
        await asyncio.gather(*(sub.wait_for(AdmittedToRoom, within=WAIT) for sub in subscriptions))
    finally:
        for venue in venues:
            await venue.close()
        await host.stop()


# ------------------------------------------------------------------ main


@dataclass
class Series:
    name: str
    seconds: list[float]

    def row(self, floor: float) -> str:
        median = statistics.median(self.seconds)
        return (
            f"{self.name:<34}{len(self.seconds):>5}{median * 1000:>10.0f}{min(self.seconds) * 1000:>9.0f}"
            f"{max(self.seconds) * 1000:>9.0f}{median / floor:>10.2f}x"
        )


async def bench(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="media-bench-"))
    server: Server | None = None
    observer: SignalingClient | None = None
    try:
        links = await prepare(work / "data", args.rounds)
        server = start_server(work / "data", work / "server.log")
        observer = SignalingClient(link_for(server.base, links.ceremony, links.observer), name="bench-observer")
        await observer.start()  # keeps the room (and the admissions it remembers) alive
        await admit_once(server.base, links)
        print(machine())
        print(f"aiortc {aiortc.__version__}; load average at the start: {load_average()}", flush=True)
        await direct_run()  # warm-up: codecs loaded, first-call costs paid, for every scenario alike
        scenarios: list[tuple[Series, Callable[[int], Awaitable[float]]]] = [
            (Series(name="direct, in process", seconds=[]), lambda i: direct_run()),
            (
                Series(name="server, admitted venues", seconds=[]),
                lambda i: server_run(server.base, links.ceremony, links.admitted, None),
            ),
            (
                Series(name="server, full room (host + lobby)", seconds=[]),
                lambda i: server_run(server.base, links.ceremony, links.fresh[i], links.host),
            ),
        ]
        for i in range(args.rounds):
            order = scenarios if i % 2 == 0 else list(reversed(scenarios))
            for series, run in order:
                seconds = await run(i)
                series.seconds.append(seconds)
                print(f"  round {i + 1}: {series.name:<34} {seconds * 1000:7.0f} ms", flush=True)
                await asyncio.sleep(args.pause)
        floor = statistics.median(scenarios[0][0].seconds)
        print(f"\nload average at the end: {load_average()}")
        print(
            f"{'join -> both venues see the other':<34}{'runs':>5}{'p50 ms':>10}{'min':>9}{'max':>9}{'vs direct':>11}"
        )
        print("-" * 78)
        for series, _ in scenarios:
            print(series.row(floor))
    finally:
        if observer is not None:
            await observer.close()
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="join -> first remote video frame, through the server vs direct")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between runs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
