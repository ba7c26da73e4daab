"""One aiortc connection per remote media peer, negotiated the W3C "perfect negotiation" way.

Perfect negotiation (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example):
either side may offer at any time; when two offers cross ("glare"), the
*impolite* side ignores the offer it receives and the *polite* side abandons
its own and answers. docs/signaling.md fixes who is who: of a pair, the peer
whose id sorts greater is polite.

aiortc differs from a browser in ways that shape this module:

* No rollback (`setLocalDescription({type: "rollback"})` is not implemented)
  and no `restartIce()`. What we do instead: the polite side "rolls back" by
  closing the connection that holds its unanswered offer and applying the
  remote offer to a fresh RTCPeerConnection; and a failed media path is
  renegotiated by a fresh RTCPeerConnection and a new offer. A fresh
  connection has new ICE credentials, so to the other side (browser or
  aiortc) its offer looks exactly like an ICE restart; an aiortc receiver
  recognises it by the changed `a=ice-ufrag` and answers from a fresh
  connection too.
* No trickle: aiortc gathers every candidate before it finishes
  setLocalDescription, so our SDP carries them all and we never send
  `candidate` messages. Browsers do trickle; their `candidate` messages are
  added with addIceCandidate (parsed by aiortc's `candidate_from_sdp`).
* No `negotiationneeded` event, and aiortc is not safe against concurrent
  description changes, so every step for one remote peer (offer, answer,
  candidate, restart) runs in order in one worker task. `making_offer` is kept
  as the pattern names it, but with the worker it can only be true while the
  worker itself is offering; a crossing offer shows up as
  `signalingState != "stable"` instead.
* Never `RTCConfiguration(iceServers=None)`: aiortc then falls back to a
  public STUN server. The configuration always carries an explicit list.
* An answer must not hold a transceiver the offer has no media section for:
  aiortc fails on it (a camera-only hall offers video alone). A first offer
  that lacks a kind we set up for is answered from a fresh connection made
  for exactly the offered kinds (`_fits`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp
from av import AudioFrame, VideoFrame

from ..protocol import IceCandidateInit, IceServer, PeerInfo

log = logging.getLogger(__name__)

MAX_RESTART_DELAY = 10.0
CLOSED_GRACE = 1.0
_UFRAG = re.compile(r"^a=ice-ufrag:(\S+)", re.MULTILINE)
_MEDIA = re.compile(r"^m=(\w+) ", re.MULTILINE)


class SignalSender(Protocol):
    """What a link needs from the signaling client (SignalingClient satisfies it)."""

    async def offer(self, to: str, sdp: str) -> None: ...

    async def answer(self, to: str, sdp: str) -> None: ...


# ---------------------------------------------------------------------------
# ICE configuration


def ice_configuration(servers: Sequence[IceServer], *, relay_only: bool = False) -> RTCConfiguration:
    """An aiortc configuration from `welcome.ice_servers`, never falling back to a public server.

    aiortc (1.16) uses one STUN and one TURN server, and only reads a `turn:`
    URL that names its transport, so `turn:host:port` gets `?transport=udp`
    (what browsers assume). `relay_only` is RTCIceTransportPolicy.RELAY,
    which aiortc hands to aioice: host and server-reflexive candidates are not
    even gathered, and remote non-relay candidates are still paired (the
    other side's relay address is what our relay talks to).
    """
    converted: list[RTCIceServer] = []
    for server in servers:
        urls = [_with_transport(url) for url in server.urls]
        converted.append(RTCIceServer(urls=urls, username=server.username, credential=server.credential))
    policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=converted, iceTransportPolicy=policy)


def _with_transport(url: str) -> str:
    if url.startswith(("turn:", "turns:")) and "?transport=" not in url:
        return url + ("?transport=tcp" if url.startswith("turns:") else "?transport=udp")
    return url


def selected_pair(pc: RTCPeerConnection) -> tuple[str, str] | None:
    """(local, remote) candidate types of the pair carrying media, e.g. ("relay", "relay").

    aiortc's getStats() has no candidate-pair entries, so this reads the
    nominated pair of the aioice connection under the first transceiver's
    ICE transport (with BUNDLE, the one every media section uses).
    """
    for transceiver in pc.getTransceivers():
        ice = transceiver.receiver.transport.transport
        nominated = getattr(ice._connection, "_nominated", {})
        for pair in nominated.values():
            return (pair.local_candidate.type, pair.remote_candidate.type)
    return None


# ---------------------------------------------------------------------------
# Counting what arrives


class Tally:
    """A counter one can await: `await tally.reached(100)`."""

    def __init__(self) -> None:
        self.value = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def add(self, n: int = 1) -> None:
        self.value += n
        if self._waiters:
            keep = []
            for target, future in self._waiters:
                if self.value >= target:
                    if not future.done():
                        future.set_result(None)
                else:
                    keep.append((target, future))
            self._waiters = keep

    async def reached(self, target: int) -> int:
        if self.value < target:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((target, future))
            await future
        return self.value


@dataclass
class ReceiveStats:
    """What one remote peer sent us, over every connection we had with it."""

    video_frames: Tally = field(default_factory=Tally)
    audio_frames: Tally = field(default_factory=Tally)
    verified_frames: Tally = field(default_factory=Tally)  # video frames the probe recognised
    connected: Tally = field(default_factory=Tally)  # times the media path came up
    failures: int = 0  # times it failed
    connections: int = 0  # RTCPeerConnections made for this peer
    width: int = 0
    height: int = 0
    created_at: float = field(default_factory=time.monotonic)
    first_video_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        first = None if self.first_video_at is None else round(self.first_video_at - self.created_at, 3)
        return {
            "video_frames": self.video_frames.value,
            "verified_frames": self.verified_frames.value,
            "audio_frames": self.audio_frames.value,
            "resolution": f"{self.width}x{self.height}" if self.width else None,
            "first_frame_s": first,
            "connected": self.connected.value,
            "failures": self.failures,
            "connections": self.connections,
        }


VideoProbe = Callable[[VideoFrame], bool]
# Where a recorder takes every decoded frame (video and audio) as it arrives; must not block.
FrameSink = Callable[[VideoFrame | AudioFrame], None]


# ---------------------------------------------------------------------------
# The link


@dataclass(frozen=True, slots=True)
class _Negotiate:
    fresh: bool  # on a new RTCPeerConnection (our stand-in for an ICE restart)
    reason: str
    # Restart only if this is still our connection: the other side may have restarted
    # first, and we answered it on a fresh connection that must not be replaced again.
    replacing: RTCPeerConnection | None = None


@dataclass(frozen=True, slots=True)
class _Description:
    kind: str
    sdp: str


@dataclass(frozen=True, slots=True)
class _Candidate:
    init: IceCandidateInit | None


_Step = _Negotiate | _Description | _Candidate


class PeerLink:
    """Our WebRTC connection with one remote media peer, kept up for as long as both are present."""

    def __init__(
        self,
        remote: PeerInfo,
        *,
        local_id: str,
        signals: SignalSender,
        configuration: Callable[[], RTCConfiguration],
        local_tracks: Callable[[], Sequence[MediaStreamTrack]],
        video_probe: VideoProbe | None = None,
        sink: FrameSink | None = None,
    ) -> None:
        self.remote = remote
        self.polite = local_id > remote.id
        self.making_offer = False
        self.ignore_offer = False
        self.stats = ReceiveStats()
        self._signals = signals
        self._configuration = configuration
        self._local_tracks = local_tracks
        self._probe = video_probe
        self._sink = sink
        self._steps: asyncio.Queue[_Step | None] = asyncio.Queue()
        self._consumers: set[asyncio.Task[None]] = set()
        self._sending: list[MediaStreamTrack] = []
        self._restart_timer: asyncio.TimerHandle | None = None
        self._failed_in_a_row = 0
        self.pc = self._new_connection()
        self._worker = asyncio.create_task(self._work(), name=f"peer {remote.id}")

    # ---- what the owner tells us ----

    @property
    def state(self) -> str:
        return str(self.pc.connectionState)

    def offer(self, reason: str = "join") -> None:
        """Offer on the current connection (a no-op if one is already under way)."""
        self._steps.put_nowait(_Negotiate(fresh=False, reason=reason))

    def restart(self, reason: str) -> None:
        """Renegotiate on a fresh connection: the equivalent of restartIce()."""
        self._steps.put_nowait(_Negotiate(fresh=True, reason=reason, replacing=self.pc))

    def peer_back(self) -> None:
        """The remote peer resumed its signaling session: renegotiate if our media path is down."""
        pc = self.pc
        idle = pc.connectionState == "new" and pc.signalingState == "stable"
        if pc.connectionState in ("failed", "closed") or idle:
            self.restart("peer back")

    def description(self, kind: str, sdp: str) -> None:
        self._steps.put_nowait(_Description(kind, sdp))

    def candidate(self, init: IceCandidateInit | None) -> None:
        self._steps.put_nowait(_Candidate(init))

    async def close(self) -> None:
        self._steps.put_nowait(None)
        if self._restart_timer is not None:
            self._restart_timer.cancel()
        # Wait for the worker without letting *our* cancellation be swallowed on the way:
        # asyncio.wait returns when the worker ends, and a cancel of this task still propagates.
        await asyncio.wait([self._worker])
        await self._discard(self.pc)
        for task in list(self._consumers):
            task.cancel()
        await asyncio.gather(*self._consumers, return_exceptions=True)

    # ---- the worker ----

    async def _work(self) -> None:
        while (step := await self._steps.get()) is not None:
            try:
                match step:
                    case _Negotiate(fresh, reason, replacing):
                        if replacing is None or replacing is self.pc:
                            await self._negotiate(fresh=fresh, reason=reason)
                    case _Description(kind, sdp):
                        await self._on_description(kind, sdp)
                    case _Candidate(init):
                        await self._on_candidate(init)
            except Exception:
                # One bad SDP from the other side must not end our link with it.
                log.exception("peer %s: %s failed", self.remote.id, type(step).__name__)

    async def _negotiate(self, *, fresh: bool, reason: str) -> None:
        if fresh:
            await self._replace_connection()
        pc = self.pc
        if pc.signalingState != "stable" or (not fresh and pc.remoteDescription is not None):
            return  # an offer is already out, or this connection is negotiated
        log.info("peer %s (%s): offering (%s)", self.remote.id, self.remote.label, reason)
        self.making_offer = True
        try:
            await pc.setLocalDescription(await pc.createOffer())
            await self._signals.offer(self.remote.id, pc.localDescription.sdp)
        finally:
            self.making_offer = False

    async def _on_description(self, kind: str, sdp: str) -> None:
        pc = self.pc
        if kind == "answer":
            if pc.signalingState != "have-local-offer":
                log.info("peer %s: ignoring an answer to an offer we no longer hold", self.remote.id)
                return
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
            return
        collision = self.making_offer or pc.signalingState != "stable"
        self.ignore_offer = not self.polite and collision
        if self.ignore_offer:
            log.info("peer %s: offers crossed; we are impolite, ignoring theirs", self.remote.id)
            return
        if collision or self._is_restart(sdp) or not _fits(pc, sdp):
            # The polite side's rollback, the other side's ICE restart (see the module docstring),
            # or an offer without some kind of media we set up for: a connection made for it.
            await self._replace_connection(offer=sdp)
            pc = self.pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await self._signals.answer(self.remote.id, pc.localDescription.sdp)

    def _is_restart(self, offer_sdp: str) -> bool:
        pc = self.pc
        if pc.connectionState in ("failed", "closed"):
            return True
        current = pc.remoteDescription
        if current is None:
            return False
        return _ufrag(current.sdp) != _ufrag(offer_sdp)

    async def _on_candidate(self, init: IceCandidateInit | None) -> None:
        pc = self.pc
        remote = pc.remoteDescription
        ufrag = init.username_fragment if init is not None else None
        if ufrag and remote is not None and ufrag != _ufrag(remote.sdp):
            return  # trickled for a negotiation we replaced
        try:
            if init is None or not init.candidate.strip():
                if remote is not None:
                    await pc.addIceCandidate(None)
                return
            line = init.candidate.strip()
            candidate = candidate_from_sdp(line.split(":", 1)[1] if line.startswith("candidate:") else line)
            candidate.sdpMid = init.sdp_mid
            candidate.sdpMLineIndex = init.sdp_mline_index
            await pc.addIceCandidate(candidate)
        except (AssertionError, ValueError, IndexError) as exc:
            if not self.ignore_offer:
                log.warning("peer %s: unusable candidate %r: %s", self.remote.id, init, exc)

    # ---- connections ----

    def _new_connection(self, offered: Collection[str] = ("audio", "video")) -> RTCPeerConnection:
        """A connection sending our tracks of the `offered` kinds (all, for our own offers)."""
        pc = RTCPeerConnection(self._configuration())
        tracks = [t for t in self._local_tracks() if t.kind in offered]
        for track in tracks:
            pc.addTrack(track)
        kinds = {t.kind for t in tracks}
        for kind in ("audio", "video"):
            if kind in offered and kind not in kinds:
                pc.addTransceiver(kind, direction="recvonly")  # still ask the other side for it
        self._sending = tracks
        self.stats.connections += 1

        def on_track(track: MediaStreamTrack) -> None:
            task = asyncio.create_task(self._consume(track))
            self._consumers.add(task)
            task.add_done_callback(self._consumers.discard)

        def on_state() -> None:
            self._on_state(pc)

        pc.on("track", on_track)
        pc.on("connectionstatechange", on_state)
        return pc

    async def _replace_connection(self, *, offer: str | None = None) -> None:
        """A fresh connection; for answering `offer`, with the kinds of media it offers."""
        old, old_tracks = self.pc, self._sending
        self.pc = self._new_connection() if offer is None else self._new_connection(set(_MEDIA.findall(offer)))
        await self._discard(old, old_tracks)

    async def _discard(self, pc: RTCPeerConnection, tracks: Sequence[MediaStreamTrack] | None = None) -> None:
        pc.remove_all_listeners()
        # Shielded: if the connection is already closing itself (aiortc does when DTLS ends),
        # close() awaits that, and cancelling us would cancel aiortc's own future with it.
        await asyncio.shield(pc.close())
        for track in self._sending if tracks is None else tracks:
            track.stop()

    def _on_state(self, pc: RTCPeerConnection) -> None:
        if pc is not self.pc:
            return
        state = pc.connectionState
        log.info("peer %s (%s): connection %s", self.remote.id, self.remote.label, state)
        if state == "connected":
            self._failed_in_a_row = 0
            self.stats.connected.add()
        elif state in ("failed", "closed"):
            # aiortc reports a dead media path mostly as "closed", not "failed": when
            # ICE consent expires (or the other side sends a DTLS close), the DTLS
            # transport closes and the connection closes itself. We never see our own
            # close() here (listeners are removed first), so either one means: renegotiate.
            self.stats.failures += 1
            self._failed_in_a_row += 1
            # Repeated failures (say, a TURN server down) back off. After "closed",
            # wait a moment: a peer that left closes too, and its peer-left is on its way.
            delay = min(MAX_RESTART_DELAY, 0.5 * (2 ** (self._failed_in_a_row - 1)) - 0.5)
            if state == "closed":
                delay = max(delay, CLOSED_GRACE)
            loop = asyncio.get_running_loop()
            self._restart_timer = loop.call_later(delay, self._restart_if_still_down, pc)

    def _restart_if_still_down(self, pc: RTCPeerConnection) -> None:
        if pc is self.pc and pc.connectionState in ("failed", "closed"):
            self.restart("media path failed")

    async def _consume(self, track: MediaStreamTrack) -> None:
        stats = self.stats
        try:
            while True:
                frame = await track.recv()
                if self._sink is not None and isinstance(frame, VideoFrame | AudioFrame):
                    self._sink(frame)
                if isinstance(frame, VideoFrame):
                    stats.width, stats.height = frame.width, frame.height
                    if stats.first_video_at is None:
                        stats.first_video_at = time.monotonic()
                    if self._probe is not None and self._probe(frame):
                        stats.verified_frames.add()
                    stats.video_frames.add()
                else:
                    stats.audio_frames.add()
        except MediaStreamError:
            return


def _fits(pc: RTCPeerConnection, offer_sdp: str) -> bool:
    """Whether `pc` can answer this offer: each transceiver not yet negotiated gets a media section."""
    if pc.remoteDescription is not None:
        return True  # renegotiation: its transceivers are matched to the sections already
    waiting = Counter(t.kind for t in pc.getTransceivers() if t.mid is None)
    return not waiting - Counter(_MEDIA.findall(offer_sdp))


def _ufrag(sdp: str) -> str | None:
    match = _UFRAG.search(sdp)
    return match.group(1) if match else None
