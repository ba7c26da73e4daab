"""Enrollment and consent over HTTP, with real P-256 keys signing the way WebCrypto does (raw r||s).

The browser itself (WebCrypto, IndexedDB) is exercised in tests/test_signing_browser.py;
here a Python key stands in for it so every bad input can be tried precisely.
Tokens are checked with the real `openssl ts -verify`, certificates with `openssl verify`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from ceremony.canonical import canonicalize
from ceremony.challenges import PER_LINK
from ceremony.commands import Cancel, Freeze, OpenRooms, StartSegment
from ceremony.events import Role
from signatures.pki import make_root
from tests.helpers import bearer, free_port, openssl
from web.app import create_app
from web.appkeys import CONSENTS, PKI, SERVICE
from web.demo.definition import demo_definition
from web.settings import Settings


class Browser:
    """A signatory's device: a P-256 key whose signatures come out as WebCrypto's r||s."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        spki = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.spki = base64.b64encode(spki).decode()

    def sign(self, data: bytes) -> str:
        r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        return base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()


@dataclass
class Hall:
    client: TestClient[Any, Any]
    ceremony: str
    host: dict[str, str]
    signer: dict[str, str]  # the first signatory's link
    other: dict[str, str]  # the second signatory's link
    observer: dict[str, str]
    tmp: Path

    @property
    def app(self) -> Any:
        return self.client.server.app  # type: ignore[union-attr]

    @property
    def seq(self) -> int:
        seq: int = self.app[SERVICE].get(self.ceremony).seq
        return seq

    def url(self, suffix: str) -> str:
        return f"/api/ceremonies/{self.ceremony}{suffix}"

    async def challenge(self, purpose: str, who: dict[str, str] | None = None) -> str:
        r = await self.client.post(self.url("/challenges"), json={"purpose": purpose}, headers=who or self.signer)
        assert r.status == 201, await r.text()
        value: str = (await r.json())["challenge"]
        return value

    async def enroll(self, browser: Browser, who: dict[str, str] | None = None, signatory: str = "") -> dict[str, Any]:
        challenge = await self.challenge("enrollment", who)
        message = canonicalize(
            {
                "type": "ceremony-enrollment/1",
                "ceremony": self.ceremony,
                "signatory": signatory or self.signatory_id(0),
                "challenge": challenge,
                "public_key": browser.spki,
            }
        )
        body = {"public_key": browser.spki, "challenge": challenge, "signature": browser.sign(message)}
        r = await self.client.post(self.url("/enrollments"), json=body, headers=who or self.signer)
        assert r.status == 201, await r.text()
        answer: dict[str, Any] = await r.json()
        return answer

    async def approve(self, enrollment: str) -> dict[str, Any]:
        r = await self.client.post(
            self.url(f"/enrollments/{enrollment}/approve"), json={"code_confirmed": True}, headers=self.host
        )
        assert r.status == 200, await r.text()
        answer: dict[str, Any] = await r.json()
        return answer

    def signatory_id(self, index: int) -> str:
        sid: str = self.app[SERVICE].get(self.ceremony).definition.signatories[index].id
        return sid

    async def statement(self, decision: str = "consent", index: int = 0, lang: str = "ko") -> dict[str, Any]:
        state = self.app[SERVICE].get(self.ceremony)
        signatory = state.definition.signatories[index]
        r = await self.client.get(
            self.url(f"/consent-text?lang={lang}&decision={decision}&signatory={signatory.id}"), headers=self.host
        )
        text = await r.json()
        return {
            "type": "ceremony-consent/1",
            "decision": decision,
            "ceremony": self.ceremony,
            "document_sha256": state.document_sha256,
            "consent_text_sha256": text["sha256"],
            "language": lang,
            "party": signatory.party,
            "signatory": signatory.id,
            "venue": signatory.venue,
            "challenge": await self.challenge("consent", self.signer if index == 0 else self.other),
            "client_time": "2020-05-29T10:40:00+09:00",
        }

    async def sign(self, browser: Browser, statement: dict[str, Any], who: dict[str, str] | None = None) -> Any:
        body = {"statement": statement, "signature": browser.sign(canonicalize(statement))}
        return await self.client.post(self.url("/consents"), json=body, headers=who or self.signer)


