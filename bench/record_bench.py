"""A six-party record: the PAdES step, the seal, verification and size, each beside bare pyHanko.

One server (the real app on a loopback port, `web.AppRunner`) and, per round, one
demo ceremony (six signatories) driven over the HTTP API as browsers drive it:
create, freeze, open, enroll and approve, consent, then the six PAdES signatures
one after another, then the seal. Measured in the same round, on the same PDF
with the same keys, certificates and TSA:

- PAdES step, per signature: through the server (POST /pdf-signatures, the
  client's ECDSA signature over the signed attributes, POST
  /pdf-signatures/{session}); our `signatures.pades` prepare/finish in
  process (no HTTP, no store); and the floor, bare pyHanko signing with its own
  `SimpleSigner` holding the key, the same PAdES settings and a pyHanko
  `TimeStamper` calling the same TSA code. The three take turns signature by
  signature, in rotating order, each on its own chain of revisions.
  Each signature is visible in its signatory's box (as the desk makes it), in all three.
- Seal: POST /seal (validation data and document timestamp, evidence, token, CMS
  seal, certificate of completion, zip, fsync, the log append); `Sealer.build` in
  process; its parts timed alone; the floor, bare pyHanko document timestamp on the
  same PDF (without the validation data the seal adds before its own).
- Verify: `verify_record` on the record; its PDF half (`read_pdf`, AdES long-term
  validation); the floor, pyHanko's own validation of the same PDF's six signatures
  and document timestamp.
- Size: the record zip and its parts.
- The longest the event loop (server and client share it) went unserved during
  a PAdES step and during POST /seal.

    .venv/bin/python -m bench.record_bench --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import math
import os
import tempfile
import time
import zipfile
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from asn1crypto import algos, cms, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, timestamps
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.signers.pdf_cms import ExternalSigner
from pyhanko.sign.signers.pdf_signer import PdfSigner, PdfTBSDocument, PdfTimeStamper
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from bench.common import free_port, machine
from ceremony.definition import definition_to_json
from ceremony.model import CeremonyDefinition
from ceremony.runtime.records import RecordFiles
from ceremony.state import CeremonyState, current_pdf
from signatures import pades
from signatures.appearance import VisibleSignature, stamp_style
from signatures.cms import sign_detached
from signatures.pdf_desk import signature_stamp, signature_texts
from signatures.pki import CeremonyPki
from signatures.record.build import seal_document
from signatures.record.container import write_archive
from signatures.record.lta import FIELD, TIMESTAMP_BYTES
from signatures.record.parts import SIGNED_PDF
from signatures.record.pins import Pins
from signatures.record.validation import Anchors
from signatures.record.verifier import record_material, verify_record
from signatures.record.verify_pdf import read_pdf
from signatures.timestamping import LocalTimestamper
from signatures.tsa import TimeStampAuthority
from web.app import create_app
from web.appkeys import PKI, RECORDS, SEALER, SERVICE, TSA
from web.completion import render_completion_pdf
from web.demo.definition import demo_definition
from web.demo.scripted import Api, ScriptedSignatory
from web.mou import signature_box
from web.settings import Settings, utc_clock

T = TypeVar("T")
ECDSA = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
RESERVED = pades.SIGNATURE_BYTES


@dataclass(slots=True)
class Samples:
    """Seconds by scenario name, pooled over rounds; sizes from the last round."""

    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # CPU of the timing thread
    by_position: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (bytes, deflated in the zip)
    record: int = 0
    six: tuple[int, int, int] = (0, 0, 0)  # the PDF after six signatures: server, ours in process, bare pyHanko
    checks: int = 0
    lta: tuple[int, int, int] = (0, 0, 0)  # PDF bytes: six signatures, + a bare doc timestamp, + B-LTA seal

    def add(self, name: str, seconds: float, cpu: float | None = None) -> None:
        self.times[name].append(seconds)
        if cpu is not None:
            self.cpu[name].append(cpu)


class Stopwatch:
    """Wall time, and the CPU time of the thread it runs in (what other processes on the machine inflate less)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.thread_time()

    def stop(self, samples: Samples, name: str) -> float:
        wall = time.perf_counter() - self.wall
        samples.add(name, wall, time.thread_time() - self.cpu)
        return wall


async def timed(samples: Samples, name: str, work: Awaitable[T]) -> T:
    watch = Stopwatch()
    result = await work
    watch.stop(samples, name)
    return result


