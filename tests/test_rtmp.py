"""RTMP out: the programme's own fMP4 re-wrapped by `ffmpeg -c copy` and pushed to a real RTMP server.

The RTMP server is Debian's ffmpeg listening (`ffmpeg -listen 1 -i rtmp://...`), which writes what
it receives to a file; ffprobe then decodes that file. Nothing here is mocked.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import RtmpServer, free_port
from web.rtmp import Pusher, RtmpOut, backoff, shown

WAIT = 30.0  # a guard against hangs, not a speed claim
PROBE = ("ffprobe", "-v", "error", "-of", "json")


@pytest.fixture(scope="module")
def programme(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six seconds of fMP4 segments as the recorder writes them (init.mp4, 000001.m4s, ...), H.264 + AAC."""
    folder = tmp_path_factory.mktemp("programme")
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error",
            "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", "6", "-c:v", "libx264", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac",
            "-f", "hls", "-hls_time", "2", "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
            "-hls_segment_filename", str(folder / "%06d.m4s"), "-start_number", "1", "-hls_list_size", "0",
            str(folder / "ffmpeg.m3u8"),
        ],
        check=True,
    )  # fmt: skip
    return folder


@pytest.fixture
def rtmp_server(tmp_path: Path) -> Iterator[RtmpServer]:
    server = RtmpServer(free_port(), tmp_path / "received.flv")
    yield server
    server.stop()


def probe(path: Path) -> dict[str, object]:
    result = subprocess.run(
        [*PROBE, "-show_entries", "stream=codec_type,codec_name:format=duration", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    info: dict[str, object] = json.loads(result.stdout)
    return info


async def wait_state(pusher: Pusher, state: str) -> None:
    async with asyncio.timeout(WAIT):
        while pusher.target.state != state:  # noqa: ASYNC110 - another process's progress, polled
            await asyncio.sleep(0.05)


def segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("0*.m4s"))


async def test_the_programme_reaches_a_real_rtmp_server_and_decodes_there(
    programme: Path, rtmp_server: RtmpServer
) -> None:
    await asyncio.sleep(0.5)  # the listener binds its port
    pusher = Pusher(rtmp_server.url)
    try:
        pusher.segment(programme / "init.mp4", init=True)
        pusher.segment(segments(programme)[0], init=False)
        await wait_state(pusher, "live")
        for path in segments(programme)[1:]:
            pusher.segment(path, init=False)
            await asyncio.sleep(0.3)  # segments come one at a time, as the recorder closes them
        await asyncio.sleep(1.0)
        status = pusher.target.as_json()
        assert status["state"] == "live"
        assert "secret-stream-key" not in json.dumps(status)  # the stream key is never shown
    finally:
        await pusher.close()
    await asyncio.to_thread(rtmp_server.process.wait, WAIT)  # the publisher left: the server wrote its file
    info = probe(rtmp_server.out)
    kinds = {s["codec_type"]: s["codec_name"] for s in info["streams"]}  # type: ignore[index, union-attr, attr-defined]
    assert kinds == {"video": "h264", "audio": "aac"}
    # At least the segments sent before the last one arrived whole (the last may be cut by our close).
    assert float(info["format"]["duration"]) >= 3.5  # type: ignore[index, call-overload]


async def test_a_target_that_is_down_is_retried_with_backoff_and_goes_live_when_it_comes_up(
    programme: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"rtmp://127.0.0.1:{port}/live/another-key"
    delays: list[float] = []

    async def quick_sleep(seconds: float) -> None:
        delays.append(seconds)  # the backoff asked for; slept briefly so the test does not wait it out
        await asyncio.sleep(0.2)

    pusher = Pusher(url, sleep=quick_sleep)
    server: RtmpServer | None = None
    try:
        pusher.segment(programme / "init.mp4", init=True)
        for path in segments(programme):
            pusher.segment(path, init=False)
        async with asyncio.timeout(WAIT):
            while len(delays) < 3:
                await asyncio.sleep(0.05)
                pusher.segment(segments(programme)[-1], init=False)  # the recording goes on meanwhile
        assert delays[:3] == [backoff(1), backoff(2), backoff(3)] == [1.0, 2.0, 4.0]
        assert pusher.target.problem  # ffmpeg's reason, for the console
        assert "another-key" not in (pusher.target.problem or "")
        server = RtmpServer(port, tmp_path / "late.flv")
        server.url = url
        async with asyncio.timeout(WAIT):
            while pusher.target.state != "live":
                await asyncio.sleep(0.1)
                pusher.segment(segments(programme)[-1], init=False)
        assert pusher.target.attempts == 0
    finally:
        await pusher.close()
        if server is not None:
            server.stop()


async def test_pausing_stops_the_push_and_resuming_restarts_it(programme: Path, rtmp_server: RtmpServer) -> None:
    await asyncio.sleep(0.5)
    out = RtmpOut((rtmp_server.url,))
    try:
        out.segment("c1", programme / "init.mp4", True)
        out.segment("c1", segments(programme)[0], False)
        async with asyncio.timeout(WAIT):
            while out.status("c1")[0]["state"] != "live":  # noqa: ASYNC110 - polled, as the console does
                await asyncio.sleep(0.05)
        out.pause("c1", True)
        assert out.status("c1")[0]["state"] == "paused"
        await asyncio.to_thread(rtmp_server.process.wait, WAIT)  # our ffmpeg left: the publisher is gone
        assert out.status("c1")[0]["state"] == "paused"
        [other] = out.status("other")  # a ceremony with nothing recorded yet: its targets wait
        assert (other["target"], other["state"], other["attempts"]) == (shown(rtmp_server.url), "waiting", 0)
    finally:
        await out.close()


def test_the_stream_key_is_cut_from_what_is_shown() -> None:
    assert shown("rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl") == "rtmp://a.rtmp.youtube.com/live2/…"
    assert shown("rtmps://live.example.org:443/app/key?x=1") == "rtmps://live.example.org:443/app/…"
