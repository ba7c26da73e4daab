"""The archivist's side against a real `ceremony serve` subprocess: the record route, the archive
list, the archive and verify pages, and the verifier's handling of what is not a record.

Cookies are sent by hand (`Cookie: cap-<id>-<role>=<session id>`, the session got by opening the
link as its enter page does), as a browser that opened those links would send them, so each
request says exactly which capabilities it presents.
Sealed records are not covered here: their assertions belong with the sealing tests.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import zipfile
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from signatures.record.parts import PARTS
from tests.helpers import Server, bearer, cookie_header, enter, start_server, zip_bytes
from web.demo.definition import DEMO_DEFINITION
from web.errors import Busy
from web.messages import MESSAGES
from web.record_view import STATUSES
from web.verify_api import MAX_RECORD_BYTES, MAX_UPLOADS_IN_HAND, _Verifier

LANGS = ("ko", "zh", "en")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module: each test makes its own ceremonies, so they do not meet."""
    srv = start_server(tmp_path_factory.mktemp("archive") / "data")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # A dummy jar: cookies go only where a test puts them.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


@dataclass
class Api:
    site: Server
    http: aiohttp.ClientSession

    @property
    def operator(self) -> str:
        return self.site.token(self.site.operator_link)

    async def new_ceremony(self, title: str) -> tuple[str, str]:
        """A fresh draft ceremony: (id, host token)."""
        definition = dict(DEMO_DEFINITION, title={"ko": f"{title} ko", "zh": f"{title} zh", "en": title})
        async with self.http.post(
            f"{self.site.base}/api/ceremonies", json=definition, headers=bearer(self.operator)
        ) as r:
            assert r.status == 201, await r.text()
            body = await r.json()
        return body["id"], self.site.token(body["host_link"]["url"])

    async def link(self, ceremony: str, host: str, role: str, **subject: str) -> dict[str, Any]:
        async with self.http.post(
            f"{self.site.base}/api/ceremonies/{ceremony}/invitations",
            json={"role": role, **subject},
            headers=bearer(host),
        ) as r:
            assert r.status == 201, await r.text()
            issued: dict[str, Any] = await r.json()
            return issued

    async def token(self, ceremony: str, host: str, role: str, **subject: str) -> str:
        return str((await self.link(ceremony, host, role, **subject))["token"])

    async def post(self, ceremony: str, host: str, action: str, body: dict[str, Any] | None = None) -> None:
        url = f"{self.site.base}/api/ceremonies/{ceremony}/{action}"
        async with self.http.post(url, json=body, headers=bearer(host)) as r:
            assert r.status == 200, await r.text()

    async def get(
        self, path: str, *, cookies: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """(status, parsed JSON or page text)."""
        headers = dict(headers or {})
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        async with self.http.get(f"{self.site.base}{path}", headers=headers) as r:
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.text()

    async def archive(self, cookies: dict[str, str]) -> tuple[int, Any]:
        return await self.get("/api/archive", cookies=cookies)

    async def cap(self, ceremony: str | None, token: str) -> dict[str, str]:
        """The session cookie a browser gets by opening this link (`ceremony` None: the operator's)."""
        return await enter(self.http, self.site.base, ceremony, token)


@pytest.fixture
def api(site: Server, http: aiohttp.ClientSession) -> Api:
    return Api(site, http)


def listed(body: dict[str, Any]) -> set[str]:
    return {entry["id"] for entry in body["ceremonies"]}


# ---------------------------------------------------------------- the record route and page: who may


async def test_record_and_archive_page_roles_and_409_before_sealing(api: Api) -> None:
    ceremony, host = await api.new_ceremony("Roles MOU")
    await api.post(ceremony, host, "freeze")  # venue and signatory links exist only once frozen
    signatory = DEMO_DEFINITION["signatories"][0]["id"]
    tokens = {
        "host": host,
        "archivist": await api.token(ceremony, host, "archivist"),
        "observer": await api.token(ceremony, host, "observer"),
        "venue": await api.token(ceremony, host, "venue", venue=DEMO_DEFINITION["venues"][0]["id"]),
        "signatory": await api.token(ceremony, host, "signatory", signatory=signatory),
    }
    record, page = f"/api/ceremonies/{ceremony}/record", f"/c/{ceremony}/archive"

    status, body = await api.get(record)
    assert status == 401 and body["reason"]
    for role in ("venue", "signatory", "observer"):
        session = await api.cap(ceremony, tokens[role])
        for presented in (bearer(tokens[role]), cookie_header(session)):
            status, body = await api.get(record, headers=presented)
            assert status == 403 and f"a {role} link does not allow this" in body["reason"], (role, body)
        status, text = await api.get(page, cookies=session)
        assert status == 403 and "<html" in text, role
    allowed = {**{r: tokens[r] for r in ("host", "archivist")}, "operator": api.operator}
    for who, token in allowed.items():
        session = cookie_header(await api.cap(None if who == "operator" else ceremony, token))
        for presented in (bearer(token), session):
            status, body = await api.get(record, headers=presented)
            assert status == 409, (who, body)
            assert body["reason"] == "the ceremony is not sealed yet; the record is written when the host seals it"
        status, text = await api.get(page, headers=session)
        assert status == 200 and "Roles MOU" in text, who

    other, other_host = await api.new_ceremony("Other MOU")
    other_archivist = await api.token(other, other_host, "archivist")
    status, body = await api.get(record, headers=bearer(other_archivist))
    assert status == 403 and body["reason"]
    status, body = await api.get("/api/ceremonies/0123456789abcdef/record", headers=bearer(tokens["archivist"]))
    assert status == 404
    status, body = await api.get("/api/ceremonies/not-a-ceremony/record", headers=bearer(tokens["archivist"]))
    assert status == 404


async def test_a_cancelled_ceremony_has_no_record(api: Api) -> None:
    ceremony, host = await api.new_ceremony("Cancelled MOU")
    archivist = await api.token(ceremony, host, "archivist")
    await api.post(ceremony, host, "cancel", {"reason": "postponed"})
    status, body = await api.get(f"/api/ceremonies/{ceremony}/record", headers=bearer(archivist))
    assert status == 409 and "cancelled" in body["reason"]
    status, text = await api.get(f"/c/{ceremony}/archive", cookies=await api.cap(ceremony, archivist))
    assert status == 200 and MESSAGES["archive.cancelled"]["en"] in text and "postponed" in text


async def test_a_revoked_archivist_link_loses_the_record_at_once(api: Api) -> None:
    ceremony, host = await api.new_ceremony("Revoked MOU")
    issued = await api.link(ceremony, host, "archivist")
    status, _ = await api.get(f"/api/ceremonies/{ceremony}/record", headers=bearer(issued["token"]))
    assert status == 409
    async with api.http.delete(
        f"{api.site.base}/api/ceremonies/{ceremony}/invitations/{issued['id']}", headers=bearer(host)
    ) as r:
        assert r.status == 200
    status, body = await api.get(f"/api/ceremonies/{ceremony}/record", headers=bearer(issued["token"]))
    assert status == 403 and "revoked" in body["reason"]


# ---------------------------------------------------------------- the archive list


async def test_archive_lists_exactly_the_ceremonies_of_valid_cookies(api: Api) -> None:
    a, a_host = await api.new_ceremony("List MOU A")
    b, b_host = await api.new_ceremony("List MOU B")
    c, c_host = await api.new_ceremony("List MOU C")
    a_link = await api.link(a, a_host, "archivist")
    a_archivist, b_archivist = a_link["token"], await api.token(b, b_host, "archivist")
    a_observer = await api.token(a, a_host, "observer")
    a_archivist_cookie, b_archivist_cookie = await api.cap(a, a_archivist), await api.cap(b, b_archivist)
    a_observer_cookie, c_host_cookie = await api.cap(a, a_observer), await api.cap(c, c_host)

    status, body = await api.archive({**a_archivist_cookie, **b_archivist_cookie})
    assert status == 200 and listed(body) == {a, b}
    entry = next(e for e in body["ceremonies"] if e["id"] == a)
    assert entry["title"] == {"ko": "List MOU A ko", "zh": "List MOU A zh", "en": "List MOU A"}
    assert entry["state"] == "draft" and entry["start"].startswith("2020-05-29T10:20")
    assert entry["record"] is None and entry["page"] == f"/c/{a}/archive"

    # A host link archives too; an observer link does not, and adds nothing.
    status, body = await api.archive({**c_host_cookie, **a_observer_cookie})
    assert status == 200 and listed(body) == {c}

    # A session counts only for the ceremony it was opened in, whatever cookie name carries it.
    a_session = a_archivist_cookie[f"cap-{a}-archivist"]
    status, body = await api.archive({f"cap-{b}-archivist": a_session, **c_host_cookie})
    assert status == 200 and listed(body) == {c}

    async with api.http.delete(
        f"{api.site.base}/api/ceremonies/{a}/invitations/{a_link['id']}", headers=bearer(a_host)
    ) as r:
        assert r.status == 200
    status, body = await api.archive({**a_archivist_cookie, **b_archivist_cookie})
    assert status == 200 and listed(body) == {b}  # the revoked link drops out without an error

    for nothing_valid in (
        {},
        a_archivist_cookie,  # its link revoked
        a_observer_cookie,  # valid, but not for archiving
        {f"cap-{b}-archivist": "x" * 43},
        {f"cap-{b}-archivist": b_archivist},  # the link's token itself is no session
        {"cap-0123456789abcdef-archivist": b_archivist_cookie[f"cap-{b}-archivist"]},
        {"cap-operator": "y" * 43},
    ):
        status, body = await api.archive(nothing_valid)
        assert status == 401 and "archivist or host link" in body["reason"], nothing_valid

    status, everything = await api.get("/api/ceremonies", headers=bearer(api.operator))
    for operator in (await api.cap(None, api.operator), None):
        if operator is None:
            status, body = await api.get("/api/archive", headers=bearer(api.operator))
        else:
            status, body = await api.archive(operator)
        assert status == 200 and listed(body) == listed(everything) >= {a, b, c}


async def test_archive_page_lists_the_same_and_needs_a_link(api: Api) -> None:
    a, a_host = await api.new_ceremony("Page MOU A")
    await api.new_ceremony("Page MOU B")  # another ceremony, which the archivist must not see
    archivist = await api.token(a, a_host, "archivist")
    status, text = await api.get("/archive", cookies=await api.cap(a, archivist))
    assert status == 200
    assert "Page MOU A" in text and "Page MOU B" not in text
    assert f'href="/c/{a}/archive"' in text and MESSAGES["archive.not_sealed"]["en"] in text
    assert f"/api/ceremonies/{a}/record" not in text  # no download button before sealing
    status, text = await api.get("/archive")
    assert status == 401 and "<html" in text


# ---------------------------------------------------------------- entering by link


async def test_archivist_link_lands_on_the_archive_page(api: Api) -> None:
    ceremony, host = await api.new_ceremony("Entry MOU")
    token = await api.token(ceremony, host, "archivist")
    async with api.http.post(f"{api.site.base}/c/{ceremony}/enter", json={"token": token}) as r:
        assert r.status == 200
        assert (await r.json())["redirect"] == f"/c/{ceremony}/archive"
        cookie = r.cookies[f"cap-{ceremony}-archivist"]
        assert cookie.value != token and len(cookie.value) == 43 and cookie["httponly"]  # a session, not the token
    status, text = await api.get(f"/c/{ceremony}/archive", cookies={cookie.key: cookie.value})
    assert status == 200 and "Entry MOU" in text
    async with api.http.post(f"{api.site.base}/c/{ceremony}/enter", json={"token": host}) as r:
        assert (await r.json())["redirect"] == f"/c/{ceremony}/host"  # hosts keep their console


# ---------------------------------------------------------------- the verifier refuses what is not a record


async def _verify(
    api: Api, data: Any, content_type: str = "application/zip", *, query: str = "", **headers: str
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": content_type, **headers}
    async with api.http.post(f"{api.site.base}/api/verify{query}", data=data, headers=headers) as r:
        return r.status, await r.json()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "The file is empty"),
        (b"this is not a zip at all", "not a zip file"),
        (b"PK\x03\x04" + b"\x00" * 200, "This zip is cut short"),
        (zip_bytes({"readme.txt": b"hello"}), "no evidence.json"),
    ],
    ids=["empty", "garbage", "zip-header-only", "zip-without-evidence"],
)
async def test_verify_refuses_what_is_not_a_record(api: Api, data: bytes, reason: str) -> None:
    status, body = await _verify(api, data)
    assert status == 400 and reason in body["reason"], body


