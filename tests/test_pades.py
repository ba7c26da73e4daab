"""PAdES signatures by the signatories' own keys, over HTTP, one at a time, checked by poppler and pyHanko.

A Python P-256 key (web/demo/scripted.py) stands in for WebCrypto here, so that bad
inputs can be tried precisely; tests/test_archive_browser.py signs with real
browser keys. The PDF is the real frozen original (rendered once per session).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import io
import json
import threading
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ceremony.events import Role
from signatures import pdf_desk, turns
from signatures.crl import revoked_serials
from signatures.pki import key_id
from signatures.record.pins import Pins
from signatures.record.report import Report
from signatures.record.sealer import Sealer
from signatures.record.validation import Anchors, Material
from signatures.record.verifier import verify_record
from signatures.record.verify_pdf import PdfResult, read_pdf
from tests.helpers import Room, make_room, pdfsig, ready
from web.appkeys import CRLS, PDFS, PKI, RECORDS, SERVICE, SETTINGS
from web.demo.scripted import ScriptError


@pytest.fixture
async def room(aiohttp_client: Any, tmp_path: Path, original_pdf: bytes) -> AsyncIterator[Room]:
    yield await make_room(aiohttp_client, tmp_path, original_pdf)


async def check_pdf(room: Room, pdf: bytes) -> list[PdfResult]:
    """The record verifier's judgement of each signature (AdES, long-term), before any seal.

    Only the server's root is trusted; the issuing CA and the CRLs the server publishes are what
    a validator fetches from the certificates' distribution points.
    """
    pki, now = room.app[PKI], dt.datetime.now(dt.UTC)
    material = Material(certificates=pki.chain, crls=room.app[CRLS].all(now))
    return await read_pdf(pdf, Anchors(root=pki.root), material, now)


def verify(data: bytes, root_pem: bytes) -> Report:
    return verify_record(data, Pins(root_pem=root_pem), at=dt.datetime.now(dt.UTC))


async def test_each_signatory_signs_the_newer_revision_and_earlier_signatures_stay_valid(
    room: Room, tmp_path: Path
) -> None:
    first, second = room.signers[:2]
    for signer in (first, second):
        await ready(room, signer)
        signed = await signer.sign_pdf()
        assert signed["signatory"] == signer.signatory and len(signed["sha256"]) == 64
    signatures = list(room.state.pdf_signatures.values())
    assert [s.event.signatory for s in signatures] == [first.signatory, second.signatory]
    pdf = await room.pdf()
    original = room.state.document_size
    assert pdf[:original] == (await room.app[SERVICE].document(room.state.document_sha256))  # incremental only

    # Both signatures verify in the final file, the first one after the second was added.
    results = await check_pdf(room, pdf)
    assert [r.ok for r in results] == [True, True], [r.detail for r in results]
    assert all(r.timestamp is not None for r in results)
    assert results[0].timestamp <= results[1].timestamp  # type: ignore[operator]

    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    report = pdfsig(path, room.app[PKI].root_pem, tmp_path)
    assert report.count("Signature is Valid.") == 2, report
    assert report.count("Certificate is Trusted.") == 2, report
    assert first.signatory in report and second.signatory in report

    # The signatory's /me shows the PDF signature (a reloaded page resumes from it).
    me = await first.api.call("GET", "/me")
    assert me["pdf_signature"]["field"] == signatures[0].event.field

    # A hall's screen opened now shows both as signed, the others as waiting.
    venue = await room.app[SERVICE].issue_link(room.ceremony, Role.VENUE, "t", venue="chuncheon")
    page = await room.client.get(f"/c/{room.ceremony}/venue", headers={"Authorization": f"Bearer {venue.token}"})
    html = await page.text()
    for signer in room.signers:
        expected = "signed" if signer in (first, second) else "waiting"
        assert f'data-signatory="{signer.signatory}" data-progress="{expected}"' in html


async def test_concurrent_signers_wait_their_turn_and_none_is_lost(room: Room) -> None:
    await asyncio.gather(*(ready(room, s) for s in room.signers))
    answers = await asyncio.gather(*(s.sign_pdf() for s in room.signers))
    assert sorted(a["signatory"] for a in answers) == sorted(s.signatory for s in room.signers)
    chain = list(room.state.pdf_signatures.values())
    assert len(chain) == 4
    results = await check_pdf(room, await room.pdf())
    assert [r.ok for r in results] == [True] * 4, [r.detail for r in results]
    # Each revision is the one the log recorded, in the log's order.
    assert [r.revision_sha256 for r in results] == [s.event.sha256 for s in chain]


async def test_refusals_change_nothing(room: Room) -> None:
    signer, other, decliner = room.signers[:3]
    enrollment = await signer.enroll()
    with pytest.raises(ScriptError, match=r"HTTP 409: .*consent first"):
        await signer.sign_pdf()
    await room.host.call("POST", f"/enrollments/{enrollment}/approve", {"code_confirmed": True})
    await signer.decide("consent")
    await ready(room, decliner, "decline")
    with pytest.raises(ScriptError, match="HTTP 409"):
        await decliner.sign_pdf()

    prepared = await signer.api.call("POST", "/pdf-signatures", {})
    session = prepared["session"]
    to_sign = base64.b64decode(prepared["to_sign"])
    # Signed by a key that is not the certified one: refused, and the PDF gets no broken signature.
    with pytest.raises(ScriptError, match=r"HTTP 400: .*does not verify"):
        await signer.api.call("POST", f"/pdf-signatures/{session}", {"signature": other.sign(to_sign)})
    with pytest.raises(ScriptError, match="HTTP 400"):
        await signer.api.call("POST", f"/pdf-signatures/{session}", {"signature": "not base64!"})
    # Another signatory's link cannot finish this session.
    await ready(room, other)
    seq = room.state.seq
    with pytest.raises(ScriptError, match=r"HTTP 400: .*no such signing session"):
        await other.api.call("POST", f"/pdf-signatures/{session}", {"signature": other.sign(to_sign)})
    assert room.state.seq == seq and not room.state.pdf_signatures
    # The right key, within the lease, still finishes the same session; it cannot be used twice.
    await signer.api.call("POST", f"/pdf-signatures/{session}", {"signature": signer.sign(to_sign)})
    with pytest.raises(ScriptError, match=r"HTTP 400: .*no such signing session"):
        await signer.api.call("POST", f"/pdf-signatures/{session}", {"signature": signer.sign(to_sign)})
    with pytest.raises(ScriptError, match=r"HTTP 409: .*already signed"):
        await signer.sign_pdf()
    assert list(room.state.pdf_signatures) == [signer.signatory]
    # Once sealed, nobody signs any more (the one who consented but never signed is recorded absent).
    await room.host.call("POST", "/seal", {"absent_ok": True})
    sealed = room.state.sealed
    assert sealed.signed == (signer.signatory,) and sealed.declined == (decliner.signatory,)
    assert other.signatory in sealed.absent and len(sealed.absent) == 4
    with pytest.raises(ScriptError, match=r"HTTP 409: .*no longer be signed: the ceremony is sealed"):
        await other.sign_pdf()


async def test_a_vanished_browser_loses_its_turn_after_the_lease(room: Room, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_desk, "LEASE_SECONDS", 0.5)
    gone, next_one = room.signers[:2]
    await ready(room, gone)
    await ready(room, next_one)
    stale = await gone.api.call("POST", "/pdf-signatures", {})  # and then the tab closes
    signed = await next_one.sign_pdf()  # waits for the lease to run out, then signs
    assert signed["signatory"] == next_one.signatory
    to_sign = base64.b64decode(stale["to_sign"])
    with pytest.raises(ScriptError, match=r"HTTP 400: .*expired"):
        await gone.api.call("POST", f"/pdf-signatures/{stale['session']}", {"signature": gone.sign(to_sign)})
    assert (await gone.sign_pdf())["signatory"] == gone.signatory  # over the newer revision
    results = await check_pdf(room, await room.pdf())
    assert [r.ok for r in results] == [True, True]


async def test_one_signatory_holds_at_most_one_unfinished_signature(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parallel prepares by one consented signatory used to queue for the turn one lease after
    # another, ahead of everyone else: now the first holds it and the rest are refused at once.
    monkeypatch.setattr(pdf_desk, "LEASE_SECONDS", 0.5)
    greedy, other = room.signers[:2]
    await ready(room, greedy)
    await ready(room, other)
    await greedy.api.call("POST", "/pdf-signatures", {})  # holds the turn, never finishes
    extra = await asyncio.gather(
        *(greedy.api.call("POST", "/pdf-signatures", {}) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(e, ScriptError) and "HTTP 409" in str(e) for e in extra), extra
    assert (await other.sign_pdf())["signatory"] == other.signatory  # after one lease, not six
    assert (await greedy.sign_pdf())["signatory"] == greedy.signatory  # the lapsed session freed its place


async def test_a_signer_kept_waiting_is_told_to_retry(room: Room, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns, "WAIT_SECONDS", 0.3)
    holder, waiter = room.signers[:2]
    await ready(room, holder)
    await ready(room, waiter)
    await holder.api.call("POST", "/pdf-signatures", {})
    with pytest.raises(ScriptError, match=r"HTTP 503: .*try again"):
        await waiter.sign_pdf()


async def test_an_event_that_lands_while_the_record_is_built_makes_the_seal_build_it_again(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = room.signers[0]
    await ready(room, signer)
    await signer.sign_pdf()
    built = Sealer.build
    builds = 0

    async def interrupted(self: Sealer, state: Any) -> Any:
        nonlocal builds
        record = await built(self, state)
        builds += 1
        if builds == 1:  # the host hands out a press link while the first record is being made
            await room.app[SERVICE].issue_link(room.ceremony, Role.OBSERVER, "press")
        return record

    monkeypatch.setattr(Sealer, "build", interrupted)
    await room.host.call("POST", "/seal", {"absent_ok": True})
    assert builds == 2
    data = room.app[RECORDS].read(room.ceremony)
    with zipfile.ZipFile(io.BytesIO(data)) as record:
        evidence = json.loads(record.read("evidence.json"))
    # The record covers every event before the seal, the press link included.
    assert evidence["log"]["length"] == room.state.seq - 1
    report = verify(data, room.app[PKI].root_pem)
    assert report.ok, "\n".join(report.lines())

    # The archive list names the record as stored: its size, SHA-256 and who signed.
    operator = {"Authorization": f"Bearer {await room.app[SERVICE].issue_operator_link()}"}
    listed = await (await room.client.get("/api/archive", headers=operator)).json()
    (entry,) = [c["record"] for c in listed["ceremonies"] if c["id"] == room.ceremony]
    assert entry["size"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["signatories"] == {"signed": 1, "declined": 0, "absent": 5}
    page = await room.client.get("/archive", headers=operator)
    assert page.status == 200 and entry["sha256"][:16] in await page.text()


async def test_a_revoked_key_cannot_start_a_signature_nor_hold_the_turn(room: Room) -> None:
    thief, next_one = room.signers[:2]
    enrollment = await thief.enroll()
    await room.host.call("POST", f"/enrollments/{enrollment}/approve", {"code_confirmed": True})
    await thief.decide()
    await ready(room, next_one)
    await room.host.call("POST", f"/enrollments/{enrollment}/revoke", {"cause": "key_compromise"})
    seq, documents = room.state.seq, sorted((room.app[SETTINGS].data_dir / "documents").rglob("*"))
    with pytest.raises(ScriptError, match=r"HTTP 409: .*revoked"):
        await thief.sign_pdf()
    # Refused before the turn is taken: the next signer goes at once, and nothing was stamped or stored.
    assert not room.app[PDFS].turns.lock(room.ceremony).locked()
    assert room.state.seq == seq and not room.state.pdf_signatures
    assert sorted((room.app[SETTINGS].data_dir / "documents").rglob("*")) == documents
    assert (await asyncio.wait_for(next_one.sign_pdf(), 10))["signatory"] == next_one.signatory


async def test_a_key_revoked_during_the_lease_is_refused_before_any_stamp(room: Room) -> None:
    signer = room.signers[0]
    enrollment = await signer.enroll()
    await room.host.call("POST", f"/enrollments/{enrollment}/approve", {"code_confirmed": True})
    await signer.decide()
    prepared = await signer.api.call("POST", "/pdf-signatures", {})
    await room.host.call("POST", f"/enrollments/{enrollment}/revoke", {"cause": "key_compromise"})
    seq, documents = room.state.seq, sorted((room.app[SETTINGS].data_dir / "documents").rglob("*"))
    to_sign = base64.b64decode(prepared["to_sign"])
    with pytest.raises(ScriptError, match=r"HTTP 409: .*revoked"):
        await signer.api.call("POST", f"/pdf-signatures/{prepared['session']}", {"signature": signer.sign(to_sign)})
    assert room.state.seq == seq and not room.state.pdf_signatures
    assert sorted((room.app[SETTINGS].data_dir / "documents").rglob("*")) == documents  # no orphan revision
    assert not room.app[PDFS].turns.lock(room.ceremony).locked()  # the turn went on


async def test_the_crl_route_reads_revocations_on_the_loop_and_only_signs_in_a_thread(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ceremony states change on the loop; a worker thread walking them could meet a dict mid-change."""
    signer = room.signers[0]
    enrollment = await signer.enroll()
    await room.host.call("POST", f"/enrollments/{enrollment}/approve", {"code_confirmed": True})
    await room.host.call("POST", f"/enrollments/{enrollment}/revoke", {"cause": "key_compromise"})
    service = room.app[SERVICE]
    real, readers = service.ceremonies, []

    def watched() -> Any:
        readers.append(threading.current_thread())
        return real()

    monkeypatch.setattr(service, "ceremonies", watched)
    issuing = room.app[PKI].issuing.certificate
    answer = await room.client.get(f"/pki/crl/{key_id(issuing)}.crl")
    assert answer.status == 200
    serial = room.state.enrollments[enrollment].serial
    assert int(serial, 16) in revoked_serials(await answer.read())
    assert readers and all(t is threading.main_thread() for t in readers), readers