async def make_hall(aiohttp_client: Any, tmp_path: Path, **settings: Any) -> Hall:
    app = create_app(Settings(data_dir=tmp_path / "data", create_demo=False, **settings))
    client = await aiohttp_client(app)
    service = app[SERVICE]
    state = await service.create(demo_definition(), "operator")
    # The PDF itself is not needed here: a frozen hash is (test_http.py renders the real one).
    await service.execute(
        state.id, Freeze(document_sha256=hashlib.sha256(b"the original").hexdigest(), document_size=12), "test"
    )
    await service.execute(state.id, OpenRooms(), "test")
    definition = state.definition
    links = {
        "host": await service.issue_link(state.id, Role.HOST, "t"),
        "signer": await service.issue_link(state.id, Role.SIGNATORY, "t", signatory=definition.signatories[0].id),
        "other": await service.issue_link(state.id, Role.SIGNATORY, "t", signatory=definition.signatories[3].id),
        "observer": await service.issue_link(state.id, Role.OBSERVER, "t"),
    }
    tokens = {k: bearer(v.token) for k, v in links.items()}
    return Hall(client, state.id, tokens["host"], tokens["signer"], tokens["other"], tokens["observer"], tmp_path)


@pytest.fixture
async def hall(aiohttp_client: Any, tmp_path: Path) -> Hall:
    return await make_hall(aiohttp_client, tmp_path)


async def to_signing(hall: Hall) -> None:
    await hall.app[SERVICE].execute(hall.ceremony, StartSegment(segment="signing"), "test")


# ------------------------------------------------------------------ the journey


async def test_enroll_approve_consent_and_check_with_openssl(hall: Hall) -> None:
    browser = Browser()
    enrollment = await hall.enroll(browser)
    assert enrollment["status"] == "pending" and len(enrollment["fingerprint"]) == 64
    listed = await (await hall.client.get(hall.url("/enrollments"), headers=hall.host)).json()
    assert [e["id"] for e in listed["enrollments"]] == [enrollment["id"]]
    approved = await hall.approve(enrollment["id"])
    assert approved["status"] == "approved" and approved["serial"]

    me = await (await hall.client.get(hall.url("/me"), headers=hall.signer)).json()
    certificate = base64.b64decode(me["enrollments"][0]["certificate"])
    (hall.tmp / "signer.der").write_bytes(certificate)
    pki = hall.app[PKI]
    (hall.tmp / "ca.pem").write_bytes(pki.root_pem)
    (hall.tmp / "chain.pem").write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in pki.chain))
    (hall.tmp / "tsa.pem").write_bytes(pki.tsa.certificate_pem)
    openssl("x509", "-inform", "DER", "-in", "signer.der", "-out", "signer.pem", cwd=hall.tmp)
    # Issued by the online issuing CA, which the root certifies: the root alone is trusted.
    alone = openssl("verify", "-CAfile", "ca.pem", "signer.pem", cwd=hall.tmp)
    assert alone.returncode != 0
    verified = openssl("verify", "-CAfile", "ca.pem", "-untrusted", "chain.pem", "signer.pem", cwd=hall.tmp)
    assert "signer.pem: OK" in verified.stdout, verified.stderr
    subject = openssl("x509", "-in", "signer.pem", "-noout", "-subject", cwd=hall.tmp).stdout
    assert "O = Gangwon Province" in subject and "C = KR" in subject

    await to_signing(hall)
    statement = await hall.statement()
    r = await hall.sign(browser, statement)
    assert r.status == 201, await r.text()
    consent = await r.json()
    assert consent["decision"] == "consent" and consent["timestamp"].endswith("Z")

    # The token in the log is over exactly the statement's canonical bytes.
    (hall.tmp / "token.der").write_bytes(base64.b64decode(consent["timestamp_token"]))
    digest = hashlib.sha256(canonicalize(statement)).hexdigest()
    check = openssl(
        "ts", "-verify", "-token_in", "-in", "token.der", "-digest", digest,
        "-CAfile", "ca.pem", "-untrusted", "tsa.pem", cwd=hall.tmp,
    )  # fmt: skip
    assert "Verification: OK" in check.stdout, check.stdout + check.stderr
    # ... and the consent signature verifies with the certificate's key (DER, as stored).
    (hall.tmp / "statement.json").write_bytes(canonicalize(statement))
    (hall.tmp / "sig.der").write_bytes(base64.b64decode(consent["signature"]))
    openssl("x509", "-in", "signer.pem", "-pubkey", "-noout", "-out", "pub.pem", cwd=hall.tmp)
    dgst = openssl("dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", "statement.json", cwd=hall.tmp)
    assert "Verified OK" in dgst.stdout

    # Everyone sees the progress.
    events = await (await hall.client.get(hall.url("/events"), headers=hall.observer)).json()
    assert events["events"][-1]["type"] == "consent.recorded"
    again = await hall.sign(browser, await hall.statement())
    assert again.status == 409 and "already" in (await again.json())["reason"]


