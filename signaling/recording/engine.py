"""The media engine: halls' frames in, one fixed-cadence tick at a time, fMP4 tracks out.

Callers (the recorder bot's aiortc tracks) only hand frames over: `video`, `audio`,
`hall_lost`, `set_caption` and `set_signed` store under a lock and return. All decoding-side
work (scaling, resampling, drawing text, compositing) and all encoding happen in `tick`,
which one thread calls at `fps` (`run_in_thread`), so the event loop that relays signaling
never encodes.

Every tick makes exactly one video frame and 1/fps of audio for every track, from the latest
frame each hall sent: the media timeline is the tick count, so each track's durations add up
to the recorded time, whatever arrived. A hall that sent no video for `gap_after` seconds (or
that the bot declares lost) shows a "signal lost" slate and is silent, in its own track and in
its half of the programme; when its frames come back, or at close, the span is reported as a
`GapClosed` for both tracks. The frozen last frame shown before the slate is not counted in
the gap: the gap is exactly the span the slate covers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from signaling.recording.errors import RecordingError
from signaling.recording.programme import Programme, Yuv, fit
from signaling.recording.slate import slate, trilingual
from signaling.recording.track import SAMPLE_RATE, ClosedSegment, TrackWriter, samples_for_tick

log = logging.getLogger(__name__)

PROGRAMME = "programme"
MAX_BACKLOG = SAMPLE_RATE // 2  # more queued audio than this: the hall's clock runs ahead, drop
KEEP_BACKLOG = SAMPLE_RATE // 10  # ... down to this much
Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class GapClosed:
    """A span of `track` that shows the slate because a hall's media did not arrive."""

    track: str
    media_start: float
    media_end: float
    wall_start: datetime
    wall_end: datetime
    reason: str  # "no_media", or what hall_lost was given ("peer_left", ...)


def hall_track(venue_id: str) -> str:
    return f"hall-{venue_id}"


@dataclass
class _OpenGap:
    tick: int
    wall: datetime
    reason: str


@dataclass
class _Hall:
    """One hall: what callers hand over (under `lock`) and what the tick thread keeps."""

    venue_id: str
    name: str
    writer: TrackWriter
    slate_track: av.VideoFrame
    slate_half: Yuv
    resampler: av.AudioResampler
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Handed over by callers, taken by the tick:
    incoming: av.VideoFrame | None = None
    sounds: list[av.AudioFrame] = field(default_factory=list)
    lost: str | None = None
    # The tick thread's own:
    picture: av.VideoFrame | None = None  # latest frame at track size
    half: Yuv | None = None  # latest frame fitted to the programme half
    last_tick: int = 0  # tick of the latest fresh frame
    fifo: Samples = field(default_factory=lambda: np.zeros(0, np.float32))
    gap: _OpenGap | None = None
    shown: object = None  # what the programme half holds, to skip re-placing the same picture


