"""Approving a signatory's key: the safety code read aloud, the link it came through, and what the record says of it.

The host could otherwise issue itself a signatory link, enroll a key of its own, approve it and
sign, leaving a trace only in events.jsonl. Now the signatory's device and the host console show
the same 8-digit code for a key (ceremony/safety.py), an approval must say the code was read
aloud, a key enrolled through a link that was since revoked is not approved, and evidence.json
states per signatory who approved the key, through which link it came and whether the code was
confirmed: all of it checked by the verifier against the log the record carries.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ceremony.commands import ApproveEnrollment, IssueInvitation, RequestEnrollment, RevokeInvitation
from ceremony.core import decide
from ceremony.errors import CommandRefused, CorruptLog
from ceremony.events import EnrollmentApproved, Role, event_from_json
from ceremony.safety import safety_code, spoken
from ceremony.state import Phase
from signatures.record.pins import Pins
from signatures.record.report import Report
from signatures.record.verifier import verify_record
from tests.helpers import Log, log_in, make_room, pdftotext, ready, squeezed, zip_bytes
from web.appkeys import CONSENTS, PKI, RECORDS, SERVICE
from web.demo.scripted import Api, ScriptedSignatory

FINGERPRINT = hashlib.sha256(b"a signatory's key").hexdigest()

# ---------------------------------------------------------------- the code


def test_the_safety_code_is_eight_digits_of_the_fingerprints_first_64_bits() -> None:
    assert safety_code(FINGERPRINT) == f"{int(FINGERPRINT[:16], 16) % 10**8:08d}"
    assert safety_code("00" * 32) == "00000000"  # zero-padded
    assert safety_code("ff" * 32) == f"{(2**64 - 1) % 10**8:08d}" == "09551615"
    assert spoken("48210937") == "4821 0937"
    # Only the first 16 hex digits count; any other change of key changes them with overwhelming odds.
    assert safety_code(FINGERPRINT[:16] + "0" * 48) == safety_code(FINGERPRINT)
    for bad in ("", "ab" * 31, "AB" * 32, "zz" * 32):
        with pytest.raises(ValueError, match="fingerprint"):
            safety_code(bad)


# ---------------------------------------------------------------- the core


def _enrolled(log: Log, *, label: str = "governor's tablet") -> None:
    log.run(
        IssueInvitation(
            invitation="inv-sig", role=Role.SIGNATORY, token_sha256="5" * 64, label=label, signatory="signer-kr"
        )
    )
    log.run(
        RequestEnrollment(
            enrollment="enr-1",
            signatory="signer-kr",
            invitation="inv-sig",
            public_key="cGs=",
            fingerprint=FINGERPRINT,
            device="UA",
            address="127.0.0.1",
        ),
        actor="signatory:inv-sig",
    )


def confirmed_approval() -> ApproveEnrollment:
    return ApproveEnrollment(
        enrollment="enr-1",
        certificate="Y2VydA==",
        serial="0a",
        not_after="2020-06-05T00:00:00.000000Z",
        code_confirmed=True,
    )


def test_a_key_whose_link_was_revoked_is_not_approved_and_the_refusal_says_why() -> None:
    log = log_in(Phase.SIGNING)
    _enrolled(log)
    assert log.state.enrollments["enr-1"].invitation == "inv-sig"  # the state remembers the link
    log.run(RevokeInvitation(invitation="inv-sig"))
    before = log.state
    with pytest.raises(CommandRefused, match=r"link 'governor's tablet' \(inv-sig\).*revoked") as refused:
        decide(log.state, confirmed_approval(), now=log.state.updated_at)
    assert "enrolls again" in str(refused.value)
    assert log.state is before and log.state.enrollments["enr-1"].status.value == "pending"


def test_an_approval_records_its_actor_its_time_the_link_and_the_confirmation() -> None:
    log = log_in(Phase.SIGNING)
    _enrolled(log)
    (event,) = log.run(confirmed_approval(), actor="host:inv-host")
    assert isinstance(event, EnrollmentApproved) and event.code_confirmed is True
    approved = log.state.enrollments["enr-1"]
    assert approved.invitation == "inv-sig" and approved.approved_by == "host:inv-host"
    assert approved.approved_at == log.envelopes[-1].at and approved.code_confirmed is True
    # The command's default, and so the core's record, is "not confirmed": only the edge asks for it.
    other = log_in(Phase.SIGNING)
    _enrolled(other)
    other.run(ApproveEnrollment(enrollment="enr-1", certificate="Y2VydA==", serial="0b", not_after="2030-01-01"))
    assert other.state.enrollments["enr-1"].code_confirmed is False


def test_an_enrollment_naming_no_link_of_the_ceremony_is_not_approved() -> None:
    log = log_in(Phase.SIGNING)
    log.run(
        RequestEnrollment(
            enrollment="enr-1",
            signatory="signer-kr",
            invitation="inv-nowhere",
            public_key="cGs=",
            fingerprint=FINGERPRINT,
            device="UA",
            address="127.0.0.1",
        )
    )
    with pytest.raises(CommandRefused, match="names no link"):
        decide(log.state, confirmed_approval(), now=log.state.updated_at)


def test_older_logs_replay_as_unconfirmed_and_a_flag_that_is_not_a_boolean_is_corrupt() -> None:
    data = {"enrollment": "enr-1", "certificate": "Y2VydA==", "serial": "0a", "not_after": "2030-01-01"}
    old = event_from_json("enrollment.approved", data)
    assert isinstance(old, EnrollmentApproved) and old.code_confirmed is False
    with pytest.raises(CorruptLog, match="true or false"):
        event_from_json("enrollment.approved", {**data, "code_confirmed": "yes"})


# ---------------------------------------------------------------- over HTTP


async def _signer(room: Any, label: str, index: int = 0) -> tuple[ScriptedSignatory, str]:
    """A signatory with a link of its own, labelled: the scripted device and the link's invitation id."""
    who = room.state.definition.signatories[index].id
    link = await room.app[SERVICE].issue_link(room.ceremony, Role.SIGNATORY, "t", signatory=who, label=label)
    api = Api(room.client.session, room.host.base, room.ceremony, link.token)
    return ScriptedSignatory(api, who), link.invitation