async def test_a_signatory_may_decline_and_that_is_logged(hall: Hall) -> None:
    browser = Browser()
    await hall.approve((await hall.enroll(browser))["id"])
    await to_signing(hall)
    r = await hall.sign(browser, await hall.statement("decline", lang="zh"))
    assert r.status == 201 and (await r.json())["decision"] == "decline"


async def test_a_decline_carries_its_reason_signed_with_it(hall: Hall) -> None:
    browser = Browser()
    await hall.approve((await hall.enroll(browser))["id"])
    await to_signing(hall)
    reason = "제3조에 대한 내부 검토가\n아직 끝나지 않았습니다."  # a line break is allowed, as in a textarea
    r = await hall.sign(browser, {**await hall.statement("decline"), "reason": reason})
    assert r.status == 201, await r.text()
    recorded = await r.json()
    assert recorded["statement"]["reason"] == reason
    # The log keeps the statement as signed: its RFC 8785 bytes, reason included, verify with the key.
    events = await (await hall.client.get(hall.url("/events"), headers=hall.host)).json()
    (logged,) = [e for e in events["events"] if e["type"] == "consent.recorded"]
    assert logged["data"]["statement"]["reason"] == reason
    signed = canonicalize(logged["data"]["statement"])
    raw = base64.b64decode(recorded["signature"])
    browser.key.public_key().verify(raw, signed, ec.ECDSA(hashes.SHA256()))


async def test_the_sentence_names_the_document_by_title_and_the_statement_binds_its_hash(hall: Hall) -> None:
    state = hall.app[SERVICE].get(hall.ceremony)
    assert state.document_sha256 is not None
    for lang in ("ko", "zh", "en"):
        for decision in ("consent", "decline"):
            r = await hall.client.get(
                hall.url(f"/consent-text?lang={lang}&decision={decision}&signatory={hall.signatory_id(0)}"),
                headers=hall.host,
            )
            text = (await r.json())["text"]
            assert state.document_sha256 not in text and "SHA-256" not in text, text
            assert state.definition.document.title.get(lang) in text
    assert (await hall.statement())["document_sha256"] == state.document_sha256


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("x" * 501, "at most 500"),
        ("\u202eevil", "U+202E"),
        ("bell\x07", "U+0007"),
        (" padded ", "begin or end"),
    ],
)
async def test_a_bad_decline_reason_gets_400_with_its_code_and_changes_nothing(
    hall: Hall, reason: str, words: str
) -> None:
    browser = Browser()
    await hall.approve((await hall.enroll(browser))["id"])
    await to_signing(hall)
    seq = hall.seq
    r = await hall.sign(browser, {**await hall.statement("decline"), "reason": reason})
    answer = await r.json()
    assert r.status == 400 and answer["error"] == "bad_reason" and words in answer["reason"], answer
    assert answer["fields"][0]["field"] == "statement.reason"
    assert hall.seq == seq
    # A consent may not carry a reason at all; the reason's own limit, exactly, is fine.
    r = await hall.sign(browser, {**await hall.statement(), "reason": "why not"})
    assert r.status == 400 and (await r.json())["error"] == "bad_reason"
    assert hall.seq == seq
    r = await hall.sign(browser, {**await hall.statement("decline"), "reason": "가" * 500})
    assert r.status == 201, await r.text()