class RecordingEngine:
    def __init__(
        self,
        root: Path,
        halls: Sequence[tuple[str, Mapping[str, str]]],
        *,
        title: Mapping[str, str],
        fps: int = 15,
        size: tuple[int, int] = (640, 360),
        segment_seconds: float = 2.0,
        gap_after: float = 1.0,
        clock: Callable[[], datetime],
        on_segment: Callable[[ClosedSegment], None],
        on_gap: Callable[[GapClosed], None],
        resume: Mapping[str, tuple[int, float]] | None = None,
        start_reason: str = "no_media",
    ) -> None:
        """`resume` continues tracks after a recorder restart: track -> (next segment index,
        media_start), from the log. Until a hall's first frame arrives its track shows the
        slate, stated as a gap from media time 0 of this run with `start_reason` (pass
        "recorder_restart" when resuming)."""
        if len(halls) != 2:
            raise RecordingError(f"the programme shows two halls, got {len(halls)}")
        self.fps, self._clock, self._on_gap = fps, clock, on_gap
        self._gap_ticks = max(1, round(gap_after * fps))
        self._start_reason = start_reason
        resume = resume or {}
        self._offset = {track: media_start for track, (_, media_start) in resume.items()}  # media time at tick 0
        self._tick = 0
        self._closed = False
        self.failure: Exception | None = None  # what stopped run_in_thread's loop, if not `stop`
        self._lock = threading.Lock()  # guards the pending caption/signed texts
        self._caption: Mapping[str, str] | None = None
        self._signed: Sequence[str] | None = None
        width, height = size
        names = [trilingual(n) or venue for venue, n in halls]
        self._programme = Programme(size, title, names)

        def writer(track: str, w: int, h: int) -> TrackWriter:
            return TrackWriter(
                root / track, track, width=w, height=h, fps=fps, audio=True,
                segment_seconds=segment_seconds, on_segment=on_segment, resume=resume.get(track),
            )  # fmt: skip

        self._halls: dict[str, _Hall] = {}
        for (venue, _), name in zip(halls, names, strict=True):
            lost = Yuv.from_rgb(slate(width, height, name))  # hall tracks and halves share `size`
            self._halls[venue] = _Hall(
                venue_id=venue,
                name=name,
                writer=writer(hall_track(venue), width, height),
                slate_track=lost.frame(),
                slate_half=lost,
                resampler=av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE),
            )
        self._sides = list(self._halls.values())
        self._out = writer(PROGRAMME, self._programme.width, self._programme.height)
        self._cpu = {track: 0.0 for track in [*(h.writer.track for h in self._sides), PROGRAMME]}

    # -- callers (any thread; cheap) ------------------------------------------------------------

    def video(self, hall: str, frame: av.VideoFrame) -> None:
        h = self._hall(hall)
        with h.lock:
            h.incoming = frame

    def audio(self, hall: str, frame: av.AudioFrame) -> None:
        h = self._hall(hall)
        with h.lock:
            h.sounds.append(frame)

    def hall_lost(self, hall: str, reason: str) -> None:
        """The bot knows the hall is gone (peer left, reconnecting): slate from the next tick."""
        h = self._hall(hall)
        with h.lock:
            h.lost, h.incoming = reason, None
            h.sounds.clear()

    def set_caption(self, texts: Mapping[str, str]) -> None:
        """The run-of-show stage under the halls, by language (ko/zh/en)."""
        with self._lock:
            self._caption = dict(texts)

    def set_signed(self, names: Sequence[str]) -> None:
        """The lower third: who has signed so far."""
        with self._lock:
            self._signed = list(names)

    # -- the tick thread ------------------------------------------------------------------------

    @property
    def ticks(self) -> int:
        return self._tick

    @property
    def cpu_seconds(self) -> Mapping[str, float]:
        """CPU time of the ticking thread by track (a hall's: its scaling, resampling and encoding;
        the programme's: captions, compositing, mixing and encoding). Encoders are single-threaded,
        so this is all of it."""
        return dict(self._cpu)

    def tick(self) -> None:
        """Encode one 1/fps step of every track."""
        if self._closed:
            raise RecordingError("tick after close")
        n, wall = self._tick, self._clock()
        started = time.thread_time()
        with self._lock:
            caption, self._caption = self._caption, None
            signed, self._signed = self._signed, None
        if caption is not None:
            self._programme.set_caption(caption)
        if signed is not None:
            self._programme.set_signed(signed)
        want = samples_for_tick(n, self.fps)
        mix = np.zeros(want, np.float32)
        for side, h in enumerate(self._sides):
            begun = time.thread_time()
            self._take(h, n, wall)
            down = h.gap is not None or h.picture is None
            if down:  # silence, and no stale audio left to play when the picture comes back
                h.fifo = h.fifo[:0]
            samples = np.zeros(want, np.float32) if down else self._samples(h, want)
            h.writer.write(h.slate_track if down else h.picture, samples, wall)  # type: ignore[arg-type]
            half = h.slate_half if down else h.half
            if half is not h.shown:
                self._programme.put(side, half)  # type: ignore[arg-type]
                h.shown = half
            mix += samples
            self._cpu[h.writer.track] += time.thread_time() - begun
            started += time.thread_time() - begun
        self._out.write(self._programme.frame(), np.clip(mix, -1.0, 1.0), wall)
        self._cpu[PROGRAMME] += time.thread_time() - started
        self._tick += 1

    def close(self) -> None:
        """Close open gaps at the end of the media, flush every track (reports the last segments)."""
        if self._closed:
            return
        self._closed = True
        wall = self._clock()
        for h in self._sides:
            if h.gap is not None:
                self._close_gap(h, self._tick, wall)
        for w in [*(h.writer for h in self._sides), self._out]:
            begun = time.thread_time()
            w.close()
            self._cpu[w.track] += time.thread_time() - begun

    def run_in_thread(self, stop: threading.Event) -> threading.Thread:
        """Tick at the wall-clock cadence in a thread of its own until `stop`, then close.

        The cadence is paced by time.monotonic; if encoding falls behind, ticks catch up without
        sleeping, so media time keeps pace with real time."""

        def run() -> None:
            start, done = time.monotonic(), 0
            try:
                while not stop.wait(max(0.0, start + (done + 1) / self.fps - time.monotonic())):
                    self.tick()
                    done += 1
            except Exception as e:  # kept for the owner to see; the tracks are still closed below
                log.exception("recording engine failed at tick %d", self._tick)
                self.failure = e
            finally:
                self.close()

        thread = threading.Thread(target=run, name="recording-engine")
        thread.start()
        return thread

    # -- inside a tick --------------------------------------------------------------------------

    def _hall(self, hall: str) -> _Hall:
        try:
            return self._halls[hall]
        except KeyError:
            raise RecordingError(f"unknown hall {hall!r}") from None

    def _take(self, h: _Hall, n: int, wall: datetime) -> None:
        """Take what callers handed over; open or close the hall's gap."""
        with h.lock:
            lost, h.lost = h.lost, None
            frame, h.incoming = h.incoming, None
            sounds, h.sounds = h.sounds, []
        if lost is not None:
            h.picture = h.half = None
            h.fifo = np.zeros(0, np.float32)
            if h.gap is None:
                h.gap = _OpenGap(n, wall, lost)
            else:
                h.gap.reason = lost  # the bot's reason says more than "no_media"
        if frame is not None:
            if h.gap is not None:
                self._close_gap(h, n, wall)
            h.picture, h.half = self._pictures(frame)
            h.last_tick = n
        elif h.gap is None and h.picture is None:  # nothing yet since the start
            h.gap = _OpenGap(n, wall, self._start_reason)
        elif h.gap is None and n - h.last_tick >= self._gap_ticks:
            h.gap = _OpenGap(n, wall, "no_media")
            h.picture = h.half = None
        for sound in sounds:
            for out in h.resampler.resample(sound):
                h.fifo = np.concatenate([h.fifo, out.to_ndarray().reshape(-1).astype(np.float32)])

    def _pictures(self, frame: av.VideoFrame) -> tuple[av.VideoFrame, Yuv]:
        """The frame for the hall's track and for its programme half (both `size`): scaled once."""
        w, h = self._programme.half_w, self._programme.half_h
        if frame.width * h == frame.height * w:  # same aspect: straight to the encoder's format
            picture = frame.reformat(width=w, height=h, format="yuv420p")
            return picture, Yuv.of(picture)
        fitted = fit(frame, w, h)
        return fitted.frame(), fitted

    def _samples(self, h: _Hall, want: int) -> Samples:
        """Exactly `want` samples from the hall's FIFO: silence-padded, old audio dropped if late."""
        if h.fifo.size > MAX_BACKLOG:
            h.fifo = h.fifo[-(KEEP_BACKLOG + want) :]
        out, h.fifo = h.fifo[:want], h.fifo[want:]
        if out.size < want:
            out = np.concatenate([out, np.zeros(want - out.size, np.float32)])
        return out

    def _close_gap(self, h: _Hall, n: int, wall: datetime) -> None:
        gap, h.gap = h.gap, None
        assert gap is not None
        if gap.tick == n:
            return  # lost and back within one tick: the slate never showed
        for track in (h.writer.track, PROGRAMME):
            offset = self._offset.get(track, 0.0)
            start, end = offset + gap.tick / self.fps, offset + n / self.fps
            self._on_gap(GapClosed(track, start, end, gap.wall, wall, gap.reason))
