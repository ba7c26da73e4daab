"""The server's side of the recording: one recorder process per recorded ceremony, its segments into the log.

When a ceremony with `"recording": true` has its rooms open, the server issues a
recorder link and starts `ceremony recorder` (signaling/bots/recorder_bot.py) as a
child process, which joins the room and encodes in its own process. Every segment
it reports is hashed again here from the file on disk before its `recording.segment`
event is appended: the log holds what is on disk, not what a process said.

Before the seal (and a cancellation), `finish` stops the recorder and waits until its
last segments are in the log, so the sealed evidence names every second recorded.
There is no way to pause it: the evidence recording stops only at seal or end.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from ceremony.commands import RecordGap, RecordSegment, RevokeInvitation
from ceremony.errors import CeremonyError
from ceremony.events import Role
from ceremony.recording import RecordingState
from ceremony.runtime.bus import BusError
from ceremony.runtime.node_calls import CallRefused, NodeCalls, NodeGone
from ceremony.runtime.service import CeremonyService
from ceremony.runtime.shared_turns import Lease, LeaseLocks
from ceremony.state import Phase, roll

from .settings import RecordingSettings

log = logging.getLogger(__name__)
ACTOR = "recorder"
FINISH_SECONDS = 20.0  # the recorder's last segments must be in the log within this, or the seal goes on
RESTART_SECONDS = 2.0  # a recorder that died is started again after this (each restart is a stated gap)
LIVE_PHASES = (Phase.OPEN, Phase.SIGNING)
HOLD_CALL = "recorder.hold"  # another node's seal or cancellation asks the recorder's node to stop it
HOLD_SECONDS = 120.0  # and to start none meanwhile (a failed seal: recording goes on after this)
WATCH_SLICE = 100  # ceremonies the watcher looks at before it lets the loop serve sockets again

# Told of every programme segment once it is in the log (the RTMP pushers feed on it).
SegmentListener = Callable[[str, Path, bool], None]  # ceremony, file, is the init segment


def media_root(data_dir: Path, ceremony: str) -> Path:
    return data_dir / "media" / ceremony


@dataclass
class HallStatus:
    state: str = "waiting"  # waiting | joined | left


@dataclass
class Recording:
    """One recorder process as the server sees it."""

    ceremony: str
    process: asyncio.subprocess.Process
    invitation: str  # its link, revoked when the process ends (a restart gets a new one)
    halls: dict[str, HallStatus] = field(default_factory=dict)
    state: str = "recording"  # recording | stopping | stopped | failed
    problem: str | None = None
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    caption: Mapping[str, str] | None = None
    signed: tuple[str, ...] | None = None
    reader: asyncio.Task[None] | None = None
    started_at: float = 0.0  # monotonic times the process started and ended
    ended_at: float = 0.0
    restarts: int = 0


class Recorders:
    """Starts a recorder for every recorded ceremony whose rooms are open; appends what it records."""

    def __init__(
        self,
        service: CeremonyService,
        data_dir: Path,
        settings: RecordingSettings,
        *,
        on_programme: SegmentListener | None = None,
        locks: LeaseLocks | None = None,
    ) -> None:
        self.service = service
        # Several nodes: one recorder per ceremony in the cluster, on the node holding its lease.
        self.locks = locks
        self._leases: dict[str, Lease] = {}
        self.calls: NodeCalls | None = None  # to stop a recorder another node runs (`ending`)
        self.data_dir = data_dir
        self.settings = settings
        # Where the recorder reaches this server; None: no recorders (the in-process demo sets it
        # once its port is known).
        self.local_url = settings.local_url
        self.on_programme = on_programme
        self.running: dict[str, Recording] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._starting: set[str] = set()
        self._held: set[str] = set()  # ceremonies being sealed or cancelled (see `ending`)
        self.clock = time.monotonic

    # ---- life cycle ----

    async def start(self) -> None:
        self._watcher = asyncio.create_task(self._watch(), name="recorders")

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await asyncio.gather(*(self.finish(c) for c in list(self.running)), return_exceptions=True)
        for ceremony in list(self._leases):
            self._let_go(ceremony)  # another node may record on at once, not a lease later
        if self.locks is not None:
            await self.locks.close()

    async def _watch(self) -> None:
        """Every second: a recorder for each live recorded ceremony that has none; captions kept current.

        In slices of WATCH_SLICE ceremonies, with the loop's other work between them: a node with
        a thousand ceremonies walked them all in one go (docs/benchmarks.md, issue 15).
        """
        while True:
            ceremonies = self.service.ceremonies() if self.local_url is not None else ()
            for n, state in enumerate(ceremonies, 1):
                if n % WATCH_SLICE == 0:
                    await asyncio.sleep(0)
                try:
                    await self._keep(state.id)
                except Exception:
                    log.exception("recorder of %s", state.id)
            await asyncio.sleep(1.0)

    async def _keep(self, ceremony: str) -> None:
        if ceremony in self._held:
            return  # a seal or cancellation is under way: no recorder may start meanwhile
        state = self.service.get(ceremony)
        recording = self.running.get(ceremony)
        if recording is not None and recording.state in ("failed", "stopped") and state.phase in LIVE_PHASES:
            # The recorder died (or was killed), or was stopped for a seal that then failed (a TSA
            # down, say): a new one goes on where the log says the tracks stand. After a death, 2 s,
            # then longer each time in a row (a recorder that cannot start must not spin).
            wait = RESTART_SECONDS * 2 ** min(recording.restarts, 5) if recording.state == "failed" else 0.0
            if self.clock() - recording.ended_at < wait:
                return
            log.warning("restarting the recorder of %s (%s)", ceremony, recording.problem)
            # A recorder that ran a while before it died starts the count again.
            restarts = recording.restarts + 1 if recording.ended_at - recording.started_at < 60 else 1
            del self.running[ceremony]
            recording = None
        else:
            restarts = 0
        if recording is None:
            if state.definition.recording and state.phase in LIVE_PHASES and ceremony not in self._starting:
                if not await self._may_record(ceremony):
                    return  # another node records it (and this one takes over if that node dies)
                # Also after this server restarted mid-ceremony: the tracks resume from the log.
                self._starting.add(ceremony)
                try:
                    self.running[ceremony] = await self._spawn(ceremony, restarts=restarts)
                finally:
                    self._starting.discard(ceremony)
            return
        if recording.state != "recording":
            return
        if state.phase in LIVE_PHASES:
            await self._tell(recording, *self._overlay(ceremony))
        else:
            await self.finish(ceremony)  # sealed or cancelled without our route's finish (another node)
            self._let_go(ceremony)

    async def _may_record(self, ceremony: str) -> bool:
        """Without a bus, always; with one, while this node holds the ceremony's recorder lease."""
        if self.locks is None or ceremony in self._leases:
            return True
        lease = await self.locks.try_acquire(self.locks.bus.key("recorder", ceremony))
        if lease is None:
            return False
        self._leases[ceremony] = lease
        return True

    def _let_go(self, ceremony: str) -> None:
        lease = self._leases.pop(ceremony, None)
        if lease is not None:
            lease.release()

    # ---- one recorder ----

    async def _spawn(self, ceremony: str, *, restarts: int = 0) -> Recording:
        state = self.service.get(ceremony)
        root = media_root(self.data_dir, ceremony)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        issued = await self.service.issue_link(ceremony, Role.RECORDER, ACTOR, label="recorder")
        link = f"{self.local_url}/c/{ceremony}/enter#{issued.token}"
        d = state.definition
        config = {
            "type": "config",
            "link": link,
            "halls": [{"id": v.id, "name": v.name.as_dict()} for v in d.venues],
            "title": d.title.as_dict(),
            "fps": self.settings.fps,
            "width": self.settings.width,
            "height": self.settings.height,
            "segment_seconds": self.settings.segment_seconds,
            "resume": resume_points(state.recording),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "web.cli",
            "recorder",
            "--media",
            str(root),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )
        recording = Recording(ceremony, process, issued.invitation, halls={v.id: HallStatus() for v in d.venues})
        recording.restarts, recording.started_at = restarts, self.clock()
        assert process.stdin is not None
        process.stdin.write((json.dumps(config, ensure_ascii=False) + "\n").encode())
        await process.stdin.drain()
        recording.reader = asyncio.create_task(self._read(recording), name=f"recorder {ceremony}")
        log.info("recording ceremony %s (recorder pid %d)", ceremony, process.pid)
        return recording

    def _overlay(self, ceremony: str) -> tuple[Mapping[str, str] | None, tuple[str, ...]]:
        """The programme's caption (the current stage) and its lower third (who has signed)."""
        state = self.service.get(ceremony)
        d = state.definition
        caption = next((s.title.as_dict() for s in d.run_of_show if s.id == state.segment), None)
        names = {s.id: s.name.as_dict() for s in d.signatories}
        signed = tuple(" / ".join(dict.fromkeys(names[i].values())) for i in roll(state).signed if i in names)
        return caption, signed

    async def _tell(self, recording: Recording, caption: Mapping[str, str] | None, signed: tuple[str, ...]) -> None:
        lines = []
        if caption is not None and caption != recording.caption:
            recording.caption = caption
            lines.append({"type": "caption", "texts": dict(caption)})
        if signed != recording.signed:
            recording.signed = signed
            lines.append({"type": "signed", "names": list(signed)})
        await self._send(recording, *lines)

    async def _send(self, recording: Recording, *lines: Mapping[str, Any]) -> None:
        stdin = recording.process.stdin
        if stdin is None or stdin.is_closing() or not lines:
            return
        with contextlib.suppress(ConnectionError):
            stdin.write(b"".join((json.dumps(line, ensure_ascii=False) + "\n").encode() for line in lines))
            await stdin.drain()

    async def _read(self, recording: Recording) -> None:
        stdout = recording.process.stdout
        assert stdout is not None
        try:
            while line := await stdout.readline():
                try:
                    message = json.loads(line)
                    await self._on_line(recording, message)
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("recorder of %s said something unusable: %s", recording.ceremony, exc)
        finally:
            code = await recording.process.wait()
            recording.ended_at = self.clock()
            await self._retire(recording)
            if recording.state not in ("stopping", "stopped"):
                recording.state = "failed"
                recording.problem = f"the recorder process ended with code {code}"
                log.error("recorder of %s ended unexpectedly (code %s)", recording.ceremony, code)
            else:
                recording.state = "stopped"
            recording.stopped.set()

    async def _on_line(self, recording: Recording, message: Mapping[str, Any]) -> None:
        kind = message.get("type")
        if kind == "segment":
            await self._segment(recording, message)
        elif kind == "gap":
            command = RecordGap(
                track=str(message["track"]),
                media_start=float(message["media_start"]),
                media_end=float(message["media_end"]),
                wall_start=_time(message["wall_start"]),
                wall_end=_time(message["wall_end"]),
                reason=str(message["reason"]),
            )
            await self._append(recording, command)
        elif kind == "hall":
            venue = str(message["venue"])
            if venue in recording.halls:
                recording.halls[venue].state = str(message["state"])

    async def _segment(self, recording: Recording, message: Mapping[str, Any]) -> None:
        name = str(message["name"])
        root = media_root(self.data_dir, recording.ceremony)
        path = (root / name).resolve()
        if root.resolve() not in path.parents:
            raise ValueError(f"segment {name!r} is outside the media folder")
        # Hashed again from the disk: what the log binds is what is stored.
        data = await asyncio.to_thread(path.read_bytes)
        sha256 = hashlib.sha256(data).hexdigest()
        if sha256 != message["sha256"] or len(data) != int(message["size"]):
            log.error("segment %s of %s changed on disk before it was logged", name, recording.ceremony)
            recording.problem = f"segment {name} did not match what the recorder wrote"
            return
        command = RecordSegment(
            track=str(message["track"]),
            index=int(message["index"]),
            name=name,
            sha256=sha256,
            size=len(data),
            media_start=float(message["media_start"]),
            duration=float(message["duration"]),
            wall_start=_time(message["wall_start"]),
        )
        if await self._append(recording, command) and command.track == "programme" and self.on_programme:
            self.on_programme(recording.ceremony, path, command.index == 0)

    async def _retire(self, recording: Recording) -> None:
        """The ended process's link goes with it: no one else may join the room as the recorder."""
        if self.service.get(recording.ceremony).invitations[recording.invitation].revoked_at is not None:
            return
        with contextlib.suppress(CeremonyError):
            await self.service.execute(recording.ceremony, RevokeInvitation(invitation=recording.invitation), ACTOR)

    async def _append(self, recording: Recording, command: RecordSegment | RecordGap) -> bool:
        try:
            await self.service.execute(recording.ceremony, command, ACTOR)
        except CeremonyError as exc:
            log.error("recording of %s: %s refused: %s", recording.ceremony, type(command).__name__, exc)
            recording.problem = str(exc)
            return False
        return True

    # ---- the end ----

    @contextlib.asynccontextmanager
    async def ending(self, ceremony: str) -> AsyncIterator[None]:
        """Around a seal or a cancellation: the recorder stops first and none starts until it is done.

        Should the seal fail (a TSA down, say), the ceremony is still live and the next watch
        starts a recorder again, going on from the log."""
        self._held.add(ceremony)
        try:
            await self.finish(ceremony)
            await self._finish_elsewhere(ceremony)
            yield
        finally:
            self._held.discard(ceremony)

    # ---- several nodes: the recorder may run on another node ----

    def serve_calls(self, calls: NodeCalls) -> None:
        """Let other nodes stop the recorders this one runs (their seal or cancellation)."""
        self.calls = calls
        calls.register(HOLD_CALL, self._hold_here)

    async def _finish_elsewhere(self, ceremony: str) -> None:
        """The node holding the ceremony's recorder lease stops its recorder and starts none for a while."""
        if self.locks is None or self.calls is None or ceremony in self._leases:
            return
        try:
            token = await self.locks.bus.redis.get(self.locks.bus.key("recorder", ceremony))
        except (OSError, RedisError) as exc:
            log.warning("cannot ask who records %s (%s); sealing without stopping it first", ceremony, exc)
            return
        node = (token.decode() if isinstance(token, bytes) else str(token or "")).split(":", 1)[0]
        if not node or node == self.calls.node:
            return
        try:
            await self.calls.call(node, HOLD_CALL, {"ceremony": ceremony}, FINISH_SECONDS + 5)
        except NodeGone:
            pass  # its recorder died with it (its lease lapses); nothing is left to stop
        except (BusError, CallRefused) as exc:
            # The seal goes on: a segment that recorder logs after it is refused, and missing.
            log.error("could not stop the recorder of %s on node %s: %s", ceremony, node, exc)

    async def _hold_here(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Another node seals or cancels: stop this ceremony's recorder here, and start none for HOLD_SECONDS
        (the ceremony is no longer live by then; if the seal failed, recording goes on after)."""
        ceremony = str(payload["ceremony"])
        self._held.add(ceremony)
        asyncio.get_running_loop().call_later(HOLD_SECONDS, self._held.discard, ceremony)
        await self.finish(ceremony)
        return {"stopped": ceremony}

    async def finish(self, ceremony: str) -> None:
        """Stop the ceremony's recorder and wait until its last segments are in the log (the seal's first step)."""
        recording = self.running.get(ceremony)
        if recording is None or recording.stopped.is_set():
            return
        recording.state = "stopping"
        await self._send(recording, {"type": "stop"})
        try:
            async with asyncio.timeout(FINISH_SECONDS):
                await recording.stopped.wait()
        except TimeoutError:
            log.error("the recorder of %s did not stop within %.0f s; stopping it", ceremony, FINISH_SECONDS)
            with contextlib.suppress(ProcessLookupError):
                recording.process.kill()
            await recording.stopped.wait()

    def status(self, ceremony: str) -> dict[str, Any]:
        """What the host console shows of the recorder process (the tracks themselves come from the log)."""
        recording = self.running.get(ceremony)
        state = self.service.get(ceremony)
        if recording is None:
            if not state.definition.recording:
                return {"state": "off"}
            if state.phase is Phase.SEALED or state.phase is Phase.CANCELLED:
                return {"state": "stopped"}
            return {"state": "starting"}
        return {
            "state": recording.state,
            "problem": recording.problem,
            "halls": {venue: hall.state for venue, hall in recording.halls.items()},
        }


def resume_points(recording: RecordingState) -> dict[str, tuple[int, float]]:
    """Where each track goes on after a restart: its next index and media time, from the log."""
    return {
        name: (track.last.index + 1, track.media_end)
        for name, track in recording.tracks.items()
        if track.last is not None
    }


def _time(text: Any) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