def _corrupted(data: bytes, at: bytes) -> bytes:
    """The zip with the compressed bytes after a member's name scrambled: its directory still reads."""
    start = data.index(at) + len(at)
    return data[:start] + bytes(b ^ 0x5A for b in data[start : start + 40]) + data[start + 40 :]


async def test_verify_never_fails_with_500(api: Api) -> None:
    # Each looks like a record at a glance, so the verifier itself has to say what is wrong.
    deflated = io.BytesIO()
    with zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("evidence.json", b'{"ceremony": {"id": "x"}}' * 50)
        archive.writestr("ca.pem", b"-----BEGIN CERTIFICATE-----\n" * 50)
    fakes = [
        zip_bytes({"evidence.json": b"{}", "ca.pem": b"not a certificate", "mou-signed.pdf": b"%PDF-1.7"}),
        zip_bytes({"evidence.json": b"[1, 2]", "ca.pem": b"\xff" * 10}),
        _corrupted(deflated.getvalue(), b"evidence.json"),
        _corrupted(deflated.getvalue(), b"ca.pem"),
    ]
    for fake in fakes:
        status, body = await _verify(api, fake)
        assert status in (200, 400), body
        assert body["ok"] is False if status == 200 else body["reason"]
    for content_type in ("application/octet-stream", "application/x-zip-compressed"):
        status, body = await _verify(api, b"nope", content_type)
        assert status == 400 and "not a zip" in body["reason"]
    status, body = await _verify(api, b"{}", "application/json")
    assert status == 400 and "Content-Type: application/zip" in body["reason"]
    async with api.http.get(f"{api.site.base}/api/verify") as r:
        assert r.status == 405