async def test_a_new_device_revokes_the_old_certificate(hall: Hall) -> None:
    old, new = Browser(), Browser()
    await hall.approve((await hall.enroll(old))["id"])
    await hall.approve((await hall.enroll(new))["id"])
    await to_signing(hall)
    seq = hall.seq
    r = await hall.sign(old, await hall.statement())
    assert r.status == 400 and "approved key" in (await r.json())["reason"]
    assert hall.seq == seq
    events = await (await hall.client.get(hall.url("/events"), headers=hall.host)).json()
    (revoked,) = [e for e in events["events"] if e["type"] == "certificate.revoked"]
    assert (await hall.sign(new, await hall.statement())).status == 201
    # The CA's CRL, where the old certificate says it is published, now lists it as superseded.
    me = await (await hall.client.get(hall.url("/me"), headers=hall.signer)).json()
    (old_enrollment,) = [e for e in me["enrollments"] if e["revoked"]]
    certificate = x509.load_der_x509_certificate(base64.b64decode(old_enrollment["certificate"]))
    point = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value[0]
    path = "/pki/crl/" + point.full_name[0].value.rsplit("/", 1)[1]  # type: ignore[index]
    crl = x509.load_der_x509_crl(await (await hall.client.get(path)).read())
    entry = crl.get_revoked_certificate_by_serial_number(int(revoked["data"]["serial"], 16))
    assert (
        entry is not None and entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name == "superseded"
    )


# ------------------------------------------------------------------ bad input changes nothing


async def test_bad_consents_get_4xx_and_leave_the_log_unchanged(hall: Hall) -> None:
    browser, stranger = Browser(), Browser()
    await hall.approve((await hall.enroll(browser))["id"])

    seq = hall.seq
    r = await hall.sign(browser, await hall.statement())
    assert r.status == 409 and "signing segment" in (await r.json())["reason"]  # not yet the signing segment
    await to_signing(hall)
    seq = hall.seq

    async def refused(body_statement: dict[str, Any], signer: Browser, status: int, words: str, **kw: Any) -> None:
        r = await hall.sign(signer, body_statement, **kw)
        reason = (await r.json())["reason"]
        assert r.status == status and words in reason, (r.status, reason)
        assert hall.seq == seq

    await refused(await hall.statement(), stranger, 400, "does not verify")  # a wrong key
    statement = await hall.statement()
    body = {"statement": statement, "signature": browser.sign(b"something else entirely")}
    r = await hall.client.post(hall.url("/consents"), json=body, headers=hall.signer)
    assert r.status == 400 and "does not verify" in (await r.json())["reason"]  # signature over other bytes
    await refused({**await hall.statement(), "party": "nanjing"}, browser, 400, "party")
    await refused({**await hall.statement(), "document_sha256": "0" * 64}, browser, 400, "document_sha256")
    await refused({**await hall.statement(), "consent_text_sha256": "0" * 64}, browser, 400, "consent text")
    await refused({**await hall.statement(), "challenge": "made-up"}, browser, 400, "challenge")
    other_statement = await hall.statement(index=3)
    await refused(other_statement, browser, 400, "own signatory")  # consent for another signatory
    await refused({"type": "ceremony-consent/1"}, browser, 400, "exactly the fields")  # malformed
    r = await hall.client.post(hall.url("/consents"), json={"statement": 5, "signature": "x"}, headers=hall.signer)
    assert r.status == 400

    hall.app[CONSENTS].challenges.lifetime = -1.0  # every new challenge is born expired
    await refused(await hall.statement(), browser, 400, "expired")
    hall.app[CONSENTS].challenges.lifetime = 300.0

    used = await hall.statement()
    assert (await hall.sign(browser, used)).status == 201
    seq = hall.seq
    # A replay of the very same signed statement is refused (and the signatory is done anyway).
    r = await hall.client.post(
        hall.url("/consents"),
        json={"statement": used, "signature": browser.sign(canonicalize(used))},
        headers=hall.signer,
    )
    assert r.status in (400, 409) and hall.seq == seq


