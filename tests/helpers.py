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
- browsers: `VIEWPORT`, `FREEZE_MS`, `SHOTS` (where screenshots go), `Api` (the JSON API through
  a Playwright request context) and `new_page` (a fresh profile and a page that records script errors).
"""

from __future__ import annotations

import asyncio
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
