"""The recorder: a receive-only media peer that records every hall, run as `ceremony recorder`.

It is a process of its own (the server starts one per recorded ceremony), so that
decoding and encoding never stall the event loop that relays signaling. It joins
with a recorder link like a venue joins (resume and ICE restart come from the same
client and PeerLink), connects to the halls only (the room links a recorder to
venues, never to a host's camera), and hands every decoded frame to the media
engine (signaling/recording), which encodes in a thread of its own.

It talks to the server that started it in JSON lines:

- stdin: first `{"type": "config", "link", "halls": [{"id", "name": {ko, zh, en}}], "title": {...},
  "fps", "width", "height", "segment_seconds", "resume"?}` (resume: after a restart, where each
  track goes on); then `{"type": "caption", "texts": {...}}`,
  `{"type": "signed", "names": [...]}` and finally `{"type": "stop"}`.
- stdout: `{"type": "segment", ...}` for every closed segment (durably written first),
  `{"type": "gap", ...}` for every span a hall was missing, `{"type": "hall", "venue", "state"}`
  when a hall's media starts or stops arriving, and `{"type": "stopped"}` at the very end.

The link travels on stdin, not on the command line, where `ps` would show its token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from av import AudioFrame, VideoFrame

from ..errors import SignalingError
from ..protocol import PeerInfo
from ..recording import ClosedSegment, GapClosed, RecordingEngine
from .client import SessionEnded
from .peer import FrameSink, PeerLink
from .venue_bot import BotOptions, MediaBot

log = logging.getLogger(__name__)


class RecorderError(SignalingError):
    """The recorder was started wrongly (a bad config line)."""


@dataclass(frozen=True, slots=True)
class RecorderConfig:
    link: str
    halls: tuple[tuple[str, Mapping[str, str]], ...]
    title: Mapping[str, str]
    fps: int = 15
    width: int = 640
    height: int = 360
    segment_seconds: float = 2.0
    # After a restart: track -> (next index, media start), from the log, so the tracks go on.
    resume: Mapping[str, tuple[int, float]] | None = None

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> RecorderConfig:
        try:
            halls = tuple((str(h["id"]), {k: str(v) for k, v in dict(h["name"]).items()}) for h in value["halls"])
            return cls(
                link=str(value["link"]),
                halls=halls,
                title={k: str(v) for k, v in dict(value["title"]).items()},
                fps=int(value.get("fps", 15)),
                width=int(value.get("width", 640)),
                height=int(value.get("height", 360)),
                segment_seconds=float(value.get("segment_seconds", 2.0)),
                resume={str(t): (int(i), float(m)) for t, (i, m) in dict(value["resume"]).items()}
                if value.get("resume")
                else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RecorderError(f"unusable recorder config: {exc}") from exc


class Lines:
    """JSON lines to the server, from the event loop and from the encoder's thread alike."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._lock = threading.Lock()

    def say(self, record: Mapping[str, Any]) -> None:
        text = json.dumps(record, ensure_ascii=False, default=_plain)
        with self._lock:
            print(text, file=self._out, flush=True)


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def segment_line(segment: ClosedSegment) -> dict[str, Any]:
    fields = asdict(segment)
    fields.pop("path", None)  # the server finds it by name under the media root it gave us
    return {"type": "segment", **fields}


def gap_line(gap: GapClosed) -> dict[str, Any]:
    return {"type": "gap", **asdict(gap)}