async def test_verify_refuses_compressed_bodies_and_bad_pins_or_times(api: Api) -> None:
    record = zip_bytes({"evidence.json": b"{}", "mou-signed.pdf": b"%PDF-1.7"})
    # A compressed body would be inflated before any limit applies: refused, whatever the encoding,
    # and whether or not the body really is compressed so.
    sent = [("gzip", gzip.compress(record)), ("deflate", zlib.compress(record))]
    sent += [(encoding, record) for encoding in ("gzip", "deflate", "br", "gzip, identity")]
    for encoding, data in sent:
        status, body = await _verify(api, data, **{"Content-Encoding": encoding})
        assert status == 415 and body["error"] == "unsupported_encoding", (encoding, body)
    # The session's next request (on a new connection: the refused body was never read) is answered.
    status, body = await _verify(api, record, **{"Content-Encoding": "identity"})
    assert status == 200 and body["ok"] is False and body["pinned"] is True  # this server's own root
    status, body = await _verify(api, record, query="?trust=not-a-fingerprint")
    assert status == 400 and "64 hexadecimal digits" in body["reason"]
    status, body = await _verify(api, record, query="?at=yesterday")
    assert status == 400 and "ISO 8601" in body["reason"]
    status, body = await _verify(api, record, query="?at=2046-12-31T00:00:00Z")
    assert status == 200 and body["verified_at"] == "2046-12-31T00:00:00.000000Z"


