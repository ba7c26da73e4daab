"""Helpers shared by test modules, so that no test module imports another.

Plain functions, classes and constants only: pytest fixtures live in tests/conftest.py,
which may import from here (never the other way round). By section:

- consent statements: `statement(**values)`, a statement of the right shape with placeholder values;
- the sans-IO core, stepped by hand: `CEREMONY`, `T0`, `SHA`, `TOKEN_A`, `make_definition`,
  `DEFINITION`, `Log` (decide, wrap in envelopes at explicit times, evolve) and `log_in(phase)`;
- server processes: `ROOT` (the checkout), `free_port`, `Server` and `start_server`
  (a `ceremony serve` subprocess and what it printed);
- command-line tools: `ceremony(*args)` (the CLI), `openssl`, `pdftotext` and `squeezed`
  (poppler's text, compared without whitespace), `pdfsig` (poppler's verdict under the ceremony root);
- HTTP and records: `bearer(token)` (an Authorization header), `enter(http, base, ceremony, token)` (a link
  opened as the enter page opens it: the session cookie it sets), `cookie_header(cookies)`, `zip_bytes(files)`;
- a room in process: `Room`, `make_room` and `ready` (four scripted signatories over aiohttp's test client);
- signaling: `SERVER_TYPES`, `CANDIDATE`, `SDP` (message parts), `Template` and `build_template`
  (a data directory with an open ceremony and links to it), and WebSocket frames by hand:
  `RawSocket` (`raw_socket` upgrades a TCP connection, `ws_frame` builds a client frame);
- browsers: `VIEWPORT`, `FREEZE_MS`, `SHOTS` (where screenshots go: `$SHOTS_DIR`, which `make test` sets to
  build/screenshots for CI to keep), `Api` (the JSON API through a Playwright request context) and
  `new_page` (a fresh profile and a page that records script errors);
- what every browser test checks on every page (issue 12): `PageChecks` watches a browser (the `browser`
  fixture does it), so that each page's load, each `page.goto` and each `page.screenshot` runs axe-core
  (`AXE_TAGS`; serious and critical violations fail the test at teardown) and, on a Korean or Chinese page,
  looks for the server's English sentences (`server_sentences()`) outside text marked `lang="en"`;
  `check_page(page, "state")` does the same at a state a test reaches without a load or a screenshot.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import io
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from playwright.async_api import Page

from ceremony.commands import (
    Cancel,
    Command,
    Freeze,
    IssueInvitation,
    OpenRooms,
    RevokeInvitation,
    Seal,
    StartSegment,
)
from ceremony.consent import STATEMENT_TYPE, ConsentStatement, parse_statement
from ceremony.core import decide, evolve, initial_state
from ceremony.events import CeremonyDrafted, Envelope, Event, Role
from ceremony.model import (
    Article,
    CeremonyDefinition,
    Document,
    Language,
    LocalizedText,
    Party,
    Schedule,
    Segment,
    SegmentKind,
    Signatory,
    Venue,
)
from ceremony.runtime.local import on_disk
from ceremony.state import Phase
from web.app import create_app
from web.appkeys import SERVICE
from web.demo.definition import demo_definition
from web.demo.scripted import Api as ScriptedApi
from web.demo.scripted import ScriptedSignatory
from web.mou import render_mou_pdf
from web.settings import Settings, utc_clock

# ------------------------------------------------------------------ consent statements


def statement(**values: str) -> ConsentStatement:
    """A consent statement of the right shape with placeholder values: for the core's unit tests,
    where the values' meaning (not their shape) is what a test varies."""
    fields = {
        "type": STATEMENT_TYPE,
        "decision": "consent",
        "ceremony": "c",
        "document_sha256": "0" * 64,
        "consent_text_sha256": "0" * 64,
        "language": "en",
        "party": "p",
        "signatory": "s",
        "venue": "v",
        "challenge": "challenge",
        "client_time": "2020-05-29T01:30:00Z",
        **values,
    }
    return parse_statement(fields)  # the shape checks the server applies


# ------------------------------------------------------------------ the sans-IO core, stepped by hand

CEREMONY = "00112233aabbccdd"
T0 = datetime(2020, 5, 29, 1, 0, tzinfo=UTC)
SHA = "ab" * 32
TOKEN_A = "1" * 64


