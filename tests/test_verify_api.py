"""The public verifier, POST /api/verify: what it trusts, what it refuses, and that hostile uploads cost nothing.

The app runs in process (aiohttp's test client); the records are the session's
demo record and hostile zips written by hand.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import io
import struct
import threading
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from ceremony.events import format_time
from web import verify_api
from web.app import create_app
from web.settings import Settings

from .conftest import Demo

ZIP = {"Content-Type": "application/zip"}


async def client_for(aiohttp_client: Any, tmp_path: Path) -> Any:
    return await aiohttp_client(create_app(Settings(data_dir=tmp_path / "data", create_demo=False)))


async def test_it_pins_this_servers_root_unless_told_another_fingerprint(
    demo: Demo, aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await client_for(aiohttp_client, tmp_path)
    record = demo.record.read_bytes()
    answer = await (await client.post("/api/verify", data=record, headers=ZIP)).json()
    # The demo ran on another server, under another root: not valid here, and the report says why.
    assert answer["ok"] is False and answer["pinned"] is True
    assert {"evidence.seal", "consent.certificate"} <= {c["name"] for c in answer["checks"] if not c["ok"]}
    pinned = await client.post(f"/api/verify?trust={demo.fingerprint}", data=record, headers=ZIP)
    answer = await pinned.json()
    assert pinned.status == 200 and answer["ok"] is True, [c for c in answer["checks"] if not c["ok"]]
    assert (
        answer["root_ca_fingerprint"] == demo.fingerprint
        and answer["ceremony"]["id"] == demo.evidence["ceremony"]["id"]
    )
    later = f"/api/verify?trust={demo.fingerprint}&at=2046-12-31T00:00:00Z"
    answer = await (await client.post(later, data=record, headers=ZIP)).json()
    assert answer["ok"] is True and answer["verified_at"].startswith("2046-12-31T00:00:00")
    for bad in ("?trust=xyz", "?at=soon"):
        refused = await client.post(f"/api/verify{bad}", data=record, headers=ZIP)
        assert refused.status == 400 and (await refused.json())["error"] == "bad_request"


async def test_a_compressed_body_is_refused_before_it_is_inflated(
    demo: Demo, aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await client_for(aiohttp_client, tmp_path)
    body = gzip.compress(demo.record.read_bytes())
    for encoding in ("gzip", "deflate", "br", "GZIP "):
        refused = await client.post("/api/verify", data=body, headers={**ZIP, "Content-Encoding": encoding})
        answer = await refused.json()
        assert refused.status == 415 and answer["error"] == "unsupported_encoding", answer
        assert "without Content-Encoding" in answer["reason"]


def _flood(entries: int) -> bytes:
    records = b"".join(
        struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, 0, 0, 0, 8, 0) + f"{i:08x}".encode()
        for i in range(entries)
    )
    return records + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, entries, entries, 0, len(records), 0)


def _bomb(megabytes: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("evidence.json", b"{}")
        archive.writestr("mou-signed.pdf", bytes(megabytes * 1024 * 1024))
    return buffer.getvalue()


async def test_hostile_zips_get_a_report_naming_the_fault_not_a_crash(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await client_for(aiohttp_client, tmp_path)
    for hostile, words in ((_flood(60_000), "60,000 entries"), (_bomb(200), "mou-signed.pdf")):
        answer = await (await client.post("/api/verify", data=hostile, headers=ZIP)).json()
        assert answer["ok"] is False and answer["checks"][0]["name"] == "zip.structure", answer
        assert words in answer["checks"][0]["detail"]


async def test_the_loop_answers_healthz_while_records_are_checked(
    demo: Demo, aiohttp_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checking a record takes about a second of CPU; it runs off the loop, so /healthz answers meanwhile.

    An ordering, not a timing: the real verifier is held at its start (a gate around it, nothing
    replaced) until three health checks have been answered. Were the record checked on the loop,
    the held verifier would hold the loop too, and the health checks would come after the record.
    """
    entered, released = threading.Event(), threading.Event()
    real = verify_api.verify_record

    def gated(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        released.wait(timeout=60)
        return real(*args, **kwargs)

    monkeypatch.setattr(verify_api, "verify_record", gated)
    client = await client_for(aiohttp_client, tmp_path)
    finished: list[str] = []

    async def upload(name: str, body: bytes) -> None:
        response = await client.post(f"/api/verify?trust={demo.fingerprint}", data=body, headers=ZIP)
        assert response.status == 200 and (await response.json())["ok"] is True
        finished.append(name)

    async def health() -> None:
        response = await client.get("/healthz")
        assert response.status == 200
        finished.append("healthz")

    checking = asyncio.create_task(upload("record", demo.record.read_bytes()))
    assert await asyncio.to_thread(entered.wait, 60)  # the upload is in the verifier now
    for _ in range(3):
        await health()
    released.set()
    await checking
    assert finished == ["healthz", "healthz", "healthz", "record"], finished


async def test_times_outside_what_can_be_checked_are_refused_with_a_reason(
    demo: Demo, aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Valid ISO 8601 whose UTC falls off datetime's range (or near it) is a 400 naming the time, not a 500."""
    client = await client_for(aiohttp_client, tmp_path)
    record = demo.record.read_bytes()
    for at in (
        "0001-01-01T00:00:00+14:00",  # before the year 1 in UTC
        "9999-12-31T23:59:59-14:00",  # after the year 9999 in UTC
        "9999-12-31T00:00:00Z",  # representable, but the verifier adds periods to it
        "1969-12-31T23:59:59Z",
    ):
        refused = await client.post(f"/api/verify?at={quote(at)}", data=record, headers=ZIP)
        answer = await refused.json()
        assert refused.status == 400 and answer["error"] == "bad_request", (at, answer)
        assert at in answer["reason"], answer
    assert not [r for r in caplog.records if r.exc_info], "a refused time is not a server failure"
    # A time with another zone is checked as the same instant in UTC.
    zoned = f"/api/verify?trust={demo.fingerprint}&at={quote('2046-12-31T09:00:00+09:00')}"
    answer = await (await client.post(zoned, data=record, headers=ZIP)).json()
    assert answer["ok"] is True and answer["verified_at"].startswith("2046-12-31T00:00:00")


async def test_without_at_the_record_is_checked_at_the_apps_clock(
    demo: Demo, aiohttp_client: Any, tmp_path: Path
) -> None:
    later = demo.sealed_at + dt.timedelta(days=400)
    app = create_app(Settings(data_dir=tmp_path / "data", create_demo=False), clock=lambda: later)
    client = await aiohttp_client(app)
    answer = await (await client.post(f"/api/verify?trust={demo.fingerprint}", data=demo.record.read_bytes(),
                                      headers=ZIP)).json()  # fmt: skip
    assert answer["verified_at"] == format_time(later), answer
