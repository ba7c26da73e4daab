"""The media engine (signaling.recording) on synthetic halls: real PyAV encoding, real ffprobe decoding.

Two halls send solid-colour frames (red and blue, 320x240) and a tone or silence; tick() is
called directly (no sleeping) with a fake clock. Every segment of every track is then decoded
(init.mp4 + segment) by Debian's ffprobe and, as one stream, by PyAV.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from signaling.recording import PROGRAMME, ClosedSegment, GapClosed, RecordingEngine, RecordingError
from signaling.recording.programme import TITLE_H
from signaling.recording.track import samples_for_tick

FPS = 15
HALF = (320, 180)  # programme halves and hall tracks: small, the machine is shared
RED = (255, 0, 0)
BLUE = (0, 0, 255)
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
FFPROBE = shutil.which("ffprobe") or "/usr/bin/ffprobe"
HALLS = [
    ("seoul", {"ko": "서울", "zh": "首尔", "en": "Seoul"}),
    ("beijing", {"ko": "베이징", "zh": "北京", "en": "Beijing"}),
]
TITLE = {"ko": "수출 양해각서", "zh": "出口谅解备忘录", "en": "Export MOU"}


class Clock:
    """Wall time that moves one tick per call to `step`: tests never sleep."""

    def __init__(self) -> None:
        self.ticks = 0

    def __call__(self) -> datetime:
        return at(self.ticks / FPS)

    def step(self) -> None:
        self.ticks += 1


def at(seconds: float) -> datetime:
    return T0 + timedelta(microseconds=round(seconds * 1e6))


@dataclass
class Recording:
    root: Path
    clock: Clock = field(default_factory=Clock)
    segments: list[ClosedSegment] = field(default_factory=list)
    gaps: list[GapClosed] = field(default_factory=list)

    def engine(self, gap_after: float = 1.0) -> RecordingEngine:
        return RecordingEngine(
            self.root, HALLS, title=TITLE, fps=FPS, size=HALF, gap_after=gap_after,
            clock=self.clock, on_segment=self.segments.append, on_gap=self.gaps.append,
        )  # fmt: skip

    def of(self, track: str) -> list[ClosedSegment]:
        return [s for s in self.segments if s.track == track]


def solid(colour: tuple[int, int, int]) -> av.VideoFrame:
    picture = np.zeros((240, 320, 3), np.uint8)
    picture[:] = colour
    return av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")  # as aiortc hands it over


def sound(n: int, tone: bool) -> av.AudioFrame:
    """n samples of 48 kHz stereo s16 (aiortc's format): a 440 Hz tone or silence."""
    t = np.arange(n) / 48_000
    wave = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16) if tone else np.zeros(n, np.int16)
    frame = av.AudioFrame.from_ndarray(np.repeat(wave, 2).reshape(1, -1), format="s16", layout="stereo")
    frame.sample_rate = 48_000
    return frame


def run(rec: Recording, engine: RecordingEngine, ticks: int, feed: Callable[[int], tuple[bool, bool]]) -> None:
    """`ticks` ticks; before tick n, `feed(n)` says whether Seoul and Beijing send media."""
    for n in range(ticks):
        for (hall, _), colour, sends, tone in zip(HALLS, (RED, BLUE), feed(n), (True, False), strict=True):
            if sends:
                engine.video(hall, solid(colour))
                engine.audio(hall, sound(samples_for_tick(n, FPS), tone))
        engine.tick()
        rec.clock.step()
    engine.close()


def probe_video(init: Path, segment: Path) -> list[int]:
    """ffprobe's key_frame flag of every video frame of init + segment, decoded from stdin."""
    done = subprocess.run(
        [FFPROBE, "-v", "error", "-select_streams", "v", "-show_entries", "frame=key_frame", "-of", "csv=p=0", "-"],
        input=init.read_bytes() + segment.read_bytes(),
        capture_output=True,
        check=True,
    )
    return [int(line.strip().rstrip(",")) for line in done.stdout.decode().split()]


