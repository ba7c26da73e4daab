"""Two signatories sign in real headless Chromium; their WebCrypto keys make the PAdES signatures;
the host seals in the console; the archivist downloads the record from the archive page.

Against a real `ceremony serve` subprocess. The downloaded record is then checked by the offline
verifier and by poppler's pdfsig, and each PDF signature is tied to the key its browser made.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.async_api import Page, expect

from signatures.record.pins import Pins
from signatures.record.verifier import verify_record
from tests.helpers import SHOTS, Api, Server, new_page, open_demo, pdfsig

pytestmark = pytest.mark.browser


async def open_signing_page(browser: Any, link: str, locale: str) -> tuple[Page, list[str]]:
    _, page, errors = await new_page(browser, locale)
    await page.goto(link)
    await page.wait_for_url(re.compile(r"/sign$"))
    await expect(page.locator("#enrollment-state")).to_have_attribute("data-status", "pending")
    return page, errors


async def test_two_browsers_sign_the_pdf_and_the_archivist_downloads_the_record(
    server: Server, browser: Any, tmp_path: Path
) -> None:
    call = Api(server, (await browser.new_context()).request)
    cid = server.demo_id
    api, host = await open_demo(call, server)
    detail = await call("GET", api, host)
    chosen = [detail["signatories"][0]["id"], detail["signatories"][3]["id"]]  # one from each hall
    links = [
        (await call("POST", f"{api}/invitations", host, {"role": "signatory", "signatory": s}))["url"] for s in chosen
    ]
    pages = [
        await open_signing_page(browser, link, locale) for link, locale in zip(links, ["ko-KR", "zh-CN"], strict=True)
    ]
    fingerprints = [await page.locator("#key-fingerprint").inner_text() for page, _ in pages]
    for enrollment in (await call("GET", f"{api}/enrollments", host))["enrollments"]:
        await call("POST", f"{api}/enrollments/{enrollment['id']}/approve", host, {"code_confirmed": True})
    await call("POST", f"{api}/segment", host, {"segment": "signing"})

    # Both sign at about the same time; the server takes their PDF signatures one after the other.
    for page, _ in pages:
        await expect(page.locator("#enrollment-state")).to_have_attribute("data-status", "approved")
        await page.locator("#consent-box").check()
    for page, _ in pages:
        await page.locator("#sign-button").click()
    for page, errors in pages:
        await expect(page.locator("#pdf-state")).to_have_attribute("data-state", "done", timeout=30_000)
        for label in ("KST", "CST", "UTC"):
            await expect(page.locator("#pdf-time .zt-label", has_text=label)).to_have_count(1)
        assert not errors, errors
    SHOTS.mkdir(parents=True, exist_ok=True)
    await pages[1][0].screenshot(path=str(SHOTS / "sign-zh-pdf-done.png"))
    signed = (await call("GET", f"{api}/pdf-signatures", host))["signatures"]
    assert sorted(s["signatory"] for s in signed) == sorted(chosen)

    # The host seals in the console: four parties have not signed, so it asks first.
    _, console, console_errors = await new_page(browser, "en-US")
    await console.goto(server.host_link)
    await console.wait_for_url(re.compile(r"/host$"))
    asked: list[str] = []

    async def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    for signatory in chosen:  # the console shows each consent and, beside it, the PDF signature
        row = console.locator(f'#sign-progress [data-signatory="{signatory}"]')
        await expect(row).to_have_attribute("data-pdf", "yes")
    await expect(
        console.locator(f'#sign-progress [data-signatory="{detail["signatories"][1]["id"]}"]')
    ).to_have_attribute("data-progress", "pending")
    console.on("dialog", accept)
    await console.locator('[data-action="seal"]').click()
    await expect(console.locator("#record-link")).to_be_visible(timeout=60_000)
    assert asked and "absent" in asked[0] and detail["signatories"][1]["name"]["en"] in asked[0]
    assert not console_errors, console_errors

    # The archivist's link lands on the archive page; the record downloads from there.
    archivist = (await call("POST", f"{api}/invitations", host, {"role": "archivist"}))["url"]
    _, archive, archive_errors = await new_page(browser, "en-US")
    await archive.goto(archivist)
    await archive.wait_for_url(re.compile(rf"/c/{cid}/archive$"))
    async with archive.expect_download() as download_info:
        await archive.locator("#record-download").click()
    download = await download_info.value
    assert download.suggested_filename == f"ceremony-{cid}-record.zip"
    path = tmp_path / download.suggested_filename
    await download.save_as(path)
    await archive.screenshot(path=str(SHOTS / "archive-sealed.png"), full_page=True)
    # On a phone each signatory and each file reads as a block across the screen, not as columns
    # a character wide.
    await archive.set_viewport_size({"width": 390, "height": 844})
    venue = "#record-signatories tbody tr >> nth=0 >> td >> nth=1"
    for cell in (venue, "#record-files tbody tr >> nth=0 >> td >> nth=2"):
        box = await archive.locator(cell).bounding_box()
        assert box is not None and box["width"] > 280, (cell, box)
    await console.screenshot(path=str(SHOTS / "host-sealed.png"))
    assert not archive_errors, archive_errors

    data = path.read_bytes()
    report = verify_record(data, Pins(root_pem=server.root_pem()), at=dt.datetime.now(dt.UTC))
    assert report.ok, "\n".join(report.lines())
    with zipfile.ZipFile(path) as record:
        evidence = json.loads(record.read("evidence.json"))
        (tmp_path / "mou-signed.pdf").write_bytes(record.read("mou-signed.pdf"))
    statuses = {s["id"]: s["status"] for s in evidence["signatories"]}
    assert [statuses[s] for s in chosen] == ["signed", "signed"] and list(statuses.values()).count("absent") == 4
    # Each signature's certificate carries the very public key the browser made (its SHA-256 fingerprint).
    by_signatory = {s["id"]: s["certificate"] for s in evidence["signatories"]}
    for signatory, fingerprint in zip(chosen, fingerprints, strict=True):
        certificate = x509.load_der_x509_certificate(base64.b64decode(by_signatory[signatory]["der"]))
        spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        assert hashlib.sha256(spki).hexdigest() == fingerprint
    output = pdfsig(tmp_path / "mou-signed.pdf", server.root_pem(), tmp_path)
    assert output.count("Signature is Valid.") == 2 and output.count("Certificate is Trusted.") == 2, output
