"""Hostile input never gets a 500: nesting, numbers, Unicode digits, newlines after ids, bidi text.

The pointed cases go through aiohttp's test client; the property tests send hypothesis'
JSON values, bytes and query strings as raw HTTP (http.client) to a live `ceremony serve`
on an open ceremony, with every kind of capability and none, and require a 4xx or 2xx
answer every time and no traceback in the server's log.
"""

from __future__ import annotations

import asyncio
import copy
import http.client
import json
import shutil
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ceremony.capabilities import CEREMONY_ID_PATTERN, TOKEN_PATTERN, looks_like_token
from ceremony.consent import HEX64
from ceremony.definition import ID_PATTERN
from ceremony.errors import InvalidCommand
from ceremony.events import Role
from tests.helpers import Server, Template, bearer, build_template, start_server, zip_bytes
from tests.helpers import ceremony as ceremony_cli
from web.app import create_app
from web.appkeys import SERVICE
from web.demo.definition import demo_definition
from web.settings import Settings

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
DEEP = (b"[" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b'{"reason": ' + b"[" * 5000 + b"]" * 5000 + b"}")
RLO, LRI, PDI = "\u202e", "\u2066", "\u2069"


@pytest.fixture
async def world(aiohttp_client: ClientFactory, tmp_path: Path) -> tuple[TestClient[Any, Any], str, dict[str, str]]:
    app = create_app(Settings(data_dir=tmp_path / "data", create_demo=False))
    client = await aiohttp_client(app)
    service = app[SERVICE]
    state = await service.create(demo_definition(), "operator")
    tokens = {
        "operator": await service.issue_operator_link(),
        "host": (await service.issue_link(state.id, Role.HOST, "test")).token,
    }
    return client, state.id, tokens


def _json_routes(ceremony: str) -> list[tuple[str, str, str | None]]:
    """Every route that reads a JSON body, with the capability that gets it as far as the body."""
    base = f"/api/ceremonies/{ceremony}"
    return [
        ("POST", "/api/ceremonies", "operator"),
        ("PUT", f"{base}/definition", "host"),
        ("POST", f"{base}/segment", "host"),
        ("POST", f"{base}/seal", "host"),
        ("POST", f"{base}/cancel", "host"),
        ("POST", f"{base}/invitations", "host"),
        ("POST", f"{base}/enrollments/enr-000000000000/reject", "host"),
        ("POST", f"{base}/enrollments/enr-000000000000/revoke", "host"),
        ("POST", f"/c/{ceremony}/enter", None),
        ("POST", "/console/enter", None),
    ]


# ------------------------------------------------------------------ pointed cases


async def test_deeply_nested_json_is_a_400_on_every_json_route(world: Any) -> None:
    client, ceremony, tokens = world
    for method, path, who in _json_routes(ceremony):
        headers = {"Content-Type": "application/json", **(bearer(tokens[who]) if who else {})}
        for body in DEEP:
            r = await client.request(method, path, data=body, headers=headers)
            answer = await r.json()
            assert r.status == 400, (method, path, r.status, answer)
            assert answer["error"] == "bad_request" and "nested" in answer["reason"], answer
    # Nesting a real body needs is fine.
    r = await client.post(
        f"/api/ceremonies/{ceremony}/segment", json={"segment": [[[["x"]]]]}, headers=bearer(tokens["host"])
    )
    assert r.status == 400 and "nested" not in (await r.json())["reason"]


async def test_numbers_python_will_not_parse_and_non_json_constants_are_a_400(world: Any) -> None:
    client, ceremony, _ = world
    for body in (b'{"token": ' + b"1" * 5000 + b"}", b'{"token": NaN}', b'{"token": -Infinity}', b"\xff\xfe\x00"):
        r = await client.post(f"/c/{ceremony}/enter", data=body, headers={"Content-Type": "application/json"})
        assert r.status == 400, (body[:20], r.status, await r.text())
        assert (await r.json())["error"] == "bad_request"