def decode(rec: Recording, track: str) -> tuple[list[np.ndarray], np.ndarray]:
    """All RGB frames and all mono samples of a track: init and every segment, concatenated in order."""
    whole = rec.root / f"{track}.mp4"
    whole.write_bytes(b"".join(s.path.read_bytes() for s in rec.of(track)))
    frames: list[np.ndarray] = []
    samples: list[np.ndarray] = []
    with av.open(str(whole)) as container:
        for frame in container.decode(video=0, audio=0):
            if isinstance(frame, av.VideoFrame):
                frames.append(frame.to_ndarray(format="rgb24"))
            elif isinstance(frame, av.AudioFrame):
                samples.append(frame.to_ndarray().reshape(-1))
    return frames, np.concatenate(samples)


def colour_at(picture: np.ndarray, x: int, y: int) -> str:
    r, g, b = (int(c) for c in picture[y - 4 : y + 4, x - 4 : x + 4].reshape(-1, 3).mean(axis=0))
    if r > 180 and g < 70 and b < 70:
        return "red"
    if b > 180 and r < 70 and g < 70:
        return "blue"
    return "other"


def hall_colours(frames: list[np.ndarray]) -> list[str]:
    return [colour_at(f, f.shape[1] // 2, f.shape[0] // 2) for f in frames]


def programme_colours(frames: list[np.ndarray]) -> list[tuple[str, str]]:
    y = TITLE_H + HALF[1] // 2
    return [(colour_at(f, HALF[0] // 2, y), colour_at(f, HALF[0] + HALF[0] // 2, y)) for f in frames]


def check_track(rec: Recording, track: str, ticks: int) -> None:
    """Indexes 0.., init first; names, hashes and sizes true; a continuous timeline of `ticks`; keyframes first."""
    segments = rec.of(track)
    assert [s.index for s in segments] == list(range(len(segments)))
    assert segments[0].name == f"{track}/init.mp4" and segments[0].duration == 0
    media_start = 0.0
    frames = 0
    for s in segments:
        assert s.path == rec.root / s.name
        data = s.path.read_bytes()
        assert (s.sha256, s.size) == (hashlib.sha256(data).hexdigest(), len(data))
        assert s.media_start == pytest.approx(media_start, abs=1e-6)
        media_start += s.duration
        if s.index:
            assert s.name == f"{track}/{s.index:06d}.m4s"
            keys = probe_video(segments[0].path, s.path)
            assert keys[0] == 1, f"{s.name} does not start with a keyframe"
            assert len(keys) == pytest.approx(s.duration * FPS, abs=1)
            frames += len(keys)
    assert media_start == pytest.approx(ticks / FPS, abs=2 / FPS)
    assert frames == pytest.approx(ticks, abs=2)


def test_each_hall_in_its_track_and_both_in_the_programme(tmp_path: Path) -> None:
    rec = Recording(tmp_path)
    engine = rec.engine()
    engine.set_caption({"ko": "서명", "zh": "签署", "en": "Signing"})
    engine.set_signed(["Kim", "李"])
    run(rec, engine, 70, lambda n: (True, True))

    assert {s.track for s in rec.segments} == {"hall-seoul", "hall-beijing", PROGRAMME}
    for track in ("hall-seoul", "hall-beijing", PROGRAMME):
        check_track(rec, track, 70)
        assert [s.duration for s in rec.of(track)] == pytest.approx([0, 2, 2, 70 / FPS - 4])
    # Wall times come from the clock at each segment's first frame.
    assert [s.wall_start for s in rec.of(PROGRAMME)] == [T0, T0, at(2), at(4)]
    assert rec.gaps == []

    seoul, seoul_audio = decode(rec, "hall-seoul")
    beijing, beijing_audio = decode(rec, "hall-beijing")
    programme, programme_audio = decode(rec, PROGRAMME)
    assert len(seoul) == len(beijing) == len(programme) == 70
    assert set(hall_colours(seoul)) == {"red"}
    assert set(hall_colours(beijing)) == {"blue"}
    assert set(programme_colours(programme)) == {("red", "blue")}
    # Seoul sends a tone, Beijing silence; the programme mixes both.
    assert np.sqrt(np.mean(seoul_audio**2)) > 0.1
    assert np.abs(beijing_audio).max() < 0.01
    assert np.sqrt(np.mean(programme_audio**2)) > 0.1
    assert len(seoul_audio) == pytest.approx(70 / FPS * 48_000, abs=2048)  # AAC frames of 1024, plus priming


def test_a_silent_hall_shows_a_slate_and_a_stated_gap(tmp_path: Path) -> None:
    rec = Recording(tmp_path)
    engine = rec.engine(gap_after=0.5)  # 8 ticks
    # Beijing's last frame before the break is handed over before tick 14; it comes back before tick 40.
    run(rec, engine, 60, lambda n: (True, not 15 <= n < 40))

    start, end = 22 / FPS, 40 / FPS  # the slate covers ticks 22..39: 14 + 8 ticks of silence first
    wall_start, wall_end = at(start), at(end)
    assert rec.gaps == [
        GapClosed("hall-beijing", start, end, wall_start, wall_end, "no_media"),
        GapClosed(PROGRAMME, start, end, wall_start, wall_end, "no_media"),
    ]
    for track in ("hall-seoul", "hall-beijing", PROGRAMME):
        check_track(rec, track, 60)

    seoul, _ = decode(rec, "hall-seoul")
    beijing, _ = decode(rec, "hall-beijing")
    programme, _ = decode(rec, PROGRAMME)
    assert hall_colours(seoul) == ["red"] * 60
    assert hall_colours(beijing) == ["blue"] * 22 + ["other"] * 18 + ["blue"] * 20
    assert [right for _, right in programme_colours(programme)] == ["blue"] * 22 + ["other"] * 18 + ["blue"] * 20
    assert {left for left, _ in programme_colours(programme)} == {"red"}
    # The slate is the dark band with light text, not a frozen or black picture.
    slate = beijing[30]
    assert slate.mean() < 80 and slate.max() > 200


def test_hall_lost_opens_the_gap_at_once_with_its_reason_and_close_ends_it(tmp_path: Path) -> None:
    rec = Recording(tmp_path)
    engine = rec.engine()
    for n in range(30):
        engine.video("seoul", solid(RED))
        if n < 10:
            engine.video("beijing", solid(BLUE))
        if n == 10:
            engine.hall_lost("beijing", "peer_left")
        engine.tick()
        rec.clock.step()
    engine.close()

    assert rec.gaps == [
        GapClosed("hall-beijing", 10 / FPS, 2.0, at(10 / FPS), at(2), "peer_left"),
        GapClosed(PROGRAMME, 10 / FPS, 2.0, at(10 / FPS), at(2), "peer_left"),
    ]
    beijing, _ = decode(rec, "hall-beijing")
    assert hall_colours(beijing) == ["blue"] * 10 + ["other"] * 20
    check_track(rec, "hall-beijing", 30)


def test_misuse_is_refused(tmp_path: Path) -> None:
    rec = Recording(tmp_path)
    engine = rec.engine()
    with pytest.raises(RecordingError, match="unknown hall"):
        engine.video("tokyo", solid(RED))
    engine.tick()
    engine.close()
    with pytest.raises(RecordingError, match="after close"):
        engine.tick()
    with pytest.raises(RecordingError, match="two halls"):
        RecordingEngine(tmp_path, HALLS[:1], title=TITLE, clock=rec.clock, on_segment=print, on_gap=print)


def test_frames_of_another_size_and_rate_fit_the_track(tmp_path: Path) -> None:
    """A 4:3 hall in a 16:9 track is letterboxed, not stretched or cropped; 16 kHz audio is resampled."""
    rec = Recording(tmp_path)
    engine = rec.engine()
    for _ in range(16):
        for hall, colour in (("seoul", RED), ("beijing", BLUE)):
            engine.video(hall, solid(colour))
            tone = av.AudioFrame.from_ndarray(np.full((1, 1067), 4000, np.int16), format="s16", layout="mono")
            tone.sample_rate, tone.pts, tone.time_base = 16_000, None, Fraction(1, 16_000)
            engine.audio(hall, tone)
        engine.tick()
        rec.clock.step()
    engine.close()
    seoul, audio = decode(rec, "hall-seoul")
    picture = seoul[-1]
    assert colour_at(picture, HALF[0] // 2, HALF[1] // 2) == "red"
    assert picture[:, :10].max() < 40  # the bars at the sides: 240x180 inside 320x180
    assert np.abs(audio[4096:-4096]).mean() > 0.05


def test_a_restarted_recorder_continues_the_tracks(tmp_path: Path) -> None:
    """Numbering, media time and decode timestamps go on; init.mp4 is kept; the wait is a stated gap."""
    rec = Recording(tmp_path)
    run(rec, rec.engine(), 35, lambda n: (True, True))
    init = (tmp_path / "programme" / "init.mp4").read_bytes()
    resume = {}
    for track in ("hall-seoul", "hall-beijing", PROGRAMME):
        last = rec.of(track)[-1]
        resume[track] = (last.index + 1, last.media_start + last.duration)
    assert resume[PROGRAMME][0] == 3 and resume[PROGRAMME][1] == pytest.approx(35 / FPS)
    before = len(rec.segments)

    engine = RecordingEngine(
        tmp_path, HALLS, title=TITLE, fps=FPS, size=HALF, clock=rec.clock, on_segment=rec.segments.append,
        on_gap=rec.gaps.append, resume=resume, start_reason="recorder_restart",
    )  # fmt: skip
    run(rec, engine, 33, lambda n: (n >= 3, n >= 3))

    assert [s.index for s in rec.segments[before:] if s.track == PROGRAMME] == [3, 4]
    assert (tmp_path / "programme" / "init.mp4").read_bytes() == init
    assert not list(tmp_path.glob("*/.init-resumed.mp4"))
    start, end = 35 / FPS, 38 / FPS  # media time goes on from the first run's 35 ticks
    assert [(g.track, g.wall_start, g.wall_end, g.reason) for g in rec.gaps] == [
        (track, at(start), at(end), "recorder_restart")
        for track in ("hall-seoul", PROGRAMME, "hall-beijing", PROGRAMME)
    ]
    assert all(g.media_start == pytest.approx(start) and g.media_end == pytest.approx(end) for g in rec.gaps)
    for track in ("hall-seoul", "hall-beijing", PROGRAMME):
        check_track(rec, track, 68)
    # Each run decodes whole from init.mp4 (a playlist marks the restart as a discontinuity).
    segments = rec.of("hall-seoul")
    colours = []
    for part in (segments[1:3], segments[3:]):
        whole = tmp_path / "part.mp4"
        whole.write_bytes(b"".join(s.path.read_bytes() for s in [segments[0], *part]))
        with av.open(str(whole)) as container:
            colours += hall_colours([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
    assert colours == ["red"] * 35 + ["other"] * 3 + ["red"] * 30


def test_run_in_thread_ticks_until_stopped_then_closes(tmp_path: Path) -> None:
    rec = Recording(tmp_path)
    engine = rec.engine()
    stop = threading.Event()
    engine.video("seoul", solid(RED))
    engine.video("beijing", solid(BLUE))
    thread = engine.run_in_thread(stop)
    while engine.ticks < 3:
        stop.wait(0.01)
    stop.set()
    thread.join()
    assert engine.failure is None
    # The thread closed the engine: every track's last (short) segment was reported.
    for track in ("hall-seoul", "hall-beijing", PROGRAMME):
        assert [s.index for s in rec.of(track)] == [0, 1]
        check_track(rec, track, engine.ticks)
    with pytest.raises(RecordingError):
        engine.tick()
