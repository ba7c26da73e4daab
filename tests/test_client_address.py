"""Addresses that mean something: the client's IP behind trusted proxies only, devices cleaned and read.

The parsing is tested as a table; then the whole way through: a scripted signatory whose
requests carry forged forwarding headers and a hostile User-Agent enrolls and signs on an
app with and without `trusted_proxies`, and the log, the host's views, the record's
evidence.json and its certificate of completion say what the edge saw, and the verifier
holds the new field to the log.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ceremony.canonical import canonicalize
from ceremony.events import Role
from signatures.record.pins import Pins
from signatures.record.report import Report
from signatures.record.verifier import verify_record
from signatures.record.verify_log import check_log
from tests.helpers import bearer, make_room, pdftotext, squeezed, zip_bytes
from web.appkeys import PKI, RECORDS, SERVICE
from web.client import MAX_DEVICE, client_address, device_summary, device_text, parse_address
from web.demo.scripted import Api, ScriptedSignatory

NGINX = (ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8"), ip_network("fd00::/8"))
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.104 Safari/537.36"
)
WINDOWS_FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86"
)
SAMSUNG = (
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"
)
IPHONE_CHROME = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)


# ------------------------------------------------------------------ the address, as a table


@pytest.mark.parametrize(
    ("peer", "xff", "forwarded", "trusted", "expected"),
    [
        # No trusted proxy: the peer, whatever the headers say.
        ("203.0.113.5", ["198.51.100.7"], [], (), "203.0.113.5"),
        ("203.0.113.5", [], ['for="[2001:db8::1]"'], (), "203.0.113.5"),
        # A peer that is not one of the trusted proxies: its headers are its own words.
        ("203.0.113.5", ["198.51.100.7"], [], NGINX, "203.0.113.5"),
        # Behind nginx ($proxy_add_x_forwarded_for): the client's own header comes first, nginx appends.
        ("127.0.0.1", ["198.51.100.7"], [], NGINX, "198.51.100.7"),
        ("127.0.0.1", ["6.6.6.6, 198.51.100.7"], [], NGINX, "198.51.100.7"),
        ("127.0.0.1", ["6.6.6.6", "198.51.100.7"], [], NGINX, "198.51.100.7"),  # as two header lines
        # Two proxies of ours (a load balancer in 10/8, then nginx): skipped from the right.
        ("127.0.0.1", ["6.6.6.6, 198.51.100.7, 10.1.2.3"], [], NGINX, "198.51.100.7"),
        # The nearest untrusted hop is not an address: nothing, never the text, never a hop further left.
        ("127.0.0.1", ["198.51.100.7, <script>alert(1)</script>"], [], NGINX, ""),
        ("127.0.0.1", ["198.51.100.7, unknown"], [], NGINX, ""),
        ("127.0.0.1", ["Hong Gil-dong\u202e"], [], NGINX, ""),
        ("127.0.0.1", [""], [], NGINX, ""),
        # Every hop is ours: the leftmost.
        ("127.0.0.1", ["10.0.0.9, 10.0.0.8"], [], NGINX, "10.0.0.9"),
        # Nothing forwarded at all: the proxy itself is all we know.
        ("127.0.0.1", [], [], NGINX, "127.0.0.1"),
        # RFC 7239, read when there is no X-Forwarded-For.
        ("127.0.0.1", [], ['for=6.6.6.6, for="[2001:db8:cafe::17]:4711"'], NGINX, "2001:db8:cafe::17"),
        ("127.0.0.1", [], ['for="192.0.2.60:8080";proto=https;by=10.0.0.1'], NGINX, "192.0.2.60"),
        ("127.0.0.1", [], ["for=_hidden"], NGINX, ""),
        ("127.0.0.1", [], ["proto=https"], NGINX, ""),
        # Normalised: IPv6 compressed and lower case, IPv4-mapped as IPv4, a port or zone dropped.
        ("127.0.0.1", ["2001:DB8:0:0:0:0:0:1"], [], NGINX, "2001:db8::1"),
        ("127.0.0.1", ["::ffff:198.51.100.7"], [], NGINX, "198.51.100.7"),
        ("127.0.0.1", ["198.51.100.7:51234"], [], NGINX, "198.51.100.7"),
        ("127.0.0.1", ["fe80::1%eth0\u202e<b>"], [], NGINX, "fe80::1"),
        ("::ffff:127.0.0.1", ["198.51.100.7"], [], NGINX, "198.51.100.7"),
        ("fd00::2", ["2001:db8::9"], [], NGINX, "2001:db8::9"),
        # No usable peer.
        (None, ["198.51.100.7"], [], NGINX, ""),
        ("not an address", [], [], (), ""),
    ],
)
def test_the_client_address_is_the_nearest_untrusted_hop_as_a_parsed_ip(
    peer: str | None, xff: list[str], forwarded: list[str], trusted: tuple[Any, ...], expected: str
) -> None:
    assert client_address(peer, xff, forwarded, trusted) == expected


def test_parse_address_gives_an_address_or_none_never_text() -> None:
    assert str(parse_address('"[2001:db8::1]:443"')) == "2001:db8::1"
    for junk in ("", "unknown", "1.2.3", "1.2.3.4.5", "x" * 64, "::1%", "[::1", "1.2.3.4:80:90"):
        assert parse_address(junk) is None, junk


# ------------------------------------------------------------------ the device, as a table


@pytest.mark.parametrize(
    ("agent", "summary"),
    [
        (IPAD, "Safari 17 on iPad"),
        (ANDROID, "Chrome 131 on Android"),
        (WINDOWS_FIREFOX, "Firefox 133 on Windows"),
        (EDGE, "Edge 131 on Windows"),
        (SAMSUNG, "Samsung Internet 26 on Android"),
        (IPHONE_CHROME, "Chrome 131 on iPhone"),
        (MAC_SAFARI, "Safari 18 on macOS"),
        ("Python/3.11 aiohttp/3.14.5", ""),
        ("", ""),
    ],
)
def test_the_device_is_read_into_a_few_words(agent: str, summary: str) -> None:
    assert device_summary(device_text(agent)) == summary


def test_the_device_string_loses_control_and_bidi_characters_and_is_cut() -> None:
    hostile = "Hong\u202eGil-dong\x1b[31m \u2066x\u2069\u200f\x00 Chrome/131  (Android)\ud800"
    assert device_text(hostile) == "HongGil-dong[31m x Chrome/131 (Android)"
    assert len(device_text("A" * 5000)) == MAX_DEVICE


# ------------------------------------------------------------------ the whole way, through the app


async def _signer(room: Any, session: aiohttp.ClientSession, index: int) -> ScriptedSignatory:
    who = room.state.definition.signatories[index].id
    link = await room.app[SERVICE].issue_link(room.ceremony, Role.SIGNATORY, "t", signatory=who)
    return ScriptedSignatory(Api(session, room.host.base, room.ceremony, link.token), who)


async def _enrolled_as(room: Any, headers: dict[str, str], index: int = 0) -> dict[str, Any]:
    """Enroll signatory `index` with these request headers; the enrollment.requested event as the host sees it."""
    async with aiohttp.ClientSession(headers=headers) as session:
        signer = await _signer(room, session, index)
        enrollment = await signer.enroll()
    events = await room.host.call("GET", "/events")
    (event,) = [e for e in events["events"] if e["data"].get("enrollment") == enrollment]
    return dict(event["data"])


async def test_forwarded_headers_count_only_from_a_trusted_proxy(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    hostile = f"{IPAD}\u202e\u2066"
    forged = {"X-Forwarded-For": "<img src=x>, 6.6.6.6", "Forwarded": "for=7.7.7.7", "User-Agent": hostile}

    direct = await make_room(aiohttp_client, tmp_path / "direct", original_pdf)
    data = await _enrolled_as(direct, forged)
    assert data["address"] == "127.0.0.1"  # the test client's peer: no proxy is trusted
    assert data["device"] == IPAD and data["device_summary"] == "Safari 17 on iPad"

    proxied = await make_room(aiohttp_client, tmp_path / "proxied", original_pdf, trusted_proxies=NGINX)
    assert (await _enrolled_as(proxied, forged, 0))["address"] == "6.6.6.6"  # nginx appended what it saw
    assert (await _enrolled_as(proxied, {"X-Forwarded-For": "6.6.6.6, free text"}, 1))["address"] == ""
    assert (await _enrolled_as(proxied, {"Forwarded": 'for="[2001:db8::7]:1"'}, 2))["address"] == "2001:db8::7"

    # The host's list of keys shows the device in words, beside the full string.
    listed = await direct.host.call("GET", "/enrollments")
    assert [(e["device"], e["device_summary"]) for e in listed["enrollments"]] == [(IPAD, "Safari 17 on iPad")]
    # Others' timelines keep the device private, the summary included.
    observer = await direct.app[SERVICE].issue_link(direct.ceremony, Role.OBSERVER, "t")
    r = await direct.client.get(f"/api/ceremonies/{direct.ceremony}/events", headers=bearer(observer.token))
    assert not any("device_summary" in e["data"] or "address" in e["data"] for e in (await r.json())["events"])


def _files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _log_check(files: dict[str, bytes], evidence: dict[str, Any]) -> Any:
    report = Report()
    check_log(report, files, evidence)
    (check,) = [c for c in report.checks if c.name == "log.evidence"]
    return check


async def test_the_record_states_the_device_in_words_and_the_verifier_holds_it_to_the_log(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    room = await make_room(aiohttp_client, tmp_path, original_pdf, trusted_proxies=NGINX)
    async with aiohttp.ClientSession(headers={"User-Agent": ANDROID, "X-Forwarded-For": "198.51.100.7"}) as session:
        signer = await _signer(room, session, 0)
        enrollment = await signer.enroll()
        await room.host.call("POST", f"/enrollments/{enrollment}/approve", {"code_confirmed": True})
        await signer.decide("consent")
        await signer.sign_pdf()
    await room.host.call("POST", "/seal", {"absent_ok": True})
    data = room.app[RECORDS].read(room.ceremony)
    report = verify_record(data, Pins(root_pem=room.app[PKI].root_pem), at=dt.datetime.now(dt.UTC))
    assert report.ok, "\n".join(report.lines())

    files = _files(data)
    evidence = json.loads(files["evidence.json"])
    (consent,) = evidence["consents"]
    assert (consent["address"], consent["device"], consent["device_summary"]) == (
        "198.51.100.7",
        ANDROID,
        "Chrome 131 on Android",
    )
    completion = tmp_path / "completion.pdf"
    completion.write_bytes(files["completion.pdf"])
    assert squeezed("Chrome 131 on Android") in squeezed(pdftotext(completion))

    # The summary is the log's, like the address: another one, or one taken away, is a difference.
    assert _log_check(files, evidence).ok
    forged = json.loads(files["evidence.json"])
    forged["consents"][0]["device_summary"] = "Safari 17 on iPad"
    check = _log_check(files, forged)
    assert not check.ok and "consents[0].device_summary" in check.detail
    forged["consents"][0].pop("device_summary")
    check = _log_check(files, forged)
    assert not check.ok and "consents[0].device_summary" in check.detail


async def test_a_record_sealed_before_device_summaries_still_verifies(
    aiohttp_client: Any, tmp_path: Path, original_pdf: bytes
) -> None:
    """A log without summaries (older events, or an unknown device) gives null, which a missing key reads as."""
    room = await make_room(aiohttp_client, tmp_path, original_pdf)
    async with aiohttp.ClientSession(headers={"User-Agent": "Python/3.11 aiohttp"}) as session:
        signer = await _signer(room, session, 0)
        enrollment = await signer.enroll()
        await room.host.call("POST", f"/enrollments/{enrollment}/approve", {"code_confirmed": True})
        await signer.decide("decline")
    await room.host.call("POST", "/seal", {"absent_ok": True})
    files = _files(room.app[RECORDS].read(room.ceremony))
    evidence = json.loads(files["evidence.json"])
    assert evidence["consents"][0]["device_summary"] is None
    evidence["consents"][0].pop("device_summary")  # as a record sealed before the field existed
    assert _log_check(files, evidence).ok
    older = verify_record(
        zip_bytes({**files, "evidence.json": canonicalize(evidence)}),
        Pins(root_pem=room.app[PKI].root_pem),
        at=dt.datetime.now(dt.UTC),
    )
    # Its shape and its log agree; only the seal and what rests on it notice evidence.json was rewritten here.
    assert {c.name for c in older.failed} <= {"evidence.seal", "evidence.timestamp", "time.order"}
    assert {"evidence.format", "log.evidence"} <= {c.name for c in older.checks}
