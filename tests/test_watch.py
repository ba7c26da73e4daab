"""The observers' broadcast (web/watch.py, web/hls.py): the playlist from the log, who may fetch what, cache headers.

The routes run in a real aiohttp app with the real service; the programme's segments are
put on disk and into the log as the lead's recorder does it (a RecordSegment per closed
file), with a few bytes standing in for the media: what is checked here is which names
are served, from where and how; tests/test_watch_browser.py plays real media.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from ceremony.commands import Freeze, OpenRooms, RecordSegment, StartSegment
from ceremony.events import Role
from web.app import create_app
from web.appkeys import SERVICE
from web.demo.definition import demo_definition
from web.hls import SEGMENT_FILE, live_playlist
from web.settings import Settings
from web.watch import BROADCASTS, VIEWER_WINDOW, Broadcast

T0 = datetime(2026, 5, 29, 1, 0, tzinfo=UTC)


# ------------------------------------------------------------------ the playlist, a pure function


@dataclass(frozen=True)
class Seg:
    track: str
    index: int
    name: str
    duration: float
    wall_start: datetime
    media_start: float = 0.0


def segs(count: int, duration: float = 2.0) -> list[Seg]:
    init = Seg("programme", 0, "programme/init.mp4", 0.0, T0)
    return [init] + [
        Seg(
            "programme",
            i,
            f"programme/{i:06d}.m4s",
            duration,
            T0 + timedelta(seconds=duration * (i - 1)),
            media_start=duration * (i - 1),
        )
        for i in range(1, count + 1)
    ]


def test_the_playlist_lists_the_last_six_segments_after_the_init_segment() -> None:
    text = live_playlist(segs(9), ended=False)
    lines = text.splitlines()
    assert lines[:7] == [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-TARGETDURATION:2",
        "#EXT-X-MEDIA-SEQUENCE:4",
        "#EXT-X-DISCONTINUITY-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-MAP:URI="init.mp4"',
    ]
    assert [line for line in lines if line.endswith(".m4s")] == [f"{i:06d}.m4s" for i in range(4, 10)]
    assert "#EXTINF:2.000," in lines
    assert "#EXT-X-PROGRAM-DATE-TIME:2026-05-29T01:00:06.000Z" in lines  # segment 4 began 6 s in
    assert "init.mp4" not in [line for line in lines if not line.startswith("#")]
    assert "#EXT-X-ENDLIST" not in text


def test_a_restarted_recorder_is_a_discontinuity_and_counted_once_it_leaves_the_window() -> None:
    # The recorder died after segment 3 and its successor went on at media time 6 s (segment 4):
    # the new encoder's timestamps start again, which a player must be told.
    text = live_playlist(segs(6), ended=False, restarts=[6.0])
    lines = text.splitlines()
    assert lines[lines.index("#EXT-X-DISCONTINUITY") + 2 :][:1] == ["#EXTINF:2.000,"]
    assert lines[lines.index("#EXT-X-DISCONTINUITY") + 3] == "000004.m4s"
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:0" in lines
    later = live_playlist(segs(11), ended=False, restarts=[6.0]).splitlines()
    assert "#EXT-X-DISCONTINUITY" not in later and "#EXT-X-DISCONTINUITY-SEQUENCE:1" in later


def test_the_playlist_ends_and_rounds_its_target_duration_up() -> None:
    text = live_playlist(segs(3, duration=2.0334), ended=True)
    assert "#EXT-X-TARGETDURATION:3" in text  # every EXTINF rounds to at most the target
    assert "#EXT-X-MEDIA-SEQUENCE:1" in text
    assert text.endswith("#EXT-X-ENDLIST\n")


@pytest.mark.parametrize("name", ["000001.m4s", "123456.m4s", "init.mp4"])
def test_segment_file_names_that_may_be_asked_for(name: str) -> None:
    assert SEGMENT_FILE.match(name)


@pytest.mark.parametrize(
    "name", ["../x", "..%2Fx", "%00", "000001.m4s\x00", "1.m4s", "0000001.m4s", "init.mp4/..", "live.m3u8", "x.m4s"]
)
def test_no_other_name_reaches_the_file_system(name: str) -> None:
    assert not SEGMENT_FILE.match(name)


def test_viewers_are_those_who_fetched_the_playlist_in_the_last_seconds() -> None:
    broadcast = Broadcast()
    broadcast.saw("session:a", 100.0)
    broadcast.saw("session:b", 101.0)
    broadcast.saw("session:a", 104.0)  # the same player reloading is one viewer
    assert broadcast.viewers(105.0) == 2
    assert broadcast.viewers(101.0 + VIEWER_WINDOW + 0.5) == 1  # b stopped; a's last fetch is recent
    assert broadcast.viewers(104.0 + VIEWER_WINDOW + 0.5) == 0


# ------------------------------------------------------------------ the routes, in a real app


@dataclass
class Watched:
    client: Any
    app: Any
    ceremony: str
    media: Path
    tokens: dict[str, str]
    recorded: int = 0

    def headers(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}

    async def get(self, path: str, who: str | None = "observer", **kwargs: Any) -> Any:
        return await self.client.get(path, headers=self.headers(who) | kwargs.pop("headers", {}), **kwargs)

    async def record(self, count: int) -> None:
        """Write `count` more programme segments (and the init segment first) and log each, as the recorder does."""
        service = self.app[SERVICE]
        self.media.mkdir(parents=True, exist_ok=True)
        for _ in range(count + (1 if self.recorded == 0 else 0)):
            index = len(service.get(self.ceremony).recording.track("programme").segments)
            name = "init.mp4" if index == 0 else f"{index:06d}.m4s"
            data = f"segment {index} of {self.ceremony}".encode()
            (self.media / name).write_bytes(data)
            command = RecordSegment(
                track="programme",
                index=index,
                name=f"programme/{name}",
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                media_start=0.0 if index == 0 else 2.0 * (index - 1),
                duration=0.0 if index == 0 else 2.0,
                wall_start=T0 + timedelta(seconds=2 * index),
            )
            await service.execute(self.ceremony, command, "recorder")
        self.recorded += count

    async def playlist(self, who: str | None = "observer") -> str:
        response = await self.get(f"/c/{self.ceremony}/watch/live.m3u8", who)
        assert response.status == 200, await response.text()
        text: str = await response.text()
        return text


async def watched(aiohttp_client: Any, tmp_path: Path, pdf: bytes, *, recording: bool = True) -> Watched:
    data = tmp_path / "data"
    app = create_app(Settings(data_dir=data, create_demo=False))
    client = await aiohttp_client(app)
    service = app[SERVICE]
    state = await service.create(replace(demo_definition(), recording=recording), "operator")
    sha = await service.store_document(pdf)
    await service.execute(state.id, Freeze(document_sha256=sha, document_size=len(pdf)), "test")
    await service.execute(state.id, OpenRooms(), "test")
    venue = state.definition.venues[0].id
    tokens = {
        "host": (await service.issue_link(state.id, Role.HOST, "t")).token,
        "observer": (await service.issue_link(state.id, Role.OBSERVER, "t")).token,
        "observer-2": (await service.issue_link(state.id, Role.OBSERVER, "t")).token,
        "venue": (await service.issue_link(state.id, Role.VENUE, "t", venue=venue)).token,
    }
    return Watched(client, app, state.id, data / "media" / state.id / "programme", tokens)


async def test_observers_and_the_host_watch_others_are_refused_until_public(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    w = await watched(aiohttp_client, tmp_path, original_pdf)
    await w.record(2)
    page = f"/c/{w.ceremony}/watch"
    paths = [page] + [f"{page}/{name}" for name in ("live.m3u8", "init.mp4", "000001.m4s", "status")]
    for path in paths:
        assert (await w.get(path, "observer")).status == 200, path
        assert (await w.get(path, "host")).status == 200, path
        assert (await w.get(path, None)).status == 401, path
        assert (await w.get(path, "venue")).status == 403, path
    live = await w.get(f"/c/{w.ceremony}/watch/live.m3u8")
    assert live.headers["Cache-Control"] == "private, no-store"
    assert live.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")

    answer = await w.client.post(
        f"/api/ceremonies/{w.ceremony}/broadcast", json={"public": True}, headers=w.headers("host")
    )
    assert answer.status == 200 and (await answer.json())["public"] is True
    for path in paths:
        assert (await w.get(path, None)).status == 200, path  # anybody, with the plain link
    live = await w.get(f"/c/{w.ceremony}/watch/live.m3u8", None)
    assert live.headers["Cache-Control"] == "public, max-age=1"
    segment = await w.get(f"/c/{w.ceremony}/watch/000002.m4s", None)
    assert segment.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert await segment.read() == (w.media / "000002.m4s").read_bytes()
    assert segment.headers["Content-Type"] == "video/iso.segment"


async def test_only_names_the_log_lists_are_served_and_bad_names_are_plain_404s(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    w = await watched(aiohttp_client, tmp_path, original_pdf)
    await w.record(2)
    (w.media / "000003.m4s").write_bytes(b"on disk, but not in the log")
    (w.media.parent / "secret.txt").write_bytes(b"not media")
    segment = await w.get(f"/c/{w.ceremony}/watch/000002.m4s")
    assert segment.status == 200
    assert segment.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert (await w.get(f"/c/{w.ceremony}/watch/000003.m4s")).status == 404  # not logged: never served
    for raw in ("..%2Fsecret.txt", "%2E%2E%2Fsecret.txt", "%00", "000001.m4s%00", "init.mp4%2F..", "..", "x" * 300):
        for accept in ("application/json", "text/html"):
            response = await w.client.session.get(
                URL(f"{str(w.client.make_url('')).rstrip('/')}/c/{w.ceremony}/watch/{raw}", encoded=True),
                headers=w.headers("observer") | {"Accept": accept},
            )
            body = await response.text()
            assert response.status in (400, 404), (raw, response.status)
            assert "Traceback" not in body and "not media" not in body, raw
    # A logged segment whose file is gone (media retention) is a 404 too, not a server error.
    (w.media / "000001.m4s").unlink()
    assert (await w.get(f"/c/{w.ceremony}/watch/000001.m4s")).status == 404


async def test_the_playlist_follows_the_log_stops_at_a_pause_and_ends_at_the_end(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    w = await watched(aiohttp_client, tmp_path, original_pdf)
    assert (await w.get(f"/c/{w.ceremony}/watch/live.m3u8")).status == 404  # nothing logged yet
    assert (await (await w.get(f"/c/{w.ceremony}/watch/status")).json())["state"] == "waiting"
    await w.record(8)
    text = await w.playlist()
    assert "#EXT-X-MEDIA-SEQUENCE:3" in text and text.splitlines()[-1] == "000008.m4s"

    pause = await w.client.post(
        f"/api/ceremonies/{w.ceremony}/broadcast", json={"paused": True}, headers=w.headers("host")
    )
    assert (await pause.json())["paused"] is True
    await w.record(2)  # the evidence recording goes on
    assert (await w.playlist()).splitlines()[-1] == "000008.m4s"
    assert (await w.get(f"/c/{w.ceremony}/watch/000009.m4s")).status == 404
    assert (await (await w.get(f"/c/{w.ceremony}/watch/status")).json())["state"] == "paused"
    resume = await w.client.post(
        f"/api/ceremonies/{w.ceremony}/broadcast", json={"paused": False}, headers=w.headers("host")
    )
    assert (await resume.json())["paused"] is False
    assert (await w.playlist()).splitlines()[-1] == "000010.m4s"
    assert "#EXT-X-ENDLIST" not in await w.playlist()

    await w.app[SERVICE].execute(w.ceremony, StartSegment(segment="signing"), "test")
    sealed = await w.client.post(
        f"/api/ceremonies/{w.ceremony}/seal", json={"absent_ok": True}, headers=w.headers("host")
    )
    assert sealed.status == 200, await sealed.text()
    assert (await w.playlist()).endswith("000010.m4s\n#EXT-X-ENDLIST\n")
    assert (await (await w.get(f"/c/{w.ceremony}/watch/status")).json())["state"] == "ended"


async def test_the_host_sees_each_track_and_the_viewers_and_cannot_pause_the_recording(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    w = await watched(aiohttp_client, tmp_path, original_pdf)
    await w.record(3)
    url = f"/api/ceremonies/{w.ceremony}/broadcast"
    await w.playlist("observer")
    await w.playlist("observer")
    await w.playlist("observer-2")
    await w.playlist("host")  # the host's own look is no viewer
    state = await (await w.get(url, "host")).json()
    assert state["viewers"] == 2
    assert state["state"] == "live" and state["public"] is False and state["paused"] is False
    assert state["recording"] is True and state["recording_pausable"] is False
    assert state["public_url"].endswith(f"/c/{w.ceremony}/watch")
    assert state["rtmp"] == []
    tracks = {t["track"]: t for t in state["tracks"]}
    venues = [v.id for v in demo_definition().venues]
    assert list(tracks) == [f"hall-{v}" for v in venues] + ["programme"]
    assert tracks["programme"]["recorded_seconds"] == 6.0 and tracks["programme"]["segments"] == 3
    assert tracks["programme"]["last"]["name"] == "programme/000003.m4s"
    assert tracks[f"hall-{venues[0]}"] == {
        "track": f"hall-{venues[0]}",
        "venue": venues[0],
        "recorded_seconds": 0.0,
        "segments": 0,
        "last": None,
        "gaps": 0,
    }
    # Later, with the clock past the window, nobody is watching any more.
    clock = w.app[BROADCASTS].clock
    w.app[BROADCASTS].clock = lambda: clock() + VIEWER_WINDOW + 1
    assert (await (await w.get(url, "host")).json())["viewers"] == 0

    assert (await w.get(url, "observer")).status == 403
    for body, field in (({"paused": "yes"}, "paused"), ({"public": 1}, "public"), ({"recording": False}, "recording")):
        refused = await w.client.post(url, json=body, headers=w.headers("host"))
        answer = await refused.json()
        assert refused.status == 400 and answer["error"] == "bad_request", answer
        assert [f["field"] for f in answer["fields"]] == [field]


async def test_a_ceremony_without_recording_has_no_broadcast(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    w = await watched(aiohttp_client, tmp_path, original_pdf, recording=False)
    refused = await w.client.post(
        f"/api/ceremonies/{w.ceremony}/broadcast", json={"public": True}, headers=w.headers("host")
    )
    assert refused.status == 409 and (await refused.json())["error"] == "not_recorded"
    assert (await (await w.get(f"/c/{w.ceremony}/watch/status")).json())["state"] == "off"
    assert (await w.get(f"/c/{w.ceremony}/watch/live.m3u8")).status == 409


async def test_hls_js_comes_from_node_modules_with_a_versioned_address(aiohttp_client: Any, tmp_path: Path) -> None:
    from web.watch import HLS_JS, hls_js_url

    client = await aiohttp_client(create_app(Settings(data_dir=tmp_path / "data", create_demo=False)))
    url = hls_js_url()
    assert url.startswith("/static/vendor/hls.min.js?v=")
    response = await client.get(url)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert await response.read() == HLS_JS.read_bytes()
    assert (await client.get("/static/vendor/hls.min.js")).headers["Cache-Control"] == "no-cache"
