"""How long /healthz takes while the public verifier is fed hostile and heavy records, beside the same server idle.

A `ceremony serve` process on a loopback port. First /healthz alone (the floor),
then the same twice while three clients keep uploading to POST /api/verify, each
in a loop: first the hostile zips alone (a zip bomb, 300 MiB of zeros deflated to
300 KiB; a flood of 60,000 empty entries; two records joined), then the same with
a real six-party record among them (a second of checks). The verifier reads and
checks every upload off the event loop, so /healthz, answered on the loop, should
not notice. Every answer is checked: each hostile upload refused (a 4xx, or a
report whose `ok` is false), the real record valid (`ok` true).

    .venv/bin/python -m bench.upload_bench --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from cryptography import x509

from bench.common import ROOT, demo_record, free_port, machine
from signatures.pki import fingerprint

ZIP = {"Content-Type": "application/zip"}


def bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("evidence.json", b"{}")
        archive.writestr("mou-signed.pdf", bytes(300 * 1024 * 1024))
    return buffer.getvalue()


def flood(entries: int = 60_000) -> bytes:
    local = b"".join(
        struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, 0, 0, 0, 8, 0) + f"{i:08x}".encode()
        for i in range(entries)
    )
    return local + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, entries, entries, 0, len(local), 0)


async def healthz(http: aiohttp.ClientSession, base: str, seconds: float, every: float) -> list[float]:
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        async with http.get(f"{base}/healthz") as answer:
            await answer.read()
            assert answer.status == 200
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(every)
    return latencies


@dataclass(frozen=True, slots=True)
class Upload:
    name: str
    body: bytes
    hostile: bool  # must be refused; a record that is not must be found valid


def outcome(upload: Upload, status: int, body: bytes) -> str:
    """What the verifier answered, asserting it is the right answer for this upload."""
    if 400 <= status < 500:
        assert upload.hostile, (upload.name, status, body[:300])
        return f"{status} refused"
    assert status == 200, (upload.name, status, body[:300])
    ok = json.loads(body)["ok"]
    assert ok is not upload.hostile, (upload.name, ok)
    return f"200 ok={str(ok).lower()}"


async def uploader(
    http: aiohttp.ClientSession,
    base: str,
    uploads: list[Upload],
    trust: dict[str, str],
    stop: asyncio.Event,
    answers: Counter[str],
) -> None:
    n = 0
    while not stop.is_set():
        upload = uploads[n % len(uploads)]
        async with http.post(f"{base}/api/verify", data=upload.body, headers=ZIP, params=trust) as answer:
            body = await answer.read()
            answers[f"{upload.name}: {outcome(upload, answer.status, body)}"] += 1
        n += 1


async def under_uploads(
    http: aiohttp.ClientSession, base: str, uploads: list[Upload], trust: dict[str, str], seconds: float
) -> tuple[list[float], Counter[str]]:
    """/healthz latencies while three clients upload `uploads` in a loop, and the uploads' answers."""
    stop, answers = asyncio.Event(), Counter[str]()
    clients = [asyncio.create_task(uploader(http, base, uploads, trust, stop, answers)) for _ in range(3)]
    await asyncio.sleep(1)  # every uploader is under way
    latencies = await healthz(http, base, seconds, 0.02)
    stop.set()
    await asyncio.gather(*clients)
    return latencies, answers


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000


async def run(seconds: float, workdir: Path) -> None:
    path, root = demo_record(workdir)
    record = path.read_bytes()
    # The demo record was sealed under the demo's root, not the server's: every upload names it, as a person would.
    trust = {"trust": fingerprint(x509.load_pem_x509_certificate(root.read_bytes()))}
    hostile = [
        Upload("zip bomb", bomb(), hostile=True),
        Upload("60,000 entries", flood(), hostile=True),
        Upload("two records joined", record + record, hostile=True),
    ]
    real = Upload("real record", record, hostile=False)
    port = free_port()
    log = workdir / "server.log"  # a file, not a pipe: a pipe nobody reads would fill and stall the server
    with log.open("w") as output:
        server = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is timed
            [
                sys.executable,
                "-m",
                "web.cli",
                "serve",
                "--port",
                str(port),
                "--data",
                str(workdir / "server"),
                "--no-demo",
            ],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    while "Serving on" not in log.read_text():  # noqa: ASYNC110 - polling a file another process writes
        await asyncio.sleep(0.1)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            idle = await healthz(http, base, seconds / 2, 0.02)
            alone, alone_answers = await under_uploads(http, base, hostile, trust, seconds)
            mixed, mixed_answers = await under_uploads(http, base, [*hostile, real], trust, seconds)
    finally:
        server.terminate()
        server.wait(15)
    print(machine())
    for label, answers in (("hostile zips alone", alone_answers), ("hostile zips + real record", mixed_answers)):
        print(f"uploads answered ({label}), each checked: {', '.join(f'{k} x{v}' for k, v in sorted(answers.items()))}")
    print(f"{'/healthz latency':<44} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    rows = (
        ("floor: the server idle", idle),
        ("while 3 clients upload hostile zips alone", alone),
        ("while 3 clients upload hostile + real", mixed),
    )
    for label, values in rows:
        print(f"{label:<44} {len(values):>5} {p(values, 0.5):>8.1f} {p(values, 0.99):>8.1f} {p(values, 1):>8.1f}")
    for label, values in rows[1:]:
        print(
            f"{label.removeprefix('while 3 clients upload ')}: p99 {p(values, 0.99) / p(idle, 0.99):.1f}x idle; "
            f"worst {p(values, 1):.0f} ms (bound: 500 ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to poll /healthz under load")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.seconds, Path(tmp)))


if __name__ == "__main__":
    main()
