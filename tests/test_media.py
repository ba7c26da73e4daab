"""Media between halls, for real: aiortc venues and host through a `ceremony serve` subprocess.

Everything is real and on this machine: the server (with its SQLite log), the
WebSockets, aiortc's ICE/DTLS/SRTP, VP8 and Opus, and in the TURN test Debian's
coturn. Each venue draws a marker into its video (a tag naming the venue and a
frame number, see signaling/bots/venue_bot.py); receivers read it back from the
decoded pictures, so "frames arrived" means "frames from *that* venue arrived".

Every wait is bounded and fails with what was seen instead; none is a claim about speed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fractions
import gc
import hashlib
import hmac
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import av
import pytest
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

from ceremony.commands import OpenRooms
from ceremony.events import Role
from ceremony.runtime.local import on_disk
from signaling.bots.client import BadLink, CapabilityLink, ConnectionLost
from signaling.bots.peer import PeerLink, ReceiveStats, Tally, ice_configuration, selected_pair
from signaling.bots.venue_bot import (
    BotOptions,
    ColourBars,
    HostBot,
    LocalMedia,
    MarkerProbe,
    MediaBot,
    VenueBot,
    venue_tag,
)
from signaling.ice import IceConfig
from signaling.protocol import (
    CeremonyUpdated,
    IceCandidateInit,
    IceServer,
    Knocked,
    PeerBack,
    PeerInfo,
    PeerLeft,
    Welcomed,
    parse_server_message,
)
from tests.helpers import ROOT, Server, free_port, start_server
from web.demo.definition import demo_definition
from web.mou import render_mou_pdf
from web.settings import utc_clock

WAIT = 25.0  # seconds before a wait gives up (a guard against hangs, not a speed claim)
FPS = 15.0  # two CPUs encode and decode every stream here; 15 fps keeps the machine responsive
FRAMES = 30  # "video flows": this many verified frames (two seconds of video at 15 fps)
B = TypeVar("B", bound=MediaBot)


# ------------------------------------------------------------------ an open ceremony, built once


@dataclass(frozen=True)
class Prepared:
    data: Path
    ceremony: str
    tokens: dict[str, str]


async def _prepare(data: Path) -> Prepared:
    service = on_disk(data, clock=utc_clock)
    await service.start()
    try:
        state = await service.create(demo_definition(), "operator")
        await service.freeze(state.id, "operator", lambda d, c: render_mou_pdf(d, ceremony_id=c))
        await service.execute(state.id, OpenRooms(), "operator")
        tokens = {
            "host": (await service.issue_link(state.id, Role.HOST, "test")).token,
            "chuncheon": (await service.issue_link(state.id, Role.VENUE, "test", venue="chuncheon")).token,
            "nanjing": (await service.issue_link(state.id, Role.VENUE, "test", venue="nanjing")).token,
        }
    finally:
        await service.close()
    return Prepared(data, state.id, tokens)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """Drafted, frozen (the ~5 s PDF render happens once) and opened; each test copies it."""
    return asyncio.run(_prepare(tmp_path_factory.mktemp("media-ceremony") / "data"))


@pytest.fixture(scope="module", autouse=True)
def collect_garbage_at_the_end() -> Iterator[None]:
    """Finalise this module's garbage (closed connections, loops, WeasyPrint's open file) here.

    Left for later, a cyclic collection can run while pytest rewrites a module being imported
    (the hypothesis plugin imports lazily at the end of a session); with finalisers that warn,
    CPython 3.11.7 then fails with "SystemError: AST constructor recursion depth mismatch".
    """
    yield
    gc.collect()


@dataclass
class Hall:
    server: Server
    ceremony: str
    tokens: dict[str, str]
    bots: list[MediaBot] = field(default_factory=list)

    def link(self, who: str) -> str:
        return f"{self.server.base}/c/{self.ceremony}/enter#{self.tokens[who]}"


@contextlib.asynccontextmanager
async def open_hall(prepared: Prepared, tmp_path: Path, *flags: str) -> AsyncIterator[Hall]:
    """A server on a copy of the prepared ceremony; at the end its bots leave and it stops."""
    data = tmp_path / "data"
    shutil.copytree(prepared.data, data)
    hall = Hall(start_server(data, "--no-demo", *flags), prepared.ceremony, prepared.tokens)
    try:
        yield hall
    finally:
        for bot in reversed(hall.bots):
            await bot.stop()
        hall.server.stop()
        release_output(hall.server.process)


def release_output(process: subprocess.Popen[str], reader: threading.Thread | None = None) -> None:
    """Close a stopped subprocess's output pipe once its reader thread has read it to the end.

    Left to the garbage collector, the pipe's ResourceWarning fires at an arbitrary moment;
    when that is in the middle of pytest rewriting a module being imported, CPython 3.11
    fails with "SystemError: AST constructor recursion depth mismatch".
    """
    readers = [reader] if reader else [t for t in threading.enumerate() if t.name.endswith("(pump)")]
    for thread in readers:
        thread.join(10)  # start_server's reader (named after its function) stops at end of file
    if process.stdout is not None:
        process.stdout.close()


async def start(hall: Hall, bot: B) -> B:
    hall.bots.append(bot)
    await asyncio.wait_for(bot.start(), WAIT)
    return bot


def venue(hall: Hall, who: str, *, relay_only: bool = False, play: Path | None = None) -> VenueBot:
    options = BotOptions(fps=FPS, name=f"test {who}", relay_only=relay_only, play=play and str(play))
    return VenueBot(hall.link(who), options)


async def recording_of(label: str, path: Path, seconds: int = 3) -> Path:
    """A WebM file (VP8 + Opus) of our synthetic bars for `label`, marker included, for `--play`."""
    bars = ColourBars(label, fps=1000)  # pacing is irrelevant when writing a file
    with av.open(str(path), "w") as out:
        video = out.add_stream("libvpx", rate=int(FPS))
        video.width, video.height, video.pix_fmt, video.bit_rate = 640, 360, "yuv420p", 1_500_000
        audio = out.add_stream("libopus", rate=48_000)
        for n in range(int(FPS) * seconds):
            frame = (await bars.recv()).reformat(format="yuv420p")
            frame.pts, frame.time_base = n, fractions.Fraction(1, int(FPS))
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for n in range(50 * seconds):
            sound = AudioFrame(format="s16", layout="mono", samples=960)
            sound.planes[0].update(bytes(1920))
            sound.sample_rate, sound.pts, sound.time_base = 48_000, n * 960, fractions.Fraction(1, 48_000)
            out.mux(audio.encode(sound))
        out.mux(audio.encode(None))
    bars.stop()
    return path


def host(hall: Hall, *, media: bool) -> HostBot:
    return HostBot(hall.link("host"), BotOptions(send_media=False, connect_media=media, name="test host"))


async def frames_from(bot: MediaBot, label: str, count: int) -> ReceiveStats:
    """Wait until `bot` has decoded `count` video frames carrying `label`'s marker."""
    link = await bot.wait_link(label, within=WAIT)
    try:
        await asyncio.wait_for(link.stats.verified_frames.reached(count), WAIT)
    except TimeoutError:
        raise AssertionError(
            f"{(bot.client.welcome and bot.client.welcome.venue) or 'host'} got {link.stats.as_dict()} "
            f"from {label} (state {link.state}); wanted {count} verified frames"
        ) from None
    return link.stats