def timed_sync(samples: Samples, name: str, work: Callable[[], T]) -> T:
    watch = Stopwatch()
    result = work()
    watch.stop(samples, name)
    return result


class LoopStall:
    """The longest a 5 ms ticker on the event loop came late: how long the loop could run nothing else.

    The bench client shares the loop with the server, but its own work between
    requests (one ECDSA signature, JSON) takes well under a millisecond.
    """

    TICK = 0.005

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.TICK)
            self.worst = max(self.worst, loop.time() - started - self.TICK)

    async def __aenter__(self) -> LoopStall:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@dataclass(frozen=True, slots=True)
class Signer:
    """One signatory as the in-process runs need them: key, certificate, the desk's field texts and stamp."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    texts: pades.SignatureTexts
    visible: VisibleSignature | None


def appearance(signer: Signer) -> dict[str, Any]:
    """PdfSigner's arguments for the signer's visible signature (pyHanko's own API), as the desk places it."""
    if signer.visible is None:
        return {}
    x1, y1, x2, y2 = signer.visible.box.rect
    box = (math.ceil(x1), math.ceil(y1), math.floor(x2), math.floor(y2))
    return {
        "stamp_style": stamp_style(signer.visible.stamp),
        "new_field_spec": fields.SigFieldSpec(signer.texts.field_name, on_page=signer.visible.box.page, box=box),
    }


class TsaStamper(timestamps.TimeStamper):
    """The floor's timestamper: pyHanko's own interface straight onto the built-in TSA code."""

    def __init__(self, tsa: TimeStampAuthority) -> None:
        super().__init__(include_nonce=False)  # type: ignore[no-untyped-call]
        self.tsa = tsa

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        return cms.ContentInfo.load(self.tsa.stamp(message_digest, utc_clock()).token)


def asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


# ---- the ceremony over HTTP ----


async def stage_to(host: Api, segment: str) -> None:
    while (await host.call("GET", ""))["segment"] != segment:
        await host.call("POST", "/stage", {"segment": "next"})


async def ready_to_sign(operator: Api, definition: CeremonyDefinition) -> tuple[Api, list[ScriptedSignatory]]:
    """A frozen, open ceremony in its signing segment, every signatory certified and consenting."""
    created = await operator.call("POST", "", definition_to_json(definition))
    ceremony = created["id"]
    host = operator.of(ceremony, (await operator.of(ceremony).link("host", "bench host"))["token"])
    await host.call("POST", "/freeze")
    tokens = {s.id: (await host.link("signatory", "bench", signatory=s.id))["token"] for s in definition.signatories}
    await host.call("POST", "/open")
    await stage_to(host, "signing")
    scripted = [ScriptedSignatory(host.of(ceremony, t), s) for s, t in tokens.items()]
    await asyncio.gather(*(s.enroll() for s in scripted))
    for enrollment in (await host.call("GET", "/enrollments"))["enrollments"]:
        await host.call("POST", f"/enrollments/{enrollment['id']}/approve", {"code_confirmed": True})
    for signatory in scripted:
        await signatory.wait_for_certificate(poll=0.01)
        await signatory.decide("consent")
    return host, scripted


def signers_of(state: CeremonyState, scripted: list[ScriptedSignatory], original: bytes) -> list[Signer]:
    """The same keys, certificates, field texts and stamps as signatures/pdf_desk.py uses, in signing order."""
    certificates = {
        e.signatory: x509.load_der_x509_certificate(base64.b64decode(e.certificate))
        for e in state.enrollments.values()
        if e.certificate is not None
    }
    signers = []
    for n, signatory in enumerate(scripted, 1):
        who, certificate = signatory.signatory, certificates[signatory.signatory]
        box = signature_box(original, who)
        stamp = signature_stamp(state, who, certificate.serial_number, utc_clock())
        visible = None if box is None else VisibleSignature(box, stamp)
        signers.append(Signer(signatory.key, certificate, signature_texts(state, who, n), visible))
    return signers


async def server_step(samples: Samples, position: int, signatory: ScriptedSignatory) -> None:
    """ScriptedSignatory.sign_pdf, with its two requests timed apart."""
    watch = Stopwatch()
    prepared = await timed(samples, "server prepare", signatory.api.call("POST", "/pdf-signatures", {}))
    value = signatory.sign(base64.b64decode(prepared["to_sign"]))
    suffix = f"/pdf-signatures/{prepared['session']}"
    await timed(samples, "server finish", signatory.api.call("POST", suffix, {"signature": value}))
    samples.by_position[position].append(watch.stop(samples, "server pades"))


# ---- the same signatures in process ----


async def ours_step(samples: Samples, pdf: bytes, signer: Signer, pki: CeremonyPki, tsa: TimeStampAuthority) -> bytes:
    """signatures.pades as signatures/pdf_desk.py calls it, without HTTP, turn or store."""
    watch = Stopwatch()
    prepared = await timed(
        samples,
        "ours prepare",
        pades.prepare(pdf, signer.certificate, [*pki.chain, pki.root], signer.texts, signer.visible),
    )
    value = signer.key.sign(prepared.to_sign, ec.ECDSA(hashes.SHA256()))
    signed = await timed(samples, "ours finish", pades.finish(prepared, value, LocalTimestamper(tsa, utc_clock)))
    watch.stop(samples, "ours pades")
    return signed.data


async def bare_step(samples: Samples, pdf: bytes, signer: Signer, pki: CeremonyPki, tsa: TimeStampAuthority) -> bytes:
    """The floor: pyHanko signing in one call, its SimpleSigner holding the key, the same PAdES settings."""
    watch = Stopwatch()
    registry = SimpleCertificateStore.from_certs([asn1(c) for c in (*pki.chain, pki.root)])  # type: ignore[no-untyped-call]
    der_key = signer.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    simple = SimpleSigner(
        asn1(signer.certificate), keys.PrivateKeyInfo.load(der_key), registry, signature_mechanism=ECDSA
    )
    meta = signer.texts.metadata()  # the same PAdES settings as ours, by construction
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    output = io.BytesIO()
    await PdfSigner(meta, signer=simple, timestamper=TsaStamper(tsa), **appearance(signer)).async_sign_pdf(
        writer, bytes_reserved=RESERVED, output=output
    )
    watch.stop(samples, "bare pades")
    return output.getvalue()


async def bare_external_step(
    samples: Samples, pdf: bytes, signer: Signer, pki: CeremonyPki, tsa: TimeStampAuthority
) -> bytes:
    """pyHanko's own interrupted-signing recipe (ExternalSigner), the key signing in between: no code of ours."""
    watch = Stopwatch()
    registry = SimpleCertificateStore.from_certs([asn1(c) for c in (*pki.chain, pki.root)])  # type: ignore[no-untyped-call]
    certificate = asn1(signer.certificate)
    placeholder = ExternalSigner(certificate, registry, signature_value=72, signature_mechanism=ECDSA)
    meta = signer.texts.metadata()  # the same PAdES settings as ours, by construction
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    digest, tbs, output = await PdfSigner(meta, signer=placeholder, **appearance(signer)).async_digest_doc_for_signing(
        writer, bytes_reserved=RESERVED
    )
    attributes = await placeholder.signed_attrs(digest.document_digest, "sha256", use_pades=True)
    value = signer.key.sign(attributes.dump(), ec.ECDSA(hashes.SHA256()))
    final = ExternalSigner(certificate, registry, signature_value=value, signature_mechanism=ECDSA)
    cms_object = await final.async_sign_prescribed_attributes(
        "sha256", signed_attrs=attributes, timestamper=TsaStamper(tsa)
    )
    await PdfTBSDocument.async_finish_signing(
        output, prepared_digest=digest, signature_cms=cms_object, post_sign_instr=tbs.post_sign_instructions
    )
    watch.stop(samples, "bare external")
    output.seek(0)
    data: bytes = output.read()
    return data


async def sign_all(
    samples: Samples,
    original: bytes,
    scripted: list[ScriptedSignatory],
    signers: list[Signer],
    pki: CeremonyPki,
    tsa: TimeStampAuthority,
) -> tuple[bytes, bytes]:
    """Signature by signature, the server's, ours in process and the two floors', in rotating order."""
    ours = bare = external = original
    for n, (signatory, signer) in enumerate(zip(scripted, signers, strict=True)):
        for turn in range(4):
            match (n + turn) % 4:
                case 0:
                    async with LoopStall() as stall:
                        await server_step(samples, n + 1, signatory)
                    samples.add("stall pades", stall.worst)
                case 1:
                    ours = await ours_step(samples, ours, signer, pki, tsa)
                case 2:
                    external = await bare_external_step(samples, external, signer, pki, tsa)
                case _:
                    bare = await bare_step(samples, bare, signer, pki, tsa)
    return ours, bare


async def bare_document_timestamp(pdf: bytes, tsa: TimeStampAuthority) -> bytes:
    """The floor of the seal: pyHanko's document timestamp alone, reserving what the B-LTA seal reserves for it."""
    output = io.BytesIO()
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    await PdfTimeStamper(TsaStamper(tsa), field_name=FIELD.format(n=1)).async_timestamp_pdf(
        writer, "sha256", output=output, bytes_reserved=TIMESTAMP_BYTES
    )
    return output.getvalue()


async def bare_validate(pdf: bytes, root: x509.Certificate) -> int:
    """pyHanko alone, a validation context per signature, revocation soft-fail; how many were valid."""
    trust = asn1(root)
    valid = 0
    for embedded in PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures:
        context = ValidationContext(trust_roots=[trust], allow_fetching=False, revocation_mode="soft-fail")
        if embedded.sig_object.get("/Type") == "/DocTimeStamp":
            stamp = await async_validate_pdf_timestamp(embedded, validation_context=context)
            valid += bool(stamp.intact and stamp.valid and stamp.trusted)
        else:
            status = await async_validate_pdf_signature(
                embedded, signer_validation_context=context, ts_validation_context=context
            )
            valid += bool(status.intact and status.valid and status.trusted)
    return valid


def in_thread_timed(samples: Samples, name: str, work: Callable[[], T]) -> Awaitable[T]:
    """Run `work` in a worker thread and time it there (not the hop), as the server runs its renderers."""
    return asyncio.to_thread(timed_sync, samples, name, work)


# ---- one round ----


async def rotated(n: int, *works: Callable[[], Awaitable[Any]]) -> None:
    """Run `works` one after another, starting with the n-th, so no scenario always follows the same one."""
    for i in range(len(works)):
        await works[(n + i) % len(works)]()


async def one_round(app: web.Application, operator: Api, samples: Samples, workdir: Path, n: int) -> None:
    service, pki, tsa = app[SERVICE], app[PKI], app[TSA]
    host, scripted = await ready_to_sign(operator, demo_definition())
    ceremony = host.ceremony
    state = service.get(ceremony)
    assert state.document_sha256 is not None
    original = await service.document(state.document_sha256)
    signers = signers_of(state, scripted, original)

    # 1. The PAdES step: server, ours in process, bare pyHanko; same PDF, keys, certificates, TSA.
    ours, bare = await sign_all(samples, original, scripted, signers, pki, tsa)
    await stage_to(host, state.definition.run_of_show[-1].id)
    state = service.get(ceremony)
    signed = await service.document(current_pdf(state)[0])
    assert len(state.pdf_signatures) == 6
    samples.six = (len(signed), len(ours), len(bare))

    # 2. The seal: its parts and the floor in process, then Sealer.build, then POST /seal itself.
    sealer = app[SEALER]
    timestamper = LocalTimestamper(tsa, utc_clock)
    stamped: list[bytes] = []

    async def bare_seal() -> None:
        stamped.append(await timed(samples, "bare doc timestamp", bare_document_timestamp(signed, tsa)))

    async def lta_seal() -> None:
        sealed = await timed(samples, "ours doc timestamp", seal_document(signed, state, sealer.kit, utc_clock()))
        samples.lta = (len(signed), samples.lta[1], len(sealed.data))

    await rotated(n, bare_seal, lta_seal)
    samples.lta = (samples.lta[0], len(stamped[0]), samples.lta[2])
    await timed(samples, "sealer.build", sealer.build(state))
    async with LoopStall() as stall:
        await timed(samples, "server seal", host.call("POST", "/seal", {"absent_ok": False}))
    samples.add("stall seal", stall.worst)
    record = app[RECORDS].read(ceremony)
    assert record is not None
    with zipfile.ZipFile(io.BytesIO(record)) as archive:
        files = {i.filename: archive.read(i) for i in archive.infolist()}
        deflated = {i.filename: i.compress_size for i in archive.infolist()}
    evidence_bytes = files["evidence.json"]
    evidence = json.loads(evidence_bytes)
    await in_thread_timed(samples, "completion", lambda: render_completion_pdf(evidence))
    await timed(samples, "evidence token", timestamper.timestamp(evidence_bytes))
    timed_sync(samples, "cms seal", lambda: sign_detached(evidence_bytes, pki.seal, pki.chain))
    scratch = RecordFiles(workdir / "scratch")
    timed_sync(samples, "zip", lambda: write_archive(files))
    await in_thread_timed(samples, "write fsync", lambda: scratch.write(ceremony, record))

    # 3. Verification of the record just sealed.
    pins, pdf, root, now = Pins(root_pem=pki.root_pem), files[SIGNED_PDF], pki.root, utc_clock()
    reports = []

    async def whole() -> None:
        reports.append(await in_thread_timed(samples, "verify_record", lambda: verify_record(record, pins, at=now)))

    async def pdf_half() -> None:
        read = read_pdf(pdf, Anchors(root=root), record_material(files), now)
        results = await timed(samples, "read_pdf", read)
        assert len(results) == 7 and all(r.ok for r in results), [r.detail for r in results]

    async def floor() -> None:
        assert await timed(samples, "bare validate", bare_validate(pdf, root)) == 7

    await rotated(n, floor, pdf_half, whole)
    (report,) = reports
    assert report.ok, "\n".join(report.lines())

    # 4. Sizes.
    samples.record, samples.checks = len(record), len(report.checks)
    size = evidence["documents"]["original"]["size"]
    samples.sizes = {"(original MOU, frozen PDF/A-3b)": (size, 0)}
    for name in sorted(files, key=lambda n: -len(files[n])):
        # The per-signatory files summed: consents/<who>.{statement.json,sig,tsr}, certificates/<who>.pem
        group = f"{name.split('/')[0]}/* ({sum(n.startswith(name.split('/')[0]) for n in files)} files)"
        key = group if "/" in name else name
        before, zipped = samples.sizes.get(key, (0, 0))
        samples.sizes[key] = (before + len(files[name]), zipped + deflated[name])


async def run(rounds: int, warmup: int, workdir: Path) -> Samples:
    app = create_app(Settings(data_dir=workdir / "server", create_demo=False))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            operator = Api(http, f"http://127.0.0.1:{port}", "", await app[SERVICE].issue_operator_link())
            for n in range(warmup):  # fonts, imports, caches
                await one_round(app, operator, Samples(), workdir, n)
            samples = Samples()
            for n in range(rounds):
                await one_round(app, operator, samples, workdir, n)
            return samples
    finally:
        await runner.cleanup()


# ---- the report ----


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000


ROWS: list[tuple[str, str, str]] = [
    # (section, key, label); the first row of a section is its floor
    ("PAdES step, per signature", "bare pades", "floor: bare pyHanko, SimpleSigner + TimeStamper"),
    ("PAdES step, per signature", "bare external", "bare pyHanko external signing (ExternalSigner)"),
    ("PAdES step, per signature", "ours pades", "ours in process: prepare + sign + finish"),
    ("PAdES step, per signature", "ours prepare", "  part: pades.prepare"),
    ("PAdES step, per signature", "ours finish", "  part: pades.finish (verify, token, CMS)"),
    ("PAdES step, per signature", "server pades", "server: POST, sign, POST"),
    ("PAdES step, per signature", "server prepare", "  part: POST /pdf-signatures"),
    ("PAdES step, per signature", "server finish", "  part: POST /pdf-signatures/{session}"),
    ("Seal, six signatures", "bare doc timestamp", "floor: bare pyHanko document timestamp"),
    ("Seal, six signatures", "ours doc timestamp", "part: seal_document (DSS, CRLs, doc timestamp)"),
    ("Seal, six signatures", "completion", "part: render_completion_pdf"),
    ("Seal, six signatures", "evidence token", "part: RFC 3161 token over evidence.json"),
    ("Seal, six signatures", "cms seal", "part: CMS seal (sign_detached)"),
    ("Seal, six signatures", "zip", "part: write_archive (the record's zip)"),
    ("Seal, six signatures", "write fsync", "part: RecordFiles.write (fsync)"),
    ("Seal, six signatures", "sealer.build", "Sealer.build in process (no write, no log)"),
    ("Seal, six signatures", "server seal", "server: POST /seal"),
    ("Verify", "bare validate", "floor: pyHanko validation, 6 sig + doc TS"),
    ("Verify", "read_pdf", "part: read_pdf (the record's PDF half)"),
    ("Verify", "verify_record", "verify_record (the whole record)"),
]


def report(samples: Samples, rounds: int, warmup: int) -> list[str]:
    lines = [
        machine(
            f"pyHanko {metadata.version('pyHanko')}",
            f"WeasyPrint {metadata.version('weasyprint')}",
            f"cryptography {metadata.version('cryptography')}",
            f"aiohttp {metadata.version('aiohttp')}",
        ),
        f"six-party demo ceremony; {rounds} rounds after {warmup} warm-up; each round one ceremony, interleaved",
        "CPU: the timing thread's own CPU time (for server rows the event loop's: worker threads such as the",
        "completion render inside POST /seal and the event store's fsync are not in it)",
    ]
    floor = 0.0
    section = ""
    for name, key, label in ROWS:
        if name != section:
            section = name
            header = f"{'p50 ms':>9} {'p90 ms':>9} {'p50/floor':>10} {'CPU p50':>9} {'CPU/floor':>10}"
            lines += ["", f"{name:<48} {'n':>4} {header}"]
            floor, floor_cpu = p(samples.times[key], 0.5), p(samples.cpu[key], 0.5)
        values, cpu = samples.times[key], samples.cpu[key]
        ratio, cpu_ratio = p(values, 0.5) / floor, p(cpu, 0.5) / floor_cpu
        lines.append(
            f"{label:<48} {len(values):>4} {p(values, 0.5):>9.1f} {p(values, 0.9):>9.1f} {ratio:>9.2f}x"
            f" {p(cpu, 0.5):>9.1f} {cpu_ratio:>9.2f}x"
        )
    pades = [p(samples.times[k], 0.5) / p(samples.times["bare pades"], 0.5) for k in ("ours pades", "server pades")]
    lines += ["", f"PAdES step, ours / floor (p50): in process {pades[0]:.2f}x, through the server {pades[1]:.2f}x"]
    positions = "  ".join(f"#{n} {p(v, 0.5):.0f}" for n, v in sorted(samples.by_position.items()))
    lines += [f"server PAdES step by signing position, p50 ms: {positions}"]
    for key, what in (("stall pades", "a server PAdES step"), ("stall seal", "POST /seal")):
        worst = samples.times[key]
        lines.append(
            f"longest event-loop stall during {what}, p50 / max of {len(worst)}: "
            f"{p(worst, 0.5):.0f} / {p(worst, 1):.0f} ms"
        )
    lines += ["", f"{'record.zip and its parts (last round)':<48} {'bytes':>9} {'in zip':>9}"]
    lines.append(f"{'record.zip':<48} {samples.record:>9}")
    for name, (size, deflated) in samples.sizes.items():
        lines.append(f"{name:<48} {size:>9} {deflated or '':>9}".rstrip())
    parts = [sizes for name, sizes in samples.sizes.items() if not name.startswith("(")]
    lines.append(f"{'(all files)':<48} {sum(s for s, _ in parts):>9} {sum(z for _, z in parts):>9}")
    server, ours, bare = samples.six
    lines.append(f"PDF after six signatures: server {server}, ours in process {ours}, bare pyHanko {bare} bytes")
    lines.append(f"verify_record: {samples.checks} checks, all passed")
    six, bare_ts, lta = samples.lta
    extra = p(samples.times["ours doc timestamp"], 0.5) - p(samples.times["bare doc timestamp"], 0.5)
    seal = p(samples.times["server seal"], 0.5)
    revocation = sum(size for name, (size, _) in samples.sizes.items() if name.startswith("revocation/"))
    lines += [
        "",
        f"B-LTA at the seal (validation data for six signatures + its own, then the document timestamp) costs "
        f"{extra:.0f} ms more than a bare document timestamp: {extra / seal:.0%} of POST /seal ({seal:.0f} ms, p50)",
        f"B-LTA grows the sealed PDF by {lta - bare_ts} bytes over a bare document timestamp "
        f"({six} -> {bare_ts} bare, {lta} B-LTA); the record has the CRLs again in revocation/ ({revocation} bytes)",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="measured ceremonies (six signatures each)")
    parser.add_argument("--warmup", type=int, default=1, help="ceremonies run first and not counted (at least 1)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        samples = asyncio.run(run(args.rounds, max(1, args.warmup), Path(tmp)))
    lines = report(samples, args.rounds, max(1, args.warmup))
    lines.insert(1, f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