async def test_verify_takes_more_than_the_app_wide_limit_but_not_more_than_64_mib(api: Api) -> None:
    # 2 MiB: past the 1 MiB that applies to JSON bodies, so it reaches the zip check.
    status, body = await _verify(api, b"\x00" * (2 * 1024 * 1024))
    assert status == 400 and "not a zip" in body["reason"]
    over = b"\x00" * (MAX_RECORD_BYTES + 1)
    status, body = await _verify(api, over)  # with Content-Length: refused before reading
    assert status == 413 and "64 MiB" in body["reason"], body

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused while reading
        for start in range(0, len(over), 1 << 20):
            yield over[start : start + (1 << 20)]

    status, body = await _verify(api, chunks())
    assert status == 413 and "64 MiB" in body["reason"], body
    status, _ = await api.get("/healthz")
    assert status == 200


async def test_uploads_beyond_the_few_in_hand_are_turned_away() -> None:
    verifier = _Verifier()
    async with contextlib.AsyncExitStack() as held:
        for n in range(MAX_UPLOADS_IN_HAND):
            await held.enter_async_context(verifier.admit(f"192.0.2.{n}", 1))
        with pytest.raises(Busy, match="try again"):
            async with verifier.admit("192.0.2.99", 1):
                pass
    async with verifier.admit("192.0.2.99", 1):  # all released, including after the refusal
        assert verifier.in_hand == 1


# ---------------------------------------------------------------- pages in ko, zh and en

UNTRANSLATED = re.compile(r">\s*(?:archive|verify|nav|js)\.[a-z_.]+\s*<")