async def test_the_edge_refuses_an_approval_without_the_code_and_lists_code_and_link(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    room = await make_room(aiohttp_client, tmp_path, original_pdf)
    signer, invitation = await _signer(room, "governor's tablet")
    enrollment = await signer.enroll()
    url = f"/api/ceremonies/{room.ceremony}/enrollments/{enrollment}/approve"
    headers = {"Authorization": f"Bearer {room.host.token}"}
    seq = room.state.seq
    for body in (None, {}, {"code_confirmed": False}, {"code_confirmed": "true"}, {"code_confirmed": 1}):
        response = await room.client.post(url, headers=headers, **({} if body is None else {"json": body}))
        answer = await response.json()
        assert response.status == 400 and answer["error"] == "code_not_confirmed", (body, answer)
        assert "safety code aloud" in answer["reason"] and answer["fields"][0]["field"] == "code_confirmed"
    assert room.state.seq == seq and room.state.enrollments[enrollment].certificate is None  # nothing happened

    # What the host sees before approving: the code, the link (id and label), the device.
    (listed,) = (await room.host.call("GET", "/enrollments"))["enrollments"]
    fingerprint = hashlib.sha256(base64.b64decode(signer.public_key)).hexdigest()
    assert listed["fingerprint"] == fingerprint and listed["safety_code"] == safety_code(fingerprint)
    assert listed["invitation"] == {"id": invitation, "label": "governor's tablet", "active": True, "revoked_at": None}
    assert listed["approved_by"] is None and listed["code_confirmed"] is False

    approved = await room.host.call("POST", f"/enrollments/{enrollment}/approve", {"code_confirmed": True})
    host_link = (
        room.app[SERVICE].get(room.ceremony).invitation_by_token(hashlib.sha256(room.host.token.encode()).hexdigest())
    )
    assert approved["status"] == "approved" and approved["code_confirmed"] is True
    assert approved["approved_by"] == {"actor": f"host:{host_link.id}", "invitation": host_link.id, "label": ""}
    events = (await room.host.call("GET", "/events"))["events"]
    (logged,) = [e for e in events if e["type"] == "enrollment.approved"]
    assert logged["data"]["code_confirmed"] is True and logged["actor"] == f"host:{host_link.id}"


async def test_a_key_enrolled_through_a_link_revoked_since_is_not_approved_over_http(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    room = await make_room(aiohttp_client, tmp_path, original_pdf)
    signer, invitation = await _signer(room, "handed to the wrong person")
    enrollment = await signer.enroll()
    await room.host.call("DELETE", f"/invitations/{invitation}")
    (listed,) = (await room.host.call("GET", "/enrollments"))["enrollments"]
    assert listed["invitation"]["active"] is False and listed["invitation"]["revoked_at"]
    url = f"/api/ceremonies/{room.ceremony}/enrollments/{enrollment}/approve"
    response = await room.client.post(
        url, json={"code_confirmed": True}, headers={"Authorization": f"Bearer {room.host.token}"}
    )
    answer = await response.json()
    assert response.status == 409 and "has been revoked" in answer["reason"], answer
    assert "'handed to the wrong person'" in answer["reason"] and invitation in answer["reason"]
    assert room.state.enrollments[enrollment].status.value == "pending"


# ---------------------------------------------------------------- in the record


def _files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _checks(report: Report, name: str) -> dict[str, Any]:
    return {c.subject: c for c in report.checks if c.name == name}


async def test_the_record_states_who_approved_each_key_and_the_verifier_holds_it_to_the_log(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    room = await make_room(aiohttp_client, tmp_path, original_pdf)
    confirmed, confirmed_link = await _signer(room, "governor's tablet", 0)
    await ready(room, confirmed)  # through the API: the host confirms the code
    # An approval without the confirmation, as older logs hold them (or a script calling the desk).
    unconfirmed, unconfirmed_link = await _signer(room, "mayor's phone", 1)
    enrollment = await unconfirmed.enroll()
    await room.app[CONSENTS].approve(room.state, enrollment, "operator")
    await unconfirmed.decide("consent")
    for signer in (confirmed, unconfirmed):
        await signer.sign_pdf()
    await room.host.call("POST", "/seal", {"absent_ok": True})
    data = room.app[RECORDS].read(room.ceremony)
    pins = Pins(root_pem=room.app[PKI].root_pem)
    report = verify_record(data, pins, at=dt.datetime.now(dt.UTC))
    assert report.ok, "\n".join(report.lines())

    evidence = json.loads(_files(data)["evidence.json"])
    stated = {s["id"]: s["approval"] for s in evidence["signatories"]}
    host = room.state.invitation_by_token(hashlib.sha256(room.host.token.encode()).hexdigest())
    first, second = confirmed.signatory, unconfirmed.signatory
    assert stated[first]["enrolled_through"] == {"invitation": confirmed_link, "label": "governor's tablet"}
    assert stated[first]["approved_by"] == {"actor": f"host:{host.id}", "invitation": host.id, "label": ""}
    assert stated[first]["code_confirmed"] is True
    assert stated[first]["safety_code"] == safety_code(stated[first]["key_fingerprint"])
    assert stated[second]["enrolled_through"] == {"invitation": unconfirmed_link, "label": "mayor's phone"}
    assert stated[second]["approved_by"] == {"actor": "operator", "invitation": None, "label": None}
    assert stated[second]["code_confirmed"] is False
    assert all(v is None for k, v in stated.items() if k not in (first, second))  # absent: no key to account for

    # One line per key that decided, saying what a reader holds against the recording.
    lines = _checks(report, "log.approvals")
    assert set(lines) == {first, second}
    assert "who confirmed the signatory read the safety code" in lines[first].detail
    assert f"host:{host.id}" in lines[first].detail and confirmed_link in lines[first].detail
    assert "WITHOUT confirming" in lines[second].detail and "by operator" in lines[second].detail

    # The certificate of completion shows them (three languages at once).
    completion = tmp_path / "completion.pdf"
    completion.write_bytes(_files(data)["completion.pdf"])
    text = pdftotext(completion)
    code = stated[first]["safety_code"]
    for expected in (
        "governor's tablet",
        confirmed_link,
        f"{code[:4]} {code[4:]}",
        "reading confirmed by the approver",
        "낭독 확인 없음",
        "未确认朗读",
        "Key enrolled through link",
    ):
        assert squeezed(expected) in squeezed(text), expected  # pdftotext breaks lines inside the columns

    # A record sealed before approvals were stated verifies as it did; its lines give the log's account.
    files = _files(data)
    for entry in evidence["signatories"]:
        entry.pop("approval")
    files["evidence.json"] = json.dumps(evidence, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    older = verify_record(zip_bytes(files), pins, at=dt.datetime.now(dt.UTC))
    assert _checks(older, "evidence.format")["evidence.json"].ok
    lines = _checks(older, "log.approvals")
    assert lines[first].ok and "sealed before approvals were stated" in lines[first].detail
    # Only the edit itself is noticed: the seal and the token over evidence.json (and so the order of times).
    assert {c.name for c in older.failed} <= {"evidence.seal", "evidence.timestamp", "time.order"}
