"""RTMP out (`--rtmp-url`, repeatable): the programme pushed to YouTube Live, Bilibili, Naver and the like.

No second encode: each target is an `ffmpeg -c copy` process fed the programme's own
fMP4 (init segment, then every segment once it is in the log) on stdin, which
re-wraps it as FLV for RTMP. A target that refuses or drops us is retried with
backoff, from the newest segment (a live audience wants now, not what it missed).
The stream key is a secret: states and logs show the target without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)
MAX_BACKOFF = 30.0
FFMPEG = "ffmpeg"


def shown(url: str) -> str:
    """The target without its stream key (the last path part): safe for consoles and logs."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    head = path.rsplit("/", 1)[0] if path.count("/") > 1 else path
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{head}/…"


def backoff(attempt: int) -> float:
    """Seconds before retry `attempt` (1, 2, 4, ... up to MAX_BACKOFF)."""
    return min(MAX_BACKOFF, 2.0 ** max(0, attempt - 1))


@dataclass
class Target:
    url: str
    state: str = "waiting"  # waiting | connecting | live | retrying | paused
    attempts: int = 0  # failures since it was last live
    problem: str | None = None
    since: float = field(default_factory=time.time)

    def set(self, state: str, problem: str | None = None) -> None:
        if state != self.state:
            self.state, self.since = state, time.time()
        if problem is not None:
            self.problem = problem

    def as_json(self) -> dict[str, Any]:
        return {
            "target": shown(self.url),
            "state": self.state,
            "attempts": self.attempts,
            "problem": self.problem,
            "since": round(self.since, 3),
        }


class Pusher:
    """One ceremony to one target."""

    def __init__(self, url: str, *, sleep: Callable[[float], Any] = asyncio.sleep) -> None:
        self.target = Target(url)
        self._init: Path | None = None
        self._queue: asyncio.Queue[Path] = asyncio.Queue()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._pausing = asyncio.Event()  # the opposite of _resumed, for waiting on a pause
        self._sleep = sleep
        self._task = asyncio.create_task(self._run(), name=f"rtmp {shown(url)}")

    def segment(self, path: Path, *, init: bool) -> None:
        if init:
            self._init = path
        else:
            self._queue.put_nowait(path)

    def pause(self, paused: bool) -> None:
        if paused:
            self._resumed.clear()
            self._pausing.set()
            self.target.set("paused")
        else:
            self._pausing.clear()
            self._resumed.set()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            await self._resumed.wait()
            first = await self._newest()
            if not self._resumed.is_set():
                continue
            if self._init is None:
                continue  # no init segment yet: nothing a player could start from
            ok = await self._push(first)
            if ok:
                continue  # paused: back to waiting
            self.target.attempts += 1
            delay = backoff(self.target.attempts)
            self.target.set("retrying")
            log.warning("rtmp %s: retrying in %.0f s (%s)", shown(self.target.url), delay, self.target.problem)
            await self._sleep(delay)

    async def _newest(self) -> Path:
        """The next segment to send, skipping any that piled up while we were not sending."""
        path = await self._queue.get()
        while not self._queue.empty():
            path = self._queue.get_nowait()
        return path

    async def _push(self, first: Path) -> bool:
        """Feed one ffmpeg until it fails (False) or the broadcast is paused (True)."""
        assert self._init is not None
        self.target.set("connecting")
        process = await asyncio.create_subprocess_exec(
            FFMPEG,
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostats",
            "-progress",
            "pipe:1",  # key=value blocks on stdout once it writes: how we know the target took the stream
            "-f",
            "mp4",
            "-i",
            "pipe:0",
            "-c",
            "copy",
            "-f",
            "flv",
            self.target.url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None
        watcher = asyncio.create_task(self._watch_progress(process))
        path: Path | None = first
        try:
            process.stdin.write(await asyncio.to_thread(self._init.read_bytes))
            while path is not None:
                process.stdin.write(await asyncio.to_thread(path.read_bytes))
                await process.stdin.drain()
                path = await self._next_or_pause()
                if process.returncode is not None:
                    raise ConnectionError("ffmpeg ended")
            process.stdin.close()
            return True
        except (ConnectionError, OSError) as exc:
            self.target.problem = f"{type(exc).__name__}"
            return False
        finally:
            watcher.cancel()
            await self._reap(process)

    async def _watch_progress(self, process: asyncio.subprocess.Process) -> None:
        """Live once ffmpeg reports media written to the target (its `-progress` blocks)."""
        assert process.stdout is not None
        while line := await process.stdout.readline():
            key, _, value = line.decode("ascii", "replace").strip().partition("=")
            if key == "total_size" and value.isdigit() and int(value) > 0 and self._resumed.is_set():
                self.target.set("live")
                self.target.attempts = 0

    async def _next_or_pause(self) -> Path | None:
        getter = asyncio.ensure_future(self._queue.get())
        paused = asyncio.ensure_future(self._pausing.wait())
        done, _ = await asyncio.wait({getter, paused}, return_when=asyncio.FIRST_COMPLETED)
        if getter in done:
            paused.cancel()
            return getter.result()
        getter.cancel()
        return None

    async def _reap(self, process: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError):
            if process.returncode is None:
                process.terminate()
        try:
            async with asyncio.timeout(5):
                _, err = await process.communicate()
        except TimeoutError:
            process.kill()
            _, err = await process.communicate()
        except ValueError:  # the progress watcher was still reading stdout: stderr alone
            await process.wait()
            err = await process.stderr.read() if process.stderr is not None else b""
        text = (err or b"").decode("utf-8", "replace").strip().splitlines()
        if text and self.target.state != "paused":
            # ffmpeg names the URL in its errors; the key must not reach the console.
            self.target.problem = text[-1].replace(self.target.url, shown(self.target.url))[:200]


class RtmpOut:
    """Every ceremony's pushers, one per `--rtmp-url`, made on its first programme segment."""

    def __init__(self, urls: tuple[str, ...]) -> None:
        self.urls = urls
        self._pushers: dict[str, list[Pusher]] = {}
        self._paused: set[str] = set()

    def segment(self, ceremony: str, path: Path, init: bool) -> None:
        if not self.urls:
            return
        pushers = self._pushers.get(ceremony)
        if pushers is None:
            pushers = self._pushers[ceremony] = [Pusher(url) for url in self.urls]
            for pusher in pushers:
                pusher.pause(ceremony in self._paused)
        for pusher in pushers:
            pusher.segment(path, init=init)

    def pause(self, ceremony: str, paused: bool) -> None:
        (self._paused.add if paused else self._paused.discard)(ceremony)
        for pusher in self._pushers.get(ceremony, []):
            pusher.pause(paused)

    def status(self, ceremony: str) -> list[dict[str, Any]]:
        pushers = self._pushers.get(ceremony)
        if pushers is None:
            state = "paused" if ceremony in self._paused else "waiting"
            return [Target(url, state=state).as_json() for url in self.urls]
        return [p.target.as_json() for p in pushers]

    async def stop(self, ceremony: str) -> None:
        for pusher in self._pushers.pop(ceremony, []):
            await pusher.close()

    async def close(self) -> None:
        for ceremony in list(self._pushers):
            await self.stop(ceremony)
