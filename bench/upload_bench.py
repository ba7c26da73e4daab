"""How long /healthz takes while the public verifier is fed hostile and heavy records, beside the same server idle.

A `ceremony serve` process on a loopback port. First /healthz alone (the floor),
then the same while three clients keep uploading to POST /api/verify, each in a
loop: a zip bomb (300 MiB of zeros deflated to 300 KiB), a flood of 60,000 empty
entries, two zips joined, and a real six-party record (a second of checks). The
verifier reads and checks every upload off the event loop, so /healthz, answered
on the loop, should not notice.

    .venv/bin/python -m bench.upload_bench --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import os
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import aiohttp

from bench.common import ROOT, demo_record, free_port, machine

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


async def uploader(
    http: aiohttp.ClientSession, base: str, bodies: list[bytes], stop: asyncio.Event, counts: dict[int, int]
) -> None:
    n = 0
    while not stop.is_set():
        body = bodies[n % len(bodies)]
        async with http.post(f"{base}/api/verify", data=body, headers=ZIP) as answer:
            await answer.read()
            counts[answer.status] = counts.get(answer.status, 0) + 1
        n += 1


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000


async def run(seconds: float, workdir: Path) -> None:
    record = demo_record(workdir)[0].read_bytes()
    bodies = [bomb(), flood(), record + record, record]
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
            stop, counts = asyncio.Event(), dict[int, int]()
            hostile = [asyncio.create_task(uploader(http, base, bodies, stop, counts)) for _ in range(3)]
            await asyncio.sleep(1)  # every uploader is under way
            loaded = await healthz(http, base, seconds, 0.02)
            stop.set()
            await asyncio.gather(*hostile)
    finally:
        server.terminate()
        server.wait(15)
    print(machine())
    print(f"uploads answered during the loaded run, by status: {dict(sorted(counts.items()))}")
    print(f"{'/healthz latency':<40} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for label, values in (("floor: the server idle", idle), ("while 3 clients upload hostile records", loaded)):
        print(f"{label:<40} {len(values):>5} {p(values, 0.5):>8.1f} {p(values, 0.99):>8.1f} {p(values, 1):>8.1f}")
    print(f"p99 ratio loaded/idle: {p(loaded, 0.99) / p(idle, 0.99):.1f}x; worst {p(loaded, 1):.0f} ms (bound: 500 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to poll /healthz under load")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.seconds, Path(tmp)))


if __name__ == "__main__":
    main()
