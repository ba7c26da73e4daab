"""Downloads of the signed MOU and the certificate of completion (issue 12, docs/api.md):

- a signatory's `GET …/documents/signed`: the newest revision, once their own signature is in;
- `GET …/record/signed.pdf` and `…/record/completion.pdf`: members of the stored record zip,
  for archivists, hosts, signatories and the operator, once the ceremony is sealed.

Each route against each role: allowed, refused by role (403), refused by state (409 with a code).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from ceremony.events import Role
from tests.helpers import Room, bearer, make_room, ready
from web.appkeys import RECORDS, SERVICE

SIGNED = "/documents/signed"
RECORD_FILES = {"signed.pdf": "mou-signed.pdf", "completion.pdf": "completion.pdf"}


async def _get(room: Room, suffix: str, token: str) -> tuple[int, bytes, Any]:
    url = f"/api/ceremonies/{room.ceremony}{suffix}"
    async with room.client.session.get(room.client.make_url(url), headers=bearer(token)) as r:
        return r.status, await r.read(), r.headers


async def _token(room: Room, role: Role, **subject: str) -> str:
    return (await room.app[SERVICE].issue_link(room.ceremony, role, "t", **subject)).token


def _code(body: bytes) -> str:
    return str(json.loads(body)["error"])


async def test_a_signatory_downloads_the_newest_revision_once_signed_and_not_before(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    room = await make_room(aiohttp_client, tmp_path, original_pdf)
    first, second = room.signers[0], room.signers[1]
    status, body, _ = await _get(room, SIGNED, first.api.token)
    assert status == 409 and _code(body) == "not_signed"

    await ready(room, first)
    status, body, _ = await _get(room, SIGNED, first.api.token)
    assert status == 409 and _code(body) == "not_signed"  # decided, not yet signed the PDF
    await first.sign_pdf()
    status, body, headers = await _get(room, SIGNED, first.api.token)
    assert status == 200, body
    logged = room.state.pdf_signatures[first.signatory].event.sha256
    assert hashlib.sha256(body).hexdigest() == logged == headers["X-Document-SHA256"]
    assert headers["Content-Type"] == "application/pdf"
    assert f'filename="mou-signed-{room.ceremony}.pdf"' in headers["Content-Disposition"]
    assert headers["Cache-Control"] == "no-store"

    # Someone else signs after: the first signatory now gets the newer revision, which holds both.
    status, body, _ = await _get(room, SIGNED, second.api.token)
    assert status == 409 and _code(body) == "not_signed"
    await ready(room, second)
    await second.sign_pdf()
    newest = room.state.pdf_signatures[second.signatory].event
    assert newest.base_sha256 == logged
    for signer in (first, second):
        status, body, _ = await _get(room, SIGNED, signer.api.token)
        assert status == 200 and hashlib.sha256(body).hexdigest() == newest.sha256
        assert body.startswith(await room.app[SERVICE].document(logged))  # incremental: the earlier one inside

    # Other roles: refused by role.
    for role in (Role.HOST, Role.ARCHIVIST, Role.OBSERVER):
        status, body, _ = await _get(room, SIGNED, await _token(room, role))
        assert status == 403, (role, body)


async def test_the_records_pdfs_are_served_to_each_role_after_the_seal_and_refused_before(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    room = await make_room(aiohttp_client, tmp_path, original_pdf)
    signer = room.signers[0]
    allowed = {
        "archivist": await _token(room, Role.ARCHIVIST),
        "host": room.host.token,
        "signatory": signer.api.token,
    }
    refused = {"observer": await _token(room, Role.OBSERVER)}
    for name in RECORD_FILES:
        for who, token in allowed.items():
            status, body, _ = await _get(room, f"/record/{name}", token)
            assert status == 409 and _code(body) == "not_sealed", (name, who, body)
        for who, token in refused.items():
            status, _, _ = await _get(room, f"/record/{name}", token)
            assert status == 403, (name, who)

    await ready(room, signer)
    await signer.sign_pdf()
    await room.host.call("POST", "/seal", {"absent_ok": True})
    data = room.app[RECORDS].read(room.ceremony)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = {entry["name"]: entry["sha256"] for entry in json.loads(members["evidence.json"])["manifest"]}
    evidence = json.loads(members["evidence.json"])
    assert evidence["documents"]["signed"]["sha256"] == manifest["mou-signed.pdf"]

    stems = {"signed.pdf": "mou-signed", "completion.pdf": "certificate-of-completion"}
    for name, member in RECORD_FILES.items():
        for who, token in allowed.items():
            status, body, headers = await _get(room, f"/record/{name}", token)
            assert status == 200, (name, who, body)
            digest = hashlib.sha256(body).hexdigest()
            assert digest == manifest[member] == headers["X-Content-SHA256"], (name, who)
            assert body.startswith(b"%PDF-") and headers["Content-Type"] == "application/pdf"
            assert headers["X-Member"] == member
            assert f'attachment; filename="{stems[name]}-{room.ceremony}.pdf"' == headers["Content-Disposition"]
        for who, token in refused.items():
            status, _, _ = await _get(room, f"/record/{name}", token)
            assert status == 403, (name, who)
    # The signatory's own route still answers after the seal (the newest revision from the log).
    status, body, _ = await _get(room, SIGNED, signer.api.token)
    assert (
        status == 200 and hashlib.sha256(body).hexdigest() == room.state.pdf_signatures[signer.signatory].event.sha256
    )
    # Not a member the route names: no route.
    status, _, _ = await _get(room, "/record/evidence.json", allowed["archivist"])
    assert status == 404


def test_the_not_sealed_and_not_signed_codes_have_texts_in_every_language() -> None:
    root = Path(__file__).resolve().parent.parent / "web" / "catalogue"
    for lang in ("ko", "zh", "en"):
        catalogue = json.loads((root / f"{lang}.json").read_text(encoding="utf-8"))
        for code in ("not_sealed", "not_signed"):
            assert catalogue.get(f"js.error.{code}"), (lang, code)


def test_tables_show_the_page_languages_zone_first_and_the_others_on_a_second_line() -> None:
    import datetime as dt

    from web.demo.definition import demo_definition
    from web.i18n import display_zones, split_zoned, zoned_times

    at = dt.datetime(2020, 5, 29, 1, 20, tzinfo=dt.UTC)
    times = zoned_times(at, display_zones(demo_definition()))
    labels = {
        lang: tuple([z.label for z in first] + ["|"] + [z.label for z in rest])
        for lang in ("ko", "zh", "en")
        for first, rest in [split_zoned(times, lang)]
    }
    assert labels == {
        "ko": ("KST", "|", "CST", "UTC"),
        "zh": ("CST", "|", "KST", "UTC"),
        "en": ("KST", "CST", "|", "UTC"),
    }
    # A ceremony held elsewhere keeps its own first zone first.
    elsewhere = zoned_times(at, ["Europe/Berlin", "UTC"])
    assert [z.label for z in split_zoned(elsewhere, "ko")[0]] == ["CEST"]
