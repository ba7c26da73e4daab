"""A decline's reason: signed inside the decline statement, sealed in the record, checked by the verifier.

The reason is a field of the statement the signatory's key signs (ceremony/consent.py), so the
record's evidence.json and consents/<who>.statement.json carry it, and the verifier quotes it.
Changed afterwards, it no longer matches the signature: the record fails.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from typing import Any

import pytest

from ceremony.canonical import canonicalize
from ceremony.consent import BadReason, parse_statement, statement_bytes
from signatures.record.pins import Pins
from signatures.record.report import Report
from signatures.record.verifier import verify_record
from tests.helpers import Room, make_room, statement, zip_bytes
from web.appkeys import PKI, RECORDS
from web.demo.scripted import ScriptedSignatory

REASON = "제3조에 대한 내부 검토가 끝나지 않았습니다.\n본국 승인 후 다시 서명하겠습니다."


async def decline_with(signer: ScriptedSignatory, reason: str) -> dict[str, Any]:
    """What the signing page sends for a refusal: the decline statement, with the reason as typed."""
    text = await signer.api.call("GET", "/consent-text?lang=ko&decision=decline")
    state = await signer.api.call("GET", "")
    person = next(s for s in state["signatories"] if s["id"] == signer.signatory)
    statement = {
        "type": "ceremony-consent/1",
        "decision": "decline",
        "ceremony": signer.api.ceremony,
        "document_sha256": state["document_sha256"],
        "consent_text_sha256": text["sha256"],
        "language": "ko",
        "party": person["party"],
        "signatory": signer.signatory,
        "venue": person["venue"],
        "challenge": await signer.challenge("consent"),
        "client_time": "2020-05-29T15:30:00+09:00",
        "reason": reason,
    }
    body = {"statement": statement, "signature": signer.sign(canonicalize(statement))}
    answer: dict[str, Any] = await signer.api.call("POST", "/consents", body)
    return answer


async def sealed_with_a_reasoned_decline(room: Room) -> dict[str, bytes]:
    signer = room.signers[0]
    enrollment = await signer.enroll()
    await room.host.call("POST", f"/enrollments/{enrollment}/approve", {"code_confirmed": True})
    recorded = await decline_with(signer, REASON)
    assert recorded["statement"]["reason"] == REASON
    await room.host.call("POST", "/seal", {"absent_ok": True})
    with zipfile.ZipFile(io.BytesIO(room.app[RECORDS].read(room.ceremony))) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def verified(room: Room, files: dict[str, bytes]) -> Report:
    return verify_record(zip_bytes(files), Pins(root_pem=room.app[PKI].root_pem), at=dt.datetime.now(dt.UTC))


async def test_a_decline_with_a_reason_verifies_and_the_report_quotes_it(
    aiohttp_client: Any, tmp_path: Any, original_pdf: bytes
) -> None:
    room = await make_room(aiohttp_client, tmp_path, original_pdf)
    files = await sealed_with_a_reasoned_decline(room)
    who = room.signers[0].signatory
    evidence = json.loads(files["evidence.json"])
    (consent,) = [c for c in evidence["consents"] if c["signatory"] == who]
    assert consent["decision"] == "decline" and consent["statement"]["reason"] == REASON
    assert json.loads(files[f"consents/{who}.statement.json"])["reason"] == REASON
    report = verified(room, files)
    assert report.ok, report.lines()
    (line,) = [c for c in report.checks if c.name == "consent.statement" and c.subject == who]
    assert repr(REASON) in line.detail


async def test_a_changed_reason_fails_verification(aiohttp_client: Any, tmp_path: Any, original_pdf: bytes) -> None:
    room = await make_room(aiohttp_client, tmp_path, original_pdf)
    files = await sealed_with_a_reasoned_decline(room)
    who = room.signers[0].signatory
    evidence = json.loads(files["evidence.json"])
    (consent,) = [c for c in evidence["consents"] if c["signatory"] == who]
    consent["statement"]["reason"] = "서명할 이유가 없습니다."  # words the signatory never signed
    files["evidence.json"] = canonicalize(evidence)  # well formed: only the reason differs
    files[f"consents/{who}.statement.json"] = canonicalize(consent["statement"])
    failed = {(c.name, c.subject): c.detail for c in verified(room, files).failed}
    # The TSA's token was over the bytes signed, reason included; and the log still holds the signed reason.
    assert "message imprint does not match" in failed[("consent.timestamp", f"consents/{who}.tsr")], failed
    assert "reason" in failed[("log.evidence", "events.jsonl")], failed


def test_a_statement_without_a_reason_keeps_its_signed_bytes_and_a_null_reason_is_refused() -> None:
    old = statement(decision="decline")  # as statements were before `reason` existed
    assert "reason" not in old.to_json()
    assert statement_bytes(parse_statement(old.to_json())) == statement_bytes(old)
    given = statement(decision="decline", reason="")
    assert given.to_json()["reason"] == ""
    with pytest.raises(BadReason, match="must be a string"):
        parse_statement({**old.to_json(), "reason": None})
    with pytest.raises(BadReason, match="only a decline"):
        statement(reason="no")
