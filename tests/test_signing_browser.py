"""Signing in real headless Chromium against a real `ceremony serve` subprocess.

The signatory's key is made by WebCrypto in the page and never leaves it; the host approves it
in the console; the consent the page signs is checked here by the real `openssl` binary.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.async_api import Page, expect

from ceremony.canonical import canonicalize
from tests.conftest import Server

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 900}
FREEZE_SECONDS = 60_000
SHOTS = Path(os.environ.get("SHOTS_DIR", "/tmp/shots4"))


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
            timeout=FREEZE_SECONDS,
        )
        assert response.ok, f"{method} {path}: {response.status} {await response.text()}"
        return await response.json()


@pytest.fixture
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


async def new_page(browser: Any, locale: str) -> tuple[Any, Page, list[str]]:
    context = await browser.new_context(viewport=VIEWPORT, locale=locale)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)


async def test_enroll_approve_sign_and_reload(server: Server, browser: Any, tmp_path: Path, shots: Path) -> None:
    script_context = await browser.new_context()
    call = Api(server, script_context.request)
    cid = server.demo_id
    api = f"/api/ceremonies/{cid}"
    host = server.token(server.host_link)
    await call("POST", f"{api}/freeze", host)
    await call("POST", f"{api}/open", host)
    first = (await call("GET", api, host))["signatories"][0]["id"]
    link = (await call("POST", f"{api}/invitations", host, {"role": "signatory", "signatory": first}))["url"]
    signer_token = link.split("#", 1)[1]

    # The signatory opens their link: the MOU, the consent text, a fresh key, a pending enrollment.
    signer_context, signer, signer_errors = await new_page(browser, "ko-KR")
    await signer.goto(link)
    await signer.wait_for_url(re.compile(r"/sign$"))
    await expect(signer.locator("#mou .mou-col-ko")).not_to_have_count(0)
    await expect(signer.locator("#mou")).to_contain_text("韩国江原道与中国南京市")
    await expect(signer.locator("#mou .mou-col-en").first).to_be_visible()
    expected_text = await call("GET", f"{api}/consent-text?lang=ko&decision=consent&signatory={first}", host)
    await expect(signer.locator("#consent-text")).to_have_text(expected_text["text"])
    sha = (await call("GET", api, host))["document_sha256"]
    await expect(signer.locator("#doc-sha")).to_have_text(sha)
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
    await row.get_by_role("button", name="Approve").click()
    await expect(row).to_contain_text("Approved")
    await expect(signer.locator("#enrollment-state")).to_have_attribute("data-status", "approved")

    # Not yet the signing segment: still no signing. Then the host moves on to it.
    await signer.locator("#consent-box").check()
    await expect(signer.locator("#sign-button")).to_be_disabled()
    await call("POST", f"{api}/stage", host, {"segment": "signing"})
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
    await pending.get_by_role("button", name="Approve").click()
    await expect(other_page.locator("#enrollment-state")).to_have_attribute("data-status", "approved")
    decline_text = await call("GET", f"{api}/consent-text?lang=zh&decision=decline&signatory={other}", host)
    await other_page.locator("#decline-button").click()
    await expect(other_page.locator("#decline-text")).to_have_text(decline_text["text"])
    await other_page.locator("#decline-confirm").click()
    await expect(other_page.locator("#confirmation")).to_contain_text("拒绝签署已记录")
    await expect(console.locator(f'#sign-progress [data-signatory="{other}"]')).to_have_attribute(
        "data-progress", "declined"
    )
    declined = [c for c in (await call("GET", f"{api}/consents", host))["consents"] if c["signatory"] == other]
    assert [c["decision"] for c in declined] == ["decline"]
    assert declined[0]["statement"]["consent_text_sha256"] == hashlib.sha256(decline_text["text"].encode()).hexdigest()
    await other_page.screenshot(path=str(shots / "sign-zh-declined.png"))
    await console.locator("#keys").screenshot(path=str(shots / "host-keys-final.png"))

    assert signer_errors == [] and host_errors == [] and other_errors == []
    await other_context.close()
    await signer_context.close()
    await host_context.close()
    await script_context.close()