# ------------------------------------------------------------------ (a) two halls see each other


async def test_two_venues_and_the_host_receive_each_others_video(prepared: Prepared, tmp_path: Path) -> None:
    async with open_hall(prepared, tmp_path) as hall:
        the_host = await start(hall, host(hall, media=True))
        chuncheon = await start(hall, venue(hall, "chuncheon"))
        # Nanjing plays a file (`venue-bot --play`): a recording of its bars, marker and all.
        nanjing = await start(hall, venue(hall, "nanjing", play=await recording_of("nanjing", tmp_path / "n.webm")))
        assert chuncheon.client.welcome is not None and not chuncheon.client.welcome.admitted  # the lobby

        at_nanjing = await frames_from(nanjing, "chuncheon", FRAMES)
        at_chuncheon = await frames_from(chuncheon, "nanjing", FRAMES)
        await frames_from(the_host, "chuncheon", FRAMES)
        await frames_from(the_host, "nanjing", FRAMES)

        assert len(the_host.admitted) == 2
        for stats in (at_nanjing, at_chuncheon):
            assert (stats.width, stats.height) == (640, 360)
            await asyncio.wait_for(stats.audio_frames.reached(1), WAIT)
            # Practically every decoded frame carries the *other* venue's marker: none is our own
            # picture coming back, none is garbage (a clean marker needs a clean decode).
            assert stats.verified_frames.value >= 0.9 * stats.video_frames.value, stats.as_dict()
        print("\n(a)", {"at chuncheon": at_chuncheon.as_dict(), "at nanjing": at_nanjing.as_dict()})