def _t(word: str) -> LocalizedText:
    return LocalizedText(ko=f"{word} (ko)", zh=f"{word} (zh)", en=word)


def make_definition(title: str = "Export MOU") -> CeremonyDefinition:
    """A small two-hall ceremony; its run-of-show has the signing segment third of five."""
    return CeremonyDefinition(
        title=_t(title),
        schedule=Schedule(start=datetime(2020, 5, 29, 1, 20, tzinfo=UTC), duration_minutes=60),
        venues=(
            Venue(id="hall-kr", name=_t("Hall KR"), city=_t("Chuncheon"), country="KR", timezone="Asia/Seoul"),
            Venue(id="hall-cn", name=_t("Hall CN"), city=_t("Nanjing"), country="CN", timezone="Asia/Shanghai"),
        ),
        parties=(
            Party(id="party-kr", name=_t("Party KR"), country="KR"),
            Party(id="party-cn", name=_t("Party CN"), country="CN"),
        ),
        signatories=(
            Signatory(id="signer-kr", name=_t("Signer KR"), title=_t("Governor"), party="party-kr", venue="hall-kr"),
            Signatory(id="signer-cn", name=_t("Signer CN"), title=_t("Mayor"), party="party-cn", venue="hall-cn"),
        ),
        run_of_show=(
            Segment(id="opening", kind=SegmentKind.OPENING, title=_t("Opening"), minutes=5),
            Segment(id="remarks", kind=SegmentKind.REMARKS, title=_t("Remarks"), minutes=10),
            Segment(id="signing", kind=SegmentKind.SIGNING, title=_t("Signing"), minutes=10),
            Segment(id="exchange", kind=SegmentKind.EXCHANGE, title=_t("Exchange"), minutes=5),
            Segment(id="closing", kind=SegmentKind.CLOSING, title=_t("Closing"), minutes=5),
        ),
        document=Document(
            title=_t("MOU"),
            preamble=_t("Preamble"),
            articles=(Article(title=_t("Purpose"), body=_t("Sell goods")),),
            closing=_t("Closing words"),
            prevailing_language=Language.EN,
            prevailing_clause=_t("English prevails"),
        ),
    )


DEFINITION = make_definition()


class Log:
    """A ceremony stepped by hand: decide, wrap in envelopes at explicit times, evolve."""

    def __init__(self) -> None:
        drafted = Envelope(
            ceremony=CEREMONY, seq=1, at=T0, actor="operator", event=CeremonyDrafted(definition=DEFINITION)
        )
        self.state = initial_state(drafted)
        self.envelopes = [drafted]

    def run(self, command: Command, *, actor: str = "host:inv-host") -> list[Event]:
        at = T0 + timedelta(minutes=len(self.envelopes))
        events = decide(self.state, command, now=at)
        for event in events:
            envelope = Envelope(ceremony=CEREMONY, seq=self.state.seq + 1, at=at, actor=actor, event=event)
            self.state = evolve(self.state, envelope)
            self.envelopes.append(envelope)
        return events


def log_in(phase: Phase) -> Log:
    """A log whose state is in `phase`, with an active host link `inv-host` issued in draft."""
    log = Log()
    log.run(IssueInvitation(invitation="inv-host", role=Role.HOST, token_sha256=TOKEN_A, label="host"))
    if phase is Phase.DRAFT:
        return log
    log.run(Freeze(document_sha256=SHA, document_size=4096))
    if phase is Phase.FROZEN:
        return log
    log.run(OpenRooms())
    if phase is Phase.OPEN:
        return log
    if phase is Phase.CANCELLED:
        log.run(Cancel(reason="the video link failed"))
        return log
    log.run(StartSegment(segment="signing"))
    if phase is Phase.SIGNING:
        return log
    log.run(Seal(absent_ok=True))
    assert phase is Phase.SEALED
    return log


# ------------------------------------------------------------------ server processes

ROOT = Path(__file__).resolve().parent.parent


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
        # Closed under us by Server.stop when a child of the server (a recorder) still held the
        # pipe open after the server was gone: nothing more is wanted from it.
        with contextlib.suppress(ValueError, OSError):
            for line in process.stdout:
                output.append(line.rstrip("\n"))

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


# ------------------------------------------------------------------ command-line tools


