"""The signatory's receipt, over HTTP: what the log holds, for its own link only, checkable by outsiders.

A receipt is worth something only if it can be held against a record without
trusting the server that wrote both; so besides matching the log, its
statement, signature and timestamp are checked here with the `openssl` binary
against nothing but the ceremony root, as someone outside the system would.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ceremony.canonical import canonicalize
from ceremony.events import Role

# Plain helpers, not fixtures: each test makes its own room (the one test_pades signs in).
from tests.helpers import Room, make_room, openssl, ready
from web.appkeys import PKI, SERVICE
from web.demo.scripted import ScriptedSignatory


async def receipt(room: Room, token: str, query: str = "") -> tuple[int, dict[str, Any], dict[str, str]]:
    url = f"/api/ceremonies/{room.ceremony}/receipt{query}"
    response = await room.client.get(url, headers={"Authorization": f"Bearer {token}"})
    return response.status, await response.json(), dict(response.headers)


async def log_data(room: Room, event_type: str, **match: str) -> dict[str, Any]:
    """The data of the one event of `event_type` (whose fields equal `match`), as the host's timeline shows it."""
    events = (await room.host.call("GET", "/events"))["events"]
    found = [e["data"] for e in events if e["type"] == event_type and all(e["data"][k] == v for k, v in match.items())]
    assert len(found) == 1, (event_type, match, found)
    data: dict[str, Any] = found[0]
    return data


