"""Shared fixtures: a real server subprocess, a real headless Chromium, the demo definition.

Plain helpers (the server process, tools, records) are in tests/helpers.py; this module imports
from there. What stays here beside the fixtures is the `ceremony demo` run the `demo` fixture
makes and `verify`, both on `CEREMONY` (the CLI command; helpers' `CEREMONY` is the core tests' id).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.helpers import ROOT, PageChecks, Server, start_server

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
    from web.demo.definition import demo_definition
    from web.mou import render_mou_pdf

    return render_mou_pdf(demo_definition(), ceremony_id="0123456789abcdef")


@pytest.fixture
def demo_json() -> dict[str, Any]:
    from web.demo.definition import DEMO_DEFINITION

    return copy.deepcopy(DEMO_DEFINITION)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Headless Chromium whose every page is checked (tests/helpers.py `PageChecks`): axe-core at each load,
    goto, screenshot and `check_page`, and no English sentence of the server's on a Korean or Chinese page.
    What was found fails the test here, at teardown, with the rule, element, page and state of each."""
    from playwright.async_api import async_playwright

    checks = PageChecks()
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        checks.watch(b)
        try:
            yield b
            await checks.settle()
        finally:
            await b.close()
    if checks.findings:
        pytest.fail(checks.report(), pytrace=False)


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


@pytest.fixture
def own_postgres() -> Iterator[Any]:
    """A cluster this test may stop and start (the session's `postgres` serves other tests meanwhile)."""
    from tests.engines import Postgres

    cluster = Postgres()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def redis() -> Iterator[Any]:
    """A redis-server of this test's own (Debian's), on a free loopback port; the test may restart it."""
    from tests.engines import Redis

    engine = Redis()
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """One PostgreSQL cluster for the session (Debian's initdb and pg_ctl); each test takes its own database."""
    from tests.engines import Postgres

    cluster = Postgres()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """The event store under test, each test once per store: SQLite in a data directory, or PostgreSQL."""
    from ceremony.runtime.stores import default_store
    from tests.engines import StoreBackend

    data = tmp_path / "data"
    if request.param == "sqlite":
        return StoreBackend("sqlite", data, default_store(data).text)
    cluster = request.getfixturevalue("postgres")
    return StoreBackend("postgresql", data, cluster.new_database(), cluster)
