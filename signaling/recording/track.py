"""One track's encoder and segmenter: H.264 + AAC into fMP4 segments of ~`segment_seconds`.

The encoding is done by PyAV into ffmpeg's own HLS muxer (fMP4 segment type), which writes
`init.mp4` and `000001.m4s`, `000002.m4s`, ... beside a private playlist `.ffmpeg.m3u8`. ffmpeg
cuts only at a keyframe, and the encoder makes one exactly every `fps * segment_seconds`
frames (no scene-cut keyframes), so every segment starts with a keyframe and lasts exactly
`segment_seconds` except the last. The muxer interleaves audio and video, so a segment closes
a tick or so after its last frame was handed over; the private playlist (renamed into place
by ffmpeg, so never half-written) is how we learn which segments closed and how long each is.

Timestamps come from the frame count handed to `write`, never from a clock: the media
timeline is exactly `frames / fps` long.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from ceremony.runtime.durable import sync_directory
from signaling.recording.errors import RecordingError

SAMPLE_RATE = 48_000
PLAYLIST = ".ffmpeg.m3u8"  # ffmpeg's own playlist: private, read only to learn of closed segments
INIT = "init.mp4"
AUDIO_TIME_BASE = Fraction(1, SAMPLE_RATE)
RESUMED_INIT = ".init-resumed.mp4"  # a resumed track's new init, compared with the logged one


@dataclass(frozen=True)
class ClosedSegment:
    """A segment on disk, fsynced, ready to be bound into the log (index 0 is init.mp4)."""

    track: str
    index: int
    name: str  # relative to the media root: "programme/000003.m4s"
    path: Path
    sha256: str
    size: int
    media_start: float  # seconds on the track's continuous timeline
    duration: float  # 0 for init.mp4
    wall_start: datetime  # when the segment's first frame was recorded


def x264_options(fps: int, segment_seconds: float) -> dict[str, str]:
    """The encoder settings, shared with the benchmark's floor so both encode alike."""
    keyint = round(fps * segment_seconds)
    return {
        "preset": "ultrafast",
        "tune": "zerolatency",
        # One thread per encoder: the engine's thread does all of a track's work, so its CPU is
        # accountable per track (thread_time), and no frame waits on a thread pool.
        "threads": "1",
        "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0",
    }


def add_streams(
    container: Any, *, width: int, height: int, fps: int, audio: bool, segment_seconds: float
) -> tuple[Any, Any | None]:
    """H.264 yuv420p at `fps` and (optionally) mono AAC at 48 kHz, in `container`."""
    video = container.add_stream("libx264", rate=fps, options=x264_options(fps, segment_seconds))
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.time_base = Fraction(1, fps)
    sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono") if audio else None
    return video, sound


def samples_for_tick(tick: int, fps: int) -> int:
    """Audio samples that belong to video frame `tick`: whole ticks add up to whole seconds."""
    return SAMPLE_RATE * (tick + 1) // fps - SAMPLE_RATE * tick // fps