# ------------------------------------------------------------------ (b) drops, resume, renegotiation


async def test_a_dropped_venue_resumes_gets_what_it_missed_and_a_failed_media_path_is_renegotiated(
    prepared: Prepared, tmp_path: Path
) -> None:
    async with open_hall(prepared, tmp_path, "--heartbeat-interval", "1", "--heartbeat-timeout", "5") as hall:
        the_host = await start(hall, host(hall, media=False))
        chuncheon = await start(hall, venue(hall, "chuncheon"))
        nanjing = await start(hall, venue(hall, "nanjing"))
        link = await chuncheon.wait_link("nanjing", within=WAIT)
        await frames_from(chuncheon, "nanjing", FRAMES)
        await frames_from(nanjing, "chuncheon", FRAMES)
        me = chuncheon.client.peer_id
        assert chuncheon.client.welcome is not None
        session = chuncheon.client.welcome.session

        # The network under chuncheon's WebSocket goes away (no `leave`, no close frame),
        # and stays away while the host moves the ceremony on.
        watching = chuncheon.client.subscribe()
        at_nanjing = nanjing.client.subscribe()
        chuncheon.client.online.clear()
        chuncheon.client.drop()
        lost = await watching.wait_for(ConnectionLost, within=WAIT)
        assert not lost.final, lost
        seen_before = chuncheon.client.last_seq
        ack = await the_host.client.start_segment("next")
        assert ack.ref is not None

        # Media is peer to peer: it does not need the signaling socket.
        before = link.stats.video_frames.value
        await asyncio.wait_for(link.stats.video_frames.reached(before + FRAMES), WAIT)

        chuncheon.client.online.set()
        welcome = await watching.wait_for(Welcomed, within=WAIT)
        assert welcome.resumed and (welcome.peer, welcome.session) == (me, session)
        missed = await watching.wait_for(CeremonyUpdated, within=WAIT)  # replayed after the welcome
        assert missed.seq is not None and missed.seq > seen_before
        assert missed.event.get("type") == "segment.started" and missed.state.get("segment") is not None
        assert chuncheon.client.resumes == 1 and chuncheon.client.sockets_opened == 2
        back = await at_nanjing.wait_for(PeerBack, lambda m: m.peer.id == me, within=WAIT)
        assert back.peer.venue == "chuncheon"

        # Frames keep arriving after the resume, both ways.
        await asyncio.wait_for(link.stats.verified_frames.reached(link.stats.verified_frames.value + FRAMES), WAIT)
        other = nanjing.link_to("chuncheon")
        await asyncio.wait_for(other.stats.verified_frames.reached(other.stats.verified_frames.value + FRAMES), WAIT)

        # Now the media path itself fails: chuncheon's ICE connection to nanjing dies, as
        # aioice does when consent expires. The link must renegotiate on a new connection.
        connections = link.stats.connections
        ice = link.pc.getTransceivers()[0].receiver.transport.transport
        await ice._connection.close()
        await asyncio.wait_for(link.stats.connected.reached(2), WAIT)
        assert link.stats.failures >= 1 and link.stats.connections > connections
        await asyncio.wait_for(link.stats.verified_frames.reached(link.stats.verified_frames.value + FRAMES), WAIT)
        await asyncio.wait_for(other.stats.verified_frames.reached(other.stats.verified_frames.value + FRAMES), WAIT)
        assert other.stats.connections >= 2  # nanjing answered on a fresh connection (our ICE restart)
        print("\n(b)", {"at chuncheon": link.stats.as_dict(), "at nanjing": other.stats.as_dict()})