async def test_consent_before_approval_and_role_checks(hall: Hall) -> None:
    browser = Browser()
    await hall.enroll(browser)  # pending, not approved
    await to_signing(hall)
    seq = hall.seq
    r = await hall.sign(browser, await hall.statement())
    assert r.status == 409 and "approve" in (await r.json())["reason"]
    for who in (hall.host, hall.observer):
        r = await hall.client.post(hall.url("/challenges"), json={"purpose": "consent"}, headers=who)
        assert r.status == 403
    r = await hall.client.post(hall.url("/enrollments/enr-x/approve"), headers=hall.signer)
    assert r.status == 403
    assert hall.seq == seq


async def test_enrollment_needs_proof_of_possession(hall: Hall) -> None:
    browser, other = Browser(), Browser()
    seq = hall.seq
    challenge = await hall.challenge("enrollment")
    message = canonicalize(
        {
            "type": "ceremony-enrollment/1",
            "ceremony": hall.ceremony,
            "signatory": hall.signatory_id(0),
            "challenge": challenge,
            "public_key": browser.spki,
        }
    )
    body = {"public_key": browser.spki, "challenge": challenge, "signature": other.sign(message)}
    r = await hall.client.post(hall.url("/enrollments"), json=body, headers=hall.signer)
    assert r.status == 400 and "proof of possession" in (await r.json())["reason"]
    rsa_like = base64.b64encode(b"\x30\x03\x02\x01\x00").decode()
    body = {"public_key": rsa_like, "challenge": challenge, "signature": browser.sign(message)}
    r = await hall.client.post(hall.url("/enrollments"), json=body, headers=hall.signer)
    assert r.status == 400 and "public key" in (await r.json())["reason"]
    body = {"public_key": browser.spki, "challenge": challenge, "signature": base64.b64encode(b"short").decode()}
    r = await hall.client.post(hall.url("/enrollments"), json=body, headers=hall.signer)
    assert r.status == 400 and "64 bytes" in (await r.json())["reason"]
    assert hall.seq == seq


async def test_a_failing_external_tsa_fails_the_consent_and_stores_nothing(aiohttp_client: Any, tmp_path: Path) -> None:
    # The configured external TSA is down (nothing listens on that port): no fallback to our clock.
    # An external TSA needs its CA given (any CA will do here: no token ever comes back).
    ca_file = tmp_path / "tsa-ca.pem"
    ca_file.write_bytes(make_root("Unreachable Time Authority", dt.datetime.now(dt.UTC)).certificate_pem)
    url = f"http://127.0.0.1:{free_port()}/tsa"
    hall = await make_hall(aiohttp_client, tmp_path, tsa_urls=(url,), tsa_ca_files=(ca_file,))
    browser = Browser()
    await hall.approve((await hall.enroll(browser))["id"])
    await to_signing(hall)
    seq = hall.seq
    r = await hall.sign(browser, await hall.statement())
    body = await r.json()
    assert r.status == 503 and "could not be reached" in body["reason"] and "nothing was recorded" in body["reason"]
    assert hall.seq == seq
    assert hall.app[SERVICE].get(hall.ceremony).consents == {}


async def test_challenges_are_limited_per_link_not_per_server(hall: Hall) -> None:
    # One signatory link that asks and never answers fills only its own places: 429 with a
    # Retry-After for it, while the next signatory of the same ceremony still gets one.
    for _ in range(PER_LINK):
        await hall.challenge("enrollment")
    r = await hall.client.post(hall.url("/challenges"), json={"purpose": "enrollment"}, headers=hall.signer)
    body = await r.json()
    assert r.status == 429 and body["error"] == "too_many_requests" and "Retry-After" in r.headers, body
    assert await hall.challenge("enrollment", hall.other)


async def test_a_cancelled_ceremony_issues_no_challenge(hall: Hall) -> None:
    await hall.app[SERVICE].execute(hall.ceremony, Cancel(reason="postponed"), "test")
    for purpose in ("enrollment", "consent"):
        r = await hall.client.post(hall.url("/challenges"), json={"purpose": purpose}, headers=hall.signer)
        body = await r.json()
        assert r.status == 409 and "cancelled" in body["reason"], body