async def test_the_receipt_holds_what_the_log_holds_and_verifies_with_openssl(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    room = await make_room(aiohttp_client, tmp_path, original_pdf)
    signer: ScriptedSignatory = room.signers[0]
    await ready(room, signer)

    # Decided but not yet in the PDF: the receipt exists, without a PDF signature.
    status, early, headers = await receipt(room, signer.api.token)
    assert status == 200 and early["pdf_signature"] is None
    assert headers["Cache-Control"] == "no-store"
    signed = await signer.sign_pdf()
    status, got, _ = await receipt(room, signer.api.token, f"?signatory={signer.signatory}")
    assert status == 200

    # Every value is the log's own.
    who = signer.signatory
    consent = await log_data(room, "consent.recorded", signatory=who)
    requested = await log_data(room, "enrollment.requested", signatory=who)
    approved = await log_data(room, "enrollment.approved", enrollment=requested["enrollment"])
    document = await log_data(room, "document.signed", signatory=who)
    frozen = await log_data(room, "ceremony.frozen")
    definition = room.state.definition
    person = definition.signatory(who)
    assert got == {
        "type": "ceremony-receipt/1",
        "ceremony": {"id": room.ceremony, "title": definition.title.as_dict()},
        "signatory": {"id": who, "name": person.name.as_dict(), "title": person.title.as_dict()},
        "party": {"id": person.party, "name": definition.party(person.party).name.as_dict()},
        "venue": {"id": person.venue, "name": definition.venue(person.venue).name.as_dict()},
        "key": {
            "fingerprint": requested["fingerprint"],
            "certificate": approved["certificate"],
            "serial": approved["serial"],
        },
        "decision": "consent",
        "statement": consent["statement"],
        "signature": consent["signature"],
        "timestamps": [{"token": consent["timestamp_token"], "time": consent["timestamp"]}],
        "document_sha256": frozen["document_sha256"],
        "pdf_signature": {
            "field": document["field"],
            "sha256": document["sha256"],
            "size": document["size"],
            "timestamp": document["timestamp"],
            "timestamps": [{"token": document["timestamp_token"], "time": document["timestamp"]}],
        },
    }  # fmt: skip
    assert consent["certificate_serial"] == approved["serial"]
    shown = ("field", "sha256", "size", "timestamp")
    assert {k: signed[k] for k in shown} == {k: got["pdf_signature"][k] for k in shown}
    # The PDF signature's hash is that of the stored revision the signatory's signature made.
    stored = await room.app[SERVICE].document(got["pdf_signature"]["sha256"])
    assert hashlib.sha256(stored).hexdigest() == got["pdf_signature"]["sha256"] == document["sha256"]
    assert len(stored) == got["pdf_signature"]["size"]
    # Apart from the PDF signature, the receipt did not change when the PDF was signed.
    assert {k: v for k, v in got.items() if k != "pdf_signature"} == {
        k: v for k, v in early.items() if k != "pdf_signature"
    }

    # An outsider's check: the certificate is for the fingerprinted key, the statement's RFC 8785
    # bytes verify with it, and the token covers those bytes under the ceremony root.
    certificate = base64.b64decode(got["key"]["certificate"])
    parsed = x509.load_der_x509_certificate(certificate)
    spki = parsed.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert (
        hashlib.sha256(spki).hexdigest()
        == got["key"]["fingerprint"]
        == hashlib.sha256(base64.b64decode(signer.public_key)).hexdigest()
    )
    assert format(parsed.serial_number, "x") == got["key"]["serial"]
    (tmp_path / "cert.der").write_bytes(certificate)
    (tmp_path / "statement.json").write_bytes(canonicalize(got["statement"]))
    (tmp_path / "sig.der").write_bytes(base64.b64decode(got["signature"]))
    (tmp_path / "token.der").write_bytes(base64.b64decode(got["timestamps"][0]["token"]))
    (tmp_path / "ca.pem").write_bytes(room.app[PKI].root_pem)
    done = openssl("x509", "-inform", "DER", "-in", "cert.der", "-pubkey", "-noout", "-out", "pub.pem", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = openssl("dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", "statement.json", cwd=tmp_path)
    assert "Verified OK" in done.stdout, done.stdout + done.stderr
    args = ["ts", "-verify", "-in", "token.der", "-token_in", "-data", "statement.json", "-CAfile", "ca.pem"]
    done = openssl(*args, cwd=tmp_path)
    assert "Verification: OK" in done.stdout, done.stdout + done.stderr
    # The token's own time is the one the receipt names ("Time stamp: May 29 01:20:00.123 2020 GMT").
    reply = openssl("ts", "-reply", "-in", "token.der", "-token_in", "-text", cwd=tmp_path)
    stamped = re.search(r"Time stamp: (\w+ +\d+ [\d:]+)(?:\.\d+)? (\d{4}) GMT", reply.stdout)
    assert stamped is not None, reply.stdout + reply.stderr
    token_time = dt.datetime.strptime(f"{stamped[1]} {stamped[2]}", "%b %d %H:%M:%S %Y").replace(tzinfo=dt.UTC)
    named = dt.datetime.fromisoformat(got["timestamps"][0]["time"].replace("Z", "+00:00"))
    assert named.replace(microsecond=0) == token_time

    # A statement changed by one character no longer verifies, with either check.
    forged = dict(got["statement"], client_time="2020-05-29T15:31:00+09:00")
    (tmp_path / "statement.json").write_bytes(canonicalize(forged))
    done = openssl("dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", "statement.json", cwd=tmp_path)
    assert "Verified OK" not in done.stdout
    assert "Verification: OK" not in openssl(*args, cwd=tmp_path).stdout


async def test_only_the_signatorys_own_link_after_a_decision(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    room = await make_room(aiohttp_client, tmp_path, original_pdf)
    first, second, decliner = room.signers[:3]

    # Before a decision: 409 with a code the signing page turns into its own words.
    await first.enroll()
    status, body, _ = await receipt(room, first.api.token)
    assert status == 409 and body["error"] == "not_decided" and "signs or declines" in body["reason"]

    await ready(room, second)
    # Another signatory's link, naming the first: refused. Without a name it reads its own.
    status, body, _ = await receipt(room, second.api.token, f"?signatory={first.signatory}")
    assert status == 403 and body["error"] == "forbidden"
    status, body, _ = await receipt(room, second.api.token)
    assert status == 200 and body["signatory"]["id"] == second.signatory

    # The host, the operator, a venue and nobody at all get no receipt.
    status, body, _ = await receipt(room, room.host.token)
    assert status == 403 and body["error"] == "forbidden"
    operator = await room.app[SERVICE].issue_operator_link()
    assert (await receipt(room, operator))[0] == 403
    venue = await room.app[SERVICE].issue_link(room.ceremony, Role.VENUE, "t", venue="chuncheon")
    assert (await receipt(room, venue.token))[0] == 403
    nobody = await room.client.get(f"/api/ceremonies/{room.ceremony}/receipt")
    assert nobody.status == 401

    # A revoked signatory link reads nothing either.
    invitation = next(i for i in room.state.invitations.values() if i.signatory == second.signatory)
    await room.host.call("DELETE", f"/invitations/{invitation.id}")
    assert (await receipt(room, second.api.token))[0] == 403

    # A decline has a receipt too: the signed refusal, and no PDF signature ever.
    await ready(room, decliner, "decline")
    status, body, _ = await receipt(room, decliner.api.token)
    assert status == 200 and body["decision"] == "decline" and body["statement"]["decision"] == "decline"
    assert body["pdf_signature"] is None
    assert (
        body["statement"]["consent_text_sha256"]
        == room.state.consents[decliner.signatory].event.statement.consent_text_sha256
    )