class TrackWriter:
    """Encodes one track; `write` one frame (and its audio) per tick, `close` at the end."""

    def __init__(
        self,
        directory: Path,
        track: str,
        *,
        width: int,
        height: int,
        fps: int,
        audio: bool,
        segment_seconds: float = 2.0,
        on_segment: Callable[[ClosedSegment], None],
        resume: tuple[int, float] | None = None,
    ) -> None:
        """`resume=(next index, media_start)` continues a track that a previous process began
        (after a recorder restart): numbering and media time go on, and init.mp4 is kept, which
        works because the same settings give a byte-identical init segment (checked). The decode
        timestamps inside the segments restart at 0, though (ffmpeg's fMP4 muxer shifts the first
        packet to 0 without an edit list): an HLS playlist marks the first resumed segment with
        #EXT-X-DISCONTINUITY."""
        if width % 2 or height % 2:
            raise RecordingError(f"{track}: {width}x{height} is not even (yuv420p)")
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.track, self.fps = directory, track, fps
        self.width, self.height = width, height
        self._keyint = round(fps * segment_seconds)
        self._on_segment = on_segment
        self._playlist = directory / PLAYLIST
        # A previous process's private files, and the segment it was writing when it died (ffmpeg's
        # temp_file: written as .tmp, renamed when whole), which the log never named.
        for stale in (self._playlist, directory / RESUMED_INIT, *directory.glob("*.tmp")):
            stale.unlink(missing_ok=True)
        self._seen: tuple[int, int] | None = None  # playlist (mtime_ns, size) last parsed
        first, media_start = resume or (1, 0.0)
        self._first, self._resumed = first, resume is not None
        self._reported = 0  # media segments reported by this writer
        self._media_start = media_start  # where this writer's first segment starts
        self._media_end = media_start  # ... plus the durations reported since
        self._walls: dict[int, datetime] = {}  # keyframe tick -> wall time, until reported
        self.frames = 0
        self._video_tb = Fraction(1, fps)
        self._audio_pts = 0
        self._closed = False
        self._container: Any = av.open(
            str(self._playlist),
            "w",
            format="hls",
            options={
                "hls_time": f"{segment_seconds:g}",
                "hls_segment_type": "fmp4",
                "hls_fmp4_init_filename": INIT if resume is None else RESUMED_INIT,
                "hls_segment_filename": str(directory / "%06d.m4s"),
                "start_number": str(first),
                "hls_list_size": "0",
                "hls_flags": "independent_segments+temp_file",
                # No edit list: init.mp4 then does not depend on the first timestamps, so a resumed
                # track writes the very same init.mp4 again. The price: AAC's 1024 priming samples
                # are not trimmed (21 ms).
                "hls_segment_options": "use_editlist=0",
            },
        )
        self._video, self._audio = add_streams(
            self._container, width=width, height=height, fps=fps, audio=audio, segment_seconds=segment_seconds
        )

    def write(self, frame: av.VideoFrame, samples: npt.NDArray[np.float32] | None, wall: datetime) -> None:
        """Encode the next frame (any size/format; scaled to the track) and its tick of mono audio."""
        if self._closed:
            raise RecordingError(f"{self.track}: written after close")
        tick = self.frames
        if tick % self._keyint == 0:
            self._walls[tick] = wall
        frame.pts, frame.time_base = tick, self._video_tb
        self._mux(self._video.encode(frame))
        if self._audio is not None:
            if samples is None:
                samples = np.zeros(samples_for_tick(tick, self.fps), np.float32)
            sound = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="fltp", layout="mono")
            sound.sample_rate, sound.pts, sound.time_base = SAMPLE_RATE, self._audio_pts, AUDIO_TIME_BASE
            self._audio_pts += samples.size
            self._mux(self._audio.encode(sound))
        self.frames += 1
        self._collect()

    def close(self) -> None:
        """Flush the encoders; ffmpeg then writes the last (short) segment, which is reported."""
        if self._closed:
            return
        self._closed = True
        self._mux(self._video.encode(None))
        if self._audio is not None:
            self._mux(self._audio.encode(None))
        try:
            self._container.close()
        except av.FFmpegError as e:
            raise RecordingError(f"{self.track}: closing the muxer failed: {e}") from e
        self._collect()
        # ffmpeg's playlist was our scratch paper: the track folder keeps only what the log names
        # (verify --media reports any other file there as extra).
        self._playlist.unlink(missing_ok=True)

    def _mux(self, packets: list[Any]) -> None:
        try:
            self._container.mux(packets)
        except av.FFmpegError as e:
            raise RecordingError(f"{self.track}: muxing failed: {e}") from e

    def _collect(self) -> None:
        """Report segments that ffmpeg's playlist lists and we have not reported yet."""
        try:
            st = self._playlist.stat()
        except FileNotFoundError:
            return  # no segment closed yet
        if self._seen == (st.st_mtime_ns, st.st_size):
            return
        self._seen = (st.st_mtime_ns, st.st_size)
        listed = parse_playlist(self._playlist.read_text())
        for name, extinf in listed[self._reported :]:
            if self._reported == 0 and not self._resumed:
                self._report(0, INIT, 0.0, self._wall_at(0))
            elif self._reported == 0:
                self._check_resumed_init()  # init.mp4 was logged by the previous process
            # Snap to whole frames: the frames are what the timeline is made of.
            duration = round(extinf * self.fps) / self.fps
            start_tick = round((self._media_end - self._media_start) * self.fps)
            self._report(self._first + self._reported, name, duration, self._wall_at(start_tick))
            self._reported += 1
            self._media_end += duration

    def _check_resumed_init(self) -> None:
        new, old = self.directory / RESUMED_INIT, self.directory / INIT
        if not old.exists() or new.read_bytes() != old.read_bytes():
            raise RecordingError(f"{self.track}: cannot resume, the init segment differs from {INIT}")
        new.unlink()

    def _wall_at(self, tick: int) -> datetime:
        # A segment starts on a keyframe tick, which `write` noted; failing that, the nearest earlier.
        wall = self._walls[max(t for t in self._walls if t <= tick)]
        for old in [t for t in self._walls if t < tick]:
            del self._walls[old]
        return wall

    def _report(self, index: int, file: str, duration: float, wall: datetime) -> None:
        expected = INIT if index == 0 else f"{index:06d}.m4s"
        if file != expected:
            raise RecordingError(f"{self.track}: ffmpeg wrote {file}, expected {expected}")
        path = self.directory / file
        sha256, size = durable_digest(path)
        sync_directory(self.directory)  # the rename that put the segment in place, durable too
        self._on_segment(
            ClosedSegment(
                track=self.track,
                index=index,
                name=f"{self.track}/{file}",
                path=path,
                sha256=sha256,
                size=size,
                media_start=0.0 if index == 0 else self._media_end,
                duration=duration,
                wall_start=wall,
            )
        )


def parse_playlist(text: str) -> list[tuple[str, float]]:
    """(segment file, EXTINF seconds) in order, from an m3u8 playlist."""
    out: list[tuple[str, float]] = []
    extinf: float | None = None
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            extinf = float(line[len("#EXTINF:") :].split(",", 1)[0])
        elif line and not line.startswith("#") and extinf is not None:
            out.append((line.strip(), extinf))
            extinf = None
    return out


def durable_digest(path: Path) -> tuple[str, int]:
    """fsync `path` (ffmpeg has closed and renamed it) and return its SHA-256 and size."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        digest, size = hashlib.sha256(), 0
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest(), size