async def test_after_a_server_restart_the_halls_rejoin_and_see_each_other_again(
    prepared: Prepared, tmp_path: Path
) -> None:
    async with open_hall(prepared, tmp_path) as hall:
        await start(hall, host(hall, media=False))
        chuncheon = await start(hall, venue(hall, "chuncheon"))
        nanjing = await start(hall, venue(hall, "nanjing"))
        await frames_from(chuncheon, "nanjing", FRAMES)
        await frames_from(nanjing, "chuncheon", FRAMES)
        old = {bot.client.peer_id for bot in (chuncheon, nanjing)}
        welcomes = [bot.client.subscribe() for bot in (chuncheon, nanjing)]

        # The server goes away (its sessions with it) and comes back on the same address.
        port = hall.server.base.rsplit(":", 1)[1]
        hall.server.stop()
        release_output(hall.server.process)
        hall.server = start_server(hall.server.data, "--no-demo", "--port", port)

        # Resuming cannot work: each venue gets a fresh session, knocks, is admitted again
        # by the host bot, and connects media to the other venue's *new* peer id.
        fresh = [await w.wait_for(Welcomed, within=WAIT) for w in welcomes]
        assert not any(w.resumed for w in fresh) and not {w.peer for w in fresh} & old
        chuncheon_id, nanjing_id = (w.peer for w in fresh)
        await frames_from(chuncheon, nanjing_id, FRAMES)
        await frames_from(nanjing, chuncheon_id, FRAMES)
        assert all(r.state == "gone: our session was renewed" for r in chuncheon.gone)


# ------------------------------------------------------------------ (c) TURN


@dataclass
class Coturn:
    process: subprocess.Popen[str]
    port: int
    output: list[str]
    reader: threading.Thread

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        release_output(self.process, self.reader)


def start_coturn(tmp: Path, secret: str) -> Coturn:
    port = free_port()
    relay_low = 20000 + (port % 200) * 100  # a private range of relay ports for this run
    process = subprocess.Popen(
        ["turnserver", "-n", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", str(port),
         "--min-port", str(relay_low), "--max-port", str(relay_low + 99),
         "--use-auth-secret", "--static-auth-secret", secret, "--realm", "ceremony.test",
         "--no-tls", "--no-dtls", "--no-tcp", "--allow-loopback-peers", "--no-cli",
         "--log-file", "stdout", "--simple-log", "--verbose",
         "--pidfile", str(tmp / "turnserver.pid"), "--db", str(tmp / "turndb")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )  # fmt: skip
    output: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            if f"UDP listener opened on: 127.0.0.1:{port}" in line:
                ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    turn = Coturn(process, port, output, reader)
    if not ready.wait(15):
        turn.stop()
        raise AssertionError("coturn did not start:\n" + "\n".join(output[-40:]))
    return turn


def coturn_credential(secret: str, username: str) -> str:
    """coturn's REST-API password, computed here independently of signaling/ice.py."""
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


async def test_relay_only_peers_exchange_media_through_coturn_with_server_issued_credentials(
    prepared: Prepared, tmp_path: Path
) -> None:
    secret = "turn-" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:24]
    turn = start_coturn(tmp_path, secret)
    flags = ("--ice-server", f"turn:127.0.0.1:{turn.port}?transport=udp", "--turn-secret", secret)
    try:
        async with open_hall(prepared, tmp_path, *flags) as hall:
            await start(hall, host(hall, media=False))
            chuncheon = await start(hall, venue(hall, "chuncheon", relay_only=True))
            nanjing = await start(hall, venue(hall, "nanjing", relay_only=True))

            # The credentials came from our server, in coturn's scheme, for this very peer.
            for bot in (chuncheon, nanjing):
                welcome = bot.client.welcome
                assert welcome is not None
                (server,) = welcome.ice_servers
                assert server.urls == (f"turn:127.0.0.1:{turn.port}?transport=udp",)
                assert server.username is not None and server.credential is not None
                expiry, peer = server.username.split(":", 1)
                assert peer == welcome.peer
                lifetime = int(expiry) - time.time()  # the credential's validity (--turn-ttl), not a speed
                assert 0 < lifetime <= 6 * 3600 + 60
                assert server.credential == coturn_credential(secret, server.username)

            at_chuncheon = await frames_from(chuncheon, "nanjing", FRAMES)
            at_nanjing = await frames_from(nanjing, "chuncheon", FRAMES)
            for bot, label in ((chuncheon, "nanjing"), (nanjing, "chuncheon")):
                pc = bot.link_to(label).pc
                assert selected_pair(pc) == ("relay", "relay"), selected_pair(pc)

            log = "\n".join(turn.output)
            allocations = re.findall(r"ALLOCATE processed, success", log)
            assert len(allocations) >= 2, log[-3000:]
            assert chuncheon.client.peer_id in log and nanjing.client.peer_id in log  # the usernames it accepted
            print("\n(c)", {"at chuncheon": at_chuncheon.as_dict(), "at nanjing": at_nanjing.as_dict()})
            print("(c) coturn allocations:", len(allocations))
    finally:
        turn.stop()