async def test_unicode_digits_in_after_and_last_event_id_are_a_400(world: Any) -> None:
    client, ceremony, tokens = world
    host = bearer(tokens["host"])
    for digits in ("²", "١٢", "0²", "𝟗", "٣"):
        r = await client.get(f"/api/ceremonies/{ceremony}/events", params={"after": digits}, headers=host)
        assert r.status == 400, (digits, r.status, await r.text())
        r = await client.get(f"/api/ceremonies/{ceremony}/stream", params={"after": digits}, headers=host)
        assert r.status == 400, (digits, r.status, await r.text())
        r = await client.get(f"/api/ceremonies/{ceremony}/stream", headers={**host, "Last-Event-ID": digits})
        assert r.status == 400, (digits, r.status, await r.text())
    r = await client.get(f"/api/ceremonies/{ceremony}/events", params={"after": "1"}, headers=host)
    assert r.status == 200


def test_identifier_patterns_refuse_a_trailing_newline() -> None:
    for pattern, good in (
        (ID_PATTERN, "signer-kr"),
        (CEREMONY_ID_PATTERN, "0123456789abcdef"),
        (TOKEN_PATTERN, "A" * 43),
        (HEX64, "ab" * 32),
    ):
        assert pattern.match(good) and pattern.fullmatch(good)
        assert not pattern.match(good + "\n"), pattern.pattern
    assert not looks_like_token("A" * 43 + "\n")


async def test_an_id_with_a_trailing_newline_is_refused_with_its_field(world: Any, demo_json: dict[str, Any]) -> None:
    client, _, tokens = world
    bad = copy.deepcopy(demo_json)
    bad["signatories"][0]["id"] += "\n"
    bad["venues"][0]["id"] += "\n"
    r = await client.post("/api/ceremonies", json=bad, headers=bearer(tokens["operator"]))
    assert r.status == 400, await r.text()
    fields = {f["field"] for f in (await r.json())["fields"]}
    assert {"signatories[0].id", "venues[0].id"} <= fields


@pytest.mark.parametrize(
    ("where", "text"),
    [
        (("signatories", 0, "name", "en"), f"Hong Gil-dong{RLO}"),
        (("signatories", 0, "title", "ko"), f"{LRI}지사{PDI}"),
        (("parties", 1, "name", "zh"), "江苏省\u200f"),
        (("venues", 0, "city", "en"), "Chun\u061ccheon"),
        (("title", "en"), "MOU\u202a"),
        (("title", "en"), "MOU\u2068"),
        (("run_of_show", 0, "title", "en"), "Opening\x07"),
        (("document", "title", "en"), "Line\nbreak"),  # a title is one line
        (("document", "articles", 0, "body", "en"), "1. fine\x1b[31m"),  # a terminal escape, even in a body
        (("document", "preamble", "zh"), "\u202d前言"),
    ],
)
async def test_control_and_bidi_characters_in_a_definition_are_refused_naming_the_field(
    world: Any, demo_json: dict[str, Any], where: tuple[Any, ...], text: str
) -> None:
    client, ceremony, tokens = world
    bad = copy.deepcopy(demo_json)
    target: Any = bad
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = text
    field = ".".join(f"[{k}]" if isinstance(k, int) else k for k in where).replace(".[", "[")
    for method, path, who in (
        ("POST", "/api/ceremonies", "operator"),
        ("PUT", f"/api/ceremonies/{ceremony}/definition", "host"),
    ):
        r = await client.request(method, path, json=bad, headers=bearer(tokens[who]))
        assert r.status == 400, (method, await r.text())
        named = {f["field"]: f["reason"] for f in (await r.json())["fields"]}
        assert field in named and "U+" in named[field], named


async def test_line_breaks_stay_allowed_in_the_document_body(world: Any, demo_json: dict[str, Any]) -> None:
    client, ceremony, tokens = world
    good = copy.deepcopy(demo_json)
    good["document"]["articles"][0]["body"]["en"] = "1. One.\n2. Two.\n\tIndented."
    good["signatories"][0]["name"]["ko"] = "홍길동"
    r = await client.put(f"/api/ceremonies/{ceremony}/definition", json=good, headers=bearer(tokens["host"]))
    assert r.status == 200, await r.text()


