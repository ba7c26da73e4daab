"""Recorder CPU: the media engine recording two halls plus the programme, beside bare PyAV encoding.

Two 640x480 halls at 30 fps (a moving, noisy synthetic picture, as aiortc hands frames over:
yuv420p; and 48 kHz stereo s16 audio in 20 ms frames) go through `RecordingEngine`:
scaling, resampling, the composite, fMP4 segmenting, fsync and SHA-256 of every segment.
`tick()` is called back to back (no pacing), so CPU seconds per media second is the share
of one core the recorder needs in real time.

The floor, measured in the same run on the same frames: bare PyAV encoders with the same
settings (`x264_options`, AAC 48 kHz mono), fed the halls' frames and, for the programme,
composite frames prepared beforehand (already yuv420p): no compositing, no segmenting, no
muxing. What the engine costs above it is its own work.

Run: .venv/bin/python -m bench.recorder_bench --seconds 20
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from bench.common import machine
from signaling.recording import PROGRAMME, ClosedSegment, RecordingEngine
from signaling.recording.programme import Programme, fit
from signaling.recording.track import SAMPLE_RATE, samples_for_tick, x264_options

HALLS = [
    ("seoul", {"ko": "서울", "zh": "首尔", "en": "Seoul"}),
    ("beijing", {"ko": "베이징", "zh": "北京", "en": "Beijing"}),
]
TITLE = {"ko": "수출 양해각서 서명식", "zh": "出口谅解备忘录签署仪式", "en": "Export MOU signing"}
DISTINCT = 60  # distinct pictures per hall, cycled: enough that x264 sees real motion and noise


def pictures(seed: int, width: int, height: int) -> list[av.VideoFrame]:
    """A moving gradient with a marker colour block and noise: compresses like a camera, not a flat card."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    out = []
    for i in range(DISTINCT):
        rgb = np.zeros((height, width, 3), np.uint8)
        rgb[..., 0] = (x + 4 * i) % 256
        rgb[..., 1] = (y + 3 * i + 80 * seed) % 256
        rgb[..., 2] = ((x + y) // 2 + 2 * i) % 256
        rgb[height // 3 : height // 2, width // 3 : width // 2] = (220, 30, 30) if seed == 0 else (30, 30, 220)
        rgb = np.clip(rgb.astype(np.int16) + rng.integers(-3, 4, rgb.shape), 0, 255).astype(np.uint8)
        out.append(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p"))
    return out


def speech(n: int) -> av.AudioFrame:
    t = np.arange(n) / SAMPLE_RATE
    wave = (np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t) * 6000).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(np.repeat(wave, 2).reshape(1, -1), format="s16", layout="stereo")
    frame.sample_rate = SAMPLE_RATE
    return frame


def run_engine(
    root: Path, halls: Sequence[list[av.VideoFrame]], fps: int, ticks: int
) -> tuple[float, dict[str, float], dict[str, int]]:
    """Process CPU of the whole engine run, its per-track CPU, and bytes written per track."""
    sizes: dict[str, int] = {}
    durations: dict[str, float] = {}

    def on_segment(s: ClosedSegment) -> None:
        sizes[s.track] = sizes.get(s.track, 0) + s.size
        durations[s.track] = durations.get(s.track, 0.0) + s.duration

    engine = RecordingEngine(
        root, HALLS, title=TITLE, fps=fps, size=(halls[0][0].width, halls[0][0].height),
        clock=lambda: datetime.now(UTC), on_segment=on_segment, on_gap=lambda g: None,
    )  # fmt: skip
    engine.set_caption({"ko": "서명", "zh": "签署", "en": "Signing"})
    engine.set_signed(["김민준", "李伟"])
    # One continuous recording in 20 ms frames, as a hall sends it; made before the clock starts.
    wave = speech(round((ticks / fps + 1) * SAMPLE_RATE)).to_ndarray()
    chunks = [
        av.AudioFrame.from_ndarray(wave[:, 2 * 960 * i : 2 * 960 * (i + 1)], format="s16", layout="stereo")
        for i in range(wave.shape[1] // (2 * 960))
    ]
    for chunk in chunks:
        chunk.sample_rate = SAMPLE_RATE
    sent = 0
    start = time.process_time()
    for n in range(ticks):
        for (hall, _), frames in zip(HALLS, halls, strict=True):
            engine.video(hall, frames[n % DISTINCT])
        while sent * 960 < SAMPLE_RATE * (n + 1) // fps:  # the audio that has arrived by this tick's end
            for hall, _ in HALLS:
                engine.audio(hall, chunks[sent])
            sent += 1
        engine.tick()
    engine.close()
    used = time.process_time() - start
    # The bench asserts what it times: every track recorded all of the media.
    assert all(abs(durations[t] - ticks / fps) < 1.5 / fps for t in engine.cpu_seconds), durations
    return used, dict(engine.cpu_seconds), sizes


def mono(seconds: float, mix: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The halls' audio as the engine encodes it (48 kHz mono float), `mix` halls summed, for the floor."""
    wave = speech(round(seconds * SAMPLE_RATE)).to_ndarray().reshape(-1, 2)[:, 0].astype(np.float32) / 32768
    return np.clip(wave * mix, -1.0, 1.0)


def floor(frames: list[av.VideoFrame], audio: np.ndarray[Any, np.dtype[np.float32]], fps: int, ticks: int) -> float:
    """Process CPU of bare PyAV encoding `ticks` frames and their mono AAC: same settings, no container."""
    video: Any = av.CodecContext.create("libx264", "w")
    video.width, video.height, video.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
    video.time_base, video.framerate = Fraction(1, fps), Fraction(fps)
    video.options = x264_options(fps, 2.0)
    sound: Any = av.CodecContext.create("aac", "w")
    sound.sample_rate, sound.layout, sound.format = SAMPLE_RATE, "mono", "fltp"
    audio_pts = 0
    written = 0
    start = time.process_time()
    for n in range(ticks):
        frame = frames[n % len(frames)]
        frame.pts = n
        written += sum(p.size for p in video.encode(frame))
        k = samples_for_tick(n, fps)
        samples = audio[audio_pts : audio_pts + k].reshape(1, -1)
        chunk = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        chunk.sample_rate, chunk.pts = SAMPLE_RATE, audio_pts
        audio_pts += k
        written += sum(p.size for p in sound.encode(chunk))
    written += sum(p.size for p in [*video.encode(None), *sound.encode(None)])
    used = time.process_time() - start
    assert written > ticks * 100, "the floor encoded nothing"
    return used


def programme_pictures(halls: Sequence[list[av.VideoFrame]]) -> list[av.VideoFrame]:
    """The composite pictures the engine will encode, made beforehand for the floor."""
    width, height = halls[0][0].width, halls[0][0].height
    programme = Programme((width, height), TITLE, ["Seoul", "Beijing"])
    programme.set_caption({"ko": "서명", "zh": "签署", "en": "Signing"})
    programme.set_signed(["김민준", "李伟"])
    out = []
    for i in range(DISTINCT):
        for side, frames in enumerate(halls):
            programme.put(side, fit(frames[i], width, height))
        out.append(programme.frame())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="media seconds to record per round")
    parser.add_argument("--rounds", type=int, default=3, help="engine and floor alternately; medians shown")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args()
    ticks = round(args.seconds * args.fps)
    media = ticks / args.fps
    halls = [pictures(seed, args.width, args.height) for seed in range(2)]
    composites = programme_pictures(halls)
    tracks = [*(f"hall-{venue}" for venue, _ in HALLS), PROGRAMME]
    inputs = {tracks[0]: (halls[0], 1), tracks[1]: (halls[1], 1), PROGRAMME: (composites, 2)}
    print(machine(f"PyAV {av.__version__}"))
    print(f"{len(HALLS)} halls {args.width}x{args.height} + programme {composites[0].width}x{composites[0].height}")
    print(f"at {args.fps} fps, {media:g} s of media per round, {args.rounds} rounds (medians)")

    ours: dict[str, list[float]] = {t: [] for t in [*tracks, "total"]}
    floors: dict[str, list[float]] = {t: [] for t in [*tracks, "total"]}
    sizes: dict[str, int] = {}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            total, cpu, sizes = run_engine(Path(tmp), halls, args.fps, ticks)
        ours["total"].append(total)
        for track in tracks:
            ours[track].append(cpu[track])
            frames, mix = inputs[track]
            floors[track].append(floor(frames, mono(media + 1, mix), args.fps, ticks))
        floors["total"].append(sum(floors[t][-1] for t in tracks))

    print(f"{'track':<12}{'cores':>8}{'floor':>8}{'ratio':>8}{'MB/min':>9}")
    for track in [*tracks, "total"]:
        used, bare = statistics.median(ours[track]) / media, statistics.median(floors[track]) / media
        mb = f"{sizes[track] / media * 60 / 1e6:>9.2f}" if track in sizes else ""
        print(f"{track:<12}{used:>8.3f}{bare:>8.3f}{used / bare:>7.2f}x{mb}")
    print("cores = CPU seconds per media second; the total is the process's, the tracks the engine thread's")


if __name__ == "__main__":
    main()