def test_turn_credentials_follow_the_coturn_rest_scheme() -> None:
    config = IceConfig(({"urls": ["turn:turn.example.org:3478?transport=udp"]},), "a shared secret", 3600)
    (entry,) = config.for_peer("p-0123456789ab", now=1_700_000_000.4)
    assert entry["username"] == "1700003600:p-0123456789ab"
    assert entry["credential"] == coturn_credential("a shared secret", "1700003600:p-0123456789ab")
    # A STUN-only list gets no credentials, and nothing is configured by default.
    assert "username" not in IceConfig(({"urls": ["stun:stun.example.org:3478"]},), "s").for_peer("p-1", 0)[0]
    assert IceConfig().for_peer("p-1", 0) == []


# ------------------------------------------------------------------ perfect negotiation, no server


class _Wire:
    """Signaling from one link straight into another: what the server does, minus the server.

    With `trickle`, the wire behaves like a browser: the candidates leave the SDP and
    follow it one by one as `candidate` messages, then an end-of-candidates marker.
    """

    def __init__(self, *, trickle: bool) -> None:
        self.to: PeerLink | None = None
        self.trickle = trickle
        self.offers = 0
        self.trickled = 0

    async def offer(self, to: str, sdp: str) -> None:
        self.offers += 1
        self._deliver("offer", sdp)

    async def answer(self, to: str, sdp: str) -> None:
        self._deliver("answer", sdp)

    def _deliver(self, kind: str, sdp: str) -> None:
        assert self.to is not None
        if not self.trickle:
            self.to.description(kind, sdp)
            return
        bare, candidates = split_candidates(sdp)
        self.to.description(kind, bare)
        for candidate in candidates:
            self.to.candidate(candidate)
            self.trickled += 1
        self.to.candidate(None)


def split_candidates(sdp: str) -> tuple[str, list[IceCandidateInit]]:
    """The SDP without its candidates, and the first media section's candidates as a browser trickles them."""
    kept: list[str] = []
    lines: list[str] = []
    section, mid, ufrag = -1, None, None
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            section += 1
        elif section == 0 and line.startswith("a=mid:"):
            mid = line.removeprefix("a=mid:")
        elif section == 0 and line.startswith("a=ice-ufrag:"):
            ufrag = line.removeprefix("a=ice-ufrag:")
        if line.startswith("a=candidate:") or line == "a=end-of-candidates":
            if section == 0 and line != "a=end-of-candidates":
                lines.append(line.removeprefix("a="))
            continue
        kept.append(line)
    assert lines, "the SDP had no candidates to trickle"
    return "\r\n".join(kept), [
        IceCandidateInit(candidate=line, sdp_mid=mid, sdp_mline_index=0, username_fragment=ufrag) for line in lines
    ]