async def test_a_link_label_with_a_bidi_override_is_refused_naming_the_label(world: Any) -> None:
    client, ceremony, tokens = world
    for label in (f"Hong Gil-dong{RLO}", f"{LRI}x{PDI}", "tab\there", "a\u200eb"):
        r = await client.post(
            f"/api/ceremonies/{ceremony}/invitations",
            json={"role": "observer", "label": label},
            headers=bearer(tokens["host"]),
        )
        assert r.status == 400, (label, await r.text())
        answer = await r.json()
        assert answer["fields"][0]["field"] == "label" and "U+" in answer["fields"][0]["reason"], answer
    # The core refuses it too, for the CLI's `invite --label` and any other shell.
    service = client.server.app[SERVICE]  # type: ignore[union-attr]
    with pytest.raises(InvalidCommand, match="label"):
        await service.issue_link(ceremony, Role.OBSERVER, "cli", label=f"Hong Gil-dong{RLO}")
    r = await client.post(
        f"/api/ceremonies/{ceremony}/invitations",
        json={"role": "observer", "label": "홍길동 · 洪吉童 (Hong Gil-dong)"},
        headers=bearer(tokens["host"]),
    )
    assert r.status == 201


# ------------------------------------------------------------------ property tests, raw HTTP to a live server


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return asyncio.run(build_template(tmp_path_factory.mktemp("template") / "data"))


@dataclass(frozen=True)
class Live:
    server: Server
    ceremony: str
    tokens: dict[str, str]  # who -> token, the operator's too


@pytest.fixture(scope="module")
def live(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data = tmp_path_factory.mktemp("live") / "data"
    shutil.copytree(template.data, data)
    operator = ceremony_cli("operator-link", "--data", str(data))
    assert operator.returncode == 0, operator.stderr
    tokens = {**template.tokens, "operator": operator.stdout.strip().split("#", 1)[1]}
    server = start_server(data, "--no-demo")
    try:
        yield Live(server, template.ceremony, tokens)
    finally:
        server.stop()
    log = "\n".join(server.output)
    assert "Traceback" not in log and "unhandled error" not in log, log[-4000:]


KNOWN_KEYS = [
    "segment", "reason", "absent_ok", "role", "venue", "signatory", "label", "token", "purpose", "public_key",
    "challenge", "signature", "statement", "cause", "title", "venues", "parties", "signatories", "run_of_show",
    "document", "schedule", "id", "name", "type", "decision", "ceremony", "language",
]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["next", "signing", "observer", "signatory", "enrollment", "consent", "x" * 43, "", "\u202e"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=10), inner, max_size=6)
    ),
    max_leaves=25,
)
WHO = st.sampled_from(
    [None, "operator", "host", "signatory", "observer", "archivist", "other-host", "revoked", "garbage"]
)
POSTS = [
    ("POST", "/api/ceremonies"),
    ("PUT", "/api/ceremonies/{c}/definition"),
    ("POST", "/api/ceremonies/{c}/segment"),
    ("POST", "/api/ceremonies/{c}/seal"),
    ("POST", "/api/ceremonies/{c}/cancel"),
    ("POST", "/api/ceremonies/{c}/invitations"),
    ("POST", "/api/ceremonies/{c}/challenges"),
    ("POST", "/api/ceremonies/{c}/enrollments"),
    ("POST", "/api/ceremonies/{c}/enrollments/enr-000000000000/reject"),
    ("POST", "/api/ceremonies/{c}/enrollments/enr-000000000000/revoke"),
    ("POST", "/api/ceremonies/{c}/consents"),
    ("POST", "/api/ceremonies/{c}/pdf-signatures/s"),
    ("POST", "/c/{c}/enter"),
    ("POST", "/console/enter"),
]
GETS = [
    "/api/ceremonies/{c}/events",
    "/api/ceremonies/{c}/stream",
    "/api/ceremonies/{c}/consent-text",
    "/api/ceremonies/{c}/receipt",
    "/api/ceremonies/{c}/me",
    "/api/ceremonies/{c}",
    "/api/archive",
    "/c/{c}/view",
    "/c/{c}/sign",
    "/verify",
    "/",
]
QUERY_TEXT = st.text(max_size=40) | st.lists(
    st.tuples(
        st.sampled_from(["after", "lang", "decision", "signatory", "ceremony", "x"]),
        st.text(max_size=12) | st.sampled_from(["²", "١", "0", "99999999999999", "-1", "%FF", "%", "ko", "decline"]),
    ),
    max_size=4,
).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))


PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def _send(server: Server, method: str, path: str, headers: dict[str, str], body: bytes | None = None) -> int:
    port = int(server.base.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()  # returns at the headers: a live stream is not waited on
        status = response.status
        if not path.split("?")[0].endswith("/stream"):
            response.read()
        return status
    finally:
        connection.close()


def _headers(live: Live, who: str | None, content_type: str = "application/json") -> dict[str, str]:
    headers = {"Content-Type": content_type, "Accept": "application/json"}
    if who is not None:
        headers["Authorization"] = f"Bearer {live.tokens[who]}"
    return headers


@PROPERTY
@given(route=st.sampled_from(POSTS), who=WHO, value=JSON_VALUES, query=st.none() | QUERY_TEXT)
@example(route=("POST", "/c/{c}/enter"), who=None, value={"token": [[[]]]}, query=None)
def test_random_json_to_every_json_route_gets_no_5xx(
    live: Live, route: tuple[str, str], who: str | None, value: Any, query: str | None
) -> None:
    method, path = route
    target = path.format(c=live.ceremony)
    if query is not None:
        target += "?" + urllib.parse.quote(query, safe="=&%+;/")
    body = json.dumps(value).encode()
    status = _send(live.server, method, target, _headers(live, who), body)
    assert status < 500, (method, target, who, value, status)


@PROPERTY
@given(
    route=st.sampled_from(POSTS),
    who=WHO,
    body=st.binary(max_size=300) | st.sampled_from(DEEP) | st.just(b'{"reason": ' + b"9" * 5000 + b"}"),
    content_type=st.sampled_from(["application/json", "application/json; charset=latin-1", "text/plain", ""]),
)
def test_random_bytes_to_every_json_route_get_no_5xx(
    live: Live, route: tuple[str, str], who: str | None, body: bytes, content_type: str
) -> None:
    method, path = route
    status = _send(live.server, method, path.format(c=live.ceremony), _headers(live, who, content_type), body)
    assert status < 500, (method, path, who, body[:60], content_type, status)


@PROPERTY
@given(
    path=st.sampled_from(GETS),
    who=WHO,
    query=QUERY_TEXT,
    last_event_id=st.none() | st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=6),
)
@example(path="/api/ceremonies/{c}/stream", who="host", query="after=²", last_event_id=None)
@example(path="/api/ceremonies/{c}/events", who="host", query="after=²", last_event_id=None)
@example(path="/api/ceremonies/{c}/stream", who="observer", query="", last_event_id="²")
def test_random_query_strings_get_no_5xx(
    live: Live, path: str, who: str | None, query: str, last_event_id: str | None
) -> None:
    target = path.format(c=live.ceremony) + "?" + urllib.parse.quote(query, safe="=&%+;/")
    headers = _headers(live, who)
    if last_event_id is not None:
        # As a browser would send it: UTF-8 bytes (http.client encodes header strings as Latin-1).
        headers["Last-Event-ID"] = last_event_id.encode().decode("latin-1")
    try:
        status = _send(live.server, "GET", target, headers)
    except UnicodeEncodeError:
        return  # not a header value http.client can send
    assert status < 500, (target, who, last_event_id, status)


async def test_an_uploaded_record_with_deeply_nested_evidence_gets_a_report_not_a_crash(world: Any) -> None:
    client, _, _ = world
    for evidence in (b"[" * 100_000, b'{"ceremony": ' * 20_000 + b"1" + b"}" * 20_000, b'{"ceremony": NaN}'):
        record = zip_bytes({"evidence.json": evidence, "mou-signed.pdf": b"%PDF-1.7\n%%EOF\n"})
        r = await client.post("/api/verify", data=record, headers={"Content-Type": "application/zip"})
        answer = await r.json()
        # A finding in the report, as for any other hostile file; not "the verifier stopped (RecursionError)".
        assert r.status == 200 and not answer["ok"] and answer["ceremony"] is None, (evidence[:20], answer)
