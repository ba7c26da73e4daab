"""`ceremony demo`: the seeded Gangwon-Nanjing ceremony, end to end, headless.

A real server on a loopback port, a host bot that admits the two halls, two
aiortc venue bots exchanging media, six scripted signatories with their own
P-256 keys going through enrollment, the host's approval, consent and the
PAdES signature; then the seal, the record downloaded through an archivist
link, and the offline verifier's report. Everything goes through the public
HTTP and signaling APIs, as browsers would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TextIO

import aiohttp
from aiohttp import web

from ceremony.definition import definition_to_json
from signaling.bots.venue_bot import BotOptions, HostBot, MediaBot, VenueBot
from signatures.record.container import DEFAULT_LIMITS, open_archive
from signatures.record.parts import EVIDENCE
from signatures.record.pins import Pins
from signatures.record.report import Report
from signatures.record.untrusted import load_json
from signatures.record.verifier import verify_record
from signatures.record.verify_media import open_media, verify_media
from web.demo.definition import demo_definition

from ..app import create_app
from ..appkeys import PKI, RECORDERS, SERVICE
from ..settings import Settings
from .scripted import Api, ScriptedSignatory, ScriptError

STEPS = 9
MEDIA_WAIT = 45.0


@dataclass(frozen=True, slots=True)
class DemoResult:
    ceremony: str
    record: Path
    report: Report
    seconds: float
    media: Path | None = None  # record-media.zip, beside the record
    media_ok: bool = True

    @property
    def ok(self) -> bool:
        return self.report.ok and self.media_ok


class Progress:
    def __init__(self, out: TextIO) -> None:
        self.out, self.started = out, time.monotonic()

    def step(self, n: int, text: str) -> None:
        self.say(f"[{n}/{STEPS}] {text}")

    def say(self, text: str) -> None:
        print(f"{time.monotonic() - self.started:6.1f}s  {text}", file=self.out, flush=True)


async def run_demo(data_dir: Path, out: TextIO, *, declines: tuple[str, ...] = ()) -> DemoResult:
    progress = Progress(out)
    app = create_app(Settings(data_dir=data_dir, create_demo=False))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    app[RECORDERS].local_url = base  # the recorder process joins through this listener
    progress.step(1, f"server listening at {base}, data in {data_dir}")
    try:
        async with aiohttp.ClientSession() as http:
            return await _ceremony(app, http, base, data_dir, progress, declines)
    finally:
        await runner.cleanup()


async def _ceremony(
    app: web.Application,
    http: aiohttp.ClientSession,
    base: str,
    data_dir: Path,
    progress: Progress,
    declines: tuple[str, ...],
) -> DemoResult:
    started = time.monotonic()
    operator = Api(http, base, "", await app[SERVICE].issue_operator_link())
    definition = demo_definition()
    created = await operator.call("POST", "", definition_to_json(definition))
    host_link = await operator.of(created["id"]).link("host", "demo host")
    host = operator.of(created["id"], host_link["token"])
    bot_link: str = host_link["url"]
    progress.step(2, f"ceremony {host.ceremony}: {definition.title.en}")
    frozen = await host.call("POST", "/freeze")
    progress.step(3, f"frozen: the original MOU (PDF/A-3b) has SHA-256 {frozen['document_sha256']}")
    venue_links = {v.id: (await host.link("venue", f"demo {v.id}", venue=v.id))["url"] for v in definition.venues}
    signatory_tokens = {
        s.id: (await host.link("signatory", f"demo {s.id}", signatory=s.id))["token"] for s in definition.signatories
    }
    archivist = (await host.link("archivist", "demo archivist"))["token"]
    await host.call("POST", "/open")
    bots: list[MediaBot] = [HostBot(bot_link)] + [
        VenueBot(url, BotOptions(name=f"venue-{venue}")) for venue, url in venue_links.items()
    ]
    try:
        for bot in bots:
            await bot.start()
        frames = await _media_flowing(bots[1:], list(venue_links))
        progress.step(4, "rooms open; the halls see each other: " + ", ".join(frames))
        while (await host.call("GET", ""))["segment"] != "signing":
            await host.call("POST", "/segment", {"segment": "next"})
        signers = [ScriptedSignatory(host.of(host.ceremony, t), s) for s, t in signatory_tokens.items()]
        await _enroll_all(host, signers, progress)
        await _sign_all(signers, declines, progress)
        while (await host.call("GET", ""))["segment"] != definition.run_of_show[-1].id:
            await host.call("POST", "/segment", {"segment": "next"})
        sealed = await host.call("POST", "/seal", {"absent_ok": bool(declines)})
        progress.step(7, f"sealed ({sealed['state']}): document timestamp, evidence, seal, certificate of completion")
    finally:
        for bot in bots:
            with contextlib.suppress(Exception):
                await bot.stop()
    reader = host.of(host.ceremony, archivist)
    async with http.get(reader.url("/record"), headers={"Authorization": f"Bearer {archivist}"}) as response:
        if response.status != 200:
            raise ScriptError(f"downloading the record: HTTP {response.status}: {await response.text()}")
        data = await response.read()
    record = data_dir / f"ceremony-{host.ceremony}-record.zip"
    record.write_bytes(data)
    pins = Pins(root_pem=app[PKI].root_pem)
    report = await asyncio.to_thread(partial(verify_record, data, pins, at=datetime.now(UTC)))
    progress.step(8, f"record written: {record} ({len(data) // 1024} KiB); offline verification:")
    for line in report.lines():
        progress.say("    " + line)
    media, media_ok = await _media(http, reader, data_dir, archivist, data, progress)
    return DemoResult(host.ceremony, record, report, time.monotonic() - started, media, media_ok)


async def _media(
    http: aiohttp.ClientSession, reader: Api, data_dir: Path, token: str, record: bytes, progress: Progress
) -> tuple[Path, bool]:
    """The recording beside the record, downloaded as an archivist does and held to the sealed manifest."""
    async with http.get(reader.url("/record-media"), headers={"Authorization": f"Bearer {token}"}) as response:
        if response.status != 200:
            raise ScriptError(f"downloading the recording: HTTP {response.status}: {await response.text()}")
        path = data_dir / f"ceremony-{reader.ceremony}-record-media.zip"
        path.write_bytes(await response.read())
    evidence = load_json(open_archive(record, DEFAULT_LIMITS).files[EVIDENCE])
    with open_media(path) as files:
        checked = await asyncio.to_thread(verify_media, evidence, files)
    progress.step(9, f"recording written beside it: {path} ({path.stat().st_size // 1024} KiB); held to the manifest:")
    # Every segment's line is for `ceremony verify --media`; the demo shows the tracks, gaps and problems.
    shown = [f for f in checked.findings if f.kind != "segment" or not f.ok]
    for finding in shown:
        progress.say(
            f"    {'PASS' if finding.ok else 'FAIL'}  media.{finding.kind:<10} {finding.subject}: {finding.detail}"
        )
    segments = sum(f.kind == "segment" and f.ok for f in checked.findings)
    progress.say(f"    {segments} segments as the log bound them; media {'VALID' if checked.ok else 'NOT VALID'}")
    return path, checked.ok


async def _media_flowing(venues: list[MediaBot], names: list[str]) -> list[str]:
    """Wait until each venue decodes video from the other; a line per venue."""
    deadline = time.monotonic() + MEDIA_WAIT
    while True:
        seen = [max((p.video_frames for p in bot.report().peers if p.role == "venue"), default=0) for bot in venues]
        if all(seen):
            return [f"{name} decoded {n} frames" for name, n in zip(names, seen, strict=True)]
        if time.monotonic() > deadline:
            raise ScriptError(f"no media between the halls after {MEDIA_WAIT:.0f} s: {seen}")
        await asyncio.sleep(0.2)


async def _enroll_all(host: Api, signers: list[ScriptedSignatory], progress: Progress) -> None:
    await asyncio.gather(*(s.enroll() for s in signers))
    pending = (await host.call("GET", "/enrollments"))["enrollments"]
    for n, enrollment in enumerate(pending, 1):
        await host.call("POST", f"/enrollments/{enrollment['id']}/approve", {"code_confirmed": True})
        code = enrollment["safety_code"]
        progress.say(
            f"    host approved {enrollment['signatory']}'s key {enrollment['fingerprint'][:16]}… "
            f"(safety code {code[:4]} {code[4:]} confirmed) ({n}/6)"
        )
    await asyncio.gather(*(s.wait_for_certificate() for s in signers))
    progress.step(5, f"signing segment: {len(signers)} keys enrolled and certified by the ceremony CA")


async def _sign_all(signers: list[ScriptedSignatory], declines: tuple[str, ...], progress: Progress) -> None:
    done = 0

    async def one(signer: ScriptedSignatory, say: Callable[[str], None]) -> None:
        nonlocal done
        if signer.signatory in declines:
            await signer.decide("decline")
            say(f"    {signer.signatory} declined (signed and timestamped)")
            return
        consent = await signer.decide("consent")
        signature = await signer.sign_pdf()
        done += 1
        say(
            f"    {signer.signatory}: consent stamped {consent['timestamp']}, "
            f"PAdES signature {signature['field']} ({done} in the PDF)"
        )

    # All at once, as in the hall: the server queues the PDF signatures one at a time.
    await asyncio.gather(*(one(s, progress.say) for s in signers))
    progress.step(6, f"{done} PAdES signatures in the MOU, each with its RFC 3161 timestamp")