@contextlib.asynccontextmanager
async def linked_pair(*, trickle: bool = False) -> AsyncIterator[tuple[PeerLink, PeerLink, _Wire, _Wire]]:
    """Chuncheon's link to Nanjing and Nanjing's to Chuncheon, wired to each other."""
    media_a, media_b = LocalMedia.synthetic("chuncheon", fps=FPS), LocalMedia.synthetic("nanjing", fps=FPS)
    a_info = PeerInfo(id="p-aaaaaaaaaaaa", role="venue", venue="chuncheon", name={}, polite=False)
    b_info = PeerInfo(id="p-bbbbbbbbbbbb", role="venue", venue="nanjing", name={}, polite=True)
    wire_a, wire_b = _Wire(trickle=trickle), _Wire(trickle=trickle)

    def configuration() -> RTCConfiguration:
        return ice_configuration([])

    a = PeerLink(b_info, local_id=a_info.id, signals=wire_a, configuration=configuration,
                 local_tracks=media_a.tracks, video_probe=MarkerProbe(venue_tag("nanjing")))  # fmt: skip
    b = PeerLink(a_info, local_id=b_info.id, signals=wire_b, configuration=configuration,
                 local_tracks=media_b.tracks, video_probe=MarkerProbe(venue_tag("chuncheon")))  # fmt: skip
    wire_a.to, wire_b.to = b, a
    try:
        yield a, b, wire_a, wire_b
    finally:
        await a.close()
        await b.close()
        media_a.close()
        media_b.close()


async def test_glare_is_resolved_by_the_polite_peer_and_a_dead_path_is_renegotiated() -> None:
    async with linked_pair() as (a, b, wire_a, wire_b):
        assert b.polite and not a.polite  # the greater id is polite (docs/signaling.md)
        a.offer("glare")
        b.offer("glare")  # both offer at once
        await asyncio.wait_for(a.stats.verified_frames.reached(FRAMES), WAIT)
        await asyncio.wait_for(b.stats.verified_frames.reached(FRAMES), WAIT)
        assert wire_a.offers == 1 and wire_b.offers == 1
        assert b.stats.connections == 2 and a.stats.connections == 1  # the polite side rolled back

        # Nanjing's ICE connection dies (what aioice does when consent expires): it offers
        # again from a fresh connection, and Chuncheon answers from a fresh one too.
        before = (a.stats.verified_frames.value, b.stats.verified_frames.value)
        await b.pc.getTransceivers()[0].receiver.transport.transport._connection.close()
        await asyncio.wait_for(b.stats.connected.reached(2), WAIT)
        await asyncio.wait_for(a.stats.verified_frames.reached(before[0] + FRAMES), WAIT)
        await asyncio.wait_for(b.stats.verified_frames.reached(before[1] + FRAMES), WAIT)
        assert wire_b.offers == 2 and a.stats.connections == 2 and b.stats.failures == 1


async def test_trickled_candidates_are_what_connects_the_peers() -> None:
    # Neither SDP carries a candidate: the only addresses either side learns are trickled ones.
    async with linked_pair(trickle=True) as (a, b, wire_a, wire_b):
        a.offer("trickle")
        await asyncio.wait_for(a.stats.verified_frames.reached(FRAMES), WAIT)
        await asyncio.wait_for(b.stats.verified_frames.reached(FRAMES), WAIT)
        assert wire_a.trickled > 0 and wire_b.trickled > 0


# ------------------------------------------------------------------ small pieces


def test_capability_links_and_server_messages_parse() -> None:
    link = CapabilityLink.parse("https://ceremony.example.org/app/c/0123456789abcdef/enter#tok-en_1")
    assert (link.base, link.ceremony, link.token) == (
        "https://ceremony.example.org/app",
        "0123456789abcdef",
        "tok-en_1",
    )
    assert link.signal_url == "https://ceremony.example.org/app/api/ceremonies/0123456789abcdef/signal"
    assert "tok-en_1" not in repr(link)
    for bad in ("ftp://x/c/0123456789abcdef/enter#t", "http://x/c/0123456789abcdef/enter", "http://x/c/nope/enter#t"):
        with pytest.raises(BadLink):
            CapabilityLink.parse(bad)
    message = parse_server_message(
        '{"type":"welcome","seq":null,"session":"s","peer":"p-1","role":"venue","venue":"nanjing","admitted":false,'
        '"resumed":false,"ice_servers":[{"urls":"turn:h:1?transport=udp","username":"1:p-1","credential":"c"}],'
        '"peers":[],"ceremony":{"segment":null},"heartbeat":{"interval":10,"timeout":30}}'
    )
    assert isinstance(message, Welcomed)
    assert message.ice_servers == (IceServer(urls=("turn:h:1?transport=udp",), username="1:p-1", credential="c"),)
    config = ice_configuration([IceServer(urls=("turn:h:1",), username="u", credential="c")], relay_only=True)
    assert config.iceServers is not None and config.iceServers[0].urls == ["turn:h:1?transport=udp"]
    assert config.iceTransportPolicy.value == "relay"
    assert ice_configuration([]).iceServers == []  # never None: aiortc would add a public STUN server