class RecorderBot(MediaBot):
    """Receives each hall's media and feeds the engine; sends nothing."""

    def __init__(self, link: str, engine: RecordingEngine, lines: Lines, *, halls: set[str]) -> None:
        super().__init__(link, BotOptions(send_media=False, name="recorder"))
        self.engine = engine
        self.lines = lines
        self.halls = halls

    def _connect(self, peer: PeerInfo, *, offer: bool) -> PeerLink | None:
        if peer.role != "venue" or peer.venue not in self.halls:
            return None  # the room links us to halls only; anything else is not ours to record
        new = peer.id not in self.links
        link = super()._connect(peer, offer=offer)
        if new:
            self.lines.say({"type": "hall", "venue": peer.venue, "state": "joined"})
        return link

    def frame_sink(self, peer: PeerInfo) -> FrameSink | None:
        venue = peer.venue
        if venue not in self.halls:
            return None
        engine = self.engine

        def sink(frame: VideoFrame | AudioFrame) -> None:
            if isinstance(frame, VideoFrame):
                engine.video(venue, frame)
            else:
                engine.audio(venue, frame)

        return sink

    async def _disconnect(self, peer_id: str, reason: str) -> None:
        link = self.links.get(peer_id)
        await super()._disconnect(peer_id, reason)
        venue = link.remote.venue if link is not None else None
        # A hall whose new session is already linked keeps going; else its slate starts now.
        if venue is not None and not any(lk.remote.venue == venue for lk in self.links.values()):
            self.engine.hall_lost(venue, "peer_left")
            self.lines.say({"type": "hall", "venue": venue, "state": "left"})


async def _control_lines(loop: asyncio.AbstractEventLoop, source: TextIO) -> asyncio.Queue[str | None]:
    """stdin, line by line, read in a thread (a pipe from the server; None at its end)."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in source:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="recorder control", daemon=True).start()
    return queue


def build_engine(
    config: RecorderConfig, media_root: Path, lines: Lines, *, clock: Callable[[], datetime]
) -> RecordingEngine:
    return RecordingEngine(
        media_root,
        config.halls,
        title=config.title,
        fps=config.fps,
        size=(config.width, config.height),
        segment_seconds=config.segment_seconds,
        clock=clock,
        on_segment=lambda s: lines.say(segment_line(s)),
        on_gap=lambda g: lines.say(gap_line(g)),
        resume=config.resume,
        # A restarted recorder's first seconds, before the halls' media is back, are a stated gap.
        start_reason="recorder_restart" if config.resume else "no_media",
    )


async def run_recorder(media_root: Path, *, control: TextIO, out: TextIO) -> int:
    """Record until told to stop, until stdin closes (the server went), or until the session ends."""
    loop = asyncio.get_running_loop()
    lines = Lines(out)
    queue = await _control_lines(loop, control)
    first = await queue.get()
    if first is None:
        raise RecorderError("no config line on stdin")
    try:
        config = RecorderConfig.from_json(json.loads(first))
    except json.JSONDecodeError as exc:
        raise RecorderError(f"the config line is not JSON: {exc}") from exc
    engine = build_engine(config, media_root, lines, clock=lambda: datetime.now(UTC))
    stop_ticking = threading.Event()
    ticker = engine.run_in_thread(stop_ticking)  # ticks at the frame rate; closes the engine when stopped
    bot = RecorderBot(config.link, engine, lines, halls={hall for hall, _ in config.halls})
    try:
        await bot.start()
        assert bot.client.ended is not None
        ended: asyncio.Future[SessionEnded] = bot.client.ended
        while True:
            getter: asyncio.Future[Any] = asyncio.ensure_future(queue.get())
            waiting: list[asyncio.Future[Any]] = [getter, ended]
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if ended in done:
                getter.cancel()
                log.info("recorder: the session ended (%s)", ended.result().reason)
                break
            line = getter.result()
            if line is None or _control(engine, line) == "stop":
                break
    finally:
        with contextlib.suppress(Exception):
            await bot.stop(leave=True)
        stop_ticking.set()
        await asyncio.to_thread(ticker.join)  # the last segments (and open gaps) are on stdout now
        lines.say({"type": "stopped"})
    return 0


def _control(engine: RecordingEngine, line: str) -> str | None:
    try:
        message = json.loads(line)
        kind = message.get("type")
        if kind == "caption":
            engine.set_caption({k: str(v) for k, v in dict(message["texts"]).items()})
        elif kind == "signed":
            engine.set_signed([str(n) for n in message["names"]])
        return str(kind)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("recorder: ignoring a control line: %s", exc)
        return None


def recorder_command(media_root: Path, *, verbose: bool) -> int:
    """`ceremony recorder --media DIR`: config and commands on stdin, segments as JSON lines on stdout."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(run_recorder(media_root, control=sys.stdin, out=sys.stdout))
    except KeyboardInterrupt:
        return 130
    except SignalingError as exc:
        print(f"ceremony recorder: {exc}", file=sys.stderr)
        return 2