async def test_pages_render_in_korean_chinese_and_english(api: Api) -> None:
    ceremony, host = await api.new_ceremony("Language MOU")
    archivist = await api.cap(ceremony, await api.token(ceremony, host, "archivist"))
    pages = [("/verify", None, "verify.title"), ("/archive", archivist, "archive.title")]
    pages.append((f"/c/{ceremony}/archive", archivist, "archive.not_sealed"))
    for lang in LANGS:
        for path, cookies, key in pages:
            status, text = await api.get(path, cookies=cookies, headers={"Accept-Language": f"{lang},en;q=0.5"})
            assert status == 200, (path, lang)
            html_lang = {"zh": "zh-Hans"}.get(lang, lang)
            assert f'<html lang="{html_lang}">' in text, (path, lang)
            assert MESSAGES[key][lang] in text, (path, lang)
            assert not UNTRANSLATED.search(text), (path, lang, UNTRANSLATED.search(text))
            # The strict CSP allows no inline code: data blocks only, scripts by src.
            assert not re.search(r"<script(?![^>]*(?:src=|type=\"application/json\"))", text), path
            assert " style=" not in text and "onclick" not in text, path


def test_what_the_pages_name_at_run_time_is_in_the_catalogue() -> None:
    used = [*(p.key for p in PARTS), *(f"archive.status.{s}" for s in STATUSES)]
    assert [key for key in used if key not in MESSAGES] == []


# ---------------------------------------------------------------- the verify page in Chromium


@pytest.mark.browser
async def test_verify_page_uploads_and_shows_the_reason_or_the_report(
    site: Server, browser: Any, tmp_path: Path
) -> None:
    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{site.base}/verify")
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    await page.locator("#record-file").set_input_files(str(junk))
    await expect(page.locator("#verify-alert")).to_contain_text("not a zip file")
    await expect(page.locator("#report")).to_be_hidden()

    # The report's layout, from a canned answer: failures first, each with its badge.
    report = {
        "ok": False,
        "checks": [
            {"name": "evidence.seal", "subject": "evidence.p7s", "ok": True, "detail": "valid"},
            {"name": "pdf.signature", "subject": "gangwon-governor", "ok": False, "detail": "digest mismatch"},
        ],
        "pinned": True,
        "root_ca_fingerprint": "ab" * 32,
        "verified_at": "2020-06-01T00:00:00.000Z",
        "ceremony": {"id": "0123456789abcdef", "title": {"en": "Canned MOU"}},
    }
    await page.route("**/api/verify", lambda route: route.fulfill(json=report))
    record = tmp_path / "record.zip"
    record.write_bytes(zip_bytes({"evidence.json": b"{}"}))
    await page.locator("#record-file").set_input_files(str(record))
    rows = page.locator("#report-checks tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("FAIL")
    await expect(rows.nth(0)).to_contain_text("digest mismatch")
    await expect(rows.nth(1)).to_contain_text("PASS")
    await expect(page.locator("#report-summary")).to_contain_text("1 of 2 checks failed")
    await expect(page.locator("#report-fingerprint")).to_have_text("ab" * 32)
    await expect(page.locator("#report-ceremony")).to_contain_text("Canned MOU (0123456789abcdef)")
    await expect(page.locator("#report-when")).to_contain_text("As of 2020-06-01T00:00:00.000Z (UTC).")

    # Another ceremony's root, pinned by its fingerprint, as of a day decades on.
    await page.locator("#trust").fill("12:34")
    await page.locator("#record-file").set_input_files(str(record))
    await expect(page.locator("#verify-alert")).to_contain_text("64 hexadecimal digits")
    asked: list[str] = []

    async def answer(route: Any) -> None:
        asked.append(route.request.url)
        await route.fulfill(json=report)

    await page.route(lambda url: "/api/verify?" in url, answer)
    await page.locator("#trust").fill(" AB:" * 32)
    await page.locator("#at").fill("2046-12-31")
    await page.locator("#record-file").set_input_files(str(record))
    await expect(page.locator("#report")).to_be_visible()
    await expect(page.locator("#report-when")).to_contain_text("Checked under the root CA you named.")
    assert asked and asked[-1].endswith(f"/api/verify?trust={'ab' * 32}&at=2046-12-31T00%3A00%3A00Z"), asked

    # On a phone (390 px wide) the fingerprint, the help and the report all fit: no sideways scrolling.
    await page.set_viewport_size({"width": 390, "height": 844})
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths
    await expect(rows.nth(0).locator("td").last).to_be_in_viewport()
    assert errors == []
    await context.close()
