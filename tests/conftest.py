"""Shared fixtures: a real server subprocess, a real headless Chromium, the demo definition."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # the machine has no internet; don't let Chromium try
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """A `ceremony serve` subprocess and what it printed at start."""

    process: subprocess.Popen[str]
    base: str
    data: Path
    output: list[str]
    pump: threading.Thread | None = None

    @property
    def host_link(self) -> str:
        return self._printed(r"Host link:\s+(\S+)")

    @property
    def operator_link(self) -> str:
        return self._printed(r"Operator link:\s+(\S+)")

    @property
    def demo_id(self) -> str:
        return self._printed(r"Created the demo ceremony ([0-9a-f]{16})")

    def token(self, link: str) -> str:
        return link.split("#", 1)[1]

    def root_pem(self) -> bytes:
        """The ceremony root CA the server made on first start (what an archivist would be given)."""
        return (self.data / "pki" / "root.pem").read_bytes()

    def _printed(self, pattern: str) -> str:
        for line in self.output:
            m = re.search(pattern, line)
            if m:
                return m.group(1)
        raise AssertionError(f"server did not print {pattern!r}; output: {self.output}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.pump is not None:
            self.pump.join(5)  # the pipe reaches EOF once the process is gone
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def start_server(data: Path, *extra: str, port: int | None = None) -> Server:
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--port", str(port), "--data", str(data), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    output: list[str] = []
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line.rstrip("\n"))
        if line.startswith("Serving on"):
            return Server(process, f"http://127.0.0.1:{port}", data, output, _drain(process, output))
    process.kill()
    raise AssertionError("server did not start:\n" + "\n".join(output))


def _drain(process: subprocess.Popen[str], output: list[str]) -> threading.Thread:
    """Keep reading the server's output (so a full pipe never blocks it) into `output`."""

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip("\n"))

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(tmp_path / "data")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def original_pdf() -> bytes:
    """The demo MOU as freezing renders it (once per session: about two seconds)."""
    from ceremony.demo import demo_definition
    from web.mou import render_mou_pdf

    return render_mou_pdf(demo_definition(), ceremony_id="0123456789abcdef")


@pytest.fixture
def demo_json() -> dict[str, Any]:
    from ceremony.demo import DEMO_DEFINITION

    return copy.deepcopy(DEMO_DEFINITION)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


CEREMONY = [sys.executable, "-m", "web.cli"]


@dataclass(frozen=True)
class Demo:
    record: Path
    data: Path
    output: str
    files: dict[str, bytes]
    sealed_at: dt.datetime

    @property
    def trust(self) -> Path:
        return self.data / "pki" / "root.pem"

    @property
    def root_pem(self) -> bytes:
        return self.trust.read_bytes()

    @property
    def fingerprint(self) -> str:
        der = x509.load_pem_x509_certificate(self.root_pem).public_bytes(Encoding.DER)
        return hashlib.sha256(der).hexdigest()

    @property
    def evidence(self) -> dict:  # type: ignore[type-arg]
        result: dict = json.loads(self.files["evidence.json"])  # type: ignore[type-arg]
        return result


def run_demo(data: Path) -> Demo:
    done = subprocess.run(
        [*CEREMONY, "demo", "--data", str(data)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    record = Path(re.search(r"^Record: (.+)$", done.stdout, re.M).group(1))  # type: ignore[union-attr]
    with zipfile.ZipFile(record) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    sealed_at = dt.datetime.fromisoformat(
        json.loads(files["evidence.json"])["ceremony"]["sealed_at"].replace("Z", "+00:00")
    )
    return Demo(record, data, done.stdout, files, sealed_at)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return run_demo(tmp_path_factory.mktemp("demo"))


def verify(record: Path, *extra: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """`ceremony verify` as an archivist runs it (optionally under a prefix such as faketime)."""
    return subprocess.run(
        [*prefix, *CEREMONY, "verify", str(record), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A zip of `files` in memory: a record, tampered with or made up."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()
