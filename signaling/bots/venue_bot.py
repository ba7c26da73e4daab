"""Headless participants: a venue that sends and receives media, and a host that admits venues.

`ceremony venue-bot LINK [--play FILE]` runs a `VenueBot`: it joins as a venue,
waits in the lobby until the host admits it, connects media to every media
peer (and to peers that join or come back later), follows the ceremony, and
reports what it receives as JSON lines on stdout.

The synthetic video carries a machine-readable marker in its top rows: one
row of 16 black/white blocks is a tag derived from the venue id, a second row
the frame number. A receiver reads them back from the *decoded* picture, which
proves that a frame came from that venue (not merely that some video arrived).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fractions
import json
import logging
import math
import signal
import sys
import time
import zlib
from array import array
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self, TextIO

from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaPlayer, MediaRelay
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame
from PIL import Image, ImageDraw, ImageFont

from ..errors import SignalingError
from ..protocol import (
    AdmittedToRoom,
    CandidateReceived,
    CeremonyUpdated,
    DescriptionReceived,
    IceServer,
    Knocked,
    PeerBack,
    PeerInfo,
    PeerJoined,
    PeerLeft,
    ServerMessage,
    Welcomed,
)
from .client import CapabilityLink, ConnectionLost, SessionEnded, SignalingClient, Subscription
from .peer import FrameSink, PeerLink, ReceiveStats, ice_configuration

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 640, 360
MARK_BITS = 16
MARK_ROWS = ((4, 32), (40, 68))  # (top, bottom) of the tag row and of the frame-number row
BAND = 72
OFFER_GRACE = 2.0  # a peer that joined after us is expected to offer; if it does not, we do
VIDEO_CLOCK = 90_000
AUDIO_RATE = 48_000
AUDIO_PTIME = 0.020
TERMINATED = "terminated"  # a report's `ended` after SIGTERM


# ---------------------------------------------------------------------------
# The marker


def venue_tag(label: str) -> int:
    """16 bits naming a venue (or "host") in the picture; never all black or all white."""
    tag = zlib.crc32(label.encode("utf-8")) & 0xFFFF
    return tag ^ 0x5A5A if tag in (0, 0xFFFF) else tag


def read_marker(frame: VideoFrame) -> tuple[int, int] | None:
    """(tag, frame number) read from a decoded frame, or None if the marker is not clean."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    plane = frame.planes[0]
    luma = memoryview(plane)
    stride = plane.line_size
    sx, sy = frame.width / WIDTH, frame.height / HEIGHT
    values = []
    for top, bottom in MARK_ROWS:
        y = int((top + bottom) / 2 * sy)
        value = 0
        for bit in range(MARK_BITS):
            x = int((bit * (WIDTH // MARK_BITS) + WIDTH // MARK_BITS // 2) * sx)
            level = luma[y * stride + x]
            if 70 <= level <= 185:
                return None  # neither black nor white: not our marker (or badly damaged)
            value = (value << 1) | (level > 128)
        values.append(value)
    return values[0], values[1]


@dataclass
class MarkerProbe:
    """Counts a frame as verified when its marker names the venue we expect it from."""

    expected: int
    last_frame_number: int | None = None

    def __call__(self, frame: VideoFrame) -> bool:
        marker = read_marker(frame)
        if marker is None or marker[0] != self.expected:
            return False
        self.last_frame_number = marker[1]
        return True


# ---------------------------------------------------------------------------
# Synthetic media


class _Pacer:
    """Real-time pacing for generated media: frame n is due n/rate seconds after the first."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.start: float | None = None

    async def wait(self, n: int) -> None:
        now = time.monotonic()
        if self.start is None:
            self.start = now
        await asyncio.sleep(max(0.0, self.start + n / self.rate - now))


class ColourBars(MediaStreamTrack):
    """640x360 colour bars scrolling sideways, with the venue name, the frame number and the marker."""

    kind = "video"

    def __init__(self, label: str, *, fps: float = 30.0) -> None:
        super().__init__()
        self.label = label
        self.tag = venue_tag(label)
        self.fps = fps
        self.frames = 0
        self._pacer = _Pacer(fps)
        self._time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._bars = self._draw_bars()
        self._font = ImageFont.load_default(size=28)

    @staticmethod
    def _draw_bars() -> Image.Image:
        colours = [(235, 235, 235), (235, 235, 16), (16, 235, 235), (16, 235, 16)]
        colours += [(235, 16, 235), (235, 16, 16), (16, 16, 235), (16, 16, 16)]
        bars = Image.new("RGB", (WIDTH * 2, HEIGHT))
        draw = ImageDraw.Draw(bars)
        width = WIDTH // len(colours)
        for i in range(len(colours) * 2):
            draw.rectangle((i * width, 0, (i + 1) * width - 1, HEIGHT - 1), fill=colours[i % len(colours)])
        return bars

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        n = self.frames
        await self._pacer.wait(n)
        self.frames += 1
        offset = (n * 4) % WIDTH
        image = self._bars.crop((offset, 0, offset + WIDTH, HEIGHT))
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, WIDTH - 1, BAND - 1), fill=(128, 128, 128))
        block = WIDTH // MARK_BITS
        for (top, bottom), value in zip(MARK_ROWS, (self.tag, n & 0xFFFF), strict=True):
            for bit in range(MARK_BITS):
                on = (value >> (MARK_BITS - 1 - bit)) & 1
                colour = (255, 255, 255) if on else (0, 0, 0)
                draw.rectangle((bit * block + 4, top, (bit + 1) * block - 5, bottom), fill=colour)
        draw.rectangle((0, HEIGHT - 52, WIDTH - 1, HEIGHT - 1), fill=(0, 0, 0))
        draw.text((16, HEIGHT - 44), f"{self.label.upper()}   frame {n}", fill=(255, 255, 255), font=self._font)
        frame = VideoFrame(WIDTH, HEIGHT, "rgb24")
        frame.planes[0].update(image.tobytes())  # 640 * 3 bytes a row: no padding to account for
        frame.pts = int(n * VIDEO_CLOCK / self.fps)
        frame.time_base = self._time_base
        return frame


class SineTone(MediaStreamTrack):
    """A 440 Hz tone, 48 kHz mono, 20 ms frames."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, level: float = 0.2) -> None:
        super().__init__()
        step = 2 * math.pi * frequency / AUDIO_RATE
        samples = array("h", (int(level * 32767 * math.sin(step * i)) for i in range(AUDIO_RATE)))
        self._second = samples.tobytes()  # one second: a whole number of periods for whole-hertz tones
        self._per_frame = int(AUDIO_RATE * AUDIO_PTIME)
        self._pacer = _Pacer(1 / AUDIO_PTIME)
        self._time_base = fractions.Fraction(1, AUDIO_RATE)
        self.frames = 0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        n = self.frames
        await self._pacer.wait(n)
        self.frames += 1
        start = (n * self._per_frame) % AUDIO_RATE
        chunk = self._second[start * 2 : (start + self._per_frame) * 2]
        frame = AudioFrame(format="s16", layout="mono", samples=self._per_frame)
        frame.planes[0].update(chunk)
        frame.sample_rate = AUDIO_RATE
        frame.pts = n * self._per_frame
        frame.time_base = self._time_base
        return frame


class Yuv420(MediaStreamTrack):
    """Hands frames on as yuv420p, converted once, here.

    aiortc's VP8 encoder converts any other format itself, in an executor
    thread; when one frame is relayed to several connections, their encoders
    convert the *same* frame concurrently, and libswscale crashes the process.
    """

    kind = "video"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.source = source

    async def recv(self) -> VideoFrame:
        frame = await self.source.recv()
        if not isinstance(frame, VideoFrame):
            raise MediaStreamError("a video source gave something other than a video frame")
        return frame if frame.format.name == "yuv420p" else frame.reformat(format="yuv420p")

    def stop(self) -> None:
        super().stop()
        self.source.stop()


class LocalMedia:
    """What we send: one audio and one video source, fanned out to every connection."""

    def __init__(self, sources: Sequence[MediaStreamTrack], player: MediaPlayer | None = None) -> None:
        self.sources = [Yuv420(s) if s.kind == "video" else s for s in sources]
        self._player = player
        self._relay = MediaRelay()

    @classmethod
    def synthetic(cls, label: str, *, fps: float = 30.0) -> LocalMedia:
        return cls([SineTone(), ColourBars(label, fps=fps)])

    @classmethod
    def from_file(cls, path: str) -> LocalMedia:
        player = MediaPlayer(path, loop=True)
        return cls([t for t in (player.audio, player.video) if t is not None], player)

    def tracks(self) -> list[MediaStreamTrack]:
        """Fresh subscriptions for one more connection (a track has one reader in aiortc)."""
        return [self._relay.subscribe(source, buffered=False) for source in self.sources]

    def close(self) -> None:
        for source in self.sources:
            source.stop()


# ---------------------------------------------------------------------------
# Reports


@dataclass(frozen=True, slots=True)
class PeerReport:
    peer: str
    role: str
    venue: str | None
    state: str
    video_frames: int
    verified_frames: int
    audio_frames: int
    resolution: str | None
    first_frame_s: float | None
    connections: int
    failures: int

    @classmethod
    def of(cls, remote: PeerInfo, stats: ReceiveStats, state: str) -> PeerReport:
        d = stats.as_dict()
        return cls(
            remote.id,
            remote.role,
            remote.venue,
            state,
            d["video_frames"],
            d["verified_frames"],
            d["audio_frames"],
            d["resolution"],
            d["first_frame_s"],
            d["connections"],
            d["failures"],
        )


@dataclass(frozen=True, slots=True)
class Report:
    peer: str | None
    role: str | None
    venue: str | None
    admitted: bool
    segment: str | None
    stages: tuple[str, ...]
    resumes: int
    seconds: float
    peers: tuple[PeerReport, ...]
    ended: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "peer": self.peer,
            "role": self.role,
            "venue": self.venue,
            "admitted": self.admitted,
            "segment": self.segment,
            "stages": list(self.stages),
            "resumes": self.resumes,
            "seconds": round(self.seconds, 3),
            "ended": self.ended,
            "peers": {p.peer: {k: v for k, v in dataclasses.asdict(p).items() if k != "peer"} for p in self.peers},
        }


# ---------------------------------------------------------------------------
# Bots


@dataclass
class BotOptions:
    relay_only: bool = False
    ice_servers: Sequence[IceServer] | None = None  # instead of welcome.ice_servers
    fps: float = 30.0
    send_media: bool = True
    connect_media: bool = True  # False: signaling only, no WebRTC at all
    play: str | None = None
    out: TextIO | None = None  # JSON lines (stage changes, reports); None: quiet
    name: str = "venue-bot"


class MediaBot:
    """A signaling client plus one PeerLink per media peer; the common part of venue and host bots."""

    def __init__(self, link: str | CapabilityLink, options: BotOptions | None = None) -> None:
        self.options = options or BotOptions()
        self.client = SignalingClient(link, name=self.options.name)
        self.links: dict[str, PeerLink] = {}
        self.gone: list[PeerReport] = []  # peers that left, as they were when they left
        self.media: LocalMedia | None = None
        self.segment: str | None = None
        self.stages: list[str] = []
        self.started_at = time.monotonic()
        self._subscription: Subscription | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: list[asyncio.TimerHandle] = []
        self._links_changed = asyncio.Event()
        self.in_room = False

    async def start(self) -> Welcomed:
        self._subscription = self.client.subscribe()  # before start: the welcome must reach us
        welcome = await self.client.start()
        self._dispatcher = asyncio.create_task(self._dispatch(self._subscription), name="bot dispatch")
        return welcome

    async def stop(self, *, leave: bool = True) -> Report:
        """Leave (or just go, `leave=False`), close every connection; returns the last report."""
        report = self.report()
        for timer in self._timers:
            timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._dispatcher is not None:
            self._dispatcher.cancel()  # first, so that no message opens a new link meanwhile
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        for link in list(self.links.values()):
            await link.close()
        self.links.clear()
        await self.client.close(leave=leave)
        if self.media is not None:
            self.media.close()
        return report

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- what the bot saw ----

    def link_to(self, peer: str) -> PeerLink:
        """Our link to the present peer with that id, or the first one with that venue id or role."""
        if peer in self.links:
            return self.links[peer]
        for link in self.links.values():
            if peer in (link.remote.venue, link.remote.role):
                return link
        raise KeyError(f"no media peer {peer!r} (have: {[lk.remote.label for lk in self.links.values()]})")

    async def wait_link(self, peer: str, *, within: float = 20.0) -> PeerLink:
        """The link to that peer (an id, a venue id or a role) once there is one; TimeoutError says who is there."""
        try:
            async with asyncio.timeout(within):
                while True:
                    changed = self._links_changed
                    with contextlib.suppress(KeyError):
                        return self.link_to(peer)
                    await changed.wait()
        except TimeoutError:
            have = [lk.remote.label for lk in self.links.values()]
            raise TimeoutError(f"no media peer {peer!r} within {within} s (have: {have})") from None

    def report(self, ended: str | None = None) -> Report:
        w = self.client.welcome
        present = [PeerReport.of(lk.remote, lk.stats, lk.state) for lk in self.links.values()]
        return Report(
            peer=w.peer if w else None,
            role=w.role if w else None,
            venue=w.venue if w else None,
            admitted=self.in_room,
            segment=self.segment,
            stages=tuple(self.stages),
            resumes=self.client.resumes,
            seconds=time.monotonic() - self.started_at,
            peers=tuple(self.gone + present),
            ended=ended,
        )

    def _say(self, record: dict[str, Any]) -> None:
        if self.options.out is not None:
            print(json.dumps(record, ensure_ascii=False), file=self.options.out, flush=True)

    # ---- reacting to the server ----

    async def _dispatch(self, subscription: Subscription) -> None:
        async for message in subscription:
            try:
                await self._handle(message)
            except Exception:
                log.exception("bot: handling %s failed", type(message).__name__)

    async def _handle(self, message: ServerMessage) -> None:
        match message:
            case Welcomed():
                await self._on_welcome(message)
            case AdmittedToRoom(peers=peers):
                self.in_room = True
                self._say({"type": "admitted", "peers": [p.label for p in peers]})
                for peer in peers:
                    self._connect(peer, offer=True)
            case PeerJoined(peer=peer):
                self._connect(peer, offer=False)
            case PeerBack(peer=peer):
                existing = self.links.get(peer.id)
                if existing is None:
                    self._connect(peer, offer=True)
                else:
                    existing.peer_back()
            case PeerLeft(peer=peer_id, reason=reason):
                await self._disconnect(peer_id, reason)
            case DescriptionReceived(sender=sender, kind=kind, sdp=sdp):
                if (link := self._link_for(sender)) is not None:
                    link.description(kind, sdp)
            case CandidateReceived(sender=sender, candidate=candidate):
                if (link := self._link_for(sender)) is not None:
                    link.candidate(candidate)
            case CeremonyUpdated(state=state, event=event):
                self._on_ceremony(state, event)
            case Knocked(peer=peer):
                await self.on_knock(peer)
            case ConnectionLost(code=code, reason=reason, final=final):
                self._say({"type": "signaling", "closed": code, "reason": reason, "final": final})

    async def _on_welcome(self, welcome: Welcomed) -> None:
        if self.media is None and self.options.send_media:
            label = welcome.venue or welcome.role
            if self.options.play:
                self.media = LocalMedia.from_file(self.options.play)
            else:
                self.media = LocalMedia.synthetic(label, fps=self.options.fps)
        if welcome.resumed:
            self._say({"type": "signaling", "resumed": True, "last_seq": self.client.last_seq})
            return  # our links stand; what we missed is replayed after this welcome
        for peer_id in list(self.links):
            await self._disconnect(peer_id, "our session was renewed")  # our peer id changed
        self.in_room = welcome.admitted
        self.segment = welcome.ceremony.get("segment")
        self._say(
            {
                "type": "welcome",
                "peer": welcome.peer,
                "role": welcome.role,
                "venue": welcome.venue,
                "admitted": welcome.admitted,
                "peers": [p.label for p in welcome.peers],
            }
        )
        for peer in welcome.peers:
            self._connect(peer, offer=True)

    def _on_ceremony(self, state: Mapping[str, Any], event: Mapping[str, Any]) -> None:
        segment = state.get("segment")
        if segment != self.segment:
            self.segment = segment
            if segment is not None:
                self.stages.append(segment)
            self._say({"type": "segment", "segment": segment, "state": state.get("state"), "event": event.get("type")})

    async def on_knock(self, peer: PeerInfo) -> None:
        """A venue waits in the lobby (only hosts are told)."""

    def frame_sink(self, peer: PeerInfo) -> FrameSink | None:
        """Where the frames received from `peer` go besides the counters (the recorder's encoder)."""
        return None

    # ---- links ----

    def _connect(self, peer: PeerInfo, *, offer: bool) -> PeerLink | None:
        if not self.options.connect_media:
            return None
        link = self.links.get(peer.id)
        if link is None:
            link = PeerLink(
                peer,
                local_id=self.client.peer_id,
                signals=self.client,
                configuration=self._configuration,
                local_tracks=self._tracks,
                video_probe=MarkerProbe(venue_tag(peer.venue or peer.role)),
                sink=self.frame_sink(peer),
            )
            self.links[peer.id] = link
            self._links_changed.set()
            self._links_changed = asyncio.Event()
        if offer:
            link.offer("we joined")
        else:
            # The newcomer offers; should it not (a browser may wait), we do. A no-op
            # if its offer came meanwhile (the connection is then negotiated).
            self._timers.append(asyncio.get_running_loop().call_later(OFFER_GRACE, link.offer, "no offer came"))
        return link

    def _link_for(self, sender: str) -> PeerLink | None:
        link = self.links.get(sender)
        if link is None:
            # An offer can only come from a peer the server told us about; be lenient all the same.
            link = self._connect(
                PeerInfo(id=sender, role="venue", venue=None, name={}, polite=sender > self.client.peer_id), offer=False
            )
        return link

    async def _disconnect(self, peer_id: str, reason: str) -> None:
        link = self.links.pop(peer_id, None)
        if link is not None:
            self.gone.append(PeerReport.of(link.remote, link.stats, "left" if reason == "left" else f"gone: {reason}"))
            await link.close()
            self._say({"type": "peer-left", "peer": peer_id, "label": link.remote.label, "reason": reason})

    def _configuration(self) -> Any:
        servers = self.options.ice_servers
        if servers is None:
            welcome = self.client.welcome
            servers = welcome.ice_servers if welcome is not None else ()
        return ice_configuration(servers, relay_only=self.options.relay_only)

    def _tracks(self) -> list[MediaStreamTrack]:
        return self.media.tracks() if self.media is not None else []


class VenueBot(MediaBot):
    """A hall's screen without a person at the keyboard."""


class HostBot(MediaBot):
    """A host for tests and demos: admits every venue that knocks; receives media by default."""

    def __init__(
        self, link: str | CapabilityLink, options: BotOptions | None = None, *, auto_admit: bool = True
    ) -> None:
        options = options or BotOptions(send_media=False, name="host-bot")
        super().__init__(link, options)
        self.auto_admit = auto_admit
        self.admitted: list[str] = []

    async def on_knock(self, peer: PeerInfo) -> None:
        self._say({"type": "knock", "peer": peer.id, "venue": peer.venue})
        if self.auto_admit:
            task = asyncio.create_task(self._admit(peer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _admit(self, peer: PeerInfo) -> None:
        try:
            await self.client.admit(peer.id)
        except (SignalingError, TimeoutError) as exc:  # it left meanwhile, or we did
            log.warning("could not admit %s (%s): %s", peer.id, peer.label, exc)
            return
        self.admitted.append(peer.id)


# ---------------------------------------------------------------------------
# The command


async def run_venue_bot(
    link: str,
    *,
    play: str | None = None,
    duration: float | None = None,
    ice_servers_override: Sequence[IceServer] | None = None,
    relay_only: bool = False,
    report_every: float = 5.0,
    out: TextIO | None = None,
) -> Report:
    """Join as a venue, exchange media until `duration` (or the session ends), report as JSON lines."""
    out = out if out is not None else sys.stdout
    options = BotOptions(relay_only=relay_only, ice_servers=ice_servers_override, play=play, out=out)
    bot = VenueBot(link, options)
    try:
        await bot.start()
    except BaseException:
        await bot.stop(leave=False)
        raise
    assert bot.client.ended is not None
    ended: str | None = None
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while (wait := report_every if deadline is None else min(report_every, deadline - time.monotonic())) > 0:
            with contextlib.suppress(TimeoutError):
                closed: SessionEnded = await asyncio.wait_for(asyncio.shield(bot.client.ended), wait)
                ended = f"{closed.code}: {closed.reason}"
                break
            bot._say({"type": "report", **bot.report().as_dict()})
    except asyncio.CancelledError as exc:
        # Ctrl-C, or SIGTERM (see venue_bot_command): leave properly and still print the summary.
        ended = TERMINATED if exc.args == (TERMINATED,) else "interrupted"
    report = dataclasses.replace(await bot.stop(leave=ended in (None, "interrupted", TERMINATED)), ended=ended)
    bot._say({"type": "summary", **report.as_dict()})
    return report


async def _until_terminated(run: Coroutine[Any, Any, Report]) -> Report:
    """`run`, which SIGTERM cancels as Ctrl-C does (a service manager stopping the bot), so that it leaves."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel, TERMINATED)
    try:
        return await run
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def venue_bot_command(link: str, *, play: str | None, duration: float | None, relay_only: bool, verbose: bool) -> int:
    """`ceremony venue-bot`: JSON lines on stdout, logs on stderr; 0 when media arrived."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        bot = run_venue_bot(link, play=play, duration=duration, relay_only=relay_only)
        report = asyncio.run(_until_terminated(bot))
    except KeyboardInterrupt:
        return 130
    except asyncio.CancelledError:  # SIGTERM before the bot was in: it stopped without a summary
        return 128 + signal.SIGTERM
    except SignalingError as exc:
        print(f"ceremony venue-bot: {exc}", file=sys.stderr)
        return 2
    return 0 if any(p.video_frames for p in report.peers) else 1