def ceremony(*args: str) -> subprocess.CompletedProcess[str]:
    """`ceremony ...` as an operator types it (this interpreter, from the checkout)."""
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)


def pdftotext(path: Path, *options: str) -> str:
    """poppler's text of the PDF at `path` (UTF-8; `options` such as a page range or a crop)."""
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", *options, str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def squeezed(text: str) -> str:
    """`text` without whitespace: pdftotext breaks lines (inside columns, in hex groups, in names)."""
    return "".join(text.split())


def pdfsig(pdf: Path, root_pem: bytes, workdir: Path) -> str:
    """poppler's verdict with the ceremony root trusted in a fresh NSS database."""
    nss = workdir / "nss"
    nss.mkdir()
    (workdir / "ca.pem").write_bytes(root_pem)
    for command in (
        ["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"],
        ["certutil", "-A", "-d", f"sql:{nss}", "-n", "root", "-t", "CT,C,C", "-i", str(workdir / "ca.pem")],
    ):
        subprocess.run(command, check=True, capture_output=True)
    done = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True, text=True, check=False)
    return done.stdout


# ------------------------------------------------------------------ HTTP and records


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def enter(http: aiohttp.ClientSession, base: str, ceremony: str | None, token: str) -> dict[str, str]:
    """Open a link as its enter page does (POST the fragment's token): {cookie name: session id} it set.

    `ceremony` None opens an operator link. What comes back is what a browser then sends as `Cookie:`.
    """
    path = "/console/enter" if ceremony is None else f"/c/{ceremony}/enter"
    async with http.post(f"{base}{path}", json={"token": token}) as r:
        assert r.status == 200, await r.text()
        return {name: morsel.value for name, morsel in r.cookies.items() if name.startswith("cap-")}