# ------------------------------------------------------------------ the venue bot as a command, and camera-only halls


async def test_a_venue_bot_answers_an_offer_that_has_no_audio() -> None:
    """A camera-only hall (video, no microphone) offers one media section: the bot answers it and media flows."""
    media = LocalMedia.synthetic("chuncheon", fps=FPS)
    answers: asyncio.Queue[str] = asyncio.Queue()

    class Signals:
        async def offer(self, to: str, sdp: str) -> None:
            raise AssertionError("the camera offered; the bot only answers")

        async def answer(self, to: str, sdp: str) -> None:
            answers.put_nowait(sdp)

    bot = PeerLink(
        PeerInfo(id="p-bbbbbbbbbbbb", role="venue", venue="nanjing", name={}, polite=True),
        local_id="p-aaaaaaaaaaaa",
        signals=Signals(),
        configuration=lambda: ice_configuration([]),
        local_tracks=media.tracks,
        video_probe=MarkerProbe(venue_tag("nanjing")),
    )
    camera = RTCPeerConnection(ice_configuration([]))
    bars = ColourBars("nanjing", fps=FPS)
    camera.addTrack(bars)  # video alone
    at_camera, probe, readers = Tally(), MarkerProbe(venue_tag("chuncheon")), []

    async def watch(track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if isinstance(frame, VideoFrame) and probe(frame):
                    at_camera.add()

    camera.on("track", lambda track: readers.append(asyncio.create_task(watch(track))))
    try:
        await camera.setLocalDescription(await camera.createOffer())
        assert re.findall(r"^m=(\w+)", camera.localDescription.sdp, re.MULTILINE) == ["video"]
        bot.description("offer", camera.localDescription.sdp)
        answer = await asyncio.wait_for(answers.get(), WAIT)
        assert re.findall(r"^m=(\w+)", answer, re.MULTILINE) == ["video"]
        await camera.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.wait_for(bot.stats.verified_frames.reached(FRAMES), WAIT)  # the hall's camera, at the bot
        await asyncio.wait_for(at_camera.reached(FRAMES), WAIT)  # and the bot's bars, at the hall
    finally:
        await bot.close()
        await camera.close()
        for reader in readers:
            reader.cancel()
        media.close()
        bars.stop()


def test_the_venue_bot_command_loads_no_pdf_library() -> None:
    code = (
        "import sys\n"
        "from web.cli import main\n"
        "assert main(['venue-bot', 'ftp://not-a-link']) == 2\n"  # the whole command path, up to its link check
        "print(sorted(m for m in ('weasyprint', 'pyhanko', 'pypdf') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


async def test_the_venue_bot_leaves_on_sigterm_as_on_ctrl_c(prepared: Prepared, tmp_path: Path) -> None:
    async with open_hall(prepared, tmp_path) as hall:
        the_host = await start(hall, host(hall, media=False))
        the_host.auto_admit = False  # the bot waits in the lobby: its leaving is what the host sees
        watching = the_host.client.subscribe()
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "web.cli", "venue-bot", hall.link("chuncheon"),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert bot.stdout is not None
            lines = []
            async with asyncio.timeout(WAIT):
                while not lines or lines[-1].get("type") != "welcome":
                    lines.append(json.loads(await bot.stdout.readline()))
            knock = await watching.wait_for(Knocked, within=WAIT)
            bot.send_signal(signal.SIGTERM)
            out, _ = await asyncio.wait_for(bot.communicate(), WAIT)
            left = await watching.wait_for(PeerLeft, lambda m: m.peer == knock.peer.id, within=WAIT)
        finally:
            if bot.returncode is None:
                bot.kill()
                await bot.wait()
        assert left.reason == "left"  # it said goodbye (a vanished bot is "gone" only after the resume window)
        summary = json.loads(out.decode().strip().splitlines()[-1])
        assert (summary["type"], summary["ended"]) == ("summary", "terminated")
        assert bot.returncode in (0, 1)  # the command's own exit (1: no media arrived), not killed by the signal
