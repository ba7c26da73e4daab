"""Signing in real headless Chromium against a real `ceremony serve` subprocess.

The signatory's key is made by WebCrypto in the page and never leaves it; the host approves it
in the console; the consent the page signs is checked here by the real `openssl` binary.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.async_api import expect

from ceremony.canonical import canonicalize
from tests.helpers import FREEZE_MS, SHOTS, Api, Server, new_page, open_demo, openssl

pytestmark = pytest.mark.browser


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


async def open_for_the_first_signatory(call: Api, server: Server, stage: str | None = None) -> tuple[str, str]:
    """Freeze and open the demo ceremony (and move it to `stage`); the first signatory's id and link."""
    api, host = await open_demo(call, server, stage)
    first = (await call("GET", api, host))["signatories"][0]["id"]
    link = (await call("POST", f"{api}/invitations", host, {"role": "signatory", "signatory": first}))["url"]
    return first, link


async def test_enroll_approve_sign_and_reload(server: Server, browser: Any, tmp_path: Path, shots: Path) -> None:
    script_context = await browser.new_context()
    call = Api(server, script_context.request)
    cid = server.demo_id
    api = f"/api/ceremonies/{cid}"
    host = server.token(server.host_link)
    first, link = await open_for_the_first_signatory(call, server)
    signer_token = link.split("#", 1)[1]

    # The signatory opens their link: the MOU, the consent text, a fresh key, a pending enrollment.
    signer_context, signer, signer_errors = await new_page(browser, "ko-KR")
    await signer.goto(link)
    await signer.wait_for_url(re.compile(r"/sign$"))
    await expect(signer.locator("#mou .mou-col-ko")).not_to_have_count(0)
    await expect(signer.locator("#mou")).to_contain_text("韩国江原道与中国南京市")
    # The MOU is folded by default, and unfolds from the keyboard (a button with aria-expanded).
    toggle = signer.locator("#mou-toggle")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(signer.locator("#mou .mou-col-en").first).to_be_hidden()
    await toggle.focus()
    await signer.keyboard.press("Enter")
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(signer.locator("#mou .mou-col-en").first).to_be_visible()
    await signer.keyboard.press("Enter")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(signer.locator("#mou-body")).to_be_hidden()
    expected_text = await call("GET", f"{api}/consent-text?lang=ko&decision=consent&signatory={first}", host)
    await expect(signer.locator("#consent-text")).to_have_text(expected_text["text"])
    sha = (await call("GET", api, host))["document_sha256"]
    # The hash is not in the sentence but on a details line of its own, in groups of four.
    assert sha not in expected_text["text"]
    await expect(signer.locator("#consent-doc-sha")).to_have_attribute("data-sha256", sha)
    await expect(signer.locator("#consent-doc-sha span")).to_have_count(16)
    status = signer.locator("#enrollment-state")
    await expect(status).to_have_attribute("data-status", "pending")
    fingerprint = await signer.locator("#key-fingerprint").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)
    assert await signer.evaluate("window.__signing.fingerprint") == fingerprint
    await expect(signer.locator("#sign-button")).to_be_disabled()
    await signer.screenshot(path=str(shots / "sign-ko-before.png"), full_page=False)

    # The host sees that very key pending and approves it.
    host_context, console, host_errors = await new_page(browser, "en-US")
    await console.goto(server.host_link)
    await console.wait_for_url(re.compile(r"/host$"))
    row = console.locator(f'#keys-body tr[data-fingerprint="{fingerprint}"]')
    await expect(row).to_contain_text("Pending")
    await expect(row.locator("code.fingerprint")).to_have_text(fingerprint[:16])
    await expect(row.locator("code.fingerprint")).to_have_attribute("title", fingerprint)
    await expect(row).to_contain_text("Gangwon")
    await console.locator("#keys").screenshot(path=str(shots / "host-keys-pending.png"))
    await row.locator("input.code-confirmed").check()  # the signatory read the safety code aloud
    await row.get_by_role("button", name="Approve").click()
    await expect(row).to_contain_text("Approved")
    await expect(signer.locator("#enrollment-state")).to_have_attribute("data-status", "approved")

    # Not yet the signing segment: still no signing. Then the host moves on to it.
    await signer.locator("#consent-box").check()
    await expect(signer.locator("#sign-button")).to_be_disabled()
    await call("POST", f"{api}/segment", host, {"segment": "signing"})
    await expect(signer.locator("#sign-button")).to_be_enabled()
    await signer.locator("#consent-box").uncheck()
    await expect(signer.locator("#sign-button")).to_be_disabled()
    await signer.locator("#consent-box").check()
    await signer.locator("#sign-button").click()
    confirmation = signer.locator("#confirmation")
    await expect(confirmation).to_be_visible()
    for label in ("KST", "CST", "UTC"):
        await expect(confirmation.locator(".zt-label", has_text=label)).to_have_count(1)
    await expect(console.locator(f'#sign-progress [data-signatory="{first}"]')).to_have_attribute(
        "data-progress", "signed"
    )
    await signer.screenshot(path=str(shots / "sign-ko-after.png"), full_page=False)
    await console.locator("#keys").screenshot(path=str(shots / "host-keys-signed.png"))

    # The recorded consent: over the text shown, signed by the key the host approved (openssl says so).
    consents = (await call("GET", f"{api}/consents", host))["consents"]
    assert len(consents) == 1
    consent = consents[0]
    statement = consent["statement"]
    assert consent["decision"] == "consent" and statement["signatory"] == first and statement["language"] == "ko"
    assert statement["document_sha256"] == sha
    assert statement["consent_text_sha256"] == hashlib.sha256(expected_text["text"].encode()).hexdigest()
    me = await call("GET", f"{api}/me", signer_token)
    (approved,) = [e for e in me["enrollments"] if e["status"] == "approved"]
    certificate = base64.b64decode(approved["certificate"])
    spki = (
        x509.load_der_x509_certificate(certificate)
        .public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    assert hashlib.sha256(spki).hexdigest() == fingerprint  # the certificate is for the page's key
    (tmp_path / "signer.der").write_bytes(certificate)
    (tmp_path / "statement.json").write_bytes(canonicalize(statement))
    (tmp_path / "sig.der").write_bytes(base64.b64decode(consent["signature"]))
    pub = openssl("x509", "-inform", "DER", "-in", "signer.der", "-pubkey", "-noout", "-out", "pub.pem", cwd=tmp_path)
    assert pub.returncode == 0, pub.stderr
    dgst = openssl("dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.der", "statement.json", cwd=tmp_path)
    assert "Verified OK" in dgst.stdout, dgst.stdout + dgst.stderr

    # A reload keeps the key (IndexedDB) and its enrollment; nothing new is requested.
    await signer.reload()
    await expect(signer.locator("#key-fingerprint")).to_have_text(fingerprint)
    await expect(signer.locator("#enrollment-state")).to_have_attribute("data-status", "approved")
    await expect(signer.locator("#confirmation")).to_be_visible()
    await expect(signer.locator("#sign-button")).to_be_disabled()
    assert len((await call("GET", f"{api}/enrollments", host))["enrollments"]) == 1

    # Another signatory, in Chinese: the host rejects the first request (with a reason), the page
    # asks again with the same key, the host approves, and the signatory declines.
    other = (await call("GET", api, host))["signatories"][3]["id"]
    link = (await call("POST", f"{api}/invitations", host, {"role": "signatory", "signatory": other}))["url"]
    other_context, other_page, other_errors = await new_page(browser, "zh-CN")
    await other_page.goto(link)
    await other_page.wait_for_url(re.compile(r"/sign$"))
    await expect(other_page.locator("#enrollment-state")).to_have_attribute("data-status", "pending")
    other_fp = await other_page.locator("#key-fingerprint").inner_text()
    assert other_fp != fingerprint
    row = console.locator(f'#keys-body tr[data-fingerprint="{other_fp}"]')
    console.once("dialog", lambda dialog: dialog.accept("not the person on camera"))
    await row.get_by_role("button", name="Reject").click()
    await expect(row).to_contain_text("Rejected")
    await expect(other_page.locator("#enrollment-state")).to_have_attribute("data-status", "rejected")
    await expect(other_page.locator("#enrollment-reason")).to_have_text("not the person on camera")
    await other_page.locator("#retry-enroll").click()
    await expect(other_page.locator("#enrollment-state")).to_have_attribute("data-status", "pending")
    pending = console.locator(f'#keys-body tr[data-fingerprint="{other_fp}"][data-status="pending"]')
    await pending.locator("input.code-confirmed").check()
    await pending.get_by_role("button", name="Approve").click()
    await expect(other_page.locator("#enrollment-state")).to_have_attribute("data-status", "approved")
    decline_text = await call("GET", f"{api}/consent-text?lang=zh&decision=decline&signatory={other}", host)
    await other_page.locator("#decline-button").click()
    await expect(other_page.locator("#decline-text")).to_have_text(decline_text["text"])
    await other_page.locator("#decline-reason").fill("本备忘录第三条的内部审查尚未完成。")
    await other_page.locator("#decline-confirm").click()
    await expect(other_page.locator("#confirmation")).to_contain_text("拒绝签署已记录")
    # A refusal has a receipt too: the key and the time, and no MOU hash (nothing was signed into it).
    await expect(other_page.locator("#receipt-body")).to_be_visible()
    await expect(other_page.locator("#receipt-sha-row")).to_be_hidden()
    await expect(other_page.locator("#receipt-key")).to_have_attribute("data-sha256", other_fp)
    await expect(console.locator(f'#sign-progress [data-signatory="{other}"]')).to_have_attribute(
        "data-progress", "declined"
    )
    declined = [c for c in (await call("GET", f"{api}/consents", host))["consents"] if c["signatory"] == other]
    assert [c["decision"] for c in declined] == ["decline"]
    assert declined[0]["statement"]["reason"] == "本备忘录第三条的内部审查尚未完成。"
    await expect(other_page.locator("#confirmation-reason-text")).to_have_text("本备忘录第三条的内部审查尚未完成。")
    assert declined[0]["statement"]["consent_text_sha256"] == hashlib.sha256(decline_text["text"].encode()).hexdigest()
    await other_page.screenshot(path=str(shots / "sign-zh-declined.png"))

    # The first signatory's tablet is lost after they signed: the host revokes its key from the console.
    lost = console.locator(f'#keys-body tr[data-fingerprint="{fingerprint}"][data-status="approved"]')
    console.once("dialog", lambda dialog: dialog.accept("tablet left in the hall"))
    await lost.get_by_role("button", name="Revoke key").click()
    await expect(console.locator(f'#keys-body tr[data-fingerprint="{fingerprint}"]')).to_have_attribute(
        "data-status", "revoked"
    )
    (gone,) = [
        e for e in (await call("GET", f"{api}/enrollments", host))["enrollments"] if e["fingerprint"] == fingerprint
    ]
    assert gone["revoked"] and gone["cause"] == "key_compromise" and gone["reason"] == "tablet left in the hall"
    await console.locator("#keys").screenshot(path=str(shots / "host-keys-final.png"))
    await expect(console.locator("#timeline")).to_contain_text("Certificate revoked: reported lost or compromised")
    # Opened again, the signatory's page (in Korean) says why, by the cause, not as if another device
    # had replaced it (enrollments are not on a signatory's live stream: the page learns on loading).
    await signer.reload()
    await expect(signer.locator("#enrollment-state")).to_have_attribute("data-status", "revoked")
    await expect(signer.locator("#enrollment-reason")).to_have_text(re.compile("분실 또는 유출 신고로 주최 측이 폐기"))

    assert signer_errors == [] and host_errors == [] and other_errors == []
    await other_context.close()
    await signer_context.close()
    await host_context.close()
    await script_context.close()


PHONE = {"width": 390, "height": 844}
TABLET = {"width": 820, "height": 1180}
HALL = {"width": 1280, "height": 720}
# Whether anything sticks out sideways (a phone would scroll the whole page left and right).
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
GROUPS = "(id) => [...document.getElementById(id).children].map((s) => s.textContent)"


def refusing(status: int, code: str) -> Any:
    """A route handler answering as the receipt route refuses (status 0: no answer at all)."""

    async def refuse(route: Any) -> None:
        if status:
            await route.fulfill(status=status, json={"error": code, "reason": "an English reason"})
        else:
            await route.abort("connectionrefused")

    return refuse


def groups(sha: str) -> list[str]:
    return [sha[i : i + 4] for i in range(0, len(sha), 4)]


async def test_receipt_on_a_phone_and_the_sealed_records_hash_in_the_halls(
    server: Server, browser: Any, tmp_path: Path, shots: Path
) -> None:
    script_context = await browser.new_context()
    call = Api(server, script_context.request)
    cid = server.demo_id
    api = f"/api/ceremonies/{cid}"
    host = server.token(server.host_link)
    first, link = await open_for_the_first_signatory(call, server, stage="signing")
    signer_token = link.split("#", 1)[1]

    # A signatory on a phone, in Korean: key, approval by the host, consent; the PDF signature follows.
    phone = await browser.new_context(viewport=PHONE, locale="ko-KR", is_mobile=True, has_touch=True)
    signer = await phone.new_page()
    signer_errors: list[str] = []
    signer.on("pageerror", lambda exc: signer_errors.append(str(exc)))
    await signer.goto(link)
    await signer.wait_for_url(re.compile(r"/sign$"))
    await expect(signer.locator("#enrollment-state")).to_have_attribute("data-status", "pending")
    fingerprint = await signer.locator("#key-fingerprint").inner_text()
    (enrollment,) = (await call("GET", f"{api}/enrollments", host))["enrollments"]
    await call("POST", f"{api}/enrollments/{enrollment['id']}/approve", host, {"code_confirmed": True})
    await expect(signer.locator("#enrollment-state")).to_have_attribute("data-status", "approved")
    await expect(signer.locator("#receipt")).to_be_hidden()
    await signer.locator("#consent-box").check()
    await signer.locator("#sign-button").click()

    # Once the PDF signature is in, the receipt panel shows what the server holds for it.
    panel = signer.locator("#receipt")
    await expect(panel).to_be_visible(timeout=FREEZE_MS)
    await expect(panel.locator("#receipt-sha-row")).to_be_visible()
    (signed,) = (await call("GET", f"{api}/pdf-signatures", host))["signatures"]
    assert signed["signatory"] == first
    await expect(signer.locator("#receipt-sha")).to_have_attribute("data-sha256", signed["sha256"])
    assert await signer.evaluate(GROUPS, "receipt-sha") == groups(signed["sha256"])
    assert await signer.evaluate(GROUPS, "receipt-key") == groups(fingerprint)
    for label in ("KST", "CST", "UTC"):
        await expect(panel.locator(".zt-label", has_text=label)).to_have_count(1)
    await expect(panel.locator("#receipt-time time").first).to_have_attribute(
        "datetime", re.compile(signed["timestamp"][:19])
    )
    await expect(panel).to_contain_text("내 서명 확인증")
    await expect(panel).to_contain_text("ceremony verify RECORD.zip --receipt FILE")
    assert await signer.evaluate(OVERFLOW) <= 0
    await panel.scroll_into_view_if_needed()
    await signer.screenshot(path=str(shots / "receipt-phone-390x844.png"))
    await panel.screenshot(path=str(shots / "receipt-panel-390.png"))

    # The download is the API's receipt, under the name the page promises.
    receipt = await call("GET", f"{api}/receipt", signer_token)
    assert receipt["pdf_signature"]["sha256"] == signed["sha256"] and receipt["key"]["fingerprint"] == fingerprint
    async with signer.expect_download() as info:
        await signer.locator("#receipt-download").click()
    download = await info.value
    assert download.suggested_filename == f"receipt-{cid}-{first}.json"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert json.loads(saved.read_text(encoding="utf-8")) == receipt
    await expect(signer.locator("#receipt-saved")).to_contain_text(download.suggested_filename)

    # On a tablet the same panel, nothing sticking out; after a reload it is there again.
    await signer.set_viewport_size(TABLET)
    await signer.reload()
    await expect(panel).to_be_visible()
    await expect(signer.locator("#receipt-sha")).to_have_attribute("data-sha256", signed["sha256"])
    assert await signer.evaluate(OVERFLOW) <= 0
    await panel.scroll_into_view_if_needed()
    await signer.screenshot(path=str(shots / "receipt-tablet-820x1180.png"))

    # Every refusal of the receipt route is said in the page's language; the button tries again.
    refusals = [
        (409, "not_decided", "아직 확인증이 없습니다"),
        (403, "forbidden", "이 링크로는 확인증을 볼 수 없습니다"),
        (401, "unauthenticated", "이 링크로는 확인증을 볼 수 없습니다"),
        (404, "not_found", "서버에서 이 서명식을 찾을 수 없습니다"),
        (503, "busy", "확인증을 가져오지 못했습니다 (오류 503)"),
        (0, "", "서버에 연결할 수 없습니다"),
    ]
    for status, code, text in refusals:
        await signer.route("**/receipt", refusing(status, code))
        await signer.reload()
        await expect(signer.locator("#receipt-alert")).to_contain_text(text)
        await expect(signer.locator("#receipt-alert")).not_to_contain_text("English")
        await expect(signer.locator("#receipt-body")).to_be_hidden()
        await signer.unroute("**/receipt")
    async with signer.expect_download() as info:
        await signer.locator("#receipt-download").click()
    again = tmp_path / "again.json"
    await (await info.value).save_as(again)
    assert json.loads(again.read_text(encoding="utf-8")) == receipt
    await expect(signer.locator("#receipt-body")).to_be_visible()
    await expect(signer.locator("#receipt-alert")).to_be_hidden()

    # Nanjing's hall screen (in Chinese) and the host console wait for the seal ...
    venue_link = (await call("POST", f"{api}/invitations", host, {"role": "venue", "venue": "nanjing"}))["url"]
    hall = await browser.new_context(viewport=HALL, locale="zh-CN")
    venue = await hall.new_page()
    venue_errors: list[str] = []
    venue.on("pageerror", lambda exc: venue_errors.append(str(exc)))
    await venue.goto(venue_link)
    await venue.wait_for_url(re.compile(r"/venue$"))
    await expect(venue.locator("#signal-state")).to_have_attribute("data-state", "live")
    console_context, console, console_errors = await new_page(browser, "en-US")
    await console.goto(server.host_link)
    await console.wait_for_url(re.compile(r"/host$"))
    await expect(console.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(venue.locator("#seal-band")).to_be_hidden()
    await expect(console.locator("#seal-band")).to_be_hidden()

    # ... and show the record's SHA-256 the moment the host seals.
    await call("POST", f"{api}/seal", host, {"absent_ok": True})
    seal = (await call("GET", api, host))["seal"]
    record = await script_context.request.get(f"{server.base}{api}/record", headers={"Authorization": f"Bearer {host}"})
    assert hashlib.sha256(await record.body()).hexdigest() == seal["record_sha256"]
    band = venue.locator("#seal-band")
    await expect(band).to_be_visible()
    await expect(venue.locator("#record-sha")).to_have_attribute("data-sha256", seal["record_sha256"])
    assert await venue.evaluate(GROUPS, "record-sha") == groups(seal["record_sha256"])
    await expect(band).to_contain_text("封存记录的 SHA-256")
    # The hall's own zone first: Nanjing reads CST, then KST and UTC.
    labels = await band.locator(".zt-label").all_inner_texts()
    assert labels == ["CST", "KST", "UTC"], labels
    await expect(band.locator("time").first).to_have_attribute("datetime", re.compile(seal["sealed_at"][:19]))
    await expect(console.locator("#record-sha")).to_have_attribute("data-sha256", seal["record_sha256"])
    await expect(console.locator("#seal-band")).to_contain_text("SHA-256 of the sealed record")
    # Large enough to read across a hall: each group's text at least 30 px high on a 1280 px screen.
    size = await venue.evaluate("parseFloat(getComputedStyle(document.getElementById('record-sha')).fontSize)")
    assert size >= 30, size
    await venue.screenshot(path=str(shots / "venue-sealed-1280x720.png"))
    await console.locator("#seal-band").screenshot(path=str(shots / "host-sealed.png"))

    # A screen opened after the seal shows it from the page itself.
    await venue.reload()
    await expect(venue.locator("#record-sha")).to_have_attribute("data-sha256", seal["record_sha256"])
    await expect(band.locator(".zt-label").first).to_have_text("CST")
    await console.reload()
    await expect(console.locator("#record-sha")).to_have_attribute("data-sha256", seal["record_sha256"])

    assert signer_errors == [] and venue_errors == [] and console_errors == []
    for context in (phone, hall, console_context, script_context):
        await context.close()


async def approved_signer(server: Server, browser: Any, locale: str) -> tuple[Any, Api, Any, Any, list[str], Any]:
    """The demo in its signing segment, the first signatory's page open with its key approved:
    (script context, API caller, page context, page, page errors, the enrollment)."""
    script_context = await browser.new_context()
    call = Api(server, script_context.request)
    api = f"/api/ceremonies/{server.demo_id}"
    host = server.token(server.host_link)
    _, link = await open_for_the_first_signatory(call, server, stage="signing")
    context, signer, errors = await new_page(browser, locale)
    await signer.goto(link)
    await signer.wait_for_url(re.compile(r"/sign$"))
    await expect(signer.locator("#enrollment-state")).to_have_attribute("data-status", "pending")
    (enrollment,) = (await call("GET", f"{api}/enrollments", host))["enrollments"]
    await call("POST", f"{api}/enrollments/{enrollment['id']}/approve", host, {"code_confirmed": True})
    await expect(signer.locator("#enrollment-state")).to_have_attribute("data-status", "approved")
    return script_context, call, context, signer, errors, enrollment


async def test_a_key_revoked_between_consent_and_pdf_signature_is_not_tried_again(server: Server, browser: Any) -> None:
    """The network drops as the PDF signature starts; the host then revokes the key. Reopened, the
    page says why and neither retries on its own nor offers to (the server would only refuse)."""
    script_context, call, context, signer, errors, enrollment = await approved_signer(server, browser, "zh-CN")
    api = f"/api/ceremonies/{server.demo_id}"
    host = server.token(server.host_link)
    await signer.route("**/pdf-signatures", lambda route: route.abort("connectionreset"))
    await signer.locator("#consent-box").check()
    await signer.locator("#sign-button").click()
    await expect(signer.locator("#pdf-retry")).to_be_visible(timeout=FREEZE_MS)
    await signer.unroute("**/pdf-signatures")

    await call("POST", f"{api}/enrollments/{enrollment['id']}/revoke", host, {"cause": "key_compromise"})
    asked: list[str] = []
    signer.on("request", lambda request: asked.append(request.url) if "/pdf-signatures" in request.url else None)
    await signer.reload()
    await expect(signer.locator("#enrollment-state")).to_have_attribute("data-status", "revoked")
    await expect(signer.locator("#enrollment-reason")).to_have_text(re.compile("主办方因报告遗失或泄露而将其作废"))
    await expect(signer.locator("#confirmation")).to_be_visible()
    await expect(signer.locator("#pdf-retry")).to_be_hidden()
    await expect(signer.locator("#sign-alert")).to_be_hidden()
    assert asked == [] and errors == []
    await context.close()
    await script_context.close()


async def test_a_consent_whose_answer_is_lost_is_found_recorded_and_the_pdf_signed_once(
    server: Server, browser: Any
) -> None:
    """The consent reaches the server and is recorded, but its answer never comes back (its node
    died behind the balancer): the page asks before it says anything failed, shows the recorded
    consent and goes on to the PDF signature; the log holds one consent, not two."""
    script_context, call, context, signer, errors, _ = await approved_signer(server, browser, "ko-KR")
    api = f"/api/ceremonies/{server.demo_id}"
    host = server.token(server.host_link)

    delivered: list[int] = []

    async def deliver_then_drop(route: Any) -> None:
        answer = await route.fetch()  # the server gets it and records it ...
        delivered.append(answer.status)
        await route.abort("connectionreset")  # ... and the answer is lost on the way back

    await signer.route("**/consents", deliver_then_drop)
    await signer.locator("#consent-box").check()
    await signer.locator("#sign-button").click()
    await expect(signer.locator("#confirmation")).to_be_visible()
    await expect(signer.locator("#pdf-state")).to_have_attribute("data-state", "done", timeout=FREEZE_MS)
    await expect(signer.locator("#sign-alert")).to_be_hidden()
    assert delivered == [201]
    consents = (await call("GET", f"{api}/consents", host))["consents"]
    assert len(consents) == 1
    assert errors == [], errors
    await context.close()
    await script_context.close()