def cookie_header(cookies: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A zip of `files` in memory: a record, tampered with or made up."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# ------------------------------------------------------------------ a room in process, scripted signatories


@dataclass
class Room:
    client: TestClient[Any, Any]
    ceremony: str
    host: ScriptedApi
    signers: list[ScriptedSignatory]

    @property
    def app(self) -> Any:
        return self.client.server.app  # type: ignore[union-attr]

    @property
    def state(self) -> Any:
        return self.app[SERVICE].get(self.ceremony)

    async def pdf(self) -> bytes:
        sha = list(self.state.pdf_signatures.values())[-1].event.sha256
        data: bytes = await self.app[SERVICE].document(sha)
        return data


async def make_room(aiohttp_client: Any, tmp_path: Path, original_pdf: bytes, **settings: Any) -> Room:
    """A ceremony in its signing segment, its original stored, four signatories with links (and keys)."""
    app = create_app(Settings(data_dir=tmp_path / "data", create_demo=False, **settings))
    client = await aiohttp_client(app)
    service = app[SERVICE]
    state = await service.create(demo_definition(), "operator")
    sha = await service.store_document(original_pdf)
    await service.execute(state.id, Freeze(document_sha256=sha, document_size=len(original_pdf)), "test")
    await service.execute(state.id, OpenRooms(), "test")
    await service.execute(state.id, StartSegment(segment="signing"), "test")
    base = str(client.make_url("")).rstrip("/")
    host = ScriptedApi(client.session, base, state.id, (await service.issue_link(state.id, Role.HOST, "t")).token)
    signers = []
    for signatory in state.definition.signatories[:4]:
        link = await service.issue_link(state.id, Role.SIGNATORY, "t", signatory=signatory.id)
        signers.append(ScriptedSignatory(ScriptedApi(client.session, base, state.id, link.token), signatory.id))
    return Room(client, state.id, host, signers)


async def ready(room: Room, signer: ScriptedSignatory, decision: str = "consent") -> None:
    """Enrolled, approved by the host, decided."""
    enrollment = await signer.enroll()
    await room.host.call("POST", f"/enrollments/{enrollment}/approve", {"code_confirmed": True})
    await signer.decide(decision)


# ------------------------------------------------------------------ signaling

SERVER_TYPES = {
    "welcome",
    "peer-joined",
    "peer-left",
    "peer-back",
    "knock",
    "admitted",
    "offer",
    "answer",
    "candidate",
    "ceremony",
    "ack",
    "error",
    "ping",
    "pong",
}
CANDIDATE = {
    "candidate": "candidate:1 1 UDP 2122252543 192.0.2.10 54321 typ host",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
}
SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


@dataclass(frozen=True)
class Template:
    """A data directory holding an open ceremony, a draft one, and links to both."""

    data: Path
    ceremony: str
    other: str  # a second ceremony (a draft) on the same server
    tokens: dict[str, str]  # who -> token
    invitations: dict[str, str]  # who -> invitation id


async def build_template(data: Path) -> Template:
    service = on_disk(data, clock=utc_clock)
    await service.start()
    try:
        state = await service.create(demo_definition(), "operator")
        other = await service.create(demo_definition(), "operator")
        await service.freeze(state.id, "operator", lambda d, c: render_mou_pdf(d, ceremony_id=c))
        await service.execute(state.id, OpenRooms(), "operator")
        signatory = state.definition.signatories[0].id
        issued = {
            "host": await service.issue_link(state.id, Role.HOST, "t"),
            "chuncheon": await service.issue_link(state.id, Role.VENUE, "t", venue="chuncheon"),
            "nanjing": await service.issue_link(state.id, Role.VENUE, "t", venue="nanjing"),
            "chuncheon-2": await service.issue_link(state.id, Role.VENUE, "t", venue="chuncheon"),
            "observer": await service.issue_link(state.id, Role.OBSERVER, "t"),
            "signatory": await service.issue_link(state.id, Role.SIGNATORY, "t", signatory=signatory),
            "archivist": await service.issue_link(state.id, Role.ARCHIVIST, "t"),
            "revoked": await service.issue_link(state.id, Role.VENUE, "t", venue="nanjing"),
            "other-host": await service.issue_link(other.id, Role.HOST, "t"),
        }
        await service.execute(state.id, RevokeInvitation(invitation=issued["revoked"].invitation), "operator")
    finally:
        await service.close()
    return Template(
        data,
        state.id,
        other.id,
        {who: link.token for who, link in issued.items()} | {"garbage": "x" * 43},
        {who: link.invitation for who, link in issued.items()},
    )


def ws_frame(payload: bytes, opcode: int = 0x1, *, masked: bool = True, mask: bytes = b"\x5a\xa5\x0f\xf0") -> bytes:
    """One final WebSocket frame as a client writes it (RFC 6455 5.2): masked unless told otherwise."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, (0x80 if masked else 0) | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, (0x80 if masked else 0) | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, (0x80 if masked else 0) | 127, length)
    if not masked:
        return header + payload
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@dataclass
class RawSocket:
    """A signaling WebSocket spoken frame by frame over a plain TCP connection."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def send(self, payload: bytes, opcode: int = 0x1, *, masked: bool = True) -> None:
        self.writer.write(ws_frame(payload, opcode, masked=masked))
        await self.writer.drain()

    async def frame(self) -> tuple[int, bytes]:
        """The server's next frame: (opcode, payload). Server frames are never masked."""
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(length)

    async def close_code(self) -> int:
        """Read (skipping other frames) until the server's close frame; its code."""
        while True:
            opcode, payload = await self.frame()
            if opcode == 0x8:
                (code,) = struct.unpack("!H", payload[:2])
                return int(code)

    def close(self) -> None:
        self.writer.close()


async def raw_socket(host: str, port: int, path: str, headers: dict[str, str]) -> RawSocket:
    """A TCP connection upgraded to a WebSocket by a hand-written request (101 asserted)."""
    reader, writer = await asyncio.open_connection(host, port)
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return RawSocket(reader, writer)


# ------------------------------------------------------------------ browsers (Playwright, headless Chromium)

VIEWPORT = {"width": 1280, "height": 900}
FREEZE_MS = 60_000  # Playwright timeouts are in milliseconds: a minute for slow steps (freezing renders the PDF)
# Screenshots go where SHOTS_DIR says, else to a directory of this run (never a fixed, shared path),
# made by the first test that takes one: importing the helpers leaves nothing behind.
SHOTS = Path(os.environ.get("SHOTS_DIR") or Path(tempfile.gettempdir()) / f"ceremony-shots-{os.getpid()}")


class Api:
    """The JSON API with bearer tokens, as a script (not a browser page) calls it: no cookies."""

    def __init__(self, server: Server, request: Any) -> None:
        self.server = server
        self.request = request

    async def __call__(self, method: str, path: str, token: str, body: Any = None) -> Any:
        response = await self.request.fetch(
            self.server.base + path,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            data=body,
            timeout=FREEZE_MS,
        )
        assert response.ok, f"{method} {path}: {response.status} {await response.text()}"
        return await response.json()


async def open_demo(call: Api, server: Server, segment: str | None = None) -> tuple[str, str]:
    """Freeze and open the demo ceremony through the API (and start `segment`): its API path and the host token."""
    api = f"/api/ceremonies/{server.demo_id}"
    host = server.token(server.host_link)
    await call("POST", f"{api}/freeze", host)
    await call("POST", f"{api}/open", host)
    if segment is not None:
        await call("POST", f"{api}/segment", host, {"segment": segment})
    return api, host


async def new_page(browser: Any, locale: str = "en-US") -> tuple[Any, Page, list[str]]:
    """A fresh browser profile (no cookies) and a page that records script errors."""
    context = await browser.new_context(viewport=VIEWPORT, locale=locale)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


# ------------------------------------------------------------------ what every browser test checks on every page

AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"  # from package-lock.json (`npm ci`), never a CDN
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice")
FAILING_IMPACTS = ("serious", "critical")
# Errors that mean "this document is gone", not "this page is wrong": a navigation replaced it, or the test
# closed the page. The next document gets its own check; a closed one has nothing left to check.
_GONE = re.compile(r"Execution context was destroyed|closed|navigat|Target crashed|Frame was detached", re.I)

# Runs axe-core in the page, and reads the text a person sees in the page's own language: without what is
# marked English (lang="en": the server's words as technical detail, the MOU's English text, "English" in
# the language switcher) and without hidden text (closed <details>, hidden panels).
_RUN_JS = """async (tags) => {
  if (document.contentType !== 'text/html' || !document.body) return null;
  const result = await window.axe.run(document, {
    runOnly: {type: 'tag', values: tags}, resultTypes: ['violations'], iframes: false,
  });
  const violations = result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.map(String), summary: n.failureSummary || ''})),
  }));
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || !node.data.trim() || el.closest('script, style, template, noscript, .technical-detail')) continue;
    if ((el.closest('[lang]')?.lang || '').toLowerCase().startsWith('en')) continue;
    if (!el.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
    texts.push(node.data);
  }
  const url = location.href.split('#')[0];  // never a link's token (the fragment) in a report
  return {url, lang: document.documentElement.lang, violations, text: texts.join(' ').replace(/\\s+/g, ' ')};
}"""


@dataclass(frozen=True)
class Finding:
    """One thing to fix on one page: an axe-core rule broken by some elements, or an English sentence shown."""

    rule: str  # axe-core's rule id, or "english-from-server"
    impact: str
    help: str
    url: str
    state: str
    targets: tuple[str, ...]  # CSS selectors of the elements (axe-core's), or the sentence found
    why: str

    def key(self) -> tuple[str, str, tuple[str, ...]]:
        return (self.rule, self.url.split("?")[0].split("#")[0], self.targets)

    def describe(self) -> str:
        more = f" (+{len(self.targets) - 5} more)" if len(self.targets) > 5 else ""
        return (
            f"- [{self.impact}] {self.rule}: {self.help}\n"
            f"    page:  {self.url}  (state: {self.state})\n"
            f"    where: {', '.join(self.targets[:5])}{more}\n"
            f"    why:   {' '.join(self.why.split())[:400]}"
        )


@functools.cache
def _axe_source() -> str:
    if not AXE_JS.exists():
        raise AssertionError(f"{AXE_JS} is missing: run `make setup` (it runs `npm ci` from package-lock.json)")
    return AXE_JS.read_text(encoding="utf-8")


@functools.cache
def server_sentences() -> tuple[str, ...]:
    """The English sentences (and sentence parts around f-string values) the server can send as an error's
    reason: the first argument of every error it raises (web.errors, ceremony.errors, signatures.errors)
    and every reason the middleware renders. Parts of four words and twenty characters or more, so that each
    is the server's own wording and not a phrase a page could happen to hold."""
    import ceremony.canonical
    import ceremony.errors
    import signatures.errors
    import signatures.keys
    import web.errors

    def family(cls: type) -> set[str]:
        return {cls.__name__} | {name for sub in cls.__subclasses__() for name in family(sub)}

    raising = (
        family(web.errors.WebError)
        | family(ceremony.errors.CeremonyError)
        | family(signatures.errors.SignatureError)
        | {ceremony.canonical.NotCanonicalizable.__name__, signatures.keys.BadKey.__name__}
    )
    found: set[str] = set()
    for package in ("web", "ceremony", "signatures", "signaling"):
        for source in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name == "_render_error" and len(node.args) >= 4:
                    reasons = [node.args[3]]
                elif name in raising and node.args:
                    reasons = [node.args[0]]
                else:
                    continue
                for reason in reasons:
                    parts = reason.values if isinstance(reason, ast.JoinedStr) else [reason]
                    for part in parts:
                        if isinstance(part, ast.Constant) and isinstance(part.value, str):
                            text = " ".join(part.value.split()).strip(" ,;:()'`\"")
                            if len(text) >= 20 and len(re.findall(r"[A-Za-z]{2,}", text)) >= 4:
                                found.add(text)
    return tuple(sorted(found))


class PageChecks:
    """The checks of one test's pages, and what they found.

    `watch(browser)` makes every page of every context the browser opens checked at each load (in the
    background, as the test goes on), after each `page.goto`, before each `page.screenshot` (waiting for
    the check: a screenshot is a state the test names) and when the test closes the page or its context
    (the state it left the page in; closing waits for the checks still running). The `browser` fixture
    watches its browser and fails the test at teardown with `report()`.
    """

    def __init__(self) -> None:
        self.findings: dict[tuple[str, str, tuple[str, ...]], Finding] = {}
        self.checked = 0  # documents and states checked (a test's report says how many)
        self._pending: set[asyncio.Task[list[Finding]]] = set()
        self._locks: weakref.WeakKeyDictionary[Page, asyncio.Lock] = weakref.WeakKeyDictionary()

    # -- wiring (instance attributes on Playwright's objects, so that tests keep real Page objects)

    def watch(self, browser: Any) -> None:
        new_context, new_page = browser.new_context, browser.new_page

        async def watched_context(*args: Any, **kwargs: Any) -> Any:
            context = await new_context(*args, **kwargs)
            self.watch_context(context)
            return context

        async def watched_page(*args: Any, **kwargs: Any) -> Any:
            page = await new_page(*args, **kwargs)
            self.watch_page(page)
            return page

        browser.new_context, browser.new_page = watched_context, watched_page

    def watch_context(self, context: Any) -> None:
        context.on("page", self.watch_page)
        close = context.close

        async def settled_close(*args: Any, **kwargs: Any) -> None:
            for page in context.pages:  # the state each page was left in is a state the test reached
                await self.check(page, "as the test left it")
            await self.settle()
            await close(*args, **kwargs)

        context.close = settled_close

    def watch_page(self, page: Page) -> None:
        _WATCHED[page] = self
        page.on("load", lambda p: self._later(p, "loaded"))
        goto, screenshot, close = page.goto, page.screenshot, page.close

        async def checked_goto(url: str, *args: Any, **kwargs: Any) -> Any:
            response = await goto(url, *args, **kwargs)
            await self.check(page, "loaded", once=True)
            return response

        async def checked_screenshot(*args: Any, **kwargs: Any) -> bytes:
            shot = kwargs.get("path")
            await self.check(page, f"screenshot {Path(shot).stem}" if shot else "screenshot")
            result: bytes = await screenshot(*args, **kwargs)
            return result

        async def settled_close(*args: Any, **kwargs: Any) -> None:
            await self.check(page, "as the test left it")
            await self.settle()
            await close(*args, **kwargs)

        page.goto, page.screenshot, page.close = checked_goto, checked_screenshot, settled_close  # type: ignore[method-assign]

    def _later(self, page: Page, state: str) -> None:
        task = asyncio.get_running_loop().create_task(self.check(page, state, once=True))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def settle(self) -> None:
        """Wait for the checks still running (a load's, in the background)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    # -- the check

    async def check(self, page: Page, state: str, *, once: bool = False) -> list[Finding]:
        """Check the page's document now; `once`: unless this document was already checked at its load."""
        lock = self._locks.setdefault(page, asyncio.Lock())
        async with lock:
            try:
                return await self._check(page, state, once)
            except Exception as exc:
                if page.is_closed() or _GONE.search(str(exc)):
                    return []
                raise

    async def _check(self, page: Page, state: str, once: bool) -> list[Finding]:
        url = page.url
        if not url.startswith(("http:", "https:")):  # about:blank, a data: URL, an error page of Chromium's own
            return []
        if not await page.evaluate("document.contentType === 'text/html'"):
            return []  # a JSON answer, a PDF, an image: not a page people read
        if once and await page.evaluate("window.__pageChecked === true"):
            return []
        await page.evaluate("window.__pageChecked = true")
        if not await page.evaluate("typeof window.axe === 'object'"):
            # page.evaluate is the DevTools protocol's own evaluation: the pages' CSP (script-src 'self')
            # does not apply to it, where a <script> tag would be refused.
            await page.evaluate(_axe_source())
        result = await page.evaluate(_RUN_JS, list(AXE_TAGS))
        if result is None:
            return []
        self.checked += 1
        url = result["url"]  # the document axe-core saw (page.url may already name the next one)
        found = [
            Finding(
                rule=v["id"],
                impact=v["impact"],
                help=v["help"],
                url=url,
                state=state,
                targets=tuple(" ".join(n["target"]) for n in v["nodes"]),
                why=v["nodes"][0]["summary"] if v["nodes"] else "",
            )
            for v in result["violations"]
            if v["impact"] in FAILING_IMPACTS
        ]
        if result["lang"].lower().startswith(("ko", "zh")):
            text = result["text"]
            for sentence in server_sentences():
                at = text.find(sentence)
                if at >= 0:
                    found.append(
                        Finding(
                            rule="english-from-server",
                            impact="serious",
                            help=f"the server's English is shown on a {result['lang']} page: show the "
                            "localised text for the error's code (js.error.<code>) and keep the reason "
                            'as technical detail marked lang="en"',
                            url=url,
                            state=state,
                            targets=(sentence,),
                            why=f"…{text[max(0, at - 80) : at + len(sentence) + 40]}…",
                        )
                    )
        for finding in found:
            self.findings.setdefault(finding.key(), finding)
        return found

    def report(self) -> str:
        if not self.findings:
            return ""
        lines = [
            f"{len(self.findings)} accessibility or language problem(s) in the {self.checked} page states this "
            f"test visited (axe-core {AXE_TAGS}, impact {'/'.join(FAILING_IMPACTS)}; rule help: "
            "https://dequeuniversity.com/rules/axe/4.14/<rule>):"
        ]
        lines += [finding.describe() for finding in self.findings.values()]
        return "\n".join(lines)


_WATCHED: weakref.WeakKeyDictionary[Page, PageChecks] = weakref.WeakKeyDictionary()


async def check_page(page: Page, state: str) -> list[Finding]:
    """Run the checks now, at a state the test has reached (after a change that was no load or screenshot).

    On a watched page (the `browser` fixture's) what is found fails the test at teardown with the rest;
    on any other page it fails here.
    """
    checks = _WATCHED.get(page)
    if checks is not None:
        return await checks.check(page, state)
    own = PageChecks()
    found = await own.check(page, state)
    assert not found, own.report()
    return found


SIGNING_LOCALES = {"ko": "ko-KR", "zh": "zh-CN"}


async def signing_device(browser: Any, url: str, lang: str, viewport: dict[str, int]) -> tuple[Any, Any, list[str]]:
    """A touch device opening a signatory link, on its signing page waiting for approval; its script errors."""
    from playwright.async_api import expect

    context = await browser.new_context(viewport=viewport, locale=SIGNING_LOCALES[lang], is_mobile=True, has_touch=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    await page.wait_for_url(re.compile(r"/sign$"))
    await expect(page.locator("#enrollment-state")).to_have_attribute("data-status", "pending")
    return context, page, errors


RTMP_LISTEN = ("ffmpeg", "-hide_banner", "-loglevel", "error", "-listen", "1")


class RtmpServer:
    """`ffmpeg -listen 1`: one RTMP publisher at a time, saved to a file until it disconnects."""

    def __init__(self, port: int, out: Path) -> None:
        self.url = f"rtmp://127.0.0.1:{port}/live/secret-stream-key"
        self.out = out
        self.process = subprocess.Popen(
            [*RTMP_LISTEN, "-i", self.url, "-c", "copy", "-y", str(out)],
            stdin=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
